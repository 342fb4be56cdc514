//! Evaluation metrics exactly as `lang-spec/grammar.md` §7.5 defines them.
//!
//! Classification metrics take labels 0/1 and predicted probabilities of `true`; regression metrics
//! take numeric labels and predictions. Sums are compensated (Neumaier) so that a metric does not
//! drift with the number of examples; every metric is a pure function of its inputs in order.

use crate::dataset::Task;
use crate::error::MetricError;

/// Probabilities are clamped to `[LOGLOSS_EPSILON, 1 - LOGLOSS_EPSILON]` before the logarithm.
pub const LOGLOSS_EPSILON: f64 = 1e-15;

/// A metric name of the language (`metric = auc`, `promote_if = rmse < ...`): the plan's own.
pub use mlsys_compiler::plan::Metric;

/// Computes `metric` as lang-spec defines it.
pub fn compute(metric: Metric, labels: &[f64], predictions: &[f64]) -> Result<f64, MetricError> {
    match metric {
        Metric::Auc => auc(labels, predictions),
        Metric::Logloss => logloss(labels, predictions),
        Metric::Accuracy => accuracy(labels, predictions),
        Metric::F1 => f1(labels, predictions),
        Metric::Rmse => rmse(labels, predictions),
        Metric::Mae => mae(labels, predictions),
        Metric::Mape => mape(labels, predictions),
    }
}

/// Every metric of the task, in the order of [`Metric::all_for`].
pub fn evaluate_all(task: Task, labels: &[f64], predictions: &[f64]) -> Result<Vec<(Metric, f64)>, MetricError> {
    Metric::all_for(task)
        .iter()
        .map(|&metric| Ok((metric, compute(metric, labels, predictions)?)))
        .collect()
}

