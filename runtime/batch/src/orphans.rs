//! Files a killed build left behind: a table write encodes its Parquet files before its commit, so
//! a process killed in between leaves files in the table's directory that no version of its Delta
//! log references. They are invisible to readers, but they take space; the next build, holding the
//! project's build lock, removes those older than the lock (never a file any log version
//! references, so every version stays readable). The prediction logs are not the build's:
//! `mlsysc deploy` appends to them at any time, so a file of theirs not yet committed may be a
//! write in progress, and they are left alone.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::error::BatchError;
use crate::store::PREDICTIONS;

/// The prefix of every data file a table write creates (and of its upload's staging file).
const DATA_FILE_PREFIX: &str = "part-";

/// The directories under the store root that are Delta tables written by builds (not the
/// prediction logs).
pub fn table_directories(root: &Path) -> Result<Vec<PathBuf>, BatchError> {
    let mut tables = Vec::new();
    if !root.is_dir() {
        return Ok(tables);
    }
    let predictions = root.join(PREDICTIONS);
    let mut pending = vec![root.to_path_buf()];
    while let Some(directory) = pending.pop() {
        if directory == predictions {
            continue;
        }
        let entries = read_directory(&directory)?;
        // A table has a log, or (a first write killed before its commit) only data files.
        let is_table = entries.iter().any(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            name == "_delta_log" || name.starts_with("dt=") || name.starts_with(DATA_FILE_PREFIX)
        });
        if is_table {
            tables.push(directory);
            continue;
        }
        for entry in entries {
            // `_spill`, `_state`, `_verify`: the store's own files, never tables.
            if entry.path().is_dir() && !entry.file_name().to_string_lossy().starts_with('_') {
                pending.push(entry.path());
            }
        }
    }
    tables.sort();
    Ok(tables)
}

/// The data files in `table` that no version of its log references, written before
/// `written_before`. Empty when the log's early versions are gone (replaced by a checkpoint):
/// what they referenced can no longer be told.
pub fn uncommitted_files(table: &Path, written_before: SystemTime) -> Result<Vec<PathBuf>, BatchError> {
    // Absolute, as the log's paths resolve to.
    let table = &table.canonicalize().map_err(|error| BatchError::io(table, error))?;
    let Some(referenced) = referenced_files(table)? else {
        return Ok(Vec::new());
    };
    let mut uncommitted = Vec::new();
    let mut pending = vec![table.to_path_buf()];
    while let Some(directory) = pending.pop() {
        for entry in read_directory(&directory)? {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if path.is_dir() {
                if name != "_delta_log" {
                    pending.push(path);
                }
                continue;
            }
            if !name.starts_with(DATA_FILE_PREFIX) || referenced.contains(&path) {
                continue;
            }
            let modified = entry
                .metadata()
                .and_then(|metadata| metadata.modified())
                .map_err(|error| BatchError::io(&path, error))?;
            if modified < written_before {
                uncommitted.push(path);
            }
        }
    }
    uncommitted.sort();
    Ok(uncommitted)
}

/// Removes the uncommitted files of every table under `root` written before `written_before`;
/// returns how many.
pub fn remove_uncommitted_files(root: &Path, written_before: SystemTime) -> Result<usize, BatchError> {
    let mut removed = 0;
    for table in table_directories(root)? {
        for file in uncommitted_files(&table, written_before)? {
            match std::fs::remove_file(&file) {
                Ok(()) => removed += 1,
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
                Err(error) => return Err(BatchError::io(&file, error)),
            }
        }
    }
    Ok(removed)
}

/// Every data file any version of the table's log adds or removes, as absolute paths (none for a
/// table never committed); `None` when version 0 of the log is gone.
pub fn referenced_files(table: &Path) -> Result<Option<HashSet<PathBuf>>, BatchError> {
    let table = &table.canonicalize().map_err(|error| BatchError::io(table, error))?;
    let log = table.join("_delta_log");
    if !log.is_dir() {
        return Ok(Some(HashSet::new()));
    }
    if !log.join(format!("{:020}.json", 0)).is_file() {
        return Ok(None);
    }
    let base = url::Url::from_directory_path(table).map_err(|()| BatchError::TablePath {
        path: table.display().to_string(),
    })?;
    let mut referenced = HashSet::new();
    for entry in read_directory(&log)? {
        let path = entry.path();
        if path.extension().is_none_or(|extension| extension != "json") {
            continue;
        }
        let text = std::fs::read_to_string(&path).map_err(|error| BatchError::io(&path, error))?;
        for line in text.lines() {
            let action: serde_json::Value = serde_json::from_str(line).map_err(|source| BatchError::Corrupt {
                path: path.display().to_string(),
                remedy: "",
                source,
            })?;
            for kind in ["add", "remove"] {
                let Some(file) = action[kind]["path"].as_str() else {
                    continue;
                };
                // Log paths are relative URLs (percent-encoded).
                let file = base.join(file).ok().and_then(|url| url.to_file_path().ok());
                referenced.extend(file);
            }
        }
    }
    Ok(Some(referenced))
}

fn read_directory(directory: &Path) -> Result<Vec<std::fs::DirEntry>, BatchError> {
    std::fs::read_dir(directory)
        .and_then(|entries| entries.collect::<Result<Vec<_>, _>>())
        .map_err(|error| BatchError::io(directory, error))
}
