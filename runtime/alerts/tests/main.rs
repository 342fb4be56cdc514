//! The alert crate's integration tests: one binary, one module per concern.

mod support;

mod backoff;
mod email;
mod files;
mod http_delivery;
mod lifecycle;
mod redaction;
