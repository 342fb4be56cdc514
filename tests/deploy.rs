//! `mlsysc deploy` end to end on the fraud example: scores from the registry's version through
//! the feature path, the Open Inference Protocol with the real `tritonclient`, bad input, hot swap
//! under concurrent load, fallbacks for real faults (a corrupted artifact, a stopped and a paused
//! `redis-server`), and `verify` agreeing on scores bit for bit; `mlsysc replay` of past days.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::redis_server::RedisServer;
use crate::support::{Server, floats, fraud_project, micros, read_delta, strings, wait_until};
use crate::train::{mlsysc, text};

/// A payment of a user the example data has, at a time inside its history.
const ROW: &str = r#"{"txn_id": "t1", "user_id": "user_00727", "merchant": "m_1", "amount": 120.5,
    "country": "US", "channel": "web", "event_time": "2026-07-01T09:00:00Z"}"#;

fn score_body(rows: usize) -> String {
    format!("{{\"rows\": [{}]}}", vec![ROW; rows].join(","))
}

fn build(project: &Path, extra: &[&str]) {
    let mut arguments = vec!["build", "."];
    arguments.extend_from_slice(extra);
    let output = mlsysc(project, &arguments);
    assert!(output.status.success(), "{}", text(&output));
}

pub fn stage(project: &Path, arguments: &[&str]) {
    let output = mlsysc(project, arguments);
    assert!(output.status.success(), "{arguments:?}: {}", text(&output));
}

/// The version that answered a /v1/score request (`None`: the fallback).
pub fn served_version(server: &Server) -> Option<u64> {
    let (status, body) = server.json("POST", "/v1/score/fraud_api", &score_body(1));
    assert_eq!(status, 200, "{body}");
    body["results"][0]["version"].as_u64()
}

#[test]
fn deploy_serves_registry_versions_over_both_protocols_and_swaps_them_under_load() {
    let project = fraud_project("deploy");
    build(&project, &[]);
    // A second version on the same features: another tree count. Without the 20 ms deadline: a
    // loaded test machine must not turn slow answers into timeouts while swaps are counted.
    let spec = project.join("model.mlsys");
    let text_of_spec = std::fs::read_to_string(&spec).expect("spec");
    let edited = text_of_spec
        .replace("trees = 200", "trees = 120")
        .replace("timeout = 20ms", "");
    assert_ne!(
        edited,
        text_of_spec.replace("trees = 200", "trees = 120"),
        "the spec had a timeout"
    );
    std::fs::write(&spec, edited).expect("spec");
    build(&project, &[]);
    for version in ["1", "2"] {
        stage(&project, &["approve", "fraud_detector", version, ".", "--by", "alice"]);
    }
    let root = project.display().to_string();
    let mut server = Server::spawn(&["deploy", &root, "--port", "0", "--registry-poll", "20"]);

    // Nothing in production: the fallback answers, and says why.
    let (status, body) = server.json("POST", "/v1/score/fraud_api", &score_body(2));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["results"][0]["fallback"], "no_model", "{body}");
    assert_eq!(body["results"][0]["score"], 0.05, "{body}");
    assert_eq!(
        server.json("GET", "/ready", "").0,
        200,
        "a target with a fallback is ready"
    );

    stage(&project, &["promote", "fraud_detector", "1", ".", "--to", "production"]);
    wait_until("v1 to be served", 30, || served_version(&server) == Some(1));

    bad_input_is_refused_with_json_naming_the_problem(&server);
    tritonclient_gets_the_scores_of_v1_score(&server);
    let scored_rows = hot_swap_under_load(&project, &server);
    // SIGTERM drains: every answered row, with its shadow score, is in the prediction log.
    assert!(server.terminate().success());
    let output = mlsysc(&project, &["shadow-report", "fraud_api", ".", "--format", "json"]);
    assert!(output.status.success(), "{}", text(&output));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("a JSON report");
    let compared = report["compared"].as_u64().unwrap_or_default();
    let logged = compared + report["not_compared"].as_u64().unwrap_or_default();
    assert!(compared > 0, "{report}");
    // Requests after the data ends: no chargeback can be final for them.
    assert!(report["labels"].is_null(), "{report}");
    assert!(
        logged >= scored_rows as u64,
        "{logged} rows logged, {scored_rows} scored: {report}"
    );

    let output = mlsysc(&project, &["verify", ".", "--sample", "200"]);
    let report = text(&output);
    assert!(output.status.success(), "{report}");
    assert!(report.contains("0 mismatches"), "{report}");

    // A corrupted artifact: the version cannot load, the fallback answers `no_model` and
    // /ready names the cause.
    let registry = mlsys_registry::Registry::open(&project.join(".mlsys/registry.db")).expect("registry");
    let production = registry
        .resolve("fraud_detector", &mlsys_registry::StageRef::Production)
        .expect("resolve")
        .expect("a production version");
    std::fs::write(&production.lineage.artifact.path, b"not a model").expect("corrupted");
    let server = Server::spawn(&["deploy", &root, "--port", "0"]);
    let (_, body) = server.json("POST", "/v1/score/fraud_api", &score_body(1));
    assert_eq!(body["results"][0]["fallback"], "no_model", "{body}");
    let (status, ready) = server.json("GET", "/ready", "");
    assert_eq!(status, 200);
    let problem = ready["targets"]["fraud_api"]["problem"].as_str().unwrap_or_default();
    assert!(problem.contains("artifact"), "{ready}");
    std::fs::remove_dir_all(&project).ok();
}

