//! `mlsysc monitor`: every monitor's due periods evaluated once (`mlsys_monitor::evaluate`) over
//! its realtime target's prediction log, the results stored (`.mlsys/monitors/state.db`) so that
//! a re-run neither recomputes nor re-alerts, alerts observed and delivered (`mlsys_alerts`).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use mlsys_alerts::{AlertStore, Deliverer, DeliveryPolicy, EventKind, Observation, Observed};
use mlsys_batch::store::OfflineStore;
use mlsys_batch::training::label_index::LabelIndex;
use mlsys_compiler::plan::print::feature_path;
use mlsys_compiler::plan::{Action, Monitor, Plan, ServeMode};
use mlsys_compiler::syntax::literal::MICROS_PER_DAY;
use mlsys_kernels::Value;
use mlsys_monitor::Baseline;
use mlsys_monitor::evaluate::{
    DriftOutcome, DriftResult, DriftRule, Maturity, MetricOutcome, MetricResult, MetricRule, PendingWindows,
    PeriodCounter, Predictions, metric_window, period_ends, sample_rate, unripe, window_ends,
};
use mlsys_monitor::extent::{Extent, merge};
use mlsys_monitor::state::State;
use mlsys_registry::Registry;
use serde::Serialize;

mod read;

use read::Layout;

use crate::project;
use crate::serve::load_plan;

#[derive(clap::Args)]
pub struct MonitorArgs {
    /// Project directory.
    #[arg(default_value = ".")]
    path: PathBuf,
    /// Evaluate what is due once and exit (the default; `deploy` runs monitors on their `every`).
    #[arg(long)]
    once: bool,
    /// Evaluate as of this time (RFC 3339, or a date for its midnight UTC) instead of now.
    #[arg(long, value_name = "TIME")]
    at: Option<String>,
    /// `human`, or `json` for scripts.
    #[arg(long, default_value = "human")]
    format: String,
    /// The offline store (default: `.mlsys/offline` in the project).
    #[arg(long, value_name = "DIR")]
    offline: Option<PathBuf>,
    /// The registry (default: `.mlsys/registry.db` in the project).
    #[arg(long, value_name = "DB")]
    registry: Option<PathBuf>,
    /// The most rows a metric window's scan holds; a window with more is computed on a sample of
    /// its rows by label key, the same rows on every run.
    #[arg(long, value_name = "N", default_value_t = METRIC_ROWS)]
    metric_rows: u64,
}

/// One monitor's run: what was evaluated now, what is pending, the alerts observed.
#[derive(Debug, Default, Serialize)]
pub struct MonitorRun {
    pub monitor: String,
    pub target: String,
    /// Why nothing was evaluated, if nothing could be.
    pub skipped: Option<String>,
    pub drift: Vec<(String, DriftResult)>,
    pub metrics: Vec<(String, MetricResult)>,
    /// Metric windows whose labels are not final yet, per rule.
    pub pending: Vec<(String, usize)>,
    /// The newest label the offline store holds, and how long after a row its label is final.
    pub labels_until: Option<i64>,
    pub label_delay_micros: i64,
    pub alerts: Vec<String>,
    pub actions: Vec<String>,
    /// The scored rows read: those of the periods and windows evaluated now (stored results are
    /// not read again; a row that two scans read, for a drift period and a metric window or for
    /// two overlapping windows, counts twice).
    pub rows_read: usize,
    /// A retraining was attempted in this run (once per run, whatever the rules).
    #[serde(skip)]
    retrained: bool,
}

pub fn monitor(arguments: MonitorArgs) -> anyhow::Result<ExitCode> {
    let Some(plan) = load_plan(&arguments.path, "monitoring")? else {
        return Ok(ExitCode::from(1));
    };
    let at = crate::shadow_report::time_or_now("--at", arguments.at.as_deref())?;
    let directory = project::directory(&arguments.path);
    let places = Places::of(&directory, arguments.offline.as_deref(), arguments.registry.as_deref())
        .with_metric_rows(arguments.metric_rows);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let (runs, delivery) = runtime.block_on(evaluate(&plan, &places, at))?;
    if arguments.format == "json" {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({"at": at, "monitors": runs, "delivery": delivery}))?
        );
    } else {
        for run in &runs {
            print_run(&plan, run);
        }
        println!("{delivery}");
    }
    Ok(ExitCode::SUCCESS)
}

