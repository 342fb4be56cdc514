//! `mlsysc score`: runs a batch serve target — the examples of some UTC days scored by the version
//! its stage resolves to in the registry, into its `output` table (`mlsys_batch::score`) — and the
//! scheduled runs `mlsysc deploy` makes ([`run_due`]).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{anyhow, bail};
use mlsys_batch::features::output::{date_text, day_of};
use mlsys_batch::score::schedule::{RanRun, run_due_batch_target};
use mlsys_batch::score::{BatchTarget, ScoreError, ScoreReport, ScoredBy, Scorer, score_days};
use mlsys_batch::store::OfflineStore;
use mlsys_compiler::compile;
use mlsys_compiler::plan::DateRange;
use mlsys_compiler::syntax::literal::parse_date;
use mlsys_registry::{Registry, RegistryError, StageRef};

use crate::{project, report};

#[derive(clap::Args)]
pub struct ScoreArgs {
    /// The batch serve target (`serve NAME { mode = batch ... }`).
    target: String,
    /// Project directory.
    #[arg(default_value = ".")]
    path: PathBuf,
    /// Score the examples of this UTC day, YYYY-MM-DD (default: the last complete UTC day).
    #[arg(long, value_name = "DATE", conflicts_with_all = ["from", "to", "due"])]
    date: Option<String>,
    /// Score the examples of the UTC days from this one (with --to), YYYY-MM-DD.
    #[arg(long, value_name = "DATE", requires = "to", conflicts_with = "due")]
    from: Option<String>,
    /// The last UTC day to score (with --from), YYYY-MM-DD.
    #[arg(long, value_name = "DATE", requires = "from", conflicts_with = "due")]
    to: Option<String>,
    /// Instead of given days, make the run the target's `schedule` has due now, if any (the rule
    /// of lang-spec §7.6: one run catches up every missed one), and record it under
    /// `.mlsys/schedules/`.
    #[arg(long)]
    due: bool,
    /// The model registry (default: `.mlsys/registry.db` in the project).
    #[arg(long, value_name = "PATH")]
    registry: Option<PathBuf>,
}

/// Why a target's model cannot be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadModelError {
    #[error("the registry")]
    Registry(#[from] RegistryError),
    #[error(
        "no version of model `{model}` is at stage `{stage}`; `mlsysc models` lists the versions, `mlsysc promote` moves one"
    )]
    NoVersion { model: String, stage: String },
    #[error(
        "model `{model}` v{version} was trained on other inputs than the spec's features ({found} vs {expected}); build to train a version on them, or serve another stage"
    )]
    InputsDiffer {
        model: String,
        version: u32,
        found: String,
        expected: String,
    },
    #[error("the artifact of model `{model}` v{version}, {path}")]
    Artifact {
        model: String,
        version: u32,
        path: String,
        #[source]
        error: std::io::Error,
    },
    #[error("model `{model}` v{version} cannot be decoded")]
    Decode {
        model: String,
        version: u32,
        #[source]
        error: mlsys_train::ModelError,
    },
    #[error("model `{model}` v{version} cannot be loaded in ONNX Runtime")]
    Onnx {
        model: String,
        version: u32,
        #[source]
        error: mlsys_train::OnnxRuntimeError,
    },
}

/// A built-in model decoded from its native bytes.
struct Native(mlsys_train::Model);

impl Scorer for Native {
    fn score(&mut self, columns: &[Vec<f64>]) -> Result<Vec<f64>, Box<dyn std::error::Error + Send + Sync>> {
        let rows = columns.first().map_or(0, Vec::len);
        let mut row = vec![0.0; columns.len()];
        Ok((0..rows)
            .map(|index| {
                for (value, column) in row.iter_mut().zip(columns) {
                    *value = column[index];
                }
                self.0.predict(&row)
            })
            .collect())
    }
}

/// A model trained outside mlsys, scored by ONNX Runtime.
struct Onnx(mlsys_train::OnnxScorer);