fn bad_input_is_refused_with_json_naming_the_problem(server: &Server) {
    let (status, answer) = server.request_with(
        "POST",
        "/v1/score/fraud_api",
        &score_body(1),
        "X-Request-Id: trace-7\r\n",
    );
    assert_eq!(status, 200, "{answer}");
    assert!(answer.to_lowercase().contains("x-request-id: trace-7"), "{answer}");
    assert!(answer.contains(r#""request_id":"trace-7""#), "{answer}");
    let (status, body) = server.json("POST", "/v1/score/nope", &score_body(1));
    assert_eq!(status, 404, "{body}");
    assert!(
        body["error"].as_str().unwrap_or_default().contains("fraud_api"),
        "{body}"
    );
    let (status, body) = server.json(
        "POST",
        "/v1/score/fraud_api",
        r#"{"rows": [{"user_id": "user_00727"}]}"#,
    );
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].as_str().unwrap_or_default().contains("amount"), "{body}");
    let (status, body) = server.json(
        "POST",
        "/v1/score/fraud_api",
        r#"{"rows": [{"user_id": "user_00727", "amount": "lots", "country": "US", "channel": "web"}]}"#,
    );
    assert_eq!(status, 400, "{body}");
    let infer = r#"{"inputs": [{"name": "amount", "shape": [2], "datatype": "BYTES", "data": ["a", "b"]}]}"#;
    let (status, body) = server.json("POST", "/v2/models/fraud_api/infer", infer);
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].as_str().unwrap_or_default().contains("amount"), "{body}");
    let (status, body) = server.json("GET", "/v2/models/fraud_api", "");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["outputs"][0]["name"], "score", "{body}");
}

/// The real `tritonclient.http` (binary and JSON tensors) and `/v1/score` give the same bits.
fn tritonclient_gets_the_scores_of_v1_score(server: &Server) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("runtime/deploy/tests/oip_client.py");
    let rows = r#"[{"user_id": "user_00727", "amount": 120.5, "country": "US", "channel": "web", "event_time": "2026-07-01T09:00:00Z"},
                   {"user_id": "user_00100", "amount": 9000.0, "country": "FR", "channel": "app", "event_time": "2026-07-02T23:59:59Z"}]"#;
    let output = Command::new("python3")
        .arg(&script)
        .args([&format!("http://{}", server.address), "fraud_api", rows])
        .output()
        .expect("python3 runs (scripts/test installs tritonclient[http])");
    assert!(output.status.success(), "{}", text(&output));
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("\"agree\": true"),
        "{}",
        text(&output)
    );
}

/// 20 promote/rollback cycles while clients score continuously: no request fails, every answer
/// is v1 or v2, and each change is served within the watch's bound. Returns the rows scored.
fn hot_swap_under_load(project: &Path, server: &Server) -> usize {
    let stop = Arc::new(AtomicBool::new(false));
    let address = server.address.clone();
    let clients: Vec<_> = (0..3)
        .map(|_| {
            let (stop, address) = (stop.clone(), address.clone());
            std::thread::spawn(move || {
                let mut seen = Vec::new();
                let client = Server::attach(address);
                while !stop.load(Ordering::Relaxed) {
                    let (status, body) = client.json("POST", "/v1/score/fraud_api", &score_body(4));
                    assert_eq!(status, 200, "{body}");
                    for result in body["results"].as_array().into_iter().flatten() {
                        assert!(result["fallback"].is_null(), "{body}");
                        seen.push(result["version"].as_u64());
                    }
                }
                seen
            })
        })
        .collect();
    for _ in 0..20 {
        stage(project, &["promote", "fraud_detector", "2", ".", "--to", "production"]);
        wait_until("v2 to be served", 30, || served_version(server) == Some(2));
        stage(project, &["rollback", "fraud_detector", "."]);
        wait_until("v1 to be served again", 30, || served_version(server) == Some(1));
    }
    stop.store(true, Ordering::Relaxed);
    let mut scored = 0;
    for client in clients {
        let seen = client.join().expect("a client thread");
        assert!(!seen.is_empty());
        assert!(seen.iter().all(|version| matches!(version, Some(1 | 2))), "{seen:?}");
        scored += seen.len();
    }
    scored
}

