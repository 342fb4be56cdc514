//! Labels by label key, for monitors (lang-spec §7.7): every label the offline store holds for a
//! model, found the way a training set finds it ([`Labels`]), keyed by the text the prediction
//! log records for a row ([`crate::prediction_log::label_key`] of
//! [`mlsys_compiler::plan::Model::label_key_columns`]).

use std::collections::HashMap;

use mlsys_compiler::plan::{Model, Plan};
use mlsys_kernels::aggregate::DistinctKey;
use mlsys_kernels::value::Value;

use super::labels::Labels;
use crate::error::BatchError;
use crate::features::entity::next_batch;
use crate::features::eval::BatchColumns;
use crate::prediction_log::label_key;
use crate::store::OfflineStore;

/// The labels of a model's examples by label key.
#[derive(Debug)]
pub struct LabelIndex {
    /// Label key → the label (never null).
    pub labels: HashMap<String, Value>,
    /// The label of a key with none: a joined label's `default`, or null.
    pub default: Value,
    /// The newest timestamp among the label rows read: the labels are complete up to it.
    pub watermark: Option<i64>,
}

impl LabelIndex {
    /// Reads every label of `model` from the offline store.
    pub async fn load(plan: &Plan, store: &OfflineStore, model: &Model) -> Result<LabelIndex, BatchError> {
        match Labels::load(plan, store, &model.label).await? {
            Labels::Joined { best, default, .. } => Ok(joined(best, default)),
            own => own_rows(plan, store, model, &own).await,
        }
    }

    /// The label of the row with this key: its own, else the default (null: none).
    pub fn label(&self, key: &str) -> &Value {
        self.labels.get(key).unwrap_or(&self.default)
    }
}

fn joined(best: HashMap<DistinctKey, (Option<i64>, Value)>, default: Value) -> LabelIndex {
    let watermark = best.values().filter_map(|(time, _)| *time).max();
    let labels = best
        .into_iter()
        .map(|(key, (_, label))| (label_key(&[key.to_value()]), label))
        .collect();
    LabelIndex {
        labels,
        default,
        watermark,
    }
}

/// A label on the example's own columns: every processed example row, by its key columns.
async fn own_rows(
    plan: &Plan,
    store: &OfflineStore,
    model: &Model,
    labels: &Labels<'_>,
) -> Result<LabelIndex, BatchError> {
    let mut index = LabelIndex {
        labels: HashMap::new(),
        default: Value::Null,
        watermark: None,
    };
    let location = store.processed(&plan.sources[model.examples].name);
    if !location.exists() {
        return Ok(index);
    }
    let key_columns = model.label_key_columns(plan);
    let timestamp = plan.sources[model.examples].timestamp;
    let frame = store.session()?.read_table(location.provider().await?)?;
    let mut stream = frame.execute_stream().await?;
    while let Some(batch) = next_batch(&mut stream).await? {
        let columns = BatchColumns::new(plan, model.examples, &batch)?;
        for row in 0..batch.num_rows() {
            if let Some(Value::Timestamp(time)) = timestamp.map(|column| columns.value(column, row)) {
                index.watermark = index.watermark.max(Some(time));
            }
            let label = labels.label(&columns, row)?;
            if label.is_null() {
                continue;
            }
            let key: Vec<Value> = key_columns.iter().map(|column| columns.value(*column, row)).collect();
            index.labels.insert(label_key(&key), label);
        }
    }
    Ok(index)
}
