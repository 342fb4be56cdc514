//! Inference requests: the body split into its JSON header and binary data, each input checked
//! against its field and decoded into a column.

use mlsys_kernels::Value;
use serde::Deserialize;
use serde_json::{Map, Value as Json};

use super::datatype::accepted_list;
use super::element::{self, Raw};
use super::error::{ElementProblem, OipError};
use super::non_finite::quote_non_finite;
use super::{Datatype, InferRequest, InputSpec};

#[derive(Deserialize)]
struct RequestHeader {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    parameters: Option<Map<String, Json>>,
    inputs: Vec<RequestInput>,
    #[serde(default)]
    outputs: Option<Vec<RequestOutput>>,
}

#[derive(Deserialize)]
struct RequestInput {
    name: String,
    shape: Json,
    datatype: String,
    #[serde(default)]
    parameters: Option<Map<String, Json>>,
    #[serde(default)]
    data: Option<Json>,
}

#[derive(Deserialize)]
struct RequestOutput {
    name: String,
    #[serde(default)]
    parameters: Option<Map<String, Json>>,
}

/// Decodes an inference request for a target whose request fields are `inputs` and whose outputs
/// are `offered_outputs`. `inference_header_length` is the value of the
/// `Inference-Header-Content-Length` header, if the request has one; a request of more than
/// `max_rows` rows is refused before its columns are allocated.
pub fn decode_infer(
    body: &[u8],
    inference_header_length: Option<&str>,
    inputs: &[InputSpec],
    offered_outputs: &[&str],
    max_rows: usize,
) -> Result<InferRequest, OipError> {
    let (json, binary) = split_body(body, inference_header_length)?;
    let header = parse_header(json)?;
    let mut binary = BinaryData {
        bytes: binary,
        present: inference_header_length.is_some(),
    };
    let (columns, rows) = decode_columns(&header.inputs, inputs, max_rows, &mut binary)?;
    if !binary.bytes.is_empty() {
        return Err(OipError::TrailingBinary {
            extra: binary.bytes.len(),
        });
    }
    if let Some(spec) = inputs
        .iter()
        .zip(&columns)
        .find_map(|(spec, column)| (!spec.optional && column.is_none()).then_some(spec))
    {
        return Err(OipError::MissingInput {
            input: spec.name.clone(),
            ty: spec.ty,
        });
    }
    let rows = rows.ok_or_else(|| OipError::NoInputs {
        expected: input_names(inputs),
    })?;
    let (outputs, binary_output) = requested_outputs(&header, offered_outputs)?;
    Ok(InferRequest {
        id: header.id,
        rows,
        columns,
        binary_output,
        outputs,
    })
}

/// One column per input spec, `None` for an input the request left out.
type Columns = Vec<Option<Vec<Value>>>;

/// The request's tensors decoded into one column per spec, and their common number of rows
/// (`None` without tensors).
fn decode_columns(
    tensors: &[RequestInput],
    inputs: &[InputSpec],
    max_rows: usize,
    binary: &mut BinaryData<'_>,
) -> Result<(Columns, Option<usize>), OipError> {
    let mut columns: Columns = vec![None; inputs.len()];
    let mut rows: Option<(usize, &str)> = None;
    for tensor in tensors {
        let unknown = || OipError::UnknownInput {
            input: tensor.name.clone(),
            expected: input_names(inputs),
        };
        let position = inputs
            .iter()
            .position(|spec| spec.name == tensor.name)
            .ok_or_else(unknown)?;
        if columns[position].is_some() {
            return Err(OipError::DuplicateInput {
                input: tensor.name.clone(),
            });
        }
        let count = tensor_rows(tensor, max_rows)?;
        match rows {
            Some((first_rows, first)) if first_rows != count => {
                return Err(OipError::RowCount {
                    input: tensor.name.clone(),
                    rows: count,
                    first: first.to_string(),
                    first_rows,
                });
            }
            _ => rows = Some((count, &tensor.name)),
        }
        columns[position] = Some(decode_tensor(tensor, &inputs[position], count, binary)?);
    }
    Ok((columns, rows.map(|(rows, _)| rows)))
}

/// The request header, read again with non-finite float tokens quoted if it is not JSON.
fn parse_header(json: &[u8]) -> Result<RequestHeader, OipError> {
    serde_json::from_slice(json).or_else(|source| {
        quote_non_finite(json)
            .and_then(|quoted| serde_json::from_slice(&quoted).ok())
            .ok_or(OipError::Json { source })
    })
}

/// The JSON header and the binary data after it.
fn split_body<'a>(body: &'a [u8], inference_header_length: Option<&str>) -> Result<(&'a [u8], &'a [u8]), OipError> {
    let Some(value) = inference_header_length else {
        return Ok((body, &[]));
    };
    let length: usize = value.trim().parse().map_err(|_| OipError::HeaderLength {
        value: value.to_string(),
    })?;
    if length > body.len() {
        return Err(OipError::HeaderPastBody {
            length,
            body: body.len(),
        });
    }
    Ok(body.split_at(length))
}

