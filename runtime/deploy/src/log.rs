//! What the deploy server hands the prediction log: one [`PredictionRecord`] per scored row,
//! through a [`PredictionSink`] that must never block the request path.

use std::sync::Arc;

use crate::error::Reason;

/// One scored row of one request.
#[derive(Clone, Debug, PartialEq)]
pub struct PredictionRecord {
    /// From `X-Request-Id`, or generated.
    pub request_id: String,
    /// When it was scored: microseconds since the Unix epoch, UTC.
    pub time: i64,
    pub target: String,
    pub model: String,
    /// `None` when the fallback answered.
    pub version: Option<u32>,
    /// The model's input names (`group@vN.feature`), shared by the target's records.
    pub feature_names: Arc<Vec<String>>,
    /// The model's inputs as it read them (NaN = missing); `None` when they were not computed
    /// (the fallback answered before or instead of the features).
    pub features: Option<Vec<f64>>,
    pub score: f64,
    pub shadow_version: Option<u32>,
    pub shadow_score: Option<f64>,
    pub fallback: Option<Reason>,
    pub latency_seconds: f64,
}

/// Where records go. `append` must return at once: a sink buffers, bounded, and drops (counting)
/// rather than block or grow without limit.
pub trait PredictionSink: Send + Sync {
    fn append(&self, records: Vec<PredictionRecord>);
}
