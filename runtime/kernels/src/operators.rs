//! Operator kernels (lang-spec/types.md, section 4): wrapping integer and time arithmetic, IEEE float
//! arithmetic and comparisons, byte-wise string comparison, and SQL three-valued logic.

use std::cmp::Ordering;

use mlsys_compiler::plan::BinaryOp;

/// int64 → float64: the nearest value, ties to even (Rust's `as` conversion is exactly that).
pub fn to_float(x: i64) -> f64 {
    x as f64
}

pub fn add_i64(a: i64, b: i64) -> i64 {
    a.wrapping_add(b)
}

pub fn subtract_i64(a: i64, b: i64) -> i64 {
    a.wrapping_sub(b)
}

pub fn multiply_i64(a: i64, b: i64) -> i64 {
    a.wrapping_mul(b)
}

/// `-x` for int64 and duration: `-(-2^63) = -2^63`.
pub fn negate_i64(x: i64) -> i64 {
    x.wrapping_neg()
}

pub fn add_f64(a: f64, b: f64) -> f64 {
    a + b
}

pub fn subtract_f64(a: f64, b: f64) -> f64 {
    a - b
}

pub fn multiply_f64(a: f64, b: f64) -> f64 {
    a * b
}

/// IEEE division: `x / 0` is ±inf by the signs, `0 / 0` and `NaN / x` are NaN.
pub fn divide_f64(a: f64, b: f64) -> f64 {
    a / b
}

/// Flips the sign bit: `-(0.0) = -0.0`.
pub fn negate_f64(x: f64) -> f64 {
    -x
}

/// `timestamp + duration` (either order) and `duration ± duration`, wrapping.
pub fn add_micros(a: i64, b: i64) -> i64 {
    a.wrapping_add(b)
}

/// `timestamp - duration`, `timestamp - timestamp` (a duration) and `duration - duration`, wrapping.
pub fn subtract_micros(a: i64, b: i64) -> i64 {
    a.wrapping_sub(b)
}

/// IEEE comparison: `None` when either is NaN; `-0.0` equals `0.0`.
pub fn compare_f64(a: f64, b: f64) -> Option<Ordering> {
    a.partial_cmp(&b)
}

/// Strings compare by their UTF-8 bytes, lexicographically: `"Z" < "a"`, `"é" > "z"`.
pub fn compare_str(a: &str, b: &str) -> Ordering {
    a.as_bytes().cmp(b.as_bytes())
}

/// The six comparison operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Comparison {
    Equal,
    NotEqual,
    Less,
    LessEqual,
    Greater,
    GreaterEqual,
}

impl Comparison {
    pub fn from_binary(op: BinaryOp) -> Option<Comparison> {
        Some(match op {
            BinaryOp::Equal => Comparison::Equal,
            BinaryOp::NotEqual => Comparison::NotEqual,
            BinaryOp::Less => Comparison::Less,
            BinaryOp::LessEqual => Comparison::LessEqual,
            BinaryOp::Greater => Comparison::Greater,
            BinaryOp::GreaterEqual => Comparison::GreaterEqual,
            _ => return None,
        })
    }

    /// Whether the comparison holds for operands in `ordering`; unordered operands (NaN) satisfy
    /// only `!=`, as in IEEE.
    pub fn holds(self, ordering: Option<Ordering>) -> bool {
        match ordering {
            None => self == Comparison::NotEqual,
            Some(ordering) => match self {
                Comparison::Equal => ordering == Ordering::Equal,
                Comparison::NotEqual => ordering != Ordering::Equal,
                Comparison::Less => ordering == Ordering::Less,
                Comparison::LessEqual => ordering != Ordering::Greater,
                Comparison::Greater => ordering == Ordering::Greater,
                Comparison::GreaterEqual => ordering != Ordering::Less,
            },
        }
    }

    /// Whether the operator needs an order (`bool` supports only `==` and `!=`).
    pub fn is_ordering(self) -> bool {
        !matches!(self, Comparison::Equal | Comparison::NotEqual)
    }
}

/// `a and b` with `None` as null: `false and null = false`, `true and null = null`.
pub fn and3(a: Option<bool>, b: Option<bool>) -> Option<bool> {
    match (a, b) {
        (Some(false), _) | (_, Some(false)) => Some(false),
        (Some(true), Some(true)) => Some(true),
        _ => None,
    }
}

/// `a or b` with `None` as null: `true or null = true`, `false or null = null`.
pub fn or3(a: Option<bool>, b: Option<bool>) -> Option<bool> {
    match (a, b) {
        (Some(true), _) | (_, Some(true)) => Some(true),
        (Some(false), Some(false)) => Some(false),
        _ => None,
    }
}

/// `not a`; `not null = null`.
pub fn not3(a: Option<bool>) -> Option<bool> {
    a.map(|a| !a)
}
