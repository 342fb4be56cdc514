//! The batch targets' scheduler of `mlsysc deploy`: one thread with its own runtime (so that
//! DataFusion's work never runs on the threads answering requests) makes each batch target's due
//! run (`score::run_due`, lang-spec §7.6 "Schedule") when its next scheduled time comes, catching
//! up once at start after downtime. A failed run is logged and made again a minute later (it is
//! not recorded, so it stays due).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use mlsys_batch::score::schedule::Schedule;
use mlsys_compiler::plan::Plan;

use crate::score::{ScorePlaces, run_due};

/// How long the scheduler sleeps at most: a failed run is retried after this, and a stop request
/// is noticed within it.
const LONGEST_SLEEP: Duration = Duration::from_secs(60);

/// Stops the scheduler when dropped (after the run in progress, if any).
pub struct Scheduler {
    stop: Arc<AtomicBool>,
}

impl Drop for Scheduler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Starts the scheduler of `targets` (batch target names), or `None` when there are none.
pub fn start(plan: Arc<Plan>, places: ScorePlaces, targets: Vec<String>) -> anyhow::Result<Option<Scheduler>> {
    if targets.is_empty() {
        return Ok(None);
    }
    let mut schedules = Vec::new();
    for name in targets {
        let text = plan
            .serves
            .values()
            .find(|serve| serve.name == name)
            .and_then(|serve| serve.schedule.clone())
            .unwrap_or_default();
        schedules.push((name, Schedule::parse(&text)?));
    }
    let stop = Arc::new(AtomicBool::new(false));
    let stopped = stop.clone();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    std::thread::Builder::new()
        .name("batch-schedule".into())
        .spawn(move || runtime.block_on(run(&plan, &places, &schedules, &stopped)))?;
    Ok(Some(Scheduler { stop }))
}

async fn run(plan: &Plan, places: &ScorePlaces, schedules: &[(String, Schedule)], stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        let now = mlsys_serve::server::now_micros();
        let mut wake = now.saturating_add(LONGEST_SLEEP.as_micros() as i64);
        for (name, schedule) in schedules {
            match run_due(plan, places, name, now).await {
                Ok(Some(ran)) => eprintln!(
                    "batch target {name}: made the run due at {}",
                    mlsys_serve::wire::format_timestamp(ran.run.scheduled)
                ),
                Ok(None) => {}
                Err(error) => eprintln!("batch target {name}: the run failed ({error:#}); trying again in a minute"),
            }
            if let Ok(next) = schedule.next_after(now) {
                wake = wake.min(next);
            }
        }
        let sleep = wake.saturating_sub(mlsys_serve::server::now_micros()).max(0) as u64;
        tokio::time::sleep(Duration::from_micros(sleep).min(LONGEST_SLEEP)).await;
    }
}
