//! Building Arrow columns from kernel values: the one place feature values leave the engine, so NaN
//! payloads are canonicalised here (lang-spec/types.md) and every column takes the Arrow type of
//! `convert::arrow_type`.

use std::collections::BTreeSet;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, BooleanBuilder, Date32Builder, DurationMicrosecondBuilder, Float64Builder, Int64Builder,
    StringArray, StringBuilder, TimestampMicrosecondBuilder,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use mlsys_compiler::types::BaseType;
use mlsys_kernels::value::{Value, canonicalize_f64};

use crate::convert::UTC;
use crate::error::BatchError;

/// A column of values of one base type, built row by row.
pub enum ColumnBuilder {
    Bool(BooleanBuilder),
    Int(Int64Builder),
    Float(Float64Builder),
    String(StringBuilder),
    Date(Date32Builder),
    Timestamp(TimestampMicrosecondBuilder),
    Duration(DurationMicrosecondBuilder),
}

impl ColumnBuilder {
    pub fn new(base: BaseType) -> ColumnBuilder {
        match base {
            BaseType::Bool => ColumnBuilder::Bool(BooleanBuilder::new()),
            BaseType::Int64 => ColumnBuilder::Int(Int64Builder::new()),
            BaseType::Float64 => ColumnBuilder::Float(Float64Builder::new()),
            BaseType::String => ColumnBuilder::String(StringBuilder::new()),
            BaseType::Date => ColumnBuilder::Date(Date32Builder::new()),
            BaseType::Timestamp => ColumnBuilder::Timestamp(TimestampMicrosecondBuilder::new().with_timezone(UTC)),
            BaseType::Duration => ColumnBuilder::Duration(DurationMicrosecondBuilder::new()),
        }
    }

    /// Appends one value; a value of another type than the column's is an error (a plan whose
    /// types the checker did not produce), null is always accepted.
    pub fn push(&mut self, value: &Value) -> Result<(), BatchError> {
        match (self, value) {
            (ColumnBuilder::Bool(builder), Value::Null) => builder.append_null(),
            (ColumnBuilder::Int(builder), Value::Null) => builder.append_null(),
            (ColumnBuilder::Float(builder), Value::Null) => builder.append_null(),
            (ColumnBuilder::String(builder), Value::Null) => builder.append_null(),
            (ColumnBuilder::Date(builder), Value::Null) => builder.append_null(),
            (ColumnBuilder::Timestamp(builder), Value::Null) => builder.append_null(),
            (ColumnBuilder::Duration(builder), Value::Null) => builder.append_null(),
            (ColumnBuilder::Bool(builder), Value::Bool(value)) => builder.append_value(*value),
            (ColumnBuilder::Int(builder), Value::Int(value)) => builder.append_value(*value),
            (ColumnBuilder::Float(builder), Value::Float(value)) => builder.append_value(canonicalize_f64(*value)),
            (ColumnBuilder::String(builder), Value::String(value)) => builder.append_value(value),
            (ColumnBuilder::Date(builder), Value::Date(value)) => builder.append_value(*value),
            (ColumnBuilder::Timestamp(builder), Value::Timestamp(value)) => builder.append_value(*value),
            (ColumnBuilder::Duration(builder), Value::Duration(value)) => builder.append_value(*value),
            (_, value) => {
                return Err(BatchError::ValueType { value: value.clone() });
            }
        }
        Ok(())
    }

    pub fn finish(&mut self) -> ArrayRef {
        match self {
            ColumnBuilder::Bool(builder) => Arc::new(builder.finish()),
            ColumnBuilder::Int(builder) => Arc::new(builder.finish()),
            ColumnBuilder::Float(builder) => Arc::new(builder.finish()),
            ColumnBuilder::String(builder) => Arc::new(builder.finish()),
            ColumnBuilder::Date(builder) => Arc::new(builder.finish()),
            ColumnBuilder::Timestamp(builder) => Arc::new(builder.finish()),
            ColumnBuilder::Duration(builder) => Arc::new(builder.finish()),
        }
    }
}

/// Adds the `dt` values of `dates` (text, or anything that casts to it) to `partitions`; rows
/// come in runs of one day, so only a change of day is looked up.
pub fn add_dates(partitions: &mut BTreeSet<String>, dates: &ArrayRef) -> Result<(), BatchError> {
    let dates = cast(dates, &DataType::Utf8)?;
    let dates = dates
        .as_any()
        .downcast_ref::<StringArray>()
        .ok_or(BatchError::Internal("dates that are not text"))?;
    let mut last: Option<&str> = None;
    for date in dates.iter().flatten() {
        if last != Some(date) {
            if !partitions.contains(date) {
                partitions.insert(date.to_string());
            }
            last = Some(date);
        }
    }
    Ok(())
}

/// The `YYYY-MM-DD` partition of day number `days`.
pub fn date_text(days: i32) -> String {
    Value::Date(days).to_string()
}

/// The UTC day holding the instant `micros`.
pub fn day_of(micros: i64) -> i32 {
    mlsys_kernels::time::date_of(micros)
}

/// The first instant of day `days`.
pub fn day_start(days: i32) -> i64 {
    i64::from(days).saturating_mul(mlsys_kernels::time::MICROS_PER_DAY)
}
