//! One row of the prediction log, and the log table's columns: how records become an Arrow batch.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use datafusion::arrow::array::{
    ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::arrow::error::ArrowError;
use mlsys_compiler::syntax::literal::format_date;

use super::PredictionLogError;
use crate::convert::UTC;
use crate::store::DATE_PARTITION;

/// One scored row of a request.
#[derive(Clone, Debug, PartialEq)]
pub struct PredictionRecord {
    /// The request's id (`X-Request-Id`, or generated); every row of a request shares it.
    pub request_id: String,
    /// When the row was scored: microseconds since 1970-01-01T00:00:00 UTC
    /// ([`timestamp_micros`]). Its UTC day is the row's `dt` partition.
    pub time: i64,
    /// The time the row was scored at: the request's value of the examples source's timestamp,
    /// or `time` when the request left it out. Monitors count the row in this time's period.
    pub example_time: i64,
    /// The [`label_key`] of the row: what finds its label once it arrives; `None` when the
    /// request did not carry it.
    pub label_key: Option<String>,
    /// The target's model.
    pub model: String,
    /// The model version that scored the row; `None` when a fallback answered without a model.
    pub version: Option<i64>,
    /// The model's inputs for this row.
    pub features: Features,
    /// The score answered: the model's, or the fallback's.
    pub score: f64,
    /// The shadow model's version and score, when a shadow scored the row.
    pub shadow_version: Option<i64>,
    pub shadow_score: Option<f64>,
    /// Why a fallback answered instead of the model, if one did.
    pub fallback: Option<FallbackReason>,
    /// From the request's arrival to its answer.
    pub latency_seconds: f64,
}

/// Why a serve target's fallback answered (the `fallback` column's values).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FallbackReason {
    /// The request's deadline passed.
    Timeout,
    /// The model failed to score.
    ModelError,
    /// The online store was unreachable.
    StoreUnavailable,
    /// No model is loaded (missing or unreadable artifact).
    NoModel,
}

impl FallbackReason {
    pub fn as_str(self) -> &'static str {
        match self {
            FallbackReason::Timeout => "timeout",
            FallbackReason::ModelError => "model_error",
            FallbackReason::StoreUnavailable => "store_unavailable",
            FallbackReason::NoModel => "no_model",
        }
    }
}

/// A row's model inputs: their names, shared by every row scored with the same inputs, and
/// their values, NaN for missing.
#[derive(Clone, Debug, PartialEq)]
pub struct Features {
    names: Arc<[String]>,
    values: Vec<f64>,
}

impl Features {
    /// The inputs `names` with `values` (NaN for a missing value); as many of each.
    pub fn new(names: Arc<[String]>, values: Vec<f64>) -> Result<Features, PredictionLogError> {
        if names.len() != values.len() {
            return Err(PredictionLogError::FeatureCount {
                names: names.len(),
                values: values.len(),
            });
        }
        Ok(Features { names, values })
    }

    pub fn names(&self) -> &[String] {
        &self.names
    }

    pub fn values(&self) -> &[f64] {
        &self.values
    }

    /// The `features` column's text: a JSON object of input name → number in input order, each
    /// finite value written in its shortest form that parses back to the same bits (`-0.0`
    /// included); `null` for a missing (NaN) value, and for ±infinity, which JSON numbers cannot
    /// hold.
    pub fn to_json(&self) -> String {
        let mut text = String::with_capacity(2 + self.names.len() * 24);
        text.push('{');
        for (index, (name, value)) in self.names.iter().zip(&self.values).enumerate() {
            if index > 0 {
                text.push(',');
            }
            text.push_str(&serde_json::Value::String(name.clone()).to_string());
            text.push(':');
            match serde_json::Number::from_f64(*value) {
                Some(number) => text.push_str(&number.to_string()),
                None => text.push_str("null"),
            }
        }
        text.push('}');
        text
    }
}

