//! Resumable `gbdt` training: the boosting state is written atomically every N trees and a later run
//! on the same data and parameters continues from it, ending with the same model bytes.
//!
//! The checkpoint (`gbdt.checkpoint.json` in the given directory) holds the trees so far, the RNG
//! state and the early-stopping bookkeeping, plus a fingerprint of the data set and the
//! hyperparameters. A checkpoint with another fingerprint is ignored (and replaced by the next
//! write): the directory then simply belongs to the new job. A checkpoint that does not decode is an
//! error, never silently discarded. Writes go to a temporary file that is fsynced, renamed over the
//! checkpoint, and the directory fsynced, so a crash leaves either the old or the new checkpoint.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{GbdtRun, Progress};
use crate::dataset::Dataset;
use crate::error::TrainError;
use crate::model::{Model, TreeEnsemble};
use crate::params::{GbdtParams, TrainOptions};
use crate::rng::splitmix64;

pub const CHECKPOINT_FILE: &str = "gbdt.checkpoint.json";
const CHECKPOINT_FORMAT: &str = "mlsys-gbdt-checkpoint";
const CHECKPOINT_VERSION: u32 = 1;

/// A checkpointed training's result.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckpointedModel {
    pub model: Model,
    /// The number of trees read from an existing checkpoint, if training resumed.
    pub resumed_from_trees: Option<usize>,
}

#[derive(Serialize, Deserialize)]
struct CheckpointFile {
    format: String,
    version: u32,
    fingerprint: String,
    progress: Progress,
}

/// Trains a `gbdt` model like [`crate::train_gbdt`], writing a checkpoint to `dir` after every
/// `every_n_trees` trees and resuming from a matching checkpoint already there.
pub fn train_with_checkpoints(
    dataset: &Dataset,
    params: &GbdtParams,
    options: &TrainOptions,
    dir: &Path,
    every_n_trees: u32,
) -> Result<CheckpointedModel, TrainError> {
    train_with_checkpoint_hook(dataset, params, options, dir, every_n_trees, &mut |_| {})
}

/// [`train_with_checkpoints`], calling `after_checkpoint` with the number of trees saved each time
/// a checkpoint is durable on disk (progress reports; a test stops a run at a known checkpoint).
pub fn train_with_checkpoint_hook(
    dataset: &Dataset,
    params: &GbdtParams,
    options: &TrainOptions,
    dir: &Path,
    every_n_trees: u32,
    after_checkpoint: &mut dyn FnMut(usize),
) -> Result<CheckpointedModel, TrainError> {
    if every_n_trees == 0 {
        return Err(TrainError::CheckpointInterval);
    }
    let mut run = GbdtRun::start(dataset, params, options)?;
    let fingerprint = fingerprint(dataset, params);
    let path = dir.join(CHECKPOINT_FILE);
    let mut resumed_from_trees = None;
    if let Some(progress) = read_checkpoint(&path, &fingerprint, dataset, params)? {
        resumed_from_trees = Some(progress.trees.len());
        run.restore(progress);
    }
    fs::create_dir_all(dir).map_err(|source| TrainError::CheckpointIo {
        path: dir.to_path_buf(),
        source,
    })?;
    run.run(&mut |run| {
        if run.progress.trees.len() % every_n_trees as usize == 0 {
            write_checkpoint(dir, &path, &fingerprint, &run.progress)?;
            after_checkpoint(run.progress.trees.len());
        }
        Ok(())
    })?;
    Ok(CheckpointedModel {
        model: run.finish(),
        resumed_from_trees,
    })
}

