//! Trained models and their native scorers: linear, logistic and tree-ensemble models.
//!
//! Scoring semantics (the ONNX export reproduces them):
//! - inputs are float64, NaN = missing;
//! - linear models read a missing input as 0.0; the score is `intercept + Σ weight·x` summed in
//!   feature order, then the logistic sigmoid for classification;
//! - a tree split sends `x <= threshold` left, `x > threshold` right and NaN to its learned default
//!   side; thresholds are float32 values held in float64; the score is `base_score + Σ leaf` summed in
//!   tree order, then the sigmoid for classification.

mod codec;

use serde::{Deserialize, Serialize};

use crate::dataset::{Dataset, Task};
use crate::error::PredictError;

pub use codec::MODEL_FORMAT_VERSION;

/// A trained model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Model {
    /// `linear_regression`: the predicted value.
    Linear(LinearModel),
    /// `logistic_regression`: the probability of `true`.
    Logistic(LinearModel),
    /// `gbdt`: either task.
    TreeEnsemble(TreeEnsemble),
}

/// `intercept + Σ weights[i] · x[i]` over raw (unstandardised) inputs, missing inputs read as 0.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinearModel {
    pub feature_names: Vec<String>,
    pub intercept: f64,
    pub weights: Vec<f64>,
}

/// A sum of regression trees on the log-odds (classification) or value (regression) scale.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TreeEnsemble {
    pub task: Task,
    pub feature_names: Vec<String>,
    /// Log-odds of the mean label (classification) or the mean label (regression).
    pub base_score: f64,
    pub trees: Vec<Tree>,
}

/// Nodes in breadth-first order: node 0 is the root and children always come after their parent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tree {
    pub nodes: Vec<TreeNode>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TreeNode {
    Split {
        feature: u32,
        /// A float32 value (held exactly in a float64): `x <= threshold` goes to `left`.
        threshold: f64,
        /// Where a missing (NaN) input goes.
        missing_goes_left: bool,
        left: u32,
        right: u32,
    },
    Leaf {
        /// Already scaled by the learning rate; a float32 value held exactly in a float64.
        value: f64,
    },
}

impl Tree {
    /// The leaf value reached by a row whose feature `f` is `value_of(f)`. A malformed tree (a child
    /// out of range or not after its parent, which decoding refuses) yields NaN instead of looping.
    pub fn leaf_value(&self, value_of: impl Fn(usize) -> f64) -> f64 {
        let mut index = 0usize;
        loop {
            match self.nodes.get(index) {
                Some(TreeNode::Leaf { value }) => return *value,
                Some(TreeNode::Split {
                    feature,
                    threshold,
                    missing_goes_left,
                    left,
                    right,
                }) => {
                    let x = value_of(*feature as usize);
                    let go_left = if x.is_nan() {
                        *missing_goes_left
                    } else {
                        x <= *threshold
                    };
                    let next = if go_left { *left } else { *right } as usize;
                    if next <= index {
                        return f64::NAN;
                    }
                    index = next;
                }
                None => return f64::NAN,
            }
        }
    }
}

/// The logistic function, computed without overflow for large |z|.
pub fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let exp = z.exp();
        exp / (1.0 + exp)
    }
}

impl LinearModel {
    fn score(&self, value_of: impl Fn(usize) -> f64) -> f64 {
        let mut score = self.intercept;
        for (index, weight) in self.weights.iter().enumerate() {
            let x = value_of(index);
            if !x.is_nan() {
                score += weight * x;
            }
        }
        score
    }
}

impl TreeEnsemble {
    /// The raw score (log-odds or value) before the link function.
    pub fn raw_score(&self, value_of: impl Fn(usize) -> f64) -> f64 {
        let mut score = self.base_score;
        for tree in &self.trees {
            score += tree.leaf_value(&value_of);
        }
        score
    }
}

impl Model {
    pub fn task(&self) -> Task {
        match self {
            Model::Linear(_) => Task::Regression,
            Model::Logistic(_) => Task::Classification,
            Model::TreeEnsemble(ensemble) => ensemble.task,
        }
    }

    /// The input names, in the order `predict` reads them.
    pub fn feature_names(&self) -> &[String] {
        match self {
            Model::Linear(linear) | Model::Logistic(linear) => &linear.feature_names,
            Model::TreeEnsemble(ensemble) => &ensemble.feature_names,
        }
    }

    /// Scores one row: the probability of `true` (classification) or the value (regression).
    /// `row[i]` is the input named `feature_names()[i]`; inputs past the end of `row` are missing.
    pub fn predict(&self, row: &[f64]) -> f64 {
        self.predict_with(|index| row.get(index).copied().unwrap_or(f64::NAN))
    }

    fn predict_with(&self, value_of: impl Fn(usize) -> f64) -> f64 {
        match self {
            Model::Linear(linear) => linear.score(value_of),
            Model::Logistic(linear) => sigmoid(linear.score(value_of)),
            Model::TreeEnsemble(ensemble) => {
                let score = ensemble.raw_score(value_of);
                match ensemble.task {
                    Task::Classification => sigmoid(score),
                    Task::Regression => score,
                }
            }
        }
    }

    /// Scores every row of a data set whose feature names are the model's, in the same order.
    pub fn predict_dataset(&self, dataset: &Dataset) -> Result<Vec<f64>, PredictError> {
        let expected = self.feature_names();
        if expected.len() != dataset.features() {
            return Err(PredictError::FeatureCount {
                expected: expected.len(),
                found: dataset.features(),
            });
        }
        for (index, (expected, found)) in expected.iter().zip(dataset.feature_names()).enumerate() {
            if expected != found {
                return Err(PredictError::FeatureName {
                    index,
                    expected: expected.clone(),
                    found: found.clone(),
                });
            }
        }
        let columns = dataset.columns();
        Ok((0..dataset.rows())
            .map(|row| self.predict_with(|feature| columns[feature][row]))
            .collect())
    }
}
