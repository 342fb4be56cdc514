//! `mlsysc`: the command-line front of mlsys. Parses arguments, loads the project, runs the
//! compiler, and renders what it found. Exit codes: 0 clean (warnings allowed), 1 errors found,
//! 2 usage or IO problem.

mod base;
mod build;
mod build_lock;
mod check;
mod data;
mod deploy;
mod external;
mod fmt;
mod lsp;
mod materialize;
mod models;
mod monitor;
mod monitor_report;
mod monitor_schedule;
mod process_tree;
mod project;
mod refresh;
mod replay;
mod report;
mod retrain;
mod schedule;
mod score;
mod serve;
mod shadow_report;
mod tables;
mod train;
mod verify;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use mlsys_compiler::compile;
use mlsys_compiler::plan::print::plan_text;

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
2 on a usage or IO problem.\n\nExamples:\n  mlsysc check examples/fraud\n  mlsysc check --format json > diagnostics.json\n  mlsysc check --base origin/main --format github\n  mlsysc lock examples/fraud\n  mlsysc plan examples/fraud --emit ir"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Parse and type-check a project: names, types, windows, versions, contracts, leakage.
    #[command(long_about = "Parse and type-check a project.\n\n\
Reports every problem at once, each with a stable code (E0xxx errors, W0xxx warnings, I0xxx notes; \
see lang-spec/diagnostics.md), the line and column, and a hint. A broken declaration does not hide \
the others: parsing recovers at the next declaration and checking continues past errors.\n\n\
When the project has an mlsys.lock, every locked feature group version must still mean what it \
meant (E0801). With --base REV (a git revision) or --base-dir DIR, the project is also compared \
with that version: removing or retyping a guaranteed column, tightening an expectation, dropping a \
contract, or editing a feature version a model pins are errors; additions and model or serving \
changes are listed for review.\n\n\
With --data, a bounded sample of every source's live files (--sample rows, newest days first) is \
read with the same schema-on-read rules as `mlsysc build` and checked against the declared schema \
and the contracts: missing or retyped columns, unexpected ones, and how often rows would be \
quarantined. Nothing is written.")]
    Check(check::CheckArgs),
    /// Write mlsys.lock: the canonical hash of every feature group version and contract.
    #[command(
        long_about = "Write mlsys.lock next to the project's .mlsys files: the canonical hash \
of every feature group version (and each of its features) and of every contract, sorted and \
diff-friendly. Commit it: `mlsysc check` then refuses any change to the meaning of a locked feature \
version.\n\n\
New versions and contracts are added; a locked version whose definition changed is refused unless \
--force is given (only for versions that never reached production)."
    )]
    Lock(check::LockArgs),
    /// Run the batch side: ingest and validate sources into the offline store.
    #[command(long_about = "Run the batch side of the project into the offline store (default \
.mlsys/offline in the project): every source is read schema-on-read, cast to its declared types and \
checked against its contracts; good rows go to the processed zone, bad rows to the quarantine with \
the reason, the file and the row number. Both are Delta tables partitioned by input day.\n\n\
Only input days whose files changed are reprocessed (fingerprints of names, sizes and times), \
with the days whose `unique(...)` verdicts those changes move; --from/--to limit a backfill to a date range; --full-refresh recomputes everything. Every table \
write is one atomic commit: a build killed at any point and run again ends in the same tables.")]
    Build(build::BuildArgs),
    /// Recompute sampled offline values through the online path and report every difference.
    #[command(long_about = "Prove there is no training-serving skew on real data. For sampled \
