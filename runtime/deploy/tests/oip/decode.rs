//! Requests that decode: `tritonclient.http`'s own bytes, and every accepted form of each type.

use mlsys_compiler::types::Type;
use mlsys_deploy::oip::{InferRequest, InputSpec, decode_infer};
use mlsys_kernels::Value;
use serde_json::json;

use super::*;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/oip");

/// The fields of the fixtures' target (`make_fixtures.py` sends all but the last two).
fn fixture_specs() -> Vec<InputSpec> {
    vec![
        spec("user_id", INT64),
        spec("amount", FLOAT64),
        spec("merchant", STRING),
        spec("is_online", BOOL),
        optional("event_time", TIMESTAMP),
        spec("count", INT64),
        spec("ratio", FLOAT64),
        optional("day", DATE),
        optional("note", Type::nullable(mlsys_compiler::types::BaseType::String)),
    ]
}

fn decode_fixture(name: &str) -> InferRequest {
    let body = std::fs::read(format!("{FIXTURES}/{name}.body")).expect("the fixture's body");
    let header = std::fs::read_to_string(format!("{FIXTURES}/{name}.header")).ok();
    decode_infer(&body, header.as_deref(), &fixture_specs(), &OFFERED_OUTPUTS, 16).expect("the fixture decodes")
}

/// The values `make_fixtures.py` sends, per input in spec order.
fn fixture_columns() -> Vec<Vec<Value>> {
    vec![
        vec![Value::Int(42), Value::Int(i64::MIN)],
        vec![Value::Float(0.1), Value::Float(-0.0)],
        vec![Value::string("café ☕"), Value::string("a\0b")],
        vec![Value::Bool(true), Value::Bool(false)],
        // 2026-03-02T11:45:00Z and 2026-03-02T12:45:00.123456+01:00.
        vec![
            Value::Timestamp(1_772_451_900_000_000),
            Value::Timestamp(1_772_451_900_123_456),
        ],
        vec![Value::Int(3), Value::Int(i64::from(i32::MIN))],
        vec![Value::Float(0.5), Value::Float(f64::from(0.1_f32))],
    ]
}

fn assert_fixture_values(request: &InferRequest) {
    assert_eq!(request.id.as_deref(), Some("req-1"));
    assert_eq!(request.rows, 2);
    for (position, expected) in fixture_columns().iter().enumerate() {
        assert_bits_equal(expected, column(request, position));
    }
    assert!(request.columns[7].is_none() && request.columns[8].is_none());
}

#[test]
fn tritonclient_binary_request_with_binary_outputs() {
    let request = decode_fixture("binary");
    assert_fixture_values(&request);
    // No outputs listed: tritonclient asks for all of them as binary data.
    assert!(request.binary_output);
    assert_eq!(request.outputs, ["score", "fallback"]);
}

#[test]
fn tritonclient_json_request_with_a_json_output() {
    let request = decode_fixture("json");
    assert_fixture_values(&request);
    assert!(!request.binary_output);
    assert_eq!(request.outputs, ["score"]);
}

#[test]
fn tritonclient_binary_request_with_a_requested_binary_output() {
    let request = decode_fixture("binary_score");
    assert_fixture_values(&request);
    assert!(request.binary_output);
    assert_eq!(request.outputs, ["score"]);
}

#[test]
fn each_type_accepts_its_other_datatypes_exactly() {
    let specs = [
        spec("i8", INT64),
        spec("u64", INT64),
        spec("u16", INT64),
        spec("f32", FLOAT64),
        spec("day", DATE),
        spec("day_text", DATE),
        spec("at", TIMESTAMP),
        spec("wait", DURATION),
        spec("wait_text", DURATION),
    ];
    let tensors = [
        binary_tensor("i8", "INT8", 2, vec![0x80, 0x7f]),
        binary_tensor(
            "u64",
            "UINT64",
            2,
            [i64::MAX as u64, 0]
                .iter()
                .flat_map(|value| value.to_le_bytes())
                .collect(),
        ),
        json_tensor("u16", "UINT16", json!([65535, 0])),
        binary_tensor(
            "f32",
            "FP32",
            2,
            [f32::NAN, -1.5e-40]
                .iter()
                .flat_map(|value| value.to_le_bytes())
                .collect(),
        ),
        json_tensor("day", "INT32", json!([-1, 20_514])),
        binary_tensor("day_text", "BYTES", 2, bytes_elements(&[b"1969-12-31", b"2026-03-02"])),
        json_tensor("at", "INT64", json!([-1, 1_772_451_900_000_000_i64])),
        json_tensor("wait", "INT64", json!([90_000_000, -1])),
        json_tensor("wait_text", "BYTES", json!(["90m", "-1s"])),
    ];
    let request = decode(&specs, &tensors, json!({})).expect("decodes");
    let expected = [
        vec![Value::Int(-128), Value::Int(127)],
        vec![Value::Int(i64::MAX), Value::Int(0)],
        vec![Value::Int(65535), Value::Int(0)],
        vec![Value::Float(f64::NAN), Value::Float(f64::from(-1.5e-40_f32))],
        vec![Value::Date(-1), Value::Date(20_514)],
        vec![Value::Date(-1), Value::Date(20_514)],
        vec![Value::Timestamp(-1), Value::Timestamp(1_772_451_900_000_000)],
        vec![Value::Duration(90_000_000), Value::Duration(-1)],
        vec![Value::Duration(5_400_000_000), Value::Duration(-1_000_000)],
    ];
    for (position, expected) in expected.iter().enumerate() {
        assert_bits_equal(expected, column(&request, position));
    }
}

