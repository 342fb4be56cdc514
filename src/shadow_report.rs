//! `mlsysc shadow-report`: the shadow version against the served one, from a realtime target's
//! prediction log (statistics in `mlsys_deploy::shadow_report`).

use std::path::PathBuf;
use std::process::ExitCode;

use mlsys_batch::store::OfflineStore;
use mlsys_batch::training::label_index::LabelIndex;
use mlsys_compiler::plan::{Plan, ServeMode};
use mlsys_compiler::types::BaseType;
use mlsys_deploy::shadow_report::{Pair, ShadowReport, report};
use mlsys_kernels::Value;

use crate::serve::load_plan;
use crate::{project, tables};

#[derive(clap::Args)]
pub struct ShadowReportArgs {
    /// The realtime serve target.
    target: String,
    /// Project directory.
    #[arg(default_value = ".")]
    path: PathBuf,
    /// Only requests scored at or after this time (RFC 3339, or a date for its midnight UTC).
    #[arg(long, value_name = "TIME")]
    since: Option<String>,
    /// `text`, or `json` for CI.
    #[arg(long, default_value = "text")]
    format: String,
    /// The offline store (default: `.mlsys/offline` in the project).
    #[arg(long, value_name = "DIR")]
    offline: Option<PathBuf>,
}

/// A time given on the command line: RFC 3339, or a date for its midnight UTC.
pub fn parse_time(text: &str) -> Result<i64, mlsys_serve::wire::TextError> {
    mlsys_serve::wire::parse_timestamp(text)
        .or_else(|_| mlsys_serve::wire::parse_date(text).map(|days| i64::from(days) * 86_400_000_000))
}

/// The time of an `--at`-like flag: the time given, or now.
pub fn time_or_now(flag: &str, text: Option<&str>) -> anyhow::Result<i64> {
    match text {
        None => Ok(crate::train::now_micros()),
        Some(text) => parse_time(text).map_err(|problem| anyhow::anyhow!("{flag} {text}: {problem}")),
    }
}

