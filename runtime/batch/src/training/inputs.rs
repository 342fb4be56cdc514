//! A model input as the models take it: float64, `false`/`true` as 0/1, null as NaN (missing).
//! Training (`mlsysc build`) and batch scoring convert every input through [`model_input`], so a
//! row scores exactly as it was trained on.

use mlsys_kernels::value::Value;

/// Why a value cannot be a model input.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error(
        "NaN is not a missing value; guard the expression that makes it (a 0/0, a log of a negative) so it gives null instead"
    )]
    NaN,
    #[error("{0} is not a bool, int64 or float64 value")]
    NotNumeric(String),
}

/// `value` as a model input.
pub fn model_input(value: &Value) -> Result<f64, InputError> {
    match value {
        Value::Null => Ok(f64::NAN),
        Value::Bool(value) => Ok(f64::from(u8::from(*value))),
        Value::Int(value) => Ok(*value as f64),
        Value::Float(value) if value.is_nan() => Err(InputError::NaN),
        Value::Float(value) => Ok(*value),
        other => Err(InputError::NotNumeric(other.to_string())),
    }
}
