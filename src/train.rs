//! Training, the last step of `mlsysc build`: every model whose inputs changed (its definition, the
//! plan hashes of its pinned features, its training set) is trained on the snapshot, evaluated on the
//! holdout together with the production version, registered with its lineage and content-addressed
//! artifacts (native bytes and ONNX), and promoted when its `promote_if` holds and no approval is
//! required. A model whose inputs a registered version was already trained from is skipped.
//!
//! Models trained outside mlsys (`command(...)`, `onnx(...)`, see `external.rs`) are evaluated the
//! same way, through ONNX Runtime, and registered with their ONNX file as the artifact.
//!
//! Nothing is half-registered: artifacts are written first (content-addressed, so a repeat is a
//! no-op), then the version is registered in one transaction.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, anyhow, bail};
use mlsys_batch::state::BuildState;
use mlsys_batch::store::{OfflineStore, TableLocation};
use mlsys_batch::training::inputs::{InputError, model_input};
use mlsys_batch::training::manifest::Manifest;
use mlsys_compiler::plan::{AlgorithmKind, Approval, Literal, MetricSide, Model, ModelId, Plan};
use mlsys_compiler::types::BaseType;
use mlsys_kernels::Value;
use mlsys_kernels::interpret::{Bindings, evaluate};
use mlsys_monitor::{Baseline, TrainingInput};
use mlsys_registry::{FeatureInput, NewVersion, PromotionRules, Registry, Stage, StageRef, sha256_hex, store_artifact};
use mlsys_train::{Algorithm, Dataset, GbdtParams, LinearRegressionParams, LogisticRegressionParams, TrainOptions};

use crate::external::{self, CommandRun, Matrix};
use crate::tables::each_row;

/// Bumped when training changes in a way that changes model bytes: every model is retrained.
const FORMAT: &str = "train-1";

/// Trees between two checkpoints of a gbdt training.
const CHECKPOINT_EVERY: u32 = 10;

/// What the training step did for one model.
pub struct Trained {
    pub model: String,
    pub outcome: Outcome,
}

pub enum Outcome {
    /// A registered version was trained from the same inputs (`same_model`: from inputs that
    /// changed without changing the training rows — a label partition after the ranges — giving
    /// the same model bytes and the same holdout metrics).
    Unchanged {
        version: u32,
        same_model: bool,
    },
    /// No training set (the build has not made one).
    NoTrainingSet,
    Registered(Registered),
}

pub struct Registered {
    pub version: u32,
    pub metric: String,
    pub value: f64,
    /// The production version and its metric on the same holdout.
    pub production: Option<(u32, f64)>,
    pub promotable: bool,
    pub promoted: bool,
    pub approval_required: bool,
    /// The whole step for this model: loading the training set, training, evaluating, registering.
    pub step_seconds: f64,
}

/// Where the training step keeps its files.
pub struct Places {
    pub registry: PathBuf,
    pub artifacts: PathBuf,
    pub checkpoints: PathBuf,
    /// Inputs, outputs and logs of external trainers, one directory per model.
    pub trainers: PathBuf,
    pub project: PathBuf,
}

impl Places {
    pub fn of(project: &Path, registry: Option<&Path>) -> Places {
        let state = project.join(".mlsys");
        Places {
            registry: registry.map_or_else(|| state.join("registry.db"), Path::to_path_buf),
            artifacts: state.join("artifacts"),
            checkpoints: state.join("checkpoints"),
            trainers: state.join("trainers"),
            project: project.to_path_buf(),
        }
    }
}

pub async fn train_models(plan: &Plan, store: &OfflineStore, places: &Places) -> anyhow::Result<Vec<Trained>> {
    let state = BuildState::load(&store.state_file())?;
    let mut registry = Registry::open(&places.registry)?;
    let mut trained = Vec::new();
    for (model_id, model) in plan.models.iter() {
        let outcome = train_one(plan, store, &state, &mut registry, places, model_id)
            .await
            .with_context(|| format!("model `{}`", model.name))?;
        trained.push(Trained {
            model: model.name.clone(),
            outcome,
        });
    }
    Ok(trained)
}

async fn train_one(
    plan: &Plan,
    store: &OfflineStore,
    state: &BuildState,
    registry: &mut Registry,
    places: &Places,
    model_id: ModelId,
) -> anyhow::Result<Outcome> {
    let Some(set_id) = state.training.get(&plan.models[model_id].name) else {
        return Ok(Outcome::NoTrainingSet);
    };
    train_set(plan, store, registry, places, model_id, set_id, None).await
}

