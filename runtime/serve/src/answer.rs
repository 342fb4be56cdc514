//! Evaluating a feature set on a request's rows and writing Feast's column-oriented response:
//! `{"metadata": {"feature_names": [..]}, "results": [{"values", "statuses", "event_timestamps"}]}`,
//! entity key columns first.
//!
//! Statuses, per value:
//! - `PRESENT` / `NULL_VALUE`: computed, non-null / null;
//! - `NOT_FOUND`: the value reads windowed values of an entity the store does not hold; it is
//!   still the language's value for an entity without events (empty windows: `count` 0, other
//!   aggregates null, and whatever row-level or derived features make of those);
//! - `OUTSIDE_MAX_AGE`: the value reads windowed values at a time before what the store holds
//!   for the entity; the value is unknown and sent as null.
//!
//! Event timestamps: a value reading windowed values carries the start of the latest change point
//! in force among them (the epoch when all windows are empty); entity keys and values computed
//! from the request alone carry the epoch, as Feast does for request data and on-demand features.

use mlsys_kernels::Value;
use mlsys_online::Timeline;

use crate::error::ServeError;
use crate::feature_set::{FeatureSet, InputSource};
use crate::lookup::{InForce, in_force};
use crate::wire::{write_string, write_timestamp, write_value, write_value_ref};

/// Null: an input the store cannot answer for (a time before what it holds).
static NULL: Value = Value::Null;

/// One response column being written.
#[derive(Default)]
struct ColumnText {
    values: String,
    statuses: String,
    timestamps: String,
}

impl ColumnText {
    fn push(&mut self, row: usize, status: &str, event_time: i64, write: impl FnOnce(&mut String)) {
        if row > 0 {
            self.values.push(',');
            self.statuses.push(',');
            self.timestamps.push(',');
        }
        write(&mut self.values);
        self.statuses.push('"');
        self.statuses.push_str(status);
        self.statuses.push('"');
        write_timestamp(&mut self.timestamps, event_time);
    }

    fn finish(&self, out: &mut String) {
        out.push_str("{\"values\":[");
        out.push_str(&self.values);
        out.push_str("],\"statuses\":[");
        out.push_str(&self.statuses);
        out.push_str("],\"event_timestamps\":[");
        out.push_str(&self.timestamps);
        out.push_str("]}");
    }
}

/// Evaluates `set` on every row and writes the response. `columns` holds each field's values;
/// `timelines` each lookup's stored timeline per row; a null request time reads at `now`.
// Rows index several column-major inputs at once; an iterator over one of them would not help.
#[allow(clippy::needless_range_loop)]
pub fn answer(
    set: &FeatureSet,
    columns: &[Vec<Value>],
    timelines: &[Vec<Option<Timeline>>],
    rows: usize,
    now: i64,
    full_feature_names: bool,
) -> Result<String, ServeError> {
    let mut entity_columns: Vec<ColumnText> = set.entity_fields.iter().map(|_| ColumnText::default()).collect();
    let mut output_columns: Vec<ColumnText> = set.outputs.iter().map(|_| ColumnText::default()).collect();
    let mut evaluator = RowEvaluator::new(set, columns, timelines, now);
    for row in 0..rows {
        for (column, field) in entity_columns.iter_mut().zip(&set.entity_fields) {
            column.push(row, "PRESENT", 0, |out| write_value(out, &columns[*field][row]));
        }
        evaluator.run(row)?;
        for (index, (column, output)) in output_columns.iter_mut().zip(&set.outputs).enumerate() {
            let mut too_old = false;
            let mut not_found = false;
            let mut event_time = 0;
            for lookup in &output.lookups {
                match evaluator.found[*lookup] {
                    InForce::Values { valid_from, .. } => event_time = event_time.max(valid_from),
                    InForce::Empty => {}
                    InForce::NotFound => not_found = true,
                    InForce::TooOld => too_old = true,
                }
            }
            let value = evaluator.output(index)?;
            let is_null = matches!(value, mlsys_jit::ValueRef::Null);
            let status = if too_old {
                "OUTSIDE_MAX_AGE"
            } else if not_found {
                "NOT_FOUND"
            } else if is_null {
                "NULL_VALUE"
            } else {
                "PRESENT"
            };
            column.push(row, status, event_time, |out| {
                if too_old {
                    out.push_str("null");
                } else {
                    write_value_ref(out, value);
                }
            });
        }
    }
    Ok(write_response(
        set,
        &entity_columns,
        &output_columns,
        full_feature_names,
    ))
}

