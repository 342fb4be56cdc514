//! `mlsysc shadow-report`: the shadow version against the served one, from a realtime target's
//! prediction log (statistics in `mlsys_deploy::shadow_report`).

use std::path::PathBuf;
use std::process::ExitCode;

use mlsys_batch::store::OfflineStore;
use mlsys_batch::training::label_index::LabelIndex;
use mlsys_compiler::plan::ServeMode;
use mlsys_compiler::types::BaseType;
use mlsys_deploy::shadow_report::{Pair, report};
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
    let columns = [
        ("time", BaseType::Timestamp),
        ("score", BaseType::Float64),
        ("shadow_score", BaseType::Float64),
        ("fallback", BaseType::String),
        ("example_time", BaseType::Timestamp),
        ("label_key", BaseType::String),
    ];
    let (mut pairs, mut not_compared) = (Vec::new(), 0usize);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let labels = runtime.block_on(LabelIndex::load(&plan, &store, model))?;
    let final_before = labels
        .watermark
        .unwrap_or(i64::MIN)
        .min(crate::train::now_micros())
        .saturating_sub(model.label_delay.unwrap_or(0));
    runtime.block_on(tables::each_row(&table, &columns, None, &mut |row| {
        match row {
            [Value::Timestamp(time), ..] if *time < since => {}
            [
                _,
                Value::Float(primary),
                Value::Float(shadow),
                Value::Null,
                Value::Timestamp(example),
                key,
            ] => {
                let label = match key {
                    Value::String(key) if *example <= final_before => crate::monitor::label_number(labels.label(key)),
                    _ => None,
                };
                pairs.push(Pair {
                    primary: *primary,
                    shadow: *shadow,
                    label,
                })
            }
            _ => not_compared += 1,
        }
        Ok(())
    }))?;
    let Some(report) = report(&arguments.target, model.train.metric, &pairs, not_compared) else {
        println!(
            "{}: no request has both scores yet ({not_compared} logged without a shadow score)",
            arguments.target
        );
        return Ok(ExitCode::from(1));
    };
    if arguments.format == "json" {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "target {}: {} requests compared, {} not",
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
            None => println!(
                "labels: none final yet for the compared requests (label_delay, and the labels `build` ingested)"
            ),
        }
    }
    Ok(ExitCode::SUCCESS)
}
