//! ONNX export checked in ONNX Runtime 1.31: every prediction matches the native scorer to 1e-6,
//! including inputs exactly at and just above every split threshold, and missing inputs.

use mlsys_train::{
    Algorithm, Dataset, GbdtParams, LinearRegressionParams, LogisticRegressionParams, Model, OnnxRuntimeError,
    OnnxScorer, Task, TrainOptions, TreeNode, to_onnx, train,
};

use crate::common::{names, nonlinear_classification, nonlinear_regression, quick_gbdt};

/// Scores the rows (row-major) with ONNX Runtime through the scorer build uses for external models.
fn run_onnx(model_bytes: &[u8], rows: &[Vec<f64>], task: Task) -> Vec<f64> {
    let features = rows[0].len();
    let columns: Vec<Vec<f64>> = (0..features)
        .map(|feature| rows.iter().map(|row| row[feature]).collect())
        .collect();
    let mut scorer = OnnxScorer::load(model_bytes, features, task).unwrap_or_else(|error| panic!("{error}"));
    scorer.predict(&columns).unwrap_or_else(|error| panic!("{error}"))
}

/// The next float64 above a finite value.
fn next_above(value: f64) -> f64 {
    if value == 0.0 {
        return f64::from_bits(1);
    }
    let bits = value.to_bits();
    f64::from_bits(if value > 0.0 { bits + 1 } else { bits - 1 })
}

/// The data set's rows, plus for every split of a tree model rows whose split feature sits exactly
/// at the threshold and just above it (the cases a float32 or `<` vs `<=` mismatch would misroute).
fn probe_rows(model: &Model, data: &Dataset) -> Vec<Vec<f64>> {
    let mut rows: Vec<Vec<f64>> = (0..data.rows()).map(|row| data.row(row)).collect();
    if let Model::TreeEnsemble(ensemble) = model {
        let splits = ensemble
            .trees
            .iter()
            .flat_map(|tree| &tree.nodes)
            .filter_map(|node| match *node {
                TreeNode::Split { feature, threshold, .. } => Some((feature as usize, threshold)),
                TreeNode::Leaf { .. } => None,
            });
        for (index, (feature, threshold)) in splits.enumerate() {
            let mut at = data.row(index % data.rows());
            at[feature] = threshold;
            let mut above = at.clone();
            above[feature] = next_above(threshold);
            rows.push(at);
            rows.push(above);
        }
    }
    rows.push(vec![f64::NAN; data.features()]);
    rows
}

fn assert_onnx_matches_native(model: &Model, data: &Dataset) {
    let bytes = to_onnx(model, data.feature_names()).unwrap();
    let rows = probe_rows(model, data);
    let native: Vec<f64> = rows.iter().map(|row| model.predict(row)).collect();
    let onnx = run_onnx(&bytes, &rows, model.task());
    for (index, (native, onnx)) in native.iter().zip(&onnx).enumerate() {
        assert!(
            (native - onnx).abs() <= 1e-6,
            "row {index} {:?}: native {native} vs ONNX {onnx}",
            rows[index]
        );
    }
}

fn options() -> TrainOptions {
    TrainOptions { threads: 2 }
}

#[test]
fn gbdt_classification_matches_onnx_runtime() {
    let data = nonlinear_classification(3000, 41);
    let params = GbdtParams {
        trees: 60,
        depth: 5,
        subsample: 0.8,
        seed: 3,
        ..quick_gbdt()
    };
    let model = train(&data, &Algorithm::Gbdt(params), &options()).unwrap();
    assert_onnx_matches_native(&model, &data);
}

#[test]
fn gbdt_regression_matches_onnx_runtime() {
    let data = nonlinear_regression(3000, 42);
    let params = GbdtParams {
        trees: 60,
        depth: 6,
        l2: 0.5,
        ..quick_gbdt()
    };
    let model = train(&data, &Algorithm::Gbdt(params), &options()).unwrap();
    assert_onnx_matches_native(&model, &data);
}

#[test]
fn single_leaf_trees_export() {
    let data = Dataset::new(
        Task::Regression,
        names(2),
        vec![vec![1.0; 50], vec![2.0; 50]],
        (0..50).map(f64::from).collect(),
    )
    .unwrap();
    let model = train(&data, &Algorithm::Gbdt(quick_gbdt()), &options()).unwrap();
    assert_onnx_matches_native(&model, &data);
}

#[test]
fn logistic_regression_matches_onnx_runtime() {
    let data = nonlinear_classification(2000, 43);
    let model = train(
        &data,
        &Algorithm::LogisticRegression(LogisticRegressionParams::default()),
        &options(),
    )
    .unwrap();
    assert_onnx_matches_native(&model, &data);
}

#[test]
fn linear_regression_matches_onnx_runtime() {
    let data = nonlinear_regression(2000, 44);
    let model = train(
        &data,
        &Algorithm::LinearRegression(LinearRegressionParams { l2: 0.1 }),
        &options(),
    )
    .unwrap();
    assert_onnx_matches_native(&model, &data);
}

#[test]
fn feature_names_must_match_the_model() {
    let data = nonlinear_regression(200, 45);
    let model = train(
        &data,
        &Algorithm::LinearRegression(LinearRegressionParams::default()),
        &options(),
    )
    .unwrap();
    assert!(to_onnx(&model, &names(3)).is_err());
}

#[test]
fn models_that_do_not_fit_the_scoring_contract_are_refused() {
    let data = nonlinear_regression(200, 46);
    let model = train(
        &data,
        &Algorithm::LinearRegression(LinearRegressionParams::default()),
        &options(),
    )
    .unwrap();
    let bytes = to_onnx(&model, data.feature_names()).unwrap();
    let error = OnnxScorer::load(&bytes, data.features() + 1, Task::Regression)
        .err()
        .expect("wrong width refused");
    assert!(matches!(error, OnnxRuntimeError::Contract(_)), "{error}");
    assert!(
        error.to_string().contains(&format!("[N, {}]", data.features() + 1)),
        "{error}"
    );
    let error = OnnxScorer::load(b"not a model", 3, Task::Regression)
        .err()
        .expect("garbage refused");
    assert!(matches!(error, OnnxRuntimeError::Invalid(_)), "{error}");
}
