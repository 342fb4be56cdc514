//! `mlsysc shadow-report`: how a target's shadow version compares with the served one on the same
//! requests, from the prediction log's records that carry both scores.
//!
//! - score difference (shadow − primary): mean, p99 and max of its absolute value;
//! - decision agreement: the share of rows both scores put on the same side of the threshold —
//!   0.5 for a classifier (the probability of `true`), the primary scores' median for a regression;
//! - PSI between the two score distributions: bins at the primary scores' deciles,
//!   `Σ (s − p) · ln(s / p)` over the bins' shares `p` (primary) and `s` (shadow), a share of 0 read
//!   as 0.0001 so an empty bin counts without dividing by zero (`mlsys_monitor::psi`);
//! - where labels are final (lang-spec §7.7), both models' metric on the same labelled rows.
//!
//! Rows answered by the fallback and rows without a shadow score (no shadow version, or the shadow
//! queue was full) are not compared; the report counts them.

use mlsys_monitor::{Bins, DEFAULT_BINS, Distribution};
use mlsys_train::{Metric, Task};
use serde::Serialize;

/// One compared row: the served score and the shadow's.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Pair {
    pub primary: f64,
    pub shadow: f64,
    /// The row's label, once it is final (`None`: not yet, or never found).
    pub label: Option<f64>,
}

/// Both models' metric on the same labelled rows.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LabelComparison {
    pub metric: String,
    pub labelled: usize,
    pub primary: f64,
    pub shadow: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ShadowReport {
    pub target: String,
    /// Rows with both scores.
    pub compared: usize,
    /// Rows logged without a shadow score, or answered by the fallback.
    pub not_compared: usize,
    pub mean_abs_difference: f64,
    pub p99_abs_difference: f64,
    pub max_abs_difference: f64,
    pub threshold: f64,
    pub agreement: f64,
    pub psi: f64,
    /// `None` when no compared row has a final label (or the metric is undefined on them).
    pub labels: Option<LabelComparison>,
}

/// The report over `pairs` (`not_compared`: rows left out). `None` when nothing was compared.
pub fn report(target: &str, metric: Metric, pairs: &[Pair], not_compared: usize) -> Option<ShadowReport> {
    let task = metric.task();
    if pairs.is_empty() {
        return None;
    }
    let mut differences: Vec<f64> = pairs.iter().map(|pair| (pair.shadow - pair.primary).abs()).collect();
    differences.sort_by(f64::total_cmp);
    let mut primary: Vec<f64> = pairs.iter().map(|pair| pair.primary).collect();
    primary.sort_by(f64::total_cmp);
    let threshold = match task {
        Task::Classification => 0.5,
        Task::Regression => quantile(&primary, 0.5),
    };
    let agreeing = pairs
        .iter()
        .filter(|pair| (pair.primary >= threshold) == (pair.shadow >= threshold))
        .count();
    let shadow: Vec<f64> = pairs.iter().map(|pair| pair.shadow).collect();
    Some(ShadowReport {
        target: target.to_string(),
        compared: pairs.len(),
        not_compared,
        mean_abs_difference: differences.iter().sum::<f64>() / differences.len() as f64,
        p99_abs_difference: quantile(&differences, 0.99),
        max_abs_difference: differences.last().copied().unwrap_or(0.0),
        threshold,
        agreement: agreeing as f64 / pairs.len() as f64,
        psi: psi(&primary, &shadow),
        labels: label_comparison(metric, pairs),
    })
}

/// The value at quantile `q` of sorted values (nearest rank).
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// PSI of the shadow's scores against the primary's deciles (`mlsys_monitor::psi`, one definition
/// for monitors and this report).
pub fn psi(primary: &[f64], shadow: &[f64]) -> f64 {
    let bins = Bins::quantiles(primary, DEFAULT_BINS);
    let expected = Distribution::of(bins.clone(), primary.iter().copied());
    let actual = Distribution::of(bins, shadow.iter().copied());
    mlsys_monitor::psi(&expected, &actual).unwrap_or(f64::NAN)
}

/// Both models' metric on the compared rows whose labels are final.
fn label_comparison(metric: Metric, pairs: &[Pair]) -> Option<LabelComparison> {
    let labelled: Vec<&Pair> = pairs.iter().filter(|pair| pair.label.is_some()).collect();
    let labels: Vec<f64> = labelled.iter().filter_map(|pair| pair.label).collect();
    let primary: Vec<f64> = labelled.iter().map(|pair| pair.primary).collect();
    let shadow: Vec<f64> = labelled.iter().map(|pair| pair.shadow).collect();
    Some(LabelComparison {
        metric: metric.name().to_string(),
        labelled: labels.len(),
        primary: mlsys_train::compute(metric, &labels, &primary).ok()?,
        shadow: mlsys_train::compute(metric, &labels, &shadow).ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_scores_agree_fully_with_no_drift() {
        let pairs: Vec<Pair> = (0..100)
            .map(|index| Pair {
                primary: f64::from(index) / 100.0,
                shadow: f64::from(index) / 100.0,
                label: Some(f64::from(index % 2)),
            })
            .collect();
        let report = report("t", Metric::Auc, &pairs, 3).expect("a report");
        assert_eq!((report.compared, report.not_compared), (100, 3));
        assert_eq!(
            (report.agreement, report.max_abs_difference, report.psi),
            (1.0, 0.0, 0.0)
        );
        let labels = report.labels.expect("labelled");
        assert_eq!(
            (labels.labelled, labels.primary.to_bits()),
            (100, labels.shadow.to_bits())
        );
    }

    #[test]
    fn a_shifted_shadow_disagrees_and_drifts() {
        let pairs: Vec<Pair> = (0..100)
            .map(|index| Pair {
                primary: f64::from(index) / 100.0,
                shadow: f64::from(index) / 100.0 + 0.2,
                label: None,
            })
            .collect();
        let report = report("t", Metric::Auc, &pairs, 0).expect("a report");
        assert!((report.max_abs_difference - 0.2).abs() < 1e-12);
        assert_eq!(report.agreement, 0.8);
        assert!(report.psi > 0.2, "{}", report.psi);
        assert_eq!(report.labels, None);
        assert!(super::report("t", Metric::Rmse, &[], 0).is_none());
    }
}
