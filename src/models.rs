//! `mlsysc models`, `approve`, `promote` and `rollback`: the model registry from the command line —
//! versions with their metrics and lineage, approvals, stage changes.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::ValueEnum;
use mlsys_compiler::compile;
use mlsys_kernels::time;
use mlsys_registry::{ModelVersion, PromotionRules, Registry, RegistryError, Stage};

use crate::{project, report};

#[derive(Clone, Copy, ValueEnum)]
pub enum ModelsFormat {
    /// A table for people, one row per version, newest first.
    Human,
    /// Every version with its full lineage, as one JSON array (newest first).
    Json,
}

#[derive(clap::Args)]
pub struct ModelsArgs {
    /// Project directory (a lone plain name that is no file or directory is taken as MODEL).
    #[arg(default_value = ".")]
    path: PathBuf,
    /// Only the versions of this model.
    model: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ModelsFormat::Human)]
    format: ModelsFormat,
    /// The model registry (default: `.mlsys/registry.db` in the project).
    #[arg(long, value_name = "PATH")]
    registry: Option<PathBuf>,
}

#[derive(clap::Args)]
pub struct ApproveArgs {
    /// The model.
    model: String,
    /// The version number (as `mlsysc models` lists it, without the `v`).
    version: u32,
    /// Project directory.
    #[arg(default_value = ".")]
    path: PathBuf,
    /// Who approves (recorded with the approval).
    #[arg(long, value_name = "NAME")]
    by: String,
    /// Why, or what was checked.
    #[arg(long, value_name = "TEXT")]
    note: Option<String>,
    /// The model registry (default: `.mlsys/registry.db` in the project).
    #[arg(long, value_name = "PATH")]
    registry: Option<PathBuf>,
}

/// The stages a version can be promoted to by hand.
#[derive(Clone, Copy, ValueEnum)]
pub enum TargetStage {
    /// Served by the model's serve targets; the previous production version is archived.
    Production,
    /// Scoring every request in the background of serve targets that name `@shadow`.
    Shadow,
    /// Marked approved (with `approval = required`, only after `mlsysc approve`).
    Approved,
    /// Retired.
    Archived,
}

impl TargetStage {
    fn stage(self) -> Stage {
        match self {
            TargetStage::Production => Stage::Production,
            TargetStage::Shadow => Stage::Shadow,
            TargetStage::Approved => Stage::Approved,
            TargetStage::Archived => Stage::Archived,
        }
    }
}

#[derive(clap::Args)]
pub struct PromoteArgs {
    /// The model.
    model: String,
    /// The version number.
    version: u32,
    /// Project directory. The version's promotion rules are those recorded when it was registered;
    /// the project's `approval` policy applies only to a version registered before rules were
    /// recorded.
    #[arg(default_value = ".")]
    path: PathBuf,
    /// The stage to move the version to.
    #[arg(long, value_enum, value_name = "STAGE")]
    to: TargetStage,
    /// Who promotes, for the registry's event log (default: $USER).
    #[arg(long, value_name = "NAME")]
    by: Option<String>,
    /// The model registry (default: `.mlsys/registry.db` in the project).
    #[arg(long, value_name = "PATH")]
    registry: Option<PathBuf>,
}

#[derive(clap::Args)]
pub struct RollbackArgs {
    /// The model.
    model: String,
    /// Project directory.
    #[arg(default_value = ".")]
    path: PathBuf,
    /// Who rolls back, for the registry's event log (default: $USER).
    #[arg(long, value_name = "NAME")]
    by: Option<String>,
    /// The model registry (default: `.mlsys/registry.db` in the project).
    #[arg(long, value_name = "PATH")]
    registry: Option<PathBuf>,
}

/// The registry of the project at `path` (a directory or one of its `.mlsys` files).
fn registry_path(path: &Path, registry: Option<&Path>) -> PathBuf {
    if let Some(registry) = registry {
        return registry.to_path_buf();
    }
    let directory = if path.is_file() {
        path.parent().map(Path::to_path_buf).unwrap_or_default()
    } else {
        path.to_path_buf()
    };
    directory.join(".mlsys").join("registry.db")
}

/// Opens an existing registry; a missing one is reported (exit 1), never created by a command
/// that only reads or moves versions.
fn open_existing(path: &Path) -> anyhow::Result<Result<Registry, ExitCode>> {
    if !path.exists() {
        eprintln!(
            "error: no model registry at {}: `mlsysc build` registers trained models there",
            path.display()
        );
        return Ok(Err(ExitCode::from(1)));
    }
    Ok(Ok(Registry::open(path)?))
}