/// Where a project's monitor results are stored.
pub(crate) fn state_path(project: &Path) -> PathBuf {
    project.join(".mlsys/monitors/state.db")
}

/// Where a project's alert state and outbox are kept.
pub(crate) fn alerts_path(project: &Path) -> PathBuf {
    project.join(".mlsys/monitors/alerts.db")
}

/// Where monitors read and keep what they need.
pub(crate) struct Places {
    project: PathBuf,
    store: OfflineStore,
    registry: PathBuf,
    state: PathBuf,
    alerts: PathBuf,
    /// Where a `retrain` action trains and registers.
    training: crate::train::Places,
    /// The most rows a metric window's scan holds: past it, a sample by label key
    /// (`--metric-rows`).
    metric_rows: u64,
}

/// The default of `--metric-rows`: about 320 MB of scores and label keys.
pub(crate) const METRIC_ROWS: u64 = 4_000_000;

/// What a rule's observation may act on: the monitor, and for `retrain`, the project and when.
struct Scope<'a> {
    plan: &'a Plan,
    monitor: &'a Monitor,
    places: &'a Places,
    at: i64,
}

impl Places {
    pub(crate) fn of(project: &Path, offline: Option<&Path>, registry: Option<&Path>) -> Places {
        Places {
            project: project.to_path_buf(),
            store: OfflineStore::new(offline.map_or_else(|| project.join(".mlsys/offline"), Path::to_path_buf)),
            registry: registry.map_or_else(|| project.join(".mlsys/registry.db"), Path::to_path_buf),
            state: state_path(project),
            alerts: alerts_path(project),
            training: crate::train::Places::of(project, registry),
            metric_rows: METRIC_ROWS,
        }
    }

    /// At most `rows` rows per metric scan.
    pub(crate) fn with_metric_rows(mut self, rows: u64) -> Places {
        self.metric_rows = rows.max(1);
        self
    }

    pub(crate) fn state(&self) -> &Path {
        &self.state
    }
}

/// Every monitor evaluated at `at`, then every due alert delivery attempted (its summary line).
pub(crate) async fn evaluate(plan: &Plan, places: &Places, at: i64) -> anyhow::Result<(Vec<MonitorRun>, String)> {
    let mut runs = Vec::new();
    for monitor in plan.monitors.values() {
        runs.push(run_monitor(plan, monitor, places, at).await?);
    }
    let delivery = deliver(&places.alerts).await?;
    Ok((runs, delivery))
}

async fn run_monitor(plan: &Plan, monitor: &Monitor, places: &Places, at: i64) -> anyhow::Result<MonitorRun> {
    let serve = &plan.serves[monitor.target];
    let mut run = MonitorRun {
        monitor: monitor.name.clone(),
        target: serve.name.clone(),
        ..MonitorRun::default()
    };
    let model = &plan.models[serve.model.model];
    let layout = match serve.mode {
        ServeMode::Realtime => Layout::log(places.store.predictions(&serve.name)),
        ServeMode::Batch => {
            let target = mlsys_batch::score::BatchTarget::new(plan, &places.project, &serve.name)?;
            Layout::scores(target.output, plan, model)
        }
    };
    let table = &layout.table;
    if !table.exists() {
        run.skipped = Some(match serve.mode {
            ServeMode::Realtime => format!(
                "no prediction log yet ({}): deploy the target and send it traffic (or `mlsysc replay`)",
                table.path.display()
            ),
            ServeMode::Batch => format!(
                "no scores yet ({}): run `mlsysc score {}`",
                table.path.display(),
                serve.name
            ),
        });
        return Ok(run);
    }
    let state = State::open(&places.state)?;
    let extent = layout.extent().await?;
    let labels = match monitor.metrics.is_empty() {
        true => None,
        false => Some(LabelIndex::load(plan, &places.store, model).await?),
    };
    let maturity = Maturity {
        delay_micros: model.label_delay.unwrap_or(0),
        watermark: labels.as_ref().and_then(|labels| labels.watermark),
    };
    let due = Due::find(plan, monitor, &state, &extent, maturity, at)?;
    let mut evaluation = Evaluation {
        scope: Scope {
            plan,
            monitor,
            places,
            at,
        },
        rows: Rows {
            names: input_names(plan, model),
            layout,
            extent,
        },
        versions: Registry::open(&places.registry)?.versions(&model.name)?,
        state,
        alerts: AlertStore::open(&places.alerts)?,
        run,
    };
    evaluation.drift(&due.drift).await?;
    if let Some(labels) = labels {
        evaluation.metrics(&due.metrics, &labels, maturity).await?;
    }
    Ok(evaluation.run)
}