/// Trains, evaluates and registers `model_id` from its training set `set_id` (built from `plan`'s
/// `train` ranges), as the training step of `build` does; `trigger` is recorded with the version
/// when something other than a build started the training (`mlsysc retrain`, a monitor).
pub async fn train_set(
    plan: &Plan,
    store: &OfflineStore,
    registry: &mut Registry,
    places: &Places,
    model_id: ModelId,
    set_id: &str,
    trigger: Option<serde_json::Value>,
) -> anyhow::Result<Outcome> {
    let model = &plan.models[model_id];
    let set_directory = store
        .root()
        .join(mlsys_batch::training::directory_name(&model.name, set_id));
    let Some(manifest) = Manifest::read(&set_directory)? else {
        return Ok(Outcome::NoTrainingSet);
    };
    let task = model.task;
    let trainer = trainer_of(model, &places.project)?;
    let hyperparameters = trainer.hyperparameters()?;
    let spec_hash = sha256_hex(
        format!(
            "{FORMAT}:{}:{hyperparameters}:{:?}:{}",
            manifest.definition, model.train.metric, model.train.seed
        )
        .as_bytes(),
    );
    let plan_hash = sha256_hex(
        manifest
            .features
            .iter()
            .map(|feature| format!("{}={}", feature.column, feature.hash))
            .collect::<Vec<_>>()
            .join(",")
            .as_bytes(),
    );
    let training_fingerprint = sha256_hex(serde_json::to_string(&manifest.inputs)?.as_bytes());
    let inputs_fingerprint = sha256_hex(format!("{spec_hash}:{plan_hash}:{}", manifest.id).as_bytes());
    if let Some(existing) = registry.find_by_inputs(&model.name, &inputs_fingerprint)? {
        return Ok(Outcome::Unchanged {
            version: existing.version,
            same_model: false,
        });
    }

    let step_started = Instant::now();
    let names: Vec<String> = manifest.features.iter().map(|feature| feature.column.clone()).collect();
    let snapshot = load_split(plan, model, store, &manifest, &manifest.snapshot.table, task).await?;
    let holdout = load_split(plan, model, store, &manifest, &manifest.holdout.table, task).await?;
    if snapshot.labels.is_empty() {
        bail!(
            "the training set is empty: no labelled example in the snapshot {} .. {} ({} without a label)",
            manifest.snapshot.from,
            manifest.snapshot.to,
            manifest.snapshot.unlabeled
        );
    }
    if holdout.labels.is_empty() {
        bail!(
            "the holdout is empty: no labelled example in {} .. {}",
            manifest.holdout.from,
            manifest.holdout.to
        );
    }
    let training = Dataset::new(task, names.clone(), snapshot.columns, snapshot.labels)
        .map_err(|error| anyhow!("the training set: {error}"))?;
    let evaluation = Dataset::new(task, names.clone(), holdout.columns, holdout.labels)
        .map_err(|error| anyhow!("the holdout: {error}"))?;
    let options = TrainOptions::default();
    let mut reported_metrics = BTreeMap::new();
    // The registry's `seconds`: training alone (an external program's whole run, writing its input
    // files included), not loading the training set or evaluating.
    let started = Instant::now();
    let spinner = Spinner::show(format!(
        "training {} ({}{})",
        model.name,
        trainer.name(),
        match &trainer {
            Trainer::Command { .. } => format!(", logs in {}", places.trainers.join(&model.name).display()),
            _ => String::new(),
        }
    ));
    let fitted = match &trainer {
        Trainer::BuiltIn(Algorithm::Gbdt(params)) => {
            let directory = places.checkpoints.join(&model.name).join(&inputs_fingerprint[..16]);
            Fitted::Native(
                mlsys_train::train_with_checkpoints(&training, params, &options, &directory, CHECKPOINT_EVERY)?.model,
            )
        }
        Trainer::BuiltIn(other) => Fitted::Native(mlsys_train::train(&training, other, &options)?),
        Trainer::Command {
            command,
            hyperparameters,
            timeout,
        } => {
            let run = CommandRun {
                model: &model.name,
                task,
                seed: model.train.seed,
                features: &names,
                training: Matrix {
                    columns: training.columns(),
                    labels: training.labels(),
                },
                holdout: Matrix {
                    columns: evaluation.columns(),
                    labels: evaluation.labels(),
                },
                directory: places.trainers.join(&model.name),
                project: &places.project,
            };
            let output = external::run_command(command, hyperparameters, *timeout, &run)?;
            reported_metrics = output.reported_metrics;
            Fitted::Onnx(output.onnx)
        }
        Trainer::Onnx { bytes, .. } => Fitted::Onnx(bytes.clone()),
    };
    let training_seconds = started.elapsed().as_secs_f64();
    drop(spinner);
    let predictions = match &fitted {
        Fitted::Native(trained) => trained.predict_dataset(&evaluation)?,
        Fitted::Onnx(bytes) => score_onnx(bytes, &evaluation)?,
    };
    let metrics = all_metrics(task, evaluation.labels(), &predictions)?;
    let headline = model.train.metric.name().to_string();

    let production = registry.resolve(&model.name, &StageRef::Production)?;
    let production_metrics = match &production {
        Some(version) => {
            let bytes = std::fs::read(&version.lineage.artifact.path)
                .with_context(|| format!("the artifact of production v{}", version.version))?;
            let scored = if is_external(&version.lineage.algorithm) {
                score_onnx(&bytes, &evaluation)
            } else {
                mlsys_train::Model::from_bytes(&bytes)
                    .map_err(anyhow::Error::from)
                    .and_then(|production_model| Ok(production_model.predict_dataset(&evaluation)?))
            };
            let production_predictions = scored.map_err(|error| {
                anyhow!(
                    "production v{} cannot score this holdout ({error:#}); its inputs differ",
                    version.version
                )
            })?;
            Some(all_metrics(task, evaluation.labels(), &production_predictions)?)
        }
        None => None,
    };
    let promotable = match (model.train.promote_if, &production_metrics) {
        (Some(rule), Some(production_metrics)) => promote_if_holds(plan, rule, &metrics, production_metrics)?,
        _ => true,
    };

    // Built-in models: the native bytes and their ONNX export. External ones: the ONNX file is both.
    let (artifact, onnx) = match &fitted {
        Fitted::Native(trained) => (
            store_artifact(&places.artifacts, &trained.to_bytes()?)?,
            store_artifact(&places.artifacts, &mlsys_train::to_onnx(trained, &names)?)?,
        ),
        Fitted::Onnx(bytes) => {
            let artifact = store_artifact(&places.artifacts, bytes)?;
            (artifact.clone(), artifact)
        }
    };
    let manifest_text = serde_json::to_string_pretty(&manifest)?;
    let baseline = monitoring_baseline(&manifest, &training, &predictions)?;
    let new = NewVersion {
        model: model.name.clone(),
        task: manifest.task.clone(),
        spec_hash,
        plan_hash,
        features: manifest
            .features
            .iter()
            .map(|feature| FeatureInput {
                column: feature.column.clone(),
                ty: feature.ty.clone(),
                hash: feature.hash.clone(),
            })
            .collect(),
        training_set: manifest.id.clone(),
        training_manifest: manifest_text,
        training_fingerprint,
        inputs_fingerprint,
        algorithm: trainer.name().to_string(),
        hyperparameters,
        metric: headline.clone(),
        metrics: metrics.clone(),
        reported_metrics,
        production_version: production.as_ref().map(|version| version.version),
        production_metrics: production_metrics.clone(),
        promote_if: model
            .train
            .promote_if
            .map(|rule| mlsys_compiler::plan::print::expr_infix(plan, rule)),
        promotable,
        promotion_rules: Some(promotion_rules(model)),
        artifact,
        onnx: Some(onnx),
        git_commit: git_commit(&places.project),
        trained_at: now_micros(),
        seconds: training_seconds,
        baseline: Some(baseline),
        trigger,
    };
    if let Some(version) = same_model(registry, &new)? {
        return Ok(Outcome::Unchanged {
            version,
            same_model: true,
        });
    }
    let registered = registry.register(&new)?;
    let approval_required = promotion_rules(model).approval_required;
    let promoted = model.train.promote_if.is_some() && promotable && !approval_required;
    if promoted {
        registry.promote(&model.name, registered.version, Stage::Production, None)?;
    }
    // The checkpoints served their purpose once the version is registered.
    let _ = std::fs::remove_dir_all(places.checkpoints.join(&model.name));
    Ok(Outcome::Registered(Registered {
        version: registered.version,
        value: metrics.get(&headline).copied().unwrap_or(f64::NAN),
        production: production.as_ref().and_then(|version| {
            production_metrics
                .as_ref()
                .and_then(|metrics| metrics.get(&headline))
                .map(|value| (version.version, *value))
        }),
        metric: headline,
        promotable,
        promoted,
        approval_required,
        step_seconds: step_started.elapsed().as_secs_f64(),
    }))
}

