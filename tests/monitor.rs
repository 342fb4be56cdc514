//! `mlsysc monitor` on the fraud example: drift per day against the served version's baseline,
//! metric windows pending until their labels are final, results stored so that a re-run neither
//! recomputes nor re-alerts.

use std::path::Path;
use std::sync::Arc;

use mlsys_batch::prediction_log::{Features, LogOptions, PredictionLog, PredictionRecord, label_key};
use mlsys_batch::store::OfflineStore;
use mlsys_compiler::syntax::literal::{MICROS_PER_DAY, days_from_civil};
use mlsys_kernels::Value;
use mlsys_monitor::{Baseline, Bins, Distribution};

use crate::train::{mlsysc, text, versions};

/// A value in bin `bin` of `bins`.
fn value_in(bins: &Bins, bin: usize) -> f64 {
    match bins {
        Bins::Numeric { edges } if bin < edges.len() => edges[bin],
        Bins::Numeric { edges } if bin == edges.len() => edges.last().map_or(0.0, |edge| edge + 1.0),
        Bins::Categorical { categories } if bin < categories.len() => categories[bin],
        Bins::Categorical { .. } if bin == bins.len() - 2 => 7.0,
        _ => f64::NAN,
    }
}

/// `rows` values spread over the bins as `distribution` spreads its own.
fn like(distribution: &Distribution, rows: usize) -> Vec<f64> {
    let shares = distribution.shares();
    (0..rows)
        .map(|row| {
            let target = (row as f64 + 0.5) / rows as f64;
            let mut cumulative = 0.0;
            let bin = shares
                .iter()
                .position(|share| {
                    cumulative += share;
                    cumulative > target
                })
                .unwrap_or(shares.len() - 2);
            value_in(&distribution.bins, bin)
        })
        .collect()
}

/// A day of logged rows (also the retrain tests'): like the baseline, or (`drifted`) every input in its top bin.
pub fn day_of_rows(
    baseline: &Baseline,
    names: &Arc<[String]>,
    day: i64,
    drifted: bool,
    rows: usize,
) -> Vec<PredictionRecord> {
    let columns: Vec<Vec<f64>> = baseline
        .inputs
        .iter()
        .map(|input| match drifted {
            false => like(&input.distribution, rows),
            true => vec![value_in(&input.distribution.bins, input.distribution.bins.len() - 2); rows],
        })
        .collect();
    (0..rows)
        .map(|row| {
            let time = day * MICROS_PER_DAY + row as i64 * 1_000_000;
            PredictionRecord {
                request_id: format!("r-{day}-{row}"),
                time,
                example_time: time,
                label_key: Some(label_key(&[Value::String(format!("t-{day}-{row}").into())])),
                model: "fraud_detector".into(),
                version: Some(1),
                features: Features::new(names.clone(), columns.iter().map(|column| column[row]).collect())
                    .expect("features"),
                score: (row % 10) as f64 / 10.0,
                shadow_version: None,
                shadow_score: None,
                fallback: None,
                latency_seconds: 0.001,
            }
        })
        .collect()
}

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
}
