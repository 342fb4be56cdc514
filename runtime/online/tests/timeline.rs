//! Materialized timelines: the base rule, lookups at every time, and the record round trip.

use mlsys_kernels::Value;
use mlsys_online::{Lookup, Record, Timeline};

fn history() -> Vec<(i64, Vec<Value>)> {
    vec![
        (10, vec![Value::Int(1), Value::Float(-0.0)]),
        (20, vec![Value::Int(2), Value::Null]),
        (30, vec![Value::Int(0), Value::Float(f64::NAN)]),
    ]
}

#[test]
fn the_base_is_the_point_in_force_at_the_watermark() {
    let timeline = Timeline::from_history(history(), 2, 25);
    assert_eq!(timeline.exact_from, 20);
    assert_eq!(timeline.points.len(), 2);
    assert_eq!(timeline.at(19), Lookup::TooOld);
    assert_eq!(timeline.at(20), Lookup::Values(&[Value::Int(2), Value::Null]));
    assert_eq!(timeline.at(29), Lookup::Values(&[Value::Int(2), Value::Null]));
    assert_eq!(timeline.at(i64::MAX), Lookup::Values(&history()[2].1));
}

#[test]
fn an_entity_whose_first_point_is_after_the_watermark_is_exact_from_the_start() {
    let timeline = Timeline::from_history(history(), 2, 5);
    assert_eq!(timeline.exact_from, i64::MIN);
    assert_eq!(timeline.points.len(), 3);
    assert_eq!(timeline.at(i64::MIN), Lookup::Empty);
    assert_eq!(timeline.at(9), Lookup::Empty);
    assert_eq!(timeline.at(10), Lookup::Values(&history()[0].1));
}

#[test]
fn every_lookup_after_the_base_equals_the_full_history() {
    let full = Timeline::from_history(history(), 2, i64::MIN);
    for watermark in 0..40 {
        let timeline = Timeline::from_history(history(), 2, watermark);
        let record = timeline.to_record(watermark);
        let stored = Record::decode(&record.encode()).expect("decodes");
        let read = Timeline::from_record(&stored).expect("a timeline");
        assert_eq!(read, timeline);
        for t in read.exact_from.max(0)..45 {
            assert_eq!(read.at(t), full.at(t), "watermark {watermark}, t {t}");
        }
    }
}

#[test]
fn records_that_are_not_timelines_are_refused() {
    let cases = [
        Record::new(0, vec![]),
        Record::new(0, vec![Value::Timestamp(0), Value::Int(-1)]),
        Record::new(0, vec![Value::Timestamp(0), Value::Int(1), Value::Timestamp(5)]),
        Record::new(0, vec![Value::Timestamp(0), Value::Int(0), Value::Int(5)]),
        Record::new(
            0,
            vec![
                Value::Timestamp(0),
                Value::Int(0),
                Value::Timestamp(5),
                Value::Timestamp(5),
            ],
        ),
    ];
    for record in cases {
        assert!(Timeline::from_record(&record).is_err(), "{record:?}");
    }
}