#[test]
fn fp32_json_rounds_to_the_nearest_fp32_and_fp64_keeps_every_bit() {
    let specs = [spec("single", FLOAT64), spec("double", FLOAT64)];
    let tensors = [
        json_tensor("single", "FP32", json!([0.1, "Infinity"])),
        json_tensor("double", "FP64", json!([5e-324, "NaN"])),
    ];
    let request = decode(&specs, &tensors, json!({})).expect("decodes");
    assert_bits_equal(
        &[Value::Float(f64::from(0.1_f32)), Value::Float(f64::INFINITY)],
        column(&request, 0),
    );
    assert_bits_equal(&[Value::Float(5e-324), Value::Float(f64::NAN)], column(&request, 1));
}

#[test]
fn nulls_are_read_for_nullable_fields() {
    let specs = [spec("note", Type::nullable(mlsys_compiler::types::BaseType::String))];
    let request = decode(&specs, &[json_tensor("note", "BYTES", json!(["x", null]))], json!({})).expect("decodes");
    assert_bits_equal(&[Value::string("x"), Value::Null], column(&request, 0));
}

#[test]
fn shape_n_by_one_takes_flat_or_nested_data() {
    let specs = [spec("x", INT64), spec("y", INT64)];
    let nested = |name, data| Tensor {
        name,
        datatype: "INT64",
        shape: json!([3, 1]),
        data: Data::Json(data),
    };
    let tensors = [nested("x", json!([[1], [2], [3]])), nested("y", json!([4, 5, 6]))];
    let request = decode(&specs, &tensors, json!({})).expect("decodes");
    assert_eq!(request.rows, 3);
    assert_bits_equal(&[Value::Int(1), Value::Int(2), Value::Int(3)], column(&request, 0));
    assert_bits_equal(&[Value::Int(4), Value::Int(5), Value::Int(6)], column(&request, 1));
}

#[test]
fn bytes_keep_embedded_zeros_and_multibyte_text_in_binary_and_json() {
    let specs = [spec("binary", STRING), spec("text", STRING)];
    let texts = ["", "\0", "naïve\0日本語\0", "🦀"];
    let tensors = [
        binary_tensor("binary", "BYTES", 4, bytes_elements(&texts.map(str::as_bytes))),
        json_tensor("text", "BYTES", json!(texts)),
    ];
    let request = decode(&specs, &tensors, json!({})).expect("decodes");
    let expected: Vec<Value> = texts.iter().map(|text| Value::string(*text)).collect();
    assert_bits_equal(&expected, column(&request, 0));
    assert_bits_equal(&expected, column(&request, 1));
}

#[test]
fn zero_rows_decode_to_empty_columns() {
    let specs = [spec("x", INT64), spec("s", STRING)];
    let tensors = [
        binary_tensor("x", "INT64", 0, vec![]),
        json_tensor("s", "BYTES", json!([])),
    ];
    let request = decode(&specs, &tensors, json!({})).expect("decodes");
    assert_eq!(request.rows, 0);
    assert!(column(&request, 0).is_empty() && column(&request, 1).is_empty());
}

#[test]
fn outputs_binary_flags_follow_the_request() {
    let specs = [spec("x", INT64)];
    let tensors = || [json_tensor("x", "INT64", json!([1]))];
    let outputs = |extra| {
        let request = decode(&specs, &tensors(), extra).expect("decodes");
        (request.outputs, request.binary_output)
    };
    assert_eq!(
        outputs(json!({})),
        (vec!["score".to_string(), "fallback".to_string()], false)
    );
    assert_eq!(
        outputs(json!({"outputs": [{"name": "fallback"}, {"name": "score", "parameters": {"binary_data": true}}]})),
        (vec!["fallback".to_string(), "score".to_string()], true)
    );
    // `binary_data_output` is the default an output's own `binary_data` overrides.
    assert_eq!(
        outputs(
            json!({"parameters": {"binary_data_output": true}, "outputs": [{"name": "score", "parameters": {"binary_data": false}}]})
        ),
        (vec!["score".to_string()], false)
    );
    assert_eq!(
        outputs(json!({"parameters": {"binary_data_output": true}, "outputs": [{"name": "score"}]})),
        (vec!["score".to_string()], true)
    );
}

#[test]
fn an_optional_input_may_be_left_out_and_an_id_is_kept() {
    let specs = [spec("x", INT64), optional("at", TIMESTAMP)];
    let request = decode(&specs, &[json_tensor("x", "INT64", json!([7]))], json!({"id": "abc"})).expect("decodes");
    assert_eq!(request.id.as_deref(), Some("abc"));
    assert!(request.columns[1].is_none());
}

#[test]
fn tritonclient_json_non_finite_floats_are_read_and_strings_left_alone() {
    let body = std::fs::read(format!("{FIXTURES}/json_non_finite.body")).expect("the fixture's body");
    let specs = [spec("amount", FLOAT64), spec("merchant", STRING)];
    let request = decode_infer(&body, None, &specs, &OFFERED_OUTPUTS, 16).expect("the fixture decodes");
    assert_bits_equal(
        &[
            Value::Float(f64::NAN),
            Value::Float(f64::INFINITY),
            Value::Float(f64::NEG_INFINITY),
        ],
        column(&request, 0),
    );
    assert_bits_equal(
        &[Value::string("NaN"), Value::string("\"NaN"), Value::string("\\")],
        column(&request, 1),
    );
}
