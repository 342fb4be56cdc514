//! The closed loop on the fraud example, end to end, with a real `redis-server` as the online store
//! (so `build` can ingest late labels while `deploy` serves) and a real HTTP receiver as the Slack
//! channel: build → deploy → replay June and July → `monitor` alerts on PSI and on AUC and retrains
//! → the chargebacks of June and July arrive → `monitor` retrains on the drifted months → the
//! candidate beats production on recent data → approve → promote → the running `deploy` swaps.

use mlsys_compiler::syntax::literal::days_from_civil;
use mlsys_example_data::fraud::FraudConfig;
use mlsys_registry::Stage;

use crate::deploy::{served_version, stage};
use crate::receiver::Receiver;
use crate::redis_server::RedisServer;
use crate::support::{Server, fraud_project_with, wait_until, write_fraud_data};
use crate::train::{mlsysc, mlsysc_with, text, versions};

/// Payments through July (June and July drifted), their chargebacks as of July 31.
fn through_july() -> FraudConfig {
    FraudConfig {
        days: 212,
        ..FraudConfig::default()
    }
}

/// Rows the running deploy has committed to the target's prediction log.
fn logged_rows(server: &Server) -> u64 {
    let (_, metrics) = server.request("GET", "/metrics", "");
    metrics
        .lines()
        .filter(|line| line.starts_with("mlsys_prediction_log_rows_total{") && line.contains("fraud_api"))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

/// The version the running deploy loaded for `role` (`primary`, `shadow`).
fn loaded_version(server: &Server, role: &str) -> Option<u64> {
    let (_, metrics) = server.request("GET", "/metrics", "");
    let role = format!("role=\"{role}\"");
    metrics
        .lines()
        .find(|line| line.starts_with("mlsys_model_version{") && line.contains(&role))
        .and_then(|line| line.rsplit(' ').next()?.parse().ok())
}

/// `mlsysc replay` of the days `from ..= to` to the running deploy, waiting until its rows are in
/// the log: how many rows were answered.
fn replay(project: &std::path::Path, server: &Server, (from, to): (&str, &str)) -> u64 {
    let before = logged_rows(server);
    let url = format!("http://{}", server.address);
    let arguments = ["replay", "fraud_api", ".", "--from", from, "--to", to];
    let mut arguments = arguments.to_vec();
    arguments.extend_from_slice(&["--concurrency", "8", "--url", &url, "--format", "json"]);
    let output = mlsysc(project, &arguments);
    assert!(output.status.success(), "{}", text(&output));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    let rows = report["rows_answered"].as_u64().expect("rows");
    wait_until("the replayed rows in the log", 60, || {
        logged_rows(server) >= before + rows
    });
    rows
}

/// The candidate is shadowed before anyone promotes it: replayed July traffic is scored by both,
/// and `shadow-report` and the monitor's report compare them on the same requests.
fn shadow_on_replayed_traffic(project: &std::path::Path, server: &Server) {
    wait_until("v3 as the shadow", 30, || loaded_version(server, "shadow") == Some(3));
    let rows = replay(project, server, ("2026-07-20", "2026-07-20"));
    let output = mlsysc(project, &["shadow-report", "fraud_api", ".", "--format", "json"]);
    assert!(output.status.success(), "{}", text(&output));
    let shadow: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(
        (shadow["production_version"].as_u64(), shadow["shadow_version"].as_u64()),
        (Some(1), Some(3))
    );
    assert!(
        shadow["compared"].as_u64().is_some_and(|compared| compared + 50 > rows),
        "{shadow}"
    );
    let labels = &shadow["labels"];
    let (served, candidate) = (labels["primary"].as_f64(), labels["shadow"].as_f64());
    assert!(
        candidate > served,
        "the candidate's AUC on the same July payments: {labels}"
    );

    let page = project.join("fraud_health.html");
    let report = ["report", "fraud_health", ".", "--out", page.to_str().expect("UTF-8")];
    let output = mlsysc(project, &report);
    assert!(output.status.success(), "{}", text(&output));
    let html = std::fs::read_to_string(&page).expect("the report");
    assert!(html.contains("Shadow v3 against production v1"), "no shadow section");
}

/// `mlsysc monitor --at AT --format json` with the Slack channel configured: the fraud monitor's run.
fn monitor(project: &std::path::Path, at: &str, slack: &str) -> serde_json::Value {
    let arguments = ["monitor", ".", "--at", at, "--format", "json"];
    let output = mlsysc_with(project, &arguments, &[("MLSYS_SLACK_WEBHOOK_URL", slack)]);
    assert!(output.status.success(), "{}", text(&output));
    let run: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    run["monitors"][0].clone()
}

/// The outcomes of the periods (`drift`) or windows (`metrics`) that were evaluated.
fn evaluated<'a>(run: &'a serde_json::Value, kind: &str) -> Vec<&'a serde_json::Value> {
    run[kind]
        .as_array()
        .expect("results")
        .iter()
        .map(|entry| &entry[1]["outcome"])
        .filter(|outcome| outcome["kind"] == "evaluated")
        .collect()
}

fn actions(run: &serde_json::Value) -> Vec<String> {
    let list = run["actions"].as_array().expect("actions");
    list.iter()
        .filter_map(|action| Some(action.as_str()?.to_string()))
        .collect()
}

