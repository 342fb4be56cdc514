//! Model serving: what `mlsysc deploy` runs for a project's `serve` targets (lang-spec
//! `grammar.md` §7.6).
//!
//! Each realtime target answers `POST /v1/score/{target}` (and the Open Inference Protocol's
//! routes) with one compiled path per request: the request's fields → the model's feature set,
//! exactly as the feature server answers `/get-online-features` for that model (store lookup at
//! the examples source's time, the JIT'd row function) → the version of the model the target's
//! stage resolves to in the registry. Built-in models score with the native scorer `mlsysc build`
//! evaluated them with, so the served score has the evaluated score's bits; ONNX models run in
//! ONNX Runtime.
//!
//! Code map:
//! - [`deployment`]: [`Deployment`], the request flow (deadline, fallback reasons, logging).
//! - [`target`]: a target planned once: fields, fallback, model slots.
//! - [`model`]: a registry version loaded and checked against the plan ([`LoadedModel`]).
//! - [`watch`]: hot swap: the registry polled, new versions loaded off the request path.
//! - [`batcher`]: `batching { max_size, max_wait }`.
//! - [`shadow`]: shadow scoring off the request path, bounded.
//! - [`shadow_report`]: `mlsysc shadow-report`'s statistics.
//! - [`log`]: the records handed to the prediction log.
//! - [`oip`]: the Open Inference Protocol v2 codec (JSON and binary tensors).
//! - [`oip_routes`]: `/v2` metadata and inference over the codec.
//! - [`predictions`]: the latest stored score of a batch target, by key.
//! - [`replay`]: `mlsysc replay`, a period of processed rows sent to a running server as traffic,
//!   over [`client`], a minimal keep-alive HTTP/1.1 client.
//! - [`http`]: the routes; [`metrics`]: `/metrics`; [`error`]: errors and fallback reasons.
//!
//! Architecture invariant: **nothing a client sends panics the server or makes it answer 500**:
//! bad input is a 400/404/413 naming what was expected; a model or store failure is the fallback's
//! answer with its reason, or a 503 naming the reason.

pub mod batcher;
pub mod client;
pub mod deployment;
pub mod error;
pub mod freshness;
pub mod http;
pub mod log;
pub mod metrics;
pub mod model;
pub mod oip;
pub mod oip_routes;
pub mod predictions;
pub mod replay;
pub mod shadow;
pub mod shadow_report;
pub mod target;
pub mod watch;

pub use deployment::{DeployOptions, Deployment, ScoreRequest, Scored};
pub use error::{DeployError, Reason, RequestError};
pub use log::{PredictionRecord, PredictionSink};
pub use model::LoadedModel;
pub use target::Target;
