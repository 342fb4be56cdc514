//! The registry's data: stages and stage references, a version's lineage as registered, the stored
//! version with its stage and approvals, transitions and the event log.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::RegistryError;

/// Where a version is in its life: `candidate` → `approved` → `shadow` / `production` → `archived`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    /// Registered, not yet approved or promoted.
    Candidate,
    /// Approved (`mlsysc approve`, or promoted to `approved` by hand).
    Approved,
    /// Scoring every request in the background of a serve target; at most one per model.
    Shadow,
    /// The served version; at most one per model.
    Production,
    /// Retired: replaced in production or in shadow, rolled back, or archived by hand.
    Archived,
}

impl Stage {
    /// Every stage, in life order.
    pub const ALL: [Stage; 5] = [
        Stage::Candidate,
        Stage::Approved,
        Stage::Shadow,
        Stage::Production,
        Stage::Archived,
    ];

    /// The lowercase name used in the database, the CLI and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Candidate => "candidate",
            Stage::Approved => "approved",
            Stage::Shadow => "shadow",
            Stage::Production => "production",
            Stage::Archived => "archived",
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

impl FromStr for Stage {
    type Err = RegistryError;

    fn from_str(text: &str) -> Result<Stage, RegistryError> {
        Stage::ALL
            .into_iter()
            .find(|stage| stage.as_str() == text)
            .ok_or_else(|| RegistryError::UnknownStage { text: text.to_string() })
    }
}

/// A stage reference as a serve target writes it (`model@production`, `model@v3`, ...); see
/// [`crate::Registry::resolve`] for what each one means.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StageRef {
    Production,
    Candidate,
    Approved,
    Shadow,
    Version(u32),
}

impl fmt::Display for StageRef {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StageRef::Production => formatter.write_str("production"),
            StageRef::Candidate => formatter.write_str("candidate"),
            StageRef::Approved => formatter.write_str("approved"),
            StageRef::Shadow => formatter.write_str("shadow"),
            StageRef::Version(version) => write!(formatter, "v{version}"),
        }
    }
}

impl FromStr for StageRef {
    type Err = RegistryError;

    fn from_str(text: &str) -> Result<StageRef, RegistryError> {
        let unknown = || RegistryError::UnknownStage { text: text.to_string() };
        Ok(match text {
            "production" => StageRef::Production,
            "candidate" => StageRef::Candidate,
            "approved" => StageRef::Approved,
            "shadow" => StageRef::Shadow,
            _ => {
                let digits = text.strip_prefix('v').ok_or_else(unknown)?;
                match digits.parse::<u32>() {
                    Ok(version) if version >= 1 && !digits.starts_with('+') => StageRef::Version(version),
                    _ => return Err(unknown()),
                }
            }
        })
    }
}

/// One model input as it was pinned when the version was trained.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeatureInput {
    /// The column name in the training set (and the model's input name).
    pub column: String,
    /// The feature's type as the plan prints it (`float64`, `bool?`, ...).
    pub ty: String,
    /// The feature's canonical hash.
    pub hash: String,
}

/// A stored model file: where it is, its SHA-256 and its size.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Artifact {
    pub path: String,
    pub sha256: String,
    pub bytes: u64,
}

/// Everything recorded about a newly trained version: the lineage that makes it reproducible and
/// auditable (spec, features, training set, hyperparameters, code) and its evaluation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NewVersion {
    pub model: String,
    /// `classification` or `regression`.
    pub task: String,
    /// Hash of the model declaration as it shapes training.
    pub spec_hash: String,
    /// Hash of the pinned features' definitions.
    pub plan_hash: String,
    pub features: Vec<FeatureInput>,
    /// The training set id.
    pub training_set: String,
    /// The training set's manifest.json text.
    pub training_manifest: String,
    pub training_fingerprint: String,
    /// Everything that decides the model bytes; equal fingerprints mean retraining is pointless.
    pub inputs_fingerprint: String,
    pub algorithm: String,
    /// JSON text.
    pub hyperparameters: String,
    /// The headline metric's name.
    pub metric: String,
    /// Every metric of the task on the holdout (NaN where undefined, for example AUC of one class).
    pub metrics: BTreeMap<String, f64>,
    /// What an external trainer reported in its metrics file, as it reported it (not compared,
    /// never used for promotion).
    #[serde(default)]
    pub reported_metrics: BTreeMap<String, f64>,
    /// The production version this one was compared with.
    pub production_version: Option<u32>,
    /// That version's metrics on the same holdout.
    pub production_metrics: Option<BTreeMap<String, f64>>,
    /// The `promote_if` rule's text.
    pub promote_if: Option<String>,
    /// The `promote_if` outcome (true when nothing was in production).
    pub promotable: bool,
    /// The promotion rules of the model's spec at registration, which every later promotion of
    /// this version enforces. Required to register; `None` only on versions registered before the
    /// registry recorded them.
    #[serde(default)]
    pub promotion_rules: Option<PromotionRules>,
    /// The native model bytes.
    pub artifact: Artifact,
    pub onnx: Option<Artifact>,
    pub git_commit: Option<String>,
    /// Microseconds since the Unix epoch.
    pub trained_at: i64,
    /// Training time in seconds.
    pub seconds: f64,
    /// The monitoring baseline (`mlsys_monitor::Baseline` as JSON): the inputs' and the score's
    /// histograms when the version was trained. `None` for versions registered without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<serde_json::Value>,
    /// What started the training when it was not a build: a monitor's rule and the values that
    /// fired it (JSON).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger: Option<serde_json::Value>,
}

