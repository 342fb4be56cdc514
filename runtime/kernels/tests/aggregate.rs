//! Accumulators: the aggregate rows of lang-spec/builtins.md section 4, empty windows, null inputs,
//! tie-breaks, and the errors an ill-typed caller gets instead of a panic.

use mlsys_compiler::builtins::AggregateFunction::{self, *};
use mlsys_compiler::types::BaseType;
use mlsys_kernels::Value;
use mlsys_kernels::aggregate::{Accumulator, AggregateError};

use crate::support::{float, int, text};

const NAN: f64 = f64::NAN;

/// `function` over `values` (all at timestamp 0) of type `argument`.
fn aggregate(function: AggregateFunction, argument: Option<BaseType>, values: &[Value]) -> Value {
    let events: Vec<(i64, Value)> = values.iter().map(|value| (0, value.clone())).collect();
    aggregate_at(function, argument, &events)
}

fn aggregate_at(function: AggregateFunction, argument: Option<BaseType>, events: &[(i64, Value)]) -> Value {
    let mut accumulator = Accumulator::new(function, argument).expect("a valid aggregate");
    for (timestamp, value) in events {
        accumulator
            .update(value, *timestamp)
            .expect("a value of the argument type");
    }
    accumulator.finish()
}

const FLOAT: Option<BaseType> = Some(BaseType::Float64);
const INT: Option<BaseType> = Some(BaseType::Int64);

#[test]
fn spec_table() {
    assert_eq!(
        aggregate(Sum, FLOAT, &[float(1e16), float(1.0), float(-1e16)]),
        float(1.0)
    );
    assert_eq!(aggregate(Sum, FLOAT, &vec![float(0.1); 10]), float(1.0));
    assert_eq!(
        aggregate(Avg, INT, &[int(i64::MAX), int(i64::MAX)]),
        float(9.223372036854776e18)
    );
    assert_eq!(aggregate(Sum, INT, &[int(i64::MAX), int(1)]), int(i64::MIN));
    assert_eq!(aggregate(Min, FLOAT, &[float(NAN), float(1.0)]), float(1.0));
    assert_eq!(aggregate(Max, FLOAT, &[float(NAN), float(1.0)]), float(NAN));
    assert_eq!(aggregate(Min, FLOAT, &[float(0.0), float(-0.0)]), float(-0.0));
    assert_eq!(aggregate(Max, FLOAT, &[float(-0.0), float(0.0)]), float(0.0));
    let distinct = [float(0.0), float(-0.0), float(NAN), float(-NAN), Value::Null];
    assert_eq!(aggregate(CountDistinct, FLOAT, &distinct), int(2));
    let last = [(5, float(1.0)), (5, float(3.0)), (4, float(9.0))];
    assert_eq!(aggregate_at(Last, FLOAT, &last), float(3.0));
    assert_eq!(
        aggregate(Avg, FLOAT, &[float(1e308), float(1e308)]),
        float(f64::INFINITY)
    );
    assert_eq!(aggregate(Sum, FLOAT, &[float(-0.0)]), float(0.0));
    assert_eq!(
        aggregate(Avg, FLOAT, &[float(1.0), float(2.0), Value::Null]),
        float(1.5)
    );
    assert_eq!(aggregate(Avg, INT, &[int(1), int(2), int(2)]), float(5.0 / 3.0));
}

#[test]
fn empty_windows() {
    assert_eq!(aggregate(Count, None, &[]), int(0));
    assert_eq!(aggregate(Count, FLOAT, &[]), int(0));
    assert_eq!(aggregate(CountDistinct, FLOAT, &[]), int(0));
    for function in [Sum, Avg, Min, Max, Last] {
        assert_eq!(aggregate(function, FLOAT, &[]), Value::Null, "{function:?}");
        assert_eq!(aggregate(function, INT, &[]), Value::Null, "{function:?}");
    }
}

#[test]
fn nulls_are_ignored_but_counted_as_rows() {
    let nulls = [Value::Null, Value::Null];
    assert_eq!(aggregate(Count, None, &nulls), int(2));
    assert_eq!(aggregate(Count, FLOAT, &nulls), int(0));
    assert_eq!(aggregate(CountDistinct, FLOAT, &nulls), int(0));
    for function in [Sum, Avg, Min, Max, Last] {
        assert_eq!(aggregate(function, FLOAT, &nulls), Value::Null, "{function:?}");
    }
    let later_null = [(1, float(5.0)), (2, Value::Null)];
    assert_eq!(aggregate_at(Last, FLOAT, &later_null), float(5.0));
    assert_eq!(aggregate(Count, FLOAT, &[float(NAN), Value::Null]), int(1));
}

