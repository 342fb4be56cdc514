//! The gbdt trainer: determinism, thread-count independence, early stopping, quality, bad input.

use mlsys_train::{
    Algorithm, Dataset, GbdtParams, LogisticRegressionParams, Metric, Model, Task, TrainError, TrainOptions, compute,
    float32_threshold_between, train, train_gbdt,
};
use proptest::prelude::*;

use crate::common::{assert_same_bytes, names, nonlinear_classification, nonlinear_regression, quick_gbdt};

fn threads(count: usize) -> TrainOptions {
    TrainOptions { threads: count }
}

fn bytes(model: &Model) -> Vec<u8> {
    model.to_bytes().unwrap()
}

#[test]
fn same_data_and_seed_give_identical_bytes_and_seed_matters() {
    let data = nonlinear_classification(3000, 1);
    let params = GbdtParams {
        subsample: 0.7,
        seed: 5,
        ..quick_gbdt()
    };
    let first = train_gbdt(&data, &params, &threads(2)).unwrap();
    let second = train_gbdt(&data, &params, &threads(2)).unwrap();
    assert_same_bytes(&bytes(&first), &bytes(&second), "two runs");
    let other_seed = train_gbdt(&data, &GbdtParams { seed: 6, ..params }, &threads(2)).unwrap();
    assert_ne!(bytes(&first), bytes(&other_seed));
}

#[test]
fn thread_count_does_not_change_the_model() {
    let classification = nonlinear_classification(4000, 2);
    let regression = nonlinear_regression(4000, 3);
    let params = GbdtParams {
        subsample: 0.8,
        seed: 11,
        early_stopping_rounds: 5,
        ..quick_gbdt()
    };
    for data in [&classification, &regression] {
        let reference = bytes(&train_gbdt(data, &params, &threads(1)).unwrap());
        for count in [2, 3, 7] {
            let other = bytes(&train_gbdt(data, &params, &threads(count)).unwrap());
            assert_same_bytes(&reference, &other, &format!("1 vs {count} threads"));
        }
    }
}

fn validation_logloss(model: &Model, validation: &Dataset, trees: usize) -> f64 {
    let Model::TreeEnsemble(ensemble) = model else {
        panic!("not a tree ensemble")
    };
    let mut prefix = ensemble.clone();
    prefix.trees.truncate(trees);
    let predictions = Model::TreeEnsemble(prefix).predict_dataset(validation).unwrap();
    compute(Metric::Logloss, validation.labels(), &predictions).unwrap()
}

#[test]
fn early_stopping_keeps_the_best_iteration_on_the_last_tenth() {
    let data = nonlinear_classification(3000, 4);
    let rounds = 4;
    let params = GbdtParams {
        trees: 400,
        learning_rate: 0.5,
        early_stopping_rounds: rounds,
        ..quick_gbdt()
    };
    let stopped = train_gbdt(&data, &params, &threads(2)).unwrap();
    let Model::TreeEnsemble(stopped_ensemble) = &stopped else {
        panic!()
    };
    let kept = stopped_ensemble.trees.len();
    assert!(kept < 400, "early stopping never triggered");

    // Training on the first 90% without early stopping grows the same trees (same bins, base score
    // and random draws); the kept prefix must be the best on the last 10% among the trees tried.
    let validation_start = data.rows() - data.rows() / 10;
    let training = data.slice_rows(0, validation_start).unwrap();
    let validation = data.slice_rows(validation_start, data.rows()).unwrap();
    let full_params = GbdtParams {
        trees: (kept + rounds as usize) as u32,
        early_stopping_rounds: 0,
        ..params
    };
    let full = train_gbdt(&training, &full_params, &threads(2)).unwrap();
    let Model::TreeEnsemble(full_ensemble) = &full else {
        panic!()
    };
    assert_eq!(full_ensemble.trees[..kept], stopped_ensemble.trees[..]);
    let best = validation_logloss(&full, &validation, kept);
    for trees in 1..=kept + rounds as usize {
        assert!(
            best <= validation_logloss(&full, &validation, trees),
            "{trees} trees beat the kept {kept}"
        );
    }
}

