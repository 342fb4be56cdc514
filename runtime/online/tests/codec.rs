//! The key and record encoding: round trips bit for bit, canonical bytes, the order-preserving
//! `valid_at` header, and decoding that never panics on any bytes.

use std::sync::Arc;

use mlsys_kernels::Value;
use mlsys_online::codec::{FORMAT_VERSION, RECORD_HEADER_LEN, record_valid_at};
use mlsys_online::{EntityKey, Record};
use proptest::prelude::*;

fn any_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::Int),
        // Every bit pattern: NaN payloads, subnormals, -0.0, infinities.
        any::<u64>().prop_map(|bits| Value::Float(f64::from_bits(bits))),
        prop_oneof![
            Just(0.0),
            Just(-0.0),
            Just(f64::NAN),
            Just(f64::from_bits(1)),
            Just(f64::NEG_INFINITY)
        ]
        .prop_map(Value::Float),
        any::<String>().prop_map(|text| Value::String(Arc::from(text))),
        any::<i32>().prop_map(Value::Date),
        any::<i64>().prop_map(Value::Timestamp),
        any::<i64>().prop_map(Value::Duration),
    ]
}

fn assert_bits_equal(expected: &[Value], actual: &[Value]) {
    assert_eq!(expected.len(), actual.len());
    for (expected, actual) in expected.iter().zip(actual) {
        assert!(expected.bits_equal(actual), "{expected:?} decoded as {actual:?}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn records_round_trip(valid_at in any::<i64>(), values in prop::collection::vec(any_value(), 0..12)) {
        let record = Record::new(valid_at, values);
        let bytes = record.encode();
        let decoded = Record::decode(&bytes).expect("an encoding decodes");
        prop_assert_eq!(decoded.valid_at, valid_at);
        assert_bits_equal(&record.values, &decoded.values);
        prop_assert_eq!(record_valid_at(&bytes).expect("a header"), valid_at);
        // Canonical: decoding then encoding gives the same bytes.
        prop_assert_eq!(decoded.encode(), bytes);
    }

    #[test]
    fn keys_round_trip(values in prop::collection::vec(any_value(), 0..6)) {
        let key = EntityKey::new(values);
        let bytes = key.encode();
        let decoded = EntityKey::decode(&bytes).expect("an encoding decodes");
        assert_bits_equal(&key.values, &decoded.values);
        prop_assert_eq!(decoded.encode(), bytes);
    }

    /// Random bytes never panic, and whatever decodes is exactly the encoding of its result.
    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        if let Ok(key) = EntityKey::decode(&bytes) {
            prop_assert_eq!(key.encode(), bytes.clone());
        }
        if let Ok(record) = Record::decode(&bytes) {
            prop_assert_eq!(record.encode(), bytes.clone());
        }
        let _ = record_valid_at(&bytes);
    }

    /// Valid encodings with one byte changed or cut short never panic either (random bytes rarely
    /// get past the version byte).
    #[test]
    fn damaged_encodings_never_panic(
        valid_at in any::<i64>(),
        values in prop::collection::vec(any_value(), 1..8),
        position in any::<prop::sample::Index>(),
        replacement in any::<u8>(),
        cut in any::<prop::sample::Index>(),
    ) {
        let bytes = Record::new(valid_at, values).encode();
        let mut changed = bytes.clone();
        let index = position.index(changed.len());
        changed[index] = replacement;
        if let Ok(record) = Record::decode(&changed) {
            prop_assert_eq!(record.encode(), changed);
        }
        let truncated = &bytes[..cut.index(bytes.len())];
        let _ = Record::decode(truncated);
        let _ = EntityKey::decode(truncated);
    }

    /// Comparing the 8 header bytes as unsigned bytes orders records by signed `valid_at` (what the
    /// Redis script relies on).
    #[test]
    fn header_bytes_order_like_valid_at(first in any::<i64>(), second in any::<i64>()) {
        let first_bytes = Record::new(first, vec![]).encode();
        let second_bytes = Record::new(second, vec![]).encode();
        prop_assert_eq!(
            first_bytes[1..RECORD_HEADER_LEN].cmp(&second_bytes[1..RECORD_HEADER_LEN]),
            first.cmp(&second)
        );
    }
}

#[test]
fn the_layout_is_the_documented_one() {
    let record = Record::new(
        -1,
        vec![
            Value::Null,
            Value::Bool(true),
            Value::Int(-2),
            Value::string("é"),
            Value::Float(-0.0),
            Value::Date(64),
        ],
    );
    let mut expected = vec![FORMAT_VERSION, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF];
    expected.extend([
        0, 2, 3, 3, 5, 2, 0xC3, 0xA9, 4, 0, 0, 0, 0, 0, 0, 0, 0x80, 6, 0x80, 0x01,
    ]);
    assert_eq!(record.encode(), expected);
    assert_eq!(EntityKey::new(vec![Value::Int(1)]).encode(), vec![FORMAT_VERSION, 3, 2]);
    assert_eq!(EntityKey::new(vec![]).encode(), vec![FORMAT_VERSION]);
}

#[test]
fn nan_is_written_as_the_canonical_nan() {
    let payload_nan = f64::from_bits(0xFFF0_0000_0000_0001);
    let bytes = EntityKey::new(vec![Value::Float(payload_nan)]).encode();
    assert_eq!(bytes, EntityKey::new(vec![Value::Float(f64::NAN)]).encode());
    assert_eq!(bytes[2..], 0x7FF8_0000_0000_0000u64.to_le_bytes());
}

#[test]
fn corrupt_bytes_are_errors_that_say_why() {
    let cases: &[(&[u8], &str)] = &[
        (&[], "the bytes end before the format version"),
        (&[2], "unknown format version 2"),
        (&[1, 9], "unknown value tag 9"),
        (&[1, 3], "the bytes end before an int64"),
        (&[1, 3, 0x80, 0x00], "not minimally encoded"),
        (
            &[1, 3, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x02],
            "does not fit in 64 bits",
        ),
        (&[1, 4, 0, 0], "a float64 needs 8 bytes but only 2 remain"),
        (&[1, 4, 1, 0, 0, 0, 0, 0, 0xF8, 0x7F], "not the canonical NaN"),
        (&[1, 5, 3, b'a'], "a string needs 3 bytes but only 1 remain"),
        (&[1, 5, 1, 0xFF], "not UTF-8"),
        (
            &[1, 5, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01],
            "needs",
        ),
        (&[1, 6, 0x80, 0x80, 0x80, 0x80, 0x10], "out of the int32 day range"),
    ];
    for (bytes, reason) in cases {
        let error = EntityKey::decode(bytes).expect_err("corrupt");
        assert!(error.to_string().contains(reason), "{bytes:?}: {error}");
    }
    let error = Record::decode(&[1, 0, 0]).expect_err("a short header");
    assert!(
        error.to_string().contains("the record's valid_at needs 8 bytes"),
        "{error}"
    );
}
