//! Point-in-time training sets, the stage after the feature tables: for each model,
//! `training/<model>/<id>/{snapshot,holdout}` (Delta, by example day `dt`) and `manifest.json`.
//!
//! A training set's id digests its definition and the fingerprints of every input partition that
//! can reach its rows ([`spec`]): an unchanged set is skipped, a changed one is written under a new
//! id beside the old ones (a registered model keeps naming the rows it was trained on). The
//! manifest is written last; a directory without one (a build killed mid-way) is cleared and
//! rebuilt, so a re-run yields exactly what a clean build yields.

pub mod inputs;
pub mod label_index;
pub mod labels;
pub mod manifest;
pub mod spec;
pub mod split;

use std::path::Path;
use std::time::Instant;

use mlsys_compiler::plan::{DateRange, ModelId};

use crate::error::BatchError;
use crate::features::asof::{LookupPasses, Lookups};
use crate::features::output::date_text;
use crate::state::BuildState;
use crate::store::{OfflineStore, Replace};
use crate::training::labels::Labels;
use crate::training::manifest::{Column, Feature, Manifest, SplitManifest};
use crate::training::spec::TrainingSpec;
use crate::training::split::Split;
use crate::{BuildContext, Progress};

/// The splits of a training set, in order.
pub const SPLITS: [&str; 2] = ["snapshot", "holdout"];

/// What building one model's training set did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TrainingReport {
    pub model: String,
    pub id: String,
    /// The set's directory, relative to the offline store root.
    pub directory: String,
    /// False when the set was already built from the same definition and inputs.
    pub built: bool,
    pub snapshot_rows: u64,
    pub holdout_rows: u64,
    /// Examples in the ranges left out because their label is null.
    pub unlabeled: u64,
    pub seconds: f64,
}

/// Builds the training set of every model whose definition or inputs changed.
pub async fn build_training_sets(
    context: &BuildContext<'_>,
    store: &OfflineStore,
    state: &mut BuildState,
    state_file: &Path,
    progress: &dyn Progress,
) -> Result<Vec<TrainingReport>, BatchError> {
    let mut reports = Vec::new();
    for (model_id, model) in context.plan.models.iter() {
        let started = Instant::now();
        progress.start(&format!("training set {}", model.name), 1);
        let mut report = build_set(context, store, state, model_id)
            .await
            .map_err(|error| BatchError::TrainingSet {
                model: model.name.clone(),
                source: Box::new(error),
            })?;
        if state.training.get(&model.name) != Some(&report.id) {
            state.training.insert(model.name.clone(), report.id.clone());
            state.save(state_file)?;
        }
        progress.advance(1);
        progress.finish();
        report.seconds = started.elapsed().as_secs_f64();
        reports.push(report);
    }
    Ok(reports)
}

/// The directory of a model's training set `id`, relative to the store root.
pub fn directory_name(model: &str, id: &str) -> String {
    format!("training/{model}/{id}")
}

/// Builds the training set of one model of `context.plan` (skipped when a complete set of the same
/// id exists), without recording it as the model's current set: `mlsysc retrain` builds the set of
/// a plan whose `train` ranges it moved this way.
pub async fn build_set(
    context: &BuildContext<'_>,
    store: &OfflineStore,
    state: &BuildState,
    model_id: ModelId,
) -> Result<TrainingReport, BatchError> {
    let plan = context.plan;
    let model = &plan.models[model_id];
    let spec = TrainingSpec::new(plan, model_id)?;
    let definition = spec.definition();
    let inputs = spec.inputs(state);
    let id = spec.id(&definition, &inputs);
    let directory_name = directory_name(&model.name, &id);
    let directory = store.root().join(&directory_name);
    let mut report = TrainingReport {
        model: model.name.clone(),
        id: id.clone(),
        directory: directory_name,
        ..TrainingReport::default()
    };
    if let Some(manifest) = Manifest::read(&directory)? {
        report.snapshot_rows = manifest.snapshot.rows;
        report.holdout_rows = manifest.holdout.rows;
        report.unlabeled = manifest.snapshot.unlabeled + manifest.holdout.unlabeled;
        return Ok(report);
    }
    // Whatever an interrupted build left here is incomplete.
    if directory.exists() {
        std::fs::remove_dir_all(&directory).map_err(|error| BatchError::io(&directory, error))?;
    }
    let labels = Labels::load(plan, store, &model.label).await?;
    // Examples are looked up at their own times, all within the snapshot and holdout days; in
    // as many passes as the memory budget needs, both splits in each.
    let times = Some(spec.time_range());
    let passes = LookupPasses::plan(plan, store, &spec.lookups, times).await?;
    let ranges = [model.train.snapshot, model.train.holdout];
    let mut writers = Vec::new();
    for name in SPLITS {
        let location = store.training(&model.name, &id, name);
        let writer = location
            .writer(spec.schema(), Replace::All, context.run, store.write_buffer())
            .await?;
        writers.push((location, writer));
    }
    let produced: Result<[Split; 2], BatchError> = async {
        let mut splits = [Split::default(), Split::default()];
        for pass in 0..passes.passes {
            let lookups = Lookups::load(plan, store, &spec.lookups, times, passes, pass).await?;
            for ((split, range), (_, writer)) in splits.iter_mut().zip(ranges).zip(&writers) {
                split.add(split::compute(&spec, store, &labels, &lookups, range, &writer.sink()).await?);
            }
        }
        Ok(splits)
    }
    .await;
    let computed = match produced {
        Ok(computed) => computed,
        Err(mut error) => {
            for (_, writer) in writers {
                error = writer.abandon(error).await;
            }
            return Err(error);
        }
    };
    let mut splits = Vec::new();
    let mut writers = writers.into_iter();
    for (split, range) in computed.into_iter().zip(ranges) {
        let Some((location, writer)) = writers.next() else {
            break;
        };
        if let Err(mut error) = writer.finish(Ok(())).await {
            // The other split's write ends too (its tasks awaited), uncommitted.
            for (_, writer) in writers {
                error = writer.abandon(error).await;
            }
            return Err(error);
        }
        splits.push(split_manifest(location.name, range, split.rows, split.unlabeled));
    }
    let [snapshot, holdout]: [SplitManifest; 2] = splits
        .try_into()
        .map_err(|_| BatchError::Internal("a training set has two splits"))?;
    report.built = true;
    report.snapshot_rows = snapshot.rows;
    report.holdout_rows = holdout.rows;
    report.unlabeled = snapshot.unlabeled + holdout.unlabeled;
    let manifest = Manifest {
        format: "training-1".to_string(),
        model: model.name.clone(),
        id,
        definition,
        task: model.task.name().to_string(),
        examples: plan.sources[model.examples].name.clone(),
        label: Column {
            name: spec.label_name.clone(),
            ty: spec.label_type.base.name().to_string(),
        },
        features: spec
            .features
            .iter()
            .map(|(id, column)| Feature {
                column: column.clone(),
                ty: plan.features[*id].ty.to_string(),
                hash: plan.features[*id].hash.0.clone(),
            })
            .collect(),
        snapshot,
        holdout,
        inputs,
        run: context.run,
    };
    manifest.write(&directory)?;
    Ok(report)
}

fn split_manifest(table: String, range: DateRange, rows: u64, unlabeled: u64) -> SplitManifest {
    SplitManifest {
        from: date_text(range.start),
        to: date_text(range.end),
        table,
        rows,
        unlabeled,
    }
}
