//! What a model's training set is made of: its examples source, label, input features and the
//! entity groups they are looked up in — and the two fingerprints that name a training set: the
//! definition (everything in the spec that shapes its rows) and the inputs (the fingerprints of
//! exactly the source partitions that can reach its rows).

use std::collections::{BTreeMap, BTreeSet};

use mlsys_compiler::plan::print::{RefStyle, expr_text};
use mlsys_compiler::plan::{ColumnIndex, FeatureId, GroupId, Literal, Model, ModelId, Plan, SourceId};
use mlsys_compiler::types::Type;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::error::BatchError;
use crate::features::asof::entity_keys;
use crate::features::output::day_start;
use crate::features::spec::features_read;
use crate::state::BuildState;

/// Bumped when the layout or the computation of training sets changes: every set is rebuilt.
const FORMAT: &str = "training-1";

/// A model's training set, ready to compute.
pub struct TrainingSpec<'a> {
    pub plan: &'a Plan,
    pub model: ModelId,
    pub examples: SourceId,
    /// The examples source's timestamp column.
    pub timestamp: ColumnIndex,
    /// The model's inputs, in order, with their column names in the training tables.
    pub features: Vec<(FeatureId, String)>,
    /// The entity groups read, each with the examples columns holding its keys.
    pub lookups: Vec<(GroupId, Vec<ColumnIndex>)>,
    /// The label column's name in the training tables (the label source column's name, or `label`
    /// for a label expression) and type.
    pub label_name: String,
    pub label_type: Type,
}

/// The column name of a model input: `group@vN.feature`, unique across groups and versions.
pub fn input_column(plan: &Plan, feature: FeatureId) -> String {
    let feature = &plan.features[feature];
    let group = &plan.groups[feature.group];
    format!("{}@v{}.{}", group.name, group.version, feature.name)
}

