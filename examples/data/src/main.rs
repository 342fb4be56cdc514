//! `example-data`: writes the data sets of the example projects. See `examples/data/README.md`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use mlsys_compiler::syntax::literal::{format_date, parse_date};
use mlsys_example_data::forecast::{self, ForecastConfig};
use mlsys_example_data::fraud::{self, FraudConfig};

#[derive(Parser)]
#[command(about = "Writes realistic, deterministic data sets for the example projects")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Card payments and chargebacks for examples/fraud: data/raw/transactions (Parquet) and
    /// data/raw/chargebacks (CSV), replacing what is there.
    Fraud {
        /// The project directory; the data goes where its sources.mlsys reads it
        /// [default: examples/fraud of this repository]
        #[arg(long)]
        project: Option<PathBuf>,
        #[arg(long, default_value_t = FraudConfig::default().seed)]
        seed: u64,
        #[arg(long, default_value_t = FraudConfig::default().users)]
        users: u32,
        /// First day, YYYY-MM-DD.
        #[arg(long, default_value = "2026-01-01")]
        start: String,
        #[arg(long, default_value_t = FraudConfig::default().days)]
        days: u32,
        /// Let chargebacks arrive until this day (YYYY-MM-DD, exclusive), after the payments
        /// end: the labels of the last weeks come in later [default: the payments' end]
        #[arg(long)]
        labels_until: Option<String>,
    },
    /// Daily demand per site and regional weather for examples/forecast: data/raw/demand (Parquet) and
    /// data/raw/weather (CSV), replacing what is there.
    Forecast {
        /// The project directory; the data goes where its sources.mlsys reads it
        /// [default: examples/forecast of this repository]
        #[arg(long)]
        project: Option<PathBuf>,
        #[arg(long, default_value_t = ForecastConfig::default().seed)]
        seed: u64,
        #[arg(long, default_value_t = ForecastConfig::default().sites)]
        sites: u32,
        /// First day, YYYY-MM-DD.
        #[arg(long, default_value = "2026-01-01")]
        start: String,
        #[arg(long, default_value_t = ForecastConfig::default().days)]
        days: u32,
    },
}

/// `examples/NAME` of this repository, wherever the command is run from.
fn default_project(name: &str) -> PathBuf {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).parent();
    examples.map_or_else(|| Path::new("examples").join(name), |examples| examples.join(name))
}

/// Checks the period flags and reads `--start`.
fn period(start: &str, days: u32) -> anyhow::Result<i32> {
    if days == 0 || days > 3_660 {
        bail!("--days must be between 1 and 3660");
    }
    parse_date(start).map_err(anyhow::Error::msg).context("--start")
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Fraud {
            project,
            seed,
            users,
            start,
            days,
            labels_until,
        } => {
            if users == 0 {
                bail!("--users must be at least 1");
            }
            let start = period(&start, days)?;
            let labels_until = labels_until
                .map(|day| parse_date(&day).map_err(anyhow::Error::msg).context("--labels-until"))
                .transpose()?;
            let end = start.saturating_add(i32::try_from(days).unwrap_or(i32::MAX));
            if labels_until.is_some_and(|until| until < end) {
                bail!(
                    "--labels-until must not be before the payments' end, {}",
                    format_date(end)
                );
            }
            let config = FraudConfig {
                seed,
                users,
                start,
                days,
                labels_until,
                ..FraudConfig::default()
            };
            let began = Instant::now();
            let data = fraud::generate(&config);
            let project = project.unwrap_or_else(|| default_project("fraud"));
            let summary =
                fraud::write(&data, &project).with_context(|| format!("writing under {}", project.display()))?;
            print!("{summary}");
            println!("  done in {:.1}s", began.elapsed().as_secs_f64());
        }
        Command::Forecast {
            project,
            seed,
            sites,
            start,
            days,
        } => {
            if sites == 0 {
                bail!("--sites must be at least 1");
            }
            let start = period(&start, days)?;
            let config = ForecastConfig {
                seed,
                sites,
                start,
                days,
                ..ForecastConfig::default()
            };
            let began = Instant::now();
            let data = forecast::generate(&config);
            let project = project.unwrap_or_else(|| default_project("forecast"));
            let summary =
                forecast::write(&data, &project).with_context(|| format!("writing under {}", project.display()))?;
            print!("{summary}");
            println!("  done in {:.1}s", began.elapsed().as_secs_f64());
        }
    }
    Ok(())
}