/// A spinner with the elapsed time on stderr while a model trains (hidden when stderr is not a
/// terminal), cleared however training ends.
struct Spinner(indicatif::ProgressBar);

impl Spinner {
    fn show(message: String) -> Spinner {
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {msg} {elapsed}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        bar.set_message(message);
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        Spinner(bar)
    }
}

impl Drop for Spinner {
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}

/// Who trains a model.
enum Trainer {
    BuiltIn(Algorithm),
    Command {
        command: String,
        hyperparameters: serde_json::Value,
        timeout: std::time::Duration,
    },
    /// An imported file, read when the build starts so that its digest is part of the inputs.
    Onnx {
        path: String,
        bytes: Vec<u8>,
    },
}

impl Trainer {
    /// The registry's `algorithm` column.
    fn name(&self) -> &'static str {
        match self {
            Trainer::BuiltIn(algorithm) => algorithm.name(),
            Trainer::Command { .. } => "command",
            Trainer::Onnx { .. } => "onnx",
        }
    }

    /// The registry's `hyperparameters` JSON; it is part of the inputs fingerprint.
    fn hyperparameters(&self) -> anyhow::Result<String> {
        Ok(match self {
            Trainer::BuiltIn(algorithm) => serde_json::to_string(algorithm)?,
            Trainer::Command {
                command,
                hyperparameters,
                timeout,
            } => serde_json::json!({
                "command": command,
                "hyperparameters": hyperparameters,
                "timeout_seconds": timeout.as_secs_f64(),
            })
            .to_string(),
            Trainer::Onnx { path, bytes } => serde_json::json!({
                "path": path,
                "sha256": sha256_hex(bytes),
            })
            .to_string(),
        })
    }
}

