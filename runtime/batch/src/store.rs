//! The offline store: where each zone's Delta tables live, and the operations every stage needs —
//! replace a set of date partitions (or append rows) in one atomic commit, and read a table back.
//!
//! Layout under the store root (default `.mlsys/offline/`):
//!
//! ```text
//! processed/<source>/            typed, validated rows, partitioned by input day `dt`
//! quarantine/<source>/           rejected rows as text, with the reason, file and row, by `dt`
//! unique/<source>/               every `unique(...)` value's occurrences (event time, file, row), by `dt`
//! features/<group>/v<N>/         feature values, partitioned by the day they become valid
//! training/<model>/<id>/         point-in-time training sets (snapshot/, holdout/, manifest.json)
//! predictions/<target>/          every scored request of a realtime serve target, appended, by `dt`
//!                                of its time (the prediction log)
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
use deltalake::kernel::{Action, Add, MetadataExt, StructType, Transaction};
use deltalake::parquet::file::properties::WriterProperties;
use deltalake::protocol::{DeltaOperation, SaveMode};
use deltalake::writer::{DeltaWriter, RecordBatchWriter};
use deltalake::{DeltaTable, DeltaTableError};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::error::{BatchError, TableOperation};

/// The partition column of every offline table: a `YYYY-MM-DD` string.
pub const DATE_PARTITION: &str = "dt";