/// What a monitor evaluates in a run: per rule, the periods or windows that are due and not
/// stored yet. Stored results are not read again; pending metric windows are not stored, so those
/// whose labels could be final by now are read again on every run.
struct Due {
    drift: Vec<Ends>,
    metrics: Vec<Ends>,
}

/// A rule's periods or windows to evaluate over their rows.
#[derive(Default)]
struct Ends {
    /// A period's or window's length: each covers `[end − length, end)`.
    length: i64,
    ends: Vec<i64>,
    /// Metric windows holding rows none of whose labels can be final yet ([`unripe`]): pending,
    /// and not read.
    pending: Vec<i64>,
}

impl Due {
    fn find(
        plan: &Plan,
        monitor: &Monitor,
        state: &State,
        extent: &Extent,
        maturity: Maturity,
        at: i64,
    ) -> anyhow::Result<Due> {
        let mut due = Due {
            drift: Vec::new(),
            metrics: Vec::new(),
        };
        for (index, rule) in monitor.drift.iter().enumerate() {
            let id = drift_rule(plan, index, rule).id;
            let mut periods = Ends {
                length: rule.every_micros,
                ..Ends::default()
            };
            for end in period_ends(extent.first(), rule.every_micros, at) {
                if state.get::<DriftResult>(&monitor.name, &id, end)?.is_none() {
                    periods.ends.push(end);
                }
            }
            due.drift.push(periods);
        }
        for (index, rule) in monitor.metrics.iter().enumerate() {
            let spec = metric_rule(index, rule);
            let mut windows = Ends {
                length: spec.window_micros,
                ..Ends::default()
            };
            for end in window_ends(extent.first(), &spec, at) {
                if state.get::<MetricResult>(&monitor.name, &spec.id, end)?.is_some() {
                    continue;
                }
                let holds_rows = extent.holds_rows(end - spec.window_micros, end);
                match unripe(&spec, maturity, end, at) && holds_rows == Some(true) {
                    true => windows.pending.push(end),
                    false => windows.ends.push(end),
                }
            }
            due.metrics.push(windows);
        }
        Ok(due)
    }
}

impl Ends {
    /// The ends in runs read by one scan each: consecutive ends whose periods together span at
    /// most a day or two periods, so that a scan holds that much of the log, not all that is due.
    fn chunks(&self) -> Vec<&[i64]> {
        let most = MICROS_PER_DAY.max(self.length.saturating_mul(2));
        let mut chunks = Vec::new();
        let mut rest = self.ends.as_slice();
        while let Some(first) = rest.first() {
            let start = first - self.length;
            let taken = rest.iter().take_while(|end| **end - start <= most).count().max(1);
            let (chunk, after) = rest.split_at(taken);
            chunks.push(chunk);
            rest = after;
        }
        chunks
    }

    /// The time ranges of the periods ending at `ends`, merged.
    fn ranges(&self, ends: &[i64]) -> Vec<(i64, i64)> {
        merge(ends.iter().map(|end| (end - self.length, *end)).collect())
    }
}

/// Where a monitor's rows are and how to read them.
struct Rows {
    layout: Layout,
    /// The example times the rows hold, per day.
    extent: Extent,
    /// The model's inputs, as the rows name them.
    names: Vec<String>,
}

/// One monitor's evaluation in progress: what it reads and what it has found so far.
struct Evaluation<'a> {
    scope: Scope<'a>,
    rows: Rows,
    versions: Vec<mlsys_registry::ModelVersion>,
    state: State,
    alerts: AlertStore,
    run: MonitorRun,
}

