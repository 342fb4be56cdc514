//! Evaluating a monitor's rules over a serve target's predictions (lang-spec §7.7): drift per
//! period against the served version's baseline, the metric per window once its labels are final.
//!
//! Periods of a drift rule `every D` are `[k·D, (k+1)·D)` from 1970-01-01T00:00Z (days for `1d`,
//! Thursday-to-Thursday weeks for `7d`), by each row's example time; a period is due once it has
//! ended. A metric rule `over D` is evaluated for the window `[end − D, end)` at every UTC midnight
//! `end`; the window is pending until the labels of all its rows are final.

use std::collections::HashMap;

use mlsys_compiler::plan::{Comparison, Metric};
use serde::{Deserialize, Serialize};

use crate::baseline::Baseline;
use crate::distribution::{Distribution, psi};

/// A period with fewer scored rows is "insufficient data", never PSI 0.
pub const MIN_DRIFT_ROWS: u64 = 100;
/// A window with fewer labelled rows is "insufficient labels".
pub const MIN_METRIC_ROWS: u64 = 100;
/// Metric windows end at every UTC midnight.
pub const METRIC_STEP_MICROS: i64 = 86_400_000_000;

/// The rows a target scored, column by column (fallback answers left out).
#[derive(Debug, Default)]
pub struct Predictions {
    pub example_time: Vec<i64>,
    pub version: Vec<i64>,
    /// The model's input names, in input order.
    pub input_names: Vec<String>,
    /// One column per input, aligned with `input_names`.
    pub inputs: Vec<Vec<f64>>,
    pub score: Vec<f64>,
    pub label_key: Vec<Option<String>>,
}

/// A drift rule as evaluated: its id (`drift#N`), text, threshold and the inputs it watches.
#[derive(Clone, Debug)]
pub struct DriftRule {
    pub id: String,
    pub text: String,
    pub comparison: Comparison,
    pub threshold: f64,
    pub inputs: Vec<String>,
    pub every_micros: i64,
}

/// A metric rule as evaluated.
#[derive(Clone, Debug)]
pub struct MetricRule {
    pub id: String,
    pub text: String,
    pub metric: Metric,
    pub window_micros: i64,
    pub comparison: Comparison,
    pub threshold: f64,
    pub relative_to_baseline: bool,
}

/// One drift period's result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DriftResult {
    pub start: i64,
    pub end: i64,
    pub rows: u64,
    pub outcome: DriftOutcome,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DriftOutcome {
    /// PSI of each watched input, and of the score, against `version`'s baseline.
    Evaluated {
        version: i64,
        psi: Vec<(String, f64)>,
        score_psi: Option<f64>,
        fired: bool,
        /// The period's counts in the baseline's bins, per input, for the report.
        counts: Vec<(String, Vec<u64>)>,
        score_counts: Vec<u64>,
    },
    InsufficientData,
    NoBaseline {
        version: i64,
    },
    NoData,
}

/// One metric window's result (pending windows are not results: they are evaluated again).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MetricResult {
    pub end: i64,
    pub labelled: u64,
    pub outcome: MetricOutcome,
    /// The share of the window's rows the metric was computed on: 1 for all of them; less when
    /// the window held more rows than a run reads at once (a sample by label key, see
    /// [`sample_rate`]).
    #[serde(default = "all_rows")]
    pub sample: f64,
}

fn all_rows() -> f64 {
    1.0
}

/// The share of `rows` a scan keeps so that it holds at most `most` of them (1: all).
pub fn sample_rate(rows: u64, most: u64) -> f64 {
    match rows > most {
        true => most as f64 / rows as f64,
        false => 1.0,
    }
}

