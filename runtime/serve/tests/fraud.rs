//! The fraud example end to end over HTTP: values equal the reference interpreter's bit for bit
//! through the JSON encoding, with Feast's response shape and the status of every value.

use std::sync::Arc;

use mlsys_compiler::plan::{FeatureId, Plan};
use mlsys_compiler::types::Type;
use mlsys_kernels::Value;
use mlsys_kernels::interpret::{Bindings, evaluate_features, find_column, find_feature};
use mlsys_online::{Lookup, OnlineStore};
use mlsys_serve::wire::{decode_value, format_timestamp};
use serde_json::{Value as Json, json};

use crate::support::{
    RunningServer, T0, T1, TempDir, aggregates, fraud_plan, group_id, redb_store, user_timelines, write_fixture,
};

const HOUR: i64 = 3_600_000_000;

/// One request row: the user, the payment's columns, and its time as sent.
pub struct RequestRow {
    pub user: &'static str,
    pub amount: Json,
    pub amount_value: Value,
    pub country: &'static str,
    pub channel: &'static str,
    pub time: i64,
    pub time_json: Json,
}

/// Rows covering every lookup case: a change point in force (two of them), a time before the
/// store's base (`u2`), an empty window of a stored entity (`u3`, and `u1` before its first
/// point), an entity never stored (`u4`), and float edge cases.
pub fn request_rows() -> Vec<RequestRow> {
    let row = |user, amount: Json, amount_value, country, channel, time, time_json| RequestRow {
        user,
        amount,
        amount_value,
        country,
        channel,
        time,
        time_json,
    };
    vec![
        row(
            "u1",
            json!(12.0),
            Value::Float(12.0),
            "US",
            "web",
            T1 + 5 * HOUR,
            json!("2026-03-02T05:00:00Z"),
        ),
        row(
            "u1",
            json!(-0.0),
            Value::Float(-0.0),
            "FR",
            "pos",
            T0 + HOUR,
            json!(T0 + HOUR),
        ),
        row(
            "u2",
            json!(30.5),
            Value::Float(30.5),
            "US",
            "api",
            T0 + HOUR,
            json!("2026-03-01T02:00:00+01:00"),
        ),
        row(
            "u3",
            json!(7),
            Value::Float(7.0),
            "DE",
            "web",
            T0 + HOUR,
            json!("2026-03-01T01:00:00.000000Z"),
        ),
        row(
            "u4",
            json!(0.1),
            Value::Float(0.1),
            "US",
            "web",
            T1 + 20 * HOUR,
            json!("2026-03-02T20:00:00Z"),
        ),
        row(
            "u1",
            json!("NaN"),
            Value::Float(f64::NAN),
            "US",
            "api",
            T0 - HOUR,
            json!("2026-02-28T23:00:00Z"),
        ),
        row(
            "u1",
            json!("Infinity"),
            Value::Float(f64::INFINITY),
            "GB",
            "app",
            T1 + 1,
            json!(T1 + 1),
        ),
        row(
            "u3",
            json!(1e-310),
            Value::Float(1e-310),
            "US",
            "web",
            T1 + 7 * HOUR,
            json!("2026-03-02T07:00:00.000000Z"),
        ),
    ]
}

pub fn entities(rows: &[RequestRow]) -> Json {
    json!({
        "user_id": rows.iter().map(|row| row.user).collect::<Vec<_>>(),
        "amount": rows.iter().map(|row| row.amount.clone()).collect::<Vec<_>>(),
        "country": rows.iter().map(|row| row.country).collect::<Vec<_>>(),
        "channel": rows.iter().map(|row| row.channel).collect::<Vec<_>>(),
        "event_time": rows.iter().map(|row| row.time_json.clone()).collect::<Vec<_>>(),
    })
}

/// What the store says for a row: `Some(values, valid_from)` in force, `None` with the reason.
enum Expected {
    Values(Vec<Value>, i64),
    Empty,
    NotFound,
    TooOld,
}

fn expected_lookup(row: &RequestRow) -> Expected {
    let Some((_, timeline)) = user_timelines().into_iter().find(|(user, _)| *user == row.user) else {
        return Expected::NotFound;
    };
    match timeline.at(row.time) {
        Lookup::Values(values) => {
            let valid_from = timeline
                .points
                .iter()
                .rev()
                .find(|(valid_from, _)| *valid_from <= row.time)
                .map(|(valid_from, _)| *valid_from)
                .expect("a point");
            Expected::Values(values.to_vec(), valid_from)
        }
        Lookup::Empty => Expected::Empty,
        Lookup::TooOld => Expected::TooOld,
    }
}

/// lang-spec/windows.md: over an empty window `count` and `count_distinct` are 0, the others null.
fn empty_window() -> Vec<Value> {
    vec![
        Value::Int(0),
        Value::Null,
        Value::Null,
        Value::Int(0),
        Value::Int(0),
        Value::Int(0),
    ]
}