/// Evaluates `set` on every row into a model's inputs: row-major, one float64 per requested
/// feature, converted as training converts them (lang-spec §7.5 `features`): `false`/`true` as
/// 0/1, int64 to the nearest float64, null as NaN. A windowed value older than what the store
/// holds for the entity is unknown, so missing (NaN), as its Feast answer is null.
pub fn model_inputs(
    set: &FeatureSet,
    columns: &[Vec<Value>],
    timelines: &[Vec<Option<Timeline>>],
    rows: usize,
    now: i64,
) -> Result<Vec<f64>, ServeError> {
    let mut inputs = Vec::with_capacity(rows * set.outputs.len());
    let mut evaluator = RowEvaluator::new(set, columns, timelines, now);
    for row in 0..rows {
        evaluator.run(row)?;
        for (index, output) in set.outputs.iter().enumerate() {
            let too_old = output
                .lookups
                .iter()
                .any(|lookup| matches!(evaluator.found[*lookup], InForce::TooOld));
            let value = evaluator.output(index)?;
            inputs.push(if too_old { f64::NAN } else { model_input(value)? });
        }
    }
    Ok(inputs)
}

/// One feature value as a model input (lang-spec §7.5): bool 0/1, int64 rounded to the nearest
/// float64, float64 as it is, null as NaN (missing). Other types never reach a model: the
/// checker refuses them as inputs.
fn model_input(value: mlsys_jit::ValueRef<'_>) -> Result<f64, ServeError> {
    use mlsys_jit::ValueRef;
    match value {
        ValueRef::Null => Ok(f64::NAN),
        ValueRef::Bool(value) => Ok(f64::from(u8::from(value))),
        ValueRef::Int(value) => Ok(value as f64),
        ValueRef::Float(value) => Ok(value),
        other => Err(ServeError::Internal(format!(
            "a model input of a type no model reads: {other:?}"
        ))),
    }
}

/// Runs a feature set's compiled function row by row over a request's columns and the stored
/// timelines, keeping the row's looked-up windowed values for the statuses.
struct RowEvaluator<'a> {
    set: &'a FeatureSet,
    columns: &'a [Vec<Value>],
    timelines: &'a [Vec<Option<Timeline>>],
    now: i64,
    row_state: mlsys_jit::Row,
    found: Vec<InForce<'a>>,
}

impl<'a> RowEvaluator<'a> {
    fn new(
        set: &'a FeatureSet,
        columns: &'a [Vec<Value>],
        timelines: &'a [Vec<Option<Timeline>>],
        now: i64,
    ) -> RowEvaluator<'a> {
        RowEvaluator {
            set,
            columns,
            timelines,
            now,
            row_state: set.compiled.new_row(),
            found: Vec::with_capacity(set.lookups.len()),
        }
    }

    /// Looks up the row's windowed values, sets every input slot and runs the function.
    fn run(&mut self, row: usize) -> Result<(), ServeError> {
        let set = self.set;
        self.found.clear();
        for (lookup, stored) in set.lookups.iter().zip(self.timelines) {
            let time = match self.columns[lookup.time_field][row] {
                Value::Timestamp(time) => time,
                Value::Null => self.now,
                _ => {
                    return Err(ServeError::Internal(format!(
                        "the request time of {} is not a timestamp",
                        lookup.table
                    )));
                }
            };
            self.found
                .push(in_force(stored.get(row).and_then(Option::as_ref), time));
        }
        for (slot, source) in set.inputs.iter().enumerate() {
            let value = match *source {
                InputSource::Field(field) => &self.columns[field][row],
                InputSource::Aggregate { lookup, position } => match self.found[lookup] {
                    InForce::Values { values, .. } => values.get(position).unwrap_or(&NULL),
                    InForce::Empty | InForce::NotFound => &set.lookups[lookup].empty_values[position],
                    InForce::TooOld => &NULL,
                },
            };
            self.row_state.set(slot, value).map_err(|error| {
                ServeError::Internal(format!(
                    "input {slot} of the feature set: {error} (the stored value has another type)"
                ))
            })?;
        }
        set.compiled
            .run(&mut self.row_state)
            .map_err(|error| ServeError::Internal(error.to_string()))
    }

    fn output(&self, index: usize) -> Result<mlsys_jit::ValueRef<'_>, ServeError> {
        self.row_state
            .output(index)
            .map_err(|error| ServeError::Internal(error.to_string()))
    }
}

/// Feast's response JSON from the written columns, entity keys first.
fn write_response(
    set: &FeatureSet,
    entity_columns: &[ColumnText],
    output_columns: &[ColumnText],
    full_feature_names: bool,
) -> String {
    let mut out = String::with_capacity(
        128 + entity_columns
            .iter()
            .chain(output_columns)
            .map(|column| column.values.len() + column.statuses.len() + column.timestamps.len() + 64)
            .sum::<usize>(),
    );
    out.push_str("{\"metadata\":{\"feature_names\":[");
    let entity_names = set.entity_fields.iter().map(|field| set.fields[*field].name.as_str());
    let output_names = set.outputs.iter().map(|output| {
        if full_feature_names {
            output.full_name.as_str()
        } else {
            output.short_name.as_str()
        }
    });
    for (index, name) in entity_names.chain(output_names).enumerate() {
        if index > 0 {
            out.push(',');
        }
        write_string(&mut out, name);
    }
    out.push_str("]},\"results\":[");
    for (index, column) in entity_columns.iter().chain(output_columns).enumerate() {
        if index > 0 {
            out.push(',');
        }
        column.finish(&mut out);
    }
    out.push_str("]}");
    out
}