/// The binary data not yet taken by an input.
struct BinaryData<'a> {
    bytes: &'a [u8],
    /// Whether the request has the header that makes binary data possible.
    present: bool,
}

impl<'a> BinaryData<'a> {
    fn take(&mut self, input: &str, size: usize) -> Result<&'a [u8], OipError> {
        if !self.present {
            return Err(OipError::BinaryWithoutHeader {
                input: input.to_string(),
            });
        }
        if size > self.bytes.len() {
            return Err(OipError::BinaryPastBody {
                input: input.to_string(),
                size,
                available: self.bytes.len(),
            });
        }
        let (taken, rest) = self.bytes.split_at(size);
        self.bytes = rest;
        Ok(taken)
    }
}

fn input_names(inputs: &[InputSpec]) -> String {
    let names: Vec<String> = inputs.iter().map(|spec| format!("`{}`", spec.name)).collect();
    if names.is_empty() {
        "none".to_string()
    } else {
        names.join(", ")
    }
}

/// N of a shape `[N]` or `[N, 1]`.
fn tensor_rows(tensor: &RequestInput, max_rows: usize) -> Result<usize, OipError> {
    let bad_shape = || OipError::Shape {
        input: tensor.name.clone(),
        found: tensor.shape.to_string(),
    };
    let dims: Vec<u64> = match &tensor.shape {
        Json::Array(dims) => dims
            .iter()
            .map(Json::as_u64)
            .collect::<Option<_>>()
            .ok_or_else(bad_shape)?,
        _ => return Err(bad_shape()),
    };
    let rows = match dims.as_slice() {
        [rows] | [rows, 1] => *rows,
        _ => return Err(bad_shape()),
    };
    match usize::try_from(rows) {
        Ok(rows) if rows <= max_rows => Ok(rows),
        _ => Err(OipError::TooManyRows {
            input: tensor.name.clone(),
            rows: usize::try_from(rows).unwrap_or(usize::MAX),
            max_rows,
        }),
    }
}

/// The column of `rows` values of one input.
fn decode_tensor(
    tensor: &RequestInput,
    spec: &InputSpec,
    rows: usize,
    binary: &mut BinaryData<'_>,
) -> Result<Vec<Value>, OipError> {
    let datatype = Datatype::parse(&tensor.datatype)
        .filter(|datatype| Datatype::accepted(spec.ty.base).contains(datatype))
        .ok_or_else(|| OipError::Datatype {
            input: tensor.name.clone(),
            ty: spec.ty,
            found: tensor.datatype.clone(),
            expected: accepted_list(spec.ty.base),
        })?;
    let binary_size = binary_data_size(tensor)?;
    let element_error = |index, problem| OipError::Element {
        input: tensor.name.clone(),
        index,
        problem,
    };
    let convert = |index, raw: Result<Raw<'_>, ElementProblem>| {
        raw.and_then(|raw| element::to_value(raw, spec.ty))
            .map_err(|problem| element_error(index, problem))
    };
    match (&tensor.data, binary_size) {
        (Some(_), Some(_)) => Err(OipError::BothData {
            input: tensor.name.clone(),
        }),
        (None, None) => Err(OipError::MissingData {
            input: tensor.name.clone(),
        }),
        (Some(data), None) => json_elements(tensor, data, rows)?
            .into_iter()
            .enumerate()
            .map(|(index, json)| convert(index, element::from_json(json, datatype)))
            .collect(),
        (None, Some(size)) => {
            let bytes = binary.take(&tensor.name, size)?;
            binary_elements(tensor, datatype, bytes, rows)?
                .into_iter()
                .enumerate()
                .map(|(index, raw)| convert(index, raw))
                .collect()
        }
    }
}

/// `parameters.binary_data_size`, refusing the parameters that point at data elsewhere.
fn binary_data_size(tensor: &RequestInput) -> Result<Option<usize>, OipError> {
    let Some(parameters) = &tensor.parameters else {
        return Ok(None);
    };
    if parameters.contains_key("shared_memory_region") {
        return Err(OipError::Unsupported {
            input: tensor.name.clone(),
            what: "shared memory",
        });
    }
    match parameters.get("binary_data_size") {
        None => Ok(None),
        Some(size) => size
            .as_u64()
            .and_then(|size| usize::try_from(size).ok())
            .map(Some)
            .ok_or_else(|| OipError::Parameter {
                parameter: format!("inputs[{}].parameters.binary_data_size", tensor.name),
                expected: "a byte count",
            }),
    }
}