impl Scorer for Onnx {
    fn score(&mut self, columns: &[Vec<f64>]) -> Result<Vec<f64>, Box<dyn std::error::Error + Send + Sync>> {
        Ok(self.0.predict(columns)?)
    }
}

/// The version `target`'s stage resolves to in `registry`, ready to score: native artifacts
/// decoded, ONNX ones loaded in ONNX Runtime. Refused when the version was trained on other
/// inputs than the target's model declares now.
pub fn load_scorer(target: &BatchTarget<'_>, registry: &Path) -> Result<(Box<dyn Scorer>, ScoredBy), LoadModelError> {
    let model = target.model_name().to_string();
    let stage: StageRef = target.stage.to_string().parse()?;
    let registry = Registry::open(registry)?;
    let version = registry
        .resolve(&model, &stage)?
        .ok_or_else(|| LoadModelError::NoVersion {
            model: model.clone(),
            stage: stage.to_string(),
        })?;
    let number = version.version;
    let trained: Vec<(String, String)> = version
        .lineage
        .features
        .iter()
        .map(|input| (input.column.clone(), input.hash.clone()))
        .collect();
    let expected = target.inputs();
    if trained != expected {
        let names = |inputs: &[(String, String)]| {
            inputs
                .iter()
                .map(|(column, hash)| format!("{column}#{}", hash.get(..8).unwrap_or(hash)))
                .collect::<Vec<_>>()
                .join(", ")
        };
        return Err(LoadModelError::InputsDiffer {
            model,
            version: number,
            found: names(&trained),
            expected: names(&expected),
        });
    }
    let path = &version.lineage.artifact.path;
    let bytes = std::fs::read(path).map_err(|error| LoadModelError::Artifact {
        model: model.clone(),
        version: number,
        path: path.clone(),
        error,
    })?;
    let scorer: Box<dyn Scorer> = if crate::train::is_external(&version.lineage.algorithm) {
        let task = target.plan.models[target.model].task;
        let onnx =
            mlsys_train::OnnxScorer::load(&bytes, expected.len(), task).map_err(|error| LoadModelError::Onnx {
                model: model.clone(),
                version: number,
                error,
            })?;
        Box::new(Onnx(onnx))
    } else {
        let decoded = mlsys_train::Model::from_bytes(&bytes).map_err(|error| LoadModelError::Decode {
            model: model.clone(),
            version: number,
            error,
        })?;
        Box::new(Native(decoded))
    };
    Ok((scorer, ScoredBy { model, version: number }))
}

/// [`load_scorer`] as batch scoring reports its failure.
fn load_for(target: &BatchTarget<'_>, registry: &Path) -> Result<(Box<dyn Scorer>, ScoredBy), ScoreError> {
    load_scorer(target, registry).map_err(|error| ScoreError::LoadModel {
        target: target.name.clone(),
        error: Box::new(error),
    })
}

/// Where a project keeps what batch scoring reads and records.
pub struct ScorePlaces {
    pub project: PathBuf,
    pub registry: PathBuf,
    /// The offline store (`.mlsys/offline`).
    pub store: PathBuf,
    /// The state directory (`.mlsys`); schedules under `schedules/`.
    pub state: PathBuf,
}

impl ScorePlaces {
    pub fn of(project: &Path, registry: Option<&Path>) -> ScorePlaces {
        let state = project.join(".mlsys");
        ScorePlaces {
            project: project.to_path_buf(),
            registry: registry.map_or_else(|| state.join("registry.db"), Path::to_path_buf),
            store: state.join("offline"),
            state,
        }
    }
}

/// Makes the run batch target `name` has due at `now` (µs since the epoch), if any: the deploy
/// loop calls this for each batch target whenever a scheduled time comes (the next one is
/// `Schedule::next_after`). `Ok(None)`: nothing was due.
pub async fn run_due(
    plan: &mlsys_compiler::plan::Plan,
    places: &ScorePlaces,
    name: &str,
    now: i64,
) -> Result<Option<RanRun>, ScoreError> {
    let target = BatchTarget::new(plan, &places.project, name)?;
    let store = OfflineStore::new(&places.store);
    run_due_batch_target(&target, &store, &places.state, now, || {
        load_for(&target, &places.registry)
    })
    .await
}