#[test]
fn drift_and_late_labels_retrain_a_candidate_that_the_running_deploy_swaps_to() {
    let redis = RedisServer::start();
    let online = redis.url();
    let project = fraud_project_with("closed-loop", &through_july());
    let build = ["build", ".", "--online", &online, "--online-from", "2026-06-01"];
    stage(&project, &build);
    stage(&project, &["approve", "fraud_detector", "1", ".", "--by", "alice"]);
    stage(&project, &["promote", "fraud_detector", "1", ".", "--to", "production"]);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let receiver = runtime.block_on(Receiver::start());
    let slack = receiver.url("/slack");

    // `mlsysc monitor` evaluates here (a scheduled job), not the deploy: each period by one process.
    let root = project.display().to_string();
    let deploy = ["deploy", &root, "--port", "0", "--online", &online, "--no-monitors"];
    let server = Server::spawn(&deploy);
    wait_until("v1 to be served", 30, || served_version(&server) == Some(1));
    let rows = replay(&project, &server, ("2026-06-01", "2026-07-31"));
    assert!(rows > 30_000, "{rows} rows");
    drift_and_the_first_weeks_auc_alert_and_retrain(&project, &slack);

    // The chargebacks of June and July arrive; `build` ingests them while `deploy` serves.
    let arrived = FraudConfig {
        labels_until: Some(days_from_civil(2026, 9, 15)),
        ..through_july()
    };
    write_fraud_data(&project, &arrived);
    let rebuilt = mlsysc(&project, &build);
    // New label partitions change the spec's training set's inputs, not its rows: no new version.
    let output = text(&rebuilt);
    assert!(
        rebuilt.status.success() && output.contains("unchanged: retrained to the same model"),
        "{output}"
    );
    assert_eq!(versions(&project, "fraud_detector").len(), 2);
    the_matured_labels_retrain_a_better_candidate(&project, &slack);

    shadow_on_replayed_traffic(&project, &server);
    stage(&project, &["approve", "fraud_detector", "3", ".", "--by", "alice"]);
    stage(&project, &["promote", "fraud_detector", "3", ".", "--to", "production"]);
    wait_until("the running deploy to swap to v3", 30, || {
        served_version(&server) == Some(3)
    });

    // The alerts reached the Slack receiver, each with its idempotency key.
    let received = receiver.received();
    let bodies: Vec<String> = received.iter().map(|request| request.body.to_string()).collect();
    for rule in ["drift#0", "metric#0"] {
        assert!(bodies.iter().any(|body| body.contains(rule)), "{rule}: {bodies:?}");
    }
    assert!(received.iter().all(|request| request.idempotency_key.is_some()));
    drop(server);
    std::fs::remove_dir_all(&project).ok();
}

/// August 1st: every day of June and July drifts; the AUC of the weeks whose chargebacks are all
/// in (the first half of June) is far below 0.85 × v1's holdout AUC: alerts, and a retrain.
fn drift_and_the_first_weeks_auc_alert_and_retrain(project: &std::path::Path, slack: &str) {
    let first = monitor(project, "2026-08-01", slack);
    let drift = evaluated(&first, "drift");
    assert_eq!(drift.len(), 61, "{first}");
    assert!(drift.iter().all(|outcome| outcome["fired"] == true), "{first}");
    let auc = evaluated(&first, "metrics");
    assert!(
        !auc.is_empty() && auc.iter().all(|outcome| outcome["fired"] == true),
        "{first}"
    );
    assert!(
        first["pending"][0][1].as_u64().is_some_and(|pending| pending > 0),
        "{first}"
    );
    let alerts = first["alerts"].to_string();
    for rule in ["fraud_health/drift#0", "fraud_health/metric#0"] {
        assert!(alerts.contains(&format!("alert fired {rule}")), "{rule}: {alerts}");
    }
    let retrained = actions(&first);
    assert!(
        retrained[0].starts_with("metric#0: retrain: fraud_detector: v2 registered"),
        "{retrained:?}"
    );
}

/// September 15th: July's windows are final too; the rule's repeat retrains on ranges moved past
/// June. v3 learned June's fraud: on the moved holdout it beats production, which is what
/// `promote_if` asks; `approval = required` keeps it a candidate until someone approves.
fn the_matured_labels_retrain_a_better_candidate(project: &std::path::Path, slack: &str) {
    let second = monitor(project, "2026-09-15", slack);
    let auc = evaluated(&second, "metrics");
    assert!(auc.len() > 30, "July's windows are final: {second}");
    let retrained = actions(&second);
    assert!(
        retrained[0].starts_with("metric#0: retrain: fraud_detector: v3 registered"),
        "{retrained:?}"
    );
    assert!(retrained[0].contains("needs approval"), "{retrained:?}");
    let all = versions(project, "fraud_detector");
    let v3 = &all[2];
    assert_eq!(v3.stage, Stage::Candidate);
    let trigger = v3.lineage.trigger.as_ref().expect("a trigger");
    assert_eq!(trigger["rule"], "metric#0", "{trigger}");
    let holdout_end = trigger["holdout"]["to"].as_str().expect("holdout");
    assert!(holdout_end.starts_with("2026-07-"), "{trigger}");
    let production = v3
        .lineage
        .production_metrics
        .as_ref()
        .expect("compared with production");
    let (new, old) = (v3.lineage.metrics["auc"], production["auc"]);
    assert!(new > old + 0.05, "v3 auc {new} against production {old}");
    assert!(v3.lineage.promotable);
}
