//! What is wrong with an inference request: every message names the input (or the part of the
//! request) and what was expected. All are the client's fault (HTTP 400).

use mlsys_compiler::types::Type;

#[derive(Debug, thiserror::Error)]
pub enum OipError {
    #[error("the Inference-Header-Content-Length header must be a byte count, got {value:?}")]
    HeaderLength { value: String },
    #[error("the Inference-Header-Content-Length header says {length} bytes, but the body has only {body}")]
    HeaderPastBody { length: usize, body: usize },
    #[error("the inference request is not a valid request object")]
    Json {
        #[source]
        source: serde_json::Error,
    },
    #[error("parameter `{parameter}` must be {expected}")]
    Parameter { parameter: String, expected: &'static str },
    #[error("input `{input}`: {what} is not supported")]
    Unsupported { input: String, what: &'static str },
    #[error("unknown input `{input}`: the inputs are {expected}")]
    UnknownInput { input: String, expected: String },
    #[error("input `{input}` is given twice")]
    DuplicateInput { input: String },
    #[error("missing input `{input}` ({ty})")]
    MissingInput { input: String, ty: Type },
    #[error("the request has no inputs: the inputs are {expected}")]
    NoInputs { expected: String },
    #[error("input `{input}` ({ty}): datatype {found:?} is not accepted, expected {expected}")]
    Datatype {
        input: String,
        ty: Type,
        found: String,
        expected: String,
    },
    #[error("input `{input}`: shape {found} is not accepted, expected [N] or [N, 1] with N rows")]
    Shape { input: String, found: String },
    #[error("input `{input}` has {rows} rows, more than the {max_rows} a request may have")]
    TooManyRows {
        input: String,
        rows: usize,
        max_rows: usize,
    },
    #[error("input `{input}` has {rows} rows, but input `{first}` has {first_rows}")]
    RowCount {
        input: String,
        rows: usize,
        first: String,
        first_rows: usize,
    },
    #[error("input `{input}` has neither `data` nor `parameters.binary_data_size`")]
    MissingData { input: String },
    #[error("input `{input}` has both `data` and `parameters.binary_data_size`")]
    BothData { input: String },
    #[error("input `{input}`: `data` must be {expected}")]
    DataForm { input: String, expected: String },
    #[error("input `{input}`: shape {shape} holds {expected} elements, but `data` has {found}")]
    DataLength {
        input: String,
        shape: String,
        expected: usize,
        found: usize,
    },
    #[error("input `{input}` sets binary_data_size, but the request has no Inference-Header-Content-Length header")]
    BinaryWithoutHeader { input: String },
    #[error("input `{input}`: binary_data_size is {size}, but only {available} bytes of binary data are left")]
    BinaryPastBody {
        input: String,
        size: usize,
        available: usize,
    },
    #[error("input `{input}`: {rows} {datatype} elements take {expected} bytes, but binary_data_size is {size}")]
    BinarySize {
        input: String,
        rows: usize,
        datatype: super::Datatype,
        expected: usize,
        size: usize,
    },
    #[error("input `{input}`: the binary data holds {rows} BYTES elements and {extra} bytes more")]
    BytesTrailing { input: String, rows: usize, extra: usize },
    #[error("{extra} bytes of binary data follow the last input's")]
    TrailingBinary { extra: usize },
    #[error("input `{input}`, element {index}")]
    Element {
        input: String,
        index: usize,
        #[source]
        problem: ElementProblem,
    },
    #[error("unknown output `{output}`: the outputs are {expected}")]
    UnknownOutput { output: String, expected: String },
    #[error("output `{output}` is requested twice")]
    DuplicateOutput { output: String },
    #[error("output `{output}`: {what} is not supported")]
    UnsupportedOutput { output: String, what: &'static str },
}

/// What is wrong with one tensor element.
#[derive(Debug, thiserror::Error)]
pub enum ElementProblem {
    #[error("got null, but the field is not nullable")]
    NotNullable,
    #[error("expected {expected}, got {found}")]
    Expected { expected: &'static str, found: String },
    #[error("{value} is out of the range of {datatype}")]
    OutOfRange { value: String, datatype: super::Datatype },
    #[error("a BOOL element must be the byte 0 or 1, got {byte}")]
    BoolByte { byte: u8 },
    #[error("the BYTES element's length prefix says {length} bytes, but only {available} are left")]
    BytesPastEnd { length: usize, available: usize },
    #[error("the BYTES element's length prefix is cut short")]
    BytesPrefix,
    #[error("the text is not UTF-8")]
    Utf8(#[source] std::str::Utf8Error),
    /// The feature server's wire form refused the text.
    #[error(transparent)]
    Wire(mlsys_serve::wire::DecodeError),
    #[error("{width} bytes are not one element of the datatype")]
    Width { width: usize },
}
