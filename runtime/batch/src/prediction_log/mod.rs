//! The prediction log: every scored row of a realtime serve target, appended to the offline
//! store's Delta table `predictions/<target>/` (partitioned by `dt`, the UTC day of the row's
//! `time`), the monitoring layer's input.
//!
//! [`PredictionLog::append`] is what the serving path calls: it never awaits, and takes a lock
//! held only to push a record (the writer holds it only to swap the buffer out). Records go into a
//! buffer of at most [`LogOptions::max_buffered_rows`] rows (rows being written, or kept after a
//! failed write, count against it); when it is full the record is dropped and counted
//! ([`LogStats::dropped`]), so memory stays bounded by that many records (and, while a write
//! runs, its Arrow and Parquet copies of them) whatever the table does. A background task appends everything buffered in one Delta commit every
//! [`LogOptions::flush_interval`] (through [`crate::store::TableLocation::append_writer`]).
//!
//! A failed write (a full disk, an unreachable store) keeps its rows and is retried, with the
//! same rows, at the next interval, before the rows buffered since; it is counted
//! ([`LogStats::write_failures`]) and reported by [`PredictionLog::flush`]. Each commit carries
//! the application transaction `(mlsys:predictions/<target>:<log id>, n)` for its `n`-th batch, so
//! a retried batch whose earlier commit did land is not added twice.
//!
//! **Loss bound.** A row is durable once the commit of the flush that took it completed;
//! [`LogStats::rows_written`] counts those rows, which are always the first ones appended (minus
//! the dropped). A process killed (SIGKILL, a crash) loses only the rows no completed commit holds:
//! those appended after the last completed flush took its rows — at most one flush interval's
//! rows plus those appended while the write in progress ran (milliseconds on a local disk), or,
//! while writes are failing, the rows kept for the retry (at most `max_buffered_rows`). The table
//! stays valid: a commit is one atomic log entry, and the Parquet files of an interrupted write are
//! referenced by no commit (they stay, unread, in the table's folder). [`PredictionLog::close`]
//! (on SIGTERM, once the in-flight requests drained) writes everything buffered.
//!
//! **Several writers.** Appends never conflict: several logs on one table, in one process or in
//! several, each commit their own batches (Delta's optimistic commit retries on the next version
//! when another writer took one), and every row lands exactly once.
//!
//! Every commit adds a file per day it touches: a long-running log makes many small files, for a
//! reader to compact.

mod record;
mod writer;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

pub use record::{FallbackReason, Features, PredictionRecord, label_key, schema, timestamp_micros};

use crate::error::BatchError;
use crate::store::{OfflineStore, TableLocation};

/// How a prediction log buffers and writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogOptions {
    /// How often the buffered rows are appended (one commit each).
    pub flush_interval: Duration,
    /// The most rows held in memory, waiting or being written; beyond it appends are dropped.
    pub max_buffered_rows: usize,
}

impl Default for LogOptions {
    fn default() -> Self {
        LogOptions {
            flush_interval: Duration::from_secs(1),
            max_buffered_rows: 100_000,
        }
    }
}

/// What a prediction log did so far (for `/metrics`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LogStats {
    /// Rows committed to the table.
    pub rows_written: u64,
    /// Commits made.
    pub commits: u64,
    /// Rows dropped because the buffer was full (or the log closed).
    pub dropped: u64,
    /// Writes that failed (their rows kept and retried).
    pub write_failures: u64,
    /// Rows held now: buffered, or written and not yet committed.
    pub buffered: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum PredictionLogError {
    #[error("a prediction log needs a flush interval above zero and room for at least one row")]
    InvalidOptions,
    #[error("`{target}` cannot name a prediction log: a serve target's name is letters, digits and `_`")]
    InvalidTarget { target: String },
    #[error("a prediction log record has {names} feature names and {values} values")]
    FeatureCount { names: usize, values: usize },
    #[error("prediction log `{table}` cannot be opened")]
    Open {
        table: String,
        #[source]
        source: Box<BatchError>,
    },
    #[error("prediction log `{table}`: {rows} rows could not be written (they are kept and retried)")]
    Write {
        table: String,
        rows: usize,
        #[source]
        source: Box<BatchError>,
    },
    #[error("prediction log `{table}` is closed")]
    Closed { table: String },
    #[error("the writer of prediction log `{table}` stopped")]
    WriterStopped {
        table: String,
        #[source]
        source: Option<tokio::task::JoinError>,
    },
}

/// A serve target's prediction log. Clones share the log; it writes until [`PredictionLog::close`]
/// or until every clone is dropped (a last flush, unawaited).
#[derive(Clone)]
pub struct PredictionLog {
    shared: Arc<Shared>,
    commands: tokio::sync::mpsc::Sender<writer::Command>,
}