#[test]
fn a_paused_store_times_out_and_a_stopped_store_is_unavailable_and_both_fall_back() {
    let mut redis = RedisServer::start();
    let project = fraud_project("deploy-redis");
    let url = redis.url();
    build(&project, &["--online", &url]);
    stage(&project, &["approve", "fraud_detector", "1", ".", "--by", "alice"]);
    stage(&project, &["promote", "fraud_detector", "1", ".", "--to", "production"]);
    let root = project.display().to_string();
    let server = Server::spawn(&["deploy", &root, "--port", "0", "--online", &url]);
    wait_until("v1 to be served", 30, || served_version(&server) == Some(1));

    // Paused (SIGSTOP): the store read hangs past the target's 20 ms timeout.
    let pid = redis.pid().to_string();
    assert!(
        Command::new("kill")
            .args(["-STOP", &pid])
            .status()
            .expect("kill")
            .success()
    );
    let (status, body) = server.json("POST", "/v1/score/fraud_api", &score_body(1));
    assert!(
        Command::new("kill")
            .args(["-CONT", &pid])
            .status()
            .expect("kill")
            .success()
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["results"][0]["fallback"], "timeout", "{body}");
    assert!(body["results"][0]["version"].is_null(), "{body}");

    // Stopped: the store cannot be reached.
    redis.kill();
    wait_until("the store to be reported unavailable", 30, || {
        let (_, body) = server.json("POST", "/v1/score/fraud_api", &score_body(1));
        body["results"][0]["fallback"] == "store_unavailable"
    });
    let (_, metrics) = server.request("GET", "/metrics", "");
    assert!(
        metrics.contains(r#"mlsys_fallbacks_total{target="fraud_api",reason="timeout"}"#),
        "{metrics}"
    );
    assert!(metrics.contains("mlsys_model_version{"), "{metrics}");
    assert!(
        metrics.contains(r#"mlsys_prediction_log_rows_total{target="fraud_api"}"#),
        "{metrics}"
    );
    assert!(metrics.trim_end().ends_with("# EOF"), "{metrics}");
    std::fs::remove_dir_all(&project).ok();
}

#[test]
fn deploy_runs_a_batch_target_on_its_schedule_and_answers_its_latest_stored_scores() {
    let project = crate::support::forecast_project("deploy-batch");
    build(&project, &[]);
    let root = project.display().to_string();
    let server = Server::spawn(&["deploy", &root, "--port", "0"]);
    // The run the weekly schedule had due when deploy started (a catch-up) is made and recorded.
    let state = project.join(".mlsys/schedules/demand_weekly.json");
    wait_until("the due run to be recorded", 120, || state.is_file());

    // Scores written while deploy runs are answered at once (the table's new version is read).
    let (status, body) = server.json("GET", "/v1/predictions/demand_weekly?site_id=site_000", "");
    assert_eq!(status, 404, "nothing scored for the site yet: {body}");
    stage(
        &project,
        &[
            "score",
            "demand_weekly",
            ".",
            "--from",
            "2026-08-06",
            "--to",
            "2026-08-12",
        ],
    );
    let (status, body) = server.json("GET", "/v1/predictions/demand_weekly?site_id=site_000", "");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["date"], "2026-08-12", "the latest example's score: {body}");
    assert_eq!(body["model"], "demand_forecast", "{body}");
    assert!(body["score"].as_f64().is_some_and(f64::is_finite), "{body}");
    let (status, body) = server.json("GET", "/v1/predictions/demand_weekly?nope=1", "");
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].as_str().unwrap_or_default().contains("site_id"), "{body}");
    let (status, _) = server.json("GET", "/v1/predictions/nope?site_id=site_000", "");
    assert_eq!(status, 404);
    std::fs::remove_dir_all(&project).ok();
}

