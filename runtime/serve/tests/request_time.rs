//! The request time: a windowed value is read at the time of the row it is computed for, exactly
//! as the batch engine computed it (lang-spec `windows.md`, "The request time"). A row-level group
//! over source `a` reading aggregates of source `b` reads them at `a`'s time, not at `b`'s (which a
//! client of `a` never sends), and a model reads every input at its examples' time.

use std::sync::Arc;

use mlsys_compiler::plan::Plan;
use mlsys_compiler::source::SourceFile;
use mlsys_kernels::Value;
use mlsys_online::{EntityKey, OnlineStore, TableId, TableMeta, Timeline, meta_name};
use mlsys_serve::FeatureServer;
use serde_json::json;

use crate::support::{TempDir, redb_store};

const SPEC: &str = r#"
source a {
  format = parquet
  location = "data/a"
  timestamp = a_ts
  schema { k: string, x: float64, y: bool, a_ts: timestamp }
}
source b {
  format = parquet
  location = "data/b"
  timestamp = b_ts
  schema { k: string, v: float64, b_ts: timestamp? }
}
entity key_k { key k: string }
features bstats v1 {
  entity = key_k
  from = b
  n_1d = count() over 1d every 1h
}
features arow v1 {
  from = a
  n_plus_x = bstats@v1.n_1d + x
}
model m {
  examples = a
  label = y
  features = [arow@v1, bstats@v1]
  algorithm = logistic_regression()
  train {
    snapshot = 2026-01-01 .. 2026-01-31
    holdout = 2026-02-01 .. 2026-02-28
    metric = auc
  }
}
"#;

/// 2026-03-02T09:00:00Z, in microseconds.
const NINE: i64 = 1_772_442_000_000_000;
const HOUR: i64 = 3_600_000_000;

fn plan() -> Arc<Plan> {
    let compilation = mlsys_compiler::compile(&[SourceFile::new("spec.mlsys", SPEC)]);
    Arc::new(
        compilation
            .plan
            .unwrap_or_else(|| panic!("the spec compiles: {:?}", compilation.diagnostics)),
    )
}

/// `b` has events at 09:10 and 09:20 for `u1`: `n_1d` is 0 before 10:00 and 2 from 10:00 on
/// (until the events leave the day-long window, the next day at 10:00).
async fn store_with_two_events(plan: &Plan, directory: &TempDir) -> Arc<dyn OnlineStore> {
    let store = redb_store(directory).await;
    let table = TableId::new("bstats", 1).expect("a table name");
    let timeline = Timeline {
        exact_from: i64::MIN,
        width: 1,
        points: vec![
            (NINE + HOUR, vec![Value::Int(2)]),
            (NINE + 25 * HOUR, vec![Value::Int(0)]),
        ],
    };
    let record = timeline.to_record(NINE);
    store
        .write(&table, &[(EntityKey::new(vec![Value::string("u1")]), record)])
        .await
        .expect("the timeline is written");
    let group = plan
        .groups
        .iter()
        .find(|(_, group)| group.name == "bstats")
        .map(|(_, group)| group)
        .expect("bstats");
    let meta = TableMeta {
        group_hash: group.hash.0.clone(),
        features: vec!["n_1d".to_string()],
        watermark: NINE,
        stamp: "test".to_string(),
        exact_from: None,
    };
    store
        .put_meta(&meta_name(&table), &serde_json::to_vec(&meta).expect("JSON"))
        .await
        .expect("the metadata is written");
    store
}

/// A server over the two-event store (the directory holds the store while the server runs).
async fn server() -> (TempDir, FeatureServer) {
    let plan = plan();
    let directory = TempDir::new();
    let store = store_with_two_events(&plan, &directory).await;
    let server = FeatureServer::new(plan, store).expect("the server starts");
    (directory, server)
}

async fn ask(server: &FeatureServer, body: serde_json::Value) -> serde_json::Value {
    let answer = server
        .get_online_features(body.to_string().as_bytes())
        .await
        .unwrap_or_else(|error| panic!("{body}: {error}"));
    serde_json::from_str(&answer).expect("a JSON answer")
}

/// The values of the column named `name`.
fn column<'a>(answer: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    let names = answer["metadata"]["feature_names"].as_array().expect("names");
    let index = names
        .iter()
        .position(|n| n == name)
        .unwrap_or_else(|| panic!("{name} in {names:?}"));
    &answer["results"][index]["values"]
}

#[tokio::test]
async fn a_row_level_group_reads_other_sources_aggregates_at_its_own_rows_time() {
    let (_directory, server) = server().await;
    // A client of source `a` sends `a`'s columns; it has no `b_ts` to send.
    let answer = ask(
        &server,
        json!({"features": ["arow@v1:n_plus_x"], "entities": {
            "k": ["u1", "u1", "u1"], "x": [1.0, 1.0, 1.0],
            "a_ts": ["2026-03-02T12:00:00Z", "2026-03-02T09:59:59Z", "2026-03-03T10:00:00Z"]}}),
    )
    .await;
    assert_eq!(column(&answer, "n_plus_x"), &json!([3.0, 1.0, 1.0]), "{answer}");
}

#[tokio::test]
async fn a_feature_service_reads_every_input_at_its_examples_time() {
    let (_directory, server) = server().await;
    let answer = ask(
        &server,
        json!({"feature_service": "m", "entities": {
            "k": ["u1", "u1"], "x": [1.0, 1.0], "a_ts": ["2026-03-02T12:00:00Z", "2026-03-02T09:30:00Z"]}}),
    )
    .await;
    assert_eq!(column(&answer, "n_plus_x"), &json!([3.0, 1.0]), "{answer}");
    assert_eq!(column(&answer, "n_1d"), &json!([2, 0]), "{answer}");
}

#[tokio::test]
async fn an_entity_group_requested_directly_reads_at_its_own_sources_time_and_null_is_now() {
    let (_directory, server) = server().await;
    // `b_ts` is nullable: null is accepted and read as the wall clock (the events are long gone).
    let answer = ask(
        &server,
        json!({"features": ["bstats@v1:n_1d"], "entities": {
            "k": ["u1", "u1"], "b_ts": ["2026-03-02T10:00:00Z", null]}}),
    )
    .await;
    assert_eq!(column(&answer, "n_1d"), &json!([2, 0]), "{answer}");
}

#[tokio::test]
async fn one_aggregate_needed_at_two_request_times_is_refused_with_the_reason() {
    let (_directory, server) = server().await;
    let body = json!({"features": ["arow@v1:n_plus_x", "bstats@v1:n_1d"], "entities": {
        "k": ["u1"], "x": [1.0], "a_ts": ["2026-03-02T12:00:00Z"], "b_ts": ["2026-03-02T12:00:00Z"]}});
    let error = server
        .get_online_features(body.to_string().as_bytes())
        .await
        .expect_err("two request times for one aggregate");
    let message = error.to_string();
    assert!(
        message.contains("two request times") && message.contains("`a.a_ts`"),
        "{message}"
    );
}
