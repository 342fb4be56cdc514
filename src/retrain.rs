//! `mlsysc retrain MODEL` and a monitor's `retrain` action (lang-spec §7.7): the model trained
//! again with its `snapshot` and `holdout` moved forward by the same whole number of days, so that
//! the holdout ends on the last complete UTC day whose labels are final. The moved ranges make a
//! training set of their own, built by the batch engine exactly as `build` builds the spec's
//! (`mlsys_batch::training::build_set` on a copy of the plan with the ranges moved); it is then
//! trained, compared with production on the new holdout, put through `promote_if` and `approval`
//! and registered as `build` does (`train::train_set`), with what triggered it and the moved
//! ranges as the version's `trigger`. A re-run on the same data registers nothing: the moved
//! ranges are part of the training set's definition, so of the version's inputs fingerprint.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::ValueEnum;
use mlsys_batch::store::OfflineStore;
use mlsys_batch::training::label_index::LabelIndex;
use mlsys_batch::training::spec::TrainingSpec;
use mlsys_batch::{BuildContext, BuildOptions};
use mlsys_compiler::plan::{DateRange, ModelId, Plan};
use mlsys_compiler::syntax::literal::{MICROS_PER_DAY, format_date};
use mlsys_registry::Registry;

use crate::train::{Outcome, Places};
use crate::{build_lock, project};

#[derive(Clone, Copy, ValueEnum)]
pub enum RetrainFormat {
    /// One line saying what happened.
    Human,
    /// The outcome as a JSON object.
    Json,
}