/// `mlsysc replay` of two June days against `deploy`, the online store kept exact from June on
/// (`build --online-from`): every row is logged once under its replay id, with the score a direct
/// `/v1/score` of the row gets and the batch engine's point-in-time score of the same example.
/// The served inputs and the scores show the drift the example data has in June.
#[test]
fn replay_scores_past_days_point_in_time_and_logs_each_row_once() {
    let project = fraud_project("replay");
    build(&project, &["--online-from", "2026-06-10"]);
    // The store's timelines from June 10 on agree with the offline change points.
    let output = mlsysc(&project, &["verify", ".", "--sample", "100"]);
    assert!(
        output.status.success() && text(&output).contains("0 mismatches"),
        "{}",
        text(&output)
    );
    stage(&project, &["approve", "fraud_detector", "1", ".", "--by", "alice"]);
    stage(&project, &["promote", "fraud_detector", "1", ".", "--to", "production"]);
    let root = project.display().to_string();
    let mut server = Server::spawn(&["deploy", &root, "--port", "0"]);
    wait_until("v1 to be served", 30, || served_version(&server) == Some(1));
    let url = format!("http://{}", server.address);
    let days = ["--from", "2026-06-10", "--to", "2026-06-11"];
    let mut arguments = vec!["replay", "fraud_api", ".", "--rate", "2000", "--concurrency", "4"];
    arguments.extend_from_slice(&days);
    arguments.extend_from_slice(&["--url", &url, "--format", "json"]);
    let output = mlsysc(&project, &arguments);
    assert!(output.status.success(), "{}", text(&output));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("a JSON report");
    let rows = report["rows_sent"].as_u64().unwrap_or_default();
    assert!(rows > 1_000, "{report}");
    assert_eq!(report["rows_answered"], rows, "{report}");
    assert_eq!(report["rows_failed"], 0, "{report}");
    assert_eq!(report["fallbacks"], serde_json::json!({}), "{report}");
    let seconds = report["seconds"].as_f64().unwrap_or_default();
    assert!(seconds >= (rows - 1) as f64 / 2000.0, "paced at 2000 rows/s: {report}");

    stage(
        &project,
        &[
            "score",
            "fraud_nightly",
            ".",
            "--from",
            "2026-05-01",
            "--to",
            "2026-06-30",
        ],
    );
    let examples = batch_scores(&project, "2026-06-10", "2026-06-11");
    assert_eq!(examples.len() as u64, rows);
    for (_, row, score) in examples.iter().step_by(97) {
        let (status, body) = server.json("POST", "/v1/score/fraud_api", &format!("{{\"rows\": [{row}]}}"));
        assert_eq!(status, 200, "{body}");
        let direct = body["results"][0]["score"].as_f64().expect("a score");
        assert_eq!(direct.to_bits(), score.to_bits(), "{row}: {body}");
    }
    assert!(server.terminate().success());

    let log = read_delta(&project.join(".mlsys/offline/predictions/fraud_api"));
    let mut logged: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let ids = strings(&log, "request_id").into_iter().map(Option::unwrap_or_default);
    for (id, score) in ids.zip(floats(&log, "score")) {
        if id.starts_with("replay-") {
            logged.entry(id).or_default().push(score);
        }
    }
    assert_eq!(logged.len(), examples.len(), "one record per replayed row");
    for (id, _, score) in &examples {
        let scores = logged.get(id).unwrap_or_else(|| panic!("{id} is not in the log"));
        assert_eq!(scores.len(), 1, "{id} logged {} times", scores.len());
        assert_eq!(
            scores[0].to_bits(),
            score.to_bits(),
            "{id}: served and batch scores differ"
        );
    }
    june_drift_is_there(&project, &log);
    replay_failures_and_bad_input(&project);
    std::fs::remove_dir_all(&project).ok();
}

/// The batch engine's scores of the examples of `from ..= to` in the order replay sends them
/// (time order within each day): (the replay's request id, the row as `/v1/score` takes it, its
/// score).
fn batch_scores(project: &Path, from: &str, to: &str) -> Vec<(String, String, f64)> {
    let table = read_delta(&project.join("data/scores/fraud"));
    let mut rows: Vec<(String, i64, String, f64)> = Vec::new();
    let column = |name: &str| strings(&table, name);
    let (txn, user, merchant, country, channel, day) = (
        column("txn_id"),
        column("user_id"),
        column("merchant"),
        column("country"),
        column("channel"),
        column("dt"),
    );
    let (amount, time, score) = (
        floats(&table, "amount"),
        micros(&table, "event_time"),
        floats(&table, "score"),
    );
    for index in 0..score.len() {
        let day = day[index].clone().unwrap_or_default();
        if day.as_str() < from || day.as_str() > to {
            continue;
        }
        let row = serde_json::json!({
            "txn_id": txn[index], "user_id": user[index], "merchant": merchant[index],
            "amount": amount[index], "country": country[index], "channel": channel[index],
            "event_time": mlsys_serve::wire::format_timestamp(time[index]),
        });
        rows.push((day, time[index], row.to_string(), score[index]));
    }
    rows.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
    let mut index_in_day = 0;
    let mut out: Vec<(String, String, f64)> = Vec::with_capacity(rows.len());
    for (position, (day, _, row, score)) in rows.iter().enumerate() {
        index_in_day = if position > 0 && rows[position - 1].0 == *day {
            index_in_day + 1
        } else {
            0
        };
        out.push((
            format!("replay-transactions-{day}-{index_in_day:06}"),
            row.clone(),
            *score,
        ));
    }
    out
}

