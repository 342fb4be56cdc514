//! `mlsysc build`: runs the batch engine on a project, with progress bars and a summary table.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use mlsys_batch::{BuildOptions, Progress};
use mlsys_compiler::compile;

use crate::materialize::Exact;
use crate::{project, report};

#[derive(clap::Args)]
pub struct BuildArgs {
    /// Project directory.
    #[arg(default_value = ".")]
    path: PathBuf,
    /// The offline store (default: `.mlsys/offline` in the project).
    #[arg(long, value_name = "DIR")]
    offline: Option<PathBuf>,
    /// Only input days from this date, YYYY-MM-DD (a backfill range with --to).
    #[arg(long, value_name = "DATE")]
    from: Option<String>,
    /// Only input days up to this date, YYYY-MM-DD.
    #[arg(long, value_name = "DATE")]
    to: Option<String>,
    /// Recompute every partition, whatever changed.
    #[arg(long)]
    full_refresh: bool,
    /// Memory budget of the batch stages in MiB (default: 4096): beyond it sorts and aggregations
    /// spill to disk, table writes finish their files at an eighth of it, and point-in-time
    /// lookups hold at most half of it, making more passes over the rows instead.
    #[arg(long, value_name = "MIB")]
    memory_limit: Option<usize>,
    /// The online store the latest windowed values are materialized to: a file path (embedded) or
    /// a `redis://host:port` URL (default: `.mlsys/online.redb` in the project).
    // `--help` never shows the variable's value: it may hold a password.
    #[arg(long, value_name = "LOCATION", env = "MLSYS_ONLINE", hide_env_values = true)]
    online: Option<String>,
    /// Keep the online store's windowed values exact from this UTC day on, YYYY-MM-DD (default:
    /// from the newest event time ingested): `deploy` then answers requests of earlier times
    /// point in time too, as `mlsysc replay` of past days needs. The store holds every change
    /// point from that day.
    #[arg(long, value_name = "DATE")]
    online_from: Option<String>,
    /// Key namespace in a shared online store (several projects on one Redis).
    #[arg(long, value_name = "NAME", default_value = mlsys_online::DEFAULT_NAMESPACE)]
    namespace: String,
    /// The model registry (default: `.mlsys/registry.db` in the project).
    #[arg(long, value_name = "PATH")]
    registry: Option<PathBuf>,
}

/// Progress bars on stderr; hidden when stderr is not a terminal.
struct Bars {
    bar: std::cell::RefCell<Option<ProgressBar>>,
}

