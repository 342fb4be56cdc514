//! `training/<model>/<id>/manifest.json`: what a training set is — the plan hashes it was computed
//! with, its ranges, its columns, the fingerprints of every input partition, its row counts — so
//! the same set can be recognised and rebuilt identically later. Written last, atomically: a
//! training set without a manifest is incomplete and is rebuilt.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::BatchError;

pub const MANIFEST_FILE: &str = "manifest.json";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub model: String,
    pub id: String,
    /// Fingerprint of the model's definition as it shapes the rows (see `spec::definition`).
    pub definition: String,
    /// `classification` or `regression`.
    pub task: String,
    pub examples: String,
    pub label: Column,
    /// The model's inputs, in order: table column, type and plan hash of each feature.
    pub features: Vec<Feature>,
    pub snapshot: SplitManifest,
    pub holdout: SplitManifest,
    /// Source → input partition → fingerprint, for every partition that can reach the rows.
    pub inputs: BTreeMap<String, BTreeMap<String, String>>,
    /// The build run that wrote it.
    pub run: i64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Column {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Feature {
    pub column: String,
    #[serde(rename = "type")]
    pub ty: String,
    pub hash: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SplitManifest {
    /// `YYYY-MM-DD`, both included.
    pub from: String,
    pub to: String,
    /// The table, relative to the offline store root.
    pub table: String,
    pub rows: u64,
    pub unlabeled: u64,
}

impl Manifest {
    /// The manifest in `directory`, `None` when there is none (never built, or interrupted).
    pub fn read(directory: &Path) -> Result<Option<Manifest>, BatchError> {
        let path = directory.join(MANIFEST_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text)
                .map(Some)
                .map_err(|source| BatchError::Corrupt {
                    path: path.display().to_string(),
                    remedy: "",
                    source,
                }),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(BatchError::io(&path, error)),
        }
    }

    /// Writes the manifest into `directory` atomically (temporary file, fsync, rename).
    pub fn write(&self, directory: &Path) -> Result<(), BatchError> {
        use std::io::Write;
        let path = directory.join(MANIFEST_FILE);
        let temporary = directory.join(format!("{MANIFEST_FILE}.tmp"));
        let text = serde_json::to_string_pretty(self).map_err(|source| BatchError::Encode {
            what: "a training set's manifest",
            source,
        })?;
        let mut file = std::fs::File::create(&temporary).map_err(|error| BatchError::io(&temporary, error))?;
        file.write_all(text.as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(|error| BatchError::io(&temporary, error))?;
        std::fs::rename(&temporary, &path).map_err(|error| BatchError::io(&path, error))
    }
}