pub fn shadow_report(arguments: ShadowReportArgs) -> anyhow::Result<ExitCode> {
    let Some(plan) = load_plan(&arguments.path, "reporting")? else {
        return Ok(ExitCode::from(1));
    };
    let Some(serve) = plan
        .serves
        .values()
        .find(|serve| serve.name == arguments.target && serve.mode == ServeMode::Realtime)
    else {
        anyhow::bail!("no realtime serve target `{}` in the project", arguments.target);
    };
    let model = &plan.models[serve.model.model];
    let since = match &arguments.since {
        None => i64::MIN,
        Some(text) => parse_time(text).map_err(|problem| anyhow::anyhow!("--since {text}: {problem}"))?,
    };
    let directory = project::directory(&arguments.path);
    let store = OfflineStore::new(
        arguments
            .offline
            .clone()
            .unwrap_or_else(|| directory.join(".mlsys").join("offline")),
    );
    let table = store.predictions(&arguments.target);
    if !table.exists() {
        anyhow::bail!(
            "no prediction log at {}: run `mlsysc deploy` first",
            table.path.display()
        );
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let log = runtime.block_on(read_shadow_log(&plan, &store, serve, since))?;
    let Some(report) = log
        .versions
        .and_then(|_| report(&arguments.target, model.train.metric, &log.pairs, log.not_compared))
    else {
        println!(
            "{}: no request has both scores yet ({} logged without a shadow score)",
            arguments.target, log.not_compared
        );
        return Ok(ExitCode::from(1));
    };
    match arguments.format.as_str() {
        "json" => print_json(&report, &log)?,
        _ => print_text(&report, &log),
    }
    Ok(ExitCode::SUCCESS)
}

/// The logged requests of a realtime target that its newest shadow version scored too.
pub(crate) struct ShadowLog {
    pub pairs: Vec<Pair>,
    /// Requests without a shadow score, or answered by the fallback.
    pub not_compared: usize,
    /// Requests an earlier shadow version scored (left out).
    pub earlier_shadows: usize,
    /// The version that served most compared requests, and the shadow version: `None` when no
    /// request was scored by both.
    pub versions: Option<(u32, u32)>,
}

/// One logged request: its served version and score, its shadow's, its final label.
struct Logged {
    version: Option<i64>,
    primary: f64,
    shadow: Option<(i64, f64)>,
    label: Option<f64>,
}

/// Reads `serve`'s prediction log from `since` on: the pairs of scores of its newest shadow
/// version, labels joined where final (`label_delay`, and the labels the store holds).
pub(crate) async fn read_shadow_log(
    plan: &Plan,
    store: &OfflineStore,
    serve: &mlsys_compiler::plan::Serve,
    since: i64,
) -> anyhow::Result<ShadowLog> {
    let model = &plan.models[serve.model.model];
    let columns = [
        ("time", BaseType::Timestamp),
        ("version", BaseType::Int64),
        ("score", BaseType::Float64),
        ("shadow_version", BaseType::Int64),
        ("shadow_score", BaseType::Float64),
        ("fallback", BaseType::String),
        ("example_time", BaseType::Timestamp),
        ("label_key", BaseType::String),
    ];
    let labels = LabelIndex::load(plan, store, model).await?;
    let final_before = labels
        .watermark
        .unwrap_or(i64::MIN)
        .min(crate::train::now_micros())
        .saturating_sub(model.label_delay.unwrap_or(0));
    let mut logged = Vec::new();
    let table = store.predictions(&serve.name);
    tables::each_row(&table, &columns, None, &mut |row| {
        let [
            Value::Timestamp(time),
            version,
            Value::Float(primary),
            shadow_version,
            shadow,
            fallback,
            example,
            key,
        ] = row
        else {
            return Ok(());
        };
        if *time < since {
            return Ok(());
        }
        let shadow = match (shadow_version, shadow, fallback) {
            (Value::Int(version), Value::Float(score), Value::Null) => Some((*version, *score)),
            _ => None,
        };
        let label = match (key, example) {
            (Value::String(key), Value::Timestamp(example)) if *example <= final_before => {
                crate::monitor::label_number(labels.label(key))
            }
            _ => None,
        };
        let version = match version {
            Value::Int(version) => Some(*version),
            _ => None,
        };
        logged.push(Logged {
            version,
            primary: *primary,
            shadow,
            label,
        });
        Ok(())
    })
    .await?;
    Ok(newest_shadow(&logged))
}

/// The pairs of the newest shadow version among `logged`.
fn newest_shadow(logged: &[Logged]) -> ShadowLog {
    let newest = logged
        .iter()
        .filter_map(|row| row.shadow.map(|(version, _)| version))
        .max();
    let mut log = ShadowLog {
        pairs: Vec::new(),
        not_compared: 0,
        earlier_shadows: 0,
        versions: None,
    };
    let mut served: std::collections::BTreeMap<i64, usize> = std::collections::BTreeMap::new();
    for row in logged {
        match row.shadow {
            Some((version, shadow)) if Some(version) == newest => {
                log.pairs.push(Pair {
                    primary: row.primary,
                    shadow,
                    label: row.label,
                });
                *served.entry(row.version.unwrap_or_default()).or_default() += 1;
            }
            Some(_) => log.earlier_shadows += 1,
            None => log.not_compared += 1,
        }
    }
    let production = served
        .iter()
        .max_by_key(|(version, count)| (**count, **version))
        .map(|(version, _)| *version);
    log.versions = production
        .zip(newest)
        .and_then(|(production, shadow)| Some((u32::try_from(production).ok()?, u32::try_from(shadow).ok()?)));
    log
}

/// The report for scripts: the statistics, with the versions compared.
fn print_json(report: &ShadowReport, log: &ShadowLog) -> anyhow::Result<()> {
    let (production, shadow) = log.versions.unwrap_or_default();
    let mut json = serde_json::to_value(report)?;
    json["production_version"] = production.into();
    json["shadow_version"] = shadow.into();
    json["earlier_shadows"] = log.earlier_shadows.into();
    println!("{}", serde_json::to_string_pretty(&json)?);
    Ok(())
}

/// The report for people.
fn print_text(report: &ShadowReport, log: &ShadowLog) {
    let (production, shadow) = log.versions.unwrap_or_default();
    let earlier = match log.earlier_shadows {
        0 => String::new(),
        earlier => format!("; {earlier} scored by earlier shadow versions left out"),
    };
    println!(
        "target {}: shadow v{shadow} against v{production} on {} requests ({} not compared{earlier})",
        report.target, report.compared, report.not_compared
    );
    println!(
        "score difference: mean {:.6}, p99 {:.6}, max {:.6}",
        report.mean_abs_difference, report.p99_abs_difference, report.max_abs_difference
    );
    println!(
        "decisions agree at {}: {:.2}%",
        report.threshold,
        report.agreement * 100.0
    );
    println!(
        "PSI of the shadow's scores against the served scores: {:.4}",
        report.psi
    );
    match &report.labels {
        Some(labels) => println!(
            "{} on the {} compared requests whose labels are final: served {:.4}, shadow {:.4}",
            labels.metric, labels.labelled, labels.primary, labels.shadow
        ),
        None => {
            println!("labels: none final yet for the compared requests (label_delay, and the labels `build` ingested)")
        }
    }
}