/// The elements of JSON `data`, flat or nested row-major.
fn json_elements<'a>(tensor: &RequestInput, data: &'a Json, rows: usize) -> Result<Vec<&'a Json>, OipError> {
    let form_error = |expected: &str| OipError::DataForm {
        input: tensor.name.clone(),
        expected: expected.to_string(),
    };
    let Json::Array(items) = data else {
        return Err(form_error("an array"));
    };
    if items.len() != rows {
        return Err(OipError::DataLength {
            input: tensor.name.clone(),
            shape: tensor.shape.to_string(),
            expected: rows,
            found: items.len(),
        });
    }
    if !items.iter().any(Json::is_array) {
        return Ok(items.iter().collect());
    }
    let nested = matches!(&tensor.shape, Json::Array(dims) if dims.len() == 2);
    items
        .iter()
        .map(|item| match item {
            Json::Array(row) if nested => match row.as_slice() {
                [element] if !element.is_array() => Ok(element),
                _ => Err(form_error("flat, or an array of one-element arrays for shape [N, 1]")),
            },
            _ => Err(form_error(if nested {
                "flat, or an array of one-element arrays for shape [N, 1]"
            } else {
                "a flat array of elements for shape [N]"
            })),
        })
        .collect()
}

/// The elements of an input's binary data, each as its datatype holds it.
fn binary_elements<'a>(
    tensor: &RequestInput,
    datatype: Datatype,
    bytes: &'a [u8],
    rows: usize,
) -> Result<Vec<Result<Raw<'a>, ElementProblem>>, OipError> {
    let Some(width) = datatype.width() else {
        return bytes_elements(tensor, bytes, rows);
    };
    let expected = rows.saturating_mul(width);
    if bytes.len() != expected {
        return Err(OipError::BinarySize {
            input: tensor.name.clone(),
            rows,
            datatype,
            expected,
            size: bytes.len(),
        });
    }
    Ok(bytes
        .chunks_exact(width)
        .map(|element| element::from_fixed(element, datatype))
        .collect())
}

/// BYTES elements: a 4-byte little-endian length, then that many bytes, `rows` times exactly.
fn bytes_elements<'a>(
    tensor: &RequestInput,
    mut bytes: &'a [u8],
    rows: usize,
) -> Result<Vec<Result<Raw<'a>, ElementProblem>>, OipError> {
    let mut elements = Vec::with_capacity(rows);
    for index in 0..rows {
        let (element, rest) = next_bytes_element(bytes).map_err(|problem| OipError::Element {
            input: tensor.name.clone(),
            index,
            problem,
        })?;
        elements.push(Ok(Raw::Bytes(element)));
        bytes = rest;
    }
    if !bytes.is_empty() {
        return Err(OipError::BytesTrailing {
            input: tensor.name.clone(),
            rows,
            extra: bytes.len(),
        });
    }
    Ok(elements)
}

fn next_bytes_element(bytes: &[u8]) -> Result<(&[u8], &[u8]), ElementProblem> {
    let (prefix, rest) = bytes.split_first_chunk::<4>().ok_or(ElementProblem::BytesPrefix)?;
    let length = usize::try_from(u32::from_le_bytes(*prefix)).unwrap_or(usize::MAX);
    if length > rest.len() {
        return Err(ElementProblem::BytesPastEnd {
            length,
            available: rest.len(),
        });
    }
    Ok(rest.split_at(length))
}

/// The outputs to return and whether as binary data.
fn requested_outputs(header: &RequestHeader, offered: &[&str]) -> Result<(Vec<String>, bool), OipError> {
    let default_binary = match header
        .parameters
        .as_ref()
        .and_then(|parameters| parameters.get("binary_data_output"))
    {
        None => false,
        Some(value) => value.as_bool().ok_or_else(|| OipError::Parameter {
            parameter: "parameters.binary_data_output".to_string(),
            expected: "true or false",
        })?,
    };
    let requested = match &header.outputs {
        Some(requested) if !requested.is_empty() => requested,
        _ => return Ok((offered.iter().map(|name| name.to_string()).collect(), default_binary)),
    };
    let mut names = Vec::with_capacity(requested.len());
    let mut binary = false;
    for output in requested {
        if !offered.contains(&output.name.as_str()) {
            return Err(OipError::UnknownOutput {
                output: output.name.clone(),
                expected: offered
                    .iter()
                    .map(|name| format!("`{name}`"))
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
        if names.contains(&output.name) {
            return Err(OipError::DuplicateOutput {
                output: output.name.clone(),
            });
        }
        binary |= output_binary(output)?.unwrap_or(default_binary);
        names.push(output.name.clone());
    }
    Ok((names, binary))
}

/// The output's own `binary_data`, refusing what this codec cannot answer.
fn output_binary(output: &RequestOutput) -> Result<Option<bool>, OipError> {
    let Some(parameters) = &output.parameters else {
        return Ok(None);
    };
    for (key, what) in [
        ("classification", "classification"),
        ("shared_memory_region", "shared memory"),
    ] {
        if parameters.contains_key(key) {
            return Err(OipError::UnsupportedOutput {
                output: output.name.clone(),
                what,
            });
        }
    }
    parameters
        .get("binary_data")
        .map(|value| {
            value.as_bool().ok_or_else(|| OipError::Parameter {
                parameter: format!("outputs[{}].parameters.binary_data", output.name),
                expected: "true or false",
            })
        })
        .transpose()
}