#[test]
fn gbdt_learns_a_nonlinear_signal_and_beats_logistic_regression() {
    let data = nonlinear_classification(25_000, 5);
    let training = data.slice_rows(0, 20_000).unwrap();
    let holdout = data.slice_rows(20_000, 25_000).unwrap();
    let params = GbdtParams {
        trees: 120,
        depth: 5,
        learning_rate: 0.1,
        ..GbdtParams::default()
    };
    let gbdt = train(&training, &Algorithm::Gbdt(params), &threads(2)).unwrap();
    let logistic = train(
        &training,
        &Algorithm::LogisticRegression(LogisticRegressionParams::default()),
        &threads(2),
    )
    .unwrap();
    let gbdt_auc = compute(Metric::Auc, holdout.labels(), &gbdt.predict_dataset(&holdout).unwrap()).unwrap();
    let logistic_auc = compute(
        Metric::Auc,
        holdout.labels(),
        &logistic.predict_dataset(&holdout).unwrap(),
    )
    .unwrap();
    assert!(gbdt_auc > 0.9, "gbdt holdout AUC {gbdt_auc}");
    assert!(
        gbdt_auc > logistic_auc + 0.05,
        "gbdt {gbdt_auc} vs logistic {logistic_auc}"
    );
}

#[test]
fn gbdt_regression_fits_well() {
    let data = nonlinear_regression(12_000, 6);
    let training = data.slice_rows(0, 10_000).unwrap();
    let holdout = data.slice_rows(10_000, 12_000).unwrap();
    let params = GbdtParams {
        trees: 150,
        depth: 5,
        learning_rate: 0.1,
        l2: 1.0,
        ..GbdtParams::default()
    };
    let model = train_gbdt(&training, &params, &threads(2)).unwrap();
    let predictions = model.predict_dataset(&holdout).unwrap();
    let rmse = compute(Metric::Rmse, holdout.labels(), &predictions).unwrap();
    let mean = holdout.labels().iter().sum::<f64>() / holdout.rows() as f64;
    let spread = compute(Metric::Rmse, holdout.labels(), &vec![mean; holdout.rows()]).unwrap();
    assert!(rmse < 0.25 * spread, "rmse {rmse} vs label spread {spread}");
}

#[test]
fn missing_values_follow_the_learned_side() {
    // The label is 1 exactly where x is missing or large: a tree must route NaN with the large side.
    let rows = 600;
    let x: Vec<f64> = (0..rows)
        .map(|i| if i % 3 == 0 { f64::NAN } else { f64::from(i % 50) })
        .collect();
    let labels: Vec<f64> = x
        .iter()
        .map(|&v| if v.is_nan() || v >= 25.0 { 1.0 } else { 0.0 })
        .collect();
    let data = Dataset::new(Task::Classification, names(1), vec![x], labels).unwrap();
    let params = GbdtParams {
        trees: 30,
        depth: 1,
        learning_rate: 0.3,
        min_rows_per_leaf: 5,
        ..GbdtParams::default()
    };
    let model = train_gbdt(&data, &params, &threads(1)).unwrap();
    assert!(model.predict(&[f64::NAN]) > 0.9);
    assert!(model.predict(&[40.0]) > 0.9);
    assert!(model.predict(&[3.0]) < 0.1);
}

