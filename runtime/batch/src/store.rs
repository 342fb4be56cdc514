//! The offline store: where each zone's Delta tables live, and the two operations every stage
//! needs — replace a set of date partitions in one atomic commit, and read a table back.
//!
//! Layout under the store root (default `.mlsys/offline/`):
//!
//! ```text
//! processed/<source>/            typed, validated rows, partitioned by input day `dt`
//! quarantine/<source>/           rejected rows as text, with the reason, file and row, by `dt`
//! unique/<source>/               every `unique(...)` value's occurrences (event time, file, row), by `dt`
//! features/<group>/v<N>/         feature values, partitioned by the day they become valid
//! training/<model>/<id>/         point-in-time training sets (snapshot/, holdout/, manifest.json)
//! ```

use std::path::{Path, PathBuf};
use std::sync::Arc;

use std::collections::BTreeSet;

use datafusion::arrow::array::{RecordBatch, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::catalog::TableProvider;
use deltalake::kernel::engine::arrow_conversion::{TryIntoArrow, TryIntoKernel};
use deltalake::kernel::transaction::{CommitBuilder, CommitProperties};
use deltalake::kernel::{Action, Add, StructType, Transaction};
use deltalake::parquet::file::properties::WriterProperties;
use deltalake::protocol::{DeltaOperation, SaveMode};
use deltalake::writer::{DeltaWriter, RecordBatchWriter};
use deltalake::{DeltaTable, DeltaTableError};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::error::BatchError;

/// The partition column of every offline table: a `YYYY-MM-DD` string.
pub const DATE_PARTITION: &str = "dt";

/// The default memory budget of the batch engine's queries; sorts and aggregations spill to disk
/// (under `<store>/_spill`) beyond it.
pub const DEFAULT_MEMORY_LIMIT: usize = 4 << 30;

/// The memory budget per target partition below which a session runs fewer partitions than cores.
const MEMORY_PER_PARTITION: usize = 256 << 20;

#[derive(Clone, Debug)]
pub struct OfflineStore {
    root: PathBuf,
    memory_limit: usize,
}

/// One Delta table of the store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableLocation {
    /// Path relative to the store root, e.g. `features/user_activity/v1`; also the table's id in
    /// commit metadata.
    pub name: String,
    pub path: PathBuf,
}

