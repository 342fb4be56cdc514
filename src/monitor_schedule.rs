//! The monitors of `mlsysc deploy`: one thread with its own runtime (the batch engine's reads
//! never run on the threads answering requests) evaluates every monitor when one of its periods
//! ends — a drift rule's `every` boundary, or UTC midnight for metric windows — and once at start,
//! catching up what came due while `deploy` was down. After each evaluation the monitors' gauges
//! (`mlsys_monitor_*`) are set from the stored results; alerts are printed and delivered.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use mlsys_compiler::plan::Plan;
use mlsys_deploy::metrics::DeployMetrics;
use mlsys_monitor::evaluate::{DriftOutcome, DriftResult, METRIC_STEP_MICROS, MetricOutcome, MetricResult};
use mlsys_monitor::state::State;

use crate::monitor::{Places, drift_rule, evaluate, metric_rule};

/// A stop request is noticed within this.
const LONGEST_SLEEP: Duration = Duration::from_secs(10);

/// Stops the monitors' thread when dropped (after the evaluation in progress, if any).
pub struct MonitorSchedule {
    stop: Arc<AtomicBool>,
}

impl Drop for MonitorSchedule {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Starts evaluating `plan`'s monitors, or `None` when it has none.
pub fn start(plan: Arc<Plan>, places: Places, metrics: Arc<DeployMetrics>) -> anyhow::Result<Option<MonitorSchedule>> {
    if plan.monitors.is_empty() {
        return Ok(None);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let stopped = stop.clone();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    std::thread::Builder::new()
        .name("monitors".into())
        .spawn(move || runtime.block_on(run(&plan, &places, &metrics, &stopped)))?;
    Ok(Some(MonitorSchedule { stop }))
}

async fn run(plan: &Plan, places: &Places, metrics: &DeployMetrics, stop: &AtomicBool) {
    let mut due = i64::MIN;
    while !stop.load(Ordering::Relaxed) {
        let now = mlsys_serve::server::now_micros();
        if now >= due {
            match evaluate(plan, places, now).await {
                Ok((runs, delivery)) => {
                    for line in runs.iter().flat_map(|run| run.alerts.iter().chain(&run.actions)) {
                        eprintln!("{line}");
                    }
                    if delivery.contains("failed") {
                        eprintln!("{delivery}");
                    }
                }
                Err(error) => eprintln!("monitors: the evaluation failed ({error:#}); trying again at the next period"),
            }
            if let Err(error) = set_gauges(plan, places, metrics) {
                eprintln!("monitors: the gauges could not be read ({error:#})");
            }
            due = next_due(plan, now);
        }
        let sleep = due.saturating_sub(mlsys_serve::server::now_micros()).max(0) as u64;
        tokio::time::sleep(Duration::from_micros(sleep).min(LONGEST_SLEEP)).await;
    }
}

/// The next period end after `now`: a drift rule's `every` boundary, or UTC midnight.
fn next_due(plan: &Plan, now: i64) -> i64 {
    let next = |every: i64| now.div_euclid(every) * every + every;
    plan.monitors
        .values()
        .flat_map(|monitor| {
            let drift = monitor.drift.iter().map(move |rule| next(rule.every_micros));
            let metrics = monitor.metrics.iter().map(move |_| next(METRIC_STEP_MICROS));
            drift.chain(metrics)
        })
        .min()
        .unwrap_or(i64::MAX)
}

/// Each rule's latest stored result as gauges.
fn set_gauges(plan: &Plan, places: &Places, metrics: &DeployMetrics) -> anyhow::Result<()> {
    let state = State::open(places.state())?;
    for monitor in plan.monitors.values() {
        for (index, rule) in monitor.drift.iter().enumerate() {
            let spec = drift_rule(plan, index, rule);
            let results: Vec<DriftResult> = state.all(&monitor.name, &spec.id)?;
            let latest = results.iter().rev().find_map(|result| match &result.outcome {
                DriftOutcome::Evaluated { psi, fired, .. } => Some((psi, *fired)),
                _ => None,
            });
            if let Some((psi, fired)) = latest {
                for (input, value) in psi {
                    metrics.set_monitor_psi(&monitor.name, input, *value);
                }
                metrics.set_monitor_rule(&monitor.name, &spec.id, fired);
            }
        }
        for (index, rule) in monitor.metrics.iter().enumerate() {
            let spec = metric_rule(index, rule);
            let results: Vec<MetricResult> = state.all(&monitor.name, &spec.id)?;
            let latest = results.iter().rev().find_map(|result| match &result.outcome {
                MetricOutcome::Evaluated { value, fired, .. } => Some((*value, *fired)),
                _ => None,
            });
            if let Some((value, fired)) = latest {
                metrics.set_monitor_metric(&monitor.name, rule.metric.name(), value);
                metrics.set_monitor_rule(&monitor.name, &spec.id, fired);
            }
        }
    }
    Ok(())
}
