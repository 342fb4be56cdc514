//! `mlsysc`: the command-line front of mlsys. Parses arguments, loads the project, runs the
//! compiler, and renders what it found. Exit codes: 0 clean (warnings allowed), 1 errors found,
//! 2 usage or IO problem.

mod project;
mod report;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use mlsys_compiler::plan::print::plan_text;
use mlsys_compiler::{Compilation, compile};

#[derive(Parser)]
#[command(
    name = "mlsysc",
    version,
    about = "Compiler and runtime for production ML systems written in .mlsys",
    long_about = "mlsysc type-checks a whole ML system — sources and data contracts, versioned feature \
groups, models, serve targets and monitors — before anything runs, and lowers it to one feature plan \
that the batch and online engines execute identically.\n\n\
A project is a directory of .mlsys files. Commands take the project directory as PATH (default: the \
current directory) or a single .mlsys file.",
    after_help = "Exit status: 0 when the project is clean (warnings allowed), 1 when errors were found, \
2 on a usage or IO problem.\n\nExamples:\n  mlsysc check examples/fraud\n  mlsysc check --format json > diagnostics.json\n  mlsysc plan examples/fraud --emit ir"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Parse and type-check a project: names, types, windows, versions, contracts, leakage.
    #[command(long_about = "Parse and type-check a project.\n\n\
Reports every problem at once, each with a stable code (E0xxx errors, W0xxx warnings; see \
lang-spec/diagnostics.md), the line and column, and a hint. A broken declaration does not hide the \
others: parsing recovers at the next declaration and checking continues past errors.")]
    Check {
        /// Project directory or .mlsys file.
        #[arg(default_value = ".")]
        path: PathBuf,
        /// Output format: `human` for people (rendered snippets), `json` for tools and CI.
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
    },
    /// Show the feature plan the engines will run.
    #[command(
        long_about = "Check the project and print its feature plan: every source, contract, \
entity, feature group version (with the canonical hash of each feature), model, serve target and \
monitor, fully typed and name-resolved.\n\n\
`--emit ir` prints the canonical text form (stable, diff-friendly); `--emit json` prints the plan \
as JSON for other tools. Nothing is printed to stdout if the project has errors."
    )]
    Plan {
        /// Project directory or .mlsys file.
        #[arg(default_value = ".")]
        path: PathBuf,
        /// What to print.
        #[arg(long, value_enum, default_value_t = Emit::Ir)]
        emit: Emit,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Human,
    Json,
}

#[derive(Clone, Copy, ValueEnum)]
enum Emit {
    /// The canonical plan text.
    Ir,
    /// The plan as JSON.
    Json,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Check { path, format } => {
            let project = project::load(&path)?;
            let compilation = compile(&project.files);
            match format {
                Format::Human => {
                    eprint!("{}", report::human(&compilation.diagnostics, &project.files));
                    let files = project.files.len();
                    let noun = if files == 1 { "file" } else { "files" };
                    if compilation.diagnostics.is_empty() {
                        eprintln!("checked {files} {noun}: no problems");
                    } else {
                        eprintln!("checked {files} {noun}: {}", report::summary(&compilation.diagnostics));
                    }
                }
                Format::Json => {
                    let mut stdout = std::io::stdout().lock();
                    serde_json::to_writer_pretty(&mut stdout, &report::json(&compilation.diagnostics, &project.files))?;
                    writeln!(stdout)?;
                }
            }
            Ok(exit_code(&compilation))
        }
        Command::Plan { path, emit } => {
            let project = project::load(&path)?;
            let compilation = compile(&project.files);
            if !compilation.diagnostics.is_empty() {
                eprint!("{}", report::human(&compilation.diagnostics, &project.files));
            }
            let Some(plan) = &compilation.plan else {
                eprintln!("no plan: {}", report::summary(&compilation.diagnostics));
                return Ok(ExitCode::from(1));
            };
            let mut stdout = std::io::stdout().lock();
            match emit {
                Emit::Ir => write!(stdout, "{}", plan_text(plan))?,
                Emit::Json => {
                    serde_json::to_writer_pretty(&mut stdout, plan)?;
                    writeln!(stdout)?;
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn exit_code(compilation: &Compilation) -> ExitCode {
    if compilation.has_errors() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