/// The folder of the prediction logs under the store root: `mlsysc deploy` appends to them, builds
/// never write them.
pub const PREDICTIONS: &str = "predictions";

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

    /// A serve target's prediction log ([`crate::prediction_log`]).
    pub fn predictions(&self, target: &str) -> TableLocation {
        self.table(format!("{PREDICTIONS}/{target}"))
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
        url::Url::from_directory_path(&absolute).map_err(|()| BatchError::TablePath {
            path: absolute.display().to_string(),
        })
    }

    /// Whether a Delta table exists here.
    pub fn exists(&self) -> bool {
        self.path.join("_delta_log").is_dir()
    }

    pub async fn open(&self) -> Result<DeltaTable, BatchError> {
        DeltaTable::try_from_url(self.url()?)
            .await
            .map_err(self.delta(TableOperation::Open))
    }

    /// What the table's log says about it: its columns and the definition its rows were computed
    /// from; `None` for no table.
    pub async fn metadata(&self) -> Result<Option<TableMetadata>, BatchError> {
        if !self.exists() {
            return Ok(None);
        }
        let table = self.open().await?;
        let snapshot = table.snapshot().map_err(self.delta(TableOperation::ReadLog))?;
        Ok(Some(TableMetadata {
            columns: snapshot.schema().as_ref().clone(),
            definition: snapshot.metadata().configuration().get(DEFINITION_PROPERTY).cloned(),
        }))
    }

    /// The table as a DataFusion provider, optionally with a column holding each row's file.
    pub async fn provider(&self) -> Result<Arc<dyn TableProvider>, BatchError> {
        let table = self.open().await?;
        Ok(table.table_provider().await?)
    }

    /// The bytes of the table's current files, only of the `dt` partitions in `[low, high]` when
    /// given; 0 for no table.
    pub async fn bytes_in(&self, days: Option<(&str, &str)>) -> Result<u64, BatchError> {
        if !self.exists() {
            return Ok(0);
        }
        let table = self.open().await?;
        let mut bytes = 0u64;
        let snapshot = table.snapshot().map_err(self.delta(TableOperation::ReadLog))?;
        for file in snapshot.log_data().iter() {
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
    ///
    /// A write replacing the whole table gives it the columns of `schema` (a schema overwrite in
    /// the same commit); a write of some partitions keeps the table's columns.
    pub async fn writer(
        &self,
        schema: SchemaRef,
        replace: Replace<'_>,
        run: i64,
        buffer: usize,
    ) -> Result<TableWriter, BatchError> {
        self.defined_writer(None, schema, replace, run, buffer).await
    }

    /// [`TableLocation::writer`] for a table whose rows are computed from `definition` (a
    /// fingerprint of what computes them): a write replacing the whole table records it in the
    /// table's metadata ([`TableMetadata::definition`]); a write of some partitions fails unless
    /// the table records the same definition and has the rows' columns, so rows of two
    /// definitions never share a table.
    pub async fn defined_writer(
        &self,
        definition: Option<&str>,
        schema: SchemaRef,
        replace: Replace<'_>,
        run: i64,
        buffer: usize,
    ) -> Result<TableWriter, BatchError> {
        let url = self.url()?;
        let table = DeltaTable::try_from_url(url.clone())
            .await
            .map_err(self.delta(TableOperation::Open))?;
        let app_id = self.app_id();
        let exists = self.exists();
        // The columns the rows have in Delta (no unsigned integers).
        let mut columns: StructType = schema.as_ref().try_into_kernel()?;
        let mut drop_extra_columns = false;
        if exists {
            let snapshot = table.snapshot().map_err(self.delta(TableOperation::ReadLog))?;
            let committed = snapshot
                .transaction_version(table.log_store().as_ref(), &app_id)
                .await
                .map_err(self.delta(TableOperation::ReadLog))?;
            if committed.is_some_and(|version| version >= run) {
                return Ok(TableWriter::discarding());
            }
            match (replace, definition) {
                (Replace::Dates(_), Some(definition)) => self.check_partial_write(snapshot, &columns, definition)?,
                // A table without a recorded definition (ingestion's zones) keeps its columns in a
                // write of some partitions; the rows' other columns are dropped.
                (Replace::Dates(_), None) => {
                    columns = snapshot.schema().as_ref().clone();
                    drop_extra_columns = true;
                }
                (Replace::All, _) => {}
            }
        }
        let replaced = match replace {
            Replace::All => Replaced::All,
            Replace::Dates(dates) => Replaced::Dates(dates.iter().cloned().collect()),
        };
        let write = Write {
            table,
            path: self.path.clone(),
            url,
            exists,
            app_id,
            run,
            replaced,
            columns,
            drop_extra_columns,
            definition: definition.map(str::to_string),
            buffer,
        };
        write.start()
    }

    /// Starts a write that appends the rows sent to its [`Sink`] to the table, replacing nothing,
    /// with the atomicity of [`TableLocation::writer`]: one commit once the producer finished,
    /// nothing for a failed or dropped producer or a killed process. The first append creates the
    /// table with the rows' columns; later rows must have the table's columns.
    ///
    /// The commit carries the application transaction `(mlsys:<table>:<writer>, sequence)`: a
    /// sequence this writer already committed (a retry of a write whose commit landed although
    /// it reported a failure, e.g. in the checkpoint written after it) discards the rows, so
    /// retrying with the same sequence never adds them twice.
    ///
    /// Appends do not conflict with each other: writers appending to one table at once, in this
    /// process or in others, each get their own commit (Delta's optimistic commit finds the
    /// version taken by another writer and retries on the next one), and if two create the table
    /// at once, the loser appends to the winner's.
    pub async fn append_writer(
        &self,
        schema: SchemaRef,
        writer: &str,
        sequence: i64,
        buffer: usize,
    ) -> Result<TableWriter, BatchError> {
        let url = self.url()?;
        let table = DeltaTable::try_from_url(url.clone())
            .await
            .map_err(self.delta(TableOperation::Open))?;
        let app_id = format!("mlsys:{}:{writer}", self.name);
        let columns: StructType = schema.as_ref().try_into_kernel()?;
        let exists = table.version().is_some();
        if exists {
            let snapshot = table.snapshot().map_err(self.delta(TableOperation::ReadLog))?;
            self.check_columns(snapshot, &columns)?;
            let committed = snapshot
                .transaction_version(table.log_store().as_ref(), &app_id)
                .await
                .map_err(self.delta(TableOperation::ReadLog))?;
            if committed.is_some_and(|version| version >= sequence) {
                return Ok(TableWriter::discarding());
            }
        }
        let write = Write {
            table,
            path: self.path.clone(),
            url,
            exists,
            app_id,
            run: sequence,
            replaced: Replaced::Nothing,
            columns,
            drop_extra_columns: false,
            definition: None,
            buffer,
        };
        write.start()
    }
}

impl TableLocation {
    /// The id of the application transactions this table's writes carry.
    fn app_id(&self) -> String {
        format!("mlsys:{}", self.name)
    }

    /// A failed `operation` on this table, for `map_err`.
    fn delta(&self, operation: TableOperation) -> impl FnOnce(DeltaTableError) -> BatchError {
        BatchError::delta(&self.path, operation)
    }

    /// The run number for a write outside a build (batch scores, where every write is a new run):
    /// one past the last run committed to the table, 1 for a new table.
    pub async fn next_run(&self) -> Result<i64, BatchError> {
        if !self.exists() {
            return Ok(1);
        }
        let table = self.open().await?;
        let committed = table
            .snapshot()
            .map_err(self.delta(TableOperation::ReadLog))?
            .transaction_version(table.log_store().as_ref(), &self.app_id())
            .await
            .map_err(self.delta(TableOperation::ReadLog))?;
        Ok(committed.map_or(1, |run| run.saturating_add(1)))
    }

    /// A write of some partitions keeps the table's other rows: it must have their columns and,
    /// when given, their definition.
    fn check_partial_write(
        &self,
        snapshot: &deltalake::table::state::DeltaTableState,
        columns: &StructType,
        definition: &str,
    ) -> Result<(), BatchError> {
        self.check_columns(snapshot, columns)?;
        let recorded = snapshot.metadata().configuration().get(DEFINITION_PROPERTY);
        if recorded.map(String::as_str) != Some(definition) {
            return Err(BatchError::DefinitionDiffers {
                table: self.name.clone(),
                recorded: recorded.cloned(),
            });
        }
        Ok(())
    }

    /// Fails with [`BatchError::ColumnsDiffer`] unless the table, if there is one, has exactly the
    /// columns of `schema`.
    pub async fn expect_columns(&self, schema: &SchemaRef) -> Result<(), BatchError> {
        if !self.exists() {
            return Ok(());
        }
        let table = self.open().await?;
        if table.version().is_none() {
            return Ok(());
        }
        let columns: StructType = schema.as_ref().try_into_kernel()?;
        self.check_columns(table.snapshot().map_err(self.delta(TableOperation::ReadLog))?, &columns)
    }

    /// Rows added to the table without a rewrite must have its columns.
    fn check_columns(
        &self,
        snapshot: &deltalake::table::state::DeltaTableState,
        columns: &StructType,
    ) -> Result<(), BatchError> {
        let table_columns = snapshot.schema();
        if !same_columns(&table_columns, columns) {
            return Err(BatchError::ColumnsDiffer {
                table: self.name.clone(),
                found: column_list(&table_columns),
                expected: column_list(columns),
            });
        }
        Ok(())
    }
}

/// The table property holding the definition a table's rows were computed from.
pub const DEFINITION_PROPERTY: &str = "mlsys.definition";

/// What a table's log records about it.
#[derive(Clone, Debug, PartialEq)]
pub struct TableMetadata {
    /// The table's columns, as Delta types.
    pub columns: StructType,
    /// The definition its rows were computed from, when its last full write recorded one.
    pub definition: Option<String>,
}

impl TableMetadata {
    /// Whether the table has exactly the columns (names, types, nullability, order) of `schema`.
    pub fn has_columns(&self, schema: &SchemaRef) -> Result<bool, BatchError> {
        let columns: StructType = schema.as_ref().try_into_kernel()?;
        Ok(same_columns(&self.columns, &columns))
    }

    /// The columns as `name type`, comma-separated, for messages.
    pub fn column_list(&self) -> String {
        column_list(&self.columns)
    }
}

/// Column names, types and nullability in order (field metadata aside).
fn same_columns(left: &StructType, right: &StructType) -> bool {
    left.fields().len() == right.fields().len()
        && left.fields().zip(right.fields()).all(|(left, right)| {
            left.name() == right.name()
                && left.data_type() == right.data_type()
                && left.is_nullable() == right.is_nullable()
        })
}

fn column_list(columns: &StructType) -> String {
    columns
        .fields()
        .map(|field| format!("{} {}", field.name(), field.data_type()))
        .collect::<Vec<_>>()
        .join(", ")
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
    table: PathBuf,
) -> Result<Vec<Add>, BatchError> {
    let mut adds = Vec::new();
    let encoded: Result<(), DeltaTableError> = async {
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
            Err(BatchError::delta(&table, TableOperation::WriteFile)(error))
        }
    }
}

