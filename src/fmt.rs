//! `mlsysc fmt`: rewrite every file of a project in the canonical layout, or (`--check`) list the
//! files that are not.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use mlsys_compiler::format::format_source;
use mlsys_compiler::source::FileId;

use crate::{project, report};

#[derive(clap::Args)]
pub struct FmtArgs {
    /// Project directory or .mlsys file.
    #[arg(default_value = ".")]
    path: PathBuf,
    /// Change nothing; list the files that would change and exit 1 if there are any.
    #[arg(long)]
    check: bool,
}

pub fn fmt(arguments: FmtArgs) -> anyhow::Result<ExitCode> {
    let project = project::load(&arguments.path)?;
    let mut unformatted = 0;
    let mut unparsable = 0;
    for (index, (file, path)) in project.files.iter().zip(&project.paths).enumerate() {
        if let Some(diagnostic) = file.utf8_diagnostic(FileId(index as u32)) {
            eprint!("{}", report::human(&[diagnostic], &project.files));
            unparsable += 1;
            continue;
        }
        let formatted = match format_source(&file.text) {
            Ok(formatted) => formatted,
            Err(mut diagnostics) => {
                // Parse diagnostics carry FileId(0): point them at this file.
                for diagnostic in &mut diagnostics {
                    for label in &mut diagnostic.labels {
                        label.span.file = FileId(index as u32);
                    }
                }
                eprint!("{}", report::human(&diagnostics, &project.files));
                unparsable += 1;
                continue;
            }
        };
        if formatted == file.text {
            continue;
        }
        unformatted += 1;
        if arguments.check {
            println!("{}", path.display());
        } else {
            let temporary = path.with_extension("mlsys.fmt-tmp");
            std::fs::write(&temporary, &formatted).with_context(|| format!("cannot write {}", temporary.display()))?;
            std::fs::rename(&temporary, path).with_context(|| format!("cannot write {}", path.display()))?;
        }
    }
    let files = project.files.len();
    if unparsable > 0 {
        eprintln!("{unparsable} of {files} files do not parse and were left as they are");
        return Ok(ExitCode::from(1));
    }
    if arguments.check && unformatted > 0 {
        eprintln!("{unformatted} of {files} files are not formatted; run `mlsysc fmt`");
        return Ok(ExitCode::from(1));
    }
    if !arguments.check {
        eprintln!("formatted {files} files ({unformatted} changed)");
    }
    Ok(ExitCode::SUCCESS)
}