impl<'a> TrainingSpec<'a> {
    pub fn new(plan: &'a Plan, model_id: ModelId) -> Result<TrainingSpec<'a>, BatchError> {
        let model = &plan.models[model_id];
        let source = &plan.sources[model.examples];
        let timestamp = source.timestamp.ok_or_else(|| BatchError::ExamplesWithoutTimestamp {
            model: model.name.clone(),
            source_name: source.name.clone(),
        })?;
        let features = model.features.iter().map(|id| (*id, input_column(plan, *id))).collect();
        let groups: BTreeSet<GroupId> = features_read(plan, &model.features)
            .into_iter()
            .map(|id| plan.features[id].group)
            .collect();
        let lookups = entity_keys(plan, model.examples, groups, &format!("model `{}`", model.name))?;
        let (label_name, label_type) = label_column(plan, model);
        Ok(TrainingSpec {
            plan,
            model: model_id,
            examples: model.examples,
            timestamp,
            features,
            lookups,
            label_name,
            label_type,
        })
    }

    pub fn model_name(&self) -> &str {
        &self.plan.models[self.model].name
    }

    /// The UTC microsecond range `[start, end)` covering the snapshot and the holdout.
    pub fn time_range(&self) -> (i64, i64) {
        let train = &self.plan.models[self.model].train;
        let first = train.snapshot.start.min(train.holdout.start);
        let last = train.snapshot.end.max(train.holdout.end);
        (day_start(first), day_start(last.saturating_add(1)))
    }

    /// The fingerprint of everything in the spec that shapes the rows: the examples source, the
    /// label and its join and default, the ranges, and the hash of every feature group read.
    pub fn definition(&self) -> String {
        let plan = self.plan;
        let model = &plan.models[self.model];
        let label_source = &plan.sources[model.label.source];
        let examples = &plan.sources[self.examples];
        let groups: BTreeSet<GroupId> = features_read(plan, &model.features)
            .into_iter()
            .map(|id| plan.features[id].group)
            .collect();
        let definition = Definition {
            format: FORMAT,
            examples: &examples.name,
            timestamp: &examples.columns[self.timestamp as usize].name,
            label_source: &label_source.name,
            label: &self.label_name,
            label_join: model.label.join.map(|(example_key, label_key)| {
                (
                    examples.columns[example_key as usize].name.as_str(),
                    label_source.columns[label_key as usize].name.as_str(),
                )
            }),
            label_default: model.label.default.as_ref(),
            label_expression: model.label.expr.map(|expr| expr_text(plan, expr, RefStyle::Display)),
            snapshot: (model.train.snapshot.start, model.train.snapshot.end),
            holdout: (model.train.holdout.start, model.train.holdout.end),
            features: self
                .features
                .iter()
                .map(|(id, name)| (name.as_str(), plan.features[*id].hash.0.as_str()))
                .collect(),
            groups: groups.iter().map(|id| plan.groups[*id].hash.0.as_str()).collect(),
        };
        sha256_hex(&serde_json::to_string(&definition).unwrap_or_default())
    }

    /// The input partitions that can reach the training set's rows, with their fingerprints:
    /// examples partitions holding events in the ranges, every partition of a joined label source
    /// (labels arrive late), and the partitions of looked-up groups' sources holding events before
    /// the end of the ranges (a window only sees earlier events).
    pub fn inputs(&self, state: &BuildState) -> BTreeMap<String, BTreeMap<String, String>> {
        let plan = self.plan;
        let model = &plan.models[self.model];
        let (start, end) = self.time_range();
        let mut inputs: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        let mut take = |source: SourceId, keep: &dyn Fn(Option<(i64, i64)>) -> bool| {
            let name = &plan.sources[source].name;
            let taken = inputs.entry(name.clone()).or_default();
            if let Some(source_state) = state.sources.get(name) {
                for (partition, held) in &source_state.partitions {
                    if keep(held.events) {
                        taken.insert(partition.clone(), held.fingerprint.clone());
                    }
                }
            }
        };
        take(self.examples, &|events| {
            events.is_some_and(|(low, high)| low < end && high >= start)
        });
        if model.label.join.is_some() {
            take(model.label.source, &|_| true);
        }
        for (group, _) in &self.lookups {
            take(plan.groups[*group].source, &|events| {
                events.is_some_and(|(low, _)| low < end)
            });
        }
        inputs
    }

    /// The training set's id: a digest of its definition and inputs. The same id always names
    /// the same rows.
    pub fn id(&self, definition: &str, inputs: &BTreeMap<String, BTreeMap<String, String>>) -> String {
        let text = format!("{definition}:{}", serde_json::to_string(inputs).unwrap_or_default());
        let digest = sha256_hex(&text);
        digest.chars().take(16).collect()
    }
}

#[derive(Serialize)]
struct Definition<'s> {
    format: &'static str,
    examples: &'s str,
    timestamp: &'s str,
    label_source: &'s str,
    label: &'s str,
    label_join: Option<(&'s str, &'s str)>,
    label_default: Option<&'s Literal>,
    #[serde(skip_serializing_if = "Option::is_none")]
    label_expression: Option<String>,
    snapshot: (i32, i32),
    holdout: (i32, i32),
    features: Vec<(&'s str, &'s str)>,
    groups: Vec<&'s str>,
}

/// The label's column in the training tables: the label column's name and type, or for a label
/// expression `label` (`_label` when the examples have a column of that name) and its type.
fn label_column(plan: &Plan, model: &Model) -> (String, Type) {
    match model.label.expr {
        Some(expr) => {
            let taken = plan.sources[model.examples].column_index("label").is_some();
            let name = if taken { "_label" } else { "label" };
            (name.to_string(), plan.exprs[expr].ty)
        }
        None => {
            let column = &plan.sources[model.label.source].columns[model.label.column as usize];
            (column.name.clone(), column.ty)
        }
    }
}

pub fn sha256_hex(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    digest.iter().map(|byte| format!("{byte:02x}")).collect()
}
