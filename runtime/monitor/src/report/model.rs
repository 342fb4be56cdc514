//! The report's view model: plain data, filled by whoever evaluated the monitor, read by
//! [`render`](super::render) and serializable as JSON. Times are microseconds since the Unix epoch
//! (UTC); a value that could not be computed is NaN (`null` in JSON) and reads "n/a".

use mlsys_compiler::plan::Comparison;
use serde::Serialize;

use crate::distribution::{Distribution, psi};

/// Everything one report shows about one monitor.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Report {
    pub monitor: String,
    /// The serve target the monitor watches.
    pub target: String,
    pub model: String,
    /// The version in production when the report was made; `None` when there is none.
    pub served_version: Option<u32>,
    pub generated_at_micros: i64,
    pub drift: Vec<DriftRuleReport>,
    pub metrics: Vec<MetricRuleReport>,
    /// The shadow version against production, when the target has a shadow.
    pub shadow: Option<ShadowReport>,
    /// Alerts and retrains, in any order (the report shows the newest first).
    pub history: Vec<HistoryEvent>,
}

/// One `drift psi CMP THRESHOLD on ... every D` rule.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DriftRuleReport {
    /// The rule as written in the spec.
    pub rule: String,
    pub comparison: Comparison,
    pub threshold: f64,
    /// The evaluated periods, oldest first.
    pub periods: Vec<DriftPeriod>,
    /// Baseline against the latest period for the drifting features (any order).
    pub distributions: Vec<DistributionComparison>,
    /// The served version's scores: baseline (its holdout) against the latest period.
    pub score: Option<DistributionComparison>,
}

/// One period of a drift rule (`every D`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DriftPeriod {
    pub start_micros: i64,
    pub end_micros: i64,
    /// Requests logged in the period.
    pub rows: u64,
    pub status: PeriodStatus,
}

/// What a period's evaluation found.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PeriodStatus {
    /// The PSI of each watched feature against its baseline.
    Evaluated { psi: Vec<FeaturePsi> },
    /// Fewer rows than a PSI needs (`rows` of the period against `minimum_rows`).
    InsufficientData { minimum_rows: u64 },
    /// The served version has no stored baseline histograms.
    NoBaseline,
    /// Nothing was logged in the period.
    NoData,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FeaturePsi {
    pub feature: String,
    pub psi: f64,
}

/// A baseline histogram next to a current one over the same bins.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DistributionComparison {
    /// The feature, or `score`.
    pub name: String,
    /// Each bin's label, the missing bin last (see [`Bins::labels`](crate::Bins::labels)).
    pub labels: Vec<String>,
    /// Each bin's share of the baseline values.
    pub baseline: Vec<f64>,
    /// Each bin's share of the current values.
    pub current: Vec<f64>,
    pub psi: f64,
}

impl DistributionComparison {
    /// `baseline` and `current` side by side; the PSI is NaN when [`psi`] has none (bins differ,
    /// a side is empty).
    pub fn new(name: &str, baseline: &Distribution, current: &Distribution) -> DistributionComparison {
        DistributionComparison {
            name: name.to_string(),
            labels: baseline.bins.labels(),
            baseline: baseline.shares(),
            current: current.shares(),
            psi: psi(baseline, current).unwrap_or(f64::NAN),
        }
    }
}

/// One `metric METRIC over D CMP THRESHOLD` rule.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MetricRuleReport {
    /// The rule as written in the spec.
    pub rule: String,
    /// `auc`, `rmse`, ...
    pub metric: String,
    /// The way the metric gets worse: `<`/`<=` (auc, accuracy, f1) or `>`/`>=`.
    pub comparison: Comparison,
    /// The metric on the served version's holdout when it was trained, if recorded.
    pub baseline: Option<f64>,
    /// `FACTOR` of a `FACTOR * baseline` rule.
    pub factor: Option<f64>,
    /// The absolute threshold (`FACTOR × baseline` for a relative rule); `None` when a relative
    /// rule has no baseline.
    pub threshold: Option<f64>,
    /// The windows evaluated, oldest first.
    pub windows: Vec<MetricWindow>,
}

/// The metric over the window `over D` ending at `end_micros`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MetricWindow {
    pub end_micros: i64,
    /// Predictions in the window whose label has arrived.
    pub labelled_rows: u64,
    pub status: MetricStatus,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MetricStatus {
    Value {
        value: f64,
    },
    /// The window's labels have not matured yet.
    Pending,
    /// Too few labelled rows for the metric (`labelled_rows` against `minimum_rows`).
    InsufficientLabels {
        minimum_rows: u64,
    },
}

/// The shadow version against production on the same requests (the statistics of
/// `mlsysc shadow-report`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ShadowReport {
    pub production_version: u32,
    pub shadow_version: u32,
    /// Requests both versions scored.
    pub compared: u64,
    /// Requests without a shadow score or answered by the fallback.
    pub not_compared: u64,
    /// Of |shadow − production|.
    pub mean_abs_difference: f64,
    pub p99_abs_difference: f64,
    pub max_abs_difference: f64,
    /// The share of requests both scores put on the same side of `decision_threshold`.
    pub agreement: f64,
    pub decision_threshold: f64,
    pub psi: f64,
    /// `baseline`: production's scores; `current`: the shadow's.
    pub scores: DistributionComparison,
}

/// An alert or a retrain, as recorded in the monitor's state.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HistoryEvent {
    pub at_micros: i64,
    pub kind: EventKind,
    /// The rule as written that caused it.
    pub rule: String,
    /// One line: what crossed, by how much, or what a retrain produced.
    pub summary: String,
    /// Where it went: an alert's channels (none: recorded only), a retrain's run.
    pub deliveries: Vec<Delivery>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    AlertFired,
    /// Still firing, notified again.
    AlertRepeated,
    AlertResolved,
    Retrain,
}

/// One destination of an event and how far it got.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Delivery {
    /// The channel's label as the alert outbox shows it (secrets already reduced), or `retrain`.
    pub channel: String,
    pub state: DeliveryState,
    pub attempts: u32,
    /// The last failure, if any (kept after a later success).
    pub last_error: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    Delivered,
    /// Not yet: waiting for its next attempt.
    Pending,
    /// Still failing long after the first attempt (and still retried).
    Overdue,
    /// Given up: a retrain that failed.
    Failed,
}
