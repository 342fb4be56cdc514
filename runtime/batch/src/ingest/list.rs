//! Finding a source's input files: local paths and `file://` URLs, Hive-style date partitions
//! (`dt=2026-01-01/`), and a fingerprint per partition so unchanged days are skipped.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use mlsys_compiler::paths::PathReach;
use mlsys_compiler::plan::{Format, Source};
use sha2::{Digest, Sha256};

use crate::error::{BatchError, InputProblem};

/// The partition key of files outside any `dt=` directory.
pub const UNDATED: &str = "undated";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InputFile {
    pub path: PathBuf,
    /// The path as shown to people: relative to the project directory when inside it.
    pub display: String,
    pub size: u64,
    /// Modification time, nanoseconds since the epoch.
    pub modified: i128,
}

/// The first 16 bytes of a digest in hex: the fingerprints the build state keeps.
pub(crate) fn short_hex(hasher: Sha256) -> String {
    hasher
        .finalize()
        .iter()
        .take(16)
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// A source's files grouped by input partition (`YYYY-MM-DD` or [`UNDATED`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SourceFiles {
    pub partitions: BTreeMap<String, Vec<InputFile>>,
}

impl SourceFiles {
    /// A fingerprint of one partition's files (names, sizes, modification times): a changed,
    /// added or removed file changes it.
    pub fn fingerprint(&self, partition: &str) -> String {
        let mut hasher = Sha256::new();
        for file in self.partitions.get(partition).into_iter().flatten() {
            hasher.update(file.display.as_bytes());
            hasher.update(file.size.to_le_bytes());
            hasher.update(file.modified.to_le_bytes());
        }
        short_hex(hasher)
    }

    pub fn file_count(&self) -> usize {
        self.partitions.values().map(Vec::len).sum()
    }
}

/// Resolves a source location against the project directory.
pub fn resolve_location(project: &Path, location: &str) -> Result<PathBuf, BatchError> {
    if let Some(rest) = location.strip_prefix("file://") {
        return Ok(PathBuf::from(rest));
    }
    if let Some((scheme, _)) = location.split_once("://") {
        return Err(BatchError::ObjectStore {
            location: location.to_string(),
            scheme: scheme.to_string(),
        });
    }
    Ok(project.join(location))
}

/// Where `path` really is when symbolic links take it out of `project`; `None` when it stays inside
/// (or cannot be resolved: reading it then fails with its own error).
pub fn outside_project(project: &Path, path: &Path) -> Option<PathBuf> {
    let project = project.canonicalize().ok()?;
    let target = path.canonicalize().ok()?;
    (!target.starts_with(&project)).then_some(target)
}

fn extension_matches(format: Format, name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    match format {
        Format::Csv => name.ends_with(".csv"),
        Format::Json => name.ends_with(".json") || name.ends_with(".jsonl") || name.ends_with(".ndjson"),
        Format::Parquet | Format::Delta => name.ends_with(".parquet"),
    }
}

/// The `dt=YYYY-MM-DD` value of the nearest enclosing Hive directory, if any. A `dt=` (or `date=`)
/// directory whose value is not a date is refused, naming the directory: its files would otherwise
/// be read as undated without anyone noticing.
pub fn hive_date(source: &Source, relative: &Path) -> Result<Option<String>, BatchError> {
    let Some(parent) = relative.parent() else {
        return Ok(None);
    };
    let directories: Vec<&Path> = parent.ancestors().filter(|path| !path.as_os_str().is_empty()).collect();
    for directory in directories {
        let Some(name) = directory.file_name().and_then(|name| name.to_str()) else {
            continue;
        };
        let Some(value) = name.strip_prefix("dt=").or_else(|| name.strip_prefix("date=")) else {
            continue;
        };
        return match mlsys_compiler::syntax::literal::parse_date(value) {
            Ok(_) => Ok(Some(value.to_string())),
            Err(reason) => Err(BatchError::PartitionDirectory {
                source_name: source.name.clone(),
                directory: format!("{}/{}", source.location.trim_end_matches('/'), directory.display()),
                reason,
            }),
        };
    }
    Ok(None)
}

/// Lists the data files of a source (hidden files, `_`-prefixed files such as `_SUCCESS`, and the
/// Delta log are skipped), grouped by Hive date partition. The location must be a folder, and a
/// relative one must not lead out of the project through a symbolic link (the checker already
/// refused `..` above the project: E0113).
pub fn list_source(project: &Path, source: &Source) -> Result<SourceFiles, BatchError> {
    let root = resolve_location(project, &source.location)?;
    let refuse = |problem: InputProblem| BatchError::Input {
        source_name: source.name.clone(),
        file: root.display().to_string(),
        problem,
    };
    if !root.exists() {
        return Err(refuse(InputProblem::NoLocation));
    }
    if !root.is_dir() {
        return Err(refuse(InputProblem::NotAFolder));
    }
    if mlsys_compiler::paths::reach(&source.location) == PathReach::Inside
        && let Some(target) = outside_project(project, &root)
    {
        return Err(refuse(InputProblem::OutsideProject {
            target: target.display().to_string(),
        }));
    }
    if source.format == Format::Delta {
        return list_delta_log(project, &root);
    }
    let mut found = Vec::new();
    walk(&root, &mut found)?;
    found.sort();
    let mut files = SourceFiles::default();
    for path in found {
        let name = path.file_name().and_then(|name| name.to_str()).unwrap_or_default();
        if !extension_matches(source.format, name) {
            continue;
        }
        let metadata = std::fs::metadata(&path).map_err(|error| BatchError::io(&path, error))?;
        let modified = metadata
            .modified()
            .ok()
            .and_then(|time| time.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |duration| duration.as_nanos() as i128);
        let relative = path.strip_prefix(&root).unwrap_or(&path).to_path_buf();
        let display = path
            .strip_prefix(project)
            .unwrap_or(&path)
            .to_string_lossy()
            .replace('\\', "/");
        let partition = hive_date(source, &relative)?.unwrap_or_else(|| UNDATED.to_string());
        files.partitions.entry(partition).or_default().push(InputFile {
            path,
            display,
            size: metadata.len(),
            modified,
        });
    }
    Ok(files)
}

fn walk(directory: &Path, found: &mut Vec<PathBuf>) -> Result<(), BatchError> {
    let entries = std::fs::read_dir(directory).map_err(|error| BatchError::io(directory, error))?;
    for entry in entries {
        let entry = entry.map_err(|error| BatchError::io(directory, error))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || name.starts_with('_') {
            continue;
        }
        let path = entry.path();
        if path.is_dir() {
            walk(&path, found)?;
        } else {
            found.push(path);
        }
    }
    Ok(())
}

/// A Delta source is read through its log; its "files" for fingerprinting are the log entries, so
/// any new commit marks the whole table changed.
fn list_delta_log(project: &Path, root: &Path) -> Result<SourceFiles, BatchError> {
    let log = root.join("_delta_log");
    let entries = std::fs::read_dir(&log).map_err(|error| BatchError::io(&log, error))?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .collect();
    paths.sort();
    let mut files = Vec::new();
    for path in paths {
        let metadata = std::fs::metadata(&path).map_err(|error| BatchError::io(&path, error))?;
        files.push(InputFile {
            display: path
                .strip_prefix(project)
                .unwrap_or(&path)
                .to_string_lossy()
                .replace('\\', "/"),
            path,
            size: metadata.len(),
            modified: 0,
        });
    }
    let mut listed = SourceFiles::default();
    listed.partitions.insert(UNDATED.to_string(), files);
    Ok(listed)
}
