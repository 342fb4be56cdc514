//! Batching (`batching { max_size, max_wait }`): concurrent requests to one target are scored
//! together. A batch starts with the first request that arrives and closes when it holds
//! `max_size` rows or `max_wait` has passed since that request, whichever is first, so no request
//! waits longer than `max_wait` for its batch to start. It also closes as soon as no other request
//! to the target is in flight: nothing could join it, so waiting would only add latency (a lone
//! client is not slowed by the window). A batch holds requests on one model
//! version only: a request that started on another version (a hot swap between them) opens the
//! next batch. Each caller gets its own rows' scores back.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use crate::model::{LoadedModel, ScoreError};

/// Requests waiting for a batch, at most; beyond it a caller waits to enqueue (the target's
/// in-flight bound keeps that wait short).
const QUEUE: usize = 4096;

struct Job {
    model: Arc<LoadedModel>,
    inputs: Vec<f64>,
    rows: usize,
    reply: oneshot::Sender<Result<Vec<f64>, Arc<ScoreError>>>,
}

/// The handle requests submit through; the batching task ends when it is dropped.
#[derive(Debug, Clone)]
pub struct Batcher {
    sender: mpsc::Sender<Job>,
}

/// Observes each batch's row count.
pub type BatchObserver = Arc<dyn Fn(usize) + Send + Sync>;

/// How many requests to the target are in flight (each batched request is one of them).
pub type InFlight = Arc<dyn Fn() -> usize + Send + Sync>;

/// Why a batch gave no scores for a request.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    #[error(transparent)]
    Score(Arc<ScoreError>),
    #[error("the batching task stopped")]
    Stopped,
}

impl Batcher {
    /// Starts the batching task on the current runtime.
    pub fn start(max_size: u32, max_wait: Duration, observe: BatchObserver, in_flight: InFlight) -> Batcher {
        let (sender, receiver) = mpsc::channel(QUEUE);
        let max_size = usize::try_from(max_size).unwrap_or(usize::MAX).max(1);
        let limits = Limits {
            max_size,
            max_wait,
            in_flight,
        };
        tokio::spawn(run(receiver, limits, observe));
        Batcher { sender }
    }

    /// Scores `rows` rows of `inputs` with `model` in the next batch.
    pub async fn score(&self, model: Arc<LoadedModel>, inputs: Vec<f64>, rows: usize) -> Result<Vec<f64>, BatchError> {
        let (reply, answer) = oneshot::channel();
        let job = Job {
            model,
            inputs,
            rows,
            reply,
        };
        self.sender.send(job).await.map_err(|_| BatchError::Stopped)?;
        answer
            .await
            .map_err(|_| BatchError::Stopped)?
            .map_err(BatchError::Score)
    }
}

/// When a batch closes.
struct Limits {
    max_size: usize,
    max_wait: Duration,
    in_flight: InFlight,
}

async fn run(mut receiver: mpsc::Receiver<Job>, limits: Limits, observe: BatchObserver) {
    let mut carried: Option<Job> = None;
    loop {
        let first = match carried.take() {
            Some(job) => job,
            None => match receiver.recv().await {
                Some(job) => job,
                None => return,
            },
        };
        let (batch, next) = collect(&mut receiver, first, &limits).await;
        carried = next;
        observe(batch.iter().map(|job| job.rows).sum());
        score_batch(batch).await;
    }
}

/// The batch opened by `first`: jobs on the same version until `max_size` rows or `max_wait`.
/// A job that does not fit is returned to open the next batch.
async fn collect(receiver: &mut mpsc::Receiver<Job>, first: Job, limits: &Limits) -> (Vec<Job>, Option<Job>) {
    let deadline = Instant::now() + limits.max_wait;
    let mut rows = first.rows;
    let mut batch = vec![first];
    while rows < limits.max_size {
        // Requests queued here are in flight too; the others are still computing features.
        let others = (limits.in_flight)().saturating_sub(batch.len() + receiver.len());
        let job = if limits.max_wait.is_zero() || others == 0 {
            match receiver.try_recv() {
                Ok(job) => job,
                Err(_) => break,
            }
        } else {
            match tokio::time::timeout_at(deadline, receiver.recv()).await {
                Ok(Some(job)) => job,
                Ok(None) | Err(_) => break,
            }
        };
        if !Arc::ptr_eq(&job.model, &batch[0].model) || rows + job.rows > limits.max_size {
            return (batch, Some(job));
        }
        rows += job.rows;
        batch.push(job);
    }
    (batch, None)
}

/// Scores the batch's rows in one model call (ONNX Runtime off the async threads) and answers
/// each job with its own rows.
async fn score_batch(batch: Vec<Job>) {
    let model = batch[0].model.clone();
    let rows: usize = batch.iter().map(|job| job.rows).sum();
    let mut inputs = Vec::with_capacity(rows * model.features);
    for job in &batch {
        inputs.extend_from_slice(&job.inputs);
    }
    let scored = if model.is_onnx() {
        let model = model.clone();
        match tokio::task::spawn_blocking(move || model.score(&inputs, rows)).await {
            Ok(scored) => scored,
            Err(_) => return, // The scoring thread panicked: every caller sees `Stopped`.
        }
    } else {
        model.score(&inputs, rows)
    };
    match scored {
        Ok(scores) => {
            let mut offset = 0;
            for job in batch {
                let own = scores[offset..offset + job.rows].to_vec();
                offset += job.rows;
                let _ = job.reply.send(Ok(own));
            }
        }
        Err(error) => {
            let error = Arc::new(error);
            for job in batch {
                let _ = job.reply.send(Err(error.clone()));
            }
        }
    }
}
