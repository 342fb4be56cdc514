//! Runtime values: the seven base types of lang-spec/types.md plus null, what "bit-identical" means
//! for them, and their text form.

use std::fmt;
use std::sync::Arc;

use mlsys_compiler::plan::Literal;
use mlsys_compiler::syntax::literal::{format_duration, quote};
use mlsys_compiler::types::BaseType;

use crate::time;

/// The one NaN bit pattern that leaves an engine (lang-spec/types.md, "NaN bit patterns").
pub const CANONICAL_NAN_BITS: u64 = 0x7FF8_0000_0000_0000;

/// One value of any type, or null.
///
/// `==` on `Value` is [`Value::bits_equal`]: bit identity after NaN canonicalisation (the engines'
/// agreement criterion), not the language's `==` (which is in [`crate::operators`]).
#[derive(Clone, Debug)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    /// UTF-8; cheap to clone.
    String(Arc<str>),
    /// Days since 1970-01-01, proleptic Gregorian.
    Date(i32),
    /// Microseconds since 1970-01-01T00:00:00Z.
    Timestamp(i64),
    /// Microseconds.
    Duration(i64),
}

/// `f64` bits with every NaN replaced by the canonical NaN.
pub fn canonical_bits(value: f64) -> u64 {
    if value.is_nan() {
        CANONICAL_NAN_BITS
    } else {
        value.to_bits()
    }
}

/// Any NaN becomes the canonical NaN; every other value (±0.0 included) is kept.
pub fn canonicalize_f64(value: f64) -> f64 {
    f64::from_bits(canonical_bits(value))
}

impl Value {
    pub fn string(text: impl Into<Arc<str>>) -> Value {
        Value::String(text.into())
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// The value's type; `None` for null.
    pub fn base_type(&self) -> Option<BaseType> {
        Some(match self {
            Value::Null => return None,
            Value::Bool(_) => BaseType::Bool,
            Value::Int(_) => BaseType::Int64,
            Value::Float(_) => BaseType::Float64,
            Value::String(_) => BaseType::String,
            Value::Date(_) => BaseType::Date,
            Value::Timestamp(_) => BaseType::Timestamp,
            Value::Duration(_) => BaseType::Duration,
        })
    }

    /// Whether two values are bit-identical once NaNs are canonicalised: same type (or both null),
    /// floats by bit pattern (`-0.0` differs from `0.0`, every NaN equals every NaN), strings by bytes.
    pub fn bits_equal(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Null, Value::Null) => true,
            (Value::Bool(a), Value::Bool(b)) => a == b,
            (Value::Int(a), Value::Int(b)) => a == b,
            (Value::Float(a), Value::Float(b)) => canonical_bits(*a) == canonical_bits(*b),
            (Value::String(a), Value::String(b)) => a.as_bytes() == b.as_bytes(),
            (Value::Date(a), Value::Date(b)) => a == b,
            (Value::Timestamp(a), Value::Timestamp(b)) => a == b,
            (Value::Duration(a), Value::Duration(b)) => a == b,
            _ => false,
        }
    }

    /// The value as it leaves an engine: NaN canonicalised.
    pub fn canonical(self) -> Value {
        match self {
            Value::Float(value) => Value::Float(canonicalize_f64(value)),
            other => other,
        }
    }

    /// The literal of the same value (`Timestamp` literals exist in the plan, not in the syntax).
    pub fn to_literal(&self) -> Literal {
        match self {
            Value::Null => Literal::Null,
            Value::Bool(value) => Literal::Bool(*value),
            Value::Int(value) => Literal::Int(*value),
            Value::Float(value) => Literal::Float(*value),
            Value::String(value) => Literal::String(value.to_string()),
            Value::Date(value) => Literal::Date(*value),
            Value::Timestamp(value) => Literal::Timestamp(*value),
            Value::Duration(value) => Literal::Duration(*value),
        }
    }
}

impl PartialEq for Value {
    fn eq(&self, other: &Value) -> bool {
        self.bits_equal(other)
    }
}

impl Eq for Value {}

impl From<&Literal> for Value {
    fn from(literal: &Literal) -> Value {
        match literal {
            Literal::Null => Value::Null,
            Literal::Bool(value) => Value::Bool(*value),
            Literal::Int(value) => Value::Int(*value),
            Literal::Float(value) => Value::Float(*value),
            Literal::String(value) => Value::string(value.as_str()),
            Literal::Date(value) => Value::Date(*value),
            Literal::Timestamp(value) => Value::Timestamp(*value),
            Literal::Duration(value) => Value::Duration(*value),
        }
    }
}

impl From<bool> for Value {
    fn from(value: bool) -> Value {
        Value::Bool(value)
    }
}

impl From<i64> for Value {
    fn from(value: i64) -> Value {
        Value::Int(value)
    }
}

impl From<f64> for Value {
    fn from(value: f64) -> Value {
        Value::Float(value)
    }
}

impl From<&str> for Value {
    fn from(value: &str) -> Value {
        Value::string(value)
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(value: Option<T>) -> Value {
        value.map_or(Value::Null, Into::into)
    }
}

/// The text form: `null`, `true`, `42`, `1.5`, `-0.0`, `NaN`, `+inf`, `"text"` (quoted as in the
/// language), `2026-03-02`, `2026-03-02T11:45:00.000001Z`, `90m`.
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("null"),
            Value::Bool(value) => write!(f, "{value}"),
            Value::Int(value) => write!(f, "{value}"),
            Value::Float(value) if value.is_nan() => f.write_str("NaN"),
            Value::Float(value) if value.is_infinite() => f.write_str(if *value > 0.0 { "+inf" } else { "-inf" }),
            Value::Float(value) => write!(f, "{value:?}"),
            Value::String(value) => f.write_str(&quote(value)),
            Value::Date(days) => write_date(f, *days),
            Value::Timestamp(micros) => {
                let days = time::date_of(*micros);
                let within_day = time::floor_mod(*micros, time::MICROS_PER_DAY);
                write_date(f, days)?;
                let seconds = within_day / 1_000_000;
                let fraction = within_day % 1_000_000;
                write!(f, "T{:02}:{:02}:{:02}", seconds / 3600, seconds / 60 % 60, seconds % 60)?;
                if fraction != 0 {
                    write!(f, ".{fraction:06}")?;
                }
                f.write_str("Z")
            }
            Value::Duration(micros) => f.write_str(&format_duration(*micros)),
        }
    }
}

fn write_date(f: &mut fmt::Formatter<'_>, days: i32) -> fmt::Result {
    let (year, month, day) = time::civil_from_days(days);
    if year < 0 {
        write!(f, "-{:04}-{month:02}-{day:02}", -year)
    } else {
        write!(f, "{year:04}-{month:02}-{day:02}")
    }
}
