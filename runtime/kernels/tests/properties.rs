//! Properties: exact sums against two independent references, order and grouping independence of
//! every aggregate, window membership on tile boundaries, and an interpreter that never panics on
//! verified plans whatever their literals and inputs.

use mlsys_compiler::builtins::AggregateFunction::{self, *};
use mlsys_compiler::plan::hash::assign_hashes;
use mlsys_compiler::plan::verify::verify;
use mlsys_compiler::plan::{ExprKind, FeatureKind, Literal};
use mlsys_compiler::types::BaseType;
use mlsys_kernels::Value;
use mlsys_kernels::aggregate::Accumulator;
use mlsys_kernels::exact_sum::{ExactSum, exact_sum};
use mlsys_kernels::interpret::{Bindings, evaluate_features};
use mlsys_kernels::window::{Window, floor_to, tile_index, window_value};
use proptest::prelude::*;
use proptest::sample::select;

use crate::support::assert_bits;

/// A float on a dyadic grid, `mantissa · 2^exponent`, with its exact value in units of 2^-40.
fn dyadic() -> impl Strategy<Value = (f64, i128)> {
    (-(1i64 << 40)..(1i64 << 40), -40i32..=40).prop_map(|(mantissa, exponent)| {
        let value = mantissa as f64 * 2f64.powi(exponent);
        (value, i128::from(mantissa) << (exponent + 40))
    })
}

/// Any finite float below 2^1000 in magnitude (so Python's algorithm cannot overflow), some of them
/// repeated negated to force deep cancellation.
fn finite_floats() -> impl Strategy<Value = Vec<f64>> {
    let float = any::<u64>()
        .prop_map(f64::from_bits)
        .prop_filter("finite, below 2^1000", |value| {
            value.is_finite() && value.abs() < 2f64.powi(1000)
        });
    (
        prop::collection::vec(float, 0..40),
        prop::collection::vec(any::<bool>(), 0..40),
    )
        .prop_map(|(mut values, negate)| {
            let negated: Vec<f64> = values
                .iter()
                .zip(&negate)
                .filter(|(_, n)| **n)
                .map(|(v, _)| -v)
                .collect();
            values.extend(negated);
            values
        })
}

/// Python's `math.fsum` (Shewchuk's partials, then a correctly rounded total): an independent
/// reference, exact as long as no partial overflows.
fn python_fsum(values: &[f64]) -> f64 {
    let mut partials: Vec<f64> = Vec::new();
    for value in values {
        let mut x = *value;
        let mut kept = 0;
        for index in 0..partials.len() {
            let mut y = partials[index];
            if x.abs() < y.abs() {
                std::mem::swap(&mut x, &mut y);
            }
            let high = x + y;
            let low = y - (high - x);
            if low != 0.0 {
                partials[kept] = low;
                kept += 1;
            }
            x = high;
        }
        partials.truncate(kept);
        if x != 0.0 {
            partials.push(x);
        }
    }
    let mut count = partials.len();
    let mut high = 0.0;
    if count > 0 {
        count -= 1;
        high = partials[count];
        let mut low = 0.0;
        while count > 0 {
            let x = high;
            count -= 1;
            let y = partials[count];
            high = x + y;
            low = y - (high - x);
            if low != 0.0 {
                break;
            }
        }
        if count > 0 && ((low < 0.0 && partials[count - 1] < 0.0) || (low > 0.0 && partials[count - 1] > 0.0)) {
            let y = low * 2.0;
            let x = high + y;
            if y == x - high {
                high = x;
            }
        }
    }
    high
}

/// Sums `values` in chunks cut at `cuts`, merging the partial sums right to left.
fn split_sum(values: &[f64], cuts: &[usize]) -> f64 {
    let mut bounds: Vec<usize> = cuts.iter().map(|cut| cut % (values.len() + 1)).collect();
    bounds.extend([0, values.len()]);
    bounds.sort_unstable();
    let mut total = ExactSum::new();
    for pair in bounds.windows(2).rev() {
        let mut part = ExactSum::new();
        values[pair[0]..pair[1]].iter().for_each(|value| part.add(*value));
        total.merge(&part);
    }
    total.round()
}

