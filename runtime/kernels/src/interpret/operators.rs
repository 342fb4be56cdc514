//! Operators on [`Value`]s with null propagation (lang-spec/types.md sections 3 and 4): each case
//! dispatches to the typed kernel in [`crate::operators`]. Mixed `int64`/`float64` operands are
//! promoted as the spec defines, although the checker already makes that explicit with `ToFloat`.

use std::cmp::Ordering;

use mlsys_compiler::plan::{BinaryOp, Literal, UnaryOp};

use crate::interpret::OperandError;
use crate::operators::{self as kernel, Comparison};
use crate::value::Value;

pub fn unary(op: UnaryOp, operand: Value) -> Result<Value, OperandError> {
    Ok(match (op, operand) {
        (_, Value::Null) => Value::Null,
        (UnaryOp::Negate, Value::Int(x)) => Value::Int(kernel::negate_i64(x)),
        (UnaryOp::Negate, Value::Float(x)) => Value::Float(kernel::negate_f64(x)),
        (UnaryOp::Negate, Value::Duration(x)) => Value::Duration(kernel::negate_i64(x)),
        (UnaryOp::Not, Value::Bool(x)) => Value::Bool(!x),
        (op, operand) => return Err(OperandError::Unary { op, operand }),
    })
}

pub fn binary(op: BinaryOp, lhs: Value, rhs: Value) -> Result<Value, OperandError> {
    let mismatch = |lhs: &Value, rhs: &Value| OperandError::Binary {
        op,
        lhs: lhs.clone(),
        rhs: rhs.clone(),
    };
    if matches!(op, BinaryOp::And | BinaryOp::Or) {
        let (Some(a), Some(b)) = (truth(&lhs), truth(&rhs)) else {
            return Err(mismatch(&lhs, &rhs));
        };
        let result = if op == BinaryOp::And {
            kernel::and3(a, b)
        } else {
            kernel::or3(a, b)
        };
        return Ok(Value::from(result));
    }
    if lhs.is_null() || rhs.is_null() {
        return Ok(Value::Null);
    }
    if let Some(comparison) = Comparison::from_binary(op) {
        if comparison.is_ordering() && matches!(lhs, Value::Bool(_)) {
            return Err(mismatch(&lhs, &rhs));
        }
        let ordering = compare(&lhs, &rhs).ok_or_else(|| mismatch(&lhs, &rhs))?;
        return Ok(Value::Bool(comparison.holds(ordering)));
    }
    Ok(match (op, &lhs, &rhs) {
        (BinaryOp::Add, Value::Int(a), Value::Int(b)) => Value::Int(kernel::add_i64(*a, *b)),
        (BinaryOp::Subtract, Value::Int(a), Value::Int(b)) => Value::Int(kernel::subtract_i64(*a, *b)),
        (BinaryOp::Multiply, Value::Int(a), Value::Int(b)) => Value::Int(kernel::multiply_i64(*a, *b)),
        (BinaryOp::Add, Value::Timestamp(t), Value::Duration(d))
        | (BinaryOp::Add, Value::Duration(d), Value::Timestamp(t)) => Value::Timestamp(kernel::add_micros(*t, *d)),
        (BinaryOp::Subtract, Value::Timestamp(t), Value::Duration(d)) => {
            Value::Timestamp(kernel::subtract_micros(*t, *d))
        }
        (BinaryOp::Subtract, Value::Timestamp(a), Value::Timestamp(b)) => {
            Value::Duration(kernel::subtract_micros(*a, *b))
        }
        (BinaryOp::Add, Value::Duration(a), Value::Duration(b)) => Value::Duration(kernel::add_micros(*a, *b)),
        (BinaryOp::Subtract, Value::Duration(a), Value::Duration(b)) => {
            Value::Duration(kernel::subtract_micros(*a, *b))
        }
        // Every other arithmetic is on float64 (division always is: there is no integer division).
        _ => {
            let (Some(a), Some(b)) = (number(&lhs), number(&rhs)) else {
                return Err(mismatch(&lhs, &rhs));
            };
            Value::Float(match op {
                BinaryOp::Add => kernel::add_f64(a, b),
                BinaryOp::Subtract => kernel::subtract_f64(a, b),
                BinaryOp::Multiply => kernel::multiply_f64(a, b),
                BinaryOp::Divide => kernel::divide_f64(a, b),
                _ => return Err(mismatch(&lhs, &rhs)),
            })
        }
    })
}

/// `x in [items]` before negation: null if `x` is null; `true` on a match (`==`, IEEE for floats);
/// otherwise null if an item is null; otherwise `false`.
pub fn in_list(operand: &Value, items: &[Literal]) -> Result<Option<bool>, OperandError> {
    if operand.is_null() {
        return Ok(None);
    }
    let mut saw_null = false;
    for item in items {
        let item = Value::from(item);
        if item.is_null() {
            saw_null = true;
            continue;
        }
        let ordering = compare(operand, &item).ok_or_else(|| OperandError::In {
            operand: operand.clone(),
            item: item.clone(),
        })?;
        if Comparison::Equal.holds(ordering) {
            return Ok(Some(true));
        }
    }
    Ok(if saw_null { None } else { Some(false) })
}

/// The language's comparison of two non-null values: `Some(None)` when unordered (a NaN), `None`
/// when the types cannot be compared.
pub fn compare(lhs: &Value, rhs: &Value) -> Option<Option<Ordering>> {
    Some(match (lhs, rhs) {
        (Value::Bool(a), Value::Bool(b)) => Some(a.cmp(b)),
        (Value::Int(a), Value::Int(b)) => Some(a.cmp(b)),
        (Value::String(a), Value::String(b)) => Some(kernel::compare_str(a, b)),
        (Value::Date(a), Value::Date(b)) => Some(a.cmp(b)),
        (Value::Timestamp(a), Value::Timestamp(b)) => Some(a.cmp(b)),
        (Value::Duration(a), Value::Duration(b)) => Some(a.cmp(b)),
        _ => kernel::compare_f64(number(lhs)?, number(rhs)?),
    })
}

/// A numeric value as float64 (int64 converted to the nearest, ties to even).
pub fn number(value: &Value) -> Option<f64> {
    match value {
        Value::Int(x) => Some(kernel::to_float(*x)),
        Value::Float(x) => Some(*x),
        _ => None,
    }
}

/// A bool or null as three-valued truth; `None` for any other type.
fn truth(value: &Value) -> Option<Option<bool>> {
    match value {
        Value::Bool(x) => Some(Some(*x)),
        Value::Null => Some(None),
        _ => None,
    }
}