impl OfflineStore {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        OfflineStore {
            root: root.into(),
            memory_limit: DEFAULT_MEMORY_LIMIT,
        }
    }

    /// The memory budget of queries over this store, in bytes.
    pub fn with_memory_limit(mut self, bytes: usize) -> Self {
        self.memory_limit = bytes;
        self
    }

    /// A DataFusion session for querying the store: one target partition per core, a fair spilling
    /// memory pool of the store's budget, spill files under `<store>/_spill`.
    pub fn session(&self) -> Result<datafusion::prelude::SessionContext, BatchError> {
        use datafusion::execution::memory_pool::FairSpillPool;
        use datafusion::execution::runtime_env::RuntimeEnvBuilder;
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        let spill = self.root.join("_spill");
        std::fs::create_dir_all(&spill).map_err(|error| BatchError::io(&spill, error))?;
        let runtime = RuntimeEnvBuilder::new()
            .with_memory_pool(Arc::new(FairSpillPool::new(self.memory_limit)))
            .with_temp_file_path(spill)
            .build_arc()?;
        // Spilling operators running at once share the pool; under a small budget fewer of them,
        // each with a share that still holds its input batches and merge buffers, finish where
        // more would each run out.
        let partitions = cores.min((self.memory_limit / MEMORY_PER_PARTITION).max(1));
        let mut config = datafusion::prelude::SessionConfig::new().with_target_partitions(partitions);
        // Keep the memory a sort holds back for merging spilled runs small next to the budget.
        config.options_mut().execution.sort_spill_reservation_bytes = (self.memory_limit / 16).max(64 << 10);
        Ok(datafusion::prelude::SessionContext::new_with_config_rt(config, runtime))
    }

    /// The memory budget of queries over this store, in bytes.
    pub fn memory_limit(&self) -> usize {
        self.memory_limit
    }

    /// How many bytes of Parquet a table write holds before finishing its files: an eighth of the
    /// memory budget, within [8 MiB, 256 MiB].
    pub fn write_buffer(&self) -> usize {
        (self.memory_limit / 8).clamp(MIN_WRITE_BUFFER, MAX_WRITE_BUFFER)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn table(&self, name: String) -> TableLocation {
        TableLocation {
            path: self.root.join(&name),
            name,
        }
    }

    pub fn processed(&self, source: &str) -> TableLocation {
        self.table(format!("processed/{source}"))
    }

    pub fn quarantine(&self, source: &str) -> TableLocation {
        self.table(format!("quarantine/{source}"))
    }

    /// The occurrences of a source's `unique(...)` values, by `dt` (ingestion's index).
    pub fn unique_index(&self, source: &str) -> TableLocation {
        self.table(format!("unique/{source}"))
    }

    pub fn features(&self, group: &str, version: u32) -> TableLocation {
        self.table(format!("features/{group}/v{version}"))
    }

    pub fn training(&self, model: &str, id: &str, split: &str) -> TableLocation {
        self.table(format!("training/{model}/{id}/{split}"))
    }

    /// Where build state (input fingerprints, run counter) is kept.
    pub fn state_file(&self) -> PathBuf {
        self.root.join("_state").join("build.json")
    }
}

impl TableLocation {
    pub fn url(&self) -> Result<url::Url, BatchError> {
        std::fs::create_dir_all(&self.path).map_err(|error| BatchError::io(&self.path, error))?;
        let absolute = self
            .path
            .canonicalize()
            .map_err(|error| BatchError::io(&self.path, error))?;
        url::Url::from_directory_path(&absolute)
            .map_err(|()| BatchError::Invalid(format!("{} is not a usable table path", absolute.display())))
    }

    /// Whether a Delta table exists here.
    pub fn exists(&self) -> bool {
        self.path.join("_delta_log").is_dir()
    }

    pub async fn open(&self) -> Result<DeltaTable, BatchError> {
        let table = DeltaTable::try_from_url(self.url()?).await?;
        Ok(table)
    }

    /// The table as a DataFusion provider, optionally with a column holding each row's file.
    pub async fn provider(&self) -> Result<Arc<dyn TableProvider>, BatchError> {
        let table = self.open().await?;
        let provider = table.table_provider().await?;
        Ok(provider)
    }

    /// The bytes of the table's current files, only of the `dt` partitions in `[low, high]` when
    /// given; 0 for no table.
    pub async fn bytes_in(&self, days: Option<(&str, &str)>) -> Result<u64, BatchError> {
        if !self.exists() {
            return Ok(0);
        }
        let table = self.open().await?;
        let mut bytes = 0u64;
        for file in table.snapshot()?.log_data().iter() {
            let counted = match (days, file_date(&file)) {
                (None, _) => true,
                (Some((low, high)), Some(date)) => low <= date.as_str() && date.as_str() <= high,
                (Some(_), None) => true,
            };
            if counted {
                bytes = bytes.saturating_add(u64::try_from(file.size()).unwrap_or(0));
            }
        }
        Ok(bytes)
    }

