//! Algorithms and their hyperparameters, with the defaults and ranges of `lang-spec/grammar.md` §7.5.

use serde::{Deserialize, Serialize};

use crate::dataset::Task;
use crate::error::TrainError;

/// `logistic_regression(l2, max_iter, learning_rate)`: classification.
///
/// Trained by damped Newton steps (iteratively reweighted least squares) on standardised inputs:
/// each iteration moves `learning_rate` of the way to the Newton point, so `learning_rate = 1` is plain
/// Newton and smaller values trade speed for robustness. The loss is the mean log loss plus
/// `l2 / 2 · ‖w‖²` on the standardised weights (the intercept is not penalised).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LogisticRegressionParams {
    pub l2: f64,
    pub max_iter: u32,
    pub learning_rate: f64,
}

impl Default for LogisticRegressionParams {
    fn default() -> Self {
        LogisticRegressionParams {
            l2: 0.0,
            max_iter: 100,
            learning_rate: 0.1,
        }
    }
}

/// `linear_regression(l2)`: regression. Ridge on standardised inputs, solved exactly: the loss is
/// half the mean squared error plus `l2 / 2 · ‖w‖²` (intercept not penalised).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct LinearRegressionParams {
    pub l2: f64,
}

/// `gbdt(...)`: gradient-boosted trees for both tasks.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GbdtParams {
    pub trees: u32,
    pub depth: u32,
    pub learning_rate: f64,
    pub min_rows_per_leaf: u32,
    pub l2: f64,
    pub subsample: f64,
    /// 0 = off; otherwise the last 10% of the rows validate and training stops after this many
    /// trees without improvement, keeping the best iteration.
    pub early_stopping_rounds: u32,
    pub seed: i64,
}

impl Default for GbdtParams {
    fn default() -> Self {
        GbdtParams {
            trees: 100,
            depth: 6,
            learning_rate: 0.1,
            min_rows_per_leaf: 20,
            l2: 0.0,
            subsample: 1.0,
            early_stopping_rounds: 0,
            seed: 0,
        }
    }
}

/// A built-in algorithm with its hyperparameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Algorithm {
    LogisticRegression(LogisticRegressionParams),
    LinearRegression(LinearRegressionParams),
    Gbdt(GbdtParams),
}

impl Algorithm {
    pub fn name(&self) -> &'static str {
        match self {
            Algorithm::LogisticRegression(_) => "logistic_regression",
            Algorithm::LinearRegression(_) => "linear_regression",
            Algorithm::Gbdt(_) => "gbdt",
        }
    }

    /// Whether the algorithm trains models of this task.
    pub fn supports(&self, task: Task) -> bool {
        match self {
            Algorithm::LogisticRegression(_) => task == Task::Classification,
            Algorithm::LinearRegression(_) => task == Task::Regression,
            Algorithm::Gbdt(_) => true,
        }
    }
}

/// How training runs, as opposed to what it computes: results never depend on these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrainOptions {
    /// Worker threads for the GBDT histogram and split search (at least 1).
    pub threads: usize,
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions {
            threads: std::thread::available_parallelism().map_or(1, usize::from),
        }
    }
}

pub(crate) fn check_l2(l2: f64) -> Result<(), TrainError> {
    if !(l2.is_finite() && l2 >= 0.0) {
        return Err(invalid("l2", format!("must be a finite float >= 0, got {l2}")));
    }
    Ok(())
}

pub(crate) fn check_unit_interval(name: &'static str, value: f64) -> Result<(), TrainError> {
    if !(value > 0.0 && value <= 1.0) {
        return Err(invalid(name, format!("must be in (0, 1], got {value}")));
    }
    Ok(())
}

pub(crate) fn check_int_range(name: &'static str, value: u32, low: u32, high: u32) -> Result<(), TrainError> {
    if value < low || value > high {
        return Err(invalid(name, format!("must be in {low}..={high}, got {value}")));
    }
    Ok(())
}

fn invalid(name: &'static str, message: String) -> TrainError {
    TrainError::InvalidParameter { name, message }
}

impl LogisticRegressionParams {
    pub fn validate(&self) -> Result<(), TrainError> {
        check_l2(self.l2)?;
        check_int_range("max_iter", self.max_iter, 1, 1_000_000)?;
        check_unit_interval("learning_rate", self.learning_rate)
    }
}

impl LinearRegressionParams {
    pub fn validate(&self) -> Result<(), TrainError> {
        check_l2(self.l2)
    }
}

impl GbdtParams {
    pub fn validate(&self) -> Result<(), TrainError> {
        check_int_range("trees", self.trees, 1, 100_000)?;
        check_int_range("depth", self.depth, 1, 32)?;
        check_unit_interval("learning_rate", self.learning_rate)?;
        check_int_range("min_rows_per_leaf", self.min_rows_per_leaf, 1, u32::MAX)?;
        check_l2(self.l2)?;
        check_unit_interval("subsample", self.subsample)?;
        check_int_range("early_stopping_rounds", self.early_stopping_rounds, 0, 100_000)
    }
}