/// June's drift, as the fraud monitor sees it: the served `amount_log` against training has a
/// PSI above 0.2, and the trained version's AUC on June is below 0.85 times its May holdout AUC.
fn june_drift_is_there(project: &Path, log: &[datafusion::arrow::array::RecordBatch]) {
    let input = "txn_signals@v2.amount_log";
    let served: Vec<f64> = strings(log, "features")
        .into_iter()
        .zip(strings(log, "request_id"))
        .filter(|(_, id)| id.as_deref().is_some_and(|id| id.starts_with("replay-")))
        .map(|(features, _)| {
            let features: serde_json::Value = serde_json::from_str(&features.unwrap_or_default()).expect("JSON");
            features[input].as_f64().unwrap_or(f64::NAN)
        })
        .collect();
    let trained = crate::drift::snapshot_values(project, "fraud_detector", input);
    let shift = crate::drift::psi_against_training(&trained, &served);
    assert!(shift > 0.2, "PSI of {input} on June 10-11: {shift}");
    let auc = crate::drift::fraud_auc_by_month(project);
    let holdout = crate::drift::holdout_metric(project, "fraud_detector");
    assert!(
        (auc["2026-05"] - holdout).abs() < 0.01,
        "May is the holdout: {auc:?} vs {holdout}"
    );
    assert!(auc["2026-06"] < 0.85 * holdout, "June AUC {auc:?}, holdout {holdout}");
}

/// Requests that fail are counted by status and exit 1; bad input is refused before sending.
fn replay_failures_and_bad_input(project: &Path) {
    let root = project.display().to_string();
    // The feature server has no /v1/score: every request is a 404.
    let server = Server::spawn(&["serve-features", &root, "--port", "0"]);
    let url = format!("http://{}", server.address);
    let one_day = ["--from", "2026-06-10", "--to", "2026-06-10"];
    let mut arguments = vec![
        "replay",
        "fraud_api",
        ".",
        "--rows-per-request",
        "100",
        "--format",
        "json",
    ];
    arguments.extend_from_slice(&one_day);
    arguments.extend_from_slice(&["--url", &url]);
    let output = mlsysc(project, &arguments);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("a JSON report");
    assert_eq!(report["rows_answered"], 0, "{report}");
    assert_eq!(report["rows_failed"], report["rows_sent"], "{report}");
    let message = report["failed"]["404"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("/v1/score/fraud_api"), "{report}");
    drop(server);

    let refused = |arguments: &[&str], expected: &str| {
        let output = mlsysc(project, arguments);
        assert_eq!(output.status.code(), Some(2), "{arguments:?}: {}", text(&output));
        assert!(text(&output).contains(expected), "{arguments:?}: {}", text(&output));
    };
    let with_days = |first: &[&'static str], days: [&'static str; 4]| -> Vec<&'static str> {
        let mut all = first.to_vec();
        all.extend_from_slice(&days);
        all
    };
    let june = ["--from", "2026-06-10", "--to", "2026-06-10"];
    refused(
        &with_days(&["replay", "nope", "."], june),
        "realtime targets: fraud_api",
    );
    refused(
        &with_days(&["replay", "fraud_nightly", "."], june),
        "mlsysc score fraud_nightly",
    );
    refused(
        &with_days(
            &["replay", "fraud_api", "."],
            ["--from", "2026-06-11", "--to", "2026-06-10"],
        ),
        "after --to",
    );
    refused(
        &with_days(
            &["replay", "fraud_api", "."],
            ["--from", "2027-01-01", "--to", "2027-01-02"],
        ),
        "mlsysc build",
    );
    refused(
        &with_days(&["replay", "fraud_api", ".", "--url", "http://127.0.0.1:1"], june),
        "cannot reach the deploy server at http://127.0.0.1:1",
    );
}
