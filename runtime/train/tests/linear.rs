//! The linear trainers: known coefficients, collinearity, missing = 0, ridge, separable data.

use mlsys_train::{
    Dataset, LinearRegressionParams, LogisticRegressionParams, Model, Task, TrainError, train_linear_regression,
    train_logistic_regression,
};

use crate::common::{TestRng, names};

fn linear_parts(model: &Model) -> (f64, Vec<f64>) {
    match model {
        Model::Linear(linear) | Model::Logistic(linear) => (linear.intercept, linear.weights.clone()),
        Model::TreeEnsemble(_) => panic!("not linear"),
    }
}

/// y = 1.5 + 2·x0 − 3·x1 + 0.5·x2 (+ noise), inputs on different scales and offsets.
fn known_linear(rows: usize, noise: f64) -> Dataset {
    let mut rng = TestRng::new(21);
    let mut columns = vec![Vec::new(); 3];
    let mut labels = Vec::new();
    for _ in 0..rows {
        let x = [
            rng.uniform(100.0, 110.0),
            rng.normal() * 0.01,
            rng.uniform(-1000.0, 1000.0),
        ];
        labels.push(1.5 + 2.0 * x[0] - 3.0 * x[1] + 0.5 * x[2] + noise * rng.normal());
        for (column, value) in columns.iter_mut().zip(x) {
            column.push(value);
        }
    }
    Dataset::new(Task::Regression, names(3), columns, labels).unwrap()
}

#[test]
fn linear_regression_recovers_known_coefficients() {
    let exact = train_linear_regression(&known_linear(500, 0.0), &LinearRegressionParams::default()).unwrap();
    let (intercept, weights) = linear_parts(&exact);
    assert!((intercept - 1.5).abs() < 1e-6, "intercept {intercept}");
    for (weight, expected) in weights.iter().zip([2.0, -3.0, 0.5]) {
        assert!((weight - expected).abs() < 1e-7, "{weight} vs {expected}");
    }
    let noisy = train_linear_regression(&known_linear(5000, 0.01), &LinearRegressionParams::default()).unwrap();
    let (_, weights) = linear_parts(&noisy);
    assert!(
        (weights[0] - 2.0).abs() < 1e-3 && (weights[2] - 0.5).abs() < 1e-5,
        "{weights:?}"
    );
}

#[test]
fn collinear_and_constant_inputs_still_fit() {
    let mut rng = TestRng::new(22);
    let rows = 400;
    let a: Vec<f64> = (0..rows).map(|_| rng.normal()).collect();
    let b: Vec<f64> = (0..rows).map(|_| rng.normal()).collect();
    let sum: Vec<f64> = a.iter().zip(&b).map(|(a, b)| a + b).collect();
    let constant = vec![7.0; rows];
    let labels: Vec<f64> = a.iter().zip(&b).map(|(a, b)| 1.0 + a - 2.0 * b).collect();
    let data = Dataset::new(
        Task::Regression,
        names(4),
        vec![a.clone(), b.clone(), sum, constant],
        labels.clone(),
    )
    .unwrap();
    let model = train_linear_regression(&data, &LinearRegressionParams::default()).unwrap();
    let (_, weights) = linear_parts(&model);
    assert_eq!(weights[3], 0.0, "a constant input gets no weight");
    for (row, label) in labels.iter().enumerate() {
        assert!((model.predict(&data.row(row)) - label).abs() < 1e-8);
    }
}

#[test]
fn missing_inputs_count_as_zero_and_ridge_shrinks() {
    let data = known_linear(300, 0.1);
    let model = train_linear_regression(&data, &LinearRegressionParams::default()).unwrap();
    assert_eq!(model.predict(&[f64::NAN, 1.0, 2.0]), model.predict(&[0.0, 1.0, 2.0]));

    // The penalty is on standardised weights: with unit-variance inputs, l2 = 1 about halves them.
    let mut rng = TestRng::new(24);
    let rows = 20_000;
    let columns: Vec<Vec<f64>> = (0..2).map(|_| (0..rows).map(|_| rng.normal()).collect()).collect();
    let labels: Vec<f64> = (0..rows)
        .map(|row| 2.0 * columns[0][row] - 3.0 * columns[1][row])
        .collect();
    let data = Dataset::new(Task::Regression, names(2), columns, labels).unwrap();
    let ridge = train_linear_regression(&data, &LinearRegressionParams { l2: 1.0 }).unwrap();
    let (_, weights) = linear_parts(&ridge);
    assert!(
        (weights[0] - 1.0).abs() < 0.05 && (weights[1] + 1.5).abs() < 0.05,
        "{weights:?}"
    );
}

