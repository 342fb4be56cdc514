//! Shadow scoring (`shadow = model@stage`): after a request is answered, its rows go to a bounded
//! queue; one task scores them with the target's shadow version and logs both scores in one
//! record. A full queue drops the request's shadow score (counted in `mlsys_shadow_dropped`); the
//! primary answer and its log record are never delayed by the shadow.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use mlsys_kernels::Value;
use mlsys_serve::FeatureServer;
use tokio::sync::mpsc;

use crate::log::{PredictionRecord, PredictionSink};
use crate::target::Target;

/// A request's rows to score with the shadow version.
pub struct ShadowJob {
    pub target: Arc<Target>,
    /// The request's records, primary score filled in.
    pub records: Vec<PredictionRecord>,
    /// The request's fields (`Target::fields`).
    pub columns: Vec<Vec<Value>>,
    pub rows: usize,
    pub now: i64,
}

/// The queue in front of the shadow task.
#[derive(Debug)]
pub struct ShadowQueue {
    sender: mpsc::Sender<ShadowJob>,
    /// Jobs queued and not yet logged.
    pending: Arc<AtomicUsize>,
}

impl ShadowQueue {
    /// Starts the shadow task on the current runtime.
    pub fn start(capacity: usize, features: Arc<FeatureServer>, log: Option<Arc<dyn PredictionSink>>) -> ShadowQueue {
        let (sender, receiver) = mpsc::channel(capacity.max(1));
        let pending = Arc::new(AtomicUsize::new(0));
        tokio::spawn(run(receiver, features, log, pending.clone()));
        ShadowQueue { sender, pending }
    }

    /// Queues a job, or gives it back when the queue is full.
    pub fn submit(&self, job: ShadowJob) -> Result<(), Box<ShadowJob>> {
        self.pending.fetch_add(1, Ordering::SeqCst);
        self.sender.try_send(job).map_err(|error| {
            self.pending.fetch_sub(1, Ordering::SeqCst);
            Box::new(error.into_inner())
        })
    }

    /// Waits until every queued job is logged (after the server stopped taking requests), at
    /// most `limit`.
    pub async fn drain(&self, limit: std::time::Duration) {
        let deadline = tokio::time::Instant::now() + limit;
        while self.pending.load(Ordering::SeqCst) > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }
}

async fn run(
    mut receiver: mpsc::Receiver<ShadowJob>,
    features: Arc<FeatureServer>,
    log: Option<Arc<dyn PredictionSink>>,
    pending: Arc<AtomicUsize>,
) {
    while let Some(mut job) = receiver.recv().await {
        if let Some(scores) = shadow_scores(&features, &job).await {
            let version = job.target.shadow_slot.current().map(|model| i64::from(model.version));
            for (record, score) in job.records.iter_mut().zip(scores) {
                record.shadow_version = version;
                record.shadow_score = Some(score);
            }
        }
        if let Some(log) = &log {
            log.append(&job.target.name, job.records);
        }
        pending.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The shadow version's scores of the job's rows; `None` when there is no shadow version or it
/// cannot score them (the record then carries no shadow score).
async fn shadow_scores(features: &FeatureServer, job: &ShadowJob) -> Option<Vec<f64>> {
    let target = &job.target;
    let model = target.shadow_slot.current()?;
    let inputs = if target.shadow_inputs == target.inputs {
        let mut inputs = Vec::with_capacity(job.rows * target.inputs.len());
        for record in &job.records {
            if record.features.values().len() != target.inputs.len() {
                return None;
            }
            inputs.extend_from_slice(record.features.values());
        }
        inputs
    } else {
        let (name, _) = target.shadow.as_ref()?;
        let set = features.service(name).ok()?;
        let columns: Vec<Vec<Value>> = set
            .fields
            .iter()
            .map(|field| {
                let index = target.fields.iter().position(|own| own.name == field.name)?;
                job.columns.get(index).cloned()
            })
            .collect::<Option<_>>()?;
        features.service_inputs(&set, &columns, job.rows, job.now).await.ok()?
    };
    let rows = job.rows;
    if model.is_onnx() {
        tokio::task::spawn_blocking(move || model.score(&inputs, rows).ok())
            .await
            .ok()
            .flatten()
    } else {
        model.score(&inputs, rows).ok()
    }
}