/// Values that stress the total order and equality: zeros of both signs, NaNs of both signs,
/// infinities, the extremes, and a few ordinary numbers.
fn special_float() -> impl Strategy<Value = f64> {
    prop_oneof![
        select(vec![
            0.0,
            -0.0,
            f64::NAN,
            -f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::MAX,
            -f64::MAX,
            5e-324,
            1.5,
            -1.5,
            0.1,
        ]),
        any::<f64>(),
    ]
}

fn event() -> impl Strategy<Value = (i64, Value)> {
    let value = prop_oneof![
        1 => Just(Value::Null),
        6 => special_float().prop_map(Value::Float),
    ];
    (0i64..4, value)
}

/// `function` over `events` in chunks cut at `cuts`, merged in a pairwise tree.
fn tree_aggregate(function: AggregateFunction, events: &[(i64, Value)], cuts: &[usize]) -> Value {
    let mut bounds: Vec<usize> = cuts.iter().map(|cut| cut % (events.len() + 1)).collect();
    bounds.extend([0, events.len()]);
    bounds.sort_unstable();
    let mut level: Vec<Accumulator> = bounds
        .windows(2)
        .map(|pair| {
            let mut accumulator = Accumulator::new(function, Some(BaseType::Float64)).expect("an aggregate");
            for (timestamp, value) in &events[pair[0]..pair[1]] {
                accumulator.update(value, *timestamp).expect("a float");
            }
            accumulator
        })
        .collect();
    while level.len() > 1 {
        level = level
            .chunks(2)
            .map(|pair| {
                let mut merged = pair[0].clone();
                if let Some(second) = pair.get(1) {
                    merged.merge(second).expect("the same aggregate");
                }
                merged
            })
            .collect();
    }
    level.pop().map_or(Value::Null, |accumulator| accumulator.finish())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn dyadic_sums_are_exact_and_order_independent(
        (values, shuffled) in prop::collection::vec(dyadic(), 0..60)
            .prop_flat_map(|values| (Just(values.clone()), Just(values).prop_shuffle())),
        cuts in prop::collection::vec(any::<usize>(), 0..6),
    ) {
        let exact: i128 = values.iter().map(|(_, units)| units).sum();
        // i128 → f64 rounds to nearest, ties to even; scaling by 2^-40 is exact in this range.
        let expected = exact as f64 * 2f64.powi(-40);
        let floats: Vec<f64> = values.iter().map(|(value, _)| *value).collect();
        let shuffled: Vec<f64> = shuffled.iter().map(|(value, _)| *value).collect();
        assert_bits(exact_sum(&floats), expected);
        assert_bits(exact_sum(&shuffled), expected);
        assert_bits(split_sum(&shuffled, &cuts), expected);
    }

    #[test]
    fn sums_of_any_floats_match_python_fsum(
        (values, shuffled) in finite_floats()
            .prop_flat_map(|values| (Just(values.clone()), Just(values).prop_shuffle())),
        cuts in prop::collection::vec(any::<usize>(), 0..6),
    ) {
        let expected = python_fsum(&values);
        assert_bits(exact_sum(&values), expected);
        assert_bits(exact_sum(&shuffled), expected);
        assert_bits(split_sum(&shuffled, &cuts), expected);
    }

    #[test]
    fn aggregates_are_order_and_grouping_independent(
        (events, shuffled) in prop::collection::vec(event(), 0..30)
            .prop_flat_map(|events| (Just(events.clone()), Just(events).prop_shuffle())),
        cuts in prop::collection::vec(any::<usize>(), 0..6),
    ) {
        for function in [Count, Sum, Avg, Min, Max, Last, CountDistinct] {
            let sequential = tree_aggregate(function, &events, &[]);
            prop_assert_eq!(&tree_aggregate(function, &shuffled, &[]), &sequential, "{:?}", function);
            prop_assert_eq!(&tree_aggregate(function, &shuffled, &cuts), &sequential, "{:?}", function);
        }
    }

    #[test]
    fn window_membership_on_tile_boundaries(
        t in any::<i64>(),
        resolution in select(vec![1i64, 7, 1_000, 3_600_000_000, 86_400_000_000]),
        tiles in 1i64..6,
        offsets in prop::collection::vec(-3i64..=3, 1..8),
    ) {
        let length = tiles * resolution;
        let window = Window::new(length, resolution).expect("a valid window");
        let end = i128::from(t) - i128::from(t).rem_euclid(i128::from(resolution));
        let start = end - i128::from(length);
        // Events on and next to both bounds and every tile boundary in between.
        let mut timestamps = Vec::new();
        for boundary in 0..=tiles + 1 {
            for offset in &offsets {
                let candidate = start + i128::from(boundary) * i128::from(resolution) + i128::from(*offset);
                if let Ok(timestamp) = i64::try_from(candidate) {
                    timestamps.push(timestamp);
                }
            }
        }
        let tile_range = window.tiles(t);
        for timestamp in &timestamps {
            let inside = start <= i128::from(*timestamp) && i128::from(*timestamp) < end;
            prop_assert_eq!(window.contains(t, *timestamp), inside, "event {}", timestamp);
            prop_assert_eq!(tile_range.contains(&tile_index(*timestamp, resolution)), inside);
        }
        // The value is the same anywhere in t's tile.
        let events: Vec<(i64, Value)> = timestamps.iter().map(|timestamp| (*timestamp, Value::Null)).collect();
        let count_at = |at: i64| window_value(&events, Count, None, at, length, resolution).expect("a count");
        let tile_start = floor_to(t, resolution);
        let expected = timestamps.iter().filter(|timestamp| window.contains(t, **timestamp)).count();
        prop_assert_eq!(count_at(t), Value::Int(expected as i64));
        if i128::from(tile_start) == end {
            prop_assert_eq!(count_at(tile_start), count_at(t));
            prop_assert_eq!(count_at(tile_start.saturating_add(resolution - 1)), count_at(t));
        }
    }

    #[test]
    fn the_interpreter_never_panics_on_verified_plans(
        literals in prop::collection::vec(any_literal(), 1..40),
        columns in prop::collection::vec(any_value(), 7),
        aggregate in any_value(),
    ) {
        let mut plan = crate::fraud::fraud_plan();
        let ids: Vec<_> = plan.exprs.ids().collect();
        let mut replacements = literals.into_iter().cycle();
        for id in ids {
            if matches!(plan.exprs[id].kind, ExprKind::Literal { .. })
                && let Some(literal) = replacements.next()
            {
                plan.exprs[id].kind = ExprKind::Literal { value: literal };
            }
        }
        // The verifier does not type literals: with fresh hashes the mutated plan passes it.
        assign_hashes(&mut plan);
        prop_assert_eq!(verify(&plan), Vec::new());
        let (transactions, _) = plan.sources.iter().next().expect("a source");
        let mut inputs = Bindings::new().with_row(transactions, columns);
        let features: Vec<_> = plan.features.ids().collect();
        for feature in &features {
            if matches!(plan.features[*feature].kind, FeatureKind::Aggregate(_)) {
                inputs = inputs.with_feature(*feature, aggregate.clone());
            }
        }
        // Ok or an error, never a panic.
        let _ = evaluate_features(&plan, &features, &inputs);
    }
}

fn any_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::Int),
        special_float().prop_map(Value::Float),
        "[a-zA-Zé ]{0,4}".prop_map(|text| Value::string(text.as_str())),
        any::<i32>().prop_map(Value::Date),
        any::<i64>().prop_map(Value::Timestamp),
        any::<i64>().prop_map(Value::Duration),
    ]
}

/// Literals of every type. Dates stay within a million days of 1970: the compiler's canonical
/// date text (used by `assign_hashes`) overflows on day numbers near the ends of the i32 range.
fn any_literal() -> impl Strategy<Value = Literal> {
    any_value().prop_map(|value| match value {
        Value::Date(days) => Literal::Date(days % 1_000_000),
        other => other.to_literal(),
    })
}
