//! The Open Inference Protocol codec: requests as `tritonclient.http` sends them, every error a
//! client can cause, responses, metadata, and decoding that never panics.

mod decode;
mod encode;
mod errors;
mod properties;

use mlsys_compiler::types::{BaseType, Type};
use mlsys_deploy::oip::{InferRequest, InputSpec, OipError, decode_infer};
use mlsys_kernels::Value;
use serde_json::{Value as Json, json};

pub const OFFERED_OUTPUTS: [&str; 2] = ["score", "fallback"];

pub fn spec(name: &str, ty: Type) -> InputSpec {
    InputSpec {
        name: name.to_string(),
        ty,
        optional: false,
    }
}

pub fn optional(name: &str, ty: Type) -> InputSpec {
    InputSpec {
        optional: true,
        ..spec(name, ty)
    }
}

/// How a test tensor carries its elements.
pub enum Data {
    Json(Json),
    /// Binary tensor data, announced with `binary_data_size` of its length.
    Binary(Vec<u8>),
}

pub struct Tensor {
    pub name: &'static str,
    pub datatype: &'static str,
    pub shape: Json,
    pub data: Data,
}

pub fn json_tensor(name: &'static str, datatype: &'static str, data: Json) -> Tensor {
    let rows = data.as_array().map_or(0, Vec::len);
    Tensor {
        name,
        datatype,
        shape: json!([rows]),
        data: Data::Json(data),
    }
}

pub fn binary_tensor(name: &'static str, datatype: &'static str, rows: usize, bytes: Vec<u8>) -> Tensor {
    Tensor {
        name,
        datatype,
        shape: json!([rows]),
        data: Data::Binary(bytes),
    }
}

/// BYTES elements in binary form: each a 4-byte little-endian length and its bytes.
pub fn bytes_elements(elements: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for element in elements {
        out.extend_from_slice(&(element.len() as u32).to_le_bytes());
        out.extend_from_slice(element);
    }
    out
}

/// A request body and its `Inference-Header-Content-Length` value (present when a tensor is
/// binary); `extra` adds top-level fields such as `outputs` or `parameters`.
pub fn request(tensors: &[Tensor], extra: Json) -> (Vec<u8>, Option<String>) {
    let mut binary = Vec::new();
    let inputs: Vec<Json> = tensors
        .iter()
        .map(|tensor| {
            let mut input = json!({"name": tensor.name, "datatype": tensor.datatype, "shape": tensor.shape});
            match &tensor.data {
                Data::Json(data) => input["data"] = data.clone(),
                Data::Binary(bytes) => {
                    input["parameters"] = json!({"binary_data_size": bytes.len()});
                    binary.extend_from_slice(bytes);
                }
            }
            input
        })
        .collect();
    let mut header = json!({"inputs": inputs});
    if let (Json::Object(header), Json::Object(extra)) = (&mut header, extra) {
        header.extend(extra);
    }
    let mut body = header.to_string().into_bytes();
    let has_binary = tensors.iter().any(|tensor| matches!(tensor.data, Data::Binary(_)));
    let header_length = has_binary.then(|| body.len().to_string());
    body.extend_from_slice(&binary);
    (body, header_length)
}

pub fn decode(specs: &[InputSpec], tensors: &[Tensor], extra: Json) -> Result<InferRequest, OipError> {
    let (body, header_length) = request(tensors, extra);
    decode_infer(&body, header_length.as_deref(), specs, &OFFERED_OUTPUTS, 8)
}

/// The column of input `position`, which must be present.
pub fn column(request: &InferRequest, position: usize) -> &[Value] {
    request.columns[position]
        .as_deref()
        .unwrap_or_else(|| panic!("input {position} is absent"))
}

pub fn assert_bits_equal(expected: &[Value], actual: &[Value]) {
    assert_eq!(expected.len(), actual.len(), "{expected:?} vs {actual:?}");
    for (expected, actual) in expected.iter().zip(actual) {
        assert!(expected.bits_equal(actual), "expected {expected:?}, decoded {actual:?}");
    }
}

pub const INT64: Type = Type::new(BaseType::Int64);
pub const FLOAT64: Type = Type::new(BaseType::Float64);
pub const STRING: Type = Type::new(BaseType::String);
pub const BOOL: Type = Type::new(BaseType::Bool);
pub const DATE: Type = Type::new(BaseType::Date);
pub const TIMESTAMP: Type = Type::new(BaseType::Timestamp);
pub const DURATION: Type = Type::new(BaseType::Duration);
