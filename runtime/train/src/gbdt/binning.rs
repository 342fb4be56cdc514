//! Quantile binning: each feature becomes a `u8` column of at most 255 value bins plus a missing bin,
//! cut at float32-representable thresholds.
//!
//! Bin `b` holds the values `v` with `threshold[b - 1] < v <= threshold[b]`, so a split "bin <= b"
//! is exactly the raw comparison `v <= threshold[b]`. Every threshold is a float32 value, so an
//! exported model comparing in float32 or float64 routes every input like the native scorer.

use crate::dataset::Dataset;

/// The bin code of a missing (NaN) value.
pub(crate) const MISSING_BIN: u8 = 255;
/// At most this many value bins per feature (codes 0..=254).
pub(crate) const MAX_VALUE_BINS: usize = 255;
/// Bin boundaries are computed from at most this many values per feature (evenly strided).
const BINNING_SAMPLE: usize = 200_000;

/// The binned training matrix.
pub(crate) struct BinnedMatrix {
    /// One `u8` column per feature, covering every row of the data set.
    pub(crate) columns: Vec<Vec<u8>>,
    /// Per feature, the increasing float32 upper bounds of the value bins but the last.
    pub(crate) thresholds: Vec<Vec<f32>>,
}

impl BinnedMatrix {
    /// Bins every row; the boundaries come from the first `fit_rows` rows only (the training part).
    pub(crate) fn build(dataset: &Dataset, fit_rows: usize, threads: usize) -> BinnedMatrix {
        let features = dataset.features();
        let mut thresholds = vec![Vec::new(); features];
        let mut columns = vec![Vec::new(); features];
        let chunk = features.div_ceil(threads.max(1));
        std::thread::scope(|scope| {
            for ((threshold_chunk, column_chunk), source_chunk) in thresholds
                .chunks_mut(chunk)
                .zip(columns.chunks_mut(chunk))
                .zip(dataset.columns().chunks(chunk))
            {
                scope.spawn(move || {
                    for ((thresholds, binned), values) in threshold_chunk
                        .iter_mut()
                        .zip(column_chunk.iter_mut())
                        .zip(source_chunk)
                    {
                        *thresholds = feature_thresholds(&values[..fit_rows]);
                        *binned = values.iter().map(|&value| bin_of(thresholds, value)).collect();
                    }
                });
            }
        });
        BinnedMatrix { columns, thresholds }
    }
}

/// The bin of a raw value.
pub(crate) fn bin_of(thresholds: &[f32], value: f64) -> u8 {
    if value.is_nan() {
        return MISSING_BIN;
    }
    // At most 254 thresholds, so the position fits the value-bin codes.
    thresholds.partition_point(|&threshold| f64::from(threshold) < value) as u8
}

/// Quantile cut points of one feature's values (NaN ignored).
fn feature_thresholds(values: &[f64]) -> Vec<f32> {
    let present = values.iter().filter(|value| !value.is_nan()).count();
    let stride = present.div_ceil(BINNING_SAMPLE).max(1);
    let mut sample: Vec<f64> = values
        .iter()
        .copied()
        .filter(|value| !value.is_nan())
        .step_by(stride)
        .collect();
    sample.sort_unstable_by(f64::total_cmp);
    // Distinct values with their counts (-0.0 and 0.0 compare equal and share a bin).
    let mut distinct: Vec<(f64, usize)> = Vec::new();
    for value in sample {
        match distinct.last_mut() {
            Some((last, count)) if *last == value => *count += 1,
            _ => distinct.push((value, 1)),
        }
    }
    let mut thresholds = Vec::new();
    if distinct.len() <= MAX_VALUE_BINS {
        for pair in distinct.windows(2) {
            if let Some(threshold) = float32_between(pair[0].0, pair[1].0) {
                thresholds.push(threshold);
            }
        }
        return thresholds;
    }
    // Greedy equal-frequency cuts: close a bin once it holds its share of the remaining values.
    let mut remaining: usize = distinct.iter().map(|(_, count)| count).sum();
    let mut in_bin = 0usize;
    for (index, pair) in distinct.windows(2).enumerate() {
        let bins_left = MAX_VALUE_BINS - thresholds.len();
        if bins_left <= 1 {
            break;
        }
        in_bin += pair[0].1;
        let values_left_after = distinct.len() - index - 1;
        let target = remaining.div_ceil(bins_left);
        let cut_here = in_bin >= target || values_left_after < bins_left;
        if !cut_here {
            continue;
        }
        if let Some(threshold) = float32_between(pair[0].0, pair[1].0) {
            thresholds.push(threshold);
            remaining -= in_bin;
            in_bin = 0;
        }
    }
    thresholds
}

/// A finite float32 `t` with `below <= t < above` (both finite, `below < above`), preferring the
/// float32 nearest the midpoint; `None` when no float32 separates them.
pub(crate) fn float32_between(below: f64, above: f64) -> Option<f32> {
    let fits = |candidate: f32| {
        let candidate_wide = f64::from(candidate);
        candidate.is_finite() && below <= candidate_wide && candidate_wide < above
    };
    let midpoint = below + (above - below) / 2.0;
    let rounded = midpoint as f32;
    let above_rounded = above as f32;
    let candidates = [
        rounded,
        next_float32(rounded, true),
        next_float32(rounded, false),
        above_rounded,
        next_float32(above_rounded, false),
    ];
    candidates.into_iter().find(|&candidate| fits(candidate))
}

/// The adjacent float32 above (`upwards`) or below a non-NaN value (`f32::next_up` needs Rust 1.86).
fn next_float32(value: f32, upwards: bool) -> f32 {
    if value == 0.0 {
        let smallest = f32::from_bits(1);
        return if upwards { smallest } else { -smallest };
    }
    if value.is_infinite() && (value > 0.0) == upwards {
        return value;
    }
    // Moving away from zero increments the magnitude bits; towards zero decrements them.
    let away_from_zero = (value > 0.0) == upwards;
    let bits = value.to_bits();
    f32::from_bits(if away_from_zero { bits + 1 } else { bits - 1 })
}
