//! The label of each example (lang-spec/grammar.md, `model.label`): a column of the example itself,
//! an expression over the example's own columns (evaluated by the reference interpreter, the
//! language's one definition), or the column of another source joined on a key — the matching row with the greatest timestamp
//! (ties, and sources without a timestamp: the greatest label value in the total order), rows whose
//! label is null carrying no label — and the default for examples with no match.

use std::cmp::Ordering;
use std::collections::HashMap;

use datafusion::arrow::array::RecordBatch;
use mlsys_compiler::plan::{ExprId, Label, Plan};
use mlsys_compiler::types::BaseType;
use mlsys_kernels::aggregate::DistinctKey;
use mlsys_kernels::order::total_cmp;
use mlsys_kernels::value::Value;

use crate::error::BatchError;
use crate::features::entity::{column, next_batch};
use crate::features::eval::BatchColumns;
use crate::store::OfflineStore;

/// Labels ready to look up for example rows.
pub enum Labels<'p> {
    /// The label is a column of the examples source.
    OwnColumn { column: u32 },
    /// The label is an expression over the examples source's columns.
    Expression { plan: &'p Plan, expr: ExprId },
    /// Joined from another source: key → (timestamp, label) of the winning row.
    Joined {
        example_key: u32,
        best: HashMap<DistinctKey, (Option<i64>, Value)>,
        default: Value,
    },
}

impl<'p> Labels<'p> {
    pub async fn load(plan: &'p Plan, store: &OfflineStore, label: &Label) -> Result<Labels<'p>, BatchError> {
        if let Some(expr) = label.expr {
            return Ok(Labels::Expression { plan, expr });
        }
        let Some((example_key, label_key)) = label.join else {
            return Ok(Labels::OwnColumn { column: label.column });
        };
        let source = &plan.sources[label.source];
        let label_base = source.columns[label.column as usize].ty.base;
        let default = match label.default.as_ref().map(Value::from) {
            // An integer default of a float64 label is converted (lang-spec: `default`).
            Some(Value::Int(value)) if label_base == BaseType::Float64 => Value::Float(value as f64),
            Some(value) => value,
            None => Value::Null,
        };
        let mut best: HashMap<DistinctKey, (Option<i64>, Value)> = HashMap::new();
        let location = store.processed(&source.name);
        if location.exists() {
            let mut selected = vec![
                column(&source.columns[label_key as usize].name),
                column(&source.columns[label.column as usize].name),
            ];
            if let Some(timestamp) = source.timestamp {
                selected.push(column(&source.columns[timestamp as usize].name));
            }
            let frame = store
                .session()?
                .read_table(location.provider().await?)?
                .select(selected)?;
            let mut stream = frame.execute_stream().await?;
            while let Some(batch) = next_batch(&mut stream).await? {
                collect_batch(plan, label, &batch, &mut best)?;
            }
        }
        Ok(Labels::Joined {
            example_key,
            best,
            default,
        })
    }

    /// The label of row `row` of a batch of examples.
    pub fn label(&self, columns: &BatchColumns, row: usize) -> Result<Value, BatchError> {
        Ok(match self {
            Labels::OwnColumn { column } => columns.value(*column, row),
            Labels::Expression { plan, expr } => {
                let inputs = (|_source, column| columns.value(column, row), |_feature| Value::Null);
                mlsys_kernels::interpret::evaluate(plan, *expr, &inputs).map_err(BatchError::LabelExpression)?
            }
            Labels::Joined {
                example_key,
                best,
                default,
            } => DistinctKey::of(&columns.value(*example_key, row))
                .and_then(|key| best.get(&key))
                .map_or_else(|| default.clone(), |(_, label)| label.clone()),
        })
    }
}

/// Folds one batch of label rows into the winners per key.
fn collect_batch(
    plan: &Plan,
    label: &Label,
    batch: &RecordBatch,
    best: &mut HashMap<DistinctKey, (Option<i64>, Value)>,
) -> Result<(), BatchError> {
    let source = &plan.sources[label.source];
    let Some((_, label_key)) = label.join else {
        return Ok(());
    };
    let columns = BatchColumns::new(plan, label.source, batch)?;
    for row in 0..batch.num_rows() {
        let value = columns.value(label.column, row);
        let Some(key) = DistinctKey::of(&columns.value(label_key, row)) else {
            continue;
        };
        if value.is_null() {
            continue;
        }
        let time = match source.timestamp.map(|timestamp| columns.value(timestamp, row)) {
            Some(Value::Timestamp(time)) => Some(time),
            _ => None,
        };
        match best.get(&key) {
            Some((best_time, best_value)) if !wins((time, &value), (*best_time, best_value)) => {}
            _ => {
                best.insert(key, (time, value));
            }
        }
    }
    Ok(())
}

/// Whether a candidate label row beats the current one: a greater timestamp, or on a tie (or with
/// no timestamps) a greater label value.
fn wins(candidate: (Option<i64>, &Value), current: (Option<i64>, &Value)) -> bool {
    match candidate.0.cmp(&current.0) {
        Ordering::Greater => true,
        Ordering::Less => false,
        Ordering::Equal => total_cmp(candidate.1, current.1) == Some(Ordering::Greater),
    }
}
