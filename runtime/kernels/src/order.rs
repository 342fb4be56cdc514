//! The total order of lang-spec/builtins.md section 2, used by `least`, `greatest`, `clamp`, `min`,
//! `max` and `last`'s tie-break. It is not the comparison operators' order: those are IEEE
//! ([`crate::operators`]).

use std::cmp::Ordering;

use crate::value::Value;

/// Floats: −inf < negatives < −0.0 < +0.0 < positives < +inf < NaN, every NaN equal to every other
/// (IEEE totalOrder, except that NaNs of either sign sort above +inf).
pub fn total_cmp_f64(a: f64, b: f64) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        (false, false) => a.total_cmp(&b),
    }
}

/// Two non-null values of one type in the total order; `None` when the types differ or either is
/// null (nothing in the language orders across types).
pub fn total_cmp(a: &Value, b: &Value) -> Option<Ordering> {
    Some(match (a, b) {
        (Value::Bool(a), Value::Bool(b)) => a.cmp(b),
        (Value::Int(a), Value::Int(b)) => a.cmp(b),
        (Value::Float(a), Value::Float(b)) => total_cmp_f64(*a, *b),
        (Value::String(a), Value::String(b)) => a.as_bytes().cmp(b.as_bytes()),
        (Value::Date(a), Value::Date(b)) => a.cmp(b),
        (Value::Timestamp(a), Value::Timestamp(b)) => a.cmp(b),
        (Value::Duration(a), Value::Duration(b)) => a.cmp(b),
        _ => return None,
    })
}
