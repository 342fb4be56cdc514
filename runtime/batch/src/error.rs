//! Errors of the batch engine: each names what the user must look at (a file, a column, a table)
//! and keeps what caused it as its [`std::error::Error::source`], so a caller can match on the
//! kind and a user sees the whole chain (the CLI prints it `: `-separated). A message never
//! repeats its source's text.

use std::path::Path;

use datafusion::arrow::error::ArrowError;
use datafusion::error::DataFusionError;
use datafusion::parquet::errors::ParquetError;
use deltalake::DeltaTableError;
use mlsys_compiler::plan::{ExprId, FeatureId, Literal};
use mlsys_compiler::syntax::literal::LiteralError;
use mlsys_kernels::Value;
use mlsys_kernels::aggregate::AggregateError;
use mlsys_kernels::interpret::{EvalError, MAX_DEPTH};

use crate::store::DATE_PARTITION;

#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    #[error("{path}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// A source's location or one of its files that cannot be ingested as it is.
    #[error("source `{source_name}`, file {file}: {problem}")]
    Input {
        source_name: String,
        file: String,
        problem: InputProblem,
    },
    /// A source's file that cannot be read in its format.
    #[error("source `{source_name}`, file {file}: {step}")]
    Read {
        source_name: String,
        file: String,
        step: ReadStep,
        #[source]
        source: ReadError,
    },
    #[error(
        "location `{location}`: `{scheme}://` object stores are not readable by this build yet; use a local path or a file:// URL"
    )]
    ObjectStore { location: String, scheme: String },
    #[error(
        "source `{source_name}`: directory `{directory}` is not a date partition ({reason}); name it dt=YYYY-MM-DD or move its files out of it"
    )]
    PartitionDirectory {
        source_name: String,
        directory: String,
        reason: LiteralError,
    },
    #[error("source `{source_name}` has {count} bad rows and `bad_rows = fail`; first: {first}")]
    BadRows {
        source_name: String,
        count: usize,
        first: String,
    },
    /// A Delta table the engine could not open, read or write.
    #[error("Delta table {table}: {operation}")]
    Delta {
        table: String,
        operation: TableOperation,
        #[source]
        source: Box<DeltaTableError>,
    },
    #[error("query engine error")]
    Query(#[source] Box<DataFusionError>),
    #[error("query engine error")]
    Arrow(#[source] Box<ArrowError>),
    /// A file the engine wrote (build state, a training set's manifest, a Delta log entry) that
    /// does not parse.
    #[error("{path} is corrupt{remedy}")]
    Corrupt {
        path: String,
        /// What to do about it, `; `-prefixed, or empty.
        remedy: &'static str,
        #[source]
        source: serde_json::Error,
    },
    #[error("cannot encode {what} as JSON")]
    Encode {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
    #[error("{path} is not a usable table path")]
    TablePath { path: String },
    #[error("--from/--to")]
    DateOption(#[source] LiteralError),
    #[error("feature {feature}")]
    Aggregate {
        feature: FeatureId,
        #[source]
        source: AggregateError,
    },
    #[error("feature {feature}: the aggregate's argument is not in the plan")]
    NoArgument { feature: FeatureId },
    #[error("feature {feature} was not computed")]
    NotComputed { feature: FeatureId },
    #[error("computing a derived feature")]
    Derived(#[source] EvalError),
    #[error("evaluating a contract expectation")]
    Expectation(#[source] EvalError),
    #[error("the label expression cannot be evaluated on an example")]
    LabelExpression(#[source] EvalError),
    #[error("feature table `{table}`")]
    FeatureTable {
        table: String,
        #[source]
        source: Box<BatchError>,
    },
    #[error("training set of model `{model}`")]
    TrainingSet {
        model: String,
        #[source]
        source: Box<BatchError>,
    },
    #[error("model `{model}`: examples source `{source_name}` has no timestamp")]
    ExamplesWithoutTimestamp { model: String, source_name: String },
    #[error("source `{source_name}` has no timestamp column to window over")]
    NoTimestamp { source_name: String },
    #[error("feature group `{group}` has no entity")]
    NoEntity { group: String },
    #[error(
        "feature group `{group}` v{version}: derived features over aggregates of another source (`{owner}@v{owner_version}.{feature}`) are not supported by the batch engine yet"
    )]
    ForeignAggregate {
        group: String,
        version: u32,
        owner: String,
        owner_version: u32,
        feature: String,
    },
    #[error("{reader}: source `{source_name}` has no column for the key `{key}` of entity `{entity}`")]
    NoKeyColumn {
        reader: String,
        source_name: String,
        key: String,
        entity: String,
    },
    /// Rows without a column the step that made them puts there.
    #[error("{rows} have no column `{column}`")]
    MissingColumn { rows: String, column: String },
    /// A column of another type than the step that made it gives it.
    #[error("column `{column}` of {rows} is not {expected}")]
    ColumnType {
        rows: String,
        column: String,
        expected: &'static str,
    },
    #[error("rows with columns the table does not have: {}", columns.join(", "))]
    ExtraColumns { columns: Vec<String> },
    #[error("a feature value {value} does not have its column's type")]
    ValueType { value: Value },
    #[error(
        "a row of partition {}={date} is outside the partitions this write replaces",
        DATE_PARTITION
    )]
    OutsidePartitions { date: String },
    #[error("cannot lower expression {expr}: {reason}")]
    Lower { expr: ExprId, reason: &'static str },
    #[error("cannot lower expression {expr}: nested more than {} deep", MAX_DEPTH)]
    LowerTooDeep { expr: ExprId },
    #[error("cannot lower expression {expr}: literal {literal:?} is not a {ty}")]
    LowerLiteral {
        expr: ExprId,
        literal: Literal,
        ty: &'static str,
    },
    #[error("the table writer failed")]
    Writer(#[source] tokio::task::JoinError),
    #[error("a table encoder failed")]
    Encoder(#[source] tokio::task::JoinError),
    #[error("the table write was abandoned")]
    Abandoned,
    /// A state the engine never reaches on a plan that passes the verifier: a bug, reported
    /// instead of a panic.
    #[error("{0}")]
    Internal(&'static str),
    /// A write of some partitions whose rows do not have the table's columns: only a full
    /// rewrite may change them.
    #[error(
        "table `{table}` has the columns ({found}), the rows written to it have ({expected}); only a full rewrite can change them"
    )]
    ColumnsDiffer {
        table: String,
        found: String,
        expected: String,
    },
    /// A write of some partitions computed from another definition than the table's rows.
    #[error("table `{table}` was computed from another definition ({}); only a full rewrite can change it", recorded.as_deref().unwrap_or("none recorded"))]
    DefinitionDiffers { table: String, recorded: Option<String> },
}

/// Why a source's location or file cannot be ingested (none has a cause of its own).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InputProblem {
    #[error("the location does not exist")]
    NoLocation,
    #[error("the location is a file, not a folder: name the folder that holds the data files")]
    NotAFolder,
    #[error(
        "the location leads out of the project directory through a symbolic link (to {target}); write an absolute path to read data outside the project"
    )]
    OutsideProject { target: String },
    #[error("cannot read as CSV: the file is empty (no header line)")]
    NoHeader,
    #[error("required column `{column}` is missing")]
    MissingColumn { column: String },
    #[error("unexpected column `{column}` (unknown_columns = error)")]
    UnexpectedColumn { column: String },
}

/// What reading a source's file was doing when it failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReadStep {
    #[error("cannot open")]
    Open,
    #[error("cannot read as CSV")]
    Csv,
    #[error("cannot read as JSON lines")]
    Json,
    #[error("cannot read as Parquet")]
    Parquet,
    #[error("cannot number rows")]
    NumberRows,
}