/// A rule's result for one period or window, as the alert state and the actions see it.
struct Finding<'a> {
    rule: &'a str,
    actions: &'a [Action],
    holds: bool,
    end: i64,
    summary: String,
}

impl Evaluation<'_> {
    /// Every drift rule's due periods not evaluated before, counted as their rows stream by: one
    /// count of the rows per period and version, then one scan of the periods' rows.
    async fn drift(&mut self, due: &[Ends]) -> anyhow::Result<()> {
        let (plan, monitor) = (self.scope.plan, self.scope.monitor);
        let baselines = baselines(&self.versions);
        for ((index, rule), periods) in monitor.drift.iter().enumerate().zip(due) {
            let spec = drift_rule(plan, index, rule);
            let (layout, names) = (&self.rows.layout, &self.rows.names);
            let ranges = periods.ranges(&periods.ends);
            let versions = layout.versions_per_period(periods.length, &ranges).await?;
            let mut counters: BTreeMap<i64, PeriodCounter> = periods
                .ends
                .iter()
                .map(|end| {
                    let versions = versions.get(end).cloned().unwrap_or_default();
                    (*end, PeriodCounter::new(&spec, names, &baselines, *end, &versions))
                })
                .collect();
            let every = periods.length;
            self.run.rows_read += layout
                .each_scored(names, &ranges, &mut |row| {
                    let end = row.time - row.time.rem_euclid(every) + every;
                    if let Some(counter) = counters.get_mut(&end) {
                        counter.add(row.version, row.inputs, row.score);
                    }
                })
                .await?;
            for (end, counter) in counters {
                let result = counter.finish(&spec);
                self.state.put(&monitor.name, &spec.id, end, &result, self.scope.at)?;
                let finding = Finding {
                    rule: &spec.id,
                    actions: &rule.actions,
                    holds: matches!(result.outcome, DriftOutcome::Evaluated { fired: true, .. }),
                    end,
                    summary: drift_summary(&spec, &result),
                };
                observe(&self.scope, &mut self.alerts, finding, &mut self.run).await?;
                self.run.drift.push((spec.id.clone(), result));
            }
        }
        Ok(())
    }

    /// Every metric rule's due windows whose labels are final and not evaluated before.
    async fn metrics(&mut self, due: &[Ends], labels: &LabelIndex, maturity: Maturity) -> anyhow::Result<()> {
        let monitor = self.scope.monitor;
        self.run.labels_until = labels.watermark;
        self.run.label_delay_micros = maturity.delay_micros;
        for ((index, rule), windows) in monitor.metrics.iter().enumerate().zip(due) {
            let spec = metric_rule(index, rule);
            let mut pending = windows.pending.clone();
            for chunk in windows.chunks() {
                let ranges = windows.ranges(chunk);
                let (start, end) = (ranges.first().map_or(0, |r| r.0), ranges.last().map_or(0, |r| r.1));
                let rate = sample_rate(self.rows.extent.rows_within(start, end), self.scope.places.metric_rows);
                let predictions = self.rows.layout.labelled(&ranges, rate).await?;
                self.run.rows_read += predictions.example_time.len();
                for &end in chunk {
                    let Some(mut result) = self.metric_window(rule, &spec, &predictions, labels, maturity, end) else {
                        pending.push(end);
                        continue;
                    };
                    result.sample = rate;
                    self.record_metric(rule, &spec, result).await?;
                }
            }
            pending.sort_unstable();
            self.run.pending.push((spec.id.clone(), pending.len()));
            let left = PendingWindows {
                ends: pending,
                labels_until: labels.watermark,
                delay_micros: maturity.delay_micros,
            };
            self.state.set_pending(&monitor.name, &spec.id, &left, self.scope.at)?;
        }
        Ok(())
    }

    /// A final window's result: stored, observed for the alert state, reported.
    async fn record_metric(
        &mut self,
        rule: &mlsys_compiler::plan::MetricRule,
        spec: &MetricRule,
        result: MetricResult,
    ) -> anyhow::Result<()> {
        let monitor = self.scope.monitor;
        self.state
            .put(&monitor.name, &spec.id, result.end, &result, self.scope.at)?;
        let finding = Finding {
            rule: &spec.id,
            actions: &rule.actions,
            holds: matches!(result.outcome, MetricOutcome::Evaluated { fired: true, .. }),
            end: result.end,
            summary: metric_summary(spec, &result),
        };
        observe(&self.scope, &mut self.alerts, finding, &mut self.run).await?;
        self.run.metrics.push((spec.id.clone(), result));
        Ok(())
    }

    /// A metric rule over the window ending at `end`, against the served version's holdout
    /// metric; `None` while it is pending.
    fn metric_window(
        &self,
        rule: &mlsys_compiler::plan::MetricRule,
        spec: &MetricRule,
        predictions: &Predictions,
        labels: &LabelIndex,
        maturity: Maturity,
        end: i64,
    ) -> Option<MetricResult> {
        let label = |key: &str| label_number(labels.label(key));
        let holdout = |version: i64| {
            self.versions
                .iter()
                .find(|candidate| i64::from(candidate.version) == version)
                .and_then(|candidate| candidate.lineage.metrics.get(rule.metric.name()).copied())
        };
        metric_window(spec, predictions, &label, &holdout, maturity, end, self.scope.at)
    }
}

