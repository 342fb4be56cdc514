//! The Open Inference Protocol v2 (REST) codec: inference requests from body bytes and header
//! values to typed columns, responses and metadata from typed values to bytes. Pure: no HTTP
//! framework, no IO; the server's routes call it.
//!
//! ## Protocol subset
//! - `POST /v2/models/{target}/infer`: `id`, `parameters.binary_data_output`, `inputs` (`name`,
//!   `shape`, `datatype`, `data` or `parameters.binary_data_size`) and `outputs` (`name`,
//!   `parameters.binary_data`). Shared memory and classification outputs are refused; other
//!   parameters are ignored.
//! - The binary tensor data extension: the `Inference-Header-Content-Length` header gives the JSON
//!   header's length in bytes; the binary data of the inputs that set `binary_data_size` follows it
//!   in the order the inputs are listed, with nothing left over. Fixed-size elements are
//!   little-endian without padding, BOOL is one byte (0 or 1), a BYTES element is a 4-byte
//!   little-endian length and its bytes.
//! - One input per request field. Shape `[N]` or `[N, 1]` means N rows; every input has the same
//!   N. JSON `data` is flat or nested row-major (`[[a], [b]]` for `[N, 1]`).
//! - The response is binary when an output asks for it (`binary_data`, which defaults to the
//!   request's `binary_data_output`); then every output is binary, which clients read per output.
//!   Without listed outputs every offered output is returned.
//! - Metadata (`GET /v2`, `GET /v2/models/{target}`) and the error body `{"error": "..."}`.
//!
//! ## Datatypes
//! The first datatype is the one model metadata announces; the others are accepted when the
//! conversion is exact. Text forms are the feature server's ([`mlsys_serve::wire`]), so both
//! servers accept the same strings.
//!
//! | field type | datatypes | element |
//! | --- | --- | --- |
//! | bool | BOOL | `true` / `false`; binary 0 or 1 |
//! | int64 | INT64, INT32, INT16, INT8, UINT64, UINT32, UINT16, UINT8 | an integer in the datatype's range (UINT64 up to 2^63 - 1) |
//! | float64 | FP64, FP32 | a JSON number (an integer only if the double holds it exactly) or `"NaN"`, `"Infinity"`, `"-Infinity"`; FP32 binary widened exactly; an FP32 JSON number is first rounded to an FP32 (through the nearest double) |
//! | string | BYTES | UTF-8 text (invalid UTF-8 in binary data is refused) |
//! | date | BYTES, INT32 | `"YYYY-MM-DD"`, or days since 1970-01-01 |
//! | timestamp | BYTES, INT64 | RFC 3339 (any offset, at most microsecond precision), or microseconds since the epoch |
//! | duration | INT64, BYTES | microseconds, or a duration literal such as `"90m"` |
//!
//! JSON `null` elements are accepted for nullable fields only; binary data has no nulls. The bare
//! tokens `NaN`, `Infinity` and `-Infinity` that Python's JSON writers (and so `tritonclient.http`
//! without binary data) put for non-finite floats are read as those strings.
//! Outputs are FP64 (every bit kept in binary; in JSON the shortest decimal that parses back to
//! the same bits, and non-finite values as the strings `"NaN"`, `"Infinity"`, `"-Infinity"`, as
//! the feature server writes them: JSON has no such numbers, and numpy reads these strings back as
//! the floats) or BYTES (UTF-8 text).

mod datatype;
mod decode;
mod element;
mod encode;
mod error;
mod non_finite;

use mlsys_compiler::types::Type;
use mlsys_kernels::Value;

pub use datatype::Datatype;
pub use decode::decode_infer;
pub use encode::{encode_infer_response, error_json, model_metadata_json, server_metadata_json};
pub use error::{ElementProblem, OipError};

/// The name of the header giving the JSON header's length in a request or response with binary
/// tensor data.
pub const INFERENCE_HEADER_CONTENT_LENGTH: &str = "Inference-Header-Content-Length";

/// One request field of a target: an input tensor of its inference requests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InputSpec {
    pub name: String,
    pub ty: Type,
    /// A request may leave the input out (the server supplies the value, such as the current
    /// time for the examples' timestamp column).
    pub optional: bool,
}

/// A decoded inference request.
#[derive(Clone, Debug)]
pub struct InferRequest {
    pub id: Option<String>,
    pub rows: usize,
    /// One column of `rows` values per input, in the order of the specs; `None` for an optional
    /// input the request left out.
    pub columns: Vec<Option<Vec<Value>>>,
    /// Whether the response is to carry its outputs as binary tensor data.
    pub binary_output: bool,
    /// The outputs to return, in the order requested; every offered output when none was listed.
    pub outputs: Vec<String>,
}

/// One output tensor of a response, of shape `[N]`.
#[derive(Clone, Debug, PartialEq)]
pub struct OutputTensor {
    pub name: String,
    pub data: OutputData,
}

#[derive(Clone, Debug, PartialEq)]
pub enum OutputData {
    Fp64(Vec<f64>),
    Bytes(Vec<String>),
}

/// A response body and, when it carries binary tensor data, the value of the
/// `Inference-Header-Content-Length` header to send with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EncodedResponse {
    pub body: Vec<u8>,
    pub inference_header_length: Option<usize>,
}
