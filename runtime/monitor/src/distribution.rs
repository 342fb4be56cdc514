//! Baseline histograms and the population stability index (`lang-spec/grammar.md` §7.7).
//!
//! A [`Distribution`] is made once, from the values a model version was trained on (or the scores
//! it gave its holdout), and stored with the version; later values are counted into the same
//! bins and compared with [`psi`].
//!
//! - A number's bins are cut at the quantiles of its finite training values (deciles unless asked
//!   otherwise), equal cuts merged, or at each of its values when it has no more values than bins:
//!   bin `i` holds the values `v` with `edges[i-1] < v <= edges[i]`,
//!   the first everything up to `edges[0]` (−∞ included), the last everything above the last edge
//!   (+∞ included). An integer input with few values gets a bin per value this way.
//! - A bool's bins are its categories, `false` (0) and `true` (1); any other value is `other`.
//! - Missing values (null, NaN) have a bin of their own, last.

use serde::{Deserialize, Serialize};

/// An empty bin's share, in [`psi`]: the logarithm needs both shares above 0.
pub const EMPTY_BIN_SHARE: f64 = 1e-4;

/// How values are put into bins.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Bins {
    /// Upper edges, increasing: `edges.len() + 1` bins of numbers.
    Numeric { edges: Vec<f64> },
    /// Exact values, each a bin, then `other` for any value not among them.
    Categorical { categories: Vec<f64> },
}

impl Bins {
    /// Bins cut at the `bins`-quantiles (nearest rank) of the finite `values`, equal cuts merged;
    /// values with at most `bins` distinct finite values get a bin per value instead (so a 0/1
    /// input mostly 1 still tells its 0s apart).
    pub fn quantiles(values: &[f64], bins: usize) -> Bins {
        let mut sorted: Vec<f64> = values.iter().copied().filter(|value| value.is_finite()).collect();
        sorted.sort_by(f64::total_cmp);
        let mut distinct: Vec<f64> = sorted.iter().map(|value| normalize_zero(*value)).collect();
        distinct.dedup();
        if distinct.len() <= bins {
            return Bins::Numeric { edges: distinct };
        }
        let mut edges: Vec<f64> = Vec::with_capacity(bins.saturating_sub(1));
        if !sorted.is_empty() {
            for cut in 1..bins.max(1) {
                let rank = (cut * sorted.len()).div_ceil(bins).clamp(1, sorted.len());
                let edge = normalize_zero(sorted[rank - 1]);
                if edges.last().is_none_or(|last| *last < edge) {
                    edges.push(edge);
                }
            }
        }
        Bins::Numeric { edges }
    }

    /// The categories of a bool input: `false` and `true`.
    pub fn bool() -> Bins {
        Bins::Categorical {
            categories: vec![0.0, 1.0],
        }
    }

    /// How many bins a [`Distribution`] of these bins counts into (the missing bin included).
    pub fn len(&self) -> usize {
        match self {
            Bins::Numeric { edges } => edges.len() + 2,
            Bins::Categorical { categories } => categories.len() + 2,
        }
    }

    /// Never: there is always at least one bin of values and the missing bin.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The bin `value` falls in.
    pub fn bin_of(&self, value: f64) -> usize {
        if value.is_nan() {
            return self.len() - 1;
        }
        match self {
            Bins::Numeric { edges } => edges.partition_point(|edge| *edge < value),
            Bins::Categorical { categories } => categories
                .iter()
                .position(|category| *category == value)
                .unwrap_or(categories.len()),
        }
    }

    /// Each bin's label for people: `≤ 3.5`, `(3.5, 7]`, `> 7`, `true`, `other`, `missing`.
    pub fn labels(&self) -> Vec<String> {
        let mut labels = match self {
            Bins::Numeric { edges } => numeric_labels(edges),
            Bins::Categorical { categories } => {
                let mut labels: Vec<String> = categories.iter().map(|value| category_label(*value)).collect();
                labels.push("other".into());
                labels
            }
        };
        labels.push("missing".into());
        labels
    }
}

fn numeric_labels(edges: &[f64]) -> Vec<String> {
    let (Some(first), Some(last)) = (edges.first(), edges.last()) else {
        return vec!["all values".into()];
    };
    let mut labels = vec![format!("≤ {first}")];
    labels.extend(edges.windows(2).map(|pair| format!("({}, {}]", pair[0], pair[1])));
    labels.push(format!("> {last}"));
    labels
}

fn category_label(value: f64) -> String {
    match value {
        0.0 => "false".into(),
        1.0 => "true".into(),
        other => other.to_string(),
    }
}

/// `-0.0` as `0.0`: an edge is a number, and its sign must not decide a JSON round trip's bits.
fn normalize_zero(value: f64) -> f64 {
    if value == 0.0 { 0.0 } else { value }
}

/// A histogram: the bins and how many values fell in each (the missing bin last).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Distribution {
    pub bins: Bins,
    pub counts: Vec<u64>,
}

impl Distribution {
    /// Empty counts over `bins`.
    pub fn empty(bins: Bins) -> Distribution {
        let counts = vec![0; bins.len()];
        Distribution { bins, counts }
    }

    /// `values` counted into `bins`.
    pub fn of(bins: Bins, values: impl IntoIterator<Item = f64>) -> Distribution {
        let mut distribution = Distribution::empty(bins);
        for value in values {
            distribution.add(value);
        }
        distribution
    }

    /// Counts one more value.
    pub fn add(&mut self, value: f64) {
        let bin = self.bins.bin_of(value);
        if let Some(count) = self.counts.get_mut(bin) {
            *count += 1;
        }
    }

    /// Every value counted.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Each bin's share of the values (all 0 when there are none).
    pub fn shares(&self) -> Vec<f64> {
        let total = self.total();
        self.counts
            .iter()
            .map(|count| if total == 0 { 0.0 } else { *count as f64 / total as f64 })
            .collect()
    }
}

/// The population stability index of `current` against `baseline` (same bins):
/// `Σ (c − b) · ln(c / b)` over the bins, with `b` and `c` each bin's share of its values and an
/// empty bin's share read as [`EMPTY_BIN_SHARE`]. `None` when the bins differ or a side is empty.
pub fn psi(baseline: &Distribution, current: &Distribution) -> Option<f64> {
    if baseline.bins != current.bins || baseline.total() == 0 || current.total() == 0 {
        return None;
    }
    let floor = |share: f64| if share == 0.0 { EMPTY_BIN_SHARE } else { share };
    let terms = baseline
        .shares()
        .into_iter()
        .zip(current.shares())
        .map(|(expected, actual)| {
            let (expected, actual) = (floor(expected), floor(actual));
            (actual - expected) * (actual / expected).ln()
        });
    Some(terms.sum())
}