/// The reader's own error behind a [`ReadStep`].
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Arrow(#[from] ArrowError),
    #[error(transparent)]
    Parquet(#[from] ParquetError),
}

/// What the engine was doing with a Delta table when it failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TableOperation {
    #[error("opening the table")]
    Open,
    #[error("reading the table's log")]
    ReadLog,
    #[error("writing a data file")]
    WriteFile,
    #[error("creating the table")]
    Create,
    #[error("committing to the table's log")]
    Commit,
}

impl BatchError {
    pub fn io(path: &Path, error: std::io::Error) -> Self {
        BatchError::Io {
            path: path.display().to_string(),
            source: error,
        }
    }

    /// A failed `operation` on the Delta table at `table`, for `map_err`.
    pub fn delta(table: &Path, operation: TableOperation) -> impl FnOnce(DeltaTableError) -> BatchError {
        let table = table.display().to_string();
        move |source| BatchError::Delta {
            table,
            operation,
            source: Box::new(source),
        }
    }
}

impl From<DataFusionError> for BatchError {
    fn from(error: DataFusionError) -> Self {
        BatchError::Query(Box::new(error))
    }
}

impl From<ArrowError> for BatchError {
    fn from(error: ArrowError) -> Self {
        BatchError::Arrow(Box::new(error))
    }
}
