//! The prediction log (`predictions/<target>/` in the offline store, written by
//! `mlsys_batch::prediction_log`): every scored row of every request, handed over through a
//! [`PredictionSink`] that never blocks the request path.

pub use mlsys_batch::prediction_log::{Features, PredictionRecord};
use mlsys_batch::prediction_log::{LogStats, PredictionLog};
use std::collections::BTreeMap;

/// Where records go. `append` returns at once: a sink buffers, bounded, and drops (counting)
/// rather than block or grow without limit.
pub trait PredictionSink: Send + Sync {
    fn append(&self, target: &str, records: Vec<PredictionRecord>);

    /// The sink's counters as OpenMetrics text (without `# EOF`), for `/metrics`.
    fn encode_metrics(&self) -> String {
        String::new()
    }
}

/// A counter of the logs: its name, its help, and where its value is.
type Counter = (&'static str, &'static str, fn(&LogStats) -> u64);

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

    fn encode_metrics(&self) -> String {
        let counters: [Counter; 4] = [
            (
                "mlsys_prediction_log_rows",
                "Rows committed to the prediction log",
                |stats| stats.rows_written,
            ),
            (
                "mlsys_prediction_log_dropped",
                "Records dropped because the log's buffer was full",
                |stats| stats.dropped,
            ),
            (
                "mlsys_prediction_log_write_failures",
                "Log writes that failed (their rows kept and retried)",
                |stats| stats.write_failures,
            ),
            (
                "mlsys_prediction_log_commits",
                "Commits made to the prediction log",
                |stats| stats.commits,
            ),
        ];
        let stats: Vec<(&String, LogStats)> = self.logs.iter().map(|(target, log)| (target, log.stats())).collect();
        let mut text = String::new();
        for (name, help, value) in counters {
            text.push_str(&format!("# HELP {name} {help}.\n# TYPE {name} counter\n"));
            for (target, stats) in &stats {
                text.push_str(&format!("{name}_total{{target=\"{target}\"}} {}\n", value(stats)));
            }
        }
        text
    }
}
