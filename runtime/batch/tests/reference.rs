//! The reference side of the batch tests: processed events read back as interpreter rows, and
//! windowed values computed from them by the reference interpreter (the kernels crate).

use std::collections::BTreeMap;

use mlsys_compiler::plan::{FeatureId, FeatureKind, GroupId, Plan, SourceId};
use mlsys_compiler::types::BaseType;
use mlsys_kernels::interpret::{Bindings, Inputs, evaluate_aggregate, evaluate_feature};
use mlsys_kernels::value::Value;

use crate::support::Project;

pub fn group_id(plan: &Plan, name: &str, version: u32) -> GroupId {
    plan.groups
        .iter()
        .find(|(_, group)| group.name == name && group.version == version)
        .map(|(id, _)| id)
        .expect("group")
}

/// The processed events of a source, as interpreter rows with their entity key text and time.
pub struct Events {
    pub by_key: BTreeMap<String, Vec<(i64, Bindings)>>,
    /// `(_file, _row)` → the row.
    pub by_row: BTreeMap<(String, u64), (String, i64, Bindings)>,
}

pub fn key_text(keys: &[Value]) -> String {
    keys.iter().map(Value::to_string).collect::<Vec<_>>().join("|")
}

pub async fn events(project: &Project, plan: &Plan, source: SourceId, keys: &[String]) -> Events {
    let definition = &plan.sources[source];
    let mut columns: Vec<(&str, BaseType)> = definition
        .columns
        .iter()
        .map(|column| (column.name.as_str(), column.ty.base))
        .collect();
    columns.push(("_file", BaseType::String));
    columns.push(("_row", BaseType::Int64));
    let timestamp = definition.timestamp.expect("timestamp") as usize;
    let mut found = Events {
        by_key: BTreeMap::new(),
        by_row: BTreeMap::new(),
    };
    for row in project
        .typed_rows(&format!("processed/{}", definition.name), &columns)
        .await
    {
        let count = definition.columns.len();
        let key_values: Vec<Value> = keys
            .iter()
            .map(|key| row[definition.column_index(key).expect("key") as usize].clone())
            .collect();
        let Value::Timestamp(time) = row[timestamp] else {
            panic!("timestamp")
        };
        let bindings = Bindings::new().with_row(source, row[..count].iter().cloned());
        let (Value::String(file), Value::Int(number)) = (&row[count], &row[count + 1]) else {
            panic!("lineage")
        };
        found.by_row.insert(
            (file.to_string(), *number as u64),
            (key_text(&key_values), time, bindings.clone()),
        );
        if key_values.iter().any(Value::is_null) {
            continue;
        }
        found
            .by_key
            .entry(key_text(&key_values))
            .or_default()
            .push((time, bindings));
    }
    found
}

/// The reference values of an entity group's features for one entity at `t`.
pub fn reference(plan: &Plan, features: &[FeatureId], events: &[Bindings], t: i64) -> Vec<Value> {
    let mut bindings = Bindings::new();
    for feature in features {
        if matches!(plan.features[*feature].kind, FeatureKind::Aggregate(_)) {
            let value = evaluate_aggregate(plan, *feature, events, t).expect("reference aggregate");
            bindings = bindings.with_feature(*feature, value);
        }
    }
    features
        .iter()
        .map(|feature| match plan.features[*feature].kind {
            FeatureKind::Aggregate(_) => bindings.feature(*feature),
            _ => evaluate_feature(plan, *feature, &bindings).expect("reference derived"),
        })
        .collect()
}