    /// Starts a write that replaces the partitions `replace` names with the rows sent to its
    /// [`Sink`], and commits them in one commit when [`TableWriter::finish`] is given the
    /// producer's success. A failed producer, a dropped writer or a killed process commits
    /// nothing (files already written stay unreferenced by the log).
    ///
    /// Rows are encoded into Parquet files as they come, by one encoder per core (fewer under a
    /// small buffer) taking batches in turn; whenever an encoder's open files hold its share of
    /// `buffer` bytes, they are finished and a new set is started, so a write holds about
    /// `buffer` however many rows and partitions it writes. The commit adds every file written and removes every file of the
    /// replaced partitions.
    ///
    /// The commit carries an application transaction `(table name, run)`: if this run already
    /// committed to the table (a retried step), the writer discards what it is sent.
    pub async fn writer(
        &self,
        schema: SchemaRef,
        replace: Replace<'_>,
        run: i64,
        buffer: usize,
    ) -> Result<TableWriter, BatchError> {
        let url = self.url()?;
        let table = DeltaTable::try_from_url(url.clone()).await?;
        let app_id = format!("mlsys:{}", self.name);
        let exists = self.exists();
        if exists {
            let committed = table
                .snapshot()
                .map_err(BatchError::from)?
                .transaction_version(table.log_store().as_ref(), &app_id)
                .await?;
            if committed.is_some_and(|version| version >= run) {
                return Ok(TableWriter::discarding());
            }
        }
        // One encoder per core, each with its own open files, so a stage's rows are encoded in
        // parallel; but each keeps at least ENCODER_BUFFER, since a smaller share would only make
        // more and smaller files (every finished set has a file per date partition touched).
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        let encoders = cores.min(buffer / ENCODER_BUFFER).max(1);
        // A new table is created when its rows are committed, with the columns they have in Delta
        // (no unsigned integers).
        let new_table = if exists {
            None
        } else {
            let columns: StructType = schema.as_ref().try_into_kernel()?;
            let arrow: deltalake::arrow::datatypes::Schema = (&columns).try_into_arrow()?;
            Some(Arc::new(arrow))
        };
        let mut writers = Vec::with_capacity(encoders);
        for _ in 0..encoders {
            let writer = match &new_table {
                None => RecordBatchWriter::for_table(&table)?,
                Some(arrow) => RecordBatchWriter::try_new(
                    url.as_str(),
                    arrow.clone(),
                    Some(vec![DATE_PARTITION.to_string()]),
                    None,
                )?,
            };
            writers.push(writer.with_writer_properties(writer_properties()));
        }
        let replaced = match replace {
            Replace::All => None,
            Replace::Dates(dates) => Some(dates.iter().cloned().collect::<BTreeSet<String>>()),
        };
        let (sender, receiver) = tokio::sync::mpsc::channel(IN_FLIGHT_BATCHES);
        let write = Write {
            table,
            exists,
            app_id,
            run,
            replaced,
            buffer: (buffer / encoders).max(1),
        };
        let task = tokio::spawn(write.run(writers, receiver));
        Ok(TableWriter {
            sink: Sink {
                sender: Some(sender),
                rows: Arc::new(AtomicU64::new(0)),
                writer_stopped: Arc::new(AtomicBool::new(false)),
            },
            task: Some(task),
        })
    }
}

/// The `dt` partition a table file belongs to.
fn file_date(file: &deltalake::kernel::LogicalFileView) -> Option<String> {
    file.partition_values_map().remove(DATE_PARTITION).flatten()
}

/// The smallest share of a write buffer for which a write adds an encoder.
const ENCODER_BUFFER: usize = 32 << 20;

/// The smallest write buffer of a store: below it, files would be too small to read well.
const MIN_WRITE_BUFFER: usize = 8 << 20;

/// The largest write buffer: files of a few hundred MiB read well; more buys nothing.
const MAX_WRITE_BUFFER: usize = 256 << 20;

/// The encoded size at which a table file's row group is closed.
const ROW_GROUP_BYTES: usize = 8 << 20;

/// Parquet settings of every table file: snappy, row groups of at most [`ROW_GROUP_BYTES`].
fn writer_properties() -> WriterProperties {
    WriterProperties::builder()
        .set_compression(deltalake::parquet::basic::Compression::SNAPPY)
        .set_max_row_group_bytes(Some(ROW_GROUP_BYTES))
        .build()
}

