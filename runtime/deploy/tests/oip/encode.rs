//! Responses, metadata and error bodies.

use mlsys_compiler::types::{BaseType, Type};
use mlsys_deploy::oip::{
    EncodedResponse, OutputData, OutputTensor, encode_infer_response, error_json, model_metadata_json,
    server_metadata_json,
};
use serde_json::{Value as Json, json};

use super::*;

fn outputs() -> Vec<OutputTensor> {
    vec![
        OutputTensor {
            name: "score".to_string(),
            data: OutputData::Fp64(vec![0.1, -0.0, 5e-324, f64::NAN, f64::NEG_INFINITY, 1e300]),
        },
        OutputTensor {
            name: "fallback".to_string(),
            data: OutputData::Bytes(
                ["", "timeout", "a\0b", "日本", "\"q\"", "", "x"]
                    .map(String::from)
                    .to_vec(),
            ),
        },
    ]
}

#[test]
fn json_response_writes_exact_floats_and_non_finite_as_strings() {
    let response = encode_infer_response("fraud_api", "3", Some("req-1"), &outputs(), false);
    assert_eq!(response.inference_header_length, None);
    let text = String::from_utf8(response.body).expect("UTF-8");
    assert_eq!(
        text,
        r#"{"model_name":"fraud_api","model_version":"3","id":"req-1","outputs":[{"name":"score","datatype":"FP64","shape":[6],"data":[0.1,-0.0,5e-324,"NaN","-Infinity",1e300]},{"name":"fallback","datatype":"BYTES","shape":[7],"data":["","timeout","a\u0000b","日本","\"q\"","","x"]}]}"#
    );
    let parsed: Json = serde_json::from_str(&text).expect("valid JSON");
    assert_eq!(parsed["outputs"][1]["data"][2], "a\0b");
}

#[test]
fn binary_response_appends_each_outputs_bytes_after_the_header() {
    let EncodedResponse {
        body,
        inference_header_length,
    } = encode_infer_response("fraud_api", "3", None, &outputs(), true);
    let header_length = inference_header_length.expect("a binary response has a header length");
    let header: Json = serde_json::from_slice(&body[..header_length]).expect("the header is JSON");
    assert!(header.get("id").is_none());
    let score_size = header["outputs"][0]["parameters"]["binary_data_size"]
        .as_u64()
        .expect("a size") as usize;
    let fallback_size = header["outputs"][1]["parameters"]["binary_data_size"]
        .as_u64()
        .expect("a size") as usize;
    assert!(header["outputs"][0].get("data").is_none());
    assert_eq!(header["outputs"][1]["shape"], json!([7]));
    assert_eq!(header_length + score_size + fallback_size, body.len());

    let scores = &body[header_length..header_length + score_size];
    let OutputData::Fp64(expected) = &outputs()[0].data else {
        unreachable!()
    };
    let decoded: Vec<u64> = scores
        .chunks_exact(8)
        .map(|chunk| u64::from_le_bytes(chunk.try_into().expect("8 bytes")))
        .collect();
    assert_eq!(
        decoded,
        expected.iter().map(|value| value.to_bits()).collect::<Vec<_>>()
    );

    // The BYTES output reads back through the request decoder's own BYTES reader.
    let specs = [spec("fallback", STRING)];
    let tensors = [binary_tensor(
        "fallback",
        "BYTES",
        7,
        body[header_length + score_size..].to_vec(),
    )];
    let request = decode(&specs, &tensors, json!({})).expect("the bytes decode");
    let OutputData::Bytes(texts) = &outputs()[1].data else {
        unreachable!()
    };
    let expected: Vec<_> = texts
        .iter()
        .map(|text| mlsys_kernels::Value::string(text.as_str()))
        .collect();
    assert_bits_equal(&expected, column(&request, 0));
}

#[test]
fn model_metadata_lists_inputs_with_their_announced_datatypes() {
    let inputs = [
        spec("amount", FLOAT64),
        spec("merchant", Type::nullable(BaseType::String)),
        spec("is_online", BOOL),
        spec("user_id", INT64),
        spec("day", DATE),
        optional("event_time", TIMESTAMP),
        spec("wait", DURATION),
    ];
    let text = model_metadata_json(
        "fraud_api",
        &["1".to_string(), "2".to_string()],
        "mlsys",
        &inputs,
        &[("score", "FP64"), ("fallback", "BYTES")],
    );
    let metadata: Json = serde_json::from_str(&text).expect("JSON");
    assert_eq!(
        metadata,
        json!({
            "name": "fraud_api",
            "versions": ["1", "2"],
            "platform": "mlsys",
            "inputs": [
                {"name": "amount", "datatype": "FP64", "shape": [-1]},
                {"name": "merchant", "datatype": "BYTES", "shape": [-1]},
                {"name": "is_online", "datatype": "BOOL", "shape": [-1]},
                {"name": "user_id", "datatype": "INT64", "shape": [-1]},
                {"name": "day", "datatype": "BYTES", "shape": [-1]},
                {"name": "event_time", "datatype": "BYTES", "shape": [-1]},
                {"name": "wait", "datatype": "INT64", "shape": [-1]},
            ],
            "outputs": [
                {"name": "score", "datatype": "FP64", "shape": [-1]},
                {"name": "fallback", "datatype": "BYTES", "shape": [-1]},
            ],
        })
    );
}

#[test]
fn server_metadata_and_error_bodies() {
    let server: Json = serde_json::from_str(&server_metadata_json()).expect("JSON");
    assert_eq!(server["name"], "mlsys");
    assert_eq!(server["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(server["extensions"], json!(["binary_tensor_data"]));
    let error: Json = serde_json::from_str(&error_json("input `x`: \"bad\"\n")).expect("JSON");
    assert_eq!(error, json!({"error": "input `x`: \"bad\"\n"}));
}
