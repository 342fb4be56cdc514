//! Exact float summation: the examples of lang-spec, special values, rounding at the edges of the
//! f64 range, and merges deep enough to force carry normalisation.

use mlsys_kernels::exact_sum::{ExactSum, exact_sum};

use crate::support::assert_bits;

const INF: f64 = f64::INFINITY;
const TINY: f64 = 5e-324;

#[test]
fn spec_examples_in_every_order() {
    let cases: [(&[f64], f64); 3] = [(&[1e16, 1.0, -1e16], 1.0), (&[0.1; 10], 1.0), (&[-0.0], 0.0)];
    for (values, expected) in cases {
        let mut values = values.to_vec();
        for _ in 0..values.len() {
            values.rotate_left(1);
            assert_bits(exact_sum(&values), expected);
            values.reverse();
            assert_bits(exact_sum(&values), expected);
        }
    }
    let sequential: f64 = [0.1; 10].iter().sum();
    assert_bits(sequential, 0.9999999999999999);
}

#[test]
fn zero_sums_are_positive_zero() {
    assert_bits(exact_sum(&[]), 0.0);
    assert_bits(exact_sum(&[-0.0, -0.0]), 0.0);
    assert_bits(exact_sum(&[1.5, -1.5]), 0.0);
    assert_bits(exact_sum(&[-TINY, TINY]), 0.0);
}

#[test]
fn special_values() {
    assert!(exact_sum(&[1.0, f64::NAN]).is_nan());
    assert!(exact_sum(&[INF, -INF]).is_nan());
    assert!(exact_sum(&[INF, f64::NAN, 1.0]).is_nan());
    assert_bits(exact_sum(&[INF, 1.0, INF]), INF);
    assert_bits(exact_sum(&[-INF, 1e308, 1e308]), -INF);
    assert_bits(exact_sum(&[1e308, 1e308]), INF);
    assert_bits(exact_sum(&[-1e308, -1e308]), -INF);
}

#[test]
fn no_intermediate_overflow() {
    assert_bits(exact_sum(&[1e308, 1e308, -1e308]), 1e308);
    assert_bits(exact_sum(&[f64::MAX, f64::MAX, -f64::MAX]), f64::MAX);
    assert_bits(
        exact_sum(&[f64::MAX, f64::MAX, f64::MAX, -f64::MAX, -f64::MAX, 1.0]),
        f64::MAX,
    );
}

#[test]
fn rounding_at_the_top_of_the_range() {
    // The ulp of f64::MAX is 2^971: half of it is a tie, broken toward the even 2^1024 (infinity).
    let half_ulp = 2f64.powi(970);
    assert_bits(exact_sum(&[f64::MAX, half_ulp]), INF);
    assert_bits(exact_sum(&[f64::MAX, half_ulp / 2.0]), f64::MAX);
    assert_bits(exact_sum(&[f64::MAX, half_ulp, -TINY]), f64::MAX);
    assert_bits(exact_sum(&[-f64::MAX, -half_ulp]), -INF);
}

#[test]
fn ties_round_to_even() {
    let half_ulp_of_one = 2f64.powi(-53);
    let one_plus_ulp = 1.0 + 2f64.powi(-52);
    assert_bits(exact_sum(&[1.0, half_ulp_of_one]), 1.0);
    assert_bits(exact_sum(&[1.0, half_ulp_of_one, TINY]), one_plus_ulp);
    assert_bits(exact_sum(&[1.0, half_ulp_of_one, -TINY]), 1.0);
    assert_bits(exact_sum(&[one_plus_ulp, half_ulp_of_one]), 1.0 + 2f64.powi(-51));
    assert_bits(exact_sum(&[-1.0, -half_ulp_of_one]), -1.0);
    assert_bits(exact_sum(&[1e100, 1.0, -1e100, 1e-100, 1e50, -1.0, -1e50]), 1e-100);
}

#[test]
fn subnormals_are_exact() {
    assert_bits(exact_sum(&[TINY, TINY]), 1e-323);
    assert_bits(exact_sum(&[f64::MIN_POSITIVE, -TINY]), f64::MIN_POSITIVE - TINY);
    assert_bits(
        exact_sum(&[f64::MIN_POSITIVE / 2.0, f64::MIN_POSITIVE / 2.0]),
        f64::MIN_POSITIVE,
    );
    assert_bits(exact_sum(&[-TINY; 3]), -3.0 * TINY);
}

#[test]
fn merges_equal_one_accumulator() {
    let values = [1e16, 0.1, -3.5, 1e-300, 7.25, -1e16, 2f64.powi(-1074), 1e300, -1e300];
    let mut whole = ExactSum::new();
    values.iter().for_each(|value| whole.add(*value));
    for split in 0..=values.len() {
        let (mut left, mut right) = (ExactSum::new(), ExactSum::new());
        values[..split].iter().for_each(|value| left.add(*value));
        values[split..].iter().for_each(|value| right.add(*value));
        let mut right_then_left = right.clone();
        right_then_left.merge(&left);
        left.merge(&right);
        assert_bits(left.round(), whole.round());
        assert_bits(right_then_left.round(), whole.round());
    }
}

#[test]
fn repeated_self_merges_normalise_carries() {
    // Each self-merge doubles the sum and the pending-addition count, passing the normalisation
    // threshold (2^30) after 30 rounds; 45 rounds multiply the exact sum by 2^45.
    let mut sum = ExactSum::new();
    for value in [1.5, -3.0, TINY, 1e300, -1e300, f64::MAX, -f64::MAX] {
        sum.add(value);
    }
    for _ in 0..45 {
        let copy = sum.clone();
        sum.merge(&copy);
    }
    assert_bits(sum.round(), -1.5 * 2f64.powi(45));
    let mut negative = ExactSum::new();
    negative.add(-TINY);
    for _ in 0..60 {
        let copy = negative.clone();
        negative.merge(&copy);
    }
    assert_bits(negative.round(), -TINY * 2f64.powi(60));
}