/// The interpreter's values of `features` on `row`, and the status and event time expected of
/// each (features reading user_activity follow its lookup).
fn oracle(plan: &Plan, features: &[FeatureId], row: &RequestRow) -> Vec<(Value, &'static str, i64)> {
    let group = group_id(plan, "user_activity", 1);
    let lookup = expected_lookup(row);
    let aggregate_values = match &lookup {
        Expected::Values(values, _) => values.clone(),
        Expected::Empty | Expected::NotFound => empty_window(),
        Expected::TooOld => vec![Value::Null; 6],
    };
    let mut bindings = Bindings::new();
    for (column, value) in [
        ("user_id", Value::string(row.user)),
        ("amount", row.amount_value.clone()),
        ("country", Value::string(row.country)),
        ("channel", Value::string(row.channel)),
        ("event_time", Value::Timestamp(row.time)),
    ] {
        let (source, index) = find_column(plan, "transactions", column).expect("a column");
        bindings = bindings.with_column(source, index, value);
    }
    for (feature, value) in aggregates(plan, group).into_iter().zip(aggregate_values) {
        bindings = bindings.with_feature(feature, value);
    }
    let values = evaluate_features(plan, features, &bindings).expect("the interpreter evaluates");
    let amount_vs_avg = find_feature(plan, "txn_signals", 2, "amount_vs_avg").expect("a feature");
    features
        .iter()
        .zip(values)
        .map(|(feature, value)| {
            let reads_store = plan.features[*feature].group == group || *feature == amount_vs_avg;
            if !reads_store {
                let status = if value.is_null() { "NULL_VALUE" } else { "PRESENT" };
                return (value, status, 0);
            }
            match &lookup {
                Expected::TooOld => (Value::Null, "OUTSIDE_MAX_AGE", 0),
                Expected::NotFound => (value, "NOT_FOUND", 0),
                Expected::Empty => {
                    let status = if value.is_null() { "NULL_VALUE" } else { "PRESENT" };
                    (value, status, 0)
                }
                Expected::Values(_, valid_from) => {
                    let status = if value.is_null() { "NULL_VALUE" } else { "PRESENT" };
                    (value, status, *valid_from)
                }
            }
        })
        .collect()
}

/// Checks a response against the oracle: the shape, the entity column, and per feature the
/// values (bit for bit after decoding), statuses and event timestamps.
pub fn check_response(plan: &Plan, features: &[FeatureId], names: &[String], rows: &[RequestRow], response: &Json) {
    let mut expected_names = vec!["user_id".to_string()];
    expected_names.extend(names.iter().cloned());
    assert_eq!(response["metadata"]["feature_names"], json!(expected_names));
    let results = response["results"].as_array().expect("results");
    assert_eq!(results.len(), features.len() + 1, "one result per column");
    let users: Vec<&str> = rows.iter().map(|row| row.user).collect();
    assert_eq!(results[0]["values"], json!(users));
    assert_eq!(results[0]["statuses"], json!(vec!["PRESENT"; rows.len()]));
    assert_eq!(
        results[0]["event_timestamps"],
        json!(vec!["1970-01-01T00:00:00.000000Z"; rows.len()])
    );
    let expected: Vec<_> = rows.iter().map(|row| oracle(plan, features, row)).collect();
    for (column, feature) in features.iter().enumerate() {
        let result = &results[column + 1];
        let name = &plan.features[*feature].name;
        let ty = Type {
            base: plan.features[*feature].ty.base,
            nullable: true,
        };
        for (row, expected_row) in expected.iter().enumerate() {
            let (value, status, event_time) = &expected_row[column];
            let cell = &result["values"][row];
            let got = decode_value(cell, ty).unwrap_or_else(|problem| panic!("{name} row {row}: {problem}"));
            assert!(
                got.bits_equal(value),
                "{name} row {row}: the server sent {cell} ({got}), the interpreter gives {value}"
            );
            assert_eq!(result["statuses"][row], json!(status), "{name} row {row}");
            assert_eq!(
                result["event_timestamps"][row],
                json!(format_timestamp(*event_time)),
                "{name} row {row}"
            );
        }
    }
}

pub fn model_features(plan: &Plan) -> Vec<FeatureId> {
    plan.models
        .values()
        .find(|model| model.name == "fraud_detector")
        .expect("the model")
        .features
        .clone()
}