/// The monitoring baseline of each version that has one (registered before baselines: none).
pub(crate) fn baselines(versions: &[mlsys_registry::ModelVersion]) -> HashMap<i64, Baseline> {
    versions
        .iter()
        .filter_map(|version| {
            let baseline = serde_json::from_value(version.lineage.baseline.clone()?).ok()?;
            Some((i64::from(version.version), baseline))
        })
        .collect()
}

/// The model's input names as the prediction log records them (`group@vN.feature`).
fn input_names(plan: &Plan, model: &mlsys_compiler::plan::Model) -> Vec<String> {
    model
        .features
        .iter()
        .map(|feature| feature_path(plan, *feature))
        .collect()
}

pub(crate) fn drift_rule(plan: &Plan, index: usize, rule: &mlsys_compiler::plan::DriftRule) -> DriftRule {
    let inputs = rule
        .features
        .iter()
        .map(|feature| feature_path(plan, *feature))
        .collect();
    DriftRule {
        id: format!("drift#{index}"),
        text: format!(
            "drift psi > {} every {}",
            rule.threshold,
            mlsys_compiler::syntax::literal::format_duration(rule.every_micros)
        ),
        comparison: mlsys_compiler::plan::Comparison::Greater,
        threshold: rule.threshold,
        inputs,
        every_micros: rule.every_micros,
    }
}

pub(crate) fn metric_rule(index: usize, rule: &mlsys_compiler::plan::MetricRule) -> MetricRule {
    let threshold = if rule.relative_to_baseline {
        format!("{} * baseline", rule.threshold)
    } else {
        rule.threshold.to_string()
    };
    MetricRule {
        id: format!("metric#{index}"),
        text: format!(
            "metric {} over {} {} {threshold}",
            rule.metric.name(),
            mlsys_compiler::syntax::literal::format_duration(rule.window_micros),
            rule.comparison.symbol()
        ),
        metric: rule.metric,
        window_micros: rule.window_micros,
        comparison: rule.comparison,
        threshold: rule.threshold,
        relative_to_baseline: rule.relative_to_baseline,
    }
}

/// A label as the trainers read it: `false`/`true` 0/1, numbers as they are; null is none.
pub(crate) fn label_number(value: &Value) -> Option<f64> {
    match value {
        Value::Bool(flag) => Some(f64::from(u8::from(*flag))),
        Value::Int(integer) => Some(*integer as f64),
        Value::Float(float) => Some(*float),
        _ => None,
    }
}