/// One encoder of a table write: encodes the batches it is given into its own open files,
/// finishing them whenever they hold `buffer` bytes; returns the files written once its channel
/// closes.
async fn encode(
    mut writer: RecordBatchWriter,
    mut batches: tokio::sync::mpsc::Receiver<RecordBatch>,
    buffer: usize,
) -> Result<Vec<Add>, BatchError> {
    let mut adds = Vec::new();
    let encoded: Result<(), BatchError> = async {
        while let Some(batch) = batches.recv().await {
            writer.write(batch).await?;
            if writer.buffer_len() >= buffer {
                adds.extend(writer.flush().await?);
            }
        }
        adds.extend(writer.flush().await?);
        Ok(())
    }
    .await;
    match encoded {
        Ok(()) => Ok(adds),
        Err(error) => {
            writer.reset();
            Err(error)
        }
    }
}

/// `batch` with the table's column types (Delta has no unsigned integers: `_row` is stored as a
/// long), columns in table order.
fn conform(batch: RecordBatch, table: &SchemaRef) -> Result<RecordBatch, BatchError> {
    if batch.schema().fields() == table.fields() {
        return Ok(batch);
    }
    let mut columns = Vec::with_capacity(table.fields().len());
    for field in table.fields() {
        let column = batch
            .column_by_name(field.name())
            .ok_or_else(|| BatchError::Invalid(format!("rows without the table's column `{}`", field.name())))?;
        columns.push(if column.data_type() == field.data_type() {
            column.clone()
        } else {
            cast(column, field.data_type())?
        });
    }
    Ok(RecordBatch::try_new(table.clone(), columns)?)
}

/// A table write's own task: encodes what the channel brings, then commits.
struct Write {
    table: DeltaTable,
    /// Whether the table existed when the write started (else the commit creates it).
    exists: bool,
    app_id: String,
    run: i64,
    /// The replaced `dt` partitions; `None` replaces the whole table.
    replaced: Option<BTreeSet<String>>,
    buffer: usize,
}

impl Write {
    async fn run(
        self,
        writers: Vec<RecordBatchWriter>,
        mut receiver: tokio::sync::mpsc::Receiver<Item>,
    ) -> Result<(), BatchError> {
        let schema = writers
            .first()
            .map(RecordBatchWriter::arrow_schema)
            .ok_or_else(|| BatchError::Invalid("a table write without an encoder".to_string()))?;
        let mut encoders = Vec::with_capacity(writers.len());
        for writer in writers {
            let (sender, batches) = tokio::sync::mpsc::channel(IN_FLIGHT_BATCHES);
            encoders.push((sender, tokio::spawn(encode(writer, batches, self.buffer))));
        }
        // Batches go to the encoders in turn; a closed encoder channel means that encoder failed.
        let mut next = 0;
        let mut last_date: Option<String> = None;
        let dispatched: Result<(), BatchError> = async {
            loop {
                match receiver.recv().await {
                    Some(Item::Rows(batch)) => {
                        self.check_partitions(&batch, &mut last_date)?;
                        let batch = conform(batch, &schema)?;
                        let (sender, _) = &encoders[next];
                        next = (next + 1) % encoders.len();
                        if sender.send(batch).await.is_err() {
                            return Err(BatchError::Invalid("a table encoder stopped".to_string()));
                        }
                    }
                    Some(Item::End) => return Ok(()),
                    None => {
                        return Err(BatchError::Invalid(
                            "the rows of a table write ended before their producer finished".to_string(),
                        ));
                    }
                }
            }
        }
        .await;
        // Every encoder finishes its files (closing its channel ends its rows); on any failure the
        // encoders' own errors come first, as the cause.
        let mut adds = Vec::new();
        let mut failure = None;
        for (sender, encoder) in encoders {
            drop(sender);
            if dispatched.is_err() {
                encoder.abort();
            }
            match encoder.await {
                Ok(Ok(encoded)) => adds.extend(encoded),
                Ok(Err(error)) => failure = failure.or(Some(error)),
                Err(error) if error.is_cancelled() => {}
                Err(error) => failure = failure.or(Some(BatchError::Delta(format!("a table encoder failed: {error}")))),
            }
        }
        match (failure, dispatched) {
            (Some(error), _) | (None, Err(error)) => Err(error),
            (None, Ok(())) => self.commit(adds, schema).await,
        }
    }

