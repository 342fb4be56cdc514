//! The server's Prometheus metrics, in base units with low-cardinality labels: request and store
//! read latencies (histograms with sub-millisecond buckets), errors by kind, rows served.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Latency buckets from 5 µs doubling to about 2.6 s: a single-row request takes tens of
/// microseconds in the server, a cold compile or a slow store tens of milliseconds.
fn latency_buckets() -> Histogram {
    Histogram::new(exponential_buckets(5e-6, 2.0, 20))
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EndpointLabels {
    endpoint: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorLabels {
    kind: &'static str,
}

/// Every metric the server exports, registered once.
pub struct Metrics {
    registry: Registry,
    request_duration: Family<EndpointLabels, Histogram, fn() -> Histogram>,
    store_read_duration: Histogram,
    errors: Family<ErrorLabels, Counter>,
    rows: Counter,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::default();
        let request_duration = Family::<EndpointLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            latency_buckets as fn() -> Histogram,
        );
        registry.register(
            "mlsys_request_duration_seconds",
            "Time to answer an HTTP request, by endpoint",
            request_duration.clone(),
        );
        let store_read_duration = latency_buckets();
        registry.register(
            "mlsys_store_read_duration_seconds",
            "Time of one batched online store read (one table, all rows of a request)",
            store_read_duration.clone(),
        );
        let errors = Family::<ErrorLabels, Counter>::default();
        registry.register(
            "mlsys_errors",
            "Requests answered with an error, by kind",
            errors.clone(),
        );
        let rows = Counter::default();
        registry.register("mlsys_rows", "Entity rows answered with feature values", rows.clone());
        Metrics {
            registry,
            request_duration,
            store_read_duration,
            errors,
            rows,
        }
    }

    /// Records one request's latency under its endpoint label ([`endpoint_label`]).
    pub fn observe_request(&self, endpoint: &'static str, seconds: f64) {
        self.request_duration
            .get_or_create(&EndpointLabels { endpoint })
            .observe(seconds);
    }

    pub fn observe_store_read(&self, seconds: f64) {
        self.store_read_duration.observe(seconds);
    }

    pub fn count_error(&self, kind: &'static str) {
        self.errors.get_or_create(&ErrorLabels { kind }).inc();
    }

    pub fn count_rows(&self, rows: u64) {
        self.rows.inc_by(rows);
    }

    /// The OpenMetrics text of every metric without the final `# EOF`, for a server that
    /// exports other registries' metrics after these (`mlsysc deploy`).
    pub fn encode_body(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode_registry(&mut text, &self.registry);
        text
    }

    /// The OpenMetrics text exposition of every metric.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

/// The `endpoint` label of a request path: a fixed set, so a client probing random paths cannot
/// grow the label set.
pub fn endpoint_label(path: &str) -> &'static str {
    match path {
        "/get-online-features" => "/get-online-features",
        "/health" => "/health",
        "/ready" => "/ready",
        "/metrics" => "/metrics",
        _ => "other",
    }
}
