//! `deploy`'s feature refresh on the fraud example: a new day's partitions land while `deploy`
//! serves; the next refresh ingests them, recomputes the served group's windows and materializes
//! them into the store `deploy` reads, so the served 7-day count moves, the freshness gauges
//! follow, and `verify` finds the store equal to the offline tables.

use std::collections::BTreeSet;
use std::path::Path;

use mlsys_compiler::syntax::literal::{MICROS_PER_DAY, days_from_civil};
use mlsys_example_data::fraud::{FraudConfig, day_of, generate, write};

use crate::support::{Server, fraud_project, wait_until};
use crate::train::{mlsysc, text};

const NEW_DAY: &str = "dt=2026-07-02";

/// The fraud data of one more day (2026-07-02, after the example's last) written beside
/// `project`: its partitions, and the users who pay that day.
fn next_day(project: &Path) -> (std::path::PathBuf, BTreeSet<String>) {
    // Another seed: other payment ids, none a duplicate of the project's (which would be
    // quarantined under the `unique(txn_id)` contract).
    let config = FraudConfig {
        days: 183,
        seed: 7,
        ..FraudConfig::default()
    };
    let data = generate(&config);
    let other = project.with_extension("next-day");
    write(&data, &other).expect("data");
    let new_day = days_from_civil(2026, 7, 2);
    let users: BTreeSet<String> = data
        .transactions
        .iter()
        .filter(|transaction| day_of(transaction.event_time) == new_day)
        .filter_map(|transaction| transaction.user_id.clone())
        .collect();
    assert!(!users.is_empty(), "payments on the new day");
    (other, users)
}

/// Copies the new day's partitions of both sources from `other` into `project`.
fn land_new_day(other: &Path, project: &Path) {
    for source in ["transactions", "chargebacks"] {
        let from = other.join("data/raw").join(source).join(NEW_DAY);
        let to = project.join("data/raw").join(source).join(NEW_DAY);
        std::fs::create_dir_all(&to).expect("partition");
        for file in std::fs::read_dir(&from).expect("the new day") {
            let file = file.expect("file").path();
            std::fs::copy(&file, to.join(file.file_name().expect("name"))).expect("copy");
        }
    }
}

/// The 7-day count of `user`'s payments as `deploy` serves it at the end of the new day.
fn served_count(server: &Server, user: &str) -> String {
    let body = format!(
        r#"{{"features": ["user_activity@v1:txn_count_7d"],
            "entities": {{"user_id": ["{user}"], "event_time": ["2026-07-02T23:59:59Z"]}}}}"#
    );
    let (status, answer) = server.json("POST", "/get-online-features", &body);
    assert_eq!(status, 200, "{answer}");
    answer["results"][1]["values"][0].to_string()
}

/// The newest event time `deploy` has materialized for the group, from `/metrics`.
fn watermark(server: &Server) -> Option<f64> {
    let (_, metrics) = server.request("GET", "/metrics", "");
    metrics
        .lines()
        .find(|line| line.starts_with("mlsys_feature_watermark_seconds{") && line.contains("user_activity@v1"))
        .and_then(|line| line.rsplit(' ').next()?.parse().ok())
}