    /// A row outside the replaced partitions would be added without its partition's old rows
    /// being removed.
    fn check_partitions(&self, batch: &RecordBatch, last: &mut Option<String>) -> Result<(), BatchError> {
        let Some(replaced) = &self.replaced else { return Ok(()) };
        let dates = batch
            .column_by_name(DATE_PARTITION)
            .ok_or_else(|| BatchError::Invalid(format!("rows without a `{DATE_PARTITION}` column")))?;
        let dates = cast(dates, &DataType::Utf8)?;
        let dates = dates
            .as_any()
            .downcast_ref::<StringArray>()
            .ok_or_else(|| BatchError::Invalid(format!("`{DATE_PARTITION}` is not text")))?;
        for date in dates.iter() {
            match date {
                // Rows come in runs of one day: only a new day is looked up.
                Some(date) if last.as_deref() == Some(date) => {}
                Some(date) if replaced.contains(date) => *last = Some(date.to_string()),
                other => {
                    return Err(BatchError::Invalid(format!(
                        "a row of partition {DATE_PARTITION}={} is outside the partitions this write replaces",
                        other.unwrap_or("null")
                    )));
                }
            }
        }
        Ok(())
    }

    /// One commit: the new files, the removal of every file of the replaced partitions, and the
    /// run's application transaction.
    async fn commit(self, adds: Vec<Add>, schema: SchemaRef) -> Result<(), BatchError> {
        let table = if self.exists {
            self.table
        } else {
            let columns: StructType = schema.as_ref().try_into_kernel()?;
            self.table
                .create()
                .with_columns(columns.fields().cloned())
                .with_partition_columns([DATE_PARTITION])
                .await?
        };
        let snapshot = table.snapshot()?;
        let mut actions: Vec<Action> = snapshot
            .log_data()
            .iter()
            .filter(|file| match &self.replaced {
                None => true,
                Some(replaced) => file_date(file).is_some_and(|date| replaced.contains(&date)),
            })
            .map(|file| Action::Remove(file.remove_action(true)))
            .collect();
        actions.extend(adds.into_iter().map(Action::Add));
        let predicate = self.replaced.as_ref().map(|replaced| {
            let dates: Vec<String> = replaced.iter().map(|date| format!("'{date}'")).collect();
            format!("{DATE_PARTITION} IN ({})", dates.join(", "))
        });
        let operation = DeltaOperation::Write {
            mode: SaveMode::Overwrite,
            partition_by: Some(vec![DATE_PARTITION.to_string()]),
            predicate,
        };
        let properties =
            CommitProperties::default().with_application_transaction(Transaction::new(&self.app_id, self.run));
        CommitBuilder::from(properties)
            .with_actions(actions)
            .build(Some(snapshot), table.log_store(), operation)
            .await?;
        Ok(())
    }
}

/// Which date partitions a write replaces.
#[derive(Clone, Copy, Debug)]
pub enum Replace<'a> {
    /// Exactly these `dt` partitions; a row outside them fails the write.
    Dates(&'a [String]),
    /// The whole table: a full recomputation, or a new table.
    All,
}

/// Batches sent ahead of the Parquet writer before a producer waits for it.
const IN_FLIGHT_BATCHES: usize = 4;

/// What a producer sends down a table write's channel.
enum Item {
    Rows(RecordBatch),
    /// The producer finished; the rows are complete and may be committed.
    End,
}