/// Refusals (unknown model or version, missing approval, forbidden transition) are exit status 1;
/// anything else is a failure (exit status 2).
fn refusal<T>(result: Result<T, RegistryError>) -> anyhow::Result<Result<T, ExitCode>> {
    match result {
        Ok(value) => Ok(Ok(value)),
        Err(error) if error.is_refusal() => {
            eprintln!("error: {error}");
            Ok(Err(ExitCode::from(1)))
        }
        Err(error) => Err(error.into()),
    }
}

/// Who a promotion or rollback is recorded as.
fn actor(by: Option<String>) -> Option<String> {
    by.or_else(|| std::env::var("USER").ok())
        .or_else(|| std::env::var("USERNAME").ok())
        .filter(|name| !name.trim().is_empty())
}

pub fn models(arguments: ModelsArgs) -> anyhow::Result<ExitCode> {
    // `mlsysc models fraud_detector` in the project directory: a lone argument that is a plain
    // name (no path separator) and no existing file names the model.
    let lone_name = arguments
        .path
        .to_str()
        .filter(|text| !text.contains(['/', '\\']) && !text.ends_with(".mlsys") && !arguments.path.exists())
        .map(str::to_string);
    let (path, model) = match (arguments.model, lone_name) {
        (None, Some(name)) => (PathBuf::from("."), Some(name)),
        (model, _) => (arguments.path, model),
    };
    if !path.exists() {
        anyhow::bail!("cannot open {}: no such project directory", path.display());
    }
    let registry_file = registry_path(&path, arguments.registry.as_deref());
    let mut versions: Vec<ModelVersion> = Vec::new();
    if registry_file.exists() {
        let registry = Registry::open(&registry_file)?;
        let names = match &model {
            Some(model) => vec![model.clone()],
            None => registry.models()?,
        };
        for name in names {
            let mut of_model = registry.versions(&name)?;
            of_model.reverse();
            versions.extend(of_model);
        }
    }
    if let Some(model) = &model
        && versions.is_empty()
    {
        eprintln!(
            "error: no version of `{model}` is registered in {}",
            registry_file.display()
        );
        return Ok(ExitCode::from(1));
    }
    let mut stdout = std::io::stdout().lock();
    match arguments.format {
        ModelsFormat::Json => {
            serde_json::to_writer_pretty(&mut stdout, &versions)?;
            writeln!(stdout)?;
        }
        ModelsFormat::Human if versions.is_empty() => {
            writeln!(stdout, "no models registered yet ({})", registry_file.display())?;
        }
        ModelsFormat::Human => write!(stdout, "{}", versions_table(&versions))?,
    }
    Ok(ExitCode::SUCCESS)
}

pub fn approve(arguments: ApproveArgs) -> anyhow::Result<ExitCode> {
    let registry_file = registry_path(&arguments.path, arguments.registry.as_deref());
    let mut registry = match open_existing(&registry_file)? {
        Ok(registry) => registry,
        Err(code) => return Ok(code),
    };
    let approved = match refusal(registry.approve(
        &arguments.model,
        arguments.version,
        &arguments.by,
        arguments.note.as_deref(),
    ))? {
        Ok(approved) => approved,
        Err(code) => return Ok(code),
    };
    println!(
        "approved {} v{} by {} ({} approval{}); stage: {}",
        approved.model,
        approved.version,
        arguments.by,
        approved.approvals.len(),
        if approved.approvals.len() == 1 { "" } else { "s" },
        approved.stage
    );
    Ok(ExitCode::SUCCESS)
}

