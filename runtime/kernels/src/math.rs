//! Math builtins (lang-spec/builtins.md, "Math"). Each is the single definition both engines call;
//! `int64` arguments of the float functions are converted by the caller ([`crate::operators::to_float`]).

use std::cmp::Ordering;

use mlsys_compiler::builtins::Builtin;

use crate::order::total_cmp_f64;

/// The kernel of a builtin that maps one float64 to one float64 (`ln`, `round`, ...): the one
/// table both engines dispatch through, so they cannot pick different functions.
pub fn float_unary(builtin: Builtin) -> Option<fn(f64) -> f64> {
    Some(match builtin {
        Builtin::Ln => ln,
        Builtin::Log10 => log10,
        Builtin::Exp => exp,
        Builtin::Sqrt => sqrt,
        Builtin::Round => round,
        Builtin::Floor => floor,
        Builtin::Ceil => ceil,
        _ => return None,
    })
}

/// `ln(x)`: `ln(0) = -inf`, `ln(-1) = NaN`.
pub fn ln(x: f64) -> f64 {
    x.ln()
}

pub fn log10(x: f64) -> f64 {
    x.log10()
}

pub fn exp(x: f64) -> f64 {
    x.exp()
}

/// IEEE correctly rounded; `sqrt(-0.0) = -0.0`.
pub fn sqrt(x: f64) -> f64 {
    x.sqrt()
}

/// `abs(x: int64)`, wrapping: `abs(-2^63) = -2^63`.
pub fn abs_i64(x: i64) -> i64 {
    x.wrapping_abs()
}

/// `abs(x: float64)`: clears the sign bit (NaN stays NaN).
pub fn abs_f64(x: f64) -> f64 {
    x.abs()
}

/// `pow(x, y)`: `pow(NaN, 0) = 1`, `pow(1, NaN) = 1`, `pow(0, -1) = +inf`.
pub fn pow(x: f64, y: f64) -> f64 {
    x.powf(y)
}

/// To the nearest integer, halves away from zero; keeps the sign (`round(-0.4) = -0.0`).
pub fn round(x: f64) -> f64 {
    x.round()
}

pub fn floor(x: f64) -> f64 {
    x.floor()
}

pub fn ceil(x: f64) -> f64 {
    x.ceil()
}

/// `least(a, b)` in the total order; on a tie, `a` (the leftmost).
pub fn least_f64(a: f64, b: f64) -> f64 {
    if total_cmp_f64(b, a) == Ordering::Less { b } else { a }
}

/// `greatest(a, b)` in the total order; on a tie, `a`.
pub fn greatest_f64(a: f64, b: f64) -> f64 {
    if total_cmp_f64(b, a) == Ordering::Greater { b } else { a }
}

pub fn least_i64(a: i64, b: i64) -> i64 {
    a.min(b)
}

pub fn greatest_i64(a: i64, b: i64) -> i64 {
    a.max(b)
}

/// `clamp(x, lo, hi) = least(greatest(x, lo), hi)`, also when `lo > hi` (then `hi`).
pub fn clamp_f64(x: f64, lo: f64, hi: f64) -> f64 {
    least_f64(greatest_f64(x, lo), hi)
}

pub fn clamp_i64(x: i64, lo: i64, hi: i64) -> i64 {
    least_i64(greatest_i64(x, lo), hi)
}
