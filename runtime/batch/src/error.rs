//! Errors of the batch engine: each names what the user must look at (a file, a column, a table).

use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    #[error("{path}: {message}")]
    Io { path: String, message: String },
    #[error("source `{source_name}`, file {file}: {message}")]
    Input {
        source_name: String,
        file: String,
        message: String,
    },
    #[error(
        "source `{source_name}`: directory `{directory}` is not a date partition ({reason}); name it dt=YYYY-MM-DD or move its files out of it"
    )]
    PartitionDirectory {
        source_name: String,
        directory: String,
        reason: String,
    },
    #[error("source `{source_name}` has {count} bad rows and `bad_rows = fail`; first: {first}")]
    BadRows {
        source_name: String,
        count: usize,
        first: String,
    },
    #[error("Delta table error: {0}")]
    Delta(String),
    #[error("query engine error: {0}")]
    Query(String),
    #[error("{0}")]
    Invalid(String),
    #[error("the label expression cannot be evaluated on an example")]
    LabelExpression(#[source] mlsys_kernels::interpret::EvalError),
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

impl BatchError {
    pub fn io(path: &Path, error: std::io::Error) -> Self {
        BatchError::Io {
            path: path.display().to_string(),
            message: error.to_string(),
        }
    }
}

impl From<datafusion::error::DataFusionError> for BatchError {
    fn from(error: datafusion::error::DataFusionError) -> Self {
        BatchError::Query(error.to_string())
    }
}

impl From<datafusion::arrow::error::ArrowError> for BatchError {
    fn from(error: datafusion::arrow::error::ArrowError) -> Self {
        BatchError::Query(error.to_string())
    }
}