pub fn promote(arguments: PromoteArgs) -> anyhow::Result<ExitCode> {
    let registry_file = registry_path(&arguments.path, arguments.registry.as_deref());
    let mut registry = match open_existing(&registry_file)? {
        Ok(registry) => registry,
        Err(code) => return Ok(code),
    };
    // The version's own rules, recorded when it was registered, decide; the project is read only
    // for a version registered before the registry recorded them.
    let recorded = registry
        .version(&arguments.model, arguments.version)?
        .is_none_or(|version| version.lineage.promotion_rules.is_some());
    let unrecorded = if recorded {
        None
    } else {
        match project_rules(&arguments.path, &arguments.model)? {
            Ok(rules) => {
                eprintln!(
                    "note: {} v{} was registered before the registry recorded promotion rules; the project's \
                     rules apply (approval {})",
                    arguments.model,
                    arguments.version,
                    if rules.approval_required { "required" } else { "none" }
                );
                Some(rules)
            }
            Err(code) => return Ok(code),
        }
    };
    if let Some(actor) = actor(arguments.by) {
        registry.set_actor(actor);
    }
    let to = arguments.to.stage();
    let transition = match refusal(registry.promote(&arguments.model, arguments.version, to, unrecorded))? {
        Ok(transition) => transition,
        Err(code) => return Ok(code),
    };
    let archived = transition
        .archived
        .map(|version| format!("; v{version} archived"))
        .unwrap_or_default();
    println!(
        "promoted {} v{}: {} -> {}{archived}",
        transition.model, transition.version, transition.from, transition.to
    );
    if to == Stage::Production
        && let Some(version) = registry.version(&arguments.model, arguments.version)?
        && !version.lineage.promotable
    {
        eprintln!(
            "note: v{} did not meet promote_if ({}) when it was trained; it was promoted by hand",
            version.version,
            version.lineage.promote_if.as_deref().unwrap_or("-")
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The promotion rules `model` has in the project at `path` today (for versions registered before
/// the registry recorded their own).
fn project_rules(path: &Path, model_name: &str) -> anyhow::Result<Result<PromotionRules, ExitCode>> {
    let project = project::load(path)?;
    let compilation = compile(&project.files);
    if !compilation.diagnostics.is_empty() {
        eprint!("{}", report::human(&compilation.diagnostics, &project.files));
    }
    let Some(plan) = &compilation.plan else {
        eprintln!("not promoted: {}", report::summary(&compilation.diagnostics));
        return Ok(Err(ExitCode::from(1)));
    };
    let Some(model) = plan.models.values().find(|model| model.name == model_name) else {
        let names: Vec<&str> = plan.models.values().map(|model| model.name.as_str()).collect();
        eprintln!(
            "error: the project has no model named `{model_name}` (its models: {})",
            if names.is_empty() {
                "none".to_string()
            } else {
                names.join(", ")
            }
        );
        return Ok(Err(ExitCode::from(1)));
    };
    Ok(Ok(crate::train::promotion_rules(model)))
}

pub fn rollback(arguments: RollbackArgs) -> anyhow::Result<ExitCode> {
    let registry_file = registry_path(&arguments.path, arguments.registry.as_deref());
    let mut registry = match open_existing(&registry_file)? {
        Ok(registry) => registry,
        Err(code) => return Ok(code),
    };
    if let Some(actor) = actor(arguments.by) {
        registry.set_actor(actor);
    }
    let transition = match refusal(registry.rollback(&arguments.model))? {
        Ok(transition) => transition,
        Err(code) => return Ok(code),
    };
    println!(
        "rolled back {}: v{} is in production again (was {}); v{} archived",
        transition.model,
        transition.version,
        transition.from,
        transition
            .archived
            .map_or_else(|| "-".to_string(), |version| version.to_string())
    );
    Ok(ExitCode::SUCCESS)
}

/// One row per version; columns sized to their content.
fn versions_table(versions: &[ModelVersion]) -> String {
    let header = [
        "model",
        "version",
        "stage",
        "metric",
        "production",
        "training set",
        "trained at (UTC)",
        "approvals",
    ];
    let rows: Vec<[String; 8]> = versions
        .iter()
        .map(|version| {
            let production = match version.production_headline() {
                Some((number, value)) => format!("{} (v{number})", metric_value(value)),
                None => "-".to_string(),
            };
            let approvals = if version.approvals.is_empty() {
                "-".to_string()
            } else {
                version
                    .approvals
                    .iter()
                    .map(|approval| approval.by.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            [
                version.model.clone(),
                format!("v{}", version.version),
                version.stage.to_string(),
                format!("{} {}", version.lineage.metric, metric_value(version.headline())),
                production,
                version.lineage.training_set.clone(),
                utc_minutes(version.lineage.trained_at),
                approvals,
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut table = String::new();
    let mut line = |cells: &[&str]| {
        let padded: Vec<String> = cells
            .iter()
            .zip(widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        table.push_str(padded.join("  ").trim_end());
        table.push('\n');
    };
    line(&header);
    for row in &rows {
        line(&row.each_ref().map(String::as_str));
    }
    table
}

fn metric_value(value: f64) -> String {
    if value.is_nan() {
        "-".to_string()
    } else {
        format!("{value:.4}")
    }
}

/// `YYYY-MM-DD HH:MM` (UTC) of a time in microseconds since the Unix epoch.
fn utc_minutes(micros: i64) -> String {
    let minute_of_day = micros.div_euclid(60_000_000).rem_euclid(24 * 60);
    let (year, month, day) = time::civil_from_days(time::date_of(micros));
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}",
        minute_of_day / 60,
        minute_of_day % 60
    )
}
