//! The wire encoding on its own: exact floats, RFC 3339 timestamps both ways, strict decoding.

use mlsys_compiler::types::{BaseType, Type};
use mlsys_kernels::Value;
use mlsys_serve::wire::{decode_value, format_timestamp, parse_date, parse_timestamp, write_string, write_value};
use serde_json::json;

fn text(value: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, value);
    out
}

#[test]
fn floats_round_trip_bit_for_bit_through_json_text() {
    let edges = [
        0.0,
        -0.0,
        0.1 + 0.2,
        f64::MIN_POSITIVE,
        f64::from_bits(1),
        -f64::from_bits(0x000F_FFFF_FFFF_FFFF),
        f64::MAX,
        f64::MIN,
        f64::EPSILON,
        1e22,
        1e-7,
        123_456_789.0,
        2f64.powi(53) + 2.0,
    ];
    for value in edges {
        let written = text(&Value::Float(value));
        let parsed: serde_json::Value = serde_json::from_str(&written).expect("valid JSON");
        let back = decode_value(&parsed, Type::new(BaseType::Float64)).expect("a float");
        assert!(
            back.bits_equal(&Value::Float(value)),
            "{value:e} was written as {written}"
        );
    }
    assert_eq!(text(&Value::Float(-0.0)), "-0.0");
    assert_eq!(text(&Value::Float(1.0)), "1.0");
    assert_eq!(text(&Value::Float(f64::NAN)), "\"NaN\"");
    assert_eq!(text(&Value::Float(f64::INFINITY)), "\"Infinity\"");
    assert_eq!(text(&Value::Float(f64::NEG_INFINITY)), "\"-Infinity\"");
    for special in ["NaN", "Infinity", "-Infinity"] {
        let back = decode_value(&json!(special), Type::new(BaseType::Float64)).expect("a float");
        assert_eq!(text(&back), format!("\"{special}\""));
    }
}

#[test]
fn other_types_are_written_exactly() {
    assert_eq!(text(&Value::Int(i64::MIN)), "-9223372036854775808");
    assert_eq!(text(&Value::Timestamp(0)), "\"1970-01-01T00:00:00.000000Z\"");
    assert_eq!(text(&Value::Timestamp(-1)), "\"1969-12-31T23:59:59.999999Z\"");
    assert_eq!(text(&Value::Date(-719_529)), "\"-0001-12-31\"");
    assert_eq!(text(&Value::Date(20_000)), "\"2024-10-04\"");
    assert_eq!(text(&Value::Duration(90_000_000)), "90000000");
    assert_eq!(text(&Value::Null), "null");
    let mut out = String::new();
    write_string(&mut out, "a\"b\\c\n\u{1}é🧾");
    assert_eq!(out, r#""a\"b\\c\n\u0001é🧾""#);
    let back: String = serde_json::from_str(&out).expect("valid JSON");
    assert_eq!(back, "a\"b\\c\n\u{1}é🧾");
}

#[test]
fn timestamps_parse_and_print_rfc_3339() {
    let t = 1_772_323_200_000_000; // 2026-03-01T00:00:00Z
    for (text, micros) in [
        ("2026-03-01T00:00:00Z", t),
        ("2026-03-01t00:00:00z", t),
        ("2026-03-01 00:00:00Z", t),
        ("2026-03-01T01:30:00+01:30", t),
        ("2026-02-28T23:00:00-01:00", t),
        ("2026-03-01T00:00:00.5Z", t + 500_000),
        ("2026-03-01T00:00:00.000001Z", t + 1),
        ("2026-03-01T00:00:00.000001000Z", t + 1),
        ("1969-12-31T23:59:59.999999Z", -1),
        ("-0001-12-31T00:00:00Z", -62_167_305_600_000_000),
    ] {
        assert_eq!(parse_timestamp(text), Ok(micros), "{text}");
    }
    for micros in [t, t + 1, -1, 0, i64::MAX, i64::MIN, -62_167_305_600_000_000] {
        assert_eq!(
            parse_timestamp(&format_timestamp(micros)),
            Ok(micros),
            "{}",
            format_timestamp(micros)
        );
    }
    for bad in [
        "2026-03-01",
        "2026-03-01T00:00:00",
        "2026-02-29T00:00:00Z",
        "2026-03-01T24:00:00Z",
        "2026-03-01T00:00:60Z",
        "2026-03-01T00:00:00.0000001Z",
        "2026-03-01T00:00:00.Z",
        "2026-03-01T00:00:00+2400",
        "26-03-01T00:00:00Z",
        "2026-3-01T00:00:00Z",
        "+99999999-01-01T00:00:00Z",
        "2026-03-01T00:00:00Zjunk",
        "",
    ] {
        assert!(parse_timestamp(bad).is_err(), "{bad} was accepted");
    }
    assert_eq!(parse_date("2024-02-29"), Ok(19_782));
    assert!(parse_date("2023-02-29").is_err());
}

#[test]
fn decoding_is_strict_about_types() {
    let int = Type::new(BaseType::Int64);
    assert_eq!(decode_value(&json!(42), int), Ok(Value::Int(42)));
    assert_eq!(
        decode_value(&json!("-9223372036854775808"), int),
        Ok(Value::Int(i64::MIN))
    );
    assert!(decode_value(&json!(42.0), int).is_err());
    assert!(decode_value(&json!(u64::MAX), int).is_err());
    assert!(decode_value(&json!("4e2"), int).is_err());
    let float = Type::new(BaseType::Float64);
    assert_eq!(decode_value(&json!(3), float), Ok(Value::Float(3.0)));
    assert!(decode_value(&json!(9_007_199_254_740_993_i64), float).is_err());
    assert!(decode_value(&json!("1.5"), float).is_err());
    assert!(decode_value(&json!(null), float).is_err());
    let nullable = Type {
        base: BaseType::Float64,
        nullable: true,
    };
    assert_eq!(decode_value(&json!(null), nullable), Ok(Value::Null));
    let duration = Type::new(BaseType::Duration);
    assert_eq!(
        decode_value(&json!("90m"), duration),
        Ok(Value::Duration(5_400_000_000))
    );
    assert_eq!(
        decode_value(&json!("-2h"), duration),
        Ok(Value::Duration(-7_200_000_000))
    );
    assert_eq!(decode_value(&json!(-5), duration), Ok(Value::Duration(-5)));
    let date = Type::new(BaseType::Date);
    assert_eq!(decode_value(&json!("1970-01-02"), date), Ok(Value::Date(1)));
    assert!(decode_value(&json!(1), date).is_err());
    let boolean = Type::new(BaseType::Bool);
    assert!(decode_value(&json!(1), boolean).is_err());
    assert!(decode_value(&json!("true"), boolean).is_err());
}
