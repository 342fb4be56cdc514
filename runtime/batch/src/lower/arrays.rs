//! Kernels over Arrow arrays: reads a UDF's argument arrays, applies the `mlsys_kernels` function
//! row by row and builds the result array. Null handling is lang-spec's for every kernel here: a
//! null argument gives a null result (the `in` null rule is [`float_in`]'s).

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Date32Array, Float64Array, Int64Array, StringArray, make_array,
};
use datafusion::arrow::compute::{binary, cast};
use datafusion::arrow::datatypes::{DataType, Date32Type, Float64Type, Int64Type};
use datafusion::error::{DataFusionError, Result};
use mlsys_compiler::plan::BinaryOp;
use mlsys_kernels::categorical;
use mlsys_kernels::operators::{self, Comparison};

use crate::lower::builtins;
use crate::lower::udf::Kernel;

pub fn evaluate(kernel: &Kernel, arguments: &[ArrayRef], return_type: &DataType) -> Result<ArrayRef> {
    match kernel {
        Kernel::Wrapping(op) => wrapping(*op, arguments, return_type),
        Kernel::Negate => {
            let [operand] = arguments else {
                return arity(kernel, arguments);
            };
            retype(integers(operand)?.unary(operators::negate_i64), return_type)
        }
        Kernel::FloatComparison(op) => {
            let [lhs, rhs] = arguments else {
                return arity(kernel, arguments);
            };
            let comparison = Comparison::from_binary(*op).ok_or_else(|| unsupported(kernel, arguments))?;
            let (lhs, rhs) = (floats(lhs)?, floats(rhs)?);
            let result: BooleanArray = rows(&[lhs, rhs])
                .map(|row| row.map(|row| comparison.holds(operators::compare_f64(lhs.value(row), rhs.value(row)))))
                .collect();
            Ok(Arc::new(result))
        }
        Kernel::FloatIn {
            items,
            has_null,
            negated,
        } => {
            let [operand] = arguments else {
                return arity(kernel, arguments);
            };
            let items: Vec<f64> = items.iter().map(|bits| f64::from_bits(*bits)).collect();
            let result: BooleanArray = floats(operand)?
                .iter()
                .map(|value| float_in(value?, &items, *has_null, *negated))
                .collect();
            Ok(Arc::new(result))
        }
        Kernel::Builtin(builtin) => builtins::evaluate(*builtin, arguments, return_type),
        Kernel::HashBucket { buckets } => {
            let [operand] = arguments else {
                return arity(kernel, arguments);
            };
            let buckets = *buckets;
            let result: Int64Array = match operand.data_type() {
                DataType::Utf8 => strings(operand)?
                    .iter()
                    .map(|text| text.map(|text| categorical::hash_bucket_str(text, buckets)))
                    .collect(),
                _ => integers(operand)?.unary(|value| categorical::hash_bucket_i64(value, buckets)),
            };
            Ok(Arc::new(result))
        }
        Kernel::Bucketize { edges } => {
            let [operand] = arguments else {
                return arity(kernel, arguments);
            };
            let edges: Vec<f64> = edges.iter().map(|bits| f64::from_bits(*bits)).collect();
            let result: Int64Array = floats(operand)?.unary(|value| categorical::bucketize(value, &edges));
            Ok(Arc::new(result))
        }
    }
}

/// `x in [items]`, then `not` if negated: null for a null `x` (the caller's `?`); `true` on an IEEE
/// match; otherwise null if an item is null; otherwise `false`.
fn float_in(value: f64, items: &[f64], has_null: bool, negated: bool) -> Option<bool> {
    let matched = items
        .iter()
        .any(|item| Comparison::Equal.holds(operators::compare_f64(value, *item)));
    let found = if matched {
        Some(true)
    } else if has_null {
        None
    } else {
        Some(false)
    };
    if negated { operators::not3(found) } else { found }
}

fn wrapping(op: BinaryOp, arguments: &[ArrayRef], return_type: &DataType) -> Result<ArrayRef> {
    let [lhs, rhs] = arguments else {
        return arity(&Kernel::Wrapping(op), arguments);
    };
    let time = *return_type != DataType::Int64;
    let kernel: fn(i64, i64) -> i64 = match (op, time) {
        (BinaryOp::Add, false) => operators::add_i64,
        (BinaryOp::Subtract, false) => operators::subtract_i64,
        (BinaryOp::Multiply, false) => operators::multiply_i64,
        (BinaryOp::Add, true) => operators::add_micros,
        (BinaryOp::Subtract, true) => operators::subtract_micros,
        _ => return Err(unsupported(&Kernel::Wrapping(op), arguments)),
    };
    let result: Int64Array = binary(&integers(lhs)?, &integers(rhs)?, kernel)?;
    retype(result, return_type)
}

/// For each row, `Some(row)` when no array is null there, `None` otherwise.
pub fn rows<'a>(arrays: &'a [&'a dyn Array]) -> impl Iterator<Item = Option<usize>> + 'a {
    let length = arrays.first().map_or(0, |array| array.len());
    (0..length).map(move |row| (!arrays.iter().any(|array| array.is_null(row))).then_some(row))
}

/// The values of an int64, timestamp or duration array as int64 (microseconds for the latter two).
pub fn integers(array: &ArrayRef) -> Result<Int64Array> {
    match array.data_type() {
        DataType::Int64 | DataType::Timestamp(..) | DataType::Duration(..) => {
            Ok(cast(array, &DataType::Int64)?.as_primitive::<Int64Type>().clone())
        }
        other => Err(DataFusionError::Internal(format!(
            "expected an int64 array, found {other}"
        ))),
    }
}

pub fn floats(array: &ArrayRef) -> Result<&Float64Array> {
    array
        .as_primitive_opt::<Float64Type>()
        .ok_or_else(|| DataFusionError::Internal(format!("expected a float64 array, found {}", array.data_type())))
}

pub fn strings(array: &ArrayRef) -> Result<&StringArray> {
    array
        .as_string_opt::<i32>()
        .ok_or_else(|| DataFusionError::Internal(format!("expected a string array, found {}", array.data_type())))
}

pub fn dates(array: &ArrayRef) -> Result<&Date32Array> {
    array
        .as_primitive_opt::<Date32Type>()
        .ok_or_else(|| DataFusionError::Internal(format!("expected a date array, found {}", array.data_type())))
}

/// An int64 array as `return_type` (int64, timestamp or duration: the same 64-bit values).
pub fn retype(values: Int64Array, return_type: &DataType) -> Result<ArrayRef> {
    if *return_type == DataType::Int64 {
        return Ok(Arc::new(values));
    }
    let data = values
        .into_data()
        .into_builder()
        .data_type(return_type.clone())
        .build()?;
    Ok(make_array(data))
}

pub fn arity(kernel: &Kernel, arguments: &[ArrayRef]) -> Result<ArrayRef> {
    Err(DataFusionError::Internal(format!(
        "{kernel:?} called with {} arguments",
        arguments.len()
    )))
}

pub fn unsupported(kernel: &impl std::fmt::Debug, arguments: &[ArrayRef]) -> DataFusionError {
    let types: Vec<String> = arguments.iter().map(|array| array.data_type().to_string()).collect();
    DataFusionError::Internal(format!("{kernel:?} has no definition for ({})", types.join(", ")))
}
