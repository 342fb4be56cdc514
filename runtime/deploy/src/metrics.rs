//! The deploy server's own Prometheus metrics, next to the feature server's in `/metrics`: per
//! target scoring latency (seconds), fallbacks by reason, the served version per role, batch
//! sizes, shadow drops and overload refusals. Labels are target names, roles and reasons: a
//! fixed set, whatever clients send.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TargetLabels {
    target: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    target: String,
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RoleLabels {
    target: String,
    role: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MonitorLabels {
    monitor: String,
    /// An input's name, a metric's name or a rule's id.
    name: String,
}

type FloatGauges = Family<MonitorLabels, Gauge<f64, AtomicU64>>;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct GroupLabels {
    group: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

/// How fresh the served features are while `deploy` refreshes them (its feature refresh).
struct FreshnessGauges {
    lag: Family<GroupLabels, Gauge<f64, AtomicU64>>,
    watermark: Family<GroupLabels, Gauge<f64, AtomicU64>>,
    runs: Family<OutcomeLabels, Counter>,
}

impl FreshnessGauges {
    fn register(registry: &mut Registry) -> FreshnessGauges {
        let gauges = FreshnessGauges {
            lag: Family::default(),
            watermark: Family::default(),
            runs: Family::default(),
        };
        registry.register(
            "mlsys_feature_freshness_lag_seconds",
            "Now minus the newest event time a served entity group has materialized, by group",
            gauges.lag.clone(),
        );
        registry.register(
            "mlsys_feature_watermark_seconds",
            "The newest event time a served entity group has materialized (Unix seconds), by group",
            gauges.watermark.clone(),
        );
        registry.register(
            "mlsys_feature_refreshes",
            "Runs of the feature refresh by outcome (ok, failed, skipped while a build held the lock)",
            gauges.runs.clone(),
        );
        gauges
    }
}

/// The monitors' results as `deploy` last evaluated them (lang-spec §7.7).
struct MonitorGauges {
    psi: FloatGauges,
    metric: FloatGauges,
    holds: FloatGauges,
}

impl MonitorGauges {
    fn register(registry: &mut Registry) -> MonitorGauges {
        let gauges = MonitorGauges {
            psi: FloatGauges::default(),
            metric: FloatGauges::default(),
            holds: FloatGauges::default(),
        };
        registry.register(
            "mlsys_monitor_psi",
            "PSI of an input in the latest evaluated period of a monitor's drift rule",
            gauges.psi.clone(),
        );
        registry.register(
            "mlsys_monitor_metric",
            "A monitor's metric in its latest window whose labels are final",
            gauges.metric.clone(),
        );
        registry.register(
            "mlsys_monitor_rule_holds",
            "1 when a monitor rule held in its latest evaluated period or window, else 0",
            gauges.holds.clone(),
        );
        gauges
    }
}

fn monitor_labels(monitor: &str, name: &str) -> MonitorLabels {
    MonitorLabels {
        monitor: monitor.to_string(),
        name: name.to_string(),
    }
}

type Histograms = Family<TargetLabels, Histogram, fn() -> Histogram>;

fn latency_buckets() -> Histogram {
    Histogram::new(exponential_buckets(5e-6, 2.0, 20))
}

fn size_buckets() -> Histogram {
    Histogram::new(exponential_buckets(1.0, 2.0, 14))
}

/// Every deploy metric, registered once.
pub struct DeployMetrics {
    registry: Registry,
    latency: Histograms,
    batch_rows: Histograms,
    fallbacks: Family<ReasonLabels, Counter>,
    versions: Family<RoleLabels, Gauge>,
    shadow_dropped: Family<TargetLabels, Counter>,
    overloaded: Family<TargetLabels, Counter>,
    scored_rows: Family<TargetLabels, Counter>,
    monitors: MonitorGauges,
    freshness: FreshnessGauges,
}

impl std::fmt::Debug for DeployMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeployMetrics").finish_non_exhaustive()
    }
}

impl Default for DeployMetrics {
    fn default() -> DeployMetrics {
        DeployMetrics::new()
    }
}

