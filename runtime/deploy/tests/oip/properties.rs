//! Decoding never panics, whatever the bytes and header, and typed columns survive a request in
//! binary and in JSON form bit for bit.

use std::sync::Arc;

use mlsys_compiler::types::{BaseType, Type};
use mlsys_deploy::oip::{InputSpec, decode_infer};
use mlsys_kernels::Value;
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use serde_json::json;

use super::*;

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/oip/binary");

fn fixture_body() -> Vec<u8> {
    std::fs::read(format!("{FIXTURE}.body")).expect("the fixture")
}

fn fixture_header() -> String {
    std::fs::read_to_string(format!("{FIXTURE}.header")).expect("the fixture's header length")
}

fn any_specs() -> Vec<InputSpec> {
    vec![
        spec("b", BOOL),
        spec("i", Type::nullable(BaseType::Int64)),
        spec("f", FLOAT64),
        spec("s", STRING),
        optional("t", TIMESTAMP),
    ]
}

fn header_value() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        Just(None),
        (0usize..1200).prop_map(|length| Some(length.to_string())),
        ".{0,12}".prop_map(Some),
    ]
}

fn decode_any(body: &[u8], header: Option<&str>) {
    for specs in [any_specs(), fixture_specs_untyped()] {
        let _ = decode_infer(body, header, &specs, &OFFERED_OUTPUTS, 64);
    }
}

/// The fixtures' field names with types that do not all fit, to reach the element errors.
fn fixture_specs_untyped() -> Vec<InputSpec> {
    [
        "user_id",
        "amount",
        "merchant",
        "is_online",
        "event_time",
        "count",
        "ratio",
    ]
    .into_iter()
    .zip([INT64, FLOAT64, STRING, BOOL, TIMESTAMP, DATE, DURATION])
    .map(|(name, ty)| optional(name, ty))
    .collect()
}

fn row() -> impl Strategy<Value = (bool, Option<i64>, u64, String)> {
    (any::<bool>(), any::<Option<i64>>(), any::<u64>(), any::<String>())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 2_000,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct("tests/proptest-regressions/oip.txt"))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..256), header in header_value()) {
        decode_any(&body, header.as_deref());
    }

    /// tritonclient's request with one byte changed, cut short, or read with another header
    /// length: random bytes rarely get past the JSON parser.
    #[test]
    fn damaged_requests_never_panic(position in any::<prop::sample::Index>(), byte in any::<u8>(), cut in any::<bool>(), header in header_value()) {
        let mut body = fixture_body();
        let position = position.index(body.len());
        if cut {
            body.truncate(position);
        } else {
            body[position] = byte;
        }
        decode_any(&body, header.as_deref());
        decode_any(&body, Some(&fixture_header()));
    }

    /// The same rows sent as binary data and as JSON decode to the same values, bit for bit.
    #[test]
    fn binary_and_json_requests_decode_alike(rows in prop::collection::vec(row(), 0..6)) {
        let count = rows.len();
        let floats: Vec<f64> = rows.iter().map(|row| f64::from_bits(row.2)).collect();
        let binary = [
            binary_tensor("b", "BOOL", count, rows.iter().map(|row| u8::from(row.0)).collect()),
            json_tensor("i", "INT64", json!(rows.iter().map(|row| row.1).collect::<Vec<_>>())),
            binary_tensor("f", "FP64", count, floats.iter().flat_map(|value| value.to_le_bytes()).collect()),
            binary_tensor("s", "BYTES", count, bytes_elements(&rows.iter().map(|row| row.3.as_bytes()).collect::<Vec<_>>())),
        ];
        let json_floats: Vec<_> = floats
            .iter()
            .map(|value| match value {
                value if value.is_nan() => json!("NaN"),
                value if value.is_infinite() => json!(if *value > 0.0 { "Infinity" } else { "-Infinity" }),
                value => json!(value),
            })
            .collect();
        let as_json = [
            json_tensor("b", "BOOL", json!(rows.iter().map(|row| row.0).collect::<Vec<_>>())),
            json_tensor("i", "INT64", json!(rows.iter().map(|row| row.1).collect::<Vec<_>>())),
            json_tensor("f", "FP64", json!(json_floats)),
            json_tensor("s", "BYTES", json!(rows.iter().map(|row| row.3.as_str()).collect::<Vec<_>>())),
        ];
        let expected: [Vec<Value>; 4] = [
            rows.iter().map(|row| Value::Bool(row.0)).collect(),
            rows.iter().map(|row| row.1.map_or(Value::Null, Value::Int)).collect(),
            floats.iter().map(|value| Value::Float(*value)).collect(),
            rows.iter().map(|row| Value::String(Arc::from(row.3.as_str()))).collect(),
        ];
        for tensors in [&binary, &as_json] {
            let request = decode(&any_specs(), tensors, json!({})).expect("decodes");
            prop_assert_eq!(request.rows, count);
            for (position, expected) in expected.iter().enumerate() {
                assert_bits_equal(expected, column(&request, position));
            }
            prop_assert!(request.columns[4].is_none());
        }
    }
}