/// Reports a rule's evaluated period to the alert state; prints what it sends and the actions.
/// A rule with `retrain` is observed even without `alert` (with no channel: recorded, sent nowhere),
/// so that the model is retrained when the rule starts holding and again at each repeat while it
/// keeps holding (labels matured since may move the ranges further; unmoved ranges register
/// nothing), at most once per run; a failed retraining is reported in the run and tried again at
/// the next repeat.
async fn observe(
    scope: &Scope<'_>,
    alerts: &mut AlertStore,
    finding: Finding<'_>,
    run: &mut MonitorRun,
) -> anyhow::Result<()> {
    let Finding {
        rule,
        actions,
        holds,
        end,
        summary,
    } = finding;
    let summary = summary.as_str();
    let monitor = scope.monitor;
    let alert = actions.contains(&Action::Alert);
    let retrain = actions.contains(&Action::Retrain);
    if !alert && !retrain {
        return Ok(());
    }
    let details = serde_json::json!({"summary": summary});
    let observation = Observation {
        monitor: &monitor.name,
        rule,
        holds,
        at: end,
        summary,
        details: &details,
        channels: if alert { monitor.channels.as_slice() } else { &[] },
    };
    let Observed::Event(event) = alerts.observe(&observation)? else {
        return Ok(());
    };
    if alert {
        run.alerts.push(event.to_string());
    }
    if retrain && !run.retrained && matches!(event.kind, EventKind::Fired | EventKind::Repeated) {
        run.retrained = true;
        let model = &scope.plan.models[scope.plan.serves[monitor.target].model.model].name;
        let trigger = serde_json::json!({
            "monitor": monitor.name,
            "rule": rule,
            "summary": summary,
            "at": mlsys_serve::wire::format_timestamp(scope.at),
        });
        let places = scope.places;
        let outcome =
            crate::retrain::retrain(scope.plan, &places.store, &places.training, model, scope.at, trigger).await;
        run.actions.push(match outcome {
            Ok(outcome) => format!("{rule}: retrain: {}", outcome.line()),
            Err(error) => format!("{rule}: retrain failed (tried again at the rule's next repeat): {error:#}"),
        });
    }
    Ok(())
}

fn drift_summary(rule: &DriftRule, result: &DriftResult) -> String {
    let period = format_period(result.start, result.end);
    match &result.outcome {
        DriftOutcome::Evaluated { psi, version, .. } => {
            let mut worst: Vec<&(String, f64)> = psi.iter().collect();
            worst.sort_by(|a, b| b.1.total_cmp(&a.1));
            let named: Vec<String> = worst
                .iter()
                .filter(|(_, value)| *value > rule.threshold)
                .map(|(name, value)| format!("{name} {value:.3}"))
                .collect();
            if named.is_empty() {
                format!(
                    "{period}: no input over psi {} (v{version}, {} rows)",
                    rule.threshold, result.rows
                )
            } else {
                format!(
                    "{period}: psi over {} on {} (v{version}, {} rows)",
                    rule.threshold,
                    named.join(", "),
                    result.rows
                )
            }
        }
        DriftOutcome::InsufficientData => format!(
            "{period}: insufficient data ({} rows, at least {} needed)",
            result.rows,
            mlsys_monitor::evaluate::MIN_DRIFT_ROWS
        ),
        DriftOutcome::NoBaseline { version } => {
            format!("{period}: v{version} has no baseline (registered before baselines)")
        }
        DriftOutcome::NoData => format!("{period}: no scored rows"),
    }
}

fn metric_summary(rule: &MetricRule, result: &MetricResult) -> String {
    let day = format_day(result.end - rule.window_micros);
    let window = format!("{} .. {}", day, format_day(result.end - 1));
    match &result.outcome {
        MetricOutcome::Evaluated {
            value,
            threshold,
            version,
            ..
        } => format!(
            "{window}: {} {value:.4} (threshold {threshold:.4}, v{version}, {} labelled{})",
            rule.metric.name(),
            result.labelled,
            match result.sample < 1.0 {
                true => format!(", a {:.2}% sample by label key", result.sample * 100.0),
                false => String::new(),
            }
        ),
        MetricOutcome::InsufficientLabels => format!(
            "{window}: insufficient labels ({} labelled, at least {} and both classes needed)",
            result.labelled,
            mlsys_monitor::evaluate::MIN_METRIC_ROWS
        ),
        MetricOutcome::NoBaseline { version } => format!("{window}: v{version} has no holdout {}", rule.metric.name()),
        MetricOutcome::NoData => format!("{window}: no scored rows"),
    }
}

fn format_day(micros: i64) -> String {
    mlsys_compiler::syntax::literal::format_date(mlsys_kernels::time::date_of(micros))
}