#[derive(clap::Args)]
pub struct RetrainArgs {
    /// The model.
    model: String,
    /// Project directory.
    #[arg(default_value = ".")]
    path: PathBuf,
    /// Retrain as of this time (RFC 3339, or a date for its midnight UTC) instead of now: the
    /// holdout ends on the last complete UTC day before it whose labels are final.
    #[arg(long, value_name = "TIME")]
    at: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = RetrainFormat::Human)]
    format: RetrainFormat,
    /// The offline store (default: `.mlsys/offline` in the project).
    #[arg(long, value_name = "DIR")]
    offline: Option<PathBuf>,
    /// The model registry (default: `.mlsys/registry.db` in the project).
    #[arg(long, value_name = "PATH")]
    registry: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum RetrainError {
    #[error("no model `{name}` in the project (models: {})", .known.join(", "))]
    UnknownModel { name: String, known: Vec<String> },
    #[error("`snapshot` and `holdout` moved by {days} days leave the calendar")]
    OutOfRange { days: i32 },
    #[error("the offline store was not built from this spec")]
    NotBuilt(#[source] mlsys_batch::score::ScoreError),
    #[error("retraining writes the offline store and the registry as a build does")]
    Locked(#[source] build_lock::LockError),
}

/// The `train` ranges of a retraining.
#[derive(Clone, Copy, Debug)]
pub struct Moved {
    pub days: i32,
    pub snapshot: DateRange,
    pub holdout: DateRange,
}

/// What a retraining did.
pub enum RetrainOutcome {
    /// The labels are final only up to `last_final_day` (`None`: the store holds none), which is
    /// not after the day the holdout already ends on: there is nothing newer to learn from.
    NothingNewer {
        model: String,
        last_final_day: Option<i32>,
        holdout_end: i32,
    },
    /// Trained on the moved ranges (or found a version already trained on them).
    Trained {
        model: String,
        moved: Moved,
        outcome: Outcome,
    },
}

pub fn retrain_command(arguments: RetrainArgs) -> anyhow::Result<ExitCode> {
    let Some(plan) = crate::serve::load_plan(&arguments.path, "retrained")? else {
        return Ok(ExitCode::from(1));
    };
    let at = crate::shadow_report::time_or_now("--at", arguments.at.as_deref())?;
    let directory = project::directory(&arguments.path);
    let store = OfflineStore::new(
        arguments
            .offline
            .clone()
            .unwrap_or_else(|| directory.join(".mlsys/offline")),
    );
    let places = Places::of(&directory, arguments.registry.as_deref());
    let trigger = serde_json::json!({"by": "mlsysc retrain", "at": mlsys_serve::wire::format_timestamp(at)});
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    match runtime.block_on(retrain(&plan, &store, &places, &arguments.model, at, trigger)) {
        Ok(outcome) => {
            match arguments.format {
                RetrainFormat::Human => println!("{}", outcome.line()),
                RetrainFormat::Json => println!("{}", serde_json::to_string_pretty(&outcome.json())?),
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(error) => {
            eprintln!("error: not retrained: {error:#}");
            Ok(ExitCode::from(1))
        }
    }
}

/// Retrains `model` as of `at` (see the module documentation); `trigger` is what started it,
/// recorded with the version together with the moved ranges.
pub async fn retrain(
    plan: &Plan,
    store: &OfflineStore,
    places: &Places,
    model: &str,
    at: i64,
    trigger: serde_json::Value,
) -> anyhow::Result<RetrainOutcome> {
    let Some((model_id, definition)) = plan.models.iter().find(|(_, candidate)| candidate.name == model) else {
        return Err(RetrainError::UnknownModel {
            name: model.to_string(),
            known: plan.models.values().map(|candidate| candidate.name.clone()).collect(),
        }
        .into());
    };
    // Held until the version is registered: no build writes the store or the registry meanwhile.
    let _lock = build_lock::acquire_after_refresh(&places.project.join(".mlsys"), "a retraining", &mut |_| {})
        .map_err(RetrainError::Locked)?;
    let labels = LabelIndex::load(plan, store, definition).await?;
    let last_final_day = last_final_day(
        at,
        definition.label_delay.unwrap_or(0),
        labels.watermark,
        definition.label.join.is_some(),
    );
    let holdout_end = definition.train.holdout.end;
    let days = match last_final_day {
        Some(day) if day > holdout_end => day - holdout_end,
        _ => {
            return Ok(RetrainOutcome::NothingNewer {
                model: model.to_string(),
                last_final_day,
                holdout_end,
            });
        }
    };
    let (moved_plan, moved) = move_ranges(plan, model_id, days)?;
    let spec = TrainingSpec::new(&moved_plan, model_id)?;
    mlsys_batch::score::check_built(&spec, store)
        .await
        .map_err(RetrainError::NotBuilt)?;
    let set = build_training_set(&moved_plan, store, places, model_id).await?;
    let mut registry = Registry::open(&places.registry)?;
    let trigger = with_ranges(trigger, &moved);
    let outcome =
        crate::train::train_set(&moved_plan, store, &mut registry, places, model_id, &set, Some(trigger)).await?;
    Ok(RetrainOutcome::Trained {
        model: model.to_string(),
        moved,
        outcome,
    })
}

/// The last complete UTC day `d` whose labels are final at `at`: `(d + 1 day) + delay <= at`, and
/// the offline store's label rows reach that far — a joined label's newest row is at least
/// `(d + 1 day) + delay`, the examples holding a label on their own columns reach day `d`.
/// `None` when the store holds no label row.
pub fn last_final_day(at: i64, delay: i64, watermark: Option<i64>, joined: bool) -> Option<i32> {
    // The last day d with (d + 1) · DAY <= time.
    let last_ended_by = |time: i64| time.div_euclid(MICROS_PER_DAY) - 1;
    let watermark = watermark?;
    let by_labels = if joined {
        last_ended_by(watermark.saturating_sub(delay))
    } else {
        watermark.div_euclid(MICROS_PER_DAY)
    };
    let day = last_ended_by(at.saturating_sub(delay)).min(by_labels);
    i32::try_from(day).ok()
}

/// A copy of `plan` whose model `model_id` has its `snapshot` and `holdout` moved `days` forward.
fn move_ranges(plan: &Plan, model_id: ModelId, days: i32) -> Result<(Plan, Moved), RetrainError> {
    let shift = |range: DateRange| {
        Some(DateRange {
            start: range.start.checked_add(days)?,
            end: range.end.checked_add(days)?,
        })
    };
    let train = &plan.models[model_id].train;
    let (Some(snapshot), Some(holdout)) = (shift(train.snapshot), shift(train.holdout)) else {
        return Err(RetrainError::OutOfRange { days });
    };
    let mut moved_plan = plan.clone();
    moved_plan.models[model_id].train.snapshot = snapshot;
    moved_plan.models[model_id].train.holdout = holdout;
    Ok((
        moved_plan,
        Moved {
            days,
            snapshot,
            holdout,
        },
    ))
}

/// Builds the moved plan's training set as a build does, under a new run number; its id.
async fn build_training_set(
    plan: &Plan,
    store: &OfflineStore,
    places: &Places,
    model_id: ModelId,
) -> anyhow::Result<String> {
    let state_file = store.state_file();
    let mut state = mlsys_batch::state::BuildState::load(&state_file)?;
    // As in a build: the run number is durable before anything is written, so every commit
    // carries a version no earlier run used.
    state.run += 1;
    state.save(&state_file)?;
    let options = BuildOptions::default();
    let context = BuildContext {
        plan,
        project: &places.project,
        options: &options,
        run: state.run,
    };
    let report = mlsys_batch::training::build_set(&context, store, &state, model_id).await?;
    Ok(report.id)
}

/// `trigger` with the moved ranges (an object gains the keys; anything else is kept under `by`).
fn with_ranges(trigger: serde_json::Value, moved: &Moved) -> serde_json::Value {
    let mut object = match trigger {
        serde_json::Value::Object(object) => object,
        other => serde_json::Map::from_iter([("by".to_string(), other)]),
    };
    object.insert("moved_days".to_string(), moved.days.into());
    object.insert("snapshot".to_string(), range_json(moved.snapshot));
    object.insert("holdout".to_string(), range_json(moved.holdout));
    serde_json::Value::Object(object)
}

fn range_json(range: DateRange) -> serde_json::Value {
    serde_json::json!({"from": format_date(range.start), "to": format_date(range.end)})
}

fn range_text(range: DateRange) -> String {
    format!("{} .. {}", format_date(range.start), format_date(range.end))
}

impl RetrainOutcome {
    /// One line for people.
    pub fn line(&self) -> String {
        match self {
            RetrainOutcome::NothingNewer {
                model,
                last_final_day: None,
                ..
            } => format!(
                "{model}: nothing newer to learn from: the offline store holds no label yet (run `mlsysc build`)"
            ),
            RetrainOutcome::NothingNewer {
                model,
                last_final_day: Some(day),
                holdout_end,
            } => format!(
                "{model}: nothing newer to learn from: labels are final through {}, and the holdout already ends on {}",
                format_date(*day),
                format_date(*holdout_end)
            ),
            RetrainOutcome::Trained { model, moved, outcome } => {
                let ranges = format!(
                    "snapshot {}, holdout {} (moved {} days)",
                    range_text(moved.snapshot),
                    range_text(moved.holdout),
                    moved.days
                );
                match outcome {
                    Outcome::Unchanged {
                        version,
                        same_model: false,
                    } => format!("{model}: v{version} was already trained on {ranges}; nothing registered"),
                    Outcome::Unchanged {
                        version,
                        same_model: true,
                    } => format!("{model}: retrained on {ranges} to the same model as v{version}; nothing registered"),
                    Outcome::NoTrainingSet => format!("{model}: no training set for {ranges}; nothing registered"),
                    Outcome::Registered(registered) => {
                        let production = registered.production.map_or_else(
                            || "no production version".to_string(),
                            |(version, value)| format!("production v{version} {} {value:.4}", registered.metric),
                        );
                        format!(
                            "{model}: v{} registered, {ranges}: {} {:.4} on the new holdout, {production}; {}",
                            registered.version,
                            registered.metric,
                            registered.value,
                            crate::build::next_step(model, registered)
                        )
                    }
                }
            }
        }
    }

    /// The outcome for scripts.
    pub fn json(&self) -> serde_json::Value {
        match self {
            RetrainOutcome::NothingNewer {
                model,
                last_final_day,
                holdout_end,
            } => serde_json::json!({
                "model": model,
                "outcome": "nothing_newer",
                "labels_final_through": last_final_day.map(format_date),
                "holdout_end": format_date(*holdout_end),
            }),
            RetrainOutcome::Trained { model, moved, outcome } => {
                let mut json = serde_json::json!({
                    "model": model,
                    "moved_days": moved.days,
                    "snapshot": range_json(moved.snapshot),
                    "holdout": range_json(moved.holdout),
                });
                let details = match outcome {
                    Outcome::Unchanged { version, .. } => {
                        serde_json::json!({"outcome": "unchanged", "version": version})
                    }
                    Outcome::NoTrainingSet => serde_json::json!({"outcome": "no_training_set"}),
                    Outcome::Registered(registered) => serde_json::json!({
                        "outcome": "registered",
                        "version": registered.version,
                        "metric": registered.metric,
                        "value": registered.value,
                        "production": registered.production.map(|(version, value)| {
                            serde_json::json!({"version": version, "value": value})
                        }),
                        "promotable": registered.promotable,
                        "promoted": registered.promoted,
                        "approval_required": registered.approval_required,
                    }),
                };
                if let (Some(json), serde_json::Value::Object(details)) = (json.as_object_mut(), details) {
                    json.extend(details);
                }
                json
            }
        }
    }
}