/// Whether the row with this label key is in a sample of `rate`: a stable hash of the key (64-bit
/// FNV-1a) below `rate` of its range, so that every run, and every window sharing the row, keeps
/// the same rows.
pub fn in_sample(key: &str, rate: f64) -> bool {
    if rate >= 1.0 {
        return true;
    }
    let hash = key.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    (hash as f64) < rate * u64::MAX as f64
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MetricOutcome {
    Evaluated {
        version: i64,
        value: f64,
        /// The absolute threshold (`factor × baseline` for a relative rule).
        threshold: f64,
        baseline: Option<f64>,
        fired: bool,
    },
    InsufficientLabels,
    /// No scored row in the window.
    NoData,
    /// A relative rule on a version registered without holdout metrics.
    NoBaseline {
        version: i64,
    },
}

/// Whether `value CMP threshold` holds.
pub fn crosses(value: f64, comparison: Comparison, threshold: f64) -> bool {
    match comparison {
        Comparison::Less => value < threshold,
        Comparison::LessEqual => value <= threshold,
        Comparison::Greater => value > threshold,
        Comparison::GreaterEqual => value >= threshold,
    }
}

/// The ends of the periods of length `every` that are due at `at` and hold rows (from the
/// period of the earliest row).
pub fn due_period_ends(predictions: &Predictions, every: i64, at: i64) -> Vec<i64> {
    period_ends(predictions.example_time.iter().min().copied(), every, at)
}

/// The ends of the periods of length `every` due at `at`, from the period of `first`, the
/// earliest row's example time (none without rows).
pub fn period_ends(first: Option<i64>, every: i64, at: i64) -> Vec<i64> {
    let Some(first) = first else {
        return Vec::new();
    };
    let mut end = first.div_euclid(every) * every + every;
    let mut ends = Vec::new();
    while end <= at {
        ends.push(end);
        end += every;
    }
    ends
}

impl Predictions {
    /// The rows in example time order (what the evaluation expects).
    pub fn sorted_by_time(self) -> Predictions {
        if self.example_time.is_sorted() {
            return self;
        }
        let mut order: Vec<usize> = (0..self.example_time.len()).collect();
        order.sort_by_key(|row| self.example_time[*row]);
        let pick_i64 = |column: &[i64]| order.iter().map(|row| column[*row]).collect();
        let pick_f64 = |column: &[f64]| order.iter().map(|row| column[*row]).collect::<Vec<f64>>();
        Predictions {
            example_time: pick_i64(&self.example_time),
            version: pick_i64(&self.version),
            inputs: self.inputs.iter().map(|column| pick_f64(column)).collect(),
            score: pick_f64(&self.score),
            label_key: order.iter().map(|row| self.label_key[*row].clone()).collect(),
            input_names: self.input_names,
        }
    }
}

/// The rows whose example time falls in `[start, end)` (rows sorted by time).
fn rows_in(predictions: &Predictions, start: i64, end: i64) -> Vec<usize> {
    let times = &predictions.example_time;
    (times.partition_point(|time| *time < start)..times.partition_point(|time| *time < end)).collect()
}

/// The version that scored most of `rows` (the newest on a tie).
fn main_version(predictions: &Predictions, rows: &[usize]) -> Option<i64> {
    let mut counts: HashMap<i64, usize> = HashMap::new();
    for row in rows {
        *counts.entry(predictions.version[*row]).or_default() += 1;
    }
    counts
        .into_iter()
        .max_by_key(|(version, count)| (*count, *version))
        .map(|(version, _)| version)
}

/// The drift rule over the period ending at `end`, over rows held in memory (the same result as
/// a [`PeriodCounter`] fed the period's rows).
pub fn drift_period(
    rule: &DriftRule,
    predictions: &Predictions,
    baselines: &HashMap<i64, Baseline>,
    end: i64,
) -> DriftResult {
    let rows = rows_in(predictions, end - rule.every_micros, end);
    let mut versions: HashMap<i64, u64> = HashMap::new();
    for row in &rows {
        *versions.entry(predictions.version[*row]).or_default() += 1;
    }
    let mut counter = PeriodCounter::new(rule, &predictions.input_names, baselines, end, &versions);
    let mut inputs = vec![f64::NAN; predictions.inputs.len()];
    for row in rows {
        for (value, column) in inputs.iter_mut().zip(&predictions.inputs) {
            *value = column[row];
        }
        counter.add(predictions.version[row], &inputs, predictions.score[row]);
    }
    counter.finish(rule)
}

/// A drift period counted as its rows stream by, holding nothing of a row: the rows of every
/// version, each watched input's values in the bins of the main version's baseline (the version
/// that scored most of the period, the newest on a tie, known beforehand from a count of the
/// period's rows per version), and the main version's scores in its score bins.
#[derive(Debug)]
pub struct PeriodCounter {
    end: i64,
    every: i64,
    rows: u64,
    main: Option<i64>,
    /// Whether the main version has a baseline (`None` for no row).
    baseline: Option<bool>,
    /// Per watched input with a baseline: its position in the rows' inputs, its counts.
    inputs: Vec<(String, usize, Distribution, Distribution)>,
    score: Option<(Distribution, Distribution)>,
}

impl PeriodCounter {
    /// The period ending at `end`, whose rows hold `names` as inputs and of which each version
    /// scored `versions[version]` rows.
    pub fn new(
        rule: &DriftRule,
        names: &[String],
        baselines: &HashMap<i64, Baseline>,
        end: i64,
        versions: &HashMap<i64, u64>,
    ) -> PeriodCounter {
        let main = versions
            .iter()
            .max_by_key(|(version, count)| (**count, **version))
            .map(|(version, _)| *version);
        let baseline = main.and_then(|version| baselines.get(&version));
        let inputs = rule
            .inputs
            .iter()
            .filter_map(|name| {
                let column = names.iter().position(|input| input == name)?;
                let expected = baseline?.input(name)?;
                let current = Distribution::empty(expected.bins.clone());
                Some((name.clone(), column, expected.clone(), current))
            })
            .collect();
        let score = baseline.map(|baseline| {
            let current = Distribution::empty(baseline.score.bins.clone());
            (baseline.score.clone(), current)
        });
        PeriodCounter {
            end,
            every: rule.every_micros,
            rows: 0,
            main,
            baseline: main.map(|_| baseline.is_some()),
            inputs,
            score,
        }
    }

    /// One more row of the period: its version, its inputs (as `names` orders them), its score.
    pub fn add(&mut self, version: i64, inputs: &[f64], score: f64) {
        self.rows += 1;
        for (_, column, _, current) in &mut self.inputs {
            current.add(inputs.get(*column).copied().unwrap_or(f64::NAN));
        }
        if let Some((_, current)) = &mut self.score
            && Some(version) == self.main
        {
            current.add(score);
        }
    }

    pub fn finish(self, rule: &DriftRule) -> DriftResult {
        let (start, end, rows) = (self.end - self.every, self.end, self.rows);
        let outcome = match (self.main, self.baseline) {
            (None, _) => DriftOutcome::NoData,
            _ if self.rows < MIN_DRIFT_ROWS => DriftOutcome::InsufficientData,
            (Some(version), Some(false) | None) => DriftOutcome::NoBaseline { version },
            (Some(version), Some(true)) => self.outcome(rule, version),
        };
        DriftResult {
            start,
            end,
            rows,
            outcome,
        }
    }

    fn outcome(self, rule: &DriftRule, version: i64) -> DriftOutcome {
        let (mut values, mut counts) = (Vec::new(), Vec::new());
        for (name, _, expected, current) in self.inputs {
            if let Some(value) = psi(&expected, &current) {
                values.push((name.clone(), value));
            }
            counts.push((name, current.counts));
        }
        let (score_psi, score_counts) = match self.score {
            Some((expected, current)) => (psi(&expected, &current), current.counts),
            None => (None, Vec::new()),
        };
        let fired = values
            .iter()
            .any(|(_, value)| crosses(*value, rule.comparison, rule.threshold));
        DriftOutcome::Evaluated {
            version,
            psi: values,
            score_psi,
            fired,
            counts,
            score_counts,
        }
    }
}

/// A metric rule's windows left pending by a run: their ends, and what their labels wait for.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PendingWindows {
    pub ends: Vec<i64>,
    /// The newest label the offline store held.
    pub labels_until: Option<i64>,
    pub delay_micros: i64,
}

