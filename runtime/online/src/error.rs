//! `StoreError`: what can go wrong in an online store, in kinds a server can map to answers.

use crate::location::StoreLocation;

/// An online store error. Every message names the store by its path or URL through
/// [`crate::redact_location`], without a password.
///
/// A serving layer answers [`StoreError::Unavailable`] with 503 (retry later); the others are
/// faults of the data, the configuration or the machine.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store cannot be reached: connection refused or lost, or a timeout.
    #[error("online store {store} is unavailable: {detail}")]
    Unavailable { store: String, detail: String },

    /// Stored bytes are not a valid encoding (or the backend reports corruption).
    #[error("online store {store} holds corrupt data ({context}): {detail}")]
    Corrupt {
        store: String,
        context: String,
        detail: String,
    },

    /// The embedded store's file is open in another process (redb locks it).
    #[error("online store {store} is already open in another process; stop that process or use another path")]
    AlreadyOpen { store: String },

    /// File system or database failure.
    #[error("online store {store}: {detail}")]
    Io { store: String, detail: String },

    /// The backend refused a command for another reason (for example a Redis server error).
    #[error("online store {store} failed: {detail}")]
    Backend { store: String, detail: String },

    /// A location that names no supported store (printed without its password).
    #[error("unsupported online store location `{location}`: {reason}")]
    UnsupportedLocation { location: StoreLocation, reason: String },

    /// A table, namespace or metadata name that breaks its naming rule.
    #[error("invalid {what} `{name}`: expected {rule}")]
    InvalidName {
        what: &'static str,
        name: String,
        rule: &'static str,
    },
}

impl StoreError {
    /// Whether retrying later may succeed (the server answers 503).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, StoreError::Unavailable { .. })
    }
}