/// What the log's handles and its writer task share.
struct Shared {
    table: TableLocation,
    max_buffered_rows: usize,
    buffer: Mutex<Buffer>,
    rows_written: AtomicU64,
    commits: AtomicU64,
    dropped: AtomicU64,
    write_failures: AtomicU64,
    /// The writer task, taken by the first `close`.
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
    closed: AtomicBool,
}

/// The rows waiting for the next flush, and how many rows the writer holds (being written, or
/// kept after a failed write).
#[derive(Default)]
struct Buffer {
    rows: Vec<PredictionRecord>,
    held: usize,
    closed: bool,
}

impl PredictionLog {
    /// Starts the prediction log of serve target `target` in `store` (its writer task runs on the
    /// current tokio runtime). An existing table must have the log's columns ([`schema`]); a
    /// missing one is created by the first write.
    pub async fn start(
        store: &OfflineStore,
        target: &str,
        options: LogOptions,
    ) -> Result<PredictionLog, PredictionLogError> {
        if options.flush_interval.is_zero() || options.max_buffered_rows == 0 {
            return Err(PredictionLogError::InvalidOptions);
        }
        let valid_name = |character: char| character.is_ascii_alphanumeric() || character == '_';
        if target.is_empty() || !target.chars().all(valid_name) {
            return Err(PredictionLogError::InvalidTarget {
                target: target.to_string(),
            });
        }
        let table = store.predictions(target);
        table
            .expect_columns(&schema())
            .await
            .map_err(|source| PredictionLogError::Open {
                table: table.name.clone(),
                source: Box::new(source),
            })?;
        let shared = Arc::new(Shared {
            table: table.clone(),
            max_buffered_rows: options.max_buffered_rows,
            buffer: Mutex::new(Buffer::default()),
            rows_written: AtomicU64::new(0),
            commits: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            write_failures: AtomicU64::new(0),
            task: Mutex::new(None),
            closed: AtomicBool::new(false),
        });
        let (commands, receiver) = tokio::sync::mpsc::channel(COMMANDS);
        let writer = writer::Writer::new(shared.clone(), target, store.write_buffer());
        let task = tokio::spawn(writer.run(receiver, options.flush_interval));
        *lock(&shared.task) = Some(task);
        Ok(PredictionLog { shared, commands })
    }

    /// Buffers `record` for the next flush, without waiting; `false` when it was dropped (the
    /// buffer is full, or the log closed) and counted in [`LogStats::dropped`].
    pub fn append(&self, record: PredictionRecord) -> bool {
        let mut buffer = lock(&self.shared.buffer);
        if buffer.closed || buffer.rows.len() + buffer.held >= self.shared.max_buffered_rows {
            drop(buffer);
            self.shared.dropped.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        buffer.rows.push(record);
        true
    }

    /// Rows dropped so far.
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    pub fn stats(&self) -> LogStats {
        let buffered = {
            let buffer = lock(&self.shared.buffer);
            buffer.rows.len() + buffer.held
        };
        LogStats {
            rows_written: self.shared.rows_written.load(Ordering::Relaxed),
            commits: self.shared.commits.load(Ordering::Relaxed),
            dropped: self.dropped(),
            write_failures: self.shared.write_failures.load(Ordering::Relaxed),
            buffered: buffered as u64,
        }
    }

    /// The log's table.
    pub fn table(&self) -> &TableLocation {
        &self.shared.table
    }

    /// Writes everything appended before the call now (without waiting for the interval);
    /// returns once it is committed, or with the write's error (the rows are kept and retried).
    pub async fn flush(&self) -> Result<(), PredictionLogError> {
        if self.shared.closed.load(Ordering::SeqCst) {
            return Err(PredictionLogError::Closed {
                table: self.shared.table.name.clone(),
            });
        }
        self.request(writer::Command::Flush).await
    }

    /// Stops accepting rows, writes everything buffered and stops the writer; returns once it has
    /// (with the last write's error, if it failed: those rows are lost). Later calls, and calls
    /// on clones, return at once.
    pub async fn close(&self) -> Result<(), PredictionLogError> {
        lock(&self.shared.buffer).closed = true;
        if self.shared.closed.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        let written = self.request(writer::Command::Close).await;
        let task = lock(&self.shared.task).take();
        if let Some(task) = task {
            task.await.map_err(|error| PredictionLogError::WriterStopped {
                table: self.shared.table.name.clone(),
                source: Some(error),
            })?;
        }
        written
    }

    /// Sends a command to the writer and waits for its answer.
    async fn request(
        &self,
        command: fn(tokio::sync::oneshot::Sender<Result<(), PredictionLogError>>) -> writer::Command,
    ) -> Result<(), PredictionLogError> {
        let stopped = || PredictionLogError::WriterStopped {
            table: self.shared.table.name.clone(),
            source: None,
        };
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.commands.send(command(reply)).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

/// Flush and close requests waiting for the writer.
const COMMANDS: usize = 16;

/// The buffer's lock: holders only move rows and counts, so a poisoned lock's data is whole.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
