//! Loading the base side of `mlsysc check --base`: a project's `.mlsys` files at a git revision.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, bail};
use mlsys_compiler::source::SourceFile;

fn git(directory: &Path, arguments: &[&str]) -> anyhow::Result<Vec<u8>> {
    let output = Command::new("git")
        .current_dir(directory)
        .args(arguments)
        .output()
        .context("cannot run git (is it installed?)")?;
    if !output.status.success() {
        bail!(
            "git {} failed: {}",
            arguments.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(output.stdout)
}

/// The project's files as they were at `revision`, named relative to the project directory.
pub fn files_at_revision(project_directory: &Path, revision: &str) -> anyhow::Result<Vec<SourceFile>> {
    git(project_directory, &["rev-parse", "--git-dir"])
        .with_context(|| format!("{} is not inside a git repository", project_directory.display()))?;
    let commit = format!("{revision}^{{commit}}");
    if git(project_directory, &["rev-parse", "--verify", "--quiet", &commit]).is_err() {
        bail!("base revision `{revision}` does not exist in this repository");
    }
    let listing = git(
        project_directory,
        &["ls-tree", "-r", "-z", "--name-only", revision, "--", "."],
    )?;
    let mut names: Vec<String> = listing
        .split(|byte| *byte == 0)
        .filter(|name| !name.is_empty())
        .map(|name| String::from_utf8_lossy(name).into_owned())
        .filter(|name| name.ends_with(".mlsys"))
        .filter(|name| {
            name.split('/')
                .rev()
                .skip(1)
                .all(|directory| !directory.starts_with('.') && directory != "target")
        })
        .collect();
    names.sort();
    let mut files = Vec::with_capacity(names.len());
    for name in names {
        let bytes = git(project_directory, &["show", &format!("{revision}:./{name}")])?;
        files.push(SourceFile::from_bytes(name, bytes));
    }
    if files.is_empty() {
        bail!(
            "base revision `{revision}` has no .mlsys files in {}",
            project_directory.display()
        );
    }
    Ok(files)
}