/// Where a stage sends the rows of a table being written; clone it for each producing thread.
#[derive(Clone)]
pub struct Sink {
    sender: Option<tokio::sync::mpsc::Sender<Item>>,
    rows: Arc<AtomicU64>,
    writer_stopped: Arc<AtomicBool>,
}

impl Sink {
    /// Sends rows to the table; waits while the writer is [`IN_FLIGHT_BATCHES`] behind.
    pub async fn send(&self, batch: RecordBatch) -> Result<(), BatchError> {
        let rows = batch.num_rows() as u64;
        self.rows.fetch_add(rows, Ordering::Relaxed);
        let Some(sender) = &self.sender else { return Ok(()) };
        if rows == 0 {
            return Ok(());
        }
        sender.send(Item::Rows(batch)).await.map_err(|_| {
            self.writer_stopped.store(true, Ordering::SeqCst);
            BatchError::Invalid("the table writer stopped".to_string())
        })
    }
}

/// A table write in progress ([`TableLocation::writer`]).
pub struct TableWriter {
    sink: Sink,
    task: Option<tokio::task::JoinHandle<Result<(), BatchError>>>,
}

impl TableWriter {
    fn discarding() -> TableWriter {
        TableWriter {
            sink: Sink {
                sender: None,
                rows: Arc::new(AtomicU64::new(0)),
                writer_stopped: Arc::new(AtomicBool::new(false)),
            },
            task: None,
        }
    }

    /// The sink to send the table's rows to.
    pub fn sink(&self) -> Sink {
        self.sink.clone()
    }

    /// Ends the write with what its producer returned: on success, the rows sent are committed
    /// (once all are written); on failure nothing is, and the error returned is the writer's own
    /// when the producer failed because the writer had.
    pub async fn finish<T>(mut self, produced: Result<T, BatchError>) -> Result<(T, WriteOutcome), BatchError> {
        let Some(task) = self.task.take() else {
            return produced.map(|value| (value, WriteOutcome::AlreadyCommitted));
        };
        let joined = |joined: Result<Result<(), BatchError>, tokio::task::JoinError>| {
            joined.map_err(|error| BatchError::Delta(format!("the table writer failed: {error}")))?
        };
        match produced {
            Ok(value) => {
                let ended = match &self.sink.sender {
                    Some(sender) => sender.send(Item::End).await.is_ok(),
                    None => false,
                };
                self.sink.sender = None;
                joined(task.await)?;
                if !ended {
                    return Err(BatchError::Delta("the table writer stopped early".to_string()));
                }
                let rows = self.sink.rows.load(Ordering::Relaxed) as usize;
                Ok((value, WriteOutcome::Written { rows }))
            }
            Err(error) => Err(self.abandon(error).await),
        }
    }

    /// Ends the write without committing, for a producer that failed with `error`; returns the
    /// writer's own error instead when the producer failed because the writer had.
    pub async fn abandon(mut self, error: BatchError) -> BatchError {
        self.sink.sender = None;
        let Some(task) = self.task.take() else { return error };
        if self.sink.writer_stopped.load(Ordering::SeqCst) {
            match task.await {
                Ok(Err(writer_error)) => return writer_error,
                Err(join_error) => return BatchError::Delta(format!("the table writer failed: {join_error}")),
                Ok(Ok(())) => {}
            }
        } else {
            task.abort();
            let _ = task.await;
        }
        error
    }
}

impl Drop for TableWriter {
    fn drop(&mut self) {
        // An unfinished write never commits.
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteOutcome {
    Written {
        rows: usize,
    },
    /// This run had already committed to the table (a retried step).
    AlreadyCommitted,
}

impl From<DeltaTableError> for BatchError {
    fn from(error: DeltaTableError) -> Self {
        BatchError::Delta(error.to_string())
    }
}
