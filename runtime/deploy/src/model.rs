//! A registered model version loaded for serving: its artifact read back (checksum verified),
//! checked against the plan being served, and ready to score.
//!
//! Built-in models (gbdt, linear, logistic) are compiled to native code when loaded
//! (`mlsys_jit::compile_model`: a tree ensemble becomes Cranelift functions that branch per split
//! and add leaves in tree order), giving the bits of `mlsys_train::Model::predict`, the scorer
//! `mlsysc build` evaluated them with ([`LoadedModel::score_as_built`]; `verify` compares both). Models trained outside mlsys (`command(...)`, `onnx(...)`) run in ONNX Runtime.
//!
//! A version is served only with the features it was trained on: its recorded inputs (column
//! names and canonical feature hashes, in order) must be the served plan's pinned features. A
//! version trained on another definition of a feature is refused ([`LoadError::Features`]), never
//! fed values it did not learn from.

use std::sync::{Mutex, PoisonError};

use mlsys_compiler::plan::{FeatureId, Plan};
use mlsys_jit::{CompiledModel, JitError, compile_model};
use mlsys_registry::{ModelVersion, RegistryError, read_artifact};
use mlsys_train::{Model, ModelError, OnnxRuntimeError, OnnxScorer, Task};

/// Why a version cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{model} v{version}: its artifact cannot be read")]
    Artifact {
        model: String,
        version: u32,
        #[source]
        source: RegistryError,
    },
    #[error("{model} v{version}: its native model does not decode")]
    Decode {
        model: String,
        version: u32,
        #[source]
        source: ModelError,
    },
    #[error("{model} v{version}: its native model cannot be compiled")]
    Compile {
        model: String,
        version: u32,
        #[source]
        source: JitError,
    },
    #[error("{model} v{version}: ONNX Runtime cannot load it")]
    Onnx {
        model: String,
        version: u32,
        #[source]
        source: OnnxRuntimeError,
    },
    #[error(
        "{model} v{version} was trained on other features than this plan pins ({detail}); \
         build the project to train a version on these features, or deploy the spec it was trained with"
    )]
    Features {
        model: String,
        version: u32,
        detail: String,
    },
    #[error("{model} v{version}: unknown task `{task}`")]
    Task { model: String, version: u32, task: String },
}

/// Why scoring failed: the request is answered by the fallback (reason `model_error`).
#[derive(Debug, thiserror::Error)]
pub enum ScoreError {
    #[error("{model} v{version} failed scoring")]
    Onnx {
        model: String,
        version: u32,
        #[source]
        source: OnnxRuntimeError,
    },
    #[error("{rows} rows of {features} inputs need {} values, {values} given", rows * features)]
    Shape {
        rows: usize,
        features: usize,
        values: usize,
    },
    #[error("{model} v{version}: the compiled scorer refused the inputs")]
    Compiled {
        model: String,
        version: u32,
        #[source]
        source: JitError,
    },
    #[error("{model} v{version} gave a non-finite score ({score})")]
    NotFinite { model: String, version: u32, score: f64 },
}

enum Scorer {
    /// The model, and its compiled scorer (`mlsys_jit::compile_model`: the same bits as
    /// `Model::predict`, the reference `build` evaluated with).
    Native(Model, CompiledModel),
    /// One session, used by one batch at a time.
    Onnx(Mutex<OnnxScorer>),
}

/// A version ready to score.
pub struct LoadedModel {
    pub model: String,
    pub version: u32,
    pub task: Task,
    /// Number of inputs per row.
    pub features: usize,
    scorer: Scorer,
}

impl std::fmt::Debug for LoadedModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedModel")
            .field("model", &self.model)
            .field("version", &self.version)
            .field("native", &matches!(self.scorer, Scorer::Native(..)))
            .finish_non_exhaustive()
    }
}