entities, the online store's timelines must equal the offline feature tables' change points; for \
sampled rows of every row-level feature table and training set, the windowed inputs are looked up \
the online way (a timeline materialized as of the row's time, through the embedded store) and every \
row-level and derived feature is computed by the JIT from the processed row. Every value must be \
bit-identical to the offline one; each mismatch is listed with the table, the row, the feature and \
both values. Exit status 1 on any mismatch.")]
    Verify(verify::VerifyArgs),
    /// Serve online features over HTTP (Feast's feature-server API) from the online store.
    #[command(
        long_about = "Serve the project's features over HTTP: POST /get-online-features takes \
Feast's request (feature references `group@vN:feature` or a `feature_service` naming a model, entity \
keys and request fields in `entities`) and answers Feast's column-oriented response with statuses. \
Row-level and derived features run as JIT-compiled native code; windowed values come from the \
online store as `mlsysc build` materialized them. GET /health, /ready and /metrics (Prometheus) \
are there for orchestrators."
    )]
    ServeFeatures(serve::ServeFeaturesArgs),
    /// Serve the project's models: every realtime serve target over HTTP, with the feature API.
    #[command(long_about = "Serve every realtime `serve` target of the project over HTTP: POST \
/v1/score/{target} with {\"rows\": [{field: value, ...}]} answers one score per row with the model's \
name and version, or the fallback's answer and why; the Open Inference Protocol v2 routes \
(/v2/health/live, /v2/health/ready, /v2/models/{target}/ready) serve KServe and Triton clients; \
POST /get-online-features is the feature server of `serve-features`; GET /health, /ready and \
/metrics (Prometheus) are there for orchestrators.\n\n\
Each target scores with the version its stage resolves to in the registry (`model@production`, ...). \
The registry is read every --registry-poll milliseconds: a promotion, rollback or approval is \
loaded off the request path and swapped in without a restart; requests in flight finish on the \
version they started with. SIGTERM or ctrl-c stops accepting, finishes the requests in flight and exits.")]
    Deploy(deploy::DeployArgs),
    /// Compare a target's shadow version with the served one, from its prediction log.
    #[command(
        long_about = "Compare a realtime target's shadow version with the version it serves, on the \
requests both scored (from the target's prediction log): the score difference (mean, p99, max), \
the share of decisions they agree on (at 0.5 for a classifier, the served scores' median for a \
regression), and the PSI between the two score distributions. --format json for CI. Exit status \
1 when no request has both scores."
    )]
    ShadowReport(shadow_report::ShadowReportArgs),
    /// Evaluate every monitor's due periods: PSI drift against the served version's baseline, the
    /// metric once labels are final; store the results, raise and deliver alerts.
    Monitor(monitor::MonitorArgs),
    /// Write a monitor's report: one self-contained HTML file (PSI per period, the metric against
    /// its threshold, baseline against current distributions, alert history).
    Report(monitor_report::ReportArgs),
    /// Train a model again on its `snapshot` and `holdout` moved forward to the newest final labels.
    #[command(
        long_about = "Train a new version of a model with its `snapshot` and `holdout` moved \
forward by the same whole number of days, so that the holdout ends on the last complete UTC day (before \
--at, default now) whose labels are final: `label_delay` has passed since its end and the offline store \
holds labels that recent (lang-spec §7.7, the `retrain` action). The moved ranges' training set is built \
from the offline store as `build` builds one; the version is compared with production on the new \
holdout, `promote_if` and `approval` apply as in `build`, and it is registered with `trigger` in its \
lineage. Nothing is registered when the labels are not final past the current holdout, or when a \
version was already trained on the same moved ranges and data. Needs a build first."
    )]
    Retrain(retrain::RetrainArgs),
    /// Run a batch serve target: score the examples of some UTC days into its `output` table.
    #[command(
        long_about = "Score the examples of some UTC days with a batch serve target's model \
(the version its stage resolves to in the registry), features point in time exactly as the training \
sets get them, into the target's `output` Delta table, partitioned by day: each day given replaces \
that day's partition in one commit. Default: the last complete UTC day. --due makes the run the \
target's schedule has due now instead (lang-spec §7.6). Needs a build first."
    )]
    Score(score::ScoreArgs),
    /// Send the processed rows of some UTC days to a running `deploy` as a realtime target's traffic.
    #[command(
        long_about = "Replay a period as traffic: the rows of the target's examples source that \
`mlsysc build` ingested, whose timestamp falls on the UTC days --from .. --to, are sent in time order \
to a running `mlsysc deploy` (--url) at POST /v1/score/{target}, each with exactly the target's \
request fields, its own timestamp included, so each row is scored as of when it happened. Each \
request carries an X-Request-Id naming its rows (`replay-<source>-<day>-<index>`), so the replay \
can be found in the prediction log. --rate paces the rows per second; --concurrency requests are \
in flight on keep-alive connections. Prints progress, then the rows answered, the fallbacks by \
reason, the failures by status, latency and throughput (--format json for scripts). Exit status 1 \
when a request failed."
    )]
    Replay(replay::ReplayArgs),
    /// List a project's registered model versions: stages, metrics, lineage.
    #[command(
        long_about = "List the model versions in the registry (default .mlsys/registry.db): \
version, stage, the headline holdout metric next to the production version's on the same holdout, \
the training set, when it was trained and who approved it. --format json prints the full lineage: \
spec and plan hashes, pinned feature hashes, the training-set manifest, hyperparameters, every \
metric, artifact paths and checksums, the git commit."
    )]
    Models(models::ModelsArgs),
    /// Record an approval of a model version (required before promotion when `approval = required`);
    /// each approver counts once per version.
    Approve(models::ApproveArgs),
    /// Move a model version to a stage: production, shadow, approved or archived.
    #[command(
        long_about = "Move a model version to a stage. Promoting to production archives the \
version in production. A version registered under `approval = required` needs an approval first: \
the rules are those the registry recorded with the version, not the spec at hand (only a version \
registered before rules were recorded takes the project's, and the output says so). Every change is \
one transaction: concurrent promotions never lose a write."
    )]
    Promote(models::PromoteArgs),
    /// Put the previous production version of a model back in production.
    Rollback(models::RollbackArgs),
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
    /// Format .mlsys files in the one canonical layout (comments are kept).
    #[command(
        long_about = "Rewrite every .mlsys file of the project in the canonical layout: one item \
per line, two-space indentation, canonical spacing and parentheses. Comments and doc comments are \
kept. Formatting never changes meaning: every canonical hash stays the same. A file that does not \
parse is reported and left untouched.\n\n\
With --check nothing is written: the files that would change are listed and the exit status is 1 \
if there are any (for CI)."
    )]
    Fmt(fmt::FmtArgs),
    /// Run the language server over stdin/stdout (used by editors; see editors/vscode).
    #[command(
        long_about = "Run the mlsys language server, speaking the Language Server Protocol over \
stdin and stdout. Editors start it; you rarely run it by hand.\n\n\
It offers diagnostics as you type (every error at once), hover (types, doc comments, feature \
versions and hashes, a column's contract), go to definition, completion and document formatting."
    )]
    Lsp,
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
        Command::Build(arguments) => build::build(arguments),
        Command::Verify(arguments) => verify::verify(arguments),
        Command::ServeFeatures(arguments) => serve::serve_features(arguments),
        Command::Deploy(arguments) => deploy::deploy(arguments),
        Command::ShadowReport(arguments) => shadow_report::shadow_report(arguments),
        Command::Monitor(arguments) => monitor::monitor(arguments),
        Command::Report(arguments) => monitor_report::report(arguments),
        Command::Retrain(arguments) => retrain::retrain_command(arguments),
        Command::Score(arguments) => score::score(arguments),
        Command::Replay(arguments) => replay::replay(arguments),
        Command::Models(arguments) => models::models(arguments),
        Command::Approve(arguments) => models::approve(arguments),
        Command::Promote(arguments) => models::promote(arguments),
        Command::Rollback(arguments) => models::rollback(arguments),
        Command::Check(arguments) => check::check(arguments),
        Command::Lock(arguments) => check::lock(arguments),
        Command::Fmt(arguments) => fmt::fmt(arguments),
        Command::Lsp => lsp::run(),
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
