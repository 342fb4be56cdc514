//! The batch engine: executes a feature plan over the offline store with DataFusion and Delta.
//!
//! `build` runs the stages in order — ingestion (validated, quarantined, date-partitioned), feature
//! tables, point-in-time training sets — each recomputing only what its inputs' changes reach, each
//! committing every table atomically.

pub mod convert;
pub mod error;
pub mod features;
pub mod ingest;
pub mod lower;
pub mod orphans;
pub mod prediction_log;
pub mod score;
pub mod state;
pub mod store;
pub mod training;

use std::path::Path;

use mlsys_compiler::plan::Plan;
use mlsys_compiler::syntax::literal::parse_date;

pub use error::BatchError;
pub use ingest::SourceReport;
use state::BuildState;
use store::OfflineStore;

/// What a build should do.
#[derive(Clone, Debug, Default)]
pub struct BuildOptions {
    /// Recompute every partition, whatever the fingerprints say.
    pub full_refresh: bool,
    /// Only input days from this date (inclusive), `YYYY-MM-DD`.
    pub from: Option<String>,
    /// Only input days up to this date (inclusive), `YYYY-MM-DD`.
    pub to: Option<String>,
    /// The memory budget of queries in bytes (`None`: [`store::DEFAULT_MEMORY_LIMIT`]); beyond it
    /// sorts and aggregations spill to disk.
    pub memory_limit: Option<usize>,
    /// Ingestion and feature tables only: no training set (`deploy`'s feature refresh).
    pub skip_training_sets: bool,
}

impl BuildOptions {
    /// Whether an input partition (`YYYY-MM-DD` or `undated`) is within `--from/--to`.
    pub fn in_range(&self, partition: &str) -> bool {
        if parse_date(partition).is_err() {
            return true;
        }
        self.from.as_deref().is_none_or(|from| partition >= from) && self.to.as_deref().is_none_or(|to| partition <= to)
    }
}

/// Everything a stage needs to know about the build it is part of.
pub struct BuildContext<'a> {
    pub plan: &'a Plan,
    /// The project directory; relative source locations are resolved against it.
    pub project: &'a Path,
    pub options: &'a BuildOptions,
    /// This build's run number (the version of its Delta application transactions).
    pub run: i64,
}

/// Where a long step reports progress (the CLI draws bars; tests stay silent).
pub trait Progress {
    fn start(&self, step: &str, total: u64);
    fn advance(&self, done: u64);
    fn finish(&self);
}

/// Progress that goes nowhere.
pub struct Silent;

impl Progress for Silent {
    fn start(&self, _: &str, _: u64) {}
    fn advance(&self, _: u64) {}
    fn finish(&self) {}
}

/// What a build did.
#[derive(Clone, Debug, Default)]
pub struct BuildReport {
    pub run: i64,
    pub sources: Vec<SourceReport>,
    pub features: Vec<features::FeatureReport>,
    pub training: Vec<training::TrainingReport>,
}

/// Runs a build of `plan` (the project at `project`) into the offline store at `store_root`.
pub async fn build(
    plan: &Plan,
    project: &Path,
    store_root: &Path,
    options: &BuildOptions,
    progress: &dyn Progress,
) -> Result<BuildReport, BatchError> {
    for date in [&options.from, &options.to].into_iter().flatten() {
        parse_date(date).map_err(BatchError::DateOption)?;
    }
    let mut store = OfflineStore::new(store_root);
    if let Some(bytes) = options.memory_limit {
        store = store.with_memory_limit(bytes);
    }
    let state_file = store.state_file();
    let mut state = BuildState::load(&state_file)?;
    state.run += 1;
    // The run number is durable before anything is written, so every commit of this build carries
    // a version no earlier build used.
    state.save(&state_file)?;
    let context = BuildContext {
        plan,
        project,
        options,
        run: state.run,
    };
    let mut report = BuildReport {
        run: state.run,
        ..BuildReport::default()
    };
    for (source_id, source) in plan.sources.iter() {
        let mut source_state = state.sources.get(&source.name).cloned().unwrap_or_default();
        let source_report = ingest::ingest_source(&context, &store, source_id, &mut source_state, progress).await?;
        state.sources.insert(source.name.clone(), source_state);
        state.save(&state_file)?;
        report.sources.push(source_report);
    }
    report.features = features::build_features(&context, &store, &mut state, &state_file, progress).await?;
    if !options.skip_training_sets {
        report.training = training::build_training_sets(&context, &store, &mut state, &state_file, progress).await?;
    }
    Ok(report)
}
