//! `mlsysc monitor` on the fraud example: drift per day against the served version's baseline,
//! metric windows pending until their labels are final, results stored so that a re-run neither
//! recomputes nor re-alerts.

use std::path::Path;
use std::sync::Arc;

use mlsys_batch::prediction_log::{LogOptions, PredictionLog, PredictionRecord};
use mlsys_batch::store::OfflineStore;
use mlsys_compiler::syntax::literal::days_from_civil;
use mlsys_monitor::Baseline;

pub use crate::logged_rows::day_of_rows;
use crate::train::{mlsysc, text, versions};

pub fn write_log(project: &Path, records: Vec<PredictionRecord>) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let store = OfflineStore::new(project.join(".mlsys/offline"));
        let log = PredictionLog::start(&store, "fraud_api", LogOptions::default())
            .await
            .expect("log");
        for record in records {
            assert!(log.append(record));
        }
        log.close().await.expect("written");
    });
}

#[test]
fn monitor_finds_drift_keeps_metrics_pending_and_does_not_repeat_itself() {
    let project = crate::support::fraud_project("monitor");
    let build = mlsysc(&project, &["build"]);
    assert_eq!(build.status.code(), Some(0), "{}", text(&build));
    let version = &versions(&project, "fraud_detector")[0];
    let baseline: Baseline =
        serde_json::from_value(version.lineage.baseline.clone().expect("baseline")).expect("baseline");
    let names: Arc<[String]> = version
        .lineage
        .features
        .iter()
        .map(|input| input.column.clone())
        .collect();
    let day = i64::from(days_from_civil(2026, 6, 10));
    let mut records = day_of_rows(&baseline, &names, day, false, 600);
    records.extend(day_of_rows(&baseline, &names, day + 1, false, 40));
    records.extend(day_of_rows(&baseline, &names, day + 2, true, 600));
    write_log(&project, records);

    let first = mlsysc(
        &project,
        &["monitor", "--once", "--at", "2026-06-13", "--format", "json"],
    );
    assert_eq!(first.status.code(), Some(0), "{}", text(&first));
    let run: serde_json::Value = serde_json::from_slice(&first.stdout).expect("json");
    let fraud = &run["monitors"][0];
    let drift = fraud["drift"].as_array().expect("drift");
    let outcomes: Vec<(&str, bool)> = drift
        .iter()
        .map(|entry| {
            let outcome = &entry[1]["outcome"];
            (
                outcome["kind"].as_str().unwrap_or(""),
                outcome["fired"].as_bool().unwrap_or(false),
            )
        })
        .collect();
    assert_eq!(
        outcomes,
        [("evaluated", false), ("insufficient_data", false), ("evaluated", true)],
        "{fraud}"
    );
    let calm = drift[0][1]["outcome"]["psi"].as_array().expect("psi");
    assert_eq!(calm.len(), baseline.inputs.len());
    for entry in calm {
        assert!(entry[1].as_f64().expect("psi") < 0.05, "{entry}");
    }
    let alerts = fraud["alerts"].as_array().expect("alerts");
    assert_eq!(alerts.len(), 1, "fired once: {alerts:?}");
    assert!(alerts[0].as_str().unwrap_or("").contains("fired"), "{alerts:?}");

    // The report shows the drifting day and what drifted, baseline against current.
    let page = project.join("fraud_health.html");
    let report = mlsysc(
        &project,
        &["report", "fraud_health", "--out", page.to_str().expect("utf-8")],
    );
    assert_eq!(report.status.code(), Some(0), "{}", text(&report));
    let html = std::fs::read_to_string(&page).expect("the report");
    assert!(html.contains("DRIFTING"), "no drift headline");
    assert!(html.contains("user_activity@v1.avg_amount_30d"), "no input named");
    assert!(!html.contains("<script"), "a script in the report");

    // Nothing is evaluated or sent twice.
    let again = mlsysc(&project, &["monitor", "--once", "--at", "2026-06-13"]);
    let output = text(&again);
    assert_eq!(again.status.code(), Some(0), "{output}");
    assert!(output.contains("nothing new is due"), "{output}");

    // Chargebacks come within 45 days: a week's window is not final weeks later, so none is
    // computed (no payment counts as a negative early); every window is pending.
    let later = mlsysc(
        &project,
        &["monitor", "--once", "--at", "2026-06-30", "--format", "json"],
    );
    let run: serde_json::Value = serde_json::from_slice(&later.stdout).expect("json");
    let fraud = &run["monitors"][0];
    let computed: Vec<&str> = fraud["metrics"]
        .as_array()
        .expect("metrics")
        .iter()
        .filter_map(|entry| entry[1]["outcome"]["kind"].as_str())
        .filter(|kind| *kind != "no_data")
        .collect();
    assert!(computed.is_empty(), "{fraud}");
    assert!(fraud["pending"][0][1].as_u64().expect("pending") > 0, "{fraud}");
    // The report shows those windows as waiting for their chargebacks.
    let report = mlsysc(
        &project,
        &["report", "fraud_health", "--out", page.to_str().expect("utf-8")],
    );
    assert_eq!(report.status.code(), Some(0), "{}", text(&report));
    let html = std::fs::read_to_string(&page).expect("the report");
    assert!(html.contains("pending (labels not matured)"), "no pending window");

    // `deploy` evaluates the monitors itself and shows each rule's latest result as gauges.
    let root = project.display().to_string();
    let server = crate::support::Server::spawn(&["deploy", &root, "--port", "0"]);
    let holds = r#"mlsys_monitor_rule_holds{monitor="fraud_health",name="drift#0"} 1"#;
    crate::support::wait_until("the monitors' gauges", 120, || {
        server.request("GET", "/metrics", "").1.contains(holds)
    });
    let metrics = server.request("GET", "/metrics", "").1;
    assert!(
        metrics.contains(r#"mlsys_monitor_psi{monitor="fraud_health",name="user_activity@v1.avg_amount_30d"}"#),
        "{metrics}"
    );
}

/// A batch target's monitor reads its scores: MAPE over 28 days, its labels the examples' own
/// `demand`, rises past 1.2 × the holdout MAPE once September's regime change fills the window.
#[test]
fn a_batch_targets_monitor_finds_the_september_regime_change_in_its_scores() {
    let project = crate::support::forecast_project("monitor-batch");
    for step in [
        vec!["build"],
        vec!["score", "demand_weekly", "--from", "2026-08-01", "--to", "2026-09-30"],
    ] {
        let output = mlsysc(&project, &step);
        assert_eq!(output.status.code(), Some(0), "{step:?}: {}", text(&output));
    }
    let run = mlsysc(&project, &["monitor", "--at", "2026-10-01", "--format", "json"]);
    assert_eq!(run.status.code(), Some(0), "{}", text(&run));
    let run: serde_json::Value = serde_json::from_slice(&run.stdout).expect("json");
    let demand = &run["monitors"][0];
    let windows: Vec<(String, bool)> = demand["metrics"]
        .as_array()
        .expect("metrics")
        .iter()
        .filter(|entry| entry[1]["outcome"]["kind"] == "evaluated")
        .map(|entry| {
            let end = entry[1]["end"].as_i64().unwrap_or_default();
            let day = mlsys_compiler::syntax::literal::format_date(mlsys_kernels::time::date_of(end));
            (day, entry[1]["outcome"]["fired"].as_bool().unwrap_or(false))
        })
        .collect();
    let fired_on = |day: &str| windows.iter().find(|(end, _)| end == day).map(|(_, fired)| *fired);
    // August as trained; the 28 days before October 1st are September's new regime.
    assert_eq!(fired_on("2026-08-29"), Some(false), "{windows:?}");
    assert_eq!(fired_on("2026-10-01"), Some(true), "{windows:?}");
    let drift = demand["drift"].as_array().expect("drift");
    assert!(
        drift.iter().any(|entry| entry[1]["outcome"]["kind"] == "evaluated"),
        "{demand}"
    );
    metric_windows_past_the_scan_limit_are_sampled(&project, demand);
}

/// Evaluated again from nothing with a scan limit below the windows' rows: each window is computed
/// on a sample by label key, says so, and lands near the value over every row.
fn metric_windows_past_the_scan_limit_are_sampled(project: &Path, full: &serde_json::Value) {
    let values = |run: &serde_json::Value| -> Vec<(i64, f64, f64)> {
        let metrics = run["metrics"].as_array().expect("metrics");
        metrics
            .iter()
            .filter(|entry| entry[1]["outcome"]["kind"] == "evaluated")
            .map(|entry| {
                let result = &entry[1];
                let value = result["outcome"]["value"].as_f64().unwrap_or(f64::NAN);
                (
                    result["end"].as_i64().unwrap_or_default(),
                    value,
                    result["sample"].as_f64().unwrap_or(0.0),
                )
            })
            .collect()
    };
    std::fs::remove_dir_all(project.join(".mlsys/monitors")).expect("the monitors' state");
    let arguments = [
        "monitor",
        "--at",
        "2026-10-01",
        "--format",
        "json",
        "--metric-rows",
        "400",
    ];
    let run = mlsysc(project, &arguments);
    assert_eq!(run.status.code(), Some(0), "{}", text(&run));
    let sampled: serde_json::Value = serde_json::from_slice(&run.stdout).expect("json");
    let (all, some) = (values(full), values(&sampled["monitors"][0]));
    assert_eq!(all.len(), some.len(), "{sampled}");
    for ((end, value, rate), (sampled_end, estimate, sample)) in all.iter().zip(&some) {
        assert_eq!((end, *rate), (sampled_end, 1.0));
        assert!(*sample < 1.0 && *sample > 0.0, "{sample}");
        assert!(
            (estimate - value).abs() < 0.25 * value,
            "{end}: {estimate} against {value}"
        );
    }
}

/// A re-run reads only the rows of the periods it evaluates, and a period whose rows were logged
/// partly before and partly after the previous run counts them all: the new periods' results are
/// those of a fresh state evaluated once over the whole log.
#[test]
fn a_rerun_reads_only_the_new_periods_and_finds_what_a_fresh_run_finds() {
    let project = crate::support::fraud_project("monitor-incremental");
    let build = mlsysc(&project, &["build"]);
    assert_eq!(build.status.code(), Some(0), "{}", text(&build));
    let version = &versions(&project, "fraud_detector")[0];
    let baseline: Baseline =
        serde_json::from_value(version.lineage.baseline.clone().expect("baseline")).expect("baseline");
    let names: Arc<[String]> = version
        .lineage
        .features
        .iter()
        .map(|input| input.column.clone())
        .collect();
    let day = i64::from(days_from_civil(2026, 6, 10));
    let mut straddling = day_of_rows(&baseline, &names, day + 3, false, 600);
    let later_half = straddling.split_off(300);
    let mut records: Vec<PredictionRecord> = (0..3)
        .flat_map(|offset| day_of_rows(&baseline, &names, day + offset, false, 600))
        .collect();
    records.extend(straddling);
    write_log(&project, records);
    let run = |at: &str| {
        let output = mlsysc(&project, &["monitor", "--once", "--at", at, "--format", "json"]);
        assert_eq!(output.status.code(), Some(0), "{}", text(&output));
        let run: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
        run["monitors"][0].clone()
    };
    let first = run("2026-06-13");
    assert_eq!(first["drift"].as_array().expect("drift").len(), 3, "{first}");
    assert_eq!(first["rows_read"], 1800, "the three days due, not the fourth: {first}");

    // Late rows of an evaluated day, the rest of the straddling day, two more days (one drifting).
    let mut records = day_of_rows(&baseline, &names, day, true, 50);
    records.extend(later_half);
    records.extend(day_of_rows(&baseline, &names, day + 4, false, 600));
    records.extend(day_of_rows(&baseline, &names, day + 5, true, 600));
    write_log(&project, records);
    let again = run("2026-06-16");
    assert_eq!(again["rows_read"], 1800, "only the three new days: {again}");
    let periods = |monitor: &serde_json::Value| monitor["drift"].as_array().expect("drift").clone();
    let incremental = periods(&again);
    assert_eq!(incremental.len(), 3, "{again}");
    assert_eq!(
        incremental[0][1]["rows"], 600,
        "both halves of the straddling day: {again}"
    );
    assert_eq!(incremental[2][1]["outcome"]["fired"], true, "{again}");

    std::fs::remove_dir_all(project.join(".mlsys/monitors")).expect("the stored results removed");
    let fresh = run("2026-06-16");
    let fresh = periods(&fresh);
    assert_eq!(fresh.len(), 6, "{fresh:?}");
    assert_eq!(fresh[3..], incremental[..]);
}
