//! `mlsysc report MONITOR --out FILE`: a monitor's stored results, the baselines of the versions
//! they were compared with and its alert history, rendered by `mlsys_monitor::report` into one
//! self-contained HTML file.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;

use mlsys_alerts::{AlertStore, DeliveryPolicy, EventHistory};
use mlsys_compiler::plan::{Monitor, Plan, Serve, ServeMode};
use mlsys_monitor::evaluate::{
    DriftOutcome, DriftResult, MIN_DRIFT_ROWS, MIN_METRIC_ROWS, MetricOutcome, MetricResult, PendingWindows,
};
use mlsys_monitor::report::{
    Delivery, DeliveryState, DistributionComparison, DriftPeriod, DriftRuleReport, EventKind, FeaturePsi, HistoryEvent,
    MetricRuleReport, MetricStatus, MetricWindow, PeriodStatus, Report, ShadowReport, render,
};
use mlsys_monitor::state::State;
use mlsys_monitor::{Baseline, Bins, DEFAULT_BINS, Distribution};
use mlsys_registry::{ModelVersion, Registry};

use crate::monitor::{alerts_path, baselines, drift_rule, metric_rule, state_path};
use crate::project;
use crate::serve::load_plan;
use crate::shadow_report::read_shadow_log;

#[derive(clap::Args)]
pub struct ReportArgs {
    /// The monitor.
    monitor: String,
    /// Project directory.
    #[arg(default_value = ".")]
    path: PathBuf,
    /// The HTML file to write.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// The registry (default: `.mlsys/registry.db` in the project).
    #[arg(long, value_name = "DB")]
    registry: Option<PathBuf>,
}

pub fn report(arguments: ReportArgs) -> anyhow::Result<ExitCode> {
    let Some(plan) = load_plan(&arguments.path, "reporting")? else {
        return Ok(ExitCode::from(1));
    };
    let Some(monitor) = plan.monitors.values().find(|monitor| monitor.name == arguments.monitor) else {
        let names: Vec<&str> = plan.monitors.values().map(|monitor| monitor.name.as_str()).collect();
        anyhow::bail!(
            "no monitor `{}` in the project (monitors: {})",
            arguments.monitor,
            names.join(", ")
        );
    };
    let directory = project::directory(&arguments.path);
    let registry = Registry::open(
        &arguments
            .registry
            .clone()
            .unwrap_or_else(|| directory.join(".mlsys/registry.db")),
    )?;
    let serve = &plan.serves[monitor.target];
    let model = &plan.models[serve.model.model];
    let versions = registry.versions(&model.name)?;
    let (_, stage) = mlsys_deploy::target::model_stage(&plan, serve.model);
    let served = registry.resolve(&model.name, &stage)?.map(|version| version.version);
    let state = State::open(&state_path(&directory))?;
    let history = AlertStore::open(&alerts_path(&directory))?.history(Some(&monitor.name), 500)?;
    let report = Report {
        monitor: monitor.name.clone(),
        target: serve.name.clone(),
        model: model.name.clone(),
        served_version: served,
        generated_at_micros: crate::train::now_micros(),
        drift: drift_reports(&plan, monitor, &state, &baselines(&versions))?,
        metrics: metric_reports(monitor, &state, &versions, served)?,
        shadow: shadow(&plan, &directory, serve)?,
        history: history.iter().map(history_event).collect(),
    };
    std::fs::write(&arguments.out, render(&report))
        .map_err(|error| anyhow::anyhow!("cannot write {}: {error}", arguments.out.display()))?;
    println!("wrote {}", arguments.out.display());
    Ok(ExitCode::SUCCESS)
}