#[test]
fn deploy_refreshes_the_served_windows_from_new_partitions() {
    let project = fraud_project("refresh");
    let build = mlsysc(&project, &["build", "."]);
    assert!(build.status.success(), "{}", text(&build));
    let (other, users) = next_day(&project);
    let user = users.first().expect("a user").clone();

    let root = project.display().to_string();
    let mut server = Server::spawn(&["deploy", &root, "--port", "0", "--refresh-every", "1s"]);
    let july = |day: u32| (i64::from(days_from_civil(2026, 7, day)) * MICROS_PER_DAY / 1_000_000) as f64;
    wait_until("the first refresh's gauges", 60, || watermark(&server).is_some());
    let first = watermark(&server).unwrap_or_default();
    assert!(first > july(1) && first <= july(2), "{first}");
    let before = served_count(&server, &user);

    land_new_day(&other, &project);
    wait_until("the new day materialized", 120, || {
        watermark(&server).is_some_and(|seconds| seconds > july(2))
    });
    let after = served_count(&server, &user);
    assert_ne!(before, after, "{user}'s 7-day count did not move");
    let (_, metrics) = server.request("GET", "/metrics", "");
    assert!(
        metrics.contains(r#"mlsys_feature_refreshes_total{outcome="ok"}"#),
        "{metrics}"
    );
    assert!(metrics.contains("mlsys_feature_freshness_lag_seconds{"), "{metrics}");
    // Months behind now, the group is reported stale; the server stays ready.
    let (status, ready) = server.json("GET", "/ready", "");
    assert_eq!(status, 200, "{ready}");
    assert_eq!(
        ready["stale_features"],
        serde_json::json!(["user_activity@v1"]),
        "{ready}"
    );
    assert_eq!(
        ready["features"]["user_activity@v1"]["every_seconds"], 3600.0,
        "{ready}"
    );
    // A build beside it waits for the refresh's lock and leaves the store it holds to it.
    let beside = mlsysc(&project, &["build", "."]);
    let output = text(&beside);
    assert!(beside.status.success(), "{output}");
    assert!(output.contains("not materialized by this build"), "{output}");
    a_failed_refresh_keeps_serving_and_runs_again(&project, &server, &user, &after);
    assert!(server.terminate().success());

    // What the refresh materialized is what the offline tables hold, bit for bit.
    let verify = mlsysc(&project, &["verify", ".", "--sample", "300"]);
    let output = text(&verify);
    assert!(verify.status.success() && output.contains("0 mismatches"), "{output}");
    std::fs::remove_dir_all(&project).ok();
    std::fs::remove_dir_all(&other).ok();
}

/// The refresh counts of `/metrics` for `outcome`.
fn refreshes(server: &Server, outcome: &str) -> u64 {
    let (_, metrics) = server.request("GET", "/metrics", "");
    let line = format!("mlsys_feature_refreshes_total{{outcome=\"{outcome}\"}} ");
    metrics
        .lines()
        .find_map(|text| text.strip_prefix(line.as_str())?.parse().ok())
        .unwrap_or(0)
}

/// An unreadable file lands: the runs fail and are counted, the served values stay; once the
/// file is gone, a run succeeds again.
fn a_failed_refresh_keeps_serving_and_runs_again(project: &Path, server: &Server, user: &str, served: &str) {
    let broken = project.join("data/raw/transactions/dt=2026-07-03");
    std::fs::create_dir_all(&broken).expect("partition");
    std::fs::write(broken.join("part-00000.parquet"), b"not parquet").expect("a broken file");
    wait_until("a failed refresh", 60, || refreshes(server, "failed") > 0);
    assert_eq!(served_count(server, user), served, "what is served stays");
    std::fs::remove_dir_all(&broken).expect("remove it");
    let ok = refreshes(server, "ok");
    wait_until("a refresh after the fix", 60, || refreshes(server, "ok") > ok);
    assert_eq!(served_count(server, user), served);
}

/// `build`'s online-table line of `user_activity@v1`: (entities written, unchanged).
fn materialized(output: &str) -> (u64, u64) {
    let mut lines = output.lines().skip_while(|line| !line.starts_with("online table"));
    let line = lines
        .find(|line| line.starts_with("user_activity@v1"))
        .unwrap_or_else(|| panic!("no online table line: {output}"));
    let numbers: Vec<u64> = line.split_whitespace().filter_map(|word| word.parse().ok()).collect();
    (numbers[0], numbers.get(1).copied().unwrap_or(0))
}

/// A new day re-pushes the entities it touched and leaves every other stored record as it was;
/// the store still equals the offline tables.
#[test]
fn a_new_day_materializes_only_the_entities_it_touched() {
    let project = fraud_project("materialize-entities");
    let first = mlsysc(&project, &["build", "."]);
    assert!(first.status.success(), "{}", text(&first));
    let (all, none) = materialized(&text(&first));
    assert_eq!(none, 0, "{}", text(&first));
    let (other, users) = next_day(&project);
    land_new_day(&other, &project);
    let second = mlsysc(&project, &["build", "."]);
    assert!(second.status.success(), "{}", text(&second));
    let (written, unchanged) = materialized(&text(&second));
    assert_eq!(written, users.len() as u64, "{}", text(&second));
    assert_eq!(written + unchanged, all, "{}", text(&second));
    let verify = mlsysc(&project, &["verify", ".", "--sample", "300"]);
    let output = text(&verify);
    assert!(verify.status.success() && output.contains("0 mismatches"), "{output}");
    std::fs::remove_dir_all(&project).ok();
    std::fs::remove_dir_all(&other).ok();
}