#[test]
fn invalid_hyperparameters_are_refused_by_name() {
    let data = nonlinear_regression(100, 7);
    let base = quick_gbdt();
    let cases = [
        ("trees", GbdtParams { trees: 0, ..base }),
        ("depth", GbdtParams { depth: 33, ..base }),
        (
            "learning_rate",
            GbdtParams {
                learning_rate: 0.0,
                ..base
            },
        ),
        (
            "learning_rate",
            GbdtParams {
                learning_rate: 1.5,
                ..base
            },
        ),
        (
            "min_rows_per_leaf",
            GbdtParams {
                min_rows_per_leaf: 0,
                ..base
            },
        ),
        ("l2", GbdtParams { l2: -1.0, ..base }),
        ("l2", GbdtParams { l2: f64::NAN, ..base }),
        ("subsample", GbdtParams { subsample: 0.0, ..base }),
        (
            "early_stopping_rounds",
            GbdtParams {
                early_stopping_rounds: 100_001,
                ..base
            },
        ),
    ];
    for (expected, params) in cases {
        match train_gbdt(&data, &params, &threads(1)) {
            Err(TrainError::InvalidParameter { name, .. }) => assert_eq!(name, expected),
            other => panic!("{expected}: {other:?}"),
        }
    }
}

#[test]
fn degenerate_training_sets_are_refused() {
    let one_class = Dataset::new(Task::Classification, names(1), vec![vec![1.0, 2.0]], vec![1.0, 1.0]).unwrap();
    assert!(matches!(
        train_gbdt(&one_class, &quick_gbdt(), &threads(1)),
        Err(TrainError::SingleClass { .. })
    ));
    let tiny = Dataset::new(Task::Regression, names(1), vec![vec![1.0; 9]], vec![1.0; 9]).unwrap();
    let early = GbdtParams {
        early_stopping_rounds: 3,
        ..quick_gbdt()
    };
    assert!(matches!(
        train_gbdt(&tiny, &early, &threads(1)),
        Err(TrainError::TooFewRowsForEarlyStopping { rows: 9 })
    ));
    let regression = nonlinear_regression(50, 8);
    let logistic = Algorithm::LogisticRegression(LogisticRegressionParams::default());
    assert!(matches!(
        train(&regression, &logistic, &threads(1)),
        Err(TrainError::WrongTask { .. })
    ));
}

#[test]
fn a_constant_feature_gives_single_leaf_trees() {
    let data = Dataset::new(
        Task::Regression,
        names(1),
        vec![vec![3.0; 100]],
        (0..100).map(f64::from).collect(),
    )
    .unwrap();
    let model = train_gbdt(&data, &quick_gbdt(), &threads(2)).unwrap();
    let Model::TreeEnsemble(ensemble) = &model else {
        panic!()
    };
    assert!(ensemble.trees.iter().all(|tree| tree.nodes.len() == 1));
    assert_eq!(model.predict(&[3.0]), ensemble.base_score);
}

/// The adjacent float32 below `value` (a positive or negative finite float32).
fn float32_below(value: f32) -> f32 {
    if value == 0.0 {
        return -f32::from_bits(1);
    }
    let bits = value.to_bits();
    f32::from_bits(if value > 0.0 { bits - 1 } else { bits + 1 })
}

proptest! {
    #[test]
    fn split_thresholds_are_float32_values_between_neighbours(
        magnitude in 1e-40f64..1e40, ulps in 1u64..(1 << 36), mirrored in any::<bool>(),
    ) {
        // Neighbours from a handful of float64 ulps apart (often no float32 between them) to far apart.
        let far = f64::from_bits(magnitude.to_bits() + ulps);
        let (a, b) = if mirrored { (-far, -magnitude) } else { (magnitude, far) };
        prop_assume!(b.is_finite());
        match float32_threshold_between(a, b) {
            Some(threshold) => {
                let wide = f64::from(threshold);
                prop_assert!(threshold.is_finite() && a <= wide && wide < b, "{a} <= {wide} < {b}");
            }
            None => {
                // Then not even the largest float32 below b reaches a.
                let rounded = b as f32;
                let largest_below = if f64::from(rounded) < b { rounded } else { float32_below(rounded) };
                prop_assert!(!largest_below.is_finite() || f64::from(largest_below) < a, "{a} {b}");
            }
        }
    }
}
