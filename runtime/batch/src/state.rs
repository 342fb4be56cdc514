//! Build state: the run counter and, per source partition, the fingerprints of its inputs and of
//! what it held — so a build recomputes only what changed. Written atomically (temporary file and
//! rename) after each stage has committed its tables: a build killed before that simply redoes the
//! stage, and redoing a stage replaces the same partitions with the same rows.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::BatchError;
use crate::ingest::validate::Skipped;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct BuildState {
    /// Incremented at the start of every build; the application-transaction version of its commits.
    pub run: i64,
    pub sources: BTreeMap<String, SourceState>,
    /// Feature table name → the fingerprint of everything it was computed from.
    #[serde(default)]
    pub features: BTreeMap<String, String>,
    /// Model name → the id of its current training set.
    #[serde(default)]
    pub training: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SourceState {
    pub partitions: BTreeMap<String, PartitionState>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PartitionState {
    /// The fingerprint of the processed partition, what later stages compare: its inputs and its
    /// `unique` verdicts (a partition re-decided by another partition's change gets a new one).
    pub fingerprint: String,
    /// The fingerprint of what the partition is read from (its files and the source's rules).
    #[serde(default)]
    pub inputs: String,
    /// The digest of its `unique(...)` rejections, empty for none.
    #[serde(default)]
    pub unique: String,
    pub rows_accepted: u64,
    pub rows_quarantined: u64,
    /// Rows neither accepted nor quarantined, per reason.
    #[serde(default)]
    pub rows_skipped: Skipped,
    /// Event-time range of the accepted rows (UTC microseconds), if any.
    pub events: Option<(i64, i64)>,
}

impl BuildState {
    pub fn load(path: &Path) -> Result<BuildState, BatchError> {
        match std::fs::read_to_string(path) {
            Ok(text) => serde_json::from_str(&text).map_err(|source| BatchError::Corrupt {
                path: path.display().to_string(),
                remedy: "; delete it to rebuild everything",
                source,
            }),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(BuildState::default()),
            Err(error) => Err(BatchError::io(path, error)),
        }
    }

    pub fn save(&self, path: &Path) -> Result<(), BatchError> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|error| BatchError::io(parent, error))?;
        }
        let text = serde_json::to_string_pretty(self).map_err(|source| BatchError::Encode {
            what: "the build state",
            source,
        })?;
        let temporary = path.with_extension("json.tmp");
        std::fs::write(&temporary, text).map_err(|error| BatchError::io(&temporary, error))?;
        std::fs::rename(&temporary, path).map_err(|error| BatchError::io(path, error))
    }
}
