//! The crate's errors: [`AlertError`] for the store (the outbox file, the database) and
//! [`DeliveryError`] for one failed delivery attempt, which is recorded and retried, never returned
//! as a failure of the call.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum AlertError {
    #[error("{} is not an mlsys alert outbox, or it is corrupt: {reason}", .path.display())]
    NotAnOutbox { path: PathBuf, reason: NotAnOutbox },

    #[error(
        "{} has alert outbox schema version {found}, newer than this mlsysc understands ({supported}); upgrade mlsysc",
        .path.display()
    )]
    NewerSchema { path: PathBuf, found: i64, supported: i64 },

    #[error(
        "the alert outbox {} is busy: another process held its write lock for longer than {seconds} s; try again",
        .path.display()
    )]
    Busy { path: PathBuf, seconds: u64 },

    #[error("the alert outbox {}: {source}", .path.display())]
    Database {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },

    #[error("{}: {source}", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("invalid alert observation of monitor `{monitor}`, rule `{rule}`: {reason}")]
    InvalidObservation {
        monitor: String,
        rule: String,
        reason: &'static str,
    },

    #[error("cannot start the HTTP client for alert delivery: {source}")]
    HttpClient {
        #[source]
        source: reqwest::Error,
    },
}

/// Why an existing file was refused as an outbox.
#[derive(Debug, thiserror::Error)]
pub enum NotAnOutbox {
    #[error("the file is empty (0 bytes); only a missing file starts a new outbox: remove it to start an empty one")]
    Empty,
    #[error(
        "it is an SQLite database of another program (application_id {found:#010x}; an alert outbox's is {expected:#010x})"
    )]
    ForeignApplication { found: i64, expected: i64 },
    #[error("an SQLite database with {tables} table(s) and no alert outbox schema")]
    NoSchema { tables: usize },
    #[error("its schema lacks the table(s) {}", .missing.join(", "))]
    MissingTables { missing: Vec<String> },
    #[error("SQLite cannot read it: {source}")]
    Unreadable {
        #[source]
        source: rusqlite::Error,
    },
    #[error("the database cannot use write-ahead logging (journal mode {mode})")]
    NoWal { mode: String },
}

impl AlertError {
    /// Attaches the outbox's path to an SQLite error: a busy database and a file SQLite cannot read
    /// get their own variants so that the message says what to do.
    pub(crate) fn database(path: &std::path::Path, source: rusqlite::Error) -> AlertError {
        use rusqlite::ErrorCode;
        let path = path.to_path_buf();
        match source.sqlite_error_code() {
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => AlertError::Busy {
                path,
                seconds: crate::schema::BUSY_TIMEOUT.as_secs(),
            },
            Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => AlertError::NotAnOutbox {
                path,
                reason: NotAnOutbox::Unreadable { source },
            },
            _ => AlertError::Database { path, source },
        }
    }
}

/// One failed delivery attempt. Every text in it is redacted (no webhook URL path, routing key or
/// password): the causes of the HTTP and SMTP clients are kept as redacted text rather than as
/// `#[source]` errors because their messages may carry the secret URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    #[error("{channel}: not configured: set {variable} ({purpose})")]
    NotConfigured {
        channel: String,
        variable: String,
        purpose: &'static str,
    },
    #[error("{channel}: not a valid alert channel: {reason}")]
    InvalidChannel { channel: String, reason: String },
    #[error("{channel}: {variable} is not usable: {reason}")]
    InvalidSetting {
        channel: String,
        variable: String,
        reason: String,
    },
    #[error("{channel}: no answer from {endpoint} within {after:?}")]
    TimedOut {
        channel: String,
        endpoint: String,
        after: std::time::Duration,
    },
    #[error("{channel}: {endpoint} answered HTTP {status}: {body}")]
    Rejected {
        channel: String,
        endpoint: String,
        status: u16,
        body: String,
    },
    #[error("{channel}: request to {endpoint} failed: {cause}")]
    Http {
        channel: String,
        endpoint: String,
        cause: String,
    },
    #[error("{channel}: SMTP relay {relay}: {cause}")]
    Smtp {
        channel: String,
        relay: String,
        cause: String,
    },
    #[error("{channel}: cannot build the message: {cause}")]
    Message { channel: String, cause: String },
    #[error("{channel}: the delivery attempt stopped unexpectedly: {cause}")]
    Aborted { channel: String, cause: String },
}
