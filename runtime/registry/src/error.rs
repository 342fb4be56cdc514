//! The registry's errors: refusals (unknown model or version, a missing approval, a transition the
//! stage rules forbid) and failures (the database, the file system).

use std::path::PathBuf;

use crate::types::Stage;

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("no model named `{model}` in the registry{}", known_models(.known))]
    UnknownModel { model: String, known: Vec<String> },

    #[error("{model} has no version {version} (registered: {})", version_range(*.latest))]
    UnknownVersion { model: String, version: u32, latest: u32 },

    #[error(
        "unknown stage `{text}`: expected candidate, approved, shadow, production, archived (or vN as a reference)"
    )]
    UnknownStage { text: String },

    #[error("{model} v{version} needs an approval: mlsysc approve {model} {version} --by NAME")]
    ApprovalRequired { model: String, version: u32 },

    #[error("{model} v{version} cannot go from {from} to {to}: {reason}")]
    InvalidTransition {
        model: String,
        version: u32,
        from: Stage,
        to: Stage,
        reason: String,
    },

    #[error("{model} v{version} is already approved by {by}: an approver counts once")]
    AlreadyApproved { model: String, version: u32, by: String },

    #[error(
        "{model} v{version} was registered before the registry recorded promotion rules: promote it from its project, whose rules then apply"
    )]
    RulesNotRecorded { model: String, version: u32 },

    #[error("an approval of {model} v{version} needs the approver's name (--by NAME)")]
    MissingApprover { model: String, version: u32 },

    #[error("{model} has no version in production: nothing to roll back")]
    NothingInProduction { model: String },

    #[error("{model} v{current} is the first production version of {model}: there is no previous one to roll back to")]
    NoPreviousProduction { model: String, current: u32 },

    #[error("invalid registration of `{model}`: {reason}")]
    InvalidRegistration { model: String, reason: String },

    #[error("{} is not a model registry, or it is corrupt: {message}", database_name(.path))]
    Corrupt { path: Option<PathBuf>, message: String },

    #[error(
        "{} has registry schema version {found}, newer than this mlsysc understands ({supported}); upgrade mlsysc",
        .path.display()
    )]
    NewerSchema { path: PathBuf, found: i64, supported: i64 },

    #[error("the registry is busy: another process held its write lock for longer than {seconds} s; try again")]
    Busy { seconds: u64 },

    #[error("registry database: {0}")]
    Database(rusqlite::Error),

    #[error("{}: {source}", .path.display())]
    Io { path: PathBuf, source: std::io::Error },

    #[error("artifact {} does not match its recorded SHA-256 {expected} (found {found})", .path.display())]
    ArtifactMismatch {
        path: PathBuf,
        expected: String,
        found: String,
    },
}

impl RegistryError {
    /// True for refusals a user can act on (unknown names, missing approvals, forbidden
    /// transitions): the CLI reports them with exit status 1, not as a failure.
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            RegistryError::UnknownModel { .. }
                | RegistryError::UnknownVersion { .. }
                | RegistryError::UnknownStage { .. }
                | RegistryError::ApprovalRequired { .. }
                | RegistryError::AlreadyApproved { .. }
                | RegistryError::RulesNotRecorded { .. }
                | RegistryError::MissingApprover { .. }
                | RegistryError::InvalidTransition { .. }
                | RegistryError::NothingInProduction { .. }
                | RegistryError::NoPreviousProduction { .. }
                | RegistryError::InvalidRegistration { .. }
        )
    }
}

/// Busy and corrupt databases get their own variants so that messages say what to do.
impl From<rusqlite::Error> for RegistryError {
    fn from(error: rusqlite::Error) -> RegistryError {
        use rusqlite::ErrorCode;
        match error.sqlite_error_code() {
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => RegistryError::Busy {
                seconds: crate::schema::BUSY_TIMEOUT.as_secs(),
            },
            Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => RegistryError::Corrupt {
                path: None,
                message: error.to_string(),
            },
            _ => RegistryError::Database(error),
        }
    }
}

fn database_name(path: &Option<PathBuf>) -> String {
    match path {
        Some(path) => path.display().to_string(),
        None => "the registry database".to_string(),
    }
}

fn known_models(known: &[String]) -> String {
    if known.is_empty() {
        " (it is empty)".to_string()
    } else {
        format!(" (registered: {})", known.join(", "))
    }
}

fn version_range(latest: u32) -> String {
    match latest {
        0 => "none".to_string(),
        1 => "v1".to_string(),
        latest => format!("v1..v{latest}"),
    }
}