async fn fixture() -> (TempDir, Arc<Plan>, Arc<dyn OnlineStore>) {
    let directory = TempDir::new();
    let plan = fraud_plan();
    let store = redb_store(&directory).await;
    write_fixture(&plan, store.as_ref()).await;
    (directory, plan, store)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feature_service_values_equal_the_interpreter() {
    let (_directory, plan, store) = fixture().await;
    let server = RunningServer::start(plan.clone(), store).await;
    let rows = request_rows();
    let body = json!({"feature_service": "fraud_detector", "entities": entities(&rows)});
    let response = server.post("/get-online-features", &body.to_string()).await;
    assert_eq!(response.status, 200, "{}", response.body);
    assert_eq!(response.header("content-type"), Some("application/json"));
    let features = model_features(&plan);
    let names: Vec<String> = features.iter().map(|id| plan.features[*id].name.clone()).collect();
    check_response(&plan, &features, &names, &rows, &response.json());
    // The exact text: -0.0 keeps its sign, non-finite floats are the protobuf JSON strings.
    assert!(response.body.contains("-0.0"), "{}", response.body);
    assert!(response.body.contains("\"NaN\""), "{}", response.body);
    assert!(response.body.contains("\"Infinity\""), "{}", response.body);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feature_references_in_every_spelling_with_full_names() {
    let (_directory, plan, store) = fixture().await;
    let server = RunningServer::start(plan.clone(), store).await;
    let rows = request_rows();
    let references = [
        (
            "user_activity@v1:foreign_share_30d",
            "user_activity",
            1,
            "foreign_share_30d",
        ),
        ("txn_signals_v2:amount_vs_avg", "txn_signals", 2, "amount_vs_avg"),
        ("user_activity@v1.txn_count_7d", "user_activity", 1, "txn_count_7d"),
        ("txn_signals@v2:night", "txn_signals", 2, "night"),
        ("user_activity_v1:avg_amount_30d", "user_activity", 1, "avg_amount_30d"),
    ];
    let features: Vec<FeatureId> = references
        .iter()
        .map(|(_, group, version, name)| find_feature(&plan, group, *version, name).expect("a feature"))
        .collect();
    let names: Vec<String> = references
        .iter()
        .map(|(_, group, version, name)| format!("{group}@v{version}__{name}"))
        .collect();
    let body = json!({
        "features": references.iter().map(|(reference, ..)| *reference).collect::<Vec<_>>(),
        "entities": entities(&rows),
        "full_feature_names": true,
    });
    let response = server.post("/get-online-features", &body.to_string()).await;
    assert_eq!(response.status, 200, "{}", response.body);
    check_response(&plan, &features, &names, &rows, &response.json());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_context_fields_and_the_request_time_default_to_now() {
    let (_directory, plan, store) = fixture().await;
    let server = RunningServer::start(plan.clone(), store).await;
    // No event_time: the windows are read now (after every stored point: u1's T1 point), and
    // `night` reads the current hour, which the test cannot know, so it is not requested.
    let body = json!({
        "features": ["user_activity@v1:txn_count_30d", "txn_signals@v2:amount_vs_avg", "txn_signals@v2:web"],
        "entities": {"user_id": ["u1", "u4"]},
        "request_context": {"amount": [10.0, 3.0], "channel": ["api", "pos"]},
    });
    let response = server.post("/get-online-features", &body.to_string()).await;
    assert_eq!(response.status, 200, "{}", response.body);
    let response = response.json();
    assert_eq!(
        response["metadata"]["feature_names"],
        json!(["user_id", "txn_count_30d", "amount_vs_avg", "web"])
    );
    assert_eq!(response["results"][1]["values"], json!([9, 0]));
    assert_eq!(response["results"][1]["statuses"], json!(["PRESENT", "NOT_FOUND"]));
    // u1 at T1: avg_amount_30d is the smallest subnormal, so 10 / (5e-324 + 1) = 10.
    assert_eq!(response["results"][2]["values"], json!([10.0, 3.0]));
    assert_eq!(response["results"][3]["values"], json!([true, false]));
    assert_eq!(response["results"][3]["statuses"], json!(["PRESENT", "PRESENT"]));
    assert_eq!(
        response["results"][1]["event_timestamps"],
        json!([format_timestamp(T1), format_timestamp(0)])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn row_level_features_need_no_materialized_table() {
    let directory = TempDir::new();
    let plan = fraud_plan();
    let store = redb_store(&directory).await;
    let server = RunningServer::start(plan.clone(), store).await;
    let body = json!({
        "features": ["txn_signals@v2:amount_log", "txn_signals@v2:amount_bucket"],
        "entities": {"amount": [0.0, 49.99, 50.0]},
    });
    let response = server.post("/get-online-features", &body.to_string()).await;
    assert_eq!(response.status, 200, "{}", response.body);
    let response = response.json();
    // No entity key is read, so no entity column comes first.
    assert_eq!(
        response["metadata"]["feature_names"],
        json!(["amount_log", "amount_bucket"])
    );
    assert_eq!(response["results"][0]["values"][0], json!(0.0));
    assert_eq!(response["results"][0]["values"][1], json!((1.0 + 49.99_f64).ln()));
    assert_eq!(response["results"][1]["values"], json!([0, 1, 2]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_entity_lists_answer_no_rows() {
    let (_directory, plan, store) = fixture().await;
    let server = RunningServer::start(plan, store).await;
    let body = json!({
        "feature_service": "fraud_detector",
        "entities": {"user_id": [], "amount": [], "country": [], "channel": []},
    });
    let response = server.post("/get-online-features", &body.to_string()).await;
    assert_eq!(response.status, 200, "{}", response.body);
    let response = response.json();
    for result in response["results"].as_array().expect("results") {
        assert_eq!(result["values"], json!([]));
    }
}
