//! The two linear trainers: ridge `linear_regression` (exact solve) and `logistic_regression`
//! (damped Newton). Both standardise inputs internally (missing = 0.0) and fold the scaling back, so
//! the model reads raw inputs. Single-threaded and sequential: results are bit-reproducible.

use crate::dataset::{Dataset, Task};
use crate::error::TrainError;
use crate::linalg::{ROW_BLOCK, Standardizer, solve_semidefinite};
use crate::metrics::CompensatedSum;
use crate::model::{LinearModel, Model, sigmoid};
use crate::params::{LinearRegressionParams, LogisticRegressionParams};

/// Newton iterations stop early once no coefficient moves more than this (relative to its size).
const CONVERGED_STEP: f64 = 1e-12;
/// Step halvings tried when a damped Newton step does not lower the loss.
const MAX_STEP_HALVINGS: u32 = 30;

pub fn train_linear_regression(dataset: &Dataset, params: &LinearRegressionParams) -> Result<Model, TrainError> {
    params.validate()?;
    if dataset.task() != Task::Regression {
        return Err(TrainError::WrongTask {
            algorithm: "linear_regression",
            task: dataset.task(),
        });
    }
    let features = dataset.features();
    let rows = dataset.rows();
    let standardizer = Standardizer::fit(dataset);
    let label_mean = dataset.labels().iter().sum::<f64>() / rows as f64;

    // Normal equations on centred, standardised inputs: (XᵀX/n + l2·I)·w = Xᵀ(y − ȳ)/n.
    let mut gram = vec![0.0; features * features];
    let mut moment = vec![0.0; features];
    let mut block = Vec::new();
    for begin in (0..rows).step_by(ROW_BLOCK) {
        let end = (begin + ROW_BLOCK).min(rows);
        standardizer.block(dataset, begin, end, &mut block);
        for (offset, x) in block.chunks_exact(features).enumerate() {
            let residual = dataset.labels()[begin + offset] - label_mean;
            for j in 0..features {
                moment[j] += x[j] * residual;
                for k in j..features {
                    gram[j * features + k] += x[j] * x[k];
                }
            }
        }
    }
    for j in 0..features {
        moment[j] /= rows as f64;
        for k in j..features {
            let value = gram[j * features + k] / rows as f64;
            gram[j * features + k] = value;
            gram[k * features + j] = value;
        }
        gram[j * features + j] += params.l2;
    }
    let standardized_weights = solve_semidefinite(&gram, &moment, features);
    let (intercept, weights) = standardizer.unstandardize(label_mean, &standardized_weights);
    finish("linear_regression", dataset, intercept, weights).map(Model::Linear)
}

pub fn train_logistic_regression(dataset: &Dataset, params: &LogisticRegressionParams) -> Result<Model, TrainError> {
    params.validate()?;
    if dataset.task() != Task::Classification {
        return Err(TrainError::WrongTask {
            algorithm: "logistic_regression",
            task: dataset.task(),
        });
    }
    let positives = dataset.labels().iter().filter(|&&label| label == 1.0).count();
    if positives == 0 || positives == dataset.rows() {
        return Err(TrainError::SingleClass {
            label: dataset.labels()[0],
        });
    }
    let standardizer = Standardizer::fit(dataset);
    let mean = positives as f64 / dataset.rows() as f64;
    // Coefficients: [intercept, weights on standardised inputs...]; start at the constant model.
    let mut coefficients = vec![0.0; dataset.features() + 1];
    coefficients[0] = (mean / (1.0 - mean)).ln();
    let mut state = newton_pass(dataset, &standardizer, &coefficients, params.l2);
    for _ in 0..params.max_iter {
        let direction = solve_semidefinite(&state.hessian, &state.gradient, coefficients.len());
        let mut step = params.learning_rate;
        let mut halvings = 0;
        let (candidate, candidate_state) = loop {
            let candidate: Vec<f64> = coefficients
                .iter()
                .zip(&direction)
                .map(|(value, delta)| value - step * delta)
                .collect();
            let candidate_state = newton_pass(dataset, &standardizer, &candidate, params.l2);
            if candidate_state.loss <= state.loss || halvings == MAX_STEP_HALVINGS {
                break (candidate, candidate_state);
            }
            step /= 2.0;
            halvings += 1;
        };
        let largest_move = coefficients
            .iter()
            .zip(&candidate)
            .map(|(old, new)| (old - new).abs() / (1.0 + old.abs()))
            .fold(0.0, f64::max);
        if candidate.iter().any(|value| !value.is_finite()) {
            return Err(TrainError::Diverged {
                algorithm: "logistic_regression",
            });
        }
        coefficients = candidate;
        state = candidate_state;
        if largest_move < CONVERGED_STEP {
            break;
        }
    }
    let (intercept, weights) = standardizer.unstandardize(coefficients[0], &coefficients[1..]);
    finish("logistic_regression", dataset, intercept, weights).map(Model::Logistic)
}

fn finish(
    algorithm: &'static str,
    dataset: &Dataset,
    intercept: f64,
    weights: Vec<f64>,
) -> Result<LinearModel, TrainError> {
    if !intercept.is_finite() || weights.iter().any(|weight| !weight.is_finite()) {
        return Err(TrainError::Diverged { algorithm });
    }
    Ok(LinearModel {
        feature_names: dataset.feature_names().to_vec(),
        intercept,
        weights,
    })
}

/// Loss, gradient and Hessian of the penalised mean log loss at `coefficients`.
struct NewtonState {
    loss: f64,
    gradient: Vec<f64>,
    /// Row-major, (features + 1)².
    hessian: Vec<f64>,
}

fn softplus(z: f64) -> f64 {
    if z > 0.0 {
        z + (-z).exp().ln_1p()
    } else {
        z.exp().ln_1p()
    }
}

fn newton_pass(dataset: &Dataset, standardizer: &Standardizer, coefficients: &[f64], l2: f64) -> NewtonState {
    let features = dataset.features();
    let size = features + 1;
    let rows = dataset.rows() as f64;
    let mut loss = CompensatedSum::default();
    let mut gradient = vec![0.0; size];
    let mut hessian = vec![0.0; size * size];
    let mut block = Vec::new();
    let mut augmented = vec![1.0; size];
    for begin in (0..dataset.rows()).step_by(ROW_BLOCK) {
        let end = (begin + ROW_BLOCK).min(dataset.rows());
        standardizer.block(dataset, begin, end, &mut block);
        for (offset, x) in block.chunks_exact(features).enumerate() {
            let label = dataset.labels()[begin + offset];
            augmented[1..].copy_from_slice(x);
            let z: f64 = augmented.iter().zip(coefficients).map(|(x, w)| x * w).sum();
            let probability = sigmoid(z);
            loss.add(softplus(z) - label * z);
            let residual = probability - label;
            let weight = probability * (1.0 - probability);
            for j in 0..size {
                gradient[j] += residual * augmented[j];
                let weighted = weight * augmented[j];
                for k in j..size {
                    hessian[j * size + k] += weighted * augmented[k];
                }
            }
        }
    }
    let mut penalty = 0.0;
    for j in 0..size {
        gradient[j] /= rows;
        for k in j..size {
            let value = hessian[j * size + k] / rows;
            hessian[j * size + k] = value;
            hessian[k * size + j] = value;
        }
        if j > 0 {
            gradient[j] += l2 * coefficients[j];
            hessian[j * size + j] += l2;
            penalty += 0.5 * l2 * coefficients[j] * coefficients[j];
        }
    }
    NewtonState {
        loss: loss.value() / rows + penalty,
        gradient,
        hessian,
    }
}
