//! The deploy server's errors: starting ([`DeployError`]), a fallback that cannot answer
//! ([`FallbackError`]), and a request that is not scored ([`RequestError`], each with its HTTP
//! status), plus the fallback [`Reason`]s a response and `/metrics` report.

use mlsys_kernels::interpret::EvalError;
use mlsys_registry::RegistryError;
use mlsys_serve::ServeError;

/// Why `deploy` cannot start.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    #[error("no serve target `{name}` in the project")]
    UnknownTarget { name: String },
    #[error("serve target `{target}`: its model's features cannot be served")]
    Features {
        target: String,
        #[source]
        source: ServeError,
    },
    #[error("the feature server cannot start")]
    FeatureServer(#[source] ServeError),
    #[error("the model registry")]
    Registry(#[source] RegistryError),
}

/// Why a fallback gave no answer.
#[derive(Debug, thiserror::Error)]
pub enum FallbackError {
    #[error("the fallback expression failed")]
    Eval(#[from] EvalError),
    #[error("the fallback gave {value}, not a number")]
    NotANumber { value: String },
}

/// Why the model did not answer a request, so the fallback did (lang-spec §7.6 `fallback`):
/// `timeout`, `model_error`, `store_unavailable` (the online store could not be read, or a table
/// the features need is not materialized from this plan), `no_model` (no version at the stage,
/// or its artifact missing or unreadable). The prediction log's own type, so the log and the
/// responses name reasons alike.
pub use mlsys_batch::prediction_log::FallbackReason as Reason;

/// A scoring request that gets no scores. The message goes to the client as is.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// Malformed body, missing or ill-typed field, wrong tensor shape: 400.
    #[error("{0}")]
    BadRequest(String),
    /// Unknown target or endpoint: 404.
    #[error("{0}")]
    NotFound(String),
    /// A body larger than accepted: 413.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// The body did not arrive in time: 408.
    #[error("{0}")]
    RequestTimeout(String),
    /// Too many requests in flight for the target: 503 with `Retry-After`.
    #[error("target `{target}` has {limit} requests in flight; retry shortly")]
    Overloaded { target: String, limit: usize },
    /// The model could not answer and the target has no fallback (or it failed): 503.
    #[error("target `{target}` cannot answer ({}): {detail}", reason.as_str())]
    Unavailable {
        target: String,
        reason: Reason,
        detail: String,
    },
}

impl RequestError {
    pub fn status_code(&self) -> u16 {
        match self {
            RequestError::BadRequest(_) => 400,
            RequestError::NotFound(_) => 404,
            RequestError::RequestTimeout(_) => 408,
            RequestError::PayloadTooLarge(_) => 413,
            RequestError::Overloaded { .. } | RequestError::Unavailable { .. } => 503,
        }
    }

    /// The low-cardinality kind of the error body.
    pub fn kind(&self) -> &'static str {
        match self {
            RequestError::BadRequest(_) => "bad_request",
            RequestError::NotFound(_) => "not_found",
            RequestError::RequestTimeout(_) => "request_timeout",
            RequestError::PayloadTooLarge(_) => "payload_too_large",
            RequestError::Overloaded { .. } => "overloaded",
            RequestError::Unavailable { reason, .. } => reason.as_str(),
        }
    }

    /// The feature server's errors on a scoring request's own content (the rest become reasons).
    pub fn from_serve(error: ServeError) -> RequestError {
        match error {
            ServeError::NotFound(message) => RequestError::NotFound(message),
            ServeError::PayloadTooLarge(message) => RequestError::PayloadTooLarge(message),
            ServeError::RequestTimeout(message) => RequestError::RequestTimeout(message),
            other => RequestError::BadRequest(other.to_string()),
        }
    }
}