/// `batch` with the table's column types (Delta has no unsigned integers: `_row` is stored as a
/// long), columns in table order; columns the table lacks fail unless `drop_extra_columns`.
fn conform(batch: RecordBatch, table: &SchemaRef, drop_extra_columns: bool) -> Result<RecordBatch, BatchError> {
    if batch.schema().fields() == table.fields() {
        return Ok(batch);
    }
    let mut columns = Vec::with_capacity(table.fields().len());
    if !drop_extra_columns && batch.num_columns() != table.fields().len() {
        let extra: Vec<String> = batch
            .schema()
            .fields()
            .iter()
            .filter(|field| table.field_with_name(field.name()).is_err())
            .map(|field| field.name().clone())
            .collect();
        return Err(BatchError::ExtraColumns { columns: extra });
    }
    for field in table.fields() {
        let column = batch
            .column_by_name(field.name())
            .ok_or_else(|| BatchError::MissingColumn {
                rows: "the rows written".to_string(),
                column: field.name().clone(),
            })?;
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
    /// Where the table is, for errors.
    path: PathBuf,
    url: url::Url,
    /// Whether the table existed when the write started (else the commit creates it).
    exists: bool,
    app_id: String,
    run: i64,
    replaced: Replaced,
    /// The table's columns after the commit.
    columns: StructType,
    /// Whether rows may have columns the table lacks (dropped); otherwise they fail the write.
    drop_extra_columns: bool,
    /// Recorded by a write of the whole table.
    definition: Option<String>,
    buffer: usize,
}

/// What a write's commit removes.
enum Replaced {
    /// The whole table (and its columns).
    All,
    /// These `dt` partitions; a row outside them fails the write.
    Dates(BTreeSet<String>),
    /// Nothing: the rows are appended.
    Nothing,
}

impl Write {
    /// Starts the write's task, its encoders and the producer's [`TableWriter`].
    ///
    /// One encoder per core, each with its own open files, so a stage's rows are encoded in
    /// parallel; but each keeps at least [`ENCODER_BUFFER`] of `buffer`, since a smaller share
    /// would only make more and smaller files (every finished set has a file per date partition
    /// touched).
    fn start(mut self) -> Result<TableWriter, BatchError> {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        let encoders = cores.min(self.buffer / ENCODER_BUFFER).max(1);
        let arrow: Arc<deltalake::arrow::datatypes::Schema> = Arc::new((&self.columns).try_into_arrow()?);
        let mut writers = Vec::with_capacity(encoders);
        for _ in 0..encoders {
            let writer = RecordBatchWriter::try_new(
                self.url.as_str(),
                arrow.clone(),
                Some(vec![DATE_PARTITION.to_string()]),
                None,
            )
            .map_err(BatchError::delta(&self.path, TableOperation::WriteFile))?;
            writers.push(writer.with_writer_properties(writer_properties()));
        }
        self.buffer = (self.buffer / encoders).max(1);
        let (sender, receiver) = tokio::sync::mpsc::channel(IN_FLIGHT_BATCHES);
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(self.run(writers, receiver, stopped));
        Ok(TableWriter {
            sink: Sink {
                sender: Some(sender),
                rows: Arc::new(AtomicU64::new(0)),
                writer_stopped: Arc::new(AtomicBool::new(false)),
            },
            task: Some(task),
            stop: Some(stop),
        })
    }

    /// The write's own task: hands the producer's batches to the encoders, then commits.
    ///
    /// The encoder tasks belong to this one (a `JoinSet`), and it ends only once every encoder
    /// has ended, never cancelling one: no encoder outlives its write, and none leaves a detached
    /// upload abort behind, so nothing is still uploading when a failed build's runtime shuts down. `stop` firing (or its sender
    /// dropped) abandons the write.
    async fn run(
        self,
        writers: Vec<RecordBatchWriter>,
        mut receiver: tokio::sync::mpsc::Receiver<Item>,
        mut stop: tokio::sync::oneshot::Receiver<()>,
    ) -> Result<(), BatchError> {
        let schema = writers
            .first()
            .map(RecordBatchWriter::arrow_schema)
            .ok_or(BatchError::Internal("a table write without an encoder"))?;
        let mut senders = Vec::with_capacity(writers.len());
        let mut encoders = tokio::task::JoinSet::new();
        for writer in writers {
            let (sender, batches) = tokio::sync::mpsc::channel(IN_FLIGHT_BATCHES);
            senders.push(sender);
            encoders.spawn(encode(writer, batches, self.buffer, self.path.clone()));
        }
        // Batches go to the encoders in turn; a closed encoder channel means that encoder failed.
        let mut next = 0;
        let mut last_date: Option<String> = None;
        let dispatched: Result<(), BatchError> = async {
            loop {
                let item = tokio::select! {
                    biased;
                    _ = &mut stop => return Err(BatchError::Abandoned),
                    item = receiver.recv() => item,
                };
                match item {
                    Some(Item::Rows(batch)) => {
                        self.check_partitions(&batch, &mut last_date)?;
                        let batch = conform(batch, &schema, self.drop_extra_columns)?;
                        let sender = &senders[next];
                        next = (next + 1) % senders.len();
                        if sender.send(batch).await.is_err() {
                            return Err(BatchError::Internal("a table encoder stopped"));
                        }
                    }
                    Some(Item::End) => return Ok(()),
                    None => {
                        return Err(BatchError::Internal(
                            "the rows of a table write ended before their producer finished",
                        ));
                    }
                }
            }
        }
        .await;
        // Every encoder finishes its files (closing its channel ends its rows) and is awaited, on a
        // failure too: a cancelled encoder would drop its writer with an upload open, whose abort
        // deltalake then detaches onto the runtime, where it can panic while a failed build's
        // runtime shuts down. The files of a failed write are never committed; the next build
        // removes them. The encoders' own errors come first, as the cause.
        drop(senders);
        let mut adds = Vec::new();
        let mut failure = None;
        while let Some(encoded) = encoders.join_next().await {
            match encoded {
                Ok(Ok(encoded)) => adds.extend(encoded),
                Ok(Err(error)) => failure = failure.or(Some(error)),
                Err(error) if error.is_cancelled() => {}
                Err(error) => failure = failure.or(Some(BatchError::Encoder(error))),
            }
        }
        match (failure, dispatched) {
            (Some(error), _) | (None, Err(error)) => Err(error),
            (None, Ok(())) => self.commit(adds).await,
        }
    }

    /// A row outside the replaced partitions would be added without its partition's old rows
    /// being removed.
    fn check_partitions(&self, batch: &RecordBatch, last: &mut Option<String>) -> Result<(), BatchError> {
        let Replaced::Dates(replaced) = &self.replaced else {
            return Ok(());
        };
        let dates = batch
            .column_by_name(DATE_PARTITION)
            .ok_or_else(|| BatchError::MissingColumn {
                rows: "the rows written".to_string(),
                column: DATE_PARTITION.to_string(),
            })?;
        let dates = cast(dates, &DataType::Utf8)?;
        let dates = dates
            .as_any()
            .downcast_ref::<StringArray>()
            .ok_or(BatchError::Internal("a cast to text did not give text"))?;
        for date in dates.iter() {
            match date {
                // Rows come in runs of one day: only a new day is looked up.
                Some(date) if last.as_deref() == Some(date) => {}
                Some(date) if replaced.contains(date) => *last = Some(date.to_string()),
                other => {
                    return Err(BatchError::OutsidePartitions {
                        date: other.unwrap_or("null").to_string(),
                    });
                }
            }
        }
        Ok(())
    }

    /// One commit: the new files, the removal of every file of the replaced partitions, and the
    /// run's application transaction.
    async fn commit(self, adds: Vec<Add>) -> Result<(), BatchError> {
        let table = match (self.exists, &self.replaced) {
            (true, _) => self.table,
            (false, Replaced::Nothing) => create_for_append(self.table, &self.path, &self.url, &self.columns).await?,
            (false, _) => create_table(self.table, &self.columns, self.definition.as_deref())
                .await
                .map_err(BatchError::delta(&self.path, TableOperation::Create))?,
        };
        let snapshot = table
            .snapshot()
            .map_err(BatchError::delta(&self.path, TableOperation::ReadLog))?;
        let mut actions: Vec<Action> = match &self.replaced {
            Replaced::Nothing => Vec::new(),
            replaced => snapshot
                .log_data()
                .iter()
                .filter(|file| match replaced {
                    Replaced::Dates(dates) => file_date(file).is_some_and(|date| dates.contains(&date)),
                    Replaced::All | Replaced::Nothing => true,
                })
                .map(|file| Action::Remove(file.remove_action(true)))
                .collect(),
        };
        if self.exists && matches!(self.replaced, Replaced::All) {
            // A full rewrite: the table takes the rows' columns and definition in the same commit.
            let metadata = snapshot.metadata().clone().with_schema(&self.columns);
            let metadata = match &self.definition {
                Some(definition) => metadata
                    .and_then(|metadata| metadata.add_config_key(DEFINITION_PROPERTY.to_string(), definition.clone())),
                None => metadata.and_then(|metadata| metadata.remove_config_key(DEFINITION_PROPERTY)),
            };
            let metadata =
                metadata.map_err(|error| BatchError::delta(&self.path, TableOperation::Commit)(error.into()))?;
            actions.push(Action::Metadata(metadata));
        }
        actions.extend(adds.into_iter().map(Action::Add));
        let (mode, predicate) = match &self.replaced {
            Replaced::All => (SaveMode::Overwrite, None),
            Replaced::Dates(dates) => {
                let dates: Vec<String> = dates.iter().map(|date| format!("'{date}'")).collect();
                (
                    SaveMode::Overwrite,
                    Some(format!("{DATE_PARTITION} IN ({})", dates.join(", "))),
                )
            }
            Replaced::Nothing => (SaveMode::Append, None),
        };
        let operation = DeltaOperation::Write {
            mode,
            partition_by: Some(vec![DATE_PARTITION.to_string()]),
            predicate,
        };
        let properties =
            CommitProperties::default().with_application_transaction(Transaction::new(&self.app_id, self.run));
        CommitBuilder::from(properties)
            .with_actions(actions)
            .build(Some(snapshot), table.log_store(), operation)
            .await
            .map_err(BatchError::delta(&self.path, TableOperation::Commit))?;
        Ok(())
    }
}

/// Creates a table partitioned by `dt` with `columns`, recording `definition` when given. Fails
/// if another writer created the table first (without retries, Delta would commit the table's
/// metadata again on top of the other writer's, and fail that writer's concurrent commits).
async fn create_table(
    table: DeltaTable,
    columns: &StructType,
    definition: Option<&str>,
) -> Result<DeltaTable, DeltaTableError> {
    table
        .create()
        .with_commit_properties(CommitProperties::default().with_max_retries(0))
        .with_columns(columns.fields().cloned())
        .with_partition_columns([DATE_PARTITION])
        // The definition is the application's own property, not one of Delta's.
        .with_raise_if_key_not_exists(false)
        .with_configuration(definition.map(|definition| (DEFINITION_PROPERTY, Some(definition))))
        .await
}

/// The table of an append to a table that did not exist when the write started: created with
/// the rows' columns, or, when another writer created it meanwhile with the same columns, that one.
async fn create_for_append(
    table: DeltaTable,
    path: &Path,
    url: &url::Url,
    columns: &StructType,
) -> Result<DeltaTable, BatchError> {
    let created = create_table(table, columns, None).await;
    let error = match created {
        Ok(table) => return Ok(table),
        Err(error) => error,
    };
    let table = DeltaTable::try_from_url(url.clone())
        .await
        .map_err(BatchError::delta(path, TableOperation::Open))?;
    let same = table.version().is_some()
        && same_columns(
            &table
                .snapshot()
                .map_err(BatchError::delta(path, TableOperation::ReadLog))?
                .schema(),
            columns,
        );
    if same {
        Ok(table)
    } else {
        Err(BatchError::delta(path, TableOperation::Create)(error))
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
            BatchError::Internal("the table writer stopped")
        })
    }
}

