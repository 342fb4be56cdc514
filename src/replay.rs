//! `mlsysc replay`: sends the processed rows of some UTC days to a running `mlsysc deploy` as a
//! realtime target's traffic, each row scored at its own time (`mlsys_deploy::replay`), and
//! prints what was answered.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{anyhow, bail};
use mlsys_batch::features::output::date_text;
use mlsys_batch::store::OfflineStore;
use mlsys_compiler::plan::DateRange;
use mlsys_compiler::syntax::literal::parse_date;
use mlsys_deploy::replay::{Endpoint, ReplayOptions, ReplayReport, ReplayTarget, replay as run_replay};

use crate::project;
use crate::serve::load_plan;

#[derive(clap::Args)]
pub struct ReplayArgs {
    /// The realtime serve target (`serve NAME { mode = realtime ... }`).
    target: String,
    /// Project directory.
    #[arg(default_value = ".")]
    path: PathBuf,
    /// The first UTC day whose rows are sent, YYYY-MM-DD.
    #[arg(long, value_name = "DATE")]
    from: String,
    /// The last UTC day whose rows are sent, YYYY-MM-DD (included).
    #[arg(long, value_name = "DATE")]
    to: String,
    /// Rows per second overall (default: as fast as the server answers).
    #[arg(long, value_name = "N", value_parser = positive_rate)]
    rate: Option<f64>,
    /// Requests in flight, each on its own keep-alive connection.
    #[arg(long, value_name = "C", default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=4096))]
    concurrency: u32,
    /// Rows per request (a request never spans two days).
    #[arg(long, value_name = "K", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    rows_per_request: u32,
    /// The deploy server.
    #[arg(long, value_name = "URL", default_value = "http://127.0.0.1:8080")]
    url: String,
    /// `text`, or `json` for scripts.
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    format: String,
    /// The offline store (default: `.mlsys/offline` in the project).
    #[arg(long, value_name = "DIR")]
    offline: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
#[error("`{0}` is not a positive number of rows per second")]
struct RateError(String);

fn positive_rate(text: &str) -> Result<f64, RateError> {
    match text.parse::<f64>() {
        Ok(rate) if rate.is_finite() && rate > 0.0 => Ok(rate),
        _ => Err(RateError(text.to_string())),
    }
}

pub fn replay(arguments: ReplayArgs) -> anyhow::Result<ExitCode> {
    let Some(plan) = load_plan(&arguments.path, "replaying")? else {
        return Ok(ExitCode::from(1));
    };
    let date = |flag: &str, text: &str| parse_date(text).map_err(|message| anyhow!("--{flag} {text}: {message}"));
    let days = DateRange {
        start: date("from", &arguments.from)?,
        end: date("to", &arguments.to)?,
    };
    if days.end < days.start {
        bail!("--from {} is after --to {}", date_text(days.start), date_text(days.end));
    }
    let target = ReplayTarget::new(&plan, &arguments.target)?;
    let directory = project::directory(&arguments.path);
    let store = OfflineStore::new(
        arguments
            .offline
            .clone()
            .unwrap_or_else(|| directory.join(".mlsys").join("offline")),
    );
    let options = ReplayOptions {
        rate: arguments.rate,
        concurrency: arguments.concurrency as usize,
        rows_per_request: arguments.rows_per_request as usize,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let report = runtime.block_on(async {
        let endpoint = Endpoint::resolve(&arguments.url).await?;
        let progress = |report: &ReplayReport| eprintln!("{}", progress_line(report));
        run_replay(&target, &store, days, &endpoint, &options, &progress).await
    })?;
    if arguments.format == "json" {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", summary_text(&report));
    }
    Ok(if report.rows_failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn progress_line(report: &ReplayReport) -> String {
    format!(
        "replay {}: {} rows sent, {} answered, {} failed",
        report.target, report.rows_sent, report.rows_answered, report.rows_failed
    )
}

/// The summary: rows sent, answered, fallbacks by reason, failures by status, latency, rate.
fn summary_text(report: &ReplayReport) -> String {
    let milliseconds = |value: Option<f64>| value.map_or_else(|| "-".to_string(), |ms| format!("{ms:.1} ms"));
    let mut text = format!(
        "replayed {} .. {} to {}: {} rows in {} requests, {} answered, {} failed\n",
        report.from,
        report.to,
        report.target,
        report.rows_sent,
        report.requests,
        report.rows_answered,
        report.rows_failed
    );
    for (reason, rows) in &report.fallbacks {
        text.push_str(&format!("  fallback {reason}: {rows} rows\n"));
    }
    for (status, failures) in &report.failed {
        text.push_str(&format!(
            "  failed {status}: {} requests ({} rows): {}\n",
            failures.requests, failures.rows, failures.message
        ));
    }
    text.push_str(&format!(
        "  latency p50 {}, p99 {}; {:.1} rows/s over {:.1} s\n",
        milliseconds(report.p50_ms),
        milliseconds(report.p99_ms),
        report.rows_per_second,
        report.seconds
    ));
    text
}
