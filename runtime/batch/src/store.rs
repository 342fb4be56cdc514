//! The offline store: where each zone's Delta tables live, and the two operations every stage
//! needs — replace a set of date partitions in one atomic commit, and read a table back.
//!
//! Layout under the store root (default `.mlsys/offline/`):
//!
//! ```text
//! processed/<source>/            typed, validated rows, partitioned by input day `dt`
//! quarantine/<source>/           rejected rows as text, with the reason, file and row, by `dt`
//! features/<group>/v<N>/         feature values, partitioned by the day they become valid
//! training/<model>/<id>/         point-in-time training sets (snapshot/, holdout/, manifest.json)
//! ```

use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::TableProvider;
use datafusion::logical_expr::{Expr, col, lit};
use deltalake::kernel::Transaction;
use deltalake::kernel::transaction::CommitProperties;
use deltalake::protocol::SaveMode;
use deltalake::{DeltaTable, DeltaTableError};

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

    /// Replaces the rows of the given date partitions with `batches`, in one commit. The commit
    /// carries an application transaction `(table name, run)`: if this run already committed to
    /// the table (a retried step), nothing is written again. Rows outside `dates` are an error.
    pub async fn replace_partitions(
        &self,
        schema: SchemaRef,
        batches: Vec<RecordBatch>,
        dates: &[String],
        run: i64,
    ) -> Result<WriteOutcome, BatchError> {
        let table = DeltaTable::try_from_url(self.url()?).await?;
        let app_id = format!("mlsys:{}", self.name);
        if self.exists() {
            let committed = table
                .snapshot()
                .map_err(BatchError::from)?
                .transaction_version(table.log_store().as_ref(), &app_id)
                .await?;
            if committed.is_some_and(|version| version >= run) {
                return Ok(WriteOutcome::AlreadyCommitted);
            }
        }
        let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
        let batches = if batches.is_empty() {
            vec![RecordBatch::new_empty(schema)]
        } else {
            batches
        };
        let predicate: Expr = match dates {
            [] => lit(false),
            _ => col(DATE_PARTITION).in_list(dates.iter().map(|date| lit(date.clone())).collect(), false),
        };
        let commit = CommitProperties::default().with_application_transaction(Transaction::new(&app_id, run));
        let write = table
            .write(batches)
            .with_partition_columns([DATE_PARTITION])
            .with_commit_properties(commit);
        let write = if self.exists() {
            write.with_save_mode(SaveMode::Overwrite).with_replace_where(predicate)
        } else {
            write.with_save_mode(SaveMode::Append)
        };
        write.await?;
        Ok(WriteOutcome::Written { rows })
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
