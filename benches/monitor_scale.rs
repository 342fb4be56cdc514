//! `mlsysc monitor --once` over 30 days of the fraud model's prediction log: wall time and peak
//! memory of a first run (every period due) and of a second (everything stored), with the
//! machine's load average before and after each.
//!
//! The project is a temporary copy of `examples/fraud` built once (`mlsysc build`: its data, its
//! model, the baseline); the log is written through the serving path's own writer
//! (`PredictionLog`), one commit per day, `ROWS_PER_DAY` rows a day spread like the training
//! baseline, every input in its top bin over the last 7 days (so drift fires and alerts are
//! observed). The monitor runs under `/usr/bin/time -v` (Debian package `time`) as of July 1st.
//!
//! `cargo bench --bench monitor_scale` (release), or `cargo bench --profile dev --bench
//! monitor_scale` against the debug build. The project is left in the temporary directory.

#[path = "../tests/logged_rows.rs"]
mod logged_rows;
#[path = "../tests/support.rs"]
#[allow(dead_code)] // the tests' other helpers
mod support;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use mlsys_batch::prediction_log::{LogOptions, PredictionLog};
use mlsys_batch::store::OfflineStore;
use mlsys_compiler::syntax::literal::days_from_civil;
use mlsys_monitor::Baseline;

/// One row a second: the most `logged_rows::day_of_rows` spreads over a day.
const ROWS_PER_DAY: usize = 86_400;
const DAYS: i64 = 30;
const DRIFTING_DAYS: i64 = 7;
const AT: &str = "2026-07-01";

fn main() {
    let project = support::fraud_project("monitor-scale");
    let started = Instant::now();
    let build = mlsysc(&project).arg("build").output().expect("mlsysc runs");
    assert!(build.status.success(), "{}", String::from_utf8_lossy(&build.stderr));
    println!("project {} built in {:.1?}", project.display(), started.elapsed());

    let started = Instant::now();
    write_log(&project);
    let rows = ROWS_PER_DAY as i64 * DAYS;
    println!("{rows} rows logged ({DAYS} days) in {:.1?}", started.elapsed());

    for run in ["first run (every period due)", "second run (everything stored)"] {
        measure(&project, run);
    }
}

fn mlsysc(project: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_mlsysc"));
    command.current_dir(project);
    command
}

/// June 2026 of traffic, the last `DRIFTING_DAYS` drifting, a commit a day.
fn write_log(project: &Path) {
    let registry = mlsys_registry::Registry::open(&project.join(".mlsys/registry.db")).expect("registry");
    let version = &registry.versions("fraud_detector").expect("versions")[0];
    let baseline: Baseline =
        serde_json::from_value(version.lineage.baseline.clone().expect("a baseline")).expect("baseline");
    let names: Arc<[String]> = version
        .lineage
        .features
        .iter()
        .map(|input| input.column.clone())
        .collect();
    let first = i64::from(days_from_civil(2026, 6, 1));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let store = OfflineStore::new(project.join(".mlsys/offline"));
        let options = LogOptions {
            max_buffered_rows: ROWS_PER_DAY,
            ..LogOptions::default()
        };
        let log = PredictionLog::start(&store, "fraud_api", options).await.expect("log");
        for day in first..first + DAYS {
            let drifted = day >= first + DAYS - DRIFTING_DAYS;
            for record in logged_rows::day_of_rows(&baseline, &names, day, drifted, ROWS_PER_DAY) {
                assert!(log.append(record), "a row dropped");
            }
            log.flush().await.expect("a day written");
        }
        log.close().await.expect("written");
    });
}

/// One `monitor --once` under `/usr/bin/time -v`: its wall time, peak RSS, rows read, results.
fn measure(project: &Path, run: &str) {
    let before = load_average();
    let output = Command::new("/usr/bin/time")
        .arg("-v")
        .arg(env!("CARGO_BIN_EXE_mlsysc"))
        .args(["monitor", "--once", "--at", AT, "--format", "json"])
        .current_dir(project)
        .output()
        .expect("/usr/bin/time runs (apt-get install time)");
    let after = load_average();
    let report = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{report}");
    let field = |name: &str| {
        report
            .lines()
            .find_map(|line| line.trim().strip_prefix(name))
            .map_or("?".to_string(), |value| value.trim().to_string())
    };
    let peak_kib: f64 = field("Maximum resident set size (kbytes):").parse().unwrap_or(f64::NAN);
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    let monitor = &json["monitors"][0];
    let count = |key: &str| monitor[key].as_array().map_or(0, Vec::len);
    let fired = monitor["drift"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|entry| entry[1]["outcome"]["fired"] == true)
        .count();
    println!(
        "{run}: wall {}, peak RSS {:.0} MiB, {} rows read, {} drift periods ({fired} drifting), {} metric windows, {} alerts; load average {before} before, {after} after",
        field("Elapsed (wall clock) time (h:mm:ss or m:ss):"),
        peak_kib / 1024.0,
        monitor["rows_read"],
        count("drift"),
        count("metrics"),
        count("alerts"),
    );
}

/// The 1, 5 and 15 minute load averages.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| text.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}
