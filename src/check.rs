//! `mlsysc check` (with the lock and the base comparison) and `mlsysc lock`.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::ValueEnum;
use mlsys_compiler::diagnostic::Diagnostic;
use mlsys_compiler::evolution::{self, Side};
use mlsys_compiler::lock::{self, LOCK_FILE, Lock};
use mlsys_compiler::source::SourceFile;
use mlsys_compiler::syntax::literal::parse_date;
use mlsys_compiler::{Compilation, compile};

use crate::{base, project, report};

#[derive(Clone, Copy, ValueEnum)]
pub enum Format {
    /// Rendered snippets for people.
    Human,
    /// One JSON document for tools.
    Json,
    /// GitHub Actions workflow commands (`::error file=...,line=...::message`).
    Github,
    /// SARIF 2.1.0, for code-scanning tools.
    Sarif,
}

#[derive(clap::Args)]
pub struct CheckArgs {
    /// Project directory or .mlsys file.
    #[arg(default_value = ".")]
    path: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
    /// Also compare with the project at this git revision (e.g. `origin/main`).
    #[arg(long, value_name = "REV", conflicts_with = "base_dir")]
    base: Option<String>,
    /// Also compare with the project in this directory.
    #[arg(long, value_name = "DIR")]
    base_dir: Option<PathBuf>,
    /// The date deprecation notices are measured against, YYYY-MM-DD (default: today, UTC).
    #[arg(long, value_name = "DATE")]
    today: Option<String>,
    /// Also read a sample of every source's live files and report drift from the declared schema
    /// and contracts.
    #[arg(long)]
    data: bool,
    /// Rows read per source with --data (newest input days first).
    #[arg(long, value_name = "ROWS", default_value_t = 10_000, requires = "data")]
    sample: usize,
}

#[derive(clap::Args)]
pub struct LockArgs {
    /// Project directory.
    #[arg(default_value = ".")]
    path: PathBuf,
    /// Re-lock feature versions whose definition changed (only for versions never used in production).
    #[arg(long)]
    force: bool,
}

fn read_lock(directory: &Path) -> anyhow::Result<Option<Lock>> {
    let path = directory.join(LOCK_FILE);
    if !path.exists() {
        return Ok(None);
    }
    let bytes = crate::project::read_regular(&path)?;
    let text = String::from_utf8(bytes).with_context(|| format!("cannot read {}", path.display()))?;
    let lock = Lock::parse(&text).with_context(|| {
        format!(
            "{} is corrupt; restore it from version control or delete it and run `mlsysc lock`",
            path.display()
        )
    })?;
    Ok(Some(lock))
}

fn today(argument: Option<&str>) -> anyhow::Result<i32> {
    match argument {
        Some(text) => parse_date(text).map_err(|message| anyhow::anyhow!("--today: {message}")),
        None => {
            let seconds = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |duration| duration.as_secs());
            Ok(i32::try_from(seconds / 86_400).unwrap_or(i32::MAX))
        }
    }
}

/// The base project and a label for its files in output.
fn load_base(arguments: &CheckArgs, directory: &Path) -> anyhow::Result<Option<(String, Vec<SourceFile>)>> {
    if let Some(revision) = &arguments.base {
        return Ok(Some((revision.clone(), base::files_at_revision(directory, revision)?)));
    }
    if let Some(base_directory) = &arguments.base_dir {
        let project = project::load(base_directory)?;
        return Ok(Some((base_directory.display().to_string(), project.files)));
    }
    Ok(None)
}