/// Area under the ROC curve: the probability that a random positive scores above a random negative,
/// tied scores counting one half. Computed exactly in integers over groups of tied scores.
pub fn auc(labels: &[f64], scores: &[f64]) -> Result<f64, MetricError> {
    check_classification(labels, scores)?;
    let mut order: Vec<usize> = (0..labels.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let mut negatives_below: u128 = 0;
    let mut twice_numerator: u128 = 0;
    let mut group_start = 0;
    while group_start < order.len() {
        let score = scores[order[group_start]];
        let mut group_end = group_start;
        let (mut group_positives, mut group_negatives) = (0u128, 0u128);
        while group_end < order.len() && scores[order[group_end]] == score {
            if labels[order[group_end]] == 1.0 {
                group_positives += 1;
            } else {
                group_negatives += 1;
            }
            group_end += 1;
        }
        // Each positive beats the negatives below it and ties with the negatives of its group.
        twice_numerator += group_positives * (2 * negatives_below + group_negatives);
        negatives_below += group_negatives;
        group_start = group_end;
    }
    let negatives = negatives_below;
    let positives = labels.len() as u128 - negatives;
    if positives == 0 || negatives == 0 {
        return Err(MetricError::Undefined {
            metric: "auc",
            reason: "the labels hold only one class",
        });
    }
    Ok(twice_numerator as f64 / (2 * positives * negatives) as f64)
}

/// Mean of −(y·ln p + (1−y)·ln(1−p)) with p clamped to [1e-15, 1 − 1e-15].
pub fn logloss(labels: &[f64], probabilities: &[f64]) -> Result<f64, MetricError> {
    check_classification(labels, probabilities)?;
    let mut sum = CompensatedSum::default();
    for (&label, &probability) in labels.iter().zip(probabilities) {
        sum.add(logloss_term(label, probability));
    }
    Ok(sum.value() / labels.len() as f64)
}

/// One example's log loss (shared with the GBDT early-stopping monitor).
pub(crate) fn logloss_term(label: f64, probability: f64) -> f64 {
    let clamped = probability.clamp(LOGLOSS_EPSILON, 1.0 - LOGLOSS_EPSILON);
    -(label * clamped.ln() + (1.0 - label) * (1.0 - clamped).ln())
}

/// Share of examples whose prediction (`p >= 0.5`) equals the label.
pub fn accuracy(labels: &[f64], probabilities: &[f64]) -> Result<f64, MetricError> {
    check_classification(labels, probabilities)?;
    let correct = labels
        .iter()
        .zip(probabilities)
        .filter(|&(&label, &probability)| (probability >= 0.5) == (label == 1.0));
    Ok(correct.count() as f64 / labels.len() as f64)
}

/// F1 of the `true` class with the prediction `p >= 0.5`: 2·TP / (2·TP + FP + FN).
pub fn f1(labels: &[f64], probabilities: &[f64]) -> Result<f64, MetricError> {
    check_classification(labels, probabilities)?;
    let (mut true_positives, mut false_positives, mut false_negatives) = (0usize, 0usize, 0usize);
    for (&label, &probability) in labels.iter().zip(probabilities) {
        match (probability >= 0.5, label == 1.0) {
            (true, true) => true_positives += 1,
            (true, false) => false_positives += 1,
            (false, true) => false_negatives += 1,
            (false, false) => {}
        }
    }
    let denominator = 2 * true_positives + false_positives + false_negatives;
    if denominator == 0 {
        return Err(MetricError::Undefined {
            metric: "f1",
            reason: "no example is labelled or predicted `true`",
        });
    }
    Ok((2 * true_positives) as f64 / denominator as f64)
}

/// Root mean squared error.
pub fn rmse(labels: &[f64], predictions: &[f64]) -> Result<f64, MetricError> {
    check_regression(labels, predictions)?;
    let mut sum = CompensatedSum::default();
    for (&label, &prediction) in labels.iter().zip(predictions) {
        sum.add((label - prediction) * (label - prediction));
    }
    Ok((sum.value() / labels.len() as f64).sqrt())
}

/// Mean absolute error.
pub fn mae(labels: &[f64], predictions: &[f64]) -> Result<f64, MetricError> {
    check_regression(labels, predictions)?;
    let mut sum = CompensatedSum::default();
    for (&label, &prediction) in labels.iter().zip(predictions) {
        sum.add((label - prediction).abs());
    }
    Ok(sum.value() / labels.len() as f64)
}

/// Mean of |y − ŷ| / |y| over the examples with y ≠ 0 (undefined when every label is 0).
pub fn mape(labels: &[f64], predictions: &[f64]) -> Result<f64, MetricError> {
    check_regression(labels, predictions)?;
    let mut sum = CompensatedSum::default();
    let mut counted = 0usize;
    for (&label, &prediction) in labels.iter().zip(predictions) {
        if label != 0.0 {
            sum.add((label - prediction).abs() / label.abs());
            counted += 1;
        }
    }
    if counted == 0 {
        return Err(MetricError::Undefined {
            metric: "mape",
            reason: "every label is 0",
        });
    }
    Ok(sum.value() / counted as f64)
}

fn check_lengths(labels: &[f64], predictions: &[f64]) -> Result<(), MetricError> {
    if labels.len() != predictions.len() {
        return Err(MetricError::LengthMismatch {
            labels: labels.len(),
            predictions: predictions.len(),
        });
    }
    if labels.is_empty() {
        return Err(MetricError::Empty);
    }
    if let Some(index) = predictions.iter().position(|prediction| !prediction.is_finite()) {
        return Err(MetricError::BadPrediction {
            index,
            value: predictions[index],
        });
    }
    Ok(())
}

fn check_classification(labels: &[f64], probabilities: &[f64]) -> Result<(), MetricError> {
    check_lengths(labels, probabilities)?;
    if let Some(index) = labels.iter().position(|&label| label != 0.0 && label != 1.0) {
        return Err(MetricError::BadLabel {
            index,
            value: labels[index],
            requirement: "classification labels must be 0 or 1",
        });
    }
    Ok(())
}

fn check_regression(labels: &[f64], predictions: &[f64]) -> Result<(), MetricError> {
    check_lengths(labels, predictions)?;
    if let Some(index) = labels.iter().position(|label| !label.is_finite()) {
        return Err(MetricError::BadLabel {
            index,
            value: labels[index],
            requirement: "labels must be finite",
        });
    }
    Ok(())
}

/// Neumaier summation: keeps the rounding error of a long running sum.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct CompensatedSum {
    sum: f64,
    compensation: f64,
}

impl CompensatedSum {
    pub(crate) fn add(&mut self, value: f64) {
        let total = self.sum + value;
        if self.sum.abs() >= value.abs() {
            self.compensation += (self.sum - total) + value;
        } else {
            self.compensation += (value - total) + self.sum;
        }
        self.sum = total;
    }

    pub(crate) fn value(&self) -> f64 {
        self.sum + self.compensation
    }
}