/// A trained model: native, or an ONNX file scored by ONNX Runtime.
enum Fitted {
    Native(mlsys_train::Model),
    Onnx(Vec<u8>),
}

/// Versions registered with their ONNX file as the artifact.
/// The promotion rules of `model`'s spec, recorded with each version it registers.
/// What monitors compare the version's traffic with: each input over the training snapshot, the
/// version's scores over the holdout.
fn monitoring_baseline(
    manifest: &Manifest,
    training: &Dataset,
    holdout_scores: &[f64],
) -> anyhow::Result<serde_json::Value> {
    let inputs: Vec<TrainingInput<'_>> = manifest
        .features
        .iter()
        .zip(training.columns())
        .map(|(feature, values)| TrainingInput {
            name: &feature.column,
            ty: &feature.ty,
            values,
        })
        .collect();
    Ok(serde_json::to_value(Baseline::of(&inputs, holdout_scores))?)
}

pub fn promotion_rules(model: &Model) -> PromotionRules {
    PromotionRules {
        approval_required: model.train.approval == Approval::Required,
    }
}

pub(crate) fn is_external(algorithm: &str) -> bool {
    matches!(algorithm, "command" | "onnx")
}

fn score_onnx(bytes: &[u8], dataset: &Dataset) -> anyhow::Result<Vec<f64>> {
    let mut scorer = mlsys_train::OnnxScorer::load(bytes, dataset.features(), dataset.task())?;
    Ok(scorer.predict(dataset.columns())?)
}

fn trainer_of(model: &Model, project: &Path) -> anyhow::Result<Trainer> {
    Ok(match &model.algorithm.kind {
        AlgorithmKind::Command { command } => Trainer::Command {
            command: command.clone(),
            hyperparameters: external::hyperparameters_json(&model.algorithm.hyperparameters),
            timeout: external::timeout_of(&model.algorithm.hyperparameters),
        },
        AlgorithmKind::Onnx { path } => Trainer::Onnx {
            path: path.clone(),
            bytes: external::read_onnx(project, path)?,
        },
        _ => Trainer::BuiltIn(algorithm_of(model)?),
    })
}