pub fn score(arguments: ScoreArgs) -> anyhow::Result<ExitCode> {
    let project = project::load(&arguments.path)?;
    let compilation = compile(&project.files);
    let Some(plan) = compilation.plan else {
        eprint!("{}", report::human(&compilation.diagnostics, &project.files));
        eprintln!("not scoring: {}", report::summary(&compilation.diagnostics));
        return Ok(ExitCode::from(1));
    };
    let directory = project::directory(&arguments.path);
    let places = ScorePlaces::of(&directory, arguments.registry.as_deref());
    let target = match BatchTarget::new(&plan, &directory, &arguments.target) {
        Ok(target) => target,
        Err(error) => {
            eprintln!("error: {}", mlsys_deploy::deployment::error_chain(&error));
            return Ok(ExitCode::from(2));
        }
    };
    let now = crate::train::now_micros();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    if arguments.due {
        let ran = runtime.block_on(run_due(&plan, &places, &arguments.target, now))?;
        println!("{}", ran_text(&target, ran.as_ref()));
        return Ok(ExitCode::SUCCESS);
    }
    let days = days_of(&arguments, now)?;
    let (mut scorer, by) = load_for(&target, &places.registry)?;
    let store = OfflineStore::new(&places.store);
    let report = runtime.block_on(score_days(&target, &store, days, &by, now, scorer.as_mut()))?;
    println!("scored {}", written_text(&target, &by, &report));
    Ok(ExitCode::SUCCESS)
}

/// What a scoring wrote: `N rows of FIRST .. LAST with MODEL vV into OUTPUT (table version T)`.
fn written_text(target: &BatchTarget<'_>, by: &ScoredBy, report: &ScoreReport) -> String {
    format!(
        "{} rows of {} .. {} with {} v{} into {} (table version {})",
        report.rows,
        report.days.first().map_or("", String::as_str),
        report.days.last().map_or("", String::as_str),
        by.model,
        by.version,
        target.output_text,
        report
            .table_version
            .map_or_else(|| "?".to_string(), |version| version.to_string()),
    )
}

/// What `--due` did.
fn ran_text(target: &BatchTarget<'_>, ran: Option<&RanRun>) -> String {
    let name = &target.name;
    match ran {
        None => format!("{name}: no run due (schedule \"{}\")", target.schedule),
        Some(RanRun { run, scored: None }) => format!(
            "{name}: run of {} had no completed day to score",
            micros_text(run.scheduled)
        ),
        Some(RanRun {
            run,
            scored: Some((by, report)),
        }) => format!(
            "{name}: run of {} (covering {} scheduled run{}) scored {}",
            micros_text(run.scheduled),
            run.covers,
            if run.covers == 1 { "" } else { "s" },
            written_text(target, by, report)
        ),
    }
}

/// The UTC days to score: `--date`, `--from .. --to`, or the last complete UTC day.
fn days_of(arguments: &ScoreArgs, now: i64) -> anyhow::Result<DateRange> {
    let date = |text: &str| parse_date(text).map_err(|message| anyhow!("{message}"));
    let (start, end) = match (&arguments.date, &arguments.from, &arguments.to) {
        (Some(day), _, _) => (date(day)?, date(day)?),
        (None, Some(from), Some(to)) => (date(from)?, date(to)?),
        _ => {
            let yesterday = day_of(now) - 1;
            (yesterday, yesterday)
        }
    };
    if end < start {
        bail!("--to {} is before --from {}", date_text(end), date_text(start));
    }
    Ok(DateRange { start, end })
}

fn micros_text(micros: i64) -> String {
    mlsys_kernels::Value::Timestamp(micros).to_string()
}
