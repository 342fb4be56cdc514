//! Finding and reading a project's `.mlsys` files: the only place the CLI touches the file system
//! on the compiler's behalf.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use mlsys_compiler::source::SourceFile;

/// A project on disk: its files, named relative to the project directory, and their paths.
pub struct Project {
    pub files: Vec<SourceFile>,
    pub paths: Vec<PathBuf>,
}

/// Directories never searched for `.mlsys` files.
fn skipped(name: &str) -> bool {
    name.starts_with('.') || name == "target" || name == "node_modules"
}

fn collect(directory: &Path, found: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    let entries =
        std::fs::read_dir(directory).with_context(|| format!("cannot read directory {}", directory.display()))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("cannot read directory {}", directory.display()))?;
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        let file_type = entry
            .file_type()
            .with_context(|| format!("cannot stat {}", path.display()))?;
        if file_type.is_dir() {
            if !skipped(&name) {
                collect(&path, found)?;
            }
        } else if path.extension().is_some_and(|extension| extension == "mlsys") {
            found.push(path);
        }
    }
    Ok(())
}

/// Loads the project at `path`: a directory (every `.mlsys` file below it, hidden directories and
/// `target/` excepted) or a single `.mlsys` file.
pub fn load(path: &Path) -> anyhow::Result<Project> {
    let metadata = std::fs::metadata(path).with_context(|| format!("cannot open {}", path.display()))?;
    let (root, mut paths) = if metadata.is_dir() {
        let mut paths = Vec::new();
        collect(path, &mut paths)?;
        if paths.is_empty() {
            bail!("no .mlsys files in {}", path.display());
        }
        (path.to_path_buf(), paths)
    } else {
        let root = path.parent().map(Path::to_path_buf).unwrap_or_default();
        (root, vec![path.to_path_buf()])
    };
    paths.sort();
    let mut files = Vec::with_capacity(paths.len());
    for file in &paths {
        let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
        let name = file
            .strip_prefix(&root)
            .unwrap_or(file)
            .to_string_lossy()
            .replace('\\', "/");
        files.push(SourceFile::from_bytes(name, bytes));
    }
    Ok(Project { files, paths })
}

/// The directory holding the project at `path` (a directory, or one of its `.mlsys` files): where
/// `mlsys.lock` and the `.mlsys/` state (stores, registry) live.
pub fn directory(path: &Path) -> PathBuf {
    if path.is_dir() {
        path.to_path_buf()
    } else {
        path.parent().map(Path::to_path_buf).unwrap_or_default()
    }
}