/// The built-in algorithm and its hyperparameters (defaults filled in, the `train` seed for gbdt).
fn algorithm_of(model: &Model) -> anyhow::Result<Algorithm> {
    let parameters = &model.algorithm.hyperparameters;
    let float = |name: &str, default: f64| match parameters.get(name) {
        Some(Literal::Float(value)) => *value,
        Some(Literal::Int(value)) => *value as f64,
        _ => default,
    };
    let int = |name: &str, default: i64| match parameters.get(name) {
        Some(Literal::Int(value)) => *value,
        _ => default,
    };
    let count = |name: &str, default: u32| u32::try_from(int(name, i64::from(default))).unwrap_or(u32::MAX);
    Ok(match &model.algorithm.kind {
        AlgorithmKind::LogisticRegression => {
            let defaults = LogisticRegressionParams::default();
            Algorithm::LogisticRegression(LogisticRegressionParams {
                l2: float("l2", defaults.l2),
                max_iter: count("max_iter", defaults.max_iter),
                learning_rate: float("learning_rate", defaults.learning_rate),
            })
        }
        AlgorithmKind::LinearRegression => Algorithm::LinearRegression(LinearRegressionParams {
            l2: float("l2", LinearRegressionParams::default().l2),
        }),
        AlgorithmKind::Gbdt => {
            let defaults = GbdtParams::default();
            Algorithm::Gbdt(GbdtParams {
                trees: count("trees", defaults.trees),
                depth: count("depth", defaults.depth),
                learning_rate: float("learning_rate", defaults.learning_rate),
                min_rows_per_leaf: count("min_rows_per_leaf", defaults.min_rows_per_leaf),
                l2: float("l2", defaults.l2),
                subsample: float("subsample", defaults.subsample),
                early_stopping_rounds: count("early_stopping_rounds", defaults.early_stopping_rounds),
                seed: int("seed", model.train.seed),
            })
        }
        AlgorithmKind::Onnx { .. } | AlgorithmKind::Command { .. } => {
            bail!(
                "`{}` is not a built-in algorithm",
                mlsys_compiler::plan::print::algorithm_name(&model.algorithm.kind)
            )
        }
    })
}

/// Every metric of the task on a holdout, by name.
fn all_metrics(task: mlsys_train::Task, labels: &[f64], predictions: &[f64]) -> anyhow::Result<BTreeMap<String, f64>> {
    let mut metrics = BTreeMap::new();
    for &metric in mlsys_compiler::plan::Metric::all_for(task) {
        let value = mlsys_train::compute(metric, labels, predictions)
            .map_err(|error| anyhow!("{} on the holdout: {error}", metric.name()))?;
        metrics.insert(metric.name().to_string(), value);
    }
    Ok(metrics)
}

/// Evaluates `promote_if` with the new version's metrics and production's on the same holdout.
fn promote_if_holds(
    plan: &Plan,
    rule: mlsys_compiler::plan::ExprId,
    new: &BTreeMap<String, f64>,
    production: &BTreeMap<String, f64>,
) -> anyhow::Result<bool> {
    let mut bindings = Bindings::new();
    for metric in mlsys_compiler::plan::Metric::ALL {
        for (side, values) in [(MetricSide::Candidate, new), (MetricSide::Production, production)] {
            if let Some(value) = values.get(metric.name()) {
                bindings = bindings.with_metric(side, metric, Value::Float(*value));
            }
        }
    }
    Ok(matches!(evaluate(plan, rule, &bindings)?, Value::Bool(true)))
}

struct Split {
    columns: Vec<Vec<f64>>,
    labels: Vec<f64>,
}