#[test]
fn logistic_regression_recovers_known_coefficients() {
    let mut rng = TestRng::new(23);
    let rows = 40_000;
    let mut columns = vec![Vec::new(); 2];
    let mut labels = Vec::new();
    for _ in 0..rows {
        let x = [rng.normal() * 2.0 + 5.0, rng.uniform(-1.0, 1.0)];
        let probability = 1.0 / (1.0 + (-(-0.5 + 0.8 * (x[0] - 5.0) - 1.5 * x[1])).exp());
        labels.push(if rng.unit() < probability { 1.0 } else { 0.0 });
        for (column, value) in columns.iter_mut().zip(x) {
            column.push(value);
        }
    }
    let data = Dataset::new(Task::Classification, names(2), columns, labels).unwrap();
    let model = train_logistic_regression(&data, &LogisticRegressionParams::default()).unwrap();
    let (intercept, weights) = linear_parts(&model);
    // intercept = −0.5 − 0.8·5 = −4.5 on raw inputs.
    assert!((intercept + 4.5).abs() < 0.15, "intercept {intercept}");
    assert!(
        (weights[0] - 0.8).abs() < 0.05 && (weights[1] + 1.5).abs() < 0.08,
        "{weights:?}"
    );
    let probability = model.predict(&[5.0, 0.0]);
    assert!(probability > 0.0 && probability < 1.0);
}

#[test]
fn separable_data_stays_finite() {
    let x: Vec<f64> = (0..100).map(f64::from).collect();
    let labels: Vec<f64> = x.iter().map(|&v| if v >= 50.0 { 1.0 } else { 0.0 }).collect();
    let data = Dataset::new(Task::Classification, names(1), vec![x], labels).unwrap();
    let params = LogisticRegressionParams {
        learning_rate: 1.0,
        max_iter: 200,
        l2: 0.0,
    };
    let model = train_logistic_regression(&data, &params).unwrap();
    assert!(model.predict(&[99.0]) > 0.99 && model.predict(&[0.0]) < 0.01);
}

#[test]
fn linear_hyperparameters_and_tasks_are_checked() {
    let classification = Dataset::new(Task::Classification, names(1), vec![vec![0.0, 1.0]], vec![0.0, 1.0]).unwrap();
    let regression = known_linear(20, 0.0);
    let bad = [
        (
            "max_iter",
            LogisticRegressionParams {
                max_iter: 0,
                ..Default::default()
            },
        ),
        (
            "learning_rate",
            LogisticRegressionParams {
                learning_rate: 0.0,
                ..Default::default()
            },
        ),
        (
            "l2",
            LogisticRegressionParams {
                l2: -0.5,
                ..Default::default()
            },
        ),
    ];
    for (expected, params) in bad {
        match train_logistic_regression(&classification, &params) {
            Err(TrainError::InvalidParameter { name, .. }) => assert_eq!(name, expected),
            other => panic!("{expected}: {other:?}"),
        }
    }
    assert!(matches!(
        train_linear_regression(&regression, &LinearRegressionParams { l2: f64::INFINITY }),
        Err(TrainError::InvalidParameter { name: "l2", .. })
    ));
    assert!(matches!(
        train_linear_regression(&classification, &LinearRegressionParams::default()),
        Err(TrainError::WrongTask { .. })
    ));
    let one_class = Dataset::new(Task::Classification, names(1), vec![vec![0.0, 1.0]], vec![0.0, 0.0]).unwrap();
    assert!(matches!(
        train_logistic_regression(&one_class, &LogisticRegressionParams::default()),
        Err(TrainError::SingleClass { .. })
    ));
}