fn corrupt(path: &Path, message: impl Into<String>) -> TrainError {
    TrainError::CorruptCheckpoint {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

fn read_checkpoint(
    path: &Path,
    fingerprint: &str,
    dataset: &Dataset,
    params: &GbdtParams,
) -> Result<Option<Progress>, TrainError> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(TrainError::CheckpointIo {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    let file: CheckpointFile = serde_json::from_slice(&bytes).map_err(|error| corrupt(path, error.to_string()))?;
    if file.format != CHECKPOINT_FORMAT || file.version != CHECKPOINT_VERSION {
        return Err(corrupt(
            path,
            format!("format `{}` version {}", file.format, file.version),
        ));
    }
    if file.fingerprint != fingerprint {
        return Ok(None);
    }
    let progress = &file.progress;
    if progress.trees.len() > params.trees as usize {
        return Err(corrupt(path, "more trees than the parameters ask for"));
    }
    let bookkeeping_consistent = match (progress.best_iteration, progress.best_loss) {
        (None, None) => params.early_stopping_rounds == 0 || progress.trees.is_empty(),
        (Some(best), Some(loss)) => best < progress.trees.len() && loss.is_finite(),
        _ => false,
    };
    if !bookkeeping_consistent {
        return Err(corrupt(path, "inconsistent early-stopping state"));
    }
    // The trees must be valid for this data set before they are scored.
    let trees = Model::TreeEnsemble(TreeEnsemble {
        task: dataset.task(),
        feature_names: dataset.feature_names().to_vec(),
        base_score: 0.0,
        trees: file.progress.trees.clone(),
    });
    trees.validate().map_err(|error| corrupt(path, error.to_string()))?;
    Ok(Some(file.progress))
}

fn write_checkpoint(dir: &Path, path: &Path, fingerprint: &str, progress: &Progress) -> Result<(), TrainError> {
    let file = CheckpointFile {
        format: CHECKPOINT_FORMAT.to_string(),
        version: CHECKPOINT_VERSION,
        fingerprint: fingerprint.to_string(),
        progress: progress.clone(),
    };
    let bytes = serde_json::to_vec(&file).map_err(|error| corrupt(path, error.to_string()))?;
    let temporary = PathBuf::from(format!("{}.tmp", path.display()));
    let io_error = |path: &Path| {
        let path = path.to_path_buf();
        move |source| TrainError::CheckpointIo { path, source }
    };
    let mut output = fs::File::create(&temporary).map_err(io_error(&temporary))?;
    output.write_all(&bytes).map_err(io_error(&temporary))?;
    output.sync_all().map_err(io_error(&temporary))?;
    drop(output);
    fs::rename(&temporary, path).map_err(io_error(path))?;
    // Make the rename itself durable.
    fs::File::open(dir)
        .and_then(|directory| directory.sync_all())
        .map_err(io_error(dir))?;
    Ok(())
}

/// A 128-bit fingerprint of the data set (task, names, every value's bits, labels) and parameters.
fn fingerprint(dataset: &Dataset, params: &GbdtParams) -> String {
    let mut lanes = [
        FingerprintLane::new(0x6d6c_7379_735f_6770),
        FingerprintLane::new(0x7472_6169_6e5f_636b),
    ];
    let mut feed = |word: u64| lanes.iter_mut().for_each(|lane| lane.add(word));
    feed(match dataset.task() {
        crate::dataset::Task::Classification => 1,
        crate::dataset::Task::Regression => 2,
    });
    for text in dataset.feature_names() {
        feed(text.len() as u64);
        text.bytes().for_each(|byte| feed(u64::from(byte)));
    }
    for column in dataset.columns() {
        column.iter().for_each(|value| feed(value.to_bits()));
    }
    dataset.labels().iter().for_each(|value| feed(value.to_bits()));
    let parameter_words = [
        u64::from(params.trees),
        u64::from(params.depth),
        params.learning_rate.to_bits(),
        u64::from(params.min_rows_per_leaf),
        params.l2.to_bits(),
        params.subsample.to_bits(),
        u64::from(params.early_stopping_rounds),
        params.seed as u64,
    ];
    parameter_words.into_iter().for_each(&mut feed);
    format!("{:016x}{:016x}", lanes[0].finish(), lanes[1].finish())
}

struct FingerprintLane {
    state: u64,
    words: u64,
}

impl FingerprintLane {
    fn new(seed: u64) -> Self {
        FingerprintLane { state: seed, words: 0 }
    }

    fn add(&mut self, word: u64) {
        let mut mixer = self.state ^ word;
        self.state = splitmix64(&mut mixer).rotate_left(17) ^ self.words;
        self.words = self.words.wrapping_add(1);
    }

    fn finish(&self) -> u64 {
        let mut mixer = self.state ^ self.words;
        splitmix64(&mut mixer)
    }
}
