//! Arrow types and values for the language's types: the one mapping every batch stage uses.

use datafusion::arrow::array::{
    Array, ArrayRef, BooleanArray, Date32Array, DurationMicrosecondArray, Float64Array, Int64Array, StringArray,
    TimestampMicrosecondArray,
};
use datafusion::arrow::datatypes::{DataType, TimeUnit};
use mlsys_compiler::types::BaseType;
use mlsys_kernels::value::Value;

/// Timestamps are UTC microseconds.
pub const UTC: &str = "UTC";

pub fn arrow_type(base: BaseType) -> DataType {
    match base {
        BaseType::Bool => DataType::Boolean,
        BaseType::Int64 => DataType::Int64,
        BaseType::Float64 => DataType::Float64,
        BaseType::String => DataType::Utf8,
        BaseType::Date => DataType::Date32,
        BaseType::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, Some(UTC.into())),
        BaseType::Duration => DataType::Duration(TimeUnit::Microsecond),
    }
}

/// The value of row `row` of an array already cast to `arrow_type(base)`.
pub fn value_at(array: &ArrayRef, row: usize, base: BaseType) -> Value {
    if array.is_null(row) {
        return Value::Null;
    }
    let any = array.as_any();
    let value = match base {
        BaseType::Bool => any
            .downcast_ref::<BooleanArray>()
            .map(|values| Value::Bool(values.value(row))),
        BaseType::Int64 => any
            .downcast_ref::<Int64Array>()
            .map(|values| Value::Int(values.value(row))),
        BaseType::Float64 => any
            .downcast_ref::<Float64Array>()
            .map(|values| Value::Float(values.value(row))),
        BaseType::String => any
            .downcast_ref::<StringArray>()
            .map(|values| Value::string(values.value(row))),
        BaseType::Date => any
            .downcast_ref::<Date32Array>()
            .map(|values| Value::Date(values.value(row))),
        BaseType::Timestamp => any
            .downcast_ref::<TimestampMicrosecondArray>()
            .map(|values| Value::Timestamp(values.value(row))),
        BaseType::Duration => any
            .downcast_ref::<DurationMicrosecondArray>()
            .map(|values| Value::Duration(values.value(row))),
    };
    value.unwrap_or(Value::Null)
}
