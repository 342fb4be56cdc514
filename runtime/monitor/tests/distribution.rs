//! Baseline bins and PSI.

use mlsys_monitor::{Bins, Distribution, EMPTY_BIN_SHARE, psi};
use proptest::prelude::*;

#[test]
fn deciles_cut_a_uniform_range_in_ten() {
    let values: Vec<f64> = (1..=100).map(f64::from).collect();
    let bins = Bins::quantiles(&values, 10);
    assert_eq!(
        bins,
        Bins::Numeric {
            edges: (1..10).map(|d| f64::from(d * 10)).collect()
        }
    );
    let distribution = Distribution::of(bins, values.iter().copied());
    assert_eq!(distribution.counts, [vec![10; 10], vec![0]].concat());
}

#[test]
fn few_distinct_values_get_a_bin_each_and_missing_its_own() {
    let values = [0.0, 0.0, 1.0, 2.0, 2.0, 2.0, f64::NAN];
    let bins = Bins::quantiles(&values, 10);
    assert_eq!(
        bins,
        Bins::Numeric {
            edges: vec![0.0, 1.0, 2.0]
        }
    );
    let distribution = Distribution::of(bins, values);
    assert_eq!(distribution.counts, vec![2, 1, 3, 0, 1]);
    assert_eq!(
        distribution.bins.labels(),
        ["≤ 0", "(0, 1]", "(1, 2]", "> 2", "missing"]
    );
}

#[test]
fn infinities_fall_in_the_outer_bins_and_unknown_categories_in_other() {
    let numeric = Distribution::of(Bins::Numeric { edges: vec![1.0] }, [f64::NEG_INFINITY, f64::INFINITY]);
    assert_eq!(numeric.counts, vec![1, 1, 0]);
    let flags = Distribution::of(Bins::bool(), [0.0, 1.0, 1.0, 7.0, f64::NAN]);
    assert_eq!(flags.counts, vec![1, 2, 1, 1]);
}

#[test]
fn psi_is_the_documented_sum_with_empty_bins_floored() {
    let bins = Bins::Numeric { edges: vec![0.5] };
    let baseline = Distribution {
        bins: bins.clone(),
        counts: vec![50, 50, 0],
    };
    let current = Distribution {
        bins,
        counts: vec![90, 10, 0],
    };
    let expected = (0.9 - 0.5) * (0.9f64 / 0.5).ln() + (0.1 - 0.5) * (0.1f64 / 0.5).ln();
    assert_eq!(psi(&baseline, &current), Some(expected));
    let shifted = Distribution {
        bins: baseline.bins.clone(),
        counts: vec![0, 100, 0],
    };
    let floored = (EMPTY_BIN_SHARE - 0.5) * (EMPTY_BIN_SHARE / 0.5).ln() + 0.5 * 2f64.ln();
    assert_eq!(psi(&baseline, &shifted), Some(floored));
}

#[test]
fn psi_refuses_other_bins_and_empty_sides() {
    let baseline = Distribution::of(Bins::bool(), [0.0, 1.0]);
    assert_eq!(psi(&baseline, &Distribution::empty(Bins::bool())), None);
    assert_eq!(
        psi(&baseline, &Distribution::of(Bins::Numeric { edges: vec![] }, [1.0])),
        None
    );
}

proptest! {
    #[test]
    fn psi_of_a_sample_against_itself_is_zero_and_never_negative(
        values in proptest::collection::vec(prop_oneof![any::<f64>(), Just(f64::NAN), -5.0..5.0f64], 1..200),
        other in proptest::collection::vec(-5.0..5.0f64, 1..200),
    ) {
        let bins = Bins::quantiles(&values, 10);
        let baseline = Distribution::of(bins.clone(), values.iter().copied());
        prop_assert_eq!(baseline.total(), values.len() as u64);
        prop_assert_eq!(psi(&baseline, &baseline), Some(0.0));
        let current = Distribution::of(bins, other);
        let value = psi(&baseline, &current).unwrap_or(-1.0);
        prop_assert!(value >= 0.0, "psi {}", value);
    }

    #[test]
    fn a_distribution_survives_a_json_round_trip(values in proptest::collection::vec(-1e300..1e300f64, 0..100)) {
        let distribution = Distribution::of(Bins::quantiles(&values, 10), values.iter().copied());
        let text = serde_json::to_string(&distribution).unwrap_or_default();
        let back: Distribution = serde_json::from_str(&text).map_err(|error| TestCaseError::fail(error.to_string()))?;
        prop_assert_eq!(back, distribution);
    }
}

#[test]
fn a_baseline_bins_bools_as_categories_and_numbers_by_deciles() {
    use mlsys_monitor::{Baseline, TrainingInput};
    let amounts: Vec<f64> = (0..1000).map(f64::from).collect();
    let flags: Vec<f64> = (0..1000).map(|index| f64::from(index % 3 == 0)).collect();
    let inputs = [
        TrainingInput {
            name: "amount",
            ty: "float64",
            values: &amounts,
        },
        TrainingInput {
            name: "foreign",
            ty: "bool?",
            values: &flags,
        },
    ];
    let baseline = Baseline::of(&inputs, &[0.1, 0.2, 0.9]);
    assert_eq!(baseline.input("foreign").map(|d| d.bins.clone()), Some(Bins::bool()));
    assert_eq!(
        baseline.input("foreign").map(|d| d.counts.clone()),
        Some(vec![666, 334, 0, 0])
    );
    let amount = baseline.input("amount").expect("amount");
    assert_eq!(amount.counts, [vec![100; 10], vec![0]].concat());
    assert_eq!(baseline.score.total(), 3);
}
