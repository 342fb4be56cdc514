//! The error types of the crate: data set validation, training, metrics, model decoding, checkpoints.

use std::path::PathBuf;

use crate::dataset::Task;

/// A training set that cannot be trained on or evaluated.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DatasetError {
    #[error("the data set has no rows")]
    NoRows,
    #[error("the data set has no feature columns")]
    NoFeatures,
    #[error("{names} feature names for {columns} feature columns")]
    NameCountMismatch { names: usize, columns: usize },
    #[error("feature name `{0}` appears more than once")]
    DuplicateFeatureName(String),
    #[error("feature `{feature}` has {found} values but there are {expected} labels")]
    ColumnLength {
        feature: String,
        expected: usize,
        found: usize,
    },
    #[error(
        "feature `{feature}` is {value} at row {row}: infinities are not accepted as inputs; map them to null (NaN) or clip them"
    )]
    InfiniteFeature { feature: String, row: usize, value: f64 },
    #[error("the label at row {row} is {value}: labels must be finite numbers")]
    LabelNotFinite { row: usize, value: f64 },
    #[error("the label at row {row} is {value}: classification labels must be 0 (false) or 1 (true)")]
    LabelNotBinary { row: usize, value: f64 },
    #[error("the data set has {0} rows; at most 4294967295 are supported")]
    TooManyRows(usize),
}

/// Why a trainer refused to train or stopped.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error("hyperparameter `{name}` {message}")]
    InvalidParameter { name: &'static str, message: String },
    #[error("`{algorithm}` does not train {task} models")]
    WrongTask { algorithm: &'static str, task: Task },
    #[error("every training label is {label}: classification needs examples of both classes")]
    SingleClass { label: f64 },
    #[error(
        "early stopping holds out the last 10% of the rows for validation, which needs at least 10 rows; the data set has {rows}"
    )]
    TooFewRowsForEarlyStopping { rows: usize },
    #[error("`{algorithm}` produced a non-finite weight: the optimisation diverged (try a larger `l2`)")]
    Diverged { algorithm: &'static str },
    #[error("checkpoint file {path}: {source}")]
    CheckpointIo { path: PathBuf, source: std::io::Error },
    #[error("checkpoint file {path} is corrupt ({message}); delete it to start over")]
    CorruptCheckpoint { path: PathBuf, message: String },
    #[error("`every_n_trees` must be at least 1")]
    CheckpointInterval,
}

/// A metric that cannot be computed on the given labels and predictions.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MetricError {
    #[error("no examples to evaluate")]
    Empty,
    #[error("{labels} labels but {predictions} predictions")]
    LengthMismatch { labels: usize, predictions: usize },
    #[error("the label at position {index} is {value}: {requirement}")]
    BadLabel {
        index: usize,
        value: f64,
        requirement: &'static str,
    },
    #[error("the prediction at position {index} is {value}: predictions must be finite")]
    BadPrediction { index: usize, value: f64 },
    #[error("`{metric}` is undefined here: {reason}")]
    Undefined { metric: &'static str, reason: &'static str },
}

/// Model bytes that do not decode to a valid model.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ModelError {
    #[error("model bytes are not valid model JSON")]
    Syntax(#[source] std::sync::Arc<serde_json::Error>),
    #[error(
        "model format `{format}` version {version} is not supported (expected `{expected}` version {expected_version})"
    )]
    UnsupportedFormat {
        format: String,
        version: u32,
        expected: &'static str,
        expected_version: u32,
    },
    #[error("invalid model")]
    Invalid(#[source] InvalidModel),
    #[error("the model cannot be encoded as JSON")]
    Encode(#[source] std::sync::Arc<serde_json::Error>),
}

/// What makes a decoded model invalid: an invariant every scorer and exporter relies on.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum InvalidModel {
    #[error("{weights} weights for {features} features")]
    WeightCount { weights: usize, features: usize },
    #[error("a linear model weight is not finite")]
    WeightNotFinite,
    #[error("the base score is not finite")]
    BaseScoreNotFinite,
    #[error("tree {tree}: {problem}")]
    Tree { tree: usize, problem: TreeError },
}

/// What is wrong with one tree of an ensemble (the node's index in the message).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TreeError {
    #[error("no nodes")]
    NoNodes,
    #[error("too many nodes")]
    TooManyNodes,
    #[error("node {node}: leaf value is not finite")]
    LeafNotFinite { node: usize },
    #[error("node {node}: feature {feature} of {features}")]
    Feature { node: usize, feature: u32, features: usize },
    #[error("node {node}: threshold {threshold} is not a finite float32 value")]
    Threshold { node: usize, threshold: f64 },
    #[error("node {node}: child {child} out of order or range")]
    Child { node: usize, child: usize },
    #[error("node {node} is not the child of exactly one node")]
    Parents { node: usize },
}

/// Batch prediction over a data set whose columns do not match the model's inputs.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PredictError {
    #[error("the model reads {expected} features but the data set has {found}")]
    FeatureCount { expected: usize, found: usize },
    #[error("input {index} is `{found}` in the data set but `{expected}` in the model")]
    FeatureName {
        index: usize,
        expected: String,
        found: String,
    },
}

/// A model that cannot be written as ONNX.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum OnnxError {
    #[error("{names} feature names for a model with {features} inputs")]
    FeatureNameCount { names: usize, features: usize },
    #[error("invalid model: {0}")]
    InvalidModel(String),
}

/// Loading or running an ONNX model in ONNX Runtime.
#[derive(Clone, Debug, thiserror::Error)]
pub enum OnnxRuntimeError {
    #[error(
        "ONNX Runtime not found: {0}; install it with `pip install onnxruntime==1.31.1` or set \
         ORT_DYLIB_PATH to libonnxruntime.so"
    )]
    NotFound(String),
    #[error("loading ONNX Runtime from {path}: {message}")]
    Load { path: PathBuf, message: String },
    #[error("ONNX Runtime cannot load the model: {0}")]
    Invalid(String),
    #[error("the model does not fit: {0}")]
    Contract(String),
    #[error("ONNX Runtime failed scoring: {0}")]
    Run(String),
}