/// When labels are final: the model's `label_delay` (0 for labels on the example's own columns)
/// and the newest label the store holds.
#[derive(Clone, Copy, Debug)]
pub struct Maturity {
    pub delay_micros: i64,
    pub watermark: Option<i64>,
}

/// Whether every row's label in `rows` is final at `at`: each row's time plus the delay has
/// passed, and the store holds labels up to it.
fn is_mature(predictions: &Predictions, rows: &[usize], maturity: Maturity, at: i64) -> bool {
    let Some(newest) = rows.iter().map(|row| predictions.example_time[*row]).max() else {
        return true;
    };
    let final_at = newest.saturating_add(maturity.delay_micros);
    final_at <= at && maturity.watermark.is_some_and(|watermark| watermark >= final_at)
}

/// Whether no row of the window ending at `end` can have a final label at `at`, whatever its
/// rows: even a row at the window's start is final only after `at` or past the newest label. Such
/// a window is pending if it holds a row and "no data" otherwise (as [`metric_window`] finds),
/// so its rows need not be read.
pub fn unripe(rule: &MetricRule, maturity: Maturity, end: i64, at: i64) -> bool {
    let earliest_final = (end - rule.window_micros).saturating_add(maturity.delay_micros);
    earliest_final > at || maturity.watermark.is_none_or(|watermark| watermark < earliest_final)
}

