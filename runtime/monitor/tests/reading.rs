//! What a run reads: spans of example times tell the first row and which ranges hold rows, ranges
//! merge into scans, and a row's `features` text gives each watched input's number exactly as a
//! whole JSON object read would.

use mlsys_monitor::extent::{Extent, Span, merge};
use mlsys_monitor::inputs::InputNames;
use proptest::prelude::*;

const DAY: i64 = 86_400_000_000;

#[test]
fn spans_tell_the_first_row_and_which_ranges_hold_rows() {
    let extent = Extent::new(vec![
        Span {
            first: 10 * DAY + 5,
            last: 10 * DAY + 900,
            rows: 3,
        },
        Span {
            first: 12 * DAY,
            last: 13 * DAY - 1,
            rows: 2,
        },
        Span {
            first: 2 * DAY,
            last: 2 * DAY,
            rows: 0,
        },
    ]);
    assert_eq!(extent.first(), Some(10 * DAY + 5));
    assert_eq!(extent.holds_rows(10 * DAY, 11 * DAY), Some(true));
    assert_eq!(extent.holds_rows(11 * DAY, 12 * DAY), Some(false));
    assert_eq!(
        extent.holds_rows(0, 10 * DAY),
        Some(false),
        "an empty span holds nothing"
    );
    // Inside a span, between its first and last rows: the spans cannot tell.
    assert_eq!(extent.holds_rows(12 * DAY + 1, 12 * DAY + 2), None);
    assert_eq!(Extent::new(Vec::new()).first(), None);
}

#[test]
fn ranges_merge_when_they_overlap_or_touch() {
    let merged = merge(vec![(5, 7), (0, 2), (2, 4), (6, 9), (12, 12), (11, 13)]);
    assert_eq!(merged, [(0, 4), (5, 9), (11, 13)]);
}

/// Each input's number as the log's whole JSON object gives it: the last of a repeated name,
/// NaN for a missing, null or non-number value.
fn by_object(text: &str, names: &[String]) -> Vec<f64> {
    let object: serde_json::Map<String, serde_json::Value> = serde_json::from_str(text).expect("an object");
    names
        .iter()
        .map(|name| object.get(name).and_then(serde_json::Value::as_f64).unwrap_or(f64::NAN))
        .collect()
}

fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<f64>()
            .prop_filter("finite", |value| value.is_finite())
            .prop_map(|value| {
                serde_json::Number::from_f64(value).map_or("null".to_string(), |number| number.to_string())
            }),
        any::<i64>().prop_map(|value| value.to_string()),
        any::<u64>().prop_map(|value| value.to_string()),
        Just("null".to_string()),
        Just("true".to_string()),
        Just("\"x\"".to_string()),
        Just("[1, [2], {\"a\": 3}]".to_string()),
        Just("{\"a\": 1.5}".to_string()),
    ]
}

proptest! {
    #[test]
    fn reading_known_names_agrees_with_the_whole_object(
        entries in proptest::collection::vec((0usize..6, value()), 0..12),
    ) {
        let keys = ["a@v1.x", "b", "quote\"d", "é", "unknown", "a@v1.y"];
        let names: Vec<String> = ["a@v1.x", "b", "quote\"d", "é", "a@v1.y"].iter().map(|name| name.to_string()).collect();
        let body: Vec<String> = entries
            .iter()
            .map(|(key, value)| format!("{}:{value}", serde_json::Value::String(keys[*key].into())))
            .collect();
        let text = format!("{{{}}}", body.join(","));
        let mut row = vec![0.0; names.len()];
        InputNames::new(&names).read(&text, &mut row).expect("an object");
        let expected = by_object(&text, &names);
        prop_assert_eq!(format!("{row:?}"), format!("{expected:?}"), "{}", text);
    }
}

#[test]
fn features_that_are_not_an_object_are_an_error() {
    let names = vec!["x".to_string()];
    let mut row = vec![0.0];
    for text in ["[1]", "1", "{\"x\": 1", "{\"x\": 1} 2"] {
        assert!(InputNames::new(&names).read(text, &mut row).is_err(), "{text}");
    }
}
