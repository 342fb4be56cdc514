//! Metrics against hand-computed values, ties, and the undefined cases.

use mlsys_train::{Metric, MetricError, Task, accuracy, auc, evaluate_all, f1, logloss, mae, mape, rmse};

#[test]
fn auc_counts_tied_scores_one_half() {
    // Positives score 0.8, 0.4, 0.8; negatives 0.4, 0.2, 0.8. Pairs won: each 0.8 positive beats
    // 0.4 and 0.2 and ties 0.8 (2.5 each); the 0.4 positive ties 0.4 and beats 0.2 (1.5): 6.5 / 9.
    let labels = [1.0, 1.0, 0.0, 0.0, 1.0, 0.0];
    let scores = [0.8, 0.4, 0.4, 0.2, 0.8, 0.8];
    assert_eq!(auc(&labels, &scores).unwrap(), 6.5 / 9.0);
}

#[test]
fn auc_of_perfect_reversed_and_constant_scores() {
    let labels = [0.0, 0.0, 1.0, 1.0];
    assert_eq!(auc(&labels, &[0.1, 0.2, 0.3, 0.4]).unwrap(), 1.0);
    assert_eq!(auc(&labels, &[0.4, 0.3, 0.2, 0.1]).unwrap(), 0.0);
    assert_eq!(auc(&labels, &[0.5; 4]).unwrap(), 0.5);
}

#[test]
fn auc_with_one_class_is_undefined() {
    let error = auc(&[1.0, 1.0], &[0.2, 0.3]).unwrap_err();
    assert!(matches!(error, MetricError::Undefined { metric: "auc", .. }), "{error}");
}

#[test]
fn logloss_clamps_probabilities() {
    let labels = [1.0, 0.0, 1.0];
    let probabilities = [0.9, 0.2, 0.0];
    let expected = (-(0.9f64.ln()) - 0.8f64.ln() - 1e-15f64.ln()) / 3.0;
    let value = logloss(&labels, &probabilities).unwrap();
    assert!((value - expected).abs() < 1e-12, "{value} vs {expected}");
    assert!((value - 11.622_426_82).abs() < 1e-6);
    // p = 1 for a negative is clamped to 1 - 1e-15, not infinite.
    assert!(logloss(&[0.0], &[1.0]).unwrap().is_finite());
}

#[test]
fn accuracy_and_f1_threshold_at_one_half() {
    let labels = [1.0, 1.0, 1.0, 0.0, 0.0];
    let probabilities = [0.9, 0.5, 0.1, 0.7, 0.2];
    // Predicted true: 0.9, 0.5, 0.7 → TP = 2, FP = 1, FN = 1, TN = 1.
    assert_eq!(accuracy(&labels, &probabilities).unwrap(), 3.0 / 5.0);
    assert_eq!(f1(&labels, &probabilities).unwrap(), 4.0 / 6.0);
    let error = f1(&[0.0, 0.0], &[0.1, 0.2]).unwrap_err();
    assert!(matches!(error, MetricError::Undefined { metric: "f1", .. }));
}

#[test]
fn regression_metrics_by_hand() {
    let labels = [1.0, 2.0, 3.0];
    let predictions = [1.0, 4.0, 0.0];
    assert_eq!(rmse(&labels, &predictions).unwrap(), (13.0f64 / 3.0).sqrt());
    assert_eq!(mae(&labels, &predictions).unwrap(), 5.0 / 3.0);
    // y = 0 is skipped: |2 − 1| / 2 and |−4 + 2| / 4.
    assert_eq!(mape(&[0.0, 2.0, -4.0], &[5.0, 1.0, -2.0]).unwrap(), 0.5);
    let error = mape(&[0.0, 0.0], &[1.0, 2.0]).unwrap_err();
    assert!(matches!(error, MetricError::Undefined { metric: "mape", .. }));
}

#[test]
fn bad_inputs_are_errors() {
    assert_eq!(auc(&[], &[]).unwrap_err(), MetricError::Empty);
    assert_eq!(
        rmse(&[1.0], &[1.0, 2.0]).unwrap_err(),
        MetricError::LengthMismatch {
            labels: 1,
            predictions: 2
        }
    );
    assert!(matches!(
        logloss(&[1.0, 0.0], &[f64::NAN, 0.5]).unwrap_err(),
        MetricError::BadPrediction { index: 0, .. }
    ));
    assert!(matches!(
        accuracy(&[2.0], &[0.5]).unwrap_err(),
        MetricError::BadLabel { index: 0, .. }
    ));
    assert!(matches!(
        mae(&[f64::INFINITY], &[0.5]).unwrap_err(),
        MetricError::BadLabel { index: 0, .. }
    ));
}

#[test]
fn metric_names_and_tasks() {
    for metric in Metric::ALL {
        assert_eq!(Metric::from_name(metric.name()), Some(metric));
    }
    assert_eq!(Metric::from_name("r2"), None);
    let all = evaluate_all(Task::Regression, &[1.0, 2.0], &[1.0, 3.0]).unwrap();
    let names: Vec<&str> = all.iter().map(|(metric, _)| metric.name()).collect();
    assert_eq!(names, ["rmse", "mae", "mape"]);
    assert_eq!(all[2].1, 0.25);
}