/// The metric rule over the window ending at `end`; `None` while it is pending.
pub fn metric_window(
    rule: &MetricRule,
    predictions: &Predictions,
    label: &dyn Fn(&str) -> Option<f64>,
    holdout_metric: &dyn Fn(i64) -> Option<f64>,
    maturity: Maturity,
    end: i64,
    at: i64,
) -> Option<MetricResult> {
    let rows = rows_in(predictions, end - rule.window_micros, end);
    if rows.is_empty() {
        return Some(MetricResult {
            end,
            labelled: 0,
            outcome: MetricOutcome::NoData,
            sample: 1.0,
        });
    }
    if !is_mature(predictions, &rows, maturity, at) {
        return None;
    }
    let (mut labels, mut scores) = (Vec::new(), Vec::new());
    for row in &rows {
        if let Some(value) = predictions.label_key[*row].as_deref().and_then(label) {
            labels.push(value);
            scores.push(predictions.score[*row]);
        }
    }
    let labelled = labels.len() as u64;
    let outcome = match main_version(predictions, &rows) {
        Some(version) if labelled >= MIN_METRIC_ROWS => match mlsys_train::compute(rule.metric, &labels, &scores) {
            Ok(value) => evaluated(rule, version, value, holdout_metric(version)),
            Err(_) => MetricOutcome::InsufficientLabels,
        },
        _ => MetricOutcome::InsufficientLabels,
    };
    Some(MetricResult {
        end,
        labelled,
        outcome,
        sample: 1.0,
    })
}

fn evaluated(rule: &MetricRule, version: i64, value: f64, baseline: Option<f64>) -> MetricOutcome {
    let threshold = match (rule.relative_to_baseline, baseline) {
        (false, _) => rule.threshold,
        (true, Some(baseline)) if baseline.is_finite() => rule.threshold * baseline,
        (true, _) => return MetricOutcome::NoBaseline { version },
    };
    MetricOutcome::Evaluated {
        version,
        value,
        threshold,
        baseline,
        fired: crosses(value, rule.comparison, threshold),
    }
}

/// The window ends of a metric rule due at `at`: every UTC midnight from the first full window
/// after the earliest row.
pub fn due_window_ends(predictions: &Predictions, rule: &MetricRule, at: i64) -> Vec<i64> {
    window_ends(predictions.example_time.iter().min().copied(), rule, at)
}

/// The window ends of a metric rule due at `at`, from the first full window after `first`, the
/// earliest row's example time (none without rows).
pub fn window_ends(first: Option<i64>, rule: &MetricRule, at: i64) -> Vec<i64> {
    let Some(first) = first else {
        return Vec::new();
    };
    let mut end = (first + rule.window_micros).div_euclid(METRIC_STEP_MICROS) * METRIC_STEP_MICROS;
    if end < first + rule.window_micros {
        end += METRIC_STEP_MICROS;
    }
    let mut ends = Vec::new();
    while end <= at {
        ends.push(end);
        end += METRIC_STEP_MICROS;
    }
    ends
}