fn format_period(start: i64, end: i64) -> String {
    format!("{} .. {}", format_day(start), format_day(end - 1))
}

/// Attempts every alert delivery that is due; the summary line.
async fn deliver(alerts: &Path) -> anyhow::Result<String> {
    let mut store = AlertStore::open(alerts)?;
    let deliverer = Deliverer::from_env(DeliveryPolicy::default())?;
    let report = store.deliver_due(&deliverer, crate::train::now_micros()).await?;
    // One line per distinct failure (a channel without its configuration fails every delivery alike).
    let mut failures: Vec<(String, usize)> = Vec::new();
    for error in report
        .attempts
        .iter()
        .filter_map(|attempt| attempt.outcome.as_ref().err())
    {
        let error = error.to_string();
        match failures.iter_mut().find(|(seen, _)| *seen == error) {
            Some((_, count)) => *count += 1,
            None => failures.push((error, 1)),
        }
    }
    let mut line = format!(
        "alerts: {} delivered, {} failed (retried later), {} pending",
        report.delivered(),
        report.failed(),
        report.pending
    );
    for (failure, count) in failures {
        line.push_str(&format!("\n  {count} failed: {failure}"));
    }
    Ok(line)
}

fn print_run(plan: &Plan, run: &MonitorRun) {
    println!("monitor {} on {}", run.monitor, run.target);
    if let Some(reason) = &run.skipped {
        println!("  not evaluated: {reason}");
        return;
    }
    if run.drift.is_empty() && run.metrics.is_empty() {
        println!("  nothing new is due (results already stored are not evaluated again)");
    }
    for (rule, result) in &run.drift {
        let mark = if matches!(result.outcome, DriftOutcome::Evaluated { fired: true, .. }) {
            "DRIFT"
        } else {
            "ok"
        };
        println!("  {rule} {mark:5} {}", drift_line(result));
    }
    for (rule, result) in &run.metrics {
        let mark = if matches!(result.outcome, MetricOutcome::Evaluated { fired: true, .. }) {
            "LOW"
        } else {
            "ok"
        };
        println!("  {rule} {mark:5} {}", metric_line(plan, &run.monitor, rule, result));
    }
    let stored = run.labels_until.map_or("no label stored yet".to_string(), |time| {
        format!("labels stored up to {}", format_day(time))
    });
    let delay = mlsys_compiler::syntax::literal::format_duration(run.label_delay_micros);
    for (rule, pending) in run.pending.iter().filter(|(_, pending)| *pending > 0) {
        println!(
            "  {rule} {pending} window(s) pending: labels not final yet ({stored}; a row's label is final {delay} after it, once `build` has ingested labels that recent)"
        );
    }
    for alert in run.alerts.iter().chain(&run.actions) {
        println!("  {alert}");
    }
}

/// A metric window's result as its alert states it (the rule found by its id).
fn metric_line(plan: &Plan, monitor: &str, id: &str, result: &MetricResult) -> String {
    let rule = plan
        .monitors
        .values()
        .find(|candidate| candidate.name == monitor)
        .and_then(|monitor| {
            let mut rules = monitor.metrics.iter().enumerate();
            rules.find_map(|(index, rule)| Some(metric_rule(index, rule)).filter(|spec| spec.id == id))
        });
    match rule {
        Some(rule) => metric_summary(&rule, result),
        None => format!("{id}: {}", serde_json::to_string(&result.outcome).unwrap_or_default()),
    }
}

fn drift_line(result: &DriftResult) -> String {
    let period = format_period(result.start, result.end);
    match &result.outcome {
        DriftOutcome::Evaluated { psi, score_psi, .. } => {
            let worst = psi.iter().max_by(|a, b| a.1.total_cmp(&b.1));
            match worst {
                Some((name, value)) => format!(
                    "{period} {} rows, worst psi {value:.4} ({name}), score psi {}",
                    result.rows,
                    score_psi.map_or("n/a".to_string(), |value| format!("{value:.4}"))
                ),
                None => format!("{period} {} rows, no input compared", result.rows),
            }
        }
        other => format!(
            "{period} {} rows, {}",
            result.rows,
            serde_json::to_string(other).unwrap_or_default()
        ),
    }
}