impl LoadedModel {
    /// Reads and checks `version`'s artifact; `inputs` are the plan's pinned features of the model;
    /// an ONNX model's scoring calls use `onnx_threads` intra-op threads.
    pub fn load(
        plan: &Plan,
        inputs: &[FeatureId],
        version: &ModelVersion,
        onnx_threads: usize,
    ) -> Result<LoadedModel, LoadError> {
        let (model, number) = (version.model.clone(), version.version);
        check_features(plan, inputs, version)?;
        let task = match version.lineage.task.as_str() {
            "classification" => Task::Classification,
            "regression" => Task::Regression,
            other => {
                return Err(LoadError::Task {
                    model,
                    version: number,
                    task: other.to_string(),
                });
            }
        };
        let external = matches!(version.lineage.algorithm.as_str(), "command" | "onnx");
        let bytes = read_artifact(&version.lineage.artifact).map_err(|source| LoadError::Artifact {
            model: model.clone(),
            version: number,
            source,
        })?;
        let scorer = if external {
            let scorer = OnnxScorer::load_with_threads(&bytes, inputs.len(), task, onnx_threads).map_err(|source| {
                LoadError::Onnx {
                    model: model.clone(),
                    version: number,
                    source,
                }
            })?;
            Scorer::Onnx(Mutex::new(scorer))
        } else {
            let native = Model::from_bytes(&bytes).map_err(|source| LoadError::Decode {
                model: model.clone(),
                version: number,
                source,
            })?;
            let compiled = compile_model(&native).map_err(|source| LoadError::Compile {
                model: model.clone(),
                version: number,
                source,
            })?;
            Scorer::Native(native, compiled)
        };
        Ok(LoadedModel {
            model,
            version: number,
            task,
            features: inputs.len(),
            scorer,
        })
    }

    /// Scores `rows` rows of row-major inputs (`features` each).
    pub fn score(&self, inputs: &[f64], rows: usize) -> Result<Vec<f64>, ScoreError> {
        let inputs = inputs.get(..rows * self.features).ok_or(ScoreError::Shape {
            rows,
            features: self.features,
            values: inputs.len(),
        })?;
        let scores = match &self.scorer {
            Scorer::Native(_, compiled) => {
                let mut scores = Vec::with_capacity(rows);
                if rows == 1 {
                    scores.push(compiled.score(inputs));
                } else {
                    compiled
                        .score_many(inputs, self.features, &mut scores)
                        .map_err(|source| ScoreError::Compiled {
                            model: self.model.clone(),
                            version: self.version,
                            source,
                        })?;
                }
                scores
            }
            Scorer::Onnx(session) => {
                let columns: Vec<Vec<f64>> = (0..self.features)
                    .map(|feature| (0..rows).map(|row| inputs[row * self.features + feature]).collect())
                    .collect();
                let mut session = session.lock().unwrap_or_else(PoisonError::into_inner);
                session.predict(&columns).map_err(|source| ScoreError::Onnx {
                    model: self.model.clone(),
                    version: self.version,
                    source,
                })?
            }
        };
        if let Some(score) = scores.iter().find(|score| !score.is_finite()) {
            return Err(ScoreError::NotFinite {
                model: self.model.clone(),
                version: self.version,
                score: *score,
            });
        }
        Ok(scores)
    }

    /// Scores as `mlsysc build` evaluated the version: the model's reference scorer
    /// (`mlsys_train::Model::predict`) for built-in models, ONNX Runtime for the others. `verify`
    /// compares it with [`LoadedModel::score`] bit for bit.
    pub fn score_as_built(&self, inputs: &[f64], rows: usize) -> Result<Vec<f64>, ScoreError> {
        match &self.scorer {
            Scorer::Native(model, _) => Ok(inputs
                .chunks_exact(self.features.max(1))
                .take(rows)
                .map(|row| model.predict(row))
                .collect()),
            Scorer::Onnx(_) => self.score(inputs, rows),
        }
    }

    /// Whether scoring runs ONNX Runtime (off the async threads) rather than native code.
    pub fn is_onnx(&self) -> bool {
        matches!(self.scorer, Scorer::Onnx(_))
    }
}

/// The version's recorded inputs against the plan's: same count, and each the same feature
/// definition (canonical hash) in the same position.
fn check_features(plan: &Plan, inputs: &[FeatureId], version: &ModelVersion) -> Result<(), LoadError> {
    let recorded = &version.lineage.features;
    let mismatch = |detail: String| LoadError::Features {
        model: version.model.clone(),
        version: version.version,
        detail,
    };
    if recorded.len() != inputs.len() {
        return Err(mismatch(format!(
            "{} inputs recorded, {} pinned",
            recorded.len(),
            inputs.len()
        )));
    }
    for (position, (recorded, feature)) in recorded.iter().zip(inputs).enumerate() {
        let planned = &plan.features[*feature];
        if recorded.hash != planned.hash.0 {
            let group = &plan.groups[planned.group];
            return Err(mismatch(format!(
                "input {position} `{}` was trained as another definition than {}@v{}.{}",
                recorded.column, group.name, group.version, planned.name
            )));
        }
    }
    Ok(())
}