/// The target's newest shadow version against the version that served the same requests, from
/// its prediction log (`None`: a batch target, no shadow declared, or no request scored by both).
fn shadow(plan: &Plan, directory: &std::path::Path, serve: &Serve) -> anyhow::Result<Option<ShadowReport>> {
    let store = mlsys_batch::store::OfflineStore::new(directory.join(".mlsys").join("offline"));
    if serve.mode != ServeMode::Realtime || serve.shadow.is_none() || !store.predictions(&serve.name).exists() {
        return Ok(None);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let log = runtime.block_on(read_shadow_log(plan, &store, serve, i64::MIN))?;
    let metric = plan.models[serve.model.model].train.metric;
    let Some(((production, shadow), stats)) = log.versions.zip(mlsys_deploy::shadow_report::report(
        &serve.name,
        metric,
        &log.pairs,
        log.not_compared,
    )) else {
        return Ok(None);
    };
    let primary: Vec<f64> = log.pairs.iter().map(|pair| pair.primary).collect();
    let bins = Bins::quantiles(&primary, DEFAULT_BINS);
    let served = Distribution::of(bins.clone(), primary);
    let shadowed = Distribution::of(bins, log.pairs.iter().map(|pair| pair.shadow));
    Ok(Some(ShadowReport {
        production_version: production,
        shadow_version: shadow,
        compared: stats.compared as u64,
        not_compared: stats.not_compared as u64,
        mean_abs_difference: stats.mean_abs_difference,
        p99_abs_difference: stats.p99_abs_difference,
        max_abs_difference: stats.max_abs_difference,
        agreement: stats.agreement,
        decision_threshold: stats.threshold,
        psi: stats.psi,
        scores: DistributionComparison::new("score", &served, &shadowed),
    }))
}

fn drift_reports(
    plan: &Plan,
    monitor: &Monitor,
    state: &State,
    baselines: &HashMap<i64, Baseline>,
) -> anyhow::Result<Vec<DriftRuleReport>> {
    let mut reports = Vec::new();
    for (index, rule) in monitor.drift.iter().enumerate() {
        let spec = drift_rule(plan, index, rule);
        let results: Vec<DriftResult> = state.all(&monitor.name, &spec.id)?;
        let latest = results.iter().rev().find_map(|result| match &result.outcome {
            DriftOutcome::Evaluated {
                version,
                counts,
                score_counts,
                ..
            } => Some((baselines.get(version)?, counts, score_counts)),
            _ => None,
        });
        let (distributions, score) = match latest {
            Some((baseline, counts, score_counts)) => comparisons(baseline, counts, score_counts),
            None => (Vec::new(), None),
        };
        reports.push(DriftRuleReport {
            rule: spec.text.clone(),
            comparison: spec.comparison,
            threshold: spec.threshold,
            periods: results.iter().map(drift_period).collect(),
            distributions,
            score,
        });
    }
    Ok(reports)
}

/// Baseline against the latest evaluated period, per input and for the score.
fn comparisons(
    baseline: &Baseline,
    counts: &[(String, Vec<u64>)],
    score_counts: &[u64],
) -> (Vec<DistributionComparison>, Option<DistributionComparison>) {
    let inputs = counts
        .iter()
        .filter_map(|(name, counts)| {
            let expected = baseline.input(name)?;
            let current = Distribution {
                bins: expected.bins.clone(),
                counts: counts.clone(),
            };
            Some(DistributionComparison::new(name, expected, &current))
        })
        .collect();
    let current = Distribution {
        bins: baseline.score.bins.clone(),
        counts: score_counts.to_vec(),
    };
    (
        inputs,
        Some(DistributionComparison::new("score", &baseline.score, &current)),
    )
}

fn drift_period(result: &DriftResult) -> DriftPeriod {
    let status = match &result.outcome {
        DriftOutcome::Evaluated { psi, .. } => PeriodStatus::Evaluated {
            psi: psi
                .iter()
                .map(|(feature, psi)| FeaturePsi {
                    feature: feature.clone(),
                    psi: *psi,
                })
                .collect(),
        },
        DriftOutcome::InsufficientData => PeriodStatus::InsufficientData {
            minimum_rows: MIN_DRIFT_ROWS,
        },
        DriftOutcome::NoBaseline { .. } => PeriodStatus::NoBaseline,
        DriftOutcome::NoData => PeriodStatus::NoData,
    };
    DriftPeriod {
        start_micros: result.start,
        end_micros: result.end,
        rows: result.rows,
        status,
    }
}

fn metric_reports(
    monitor: &Monitor,
    state: &State,
    versions: &[ModelVersion],
    served: Option<u32>,
) -> anyhow::Result<Vec<MetricRuleReport>> {
    let mut reports = Vec::new();
    for (index, rule) in monitor.metrics.iter().enumerate() {
        let spec = metric_rule(index, rule);
        let results: Vec<MetricResult> = state.all(&monitor.name, &spec.id)?;
        let pending: PendingWindows = state.pending(&monitor.name, &spec.id)?.unwrap_or_default();
        let baseline = versions
            .iter()
            .find(|version| Some(version.version) == served)
            .and_then(|version| version.lineage.metrics.get(rule.metric.name()).copied());
        let threshold = match (rule.relative_to_baseline, baseline) {
            (false, _) => Some(rule.threshold),
            (true, baseline) => baseline.map(|baseline| rule.threshold * baseline),
        };
        reports.push(MetricRuleReport {
            rule: spec.text.clone(),
            metric: rule.metric.name().to_string(),
            comparison: rule.comparison,
            baseline,
            factor: rule.relative_to_baseline.then_some(rule.threshold),
            threshold,
            windows: windows(&results, &pending),
        });
    }
    Ok(reports)
}

/// The stored windows and, among those the latest run left pending, the ones still not
/// evaluated, in time order.
fn windows(results: &[MetricResult], pending: &PendingWindows) -> Vec<MetricWindow> {
    let mut windows: Vec<MetricWindow> = results.iter().filter_map(metric_window).collect();
    let stored: std::collections::HashSet<i64> = results.iter().map(|result| result.end).collect();
    windows.extend(
        pending
            .ends
            .iter()
            .filter(|end| !stored.contains(end))
            .map(|end| MetricWindow {
                end_micros: *end,
                labelled_rows: 0,
                status: MetricStatus::Pending,
            }),
    );
    windows.sort_by_key(|window| window.end_micros);
    windows
}

fn metric_window(result: &MetricResult) -> Option<MetricWindow> {
    let status = match &result.outcome {
        MetricOutcome::Evaluated { value, .. } => MetricStatus::Value { value: *value },
        MetricOutcome::InsufficientLabels | MetricOutcome::NoBaseline { .. } => MetricStatus::InsufficientLabels {
            minimum_rows: MIN_METRIC_ROWS,
        },
        MetricOutcome::NoData => return None,
    };
    Some(MetricWindow {
        end_micros: result.end,
        labelled_rows: result.labelled,
        status,
    })
}

fn history_event(entry: &EventHistory) -> HistoryEvent {
    let event = &entry.event;
    let now = crate::train::now_micros();
    let policy = DeliveryPolicy::default();
    HistoryEvent {
        at_micros: event.observed_at,
        kind: match event.kind {
            mlsys_alerts::EventKind::Fired => EventKind::AlertFired,
            mlsys_alerts::EventKind::Repeated => EventKind::AlertRepeated,
            mlsys_alerts::EventKind::Resolved => EventKind::AlertResolved,
        },
        rule: event.rule.clone(),
        summary: event.summary.clone(),
        deliveries: entry
            .deliveries
            .iter()
            .map(|delivery| Delivery {
                channel: delivery.channel.clone(),
                state: if delivery.is_delivered() {
                    DeliveryState::Delivered
                } else if delivery.is_overdue(now, &policy) {
                    DeliveryState::Overdue
                } else {
                    DeliveryState::Pending
                },
                attempts: delivery.attempts,
                last_error: delivery.last_error.clone(),
            })
            .collect(),
    }
}
