//! One tensor element: read from JSON or from binary data as the datatype says, then converted
//! to the field's value.

use mlsys_compiler::types::{BaseType, Type};
use mlsys_kernels::Value;
use mlsys_serve::wire;
use serde_json::Value as Json;

use super::Datatype;
use super::error::ElementProblem;

/// An element as its datatype holds it, before conversion to the field's type.
pub(super) enum Raw<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Bytes(&'a [u8]),
}

/// The element `json` of a tensor of `datatype`.
pub(super) fn from_json(json: &Json, datatype: Datatype) -> Result<Raw<'_>, ElementProblem> {
    let expected = |expected: &'static str| ElementProblem::Expected {
        expected,
        found: wire::describe(json),
    };
    match (datatype, json) {
        (_, Json::Null) => Ok(Raw::Null),
        (Datatype::Bool, Json::Bool(value)) => Ok(Raw::Bool(*value)),
        (Datatype::Bool, _) => Err(expected("true or false")),
        (Datatype::Bytes, Json::String(text)) => Ok(Raw::Bytes(text.as_bytes())),
        (Datatype::Bytes, _) => Err(expected("a string")),
        (Datatype::Fp64 | Datatype::Fp32, _) => {
            let Ok(Value::Float(value)) = wire::decode_value(json, Type::new(BaseType::Float64)) else {
                return Err(expected(r#"a number, or "NaN", "Infinity", "-Infinity""#));
            };
            // An FP32 tensor holds FP32 values: the number is rounded to one (through the nearest double).
            Ok(Raw::Float(if datatype == Datatype::Fp32 {
                f64::from(value as f32)
            } else {
                value
            }))
        }
        (_, Json::Number(number)) => {
            let value = match (number.as_i64(), number.as_u64()) {
                (Some(value), _) => value,
                (None, Some(value)) => {
                    return Err(ElementProblem::OutOfRange {
                        value: value.to_string(),
                        datatype,
                    });
                }
                (None, None) => return Err(expected("an integer")),
            };
            in_range(value, datatype)
        }
        (_, _) => Err(expected("an integer")),
    }
}

fn in_range(value: i64, datatype: Datatype) -> Result<Raw<'static>, ElementProblem> {
    match datatype.integer_range() {
        Some((low, high)) if (low..=high).contains(&value) => Ok(Raw::Int(value)),
        _ => Err(ElementProblem::OutOfRange {
            value: value.to_string(),
            datatype,
        }),
    }
}

/// The element of a fixed-size `datatype` in `bytes` (exactly its width, little-endian).
pub(super) fn from_fixed(bytes: &[u8], datatype: Datatype) -> Result<Raw<'_>, ElementProblem> {
    let raw = match datatype {
        Datatype::Bool => match array::<1>(bytes)? {
            [0] => Raw::Bool(false),
            [1] => Raw::Bool(true),
            [byte] => return Err(ElementProblem::BoolByte { byte }),
        },
        Datatype::Uint8 => Raw::Int(u8::from_le_bytes(array(bytes)?).into()),
        Datatype::Int8 => Raw::Int(i8::from_le_bytes(array(bytes)?).into()),
        Datatype::Uint16 => Raw::Int(u16::from_le_bytes(array(bytes)?).into()),
        Datatype::Int16 => Raw::Int(i16::from_le_bytes(array(bytes)?).into()),
        Datatype::Uint32 => Raw::Int(u32::from_le_bytes(array(bytes)?).into()),
        Datatype::Int32 => Raw::Int(i32::from_le_bytes(array(bytes)?).into()),
        Datatype::Fp32 => Raw::Float(f32::from_le_bytes(array(bytes)?).into()),
        Datatype::Int64 => Raw::Int(i64::from_le_bytes(array(bytes)?)),
        Datatype::Fp64 => Raw::Float(f64::from_le_bytes(array(bytes)?)),
        Datatype::Uint64 => {
            let value = u64::from_le_bytes(array(bytes)?);
            let value = i64::try_from(value).map_err(|_| ElementProblem::OutOfRange {
                value: value.to_string(),
                datatype,
            })?;
            Raw::Int(value)
        }
        Datatype::Bytes => return Err(ElementProblem::Width { width: bytes.len() }),
    };
    Ok(raw)
}

fn array<const N: usize>(bytes: &[u8]) -> Result<[u8; N], ElementProblem> {
    bytes
        .try_into()
        .map_err(|_| ElementProblem::Width { width: bytes.len() })
}

/// The value of a field of type `ty` for an element of an accepted datatype.
pub(super) fn to_value(raw: Raw<'_>, ty: Type) -> Result<Value, ElementProblem> {
    let value = match (ty.base, raw) {
        (_, Raw::Null) if ty.nullable => Value::Null,
        (_, Raw::Null) => return Err(ElementProblem::NotNullable),
        (BaseType::Bool, Raw::Bool(value)) => Value::Bool(value),
        (BaseType::Int64, Raw::Int(value)) => Value::Int(value),
        (BaseType::Float64, Raw::Float(value)) => Value::Float(value),
        (BaseType::String, Raw::Bytes(bytes)) => Value::string(utf8(bytes)?),
        (BaseType::Date | BaseType::Timestamp | BaseType::Duration, Raw::Bytes(bytes)) => text_value(bytes, ty)?,
        (BaseType::Date, Raw::Int(days)) => {
            Value::Date(i32::try_from(days).map_err(|_| ElementProblem::OutOfRange {
                value: days.to_string(),
                datatype: Datatype::Int32,
            })?)
        }
        (BaseType::Timestamp, Raw::Int(micros)) => Value::Timestamp(micros),
        (BaseType::Duration, Raw::Int(micros)) => Value::Duration(micros),
        _ => {
            return Err(ElementProblem::Expected {
                expected: wire::expected_form(ty.base),
                found: "an element of another datatype".to_string(),
            });
        }
    };
    Ok(value)
}

fn utf8(bytes: &[u8]) -> Result<&str, ElementProblem> {
    std::str::from_utf8(bytes).map_err(ElementProblem::Utf8)
}

/// The feature server's reading of a text form, with its messages.
fn text_value(bytes: &[u8], ty: Type) -> Result<Value, ElementProblem> {
    wire::decode_value(&Json::String(utf8(bytes)?.to_string()), ty).map_err(ElementProblem::Wire)
}
