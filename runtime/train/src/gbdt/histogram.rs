//! Gradient histograms per (node, feature) and the best split of one feature's histogram.
//!
//! Determinism: a histogram is always accumulated by one thread, in row order, so its bits do not
//! depend on the thread count; the best split of a node is the first (lowest feature, lowest bin,
//! missing-left before missing-right) candidate with the strictly greatest gain.

use super::binning::{MAX_VALUE_BINS, MISSING_BIN};

/// Histogram slots per feature: the value bins and the missing bin.
pub(crate) const BINS_PER_FEATURE: usize = 256;
/// Least hessian sum in a child (as LightGBM's `min_sum_hessian_in_leaf`): keeps leaf weights sane
/// when `l2 = 0` and predictions saturate.
const MIN_CHILD_HESSIAN: f64 = 1e-3;

/// Sums of gradients, hessians and rows.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct BinStats {
    pub(crate) gradient: f64,
    pub(crate) hessian: f64,
    pub(crate) count: u64,
}

impl BinStats {
    fn add(&mut self, other: &BinStats) {
        self.gradient += other.gradient;
        self.hessian += other.hessian;
        self.count += other.count;
    }

    fn minus(&self, other: &BinStats) -> BinStats {
        BinStats {
            gradient: self.gradient - other.gradient,
            hessian: self.hessian - other.hessian,
            count: self.count - other.count,
        }
    }
}

/// A candidate split of a node.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SplitCandidate {
    pub(crate) gain: f64,
    pub(crate) feature: usize,
    /// Rows in value bins `0..=bin` go left.
    pub(crate) bin: u8,
    pub(crate) missing_goes_left: bool,
    pub(crate) left: BinStats,
    pub(crate) right: BinStats,
}

impl SplitCandidate {
    /// Keeps the better of two candidates; on equal gain the one already held (earlier in scan order).
    pub(crate) fn better(current: Option<SplitCandidate>, other: Option<SplitCandidate>) -> Option<SplitCandidate> {
        match (current, other) {
            (Some(held), Some(new)) if new.gain > held.gain => Some(new),
            (None, new) => new,
            (held, _) => held,
        }
    }
}

/// Accumulates one feature over rows `0..bins.len()` with their gradients (the root without subsampling).
pub(crate) fn accumulate_contiguous(bins: &[u8], gradients: &[f64], hessians: &[f64], histogram: &mut [BinStats]) {
    for ((&bin, &gradient), &hessian) in bins.iter().zip(gradients).zip(hessians) {
        let slot = &mut histogram[bin as usize];
        slot.gradient += gradient;
        slot.hessian += hessian;
        slot.count += 1;
    }
}

/// Accumulates one feature over the listed rows; `gradients[i]` and `hessians[i]` belong to `rows[i]`.
pub(crate) fn accumulate_rows(
    column: &[u8],
    rows: &[u32],
    gradients: &[f64],
    hessians: &[f64],
    histogram: &mut [BinStats],
) {
    for ((&row, &gradient), &hessian) in rows.iter().zip(gradients).zip(hessians) {
        let slot = &mut histogram[column[row as usize] as usize];
        slot.gradient += gradient;
        slot.hessian += hessian;
        slot.count += 1;
    }
}

/// `parent -= child`, slot by slot: the parent's histogram becomes its other child's.
pub(crate) fn subtract_in_place(parent: &mut [BinStats], child: &[BinStats]) {
    for (parent_slot, child_slot) in parent.iter_mut().zip(child) {
        *parent_slot = parent_slot.minus(child_slot);
    }
}

/// Split-search settings of one tree.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SplitRules {
    pub(crate) l2: f64,
    pub(crate) min_rows_per_leaf: u64,
}

fn leaf_objective(stats: &BinStats, l2: f64) -> f64 {
    stats.gradient * stats.gradient / (stats.hessian + l2)
}

/// The best split of one feature of a node, given that feature's histogram and value-bin count.
pub(crate) fn best_split(
    histogram: &[BinStats],
    feature: usize,
    value_bins: usize,
    rules: &SplitRules,
) -> Option<SplitCandidate> {
    let value_bins = value_bins.min(MAX_VALUE_BINS);
    let missing = histogram[MISSING_BIN as usize];
    let mut values_total = BinStats::default();
    for slot in &histogram[..value_bins] {
        values_total.add(slot);
    }
    let mut total = values_total;
    total.add(&missing);
    let parent_objective = leaf_objective(&total, rules.l2);
    let admissible = |stats: &BinStats| stats.count >= rules.min_rows_per_leaf && stats.hessian >= MIN_CHILD_HESSIAN;

    let mut best: Option<SplitCandidate> = None;
    let mut left_values = BinStats::default();
    for (bin, slot) in histogram[..value_bins.saturating_sub(1)].iter().enumerate() {
        left_values.add(slot);
        let right_values = values_total.minus(&left_values);
        // With no missing rows at this node, the default side is the one with more rows (ties left).
        let options: &[bool] = if missing.count == 0 {
            if left_values.count >= right_values.count {
                &[true]
            } else {
                &[false]
            }
        } else {
            &[true, false]
        };
        for &missing_goes_left in options {
            let (left, right) = if missing_goes_left {
                let mut left = left_values;
                left.add(&missing);
                (left, right_values)
            } else {
                let mut right = right_values;
                right.add(&missing);
                (left_values, right)
            };
            if !admissible(&left) || !admissible(&right) {
                continue;
            }
            let gain = leaf_objective(&left, rules.l2) + leaf_objective(&right, rules.l2) - parent_objective;
            if gain > 0.0 && best.is_none_or(|held| gain > held.gain) {
                best = Some(SplitCandidate {
                    gain,
                    feature,
                    bin: bin as u8,
                    missing_goes_left,
                    left,
                    right,
                });
            }
        }
    }
    best
}
