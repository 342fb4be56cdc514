//! The windows themselves: sampled change points of an entity group's table recomputed from the
//! processed source rows with the reference kernels ([`evaluate_aggregate`]), so a wrong batch
//! window (not only a wrong store) is caught. Each sampled entity contributes a few points — the
//! value must hold from a point's start to the microsecond before the next one — and only the
//! events inside those points' windows are read into memory.

use std::collections::{HashMap, HashSet};

use datafusion::logical_expr::{col, lit};
use mlsys_batch::features::history::{EntityHistory, aggregates_of};
use mlsys_compiler::plan::{ColumnIndex, FeatureId, FeatureKind, GroupId, Plan, SourceId};
use mlsys_compiler::types::BaseType;
use mlsys_kernels::Value;
use mlsys_kernels::interpret::{Inputs, evaluate_aggregate};

use super::{Context, Mismatch, Outcome, key_text};
use crate::tables::each_row;

/// Change points checked per sampled entity (evenly spread, the first and the last included).
const POINTS_PER_ENTITY: usize = 4;

/// One processed row of the group's source.
struct Event(Vec<Value>);

impl Inputs for Event {
    fn column(&self, _source: SourceId, column: ColumnIndex) -> Value {
        self.0.get(column as usize).cloned().unwrap_or(Value::Null)
    }

    fn feature(&self, _feature: FeatureId) -> Value {
        Value::Null
    }
}

/// The times at which one entity's values are recomputed, with the values its table holds then.
struct Probe {
    time: i64,
    values: Vec<Value>,
}

pub async fn verify_group(
    context: &Context<'_>,
    group_id: GroupId,
    sampled: &[EntityHistory],
    outcome: &mut Outcome,
) -> anyhow::Result<()> {
    let plan = context.plan;
    let group = &plan.groups[group_id];
    let aggregates = aggregates_of(plan, group_id);
    let reach = longest_reach(plan, &aggregates);
    let probes: HashMap<String, (Vec<Value>, Vec<Probe>)> = sampled
        .iter()
        .map(|history| (key_text(&history.keys), (history.keys.clone(), probes_of(history))))
        .collect();
    let mut events = read_events(context, group.source, &group.key_columns, &probes, reach).await?;
    let table = format!(
        "{} (recomputed from processed/{})",
        context.store.features(&group.name, group.version).name,
        plan.sources[group.source].name
    );
    for (key, (_, entity_probes)) in &probes {
        let entity_events = events.remove(key).unwrap_or_default();
        for probe in entity_probes {
            for (feature, offline) in aggregates.iter().zip(&probe.values) {
                let recomputed = evaluate_aggregate(plan, *feature, &entity_events, probe.time)?;
                outcome.compare(Mismatch {
                    table: table.clone(),
                    key: key.clone(),
                    time: Some(probe.time),
                    feature: plan.features[*feature].name.clone(),
                    offline: offline.clone(),
                    online: recomputed,
                    path: "recomputed",
                });
            }
        }
    }
    Ok(())
}

/// The longest `window + resolution` of the aggregates: how far before a time its events reach.
fn longest_reach(plan: &Plan, aggregates: &[FeatureId]) -> i64 {
    aggregates
        .iter()
        .filter_map(|id| match &plan.features[*id].kind {
            FeatureKind::Aggregate(aggregate) => {
                Some(aggregate.window_micros.saturating_add(aggregate.resolution_micros))
            }
            _ => None,
        })
        .max()
        .unwrap_or(0)
}

/// A few change points of the entity: each one's start, and the microsecond before the next one's.
fn probes_of(history: &EntityHistory) -> Vec<Probe> {
    let count = history.points.len();
    let step = count.div_ceil(POINTS_PER_ENTITY).max(1);
    let mut picked: Vec<usize> = (0..count).step_by(step).collect();
    if count > 0 && picked.last() != Some(&(count - 1)) {
        picked.push(count - 1);
    }
    let mut probes = Vec::new();
    for index in picked {
        let (valid_from, values) = &history.points[index];
        probes.push(Probe {
            time: *valid_from,
            values: values.clone(),
        });
        if let Some((next_from, _)) = history.points.get(index + 1) {
            probes.push(Probe {
                time: next_from.saturating_sub(1),
                values: values.clone(),
            });
        }
    }
    probes
}

/// The processed rows of the sampled entities whose time falls within `reach` before one of their
/// probes (the only events those values can depend on), per entity.
async fn read_events(
    context: &Context<'_>,
    source_id: SourceId,
    key_columns: &[ColumnIndex],
    probes: &HashMap<String, (Vec<Value>, Vec<Probe>)>,
    reach: i64,
) -> anyhow::Result<HashMap<String, Vec<Event>>> {
    let source = &context.plan.sources[source_id];
    let Some(timestamp) = source.timestamp else {
        anyhow::bail!("source `{}` has no timestamp", source.name);
    };
    let columns: Vec<(&str, BaseType)> = source
        .columns
        .iter()
        .map(|column| (column.name.as_str(), column.ty.base))
        .collect();
    let first_key = key_columns
        .first()
        .and_then(|index| source.columns.get(*index as usize))
        .ok_or_else(|| anyhow::anyhow!("an entity group over `{}` without keys", source.name))?;
    let first_values: HashSet<String> = probes.values().map(|(keys, _)| keys[0].to_string()).collect();
    let filter = col(first_key.name.as_str()).in_list(
        probes.values().filter_map(|(keys, _)| literal(&keys[0])).collect(),
        false,
    );
    let mut events: HashMap<String, Vec<Event>> = HashMap::new();
    let table = context.store.processed(&source.name);
    each_row(&table, &columns, Some(filter), &mut |row| {
        if !first_values.contains(&row[key_columns[0] as usize].to_string()) {
            return Ok(());
        }
        let keys: Vec<Value> = key_columns.iter().map(|index| row[*index as usize].clone()).collect();
        let key = key_text(&keys);
        let (Some((_, entity_probes)), Value::Timestamp(time)) = (probes.get(&key), &row[timestamp as usize]) else {
            return Ok(());
        };
        if entity_probes
            .iter()
            .any(|probe| *time < probe.time && *time >= probe.time.saturating_sub(reach))
        {
            events.entry(key).or_default().push(Event(row.to_vec()));
        }
        Ok(())
    })
    .await?;
    Ok(events)
}

/// A key value as a DataFusion literal (entity keys are strings, integers, dates or booleans).
fn literal(value: &Value) -> Option<datafusion::logical_expr::Expr> {
    match value {
        Value::String(text) => Some(lit(text.to_string())),
        Value::Int(int) => Some(lit(*int)),
        Value::Bool(flag) => Some(lit(*flag)),
        Value::Date(days) => Some(lit(datafusion::scalar::ScalarValue::Date32(Some(*days)))),
        _ => None,
    }
}
