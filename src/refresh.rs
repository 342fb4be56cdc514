//! Fresh features while `mlsysc deploy` serves: one thread with its own runtime (the batch
//! engine's work never runs on the threads answering requests) runs the project's incremental
//! pipeline — new source partitions ingested and validated as `build` ingests them, the feature
//! days they change recomputed, the changed groups materialized — into the very store `deploy`
//! serves from, once at start and then at every boundary of the refresh cadence: the smallest
//! `every` among the served groups' windowed features (`--refresh-every` overrides it). Writes are
//! newest-wins records while requests read. A run holds the build lock: while a `build` holds it
//! the run is skipped until the next boundary. A failed run leaves what is served as it was (every
//! table commit is atomic), is logged and counted, and is made again at the next boundary.
//! Per served group, the newest event time materialized and its lag behind now are gauges, and
//! `/ready` reports a group lagging more than three of its `every` (`mlsys_deploy::freshness`).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use mlsys_batch::store::OfflineStore;
use mlsys_batch::{BuildOptions, Silent};
use mlsys_compiler::plan::{FeatureKind, GroupId, Plan};
use mlsys_deploy::freshness::Freshness;
use mlsys_deploy::metrics::DeployMetrics;
use mlsys_online::{OnlineStore, TableMeta, meta_name};
use mlsys_serve::tables::materialized_tables;

use crate::build_lock::{self, LockError};
use crate::materialize::{Exact, Materialized, materialize};

/// A stop request is noticed, and the lag gauges are updated, within this.
const LONGEST_SLEEP: Duration = Duration::from_secs(10);

/// Stops the refresh thread when dropped (after the run in progress, if any).
pub struct Refresh {
    stop: Arc<AtomicBool>,
}

impl Drop for Refresh {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// What the refresh thread works with.
pub struct Refresher {
    pub plan: Arc<Plan>,
    /// The project directory (its `.mlsys/` holds the offline store and the build lock).
    pub directory: PathBuf,
    pub online: Arc<dyn OnlineStore>,
    pub metrics: Arc<DeployMetrics>,
    /// What `/ready` reports of each group.
    pub freshness: Arc<Freshness>,
    /// The cadence in µs.
    pub every: i64,
}

/// The smallest `every` among the windowed features of the groups `deploy` serves from its store:
/// how often their values can change. `None` when no group is materialized.
pub fn cadence(plan: &Plan) -> Option<i64> {
    materialized_tables(plan)
        .into_iter()
        .filter_map(|(group, ..)| group_every(plan, group))
        .min()
}

/// The smallest `every` among a group's windowed features.
fn group_every(plan: &Plan, group: GroupId) -> Option<i64> {
    plan.groups[group]
        .features
        .iter()
        .filter_map(|feature| match &plan.features[*feature].kind {
            FeatureKind::Aggregate(aggregate) => Some(aggregate.resolution_micros),
            _ => None,
        })
        .filter(|every| *every > 0)
        .min()
}

/// Starts refreshing at `refresher.every`.
pub fn start(refresher: Refresher) -> anyhow::Result<Refresh> {
    let stop = Arc::new(AtomicBool::new(false));
    let stopped = stop.clone();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    std::thread::Builder::new()
        .name("feature-refresh".into())
        .spawn(move || runtime.block_on(run(&refresher, &stopped)))?;
    Ok(Refresh { stop })
}

async fn run(refresher: &Refresher, stop: &AtomicBool) {
    let mut due = i64::MIN;
    while !stop.load(Ordering::Relaxed) {
        let now = mlsys_serve::server::now_micros();
        if now >= due {
            report(refresher, refresh_once(refresher).await);
            due = now.div_euclid(refresher.every) * refresher.every + refresher.every;
        }
        if let Err(error) = set_freshness(refresher).await {
            eprintln!("feature refresh: the store's tables could not be read ({error:#})");
        }
        let sleep = due.saturating_sub(mlsys_serve::server::now_micros()).max(0) as u64;
        tokio::time::sleep(Duration::from_micros(sleep).min(LONGEST_SLEEP)).await;
    }
}

/// What a run did, in the log and the counters.
fn report(refresher: &Refresher, outcome: anyhow::Result<Option<Vec<Materialized>>>) {
    match outcome {
        Ok(Some(materialized)) => {
            refresher.metrics.count_refresh("ok");
            for table in materialized.iter().filter(|table| table.written) {
                eprintln!(
                    "feature refresh: {} materialized: {} entities written, {} unchanged, in {:.2}s",
                    table.group, table.entities, table.unchanged, table.seconds
                );
            }
        }
        Ok(None) => {
            refresher.metrics.count_refresh("skipped");
            eprintln!("feature refresh: a build holds the build lock; trying again at the next boundary");
        }
        Err(error) => {
            refresher.metrics.count_refresh("failed");
            eprintln!(
                "feature refresh failed ({error:#}); the served values stay as they were; trying again at the next boundary"
            );
        }
    }
}

/// One incremental run under the build lock, as `build` runs it without training: `None` when a
/// build holds the lock.
async fn refresh_once(refresher: &Refresher) -> anyhow::Result<Option<Vec<Materialized>>> {
    let state = refresher.directory.join(".mlsys");
    let lock = match build_lock::acquire(&state, build_lock::REFRESH) {
        Ok(lock) => lock,
        Err(LockError::Held { .. }) => return Ok(None),
        Err(error) => return Err(error.into()),
    };
    let root = state.join("offline");
    mlsys_batch::orphans::remove_uncommitted_files(&root, lock.acquired)?;
    let plan = refresher.plan.as_ref();
    let options = BuildOptions {
        skip_training_sets: true,
        ..BuildOptions::default()
    };
    mlsys_batch::build(plan, &refresher.directory, &root, &options, &Silent).await?;
    let offline = OfflineStore::new(&root);
    let materialized = materialize(plan, &offline, refresher.online.as_ref(), Exact::AsStored).await?;
    drop(lock);
    Ok(Some(materialized))
}

/// Each served group's newest materialized event time, as its table in the store says.
async fn set_freshness(refresher: &Refresher) -> anyhow::Result<()> {
    let now = mlsys_serve::server::now_micros();
    for (group, table, _) in materialized_tables(&refresher.plan) {
        let Some(bytes) = refresher.online.get_meta(&meta_name(&table)).await? else {
            continue;
        };
        let meta: TableMeta = serde_json::from_slice(&bytes)?;
        let name = table.to_string();
        refresher.metrics.set_feature_freshness(&name, meta.watermark, now);
        let every = group_every(&refresher.plan, group).unwrap_or(refresher.every);
        refresher.freshness.set(&name, meta.watermark, every);
    }
    Ok(())
}
