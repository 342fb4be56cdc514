//! Inference responses, metadata and error bodies.

use mlsys_serve::wire::{write_float, write_string};
use serde_json::json;

use super::{Datatype, EncodedResponse, InputSpec, OutputData, OutputTensor};

/// The response to an inference request: each output of shape `[N]`, as JSON `data` or, when
/// `binary`, as binary tensor data after the JSON header.
pub fn encode_infer_response(
    model_name: &str,
    model_version: &str,
    id: Option<&str>,
    outputs: &[OutputTensor],
    binary: bool,
) -> EncodedResponse {
    let mut header = String::from("{\"model_name\":");
    write_string(&mut header, model_name);
    header.push_str(",\"model_version\":");
    write_string(&mut header, model_version);
    if let Some(id) = id {
        header.push_str(",\"id\":");
        write_string(&mut header, id);
    }
    header.push_str(",\"outputs\":[");
    let mut data = Vec::new();
    for (index, output) in outputs.iter().enumerate() {
        if index > 0 {
            header.push(',');
        }
        write_output(&mut header, output, binary.then_some(&mut data));
    }
    header.push_str("]}");
    if !binary {
        return EncodedResponse {
            body: header.into_bytes(),
            inference_header_length: None,
        };
    }
    let header_length = header.len();
    let mut body = header.into_bytes();
    body.extend_from_slice(&data);
    EncodedResponse {
        body,
        inference_header_length: Some(header_length),
    }
}

/// Appends one output tensor's JSON, with its elements as `data` or, given `binary`, appended
/// there and sized in `parameters.binary_data_size`.
fn write_output(header: &mut String, output: &OutputTensor, binary: Option<&mut Vec<u8>>) {
    let (datatype, rows) = match &output.data {
        OutputData::Fp64(values) => (Datatype::Fp64, values.len()),
        OutputData::Bytes(values) => (Datatype::Bytes, values.len()),
    };
    header.push_str("{\"name\":");
    write_string(header, &output.name);
    header.push_str(&format!(",\"datatype\":\"{datatype}\",\"shape\":[{rows}],"));
    match binary {
        Some(data) => {
            let start = data.len();
            write_binary(data, &output.data);
            header.push_str(&format!(
                "\"parameters\":{{\"binary_data_size\":{}}}}}",
                data.len() - start
            ));
        }
        None => {
            header.push_str("\"data\":[");
            write_json_elements(header, &output.data);
            header.push_str("]}");
        }
    }
}

fn write_json_elements(header: &mut String, data: &OutputData) {
    match data {
        OutputData::Fp64(values) => {
            for (index, value) in values.iter().enumerate() {
                if index > 0 {
                    header.push(',');
                }
                write_float(header, *value);
            }
        }
        OutputData::Bytes(values) => {
            for (index, value) in values.iter().enumerate() {
                if index > 0 {
                    header.push(',');
                }
                write_string(header, value);
            }
        }
    }
}

fn write_binary(out: &mut Vec<u8>, data: &OutputData) {
    match data {
        OutputData::Fp64(values) => {
            for value in values {
                out.extend_from_slice(&value.to_le_bytes());
            }
        }
        OutputData::Bytes(values) => {
            for value in values {
                // Outputs are scores and short reasons: a 4 GiB element is not a response this
                // server builds, so the length prefix always holds the length.
                let length = u32::try_from(value.len()).unwrap_or(u32::MAX);
                out.extend_from_slice(&length.to_le_bytes());
                out.extend_from_slice(&value.as_bytes()[..length as usize]);
            }
        }
    }
}

/// The body of `GET /v2/models/{name}`: each input with the datatype it is announced as, and
/// shape `[-1]` (any number of rows); `outputs` are names and datatypes.
pub fn model_metadata_json(
    name: &str,
    versions: &[String],
    platform: &str,
    inputs: &[InputSpec],
    outputs: &[(&str, &str)],
) -> String {
    let inputs: Vec<_> = inputs
        .iter()
        .map(|spec| json!({"name": spec.name, "datatype": Datatype::announced(spec.ty.base).name(), "shape": [-1]}))
        .collect();
    let outputs: Vec<_> = outputs
        .iter()
        .map(|(name, datatype)| json!({"name": name, "datatype": datatype, "shape": [-1]}))
        .collect();
    json!({"name": name, "versions": versions, "platform": platform, "inputs": inputs, "outputs": outputs}).to_string()
}

/// The body of `GET /v2`.
pub fn server_metadata_json() -> String {
    json!({"name": "mlsys", "version": env!("CARGO_PKG_VERSION"), "extensions": ["binary_tensor_data"]}).to_string()
}

/// An error body as the protocol gives it: `{"error": message}`.
pub fn error_json(message: &str) -> String {
    json!({ "error": message }).to_string()
}
