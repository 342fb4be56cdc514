//! `ServeError`: every way a request or the server can fail, each with its HTTP status and the
//! low-cardinality `kind` that `/metrics` counts it under.

use mlsys_online::StoreError;

/// Why a request was not answered with feature values. The message is sent to the client as is,
/// so it names what was wrong (the field, the feature, the table) and what to do.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Malformed JSON, a missing or ill-typed field, ragged columns, too many rows: 400.
    #[error("{0}")]
    BadRequest(String),
    /// An unknown feature, feature group, version or feature service: 404.
    #[error("{0}")]
    NotFound(String),
    /// The request body is larger than the server accepts: 413.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// The request body did not arrive within the listener's body timeout: 408.
    #[error("{0}")]
    RequestTimeout(String),
    /// The online store cannot be reached right now: 503, retry later.
    #[error("{0}")]
    StoreUnavailable(String),
    /// A table the request needs was never materialized: 503 until `mlsysc build` has run.
    #[error("{0}")]
    NeverMaterialized(String),
    /// A table the request needs was materialized from another definition of its feature group
    /// (or its metadata is unreadable): 503 until `mlsysc build` has run with this plan.
    #[error("{0}")]
    NotMaterialized(String),
    /// The store holds data this server cannot read, or the plan cannot be served: 500.
    #[error("{0}")]
    Internal(String),
}

impl ServeError {
    pub fn bad_request(message: impl Into<String>) -> ServeError {
        ServeError::BadRequest(message.into())
    }

    pub fn not_found(message: impl Into<String>) -> ServeError {
        ServeError::NotFound(message.into())
    }

    /// The HTTP status code answering this error.
    pub fn status_code(&self) -> u16 {
        match self {
            ServeError::BadRequest(_) => 400,
            ServeError::NotFound(_) => 404,
            ServeError::PayloadTooLarge(_) => 413,
            ServeError::RequestTimeout(_) => 408,
            ServeError::StoreUnavailable(_) | ServeError::NeverMaterialized(_) | ServeError::NotMaterialized(_) => 503,
            ServeError::Internal(_) => 500,
        }
    }

    /// The `kind` label of `mlsys_errors_total` and of the error body.
    pub fn kind(&self) -> &'static str {
        match self {
            ServeError::BadRequest(_) => "bad_request",
            ServeError::NotFound(_) => "not_found",
            ServeError::PayloadTooLarge(_) => "payload_too_large",
            ServeError::RequestTimeout(_) => "request_timeout",
            ServeError::StoreUnavailable(_) => "store_unavailable",
            ServeError::NeverMaterialized(_) | ServeError::NotMaterialized(_) => "not_materialized",
            ServeError::Internal(_) => "internal",
        }
    }
}

/// Store failures: unreachable is retryable (503); anything else is a fault of the stored data or
/// the machine, not of the request (500).
impl From<StoreError> for ServeError {
    fn from(error: StoreError) -> ServeError {
        if error.is_unavailable() {
            ServeError::StoreUnavailable(error.to_string())
        } else {
            ServeError::Internal(error.to_string())
        }
    }
}
