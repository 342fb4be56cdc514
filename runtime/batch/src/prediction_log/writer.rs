//! The prediction log's writer task: every flush interval (or on request) it appends the buffered
//! rows in one commit, retrying a failed batch, unchanged, before taking new rows.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use tokio::sync::{mpsc, oneshot};

use super::record::{self, PredictionRecord};
use super::{PredictionLogError, Shared, lock};
use crate::error::BatchError;

/// What a log's handles ask of its writer; each is answered with the flush's outcome.
pub(super) enum Command {
    Flush(oneshot::Sender<Result<(), PredictionLogError>>),
    /// Flush, then stop.
    Close(oneshot::Sender<Result<(), PredictionLogError>>),
}

/// One flush's rows, and the sequence number of its application transaction.
struct Batch {
    sequence: i64,
    rows: Vec<PredictionRecord>,
}

pub(super) struct Writer {
    shared: Arc<Shared>,
    target: String,
    /// This log's part of its commits' application transaction id: unique per log started.
    id: String,
    /// The sequence number of the last batch taken.
    sequence: i64,
    /// A batch whose write failed, retried before new rows.
    failed: Option<Batch>,
    /// Parquet bytes a write holds before finishing its files (the store's write buffer).
    write_buffer: usize,
}

impl Writer {
    pub(super) fn new(shared: Arc<Shared>, target: &str, write_buffer: usize) -> Writer {
        Writer {
            shared,
            target: target.to_string(),
            id: log_id(),
            sequence: 0,
            failed: None,
            write_buffer,
        }
    }

    /// Flushes every `interval` and on each command, until a close or until every handle is gone.
    pub(super) async fn run(mut self, mut commands: mpsc::Receiver<Command>, interval: Duration) {
        // The first flush is one interval after the start, like every later one.
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticks.tick() => {
                    // Counted in `write_failures`; the rows stay for the next tick.
                    let _ = self.flush().await;
                }
                command = commands.recv() => match command {
                    Some(Command::Flush(reply)) => {
                        let _ = reply.send(self.flush().await);
                    }
                    Some(Command::Close(reply)) => {
                        let _ = reply.send(self.flush().await);
                        return;
                    }
                    None => {
                        let _ = self.flush().await;
                        return;
                    }
                },
            }
        }
    }

    /// Writes the failed batch, if any, then everything buffered, each in one commit.
    async fn flush(&mut self) -> Result<(), PredictionLogError> {
        if let Some(batch) = self.failed.take() {
            self.commit(batch).await?;
        }
        let rows = {
            let mut buffer = lock(&self.shared.buffer);
            let rows = std::mem::take(&mut buffer.rows);
            buffer.held += rows.len();
            rows
        };
        if rows.is_empty() {
            return Ok(());
        }
        self.sequence += 1;
        let batch = Batch {
            sequence: self.sequence,
            rows,
        };
        self.commit(batch).await
    }

    /// Appends `batch`; on failure keeps it (still counted as held) for the next flush.
    async fn commit(&mut self, batch: Batch) -> Result<(), PredictionLogError> {
        match self.write(&batch).await {
            Ok(()) => {
                let rows = batch.rows.len();
                drop(batch);
                let mut buffer = lock(&self.shared.buffer);
                buffer.held = buffer.held.saturating_sub(rows);
                drop(buffer);
                self.shared.rows_written.fetch_add(rows as u64, Ordering::Relaxed);
                self.shared.commits.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Err(source) => {
                self.shared.write_failures.fetch_add(1, Ordering::Relaxed);
                let rows = batch.rows.len();
                self.failed = Some(batch);
                Err(PredictionLogError::Write {
                    table: self.shared.table.name.clone(),
                    rows,
                    source: Box::new(source),
                })
            }
        }
    }

    async fn write(&self, batch: &Batch) -> Result<(), BatchError> {
        let rows = record::batch(&self.target, &batch.rows)?;
        let writer = self
            .shared
            .table
            .append_writer(rows.schema(), &self.id, batch.sequence, self.write_buffer)
            .await?;
        let sent = writer.sink().send(rows).await;
        // `AlreadyCommitted`: an earlier attempt at this batch landed after all.
        writer.finish(sent).await?;
        Ok(())
    }
}

/// A log id no other log of any process uses: this process, the time it started the log, and a
/// counter of the logs it started.
fn log_id() -> String {
    static STARTED: AtomicU64 = AtomicU64::new(0);
    let started = STARTED.fetch_add(1, Ordering::Relaxed);
    let now = record::timestamp_micros(SystemTime::now());
    format!("{}-{now}-{started}", std::process::id())
}