impl Progress for Bars {
    fn start(&self, step: &str, total: u64) {
        let bar = ProgressBar::new(total);
        let style = ProgressStyle::with_template("{msg:>24} [{bar:30}] {pos}/{len} files {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        bar.set_style(style);
        bar.set_message(step.to_string());
        *self.bar.borrow_mut() = Some(bar);
    }

    fn advance(&self, done: u64) {
        if let Some(bar) = self.bar.borrow().as_ref() {
            bar.inc(done);
        }
    }

    fn finish(&self) {
        if let Some(bar) = self.bar.borrow_mut().take() {
            bar.finish_and_clear();
        }
    }
}

pub fn build(arguments: BuildArgs) -> anyhow::Result<ExitCode> {
    let project = project::load(&arguments.path)?;
    let compilation = compile(&project.files);
    if !compilation.diagnostics.is_empty() {
        eprint!("{}", report::human(&compilation.diagnostics, &project.files));
    }
    let Some(plan) = &compilation.plan else {
        eprintln!("not built: {}", report::summary(&compilation.diagnostics));
        return Ok(ExitCode::from(1));
    };
    let directory = project::directory(&arguments.path);
    // Held until the build ends: a second build of the project fails here, before touching anything
    // (a feature refresh of `deploy` is waited for).
    let waiting = &mut |held: &crate::build_lock::LockError| eprintln!("waiting: {held}");
    let lock = match crate::build_lock::acquire_after_refresh(&directory.join(".mlsys"), "mlsysc build", waiting) {
        Ok(lock) => lock,
        Err(error) => {
            eprintln!("error: not built: {error}");
            return Ok(ExitCode::from(1));
        }
    };
    let store = arguments
        .offline
        .clone()
        .unwrap_or_else(|| directory.join(".mlsys").join("offline"));
    // What killed builds left: files written before this build took the lock, never committed.
    if let Err(error) = mlsys_batch::orphans::remove_uncommitted_files(&store, lock.acquired) {
        eprintln!(
            "error: build failed: cleaning up after an interrupted build: {}",
            mlsys_deploy::deployment::error_chain(&error)
        );
        return Ok(ExitCode::from(1));
    }
    let options = BuildOptions {
        full_refresh: arguments.full_refresh,
        from: arguments.from.clone(),
        to: arguments.to.clone(),
        memory_limit: arguments.memory_limit.map(|mebibytes| mebibytes << 20),
        skip_training_sets: false,
    };
    let online_from = match &arguments.online_from {
        Some(text) => Some(
            mlsys_compiler::syntax::literal::parse_date(text)
                .map(mlsys_batch::features::output::day_start)
                .map_err(|message| anyhow::anyhow!("--online-from {text}: {message}"))?,
        ),
        None => None,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let started = Instant::now();
    let progress = Bars {
        bar: std::cell::RefCell::new(None),
    };
    let outcome = runtime.block_on(async {
        let report = mlsys_batch::build(plan, &directory, &store, &options, &progress).await?;
        let location = crate::materialize::online_location(&directory, arguments.online.as_deref());
        let mut offline = mlsys_batch::store::OfflineStore::new(&store);
        if let Some(bytes) = options.memory_limit {
            offline = offline.with_memory_limit(bytes);
        }
        let online = (&location, arguments.namespace.as_str());
        let materialized = materialize_step(plan, &offline, online, online_from).await?;
        let places = crate::train::Places::of(&directory, arguments.registry.as_deref());
        let trained = crate::train::train_models(plan, &offline, &places).await?;
        anyhow::Ok((report, materialized, location, trained))
    });
    let (report, materialized, online, trained) = match outcome {
        Ok(report) => report,
        Err(error) => {
            eprintln!("error: build failed: {error:#}");
            eprintln!("nothing half-written: every table commit is atomic; fix the cause and run `mlsysc build` again");
            return Ok(ExitCode::from(1));
        }
    };
    for source in &report.sources {
        for warning in &source.warnings {
            eprintln!("warning: {warning}");
        }
    }
    println!(
        "{:<20} {:>11} {:>8} {:>6} {:>10} {:>10} {:>12}",
        "source", "partitions", "skipped", "files", "rows read", "accepted", "quarantined"
    );
    for source in &report.sources {
        println!(
            "{:<20} {:>11} {:>8} {:>6} {:>10} {:>10} {:>12}",
            source.source,
            source.partitions_ingested,
            source.partitions_skipped,
            source.files_read,
            source.rows_read,
            source.rows_accepted,
            source.rows_quarantined
        );
    }
    if !report.features.is_empty() {
        println!(
            "{:<28} {:>11} {:>8} {:>12} {:>8}",
            "feature table", "partitions", "skipped", "rows", "seconds"
        );
    }
    for table in &report.features {
        let computed = format!(
            "{}{}",
            table.partitions_computed,
            if table.full { " (all)" } else { "" }
        );
        println!(
            "{:<28} {:>11} {:>8} {:>12} {:>8.2}",
            table.group, computed, table.partitions_skipped, table.rows_written, table.seconds
        );
    }
    if !report.training.is_empty() {
        println!(
            "{:<28} {:>18} {:>10} {:>9} {:>10} {:>8}",
            "training set", "id", "snapshot", "holdout", "unlabeled", "seconds"
        );
    }
    for set in &report.training {
        let id = if set.built {
            set.id.clone()
        } else {
            format!("{} (same)", set.id)
        };
        println!(
            "{:<28} {:>18} {:>10} {:>9} {:>10} {:>8.2}",
            set.model, id, set.snapshot_rows, set.holdout_rows, set.unlabeled, set.seconds
        );
    }
    if !materialized.is_empty() {
        println!(
            "{:<28} {:>10} {:>10} {:>8} {:>8}",
            "online table", "entities", "unchanged", "stale", "seconds"
        );
    }
    for table in &materialized {
        let (entities, unchanged) = if table.written {
            (table.entities.to_string(), table.unchanged.to_string())
        } else {
            ("(same)".to_string(), String::new())
        };
        println!(
            "{:<28} {:>10} {:>10} {:>8} {:>8.2}",
            table.group, entities, unchanged, table.stale, table.seconds
        );
    }
    print_trained(&trained);
    let quarantined: u64 = report.sources.iter().map(|source| source.rows_quarantined).sum();
    println!(
        "build {} finished in {:.1}s; offline store: {}; online store: {online}",
        report.run,
        started.elapsed().as_secs_f64(),
        store.display()
    );
    if quarantined > 0 {
        println!(
            "{quarantined} rows quarantined, with their reasons, in {}/quarantine/",
            store.display()
        );
    }
    for source in &report.sources {
        for (reason, count) in &source.rows_skipped {
            println!(
                "{}: {count} rows skipped ({}); not bad data, not quarantined",
                source.source,
                reason.describe()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The models table of the summary: what was trained, how it compares with production, and what
/// happens next.
/// Materializes into the online store. The embedded store open in another process (a running
/// `mlsysc deploy`, which refreshes it itself) is left to it, with a warning, unless
/// `--online-from` asks for change points only this build would keep.
async fn materialize_step(
    plan: &mlsys_compiler::plan::Plan,
    offline: &mlsys_batch::store::OfflineStore,
    (location, namespace): (&mlsys_online::StoreLocation, &str),
    online_from: Option<i64>,
) -> anyhow::Result<Vec<crate::materialize::Materialized>> {
    match mlsys_online::open_store(location, namespace).await {
        Ok(online) => {
            let exact = online_from.map_or(Exact::Watermark, Exact::From);
            crate::materialize::materialize(plan, offline, online.as_ref(), exact).await
        }
        Err(mlsys_online::StoreError::AlreadyOpen { store }) if online_from.is_none() => {
            eprintln!(
                "warning: online store {store} is open in another process: not materialized by this build \
                 (a running `mlsysc deploy` refreshes it itself; stop a `serve-features` and build again)"
            );
            Ok(Vec::new())
        }
        Err(error) => Err(error.into()),
    }
}

fn print_trained(trained: &[crate::train::Trained]) {
    use crate::train::Outcome;
    if trained.is_empty() {
        return;
    }
    println!(
        "{:<28} {:>8} {:>18} {:>18} {:>8}  next",
        "model", "version", "holdout", "production", "seconds"
    );
    for model in trained {
        match &model.outcome {
            Outcome::Unchanged { version, same_model } => println!(
                "{:<28} {:>8} {:>18} {:>18} {:>8}  unchanged: {}",
                model.model,
                format!("v{version}"),
                "",
                "",
                "",
                match same_model {
                    false => "trained from the same inputs",
                    true => "retrained to the same model (new input partitions, the same training rows)",
                }
            ),
            Outcome::NoTrainingSet => println!("{:<28} {:>8}  no training set", model.model, "-"),
            Outcome::Registered(registered) => {
                let holdout = format!("{} {:.4}", registered.metric, registered.value);
                let production = registered.production.map_or_else(
                    || "none".to_string(),
                    |(version, value)| format!("v{version} {value:.4}"),
                );
                let next = next_step(&model.model, registered);
                println!(
                    "{:<28} {:>8} {:>18} {:>18} {:>8.2}  {next}",
                    model.model,
                    format!("v{}", registered.version),
                    holdout,
                    production,
                    registered.step_seconds
                );
            }
        }
    }
}

/// What happens next to a newly registered version of `model`: promoted, or why it is a candidate.
pub(crate) fn next_step(model: &str, registered: &crate::train::Registered) -> String {
    if registered.promoted {
        "promoted to production".to_string()
    } else if !registered.promotable {
        "candidate: promote_if does not hold".to_string()
    } else if registered.approval_required {
        format!(
            "candidate: needs approval (mlsysc approve {model} {} --by NAME)",
            registered.version
        )
    } else {
        format!(
            "candidate (mlsysc promote {model} {} --to production)",
            registered.version
        )
    }
}