/// A table write in progress ([`TableLocation::writer`]).
pub struct TableWriter {
    sink: Sink,
    task: Option<tokio::task::JoinHandle<Result<(), BatchError>>>,
    /// Abandons the write when sent or dropped.
    stop: Option<tokio::sync::oneshot::Sender<()>>,
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
            stop: None,
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
        let joined =
            |joined: Result<Result<(), BatchError>, tokio::task::JoinError>| joined.map_err(BatchError::Writer)?;
        match produced {
            Ok(value) => {
                let ended = match &self.sink.sender {
                    Some(sender) => sender.send(Item::End).await.is_ok(),
                    None => false,
                };
                self.sink.sender = None;
                joined(task.await)?;
                if !ended {
                    return Err(BatchError::Internal("the table writer stopped early"));
                }
                let rows = self.sink.rows.load(Ordering::Relaxed) as usize;
                Ok((value, WriteOutcome::Written { rows }))
            }
            Err(error) => Err(self.abandon(error).await),
        }
    }

    /// Ends the write without committing, for a producer that failed with `error`; returns the
    /// writer's own error instead when the producer failed because the writer had.
    ///
    /// Returns once the write's tasks have ended (its encoders stopped and awaited, not merely
    /// told to stop), so nothing of it is still running when the caller goes on or shuts down.
    pub async fn abandon(mut self, error: BatchError) -> BatchError {
        self.sink.sender = None;
        let writer_failed = self.sink.writer_stopped.load(Ordering::SeqCst);
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let Some(task) = self.task.take() else { return error };
        match task.await {
            Ok(Err(writer_error)) if writer_failed => writer_error,
            Err(join_error) if writer_failed => BatchError::Writer(join_error),
            _ => error,
        }
    }
}

/// A writer dropped unfinished never commits: dropping it drops `stop`, and its task stops its
/// encoders and ends (use [`TableWriter::abandon`] to wait for that).
impl Drop for TableWriter {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
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