/// The text that matches a prediction with its label: the values of the label's key columns
/// (lang-spec §7.7) as a JSON array — strings as JSON strings, integers, dates (days) and
/// timestamps (microseconds) as integers, floats in their shortest exact form, `null`. The same
/// values give the same text whichever engine read them.
pub fn label_key(values: &[mlsys_kernels::Value]) -> String {
    use mlsys_kernels::Value;
    let items: Vec<serde_json::Value> = values
        .iter()
        .map(|value| match value {
            Value::Null => serde_json::Value::Null,
            Value::Bool(flag) => serde_json::Value::Bool(*flag),
            Value::Int(integer) => (*integer).into(),
            Value::Float(float) => serde_json::Number::from_f64(*float).map_or_else(
                || serde_json::Value::String(float.to_string()),
                serde_json::Value::Number,
            ),
            Value::String(text) => serde_json::Value::String(text.to_string()),
            Value::Date(days) => (*days).into(),
            Value::Timestamp(micros) | Value::Duration(micros) => (*micros).into(),
        })
        .collect();
    serde_json::Value::Array(items).to_string()
}

/// Microseconds since 1970-01-01T00:00:00 UTC of `time` (negative before it), the
/// [`PredictionRecord::time`] of a row scored at `time`.
pub fn timestamp_micros(time: SystemTime) -> i64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_micros()).unwrap_or(i64::MAX),
        Err(before) => i64::try_from(before.duration().as_micros()).map_or(i64::MIN, |micros| -micros),
    }
}

/// The columns of a prediction log table, in order (`dt` last, the partition).
pub fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("request_id", DataType::Utf8, false),
        Field::new(
            "time",
            DataType::Timestamp(TimeUnit::Microsecond, Some(UTC.into())),
            false,
        ),
        Field::new("target", DataType::Utf8, false),
        Field::new("model", DataType::Utf8, false),
        Field::new("version", DataType::Int64, true),
        Field::new("features", DataType::Utf8, false),
        Field::new("score", DataType::Float64, false),
        Field::new("shadow_version", DataType::Int64, true),
        Field::new("shadow_score", DataType::Float64, true),
        Field::new("fallback", DataType::Utf8, true),
        Field::new("latency_seconds", DataType::Float64, false),
        Field::new(
            "example_time",
            DataType::Timestamp(TimeUnit::Microsecond, Some(UTC.into())),
            false,
        ),
        Field::new("label_key", DataType::Utf8, true),
        Field::new(DATE_PARTITION, DataType::Utf8, false),
    ]))
}

/// The log table's rows for `records` of the serve target `target`.
pub(super) fn batch(target: &str, records: &[PredictionRecord]) -> Result<RecordBatch, ArrowError> {
    let strings = |text: fn(&PredictionRecord) -> &str| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(records.iter().map(text)))
    };
    let integers = |integer: fn(&PredictionRecord) -> Option<i64>| -> ArrayRef {
        Arc::new(Int64Array::from_iter(records.iter().map(integer)))
    };
    let floats = |float: fn(&PredictionRecord) -> Option<f64>| -> ArrayRef {
        Arc::new(Float64Array::from_iter(records.iter().map(float)))
    };
    let times =
        TimestampMicrosecondArray::from_iter_values(records.iter().map(|record| record.time)).with_timezone(UTC);
    let columns: Vec<ArrayRef> = vec![
        strings(|record| &record.request_id),
        Arc::new(times),
        Arc::new(StringArray::from_iter_values(records.iter().map(|_| target))),
        strings(|record| &record.model),
        integers(|record| record.version),
        Arc::new(StringArray::from_iter_values(
            records.iter().map(|record| record.features.to_json()),
        )),
        floats(|record| Some(record.score)),
        integers(|record| record.shadow_version),
        floats(|record| record.shadow_score),
        Arc::new(StringArray::from_iter(
            records.iter().map(|record| record.fallback.map(FallbackReason::as_str)),
        )),
        floats(|record| Some(record.latency_seconds)),
        Arc::new(
            TimestampMicrosecondArray::from_iter_values(records.iter().map(|record| record.example_time))
                .with_timezone(UTC),
        ),
        Arc::new(StringArray::from_iter(
            records.iter().map(|record| record.label_key.as_deref()),
        )),
        Arc::new(StringArray::from_iter_values(
            records
                .iter()
                .map(|record| format_date(mlsys_kernels::time::date_of(record.time))),
        )),
    ];
    RecordBatch::try_new(schema(), columns)
}
