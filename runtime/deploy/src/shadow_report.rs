//! `mlsysc shadow-report`: how a target's shadow version compares with the served one on the same
//! requests, from the prediction log's records that carry both scores.
//!
//! - score difference (shadow − primary): mean, p99 and max of its absolute value;
//! - decision agreement: the share of rows both scores put on the same side of the threshold —
//!   0.5 for a classifier (the probability of `true`), the primary scores' median for a regression;
//! - PSI between the two score distributions: ten bins at the primary scores' deciles,
//!   `Σ (s − p) · ln(s / p)` over the bins' shares `p` (primary) and `s` (shadow), a share of 0 read
//!   as 0.0001 so an empty bin counts without dividing by zero.
//!
//! Rows answered by the fallback and rows without a shadow score (no shadow version, or the shadow
//! queue was full) are not compared; the report counts them.

use mlsys_train::Task;
use serde::Serialize;

/// An empty bin's share in the PSI.
pub const PSI_EMPTY_SHARE: f64 = 1e-4;

/// One compared row: the served score and the shadow's.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Pair {
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
}

/// The report over `pairs` (`not_compared`: rows left out). `None` when nothing was compared.
pub fn report(target: &str, task: Task, pairs: &[Pair], not_compared: usize) -> Option<ShadowReport> {
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
    })
}

/// The value at quantile `q` of sorted values (nearest rank).
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// PSI of `actual` against the bins of `expected_sorted` (its deciles).
pub fn psi(expected_sorted: &[f64], actual: &[f64]) -> f64 {
    let edges: Vec<f64> = (1..10)
        .map(|decile| quantile(expected_sorted, f64::from(decile) / 10.0))
        .collect();
    let shares = |values: &mut dyn Iterator<Item = f64>, count: usize| {
        let mut bins = [0usize; 10];
        for value in values {
            bins[edges.partition_point(|edge| *edge < value)] += 1;
        }
        bins.map(|bin| (bin as f64 / count as f64).max(PSI_EMPTY_SHARE))
    };
    let expected = shares(&mut expected_sorted.iter().copied(), expected_sorted.len());
    let actual = shares(&mut actual.iter().copied(), actual.len());
    expected
        .iter()
        .zip(&actual)
        .map(|(expected, actual)| (actual - expected) * (actual / expected).ln())
        .sum()
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
            })
            .collect();
        let report = report("t", Task::Classification, &pairs, 3).expect("a report");
        assert_eq!((report.compared, report.not_compared), (100, 3));
        assert_eq!(
            (report.agreement, report.max_abs_difference, report.psi),
            (1.0, 0.0, 0.0)
        );
    }

    #[test]
    fn a_shifted_shadow_disagrees_and_drifts() {
        let pairs: Vec<Pair> = (0..100)
            .map(|index| Pair {
                primary: f64::from(index) / 100.0,
                shadow: f64::from(index) / 100.0 + 0.2,
            })
            .collect();
        let report = report("t", Task::Classification, &pairs, 0).expect("a report");
        assert!((report.max_abs_difference - 0.2).abs() < 1e-12);
        assert_eq!(report.agreement, 0.8);
        assert!(report.psi > 0.2, "{}", report.psi);
        assert!(super::report("t", Task::Regression, &[], 0).is_none());
    }
}
