//! Built-in trainers (`logistic_regression`, `linear_regression`, histogram `gbdt`), the evaluation
//! metrics, native scorers, canonical model bytes and ONNX export (`lang-spec/grammar.md` §7.5).
//!
//! Pure Rust over an in-memory matrix: the training-set builder hands over a [`Dataset`], the
//! registry stores [`Model::to_bytes`], serving scores with [`Model::predict`] or ONNX Runtime.
//!
//! ```
//! use mlsys_train::{Algorithm, Dataset, GbdtParams, Metric, Model, Task, TrainOptions, compute, train};
//!
//! let x: Vec<f64> = (0..200).map(|i| if i % 17 == 0 { f64::NAN } else { f64::from(i % 10) }).collect();
//! let labels: Vec<f64> = x.iter().map(|&v| if v >= 5.0 { 1.0 } else { 0.0 }).collect();
//! let data = Dataset::new(Task::Classification, vec!["x".into()], vec![x], labels)?;
//!
//! let params = GbdtParams { trees: 20, depth: 2, min_rows_per_leaf: 5, ..GbdtParams::default() };
//! let model = train(&data, &Algorithm::Gbdt(params), &TrainOptions::default())?;
//! let predictions = model.predict_dataset(&data)?;
//! assert!(compute(Metric::Auc, data.labels(), &predictions)? > 0.9);
//!
//! let bytes = model.to_bytes()?;
//! assert_eq!(Model::from_bytes(&bytes)?, model);
//! let onnx = mlsys_train::to_onnx(&model, data.feature_names())?;
//! assert!(!onnx.is_empty());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Code map:
//! - `dataset.rs` — [`Dataset`] and [`Task`]: the validated column-major matrix (NaN = missing,
//!   ±inf refused, labels 0/1 for classification).
//! - `params.rs` — [`Algorithm`] and the hyperparameter structs with the spec's defaults and ranges;
//!   [`TrainOptions`] (threads: never changes results).
//! - `metrics.rs` — [`Metric`]: auc (ties one half), logloss, accuracy, f1, rmse, mae, mape.
//! - `linalg.rs`, `linear.rs` — standardisation, a collinearity-tolerant Cholesky solve, the ridge
//!   and damped-Newton logistic trainers.
//! - `gbdt/` — `binning.rs` (≤ 255 quantile bins at float32 thresholds + a missing bin),
//!   `histogram.rs` (gradient histograms, split gain), `grow.rs` (depth-wise growth, partitioning,
//!   histogram subtraction within a memory budget), `parallel.rs` (the feature-parallel histogram and
//!   split search), `mod.rs` (boosting loop, subsampling, early stopping),
//!   `checkpoint.rs` (atomic checkpoints and bit-exact resumption).
//! - `model/` — [`Model`] and its native scorer; `codec.rs`: canonical versioned JSON bytes and the
//!   structural validation of decoded models.
//! - `onnx/` — [`to_onnx`]: hand-derived `onnx.proto` messages and the graph of every model kind;
//!   `runtime.rs`: [`OnnxScorer`], ONNX Runtime (loaded at run time) scoring models trained elsewhere.
//! - `rng.rs` — the seeded xoshiro256** generator whose state checkpoints carry.
//!
//! Architecture invariants:
//! - training is deterministic: the same data set and hyperparameters give the same model bytes for
//!   any thread count, and a resumed checkpointed run gives the bytes of an uninterrupted one;
//! - the native scorer, the training-time scores and the exported ONNX graph route every input the
//!   same way (`x <= threshold` left, NaN to the learned side; thresholds are float32 values).

mod dataset;
mod error;
mod gbdt;
mod linalg;
mod linear;
mod metrics;
mod model;
mod onnx;
mod params;
mod rng;

pub use dataset::{Dataset, Task};
pub use error::{
    DatasetError, InvalidModel, MetricError, ModelError, OnnxError, OnnxRuntimeError, PredictError, TrainError,
    TreeError,
};
pub use gbdt::checkpoint::{CHECKPOINT_FILE, CheckpointedModel, train_with_checkpoint_hook, train_with_checkpoints};
pub use gbdt::train_gbdt;
pub use linear::{train_linear_regression, train_logistic_regression};
pub use metrics::{LOGLOSS_EPSILON, Metric, accuracy, auc, compute, evaluate_all, f1, logloss, mae, mape, rmse};
pub use model::{LinearModel, MODEL_FORMAT_VERSION, Model, Tree, TreeEnsemble, TreeNode, sigmoid};
pub use onnx::runtime::{ONNX_RUNTIME_VERSION, OnnxScorer, onnx_runtime_library};
pub use onnx::{ONNX_INPUT, ONNX_IR_VERSION, onnx_output_name, to_onnx};
pub use params::{Algorithm, GbdtParams, LinearRegressionParams, LogisticRegressionParams, TrainOptions};

/// Trains the algorithm on the data set (the algorithm must support the data set's task).
pub fn train(dataset: &Dataset, algorithm: &Algorithm, options: &TrainOptions) -> Result<Model, TrainError> {
    if !algorithm.supports(dataset.task()) {
        return Err(TrainError::WrongTask {
            algorithm: algorithm.name(),
            task: dataset.task(),
        });
    }
    match algorithm {
        Algorithm::LogisticRegression(params) => train_logistic_regression(dataset, params),
        Algorithm::LinearRegression(params) => train_linear_regression(dataset, params),
        Algorithm::Gbdt(params) => train_gbdt(dataset, params, options),
    }
}

/// The float32 value `t` with `below <= t < above` nearest their midpoint, if any: how split
/// thresholds are chosen (exposed for tests of exported-model routing).
pub fn float32_threshold_between(below: f64, above: f64) -> Option<f32> {
    gbdt::float32_between(below, above)
}
