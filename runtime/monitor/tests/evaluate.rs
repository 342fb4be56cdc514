//! A monitor's rules over predictions: metric windows wait for final labels, use the trainers'
//! metric, and compare with the version's holdout metric; drift periods compare with the baseline
//! of the version that scored them.

use std::collections::HashMap;

use mlsys_compiler::plan::{Comparison, Metric};
use mlsys_monitor::evaluate::{
    DriftOutcome, DriftRule, Maturity, MetricOutcome, MetricRule, Predictions, drift_period, due_period_ends,
    metric_window,
};
use mlsys_monitor::{Baseline, TrainingInput};

const DAY: i64 = 86_400_000_000;

/// 400 rows over days 10..14, scores rising with the row, label 1 for every third row.
fn predictions() -> Predictions {
    let rows = 400;
    Predictions {
        example_time: (0..rows).map(|row| 10 * DAY + row * (4 * DAY / rows)).collect(),
        version: vec![2; rows as usize],
        input_names: vec!["x".into()],
        inputs: vec![(0..rows).map(|row| row as f64).collect()],
        score: (0..rows).map(|row| (row % 7) as f64 / 7.0).collect(),
        label_key: (0..rows).map(|row| Some(format!("k{row}"))).collect(),
    }
    .sorted_by_time()
}

fn label(key: &str) -> Option<f64> {
    let row: u64 = key.trim_start_matches('k').parse().ok()?;
    Some(if row.is_multiple_of(3) { 1.0 } else { 0.0 })
}

fn rule(relative: bool) -> MetricRule {
    MetricRule {
        id: "metric#0".into(),
        text: "metric auc over 7d < 0.9 * baseline".into(),
        metric: Metric::Auc,
        window_micros: 7 * DAY,
        comparison: Comparison::Less,
        threshold: 0.9,
        relative_to_baseline: relative,
    }
}

#[test]
fn a_window_is_pending_until_its_labels_are_final_then_uses_the_trainers_metric() {
    let predictions = predictions();
    let end = 15 * DAY;
    let delay = Maturity {
        delay_micros: 30 * DAY,
        watermark: Some(100 * DAY),
    };
    let holdout = |_version: i64| Some(0.8);
    // The newest row is on day 13: its label is final on day 43.
    assert_eq!(
        metric_window(&rule(true), &predictions, &label, &holdout, delay, end, 40 * DAY),
        None
    );
    // Final by the clock, but the store's labels stop on day 20: still pending.
    let behind = Maturity {
        watermark: Some(20 * DAY),
        ..delay
    };
    assert_eq!(
        metric_window(&rule(true), &predictions, &label, &holdout, behind, end, 50 * DAY),
        None
    );
    let result = metric_window(&rule(true), &predictions, &label, &holdout, delay, end, 50 * DAY).expect("final");
    let labels: Vec<f64> = (0..400).map(|row| label(&format!("k{row}")).unwrap_or(0.0)).collect();
    let scores: Vec<f64> = (0..400).map(|row| (row % 7) as f64 / 7.0).collect();
    let expected = mlsys_train::auc(&labels, &scores).expect("auc");
    match result.outcome {
        MetricOutcome::Evaluated {
            value,
            threshold,
            fired,
            version,
            ..
        } => {
            assert_eq!(
                (value.to_bits(), version, result.labelled),
                (expected.to_bits(), 2, 400)
            );
            assert_eq!(threshold, 0.9 * 0.8);
            assert_eq!(fired, value < 0.9 * 0.8);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn too_few_labels_or_no_holdout_metric_say_so() {
    let predictions = predictions();
    let delay = Maturity {
        delay_micros: 0,
        watermark: Some(100 * DAY),
    };
    let none = |_key: &str| None;
    let result = metric_window(&rule(false), &predictions, &none, &|_| None, delay, 15 * DAY, 20 * DAY);
    assert_eq!(
        result.map(|result| result.outcome),
        Some(MetricOutcome::InsufficientLabels)
    );
    let result = metric_window(&rule(true), &predictions, &label, &|_| None, delay, 15 * DAY, 20 * DAY);
    assert_eq!(
        result.map(|result| result.outcome),
        Some(MetricOutcome::NoBaseline { version: 2 })
    );
}

#[test]
fn drift_compares_each_day_with_the_scoring_versions_baseline() {
    let predictions = predictions();
    let trained: Vec<f64> = (0..1000).map(|value| f64::from(value) * 0.4).collect();
    let baseline = Baseline::of(
        &[TrainingInput {
            name: "x",
            ty: "float64",
            values: &trained,
        }],
        &[0.1, 0.5],
    );
    let rule = DriftRule {
        id: "drift#0".into(),
        text: "drift psi > 0.2 every 1d".into(),
        comparison: Comparison::Greater,
        threshold: 0.2,
        inputs: vec!["x".into()],
        every_micros: DAY,
    };
    let ends = due_period_ends(&predictions, DAY, 14 * DAY);
    assert_eq!(ends, [11 * DAY, 12 * DAY, 13 * DAY, 14 * DAY]);
    let without = drift_period(&rule, &predictions, &HashMap::new(), ends[0]);
    assert_eq!(without.outcome, DriftOutcome::NoBaseline { version: 2 });
    let baselines = HashMap::from([(2, baseline)]);
    // Day 10 holds x in 0..100, the bottom quarter of the training range: drift.
    let first = drift_period(&rule, &predictions, &baselines, ends[0]);
    assert_eq!(first.rows, 100);
    let DriftOutcome::Evaluated { psi, fired, .. } = first.outcome else {
        panic!("{:?}", first.outcome)
    };
    assert!(fired && psi[0].1 > 0.2, "{psi:?}");
}

/// A sample by label key keeps about its share of keys, the same keys every time, and all of them
/// at a share of 1.
#[test]
fn a_sample_by_label_key_keeps_its_share_of_the_keys() {
    use mlsys_monitor::evaluate::{in_sample, sample_rate};
    assert_eq!(sample_rate(100, 400), 1.0);
    assert_eq!(sample_rate(1_000, 250), 0.25);
    let keys: Vec<String> = (0..100_000).map(|row| format!("[\"tx_{row:016x}\"]")).collect();
    assert!(keys.iter().all(|key| in_sample(key, 1.0)));
    let kept = keys.iter().filter(|key| in_sample(key, 0.1)).count();
    assert!((9_500..10_500).contains(&kept), "{kept}");
    let again = keys.iter().filter(|key| in_sample(key, 0.1)).count();
    assert_eq!(kept, again);
    assert!(
        keys.iter()
            .filter(|key| in_sample(key, 0.05))
            .all(|key| in_sample(key, 0.1))
    );
}