pub fn check(arguments: CheckArgs) -> anyhow::Result<ExitCode> {
    let today = today(arguments.today.as_deref())?;
    let project = project::load(&arguments.path)?;
    let directory = project::directory(&arguments.path);
    let lock = read_lock(&directory)?;
    let base = load_base(&arguments, &directory)?;
    let compilation = compile(&project.files);
    let mut files = project.files.clone();
    let mut diagnostics = compilation.diagnostics.clone();
    let mut notes: Vec<String> = Vec::new();
    if let (Some(lock), Some(plan)) = (&lock, &compilation.plan) {
        diagnostics.extend(lock::check(plan, &compilation.index, lock));
    }
    if arguments.data {
        match &compilation.plan {
            Some(plan) => diagnostics.extend(crate::data::check(
                plan,
                &compilation.index,
                &directory,
                arguments.sample,
            )),
            None => notes.push("data check skipped: fix the errors above first".to_string()),
        }
    }
    if let Some((label, base_files)) = base {
        let base_compilation = compile(&base_files);
        if base_compilation.has_errors() {
            eprint!("{}", report::human(&base_compilation.diagnostics, &base_files));
            bail!(
                "cannot compare with base `{label}`: it does not check cleanly ({}); no breaking-change verdict",
                report::summary(&base_compilation.diagnostics)
            );
        }
        match (&compilation.plan, &base_compilation.plan) {
            (Some(current_plan), Some(base_plan)) => {
                let base_file_offset = u32::try_from(files.len()).unwrap_or(u32::MAX);
                diagnostics.extend(evolution::compare(
                    Side {
                        plan: base_plan,
                        index: &base_compilation.index,
                    },
                    Side {
                        plan: current_plan,
                        index: &compilation.index,
                    },
                    base_file_offset,
                    today,
                ));
                files.extend(base_files.into_iter().map(|file| SourceFile {
                    name: format!("{label}:{}", file.name),
                    ..file
                }));
            }
            _ => notes.push(format!(
                "comparison with base `{label}` skipped: fix the errors above first"
            )),
        }
    }
    render(&arguments, &project.files, &files, &diagnostics)?;
    for note in notes {
        eprintln!("note: {note}");
    }
    Ok(if diagnostics.iter().any(Diagnostic::is_error) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn render(
    arguments: &CheckArgs,
    project_files: &[SourceFile],
    files: &[SourceFile],
    diagnostics: &[Diagnostic],
) -> anyhow::Result<()> {
    // Paths as CI sees them: relative to where mlsysc was started.
    let prefix = project::directory(&arguments.path);
    let mut stdout = std::io::stdout().lock();
    match arguments.format {
        Format::Human => {
            eprint!("{}", report::human(diagnostics, files));
            let count = project_files.len();
            let noun = if count == 1 { "file" } else { "files" };
            if diagnostics.is_empty() {
                eprintln!("checked {count} {noun}: no problems");
            } else {
                eprintln!("checked {count} {noun}: {}", report::summary(diagnostics));
            }
        }
        Format::Json => {
            serde_json::to_writer_pretty(&mut stdout, &report::json(diagnostics, files))?;
            writeln!(stdout)?;
        }
        Format::Github => write!(
            stdout,
            "{}",
            report::github(diagnostics, files, project_files.len(), &prefix)
        )?,
        Format::Sarif => {
            serde_json::to_writer_pretty(
                &mut stdout,
                &report::sarif(diagnostics, files, project_files.len(), &prefix),
            )?;
            writeln!(stdout)?;
        }
    }
    Ok(())
}

pub fn lock(arguments: LockArgs) -> anyhow::Result<ExitCode> {
    let project = project::load(&arguments.path)?;
    let directory = project::directory(&arguments.path);
    let previous = read_lock(&directory)?;
    let compilation: Compilation = compile(&project.files);
    let Some(plan) = &compilation.plan else {
        eprint!("{}", report::human(&compilation.diagnostics, &project.files));
        eprintln!("not locked: {}", report::summary(&compilation.diagnostics));
        return Ok(ExitCode::from(1));
    };
    if let Some(previous) = &previous
        && !arguments.force
    {
        let changed = lock::check(plan, &compilation.index, previous);
        if !changed.is_empty() {
            eprint!("{}", report::human(&changed, &project.files));
            eprintln!(
                "not locked: {} locked version(s) changed; declare new versions, or pass --force",
                changed.len()
            );
            return Ok(ExitCode::from(1));
        }
    }
    let lock = Lock::of(plan);
    let path = directory.join(LOCK_FILE);
    let temporary = directory.join(format!(".{LOCK_FILE}.tmp"));
    std::fs::write(&temporary, lock.render()).with_context(|| format!("cannot write {}", temporary.display()))?;
    std::fs::rename(&temporary, &path).with_context(|| format!("cannot write {}", path.display()))?;
    let groups = lock.features.keys().filter(|name| !name.contains('.')).count();
    let new = previous.map_or(groups, |previous| {
        lock.features
            .keys()
            .filter(|name| !name.contains('.') && !previous.features.contains_key(*name))
            .count()
    });
    eprintln!(
        "wrote {}: {groups} feature group versions ({new} new), {} contracts",
        path.display(),
        lock.contracts.len()
    );
    Ok(ExitCode::SUCCESS)
}