#[test]
fn last_prefers_the_latest_then_the_greatest_value() {
    let events = [(1, float(9.0)), (3, float(-1.0)), (2, float(100.0))];
    assert_eq!(aggregate_at(Last, FLOAT, &events), float(-1.0));
    let tie = [(3, float(f64::INFINITY)), (3, float(NAN)), (3, float(1.0))];
    assert_eq!(aggregate_at(Last, FLOAT, &tie), float(NAN));
    let zeros = [(3, float(0.0)), (3, float(-0.0))];
    assert_eq!(aggregate_at(Last, FLOAT, &zeros), float(0.0));
    let bools = [(3, Value::Bool(true)), (3, Value::Bool(false))];
    assert_eq!(aggregate_at(Last, Some(BaseType::Bool), &bools), Value::Bool(true));
    let strings = [(-7, text("b")), (-7, text("ab"))];
    assert_eq!(aggregate_at(Last, Some(BaseType::String), &strings), text("b"));
}

#[test]
fn other_types() {
    let strings = [text("é"), text("e\u{301}"), text("z"), text("Z")];
    assert_eq!(aggregate(Min, Some(BaseType::String), &strings), text("Z"));
    assert_eq!(aggregate(Max, Some(BaseType::String), &strings), text("é"));
    assert_eq!(aggregate(CountDistinct, Some(BaseType::String), &strings), int(4));
    let dates = [Value::Date(-3), Value::Date(10), Value::Date(-3)];
    assert_eq!(aggregate(Max, Some(BaseType::Date), &dates), Value::Date(10));
    assert_eq!(aggregate(CountDistinct, Some(BaseType::Date), &dates), int(2));
    let flags = [Value::Bool(true), Value::Bool(true), Value::Bool(false)];
    assert_eq!(aggregate(CountDistinct, Some(BaseType::Bool), &flags), int(2));
    assert_eq!(aggregate(Min, INT, &[int(3), int(-9), int(4)]), int(-9));
}

#[test]
fn merging_tiles_matches_one_accumulator() {
    let events: Vec<(i64, Value)> = [3.5, -0.0, 1e16, NAN, -1e16, 0.25, 0.0]
        .iter()
        .enumerate()
        .map(|(index, value)| (index as i64 % 3, float(*value)))
        .collect();
    for function in [Count, Sum, Avg, Min, Max, Last, CountDistinct] {
        let whole = aggregate_at(function, FLOAT, &events);
        let mut merged = Accumulator::new(function, FLOAT).expect("an aggregate");
        for tile in events.chunks(2).rev() {
            let mut accumulator = Accumulator::new(function, FLOAT).expect("an aggregate");
            for (timestamp, value) in tile {
                accumulator.update(value, *timestamp).expect("a float");
            }
            merged.merge(&accumulator).expect("the same aggregate");
        }
        assert_eq!(merged.finish(), whole, "{function:?}");
    }
}

#[test]
fn ill_typed_use_is_an_error() {
    let unsupported = |function, argument| Accumulator::new(function, argument).map(|_| ());
    assert!(matches!(
        unsupported(Sum, Some(BaseType::String)),
        Err(AggregateError::Unsupported { .. })
    ));
    assert!(matches!(
        unsupported(Avg, None),
        Err(AggregateError::Unsupported { .. })
    ));
    assert!(matches!(
        unsupported(Min, Some(BaseType::Bool)),
        Err(AggregateError::Unsupported { .. })
    ));
    let mut sum = Accumulator::new(Sum, INT).expect("sum(int64)");
    assert_eq!(
        sum.update(&float(1.0), 0),
        Err(AggregateError::TypeMismatch {
            expected: BaseType::Int64,
            found: BaseType::Float64
        })
    );
    let float_sum = Accumulator::new(Sum, FLOAT).expect("sum(float64)");
    assert!(matches!(
        sum.merge(&float_sum),
        Err(AggregateError::MergeMismatch { .. })
    ));
    let max = Accumulator::new(Max, INT).expect("max(int64)");
    assert!(matches!(sum.merge(&max), Err(AggregateError::MergeMismatch { .. })));
}