impl DeployMetrics {
    pub fn new() -> DeployMetrics {
        let mut registry = Registry::default();
        let latency = Histograms::new_with_constructor(latency_buckets as fn() -> Histogram);
        registry.register(
            "mlsys_score_duration_seconds",
            "Time to score a request in the server (features, model or fallback), by target",
            latency.clone(),
        );
        let batch_rows = Histograms::new_with_constructor(size_buckets as fn() -> Histogram);
        registry.register(
            "mlsys_batch_rows",
            "Rows scored together in one model call, by target",
            batch_rows.clone(),
        );
        let fallbacks = Family::<ReasonLabels, Counter>::default();
        registry.register(
            "mlsys_fallbacks",
            "Requests answered by the fallback (or refused without one), by target and reason",
            fallbacks.clone(),
        );
        let versions = Family::<RoleLabels, Gauge>::default();
        registry.register(
            "mlsys_model_version",
            "The version served, by target and role (primary, shadow); 0 when none is loaded",
            versions.clone(),
        );
        let shadow_dropped = Family::<TargetLabels, Counter>::default();
        registry.register(
            "mlsys_shadow_dropped",
            "Requests the shadow model did not score because its queue was full, by target",
            shadow_dropped.clone(),
        );
        let overloaded = Family::<TargetLabels, Counter>::default();
        registry.register(
            "mlsys_overloaded",
            "Requests refused with 503 because the target had too many in flight",
            overloaded.clone(),
        );
        let scored_rows = Family::<TargetLabels, Counter>::default();
        registry.register(
            "mlsys_scored_rows",
            "Rows answered with a score, by target",
            scored_rows.clone(),
        );
        let monitors = MonitorGauges::register(&mut registry);
        let freshness = FreshnessGauges::register(&mut registry);
        DeployMetrics {
            monitors,
            freshness,
            registry,
            latency,
            batch_rows,
            fallbacks,
            versions,
            shadow_dropped,
            overloaded,
            scored_rows,
        }
    }

    /// An input's PSI in a monitor's latest evaluated period.
    pub fn set_monitor_psi(&self, monitor: &str, input: &str, psi: f64) {
        self.monitors
            .psi
            .get_or_create(&monitor_labels(monitor, input))
            .set(psi);
    }

    /// A monitor's metric in its latest final window.
    pub fn set_monitor_metric(&self, monitor: &str, metric: &str, value: f64) {
        self.monitors
            .metric
            .get_or_create(&monitor_labels(monitor, metric))
            .set(value);
    }

    /// A served group's newest materialized event time (µs), and its lag behind `now` (µs).
    pub fn set_feature_freshness(&self, group: &str, watermark: i64, now: i64) {
        let labels = GroupLabels {
            group: group.to_string(),
        };
        let seconds = |micros: i64| micros as f64 / 1e6;
        self.freshness.watermark.get_or_create(&labels).set(seconds(watermark));
        self.freshness.lag.get_or_create(&labels).set(seconds(now - watermark));
    }

    /// One more run of the feature refresh: `ok`, `failed` or `skipped`.
    pub fn count_refresh(&self, outcome: &'static str) {
        self.freshness.runs.get_or_create(&OutcomeLabels { outcome }).inc();
    }

    /// Whether a monitor rule held in its latest evaluation.
    pub fn set_monitor_rule(&self, monitor: &str, rule: &str, holds: bool) {
        let value = if holds { 1.0 } else { 0.0 };
        self.monitors
            .holds
            .get_or_create(&monitor_labels(monitor, rule))
            .set(value);
    }

    fn target(target: &str) -> TargetLabels {
        TargetLabels {
            target: target.to_string(),
        }
    }

    pub fn observe_latency(&self, target: &str, seconds: f64) {
        self.latency.get_or_create(&Self::target(target)).observe(seconds);
    }

    pub fn observe_batch(&self, target: &str, rows: usize) {
        self.batch_rows
            .get_or_create(&Self::target(target))
            .observe(rows as f64);
    }

    pub fn count_fallback(&self, target: &str, reason: &'static str) {
        let labels = ReasonLabels {
            target: target.to_string(),
            reason,
        };
        self.fallbacks.get_or_create(&labels).inc();
    }

    pub fn set_version(&self, target: &str, role: &'static str, version: Option<u32>) {
        let labels = RoleLabels {
            target: target.to_string(),
            role,
        };
        self.versions
            .get_or_create(&labels)
            .set(i64::from(version.unwrap_or(0)));
    }

    pub fn count_shadow_dropped(&self, target: &str) {
        self.shadow_dropped.get_or_create(&Self::target(target)).inc();
    }

    pub fn count_overloaded(&self, target: &str) {
        self.overloaded.get_or_create(&Self::target(target)).inc();
    }

    pub fn count_scored(&self, target: &str, rows: usize) {
        self.scored_rows
            .get_or_create(&Self::target(target))
            .inc_by(rows as u64);
    }

    /// The OpenMetrics text of these metrics, without the final `# EOF` (the caller appends
    /// other registries' text and ends it).
    pub fn encode_body(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode_registry(&mut text, &self.registry);
        text
    }
}
