//! The model registry (`lang-spec/grammar.md` §7.5 `approval`, §7.6 stages): every trained version
//! of every model with its lineage and holdout metrics, its approvals, its stage, and an audit log of
//! every change; plus the content-addressed store of the model files themselves.
//!
//! Stages: `candidate` → `approved` → `shadow` / `production` → `archived`. `mlsysc build` registers
//! versions; `mlsysc models / approve / promote / rollback` read and move them; serve targets resolve
//! `model@production`, `@candidate`, `@approved`, `@shadow` or `@vN` through [`Registry::resolve`].
//!
//! ```
//! use mlsys_registry::{PromotionRules, Registry, Stage, StageRef, store_artifact};
//! # let directory = std::env::temp_dir().join(format!("mlsys-registry-doctest-{}", std::process::id()));
//! # let _ = std::fs::remove_dir_all(&directory);
//! let mut registry = Registry::open(&directory.join("registry.db"))?;
//! let artifact = store_artifact(&directory.join("artifacts"), b"model bytes")?;
//! # let new_version = |fingerprint: &str| mlsys_registry::NewVersion {
//! #     model: "fraud_detector".into(), task: "classification".into(), spec_hash: "s".into(),
//! #     plan_hash: "p".into(), features: vec![], training_set: "t".into(), training_manifest: "{}".into(),
//! #     training_fingerprint: "f".into(), inputs_fingerprint: fingerprint.into(), algorithm: "gbdt".into(),
//! #     hyperparameters: "{}".into(), metric: "auc".into(), metrics: [("auc".to_string(), 0.9)].into(),
//! #     reported_metrics: Default::default(), production_version: None, production_metrics: None,
//! #     promote_if: None, promotable: true,
//! #     promotion_rules: Some(PromotionRules { approval_required: true }),
//! #     artifact: artifact.clone(), onnx: None, git_commit: None, trained_at: 0, seconds: 1.0,
//! #     baseline: None, trigger: None,
//! # };
//! // `new_version` fills a NewVersion: lineage, metrics, the artifact and the promotion rules of
//! // the model's spec (here `approval = required`), which the registry enforces from then on.
//! let first = registry.register(&new_version("inputs-1"))?;
//! assert_eq!((first.version, first.stage), (1, Stage::Candidate));
//!
//! // `approval = required`: promotion waits for an approval.
//! assert!(registry.promote("fraud_detector", 1, Stage::Production, None).is_err());
//! registry.approve("fraud_detector", 1, "alice", Some("holdout looks right"))?;
//! registry.promote("fraud_detector", 1, Stage::Production, None)?;
//!
//! let second = registry.register(&new_version("inputs-2"))?;
//! assert_eq!(registry.resolve("fraud_detector", &StageRef::Candidate)?.map(|v| v.version), Some(2));
//! registry.approve("fraud_detector", second.version, "alice", None)?;
//! registry.promote("fraud_detector", second.version, Stage::Production, None)?;
//!
//! // Rollback restores v1 and archives v2.
//! let transition = registry.rollback("fraud_detector")?;
//! assert_eq!((transition.version, transition.archived), (1, Some(2)));
//! assert_eq!(registry.resolve("fraud_detector", &StageRef::Production)?.map(|v| v.version), Some(1));
//! # std::fs::remove_dir_all(&directory)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Code map:
//! - `registry.rs` — [`Registry`]: opening, [`Registry::register`], the reads, the event log,
//!   [`Registry::integrity_check`].
//! - `stages.rs` — the stage rules (a transition table in its docs): [`Registry::resolve`],
//!   [`Registry::approve`], [`Registry::promote`], [`Registry::rollback`].
//! - `lineage.rs` — a version's rows (version, features, metrics, approvals) written and read back.
//! - `schema.rs` — creating a registry (built aside, linked into place), identifying an existing
//!   file (application id, schema, tables), connection settings (WAL, 10 s busy timeout, full sync)
//!   and versioned migrations.
//! - `artifact.rs` — [`store_artifact`], [`read_artifact`], [`sha256_hex`].
//! - `types.rs` — [`Stage`], [`StageRef`], [`NewVersion`], [`PromotionRules`], [`ModelVersion`],
//!   [`Transition`], [`Event`].
//! - `error.rs` — [`RegistryError`].
//!
//! Architecture invariants:
//! - every change (register, approve, promote, rollback) is one `BEGIN IMMEDIATE` transaction:
//!   concurrent processes never lose an update, and a killed process leaves nothing half-written;
//! - at most one version per model is in production and at most one in shadow — enforced by unique
//!   indexes in the database itself;
//! - version numbers of a model are 1, 2, 3, ... with no gaps, assigned inside the registration
//!   transaction;
//! - a version's lineage reads back exactly as registered (NaN metrics included);
//! - a version is promoted under the [`PromotionRules`] recorded when it was registered;
//! - only a missing file starts a new registry; an existing file that is not one is refused.

mod artifact;
mod error;
mod lineage;
mod registry;
mod schema;
mod stages;
mod types;

pub use artifact::{read_artifact, sha256_hex, store_artifact};
pub use error::RegistryError;
pub use registry::Registry;
pub use stages::resolve_among;
pub use types::{
    Approval, Artifact, Event, EventKind, FeatureInput, ModelVersion, NewVersion, PromotionRules, Stage, StageRef,
    Transition,
};

/// The registry's schema version (the migrations this release applies).
pub const SCHEMA_VERSION: i64 = schema::SCHEMA_VERSION;

/// Microseconds since the Unix epoch (0 for a clock before it).
pub(crate) fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| i64::try_from(elapsed.as_micros()).unwrap_or(i64::MAX))
}
