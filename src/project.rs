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
            // Following symbolic links; a file that cannot be examined is kept, so reading it
            // reports why.
            match std::fs::metadata(&path) {
                Ok(metadata) if !metadata.is_file() => {
                    eprintln!("warning: skipping {}: not a regular file", path.display());
                }
                _ => found.push(path),
            }
        }
    }
    Ok(())
}

/// Reads a file named by the user or found in a project, refusing anything but a regular file: a
/// named pipe or a device would block the read forever or never end.
pub fn read_regular(path: &Path) -> anyhow::Result<Vec<u8>> {
    let metadata = std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    if !metadata.is_file() {
        bail!("cannot read {}: not a regular file", path.display());
    }
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

/// Loads the project at `path`: a directory (every `.mlsys` file below it that is a regular file,
/// hidden directories and `target/` excepted; other files are skipped with a warning) or a single
/// `.mlsys` file.
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
        let bytes = read_regular(file)?;
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