/// A split as the trainers take it, in time order (lineage breaking ties): inputs as float64
/// (`false`/`true` 0/1, null NaN), labels 0/1 or numeric.
async fn load_split(
    plan: &Plan,
    model: &Model,
    store: &OfflineStore,
    manifest: &Manifest,
    table: &str,
    task: mlsys_train::Task,
) -> anyhow::Result<Split> {
    let examples = &plan.sources[model.examples];
    let timestamp = examples
        .timestamp
        .map(|column| examples.columns[column as usize].name.clone())
        .ok_or_else(|| anyhow!("`{}` has no timestamp", examples.name))?;
    let label_base = BaseType::from_name(&manifest.label.ty)
        .ok_or_else(|| anyhow!("the label column has type {}", manifest.label.ty))?;
    let mut columns: Vec<(&str, BaseType)> = vec![
        (timestamp.as_str(), BaseType::Timestamp),
        ("_file", BaseType::String),
        ("_row", BaseType::Int64),
        (manifest.label.name.as_str(), label_base),
    ];
    for feature in &manifest.features {
        let base = BaseType::from_name(feature.ty.trim_end_matches('?'))
            .ok_or_else(|| anyhow!("input `{}` has type {}", feature.column, feature.ty))?;
        columns.push((feature.column.as_str(), base));
    }
    let location = TableLocation {
        name: table.to_string(),
        path: store.root().join(table),
    };
    // Streamed into one float row each (inputs, then the label), with its order key; the rows are
    // put in time order (lineage breaking ties) at the end.
    let width = manifest.features.len();
    let mut files: HashMap<String, u32> = HashMap::new();
    let mut keys: Vec<(i64, u32, i64, usize)> = Vec::new();
    let mut values: Vec<f64> = Vec::new();
    let number = |value: &Value| match value {
        Value::Timestamp(number) | Value::Int(number) => *number,
        _ => i64::MIN,
    };
    each_row(&location, &columns, None, &mut |row| {
        let label = match (&row[3], task) {
            (Value::Bool(value), mlsys_train::Task::Classification) => f64::from(u8::from(*value)),
            (Value::Int(value), mlsys_train::Task::Regression) => *value as f64,
            (Value::Float(value), mlsys_train::Task::Regression) => *value,
            (Value::Null, _) => return Ok(()),
            (other, _) => bail!(
                "label `{}` holds {other}, which is not a {} label",
                manifest.label.name,
                manifest.task
            ),
        };
        for (index, value) in row[4..].iter().enumerate() {
            let column = &manifest.features[index].column;
            let input = model_input(value).map_err(|error| match error {
                InputError::NaN => anyhow!("input `{column}` is NaN in {} row {}: {error}", row[1], row[2]),
                InputError::NotNumeric(_) => anyhow!("input `{column}` holds {value}"),
            })?;
            values.push(input);
        }
        values.push(label);
        let file = row[1].to_string();
        let next = files.len() as u32;
        let file = *files.entry(file).or_insert(next);
        keys.push((number(&row[0]), file, number(&row[2]), keys.len()));
        Ok(())
    })
    .await?;
    // Files compare by name, as the lineage they are.
    let mut names: Vec<(&String, u32)> = files.iter().map(|(name, id)| (name, *id)).collect();
    names.sort();
    let mut rank = vec![0u32; names.len()];
    for (position, (_, id)) in names.iter().enumerate() {
        rank[*id as usize] = position as u32;
    }
    keys.sort_unstable_by_key(|(time, file, row, index)| (*time, rank[*file as usize], *row, *index));
    let mut split = Split {
        columns: vec![Vec::with_capacity(keys.len()); width],
        labels: Vec::with_capacity(keys.len()),
    };
    for (_, _, _, index) in keys {
        let row = &values[index * (width + 1)..(index + 1) * (width + 1)];
        for (column, value) in split.columns.iter_mut().zip(row) {
            column.push(*value);
        }
        split.labels.push(row[width]);
    }
    Ok(split)
}

/// The project's git commit, if it is a git work tree.
fn git_commit(project: &Path) -> Option<String> {
    let output = std::process::Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(project)
        .output()
        .ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_string())
}

pub(crate) fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| i64::try_from(elapsed.as_micros()).unwrap_or(i64::MAX))
}

/// A registered version that `new` would only repeat: the same definition and features, the same
/// model bytes, the same holdout range and the same metrics on it (its inputs' fingerprints may
/// differ: a label partition newer than the ranges changes the training set's id, not its rows).
fn same_model(registry: &Registry, new: &NewVersion) -> anyhow::Result<Option<u32>> {
    let holdout = |manifest: &str| {
        let manifest: serde_json::Value = serde_json::from_str(manifest).unwrap_or_default();
        manifest["holdout"].clone()
    };
    let range = holdout(&new.training_manifest);
    let same = registry.versions(&new.model)?.into_iter().find(|existing| {
        let old = &existing.lineage;
        old.spec_hash == new.spec_hash
            && old.plan_hash == new.plan_hash
            && old.artifact.sha256 == new.artifact.sha256
            && old.metrics.len() == new.metrics.len()
            && old
                .metrics
                .iter()
                .zip(&new.metrics)
                .all(|(a, b)| a.0 == b.0 && a.1.to_bits() == b.1.to_bits())
            && holdout(&old.training_manifest)["from"] == range["from"]
            && holdout(&old.training_manifest)["to"] == range["to"]
    });
    Ok(same.map(|existing| existing.version))
}