/// The rules a promotion of a version must satisfy, recorded with the version when it is
/// registered (`lang-spec/grammar.md` §7.5). `promote_if` is not among them: it decides whether a
/// build promotes a new version by itself, and a person may still promote any version by hand.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromotionRules {
    /// `approval = required`: `approved`, `shadow` and `production` need a recorded approval.
    pub approval_required: bool,
}

/// One recorded approval.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    pub by: String,
    /// Microseconds since the Unix epoch.
    pub at: i64,
    pub note: Option<String>,
}

/// A registered version: its number, its current stage, its approvals and its lineage.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelVersion {
    pub model: String,
    pub version: u32,
    pub stage: Stage,
    /// Oldest first.
    pub approvals: Vec<Approval>,
    pub lineage: NewVersion,
    /// Microseconds since the Unix epoch.
    pub registered_at: i64,
}

impl ModelVersion {
    /// The headline metric's value on the holdout (NaN when missing).
    pub fn headline(&self) -> f64 {
        self.lineage
            .metrics
            .get(&self.lineage.metric)
            .copied()
            .unwrap_or(f64::NAN)
    }

    /// The production version's headline metric on the same holdout, with its version number.
    pub fn production_headline(&self) -> Option<(u32, f64)> {
        let version = self.lineage.production_version?;
        let metrics = self.lineage.production_metrics.as_ref()?;
        Some((version, metrics.get(&self.lineage.metric).copied().unwrap_or(f64::NAN)))
    }

    /// Approved by a person or moved to the `approved` stage by hand (what `model@approved` needs).
    pub fn is_approved(&self) -> bool {
        self.stage == Stage::Approved || !self.approvals.is_empty()
    }
}

/// The outcome of a promotion or a rollback: `version` moved `from` → `to`, and `archived` is the
/// version that this retired (the previous production or shadow version), if any.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transition {
    pub model: String,
    pub version: u32,
    pub from: Stage,
    pub to: Stage,
    pub archived: Option<u32>,
}

/// What an event records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A version was registered (to `candidate`).
    Registered,
    /// An approval was recorded (the stage changes only from `candidate` to `approved`).
    Approved,
    /// A version was promoted (or archived) by hand.
    Promoted,
    /// A version was archived because another one replaced it in production or in shadow.
    Replaced,
    /// One of the two moves of a rollback.
    RolledBack,
}

impl EventKind {
    pub(crate) const ALL: [EventKind; 5] = [
        EventKind::Registered,
        EventKind::Approved,
        EventKind::Promoted,
        EventKind::Replaced,
        EventKind::RolledBack,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Registered => "registered",
            EventKind::Approved => "approved",
            EventKind::Promoted => "promoted",
            EventKind::Replaced => "replaced",
            EventKind::RolledBack => "rolled_back",
        }
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// One entry of a model's audit log: every registration, approval and stage change, who and when.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Increasing in the order the changes committed.
    pub id: i64,
    pub model: String,
    pub version: u32,
    pub kind: EventKind,
    /// The stage before (none for a registration).
    pub from: Option<Stage>,
    /// The stage after.
    pub to: Stage,
    /// Who: the approver, or the actor set with [`crate::Registry::set_actor`].
    pub by: Option<String>,
    pub note: Option<String>,
    /// Microseconds since the Unix epoch.
    pub at: i64,
}
