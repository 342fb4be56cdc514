//! The prediction log (`predictions/<target>/` in the offline store, written by
//! `mlsys_batch::prediction_log`): every scored row of every request, handed over through a
//! [`PredictionSink`] that never blocks the request path.

use mlsys_batch::prediction_log::PredictionLog;
pub use mlsys_batch::prediction_log::{Features, PredictionRecord};
use std::collections::BTreeMap;

/// Where records go. `append` returns at once: a sink buffers, bounded, and drops (counting)
/// rather than block or grow without limit.
pub trait PredictionSink: Send + Sync {
    fn append(&self, target: &str, records: Vec<PredictionRecord>);
}

/// One prediction log per target.
#[derive(Clone, Default)]
pub struct TargetLogs {
    pub logs: BTreeMap<String, PredictionLog>,
}

impl PredictionSink for TargetLogs {
    fn append(&self, target: &str, records: Vec<PredictionRecord>) {
        if let Some(log) = self.logs.get(target) {
            for record in records {
                // A full buffer drops the record; the log counts it.
                let _ = log.append(record);
            }
        }
    }
}
