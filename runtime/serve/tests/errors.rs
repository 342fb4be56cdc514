//! Bad input: each case answers its status code with a message naming what was wrong.

use serde_json::{Value as Json, json};

use crate::fraud::{entities, request_rows};
use crate::support::{RunningServer, TempDir, fraud_plan, redb_store, write_fixture};
use mlsys_serve::ServerOptions;

fn service_body(entities: Json) -> String {
    json!({"feature_service": "fraud_detector", "entities": entities}).to_string()
}

fn one_row() -> Json {
    json!({
        "user_id": ["u1"], "amount": [12.5], "country": ["US"], "channel": ["web"],
        "event_time": ["2026-03-02T05:00:00Z"],
    })
}

/// Sends `body` and checks the status, the error kind, and that the message contains each of
/// `mentions`.
async fn expect_error(server: &RunningServer, body: &str, status: u16, kind: &str, mentions: &[&str]) {
    let response = server.post("/get-online-features", body).await;
    assert_eq!(response.status, status, "body {body}: {}", response.body);
    assert_eq!(response.header("content-type"), Some("application/json"));
    let answer = response.json();
    assert_eq!(answer["kind"], json!(kind), "{}", response.body);
    let detail = response.detail();
    for mention in mentions {
        assert!(detail.contains(mention), "`{detail}` does not mention `{mention}`");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_names_are_404_naming_them() {
    let directory = TempDir::new();
    let plan = fraud_plan();
    let store = redb_store(&directory).await;
    write_fixture(&plan, store.as_ref()).await;
    let server = RunningServer::start(plan, store).await;
    let features = |reference: &str| json!({"features": [reference], "entities": one_row()}).to_string();
    let cases: [(String, &[&str]); 7] = [
        (
            features("user_activity@v1:no_such_feature"),
            &["no_such_feature", "user_activity@v1", "txn_count_7d"],
        ),
        (features("no_such_group@v1:x"), &["no_such_group", "user_activity"]),
        (
            features("user_activity@v9:txn_count_7d"),
            &["v9", "user_activity", "v1"],
        ),
        (features("txn_signals_v7:amount_log"), &["txn_signals_v7"]),
        // No version: refused, with the versions that exist.
        (features("user_activity:txn_count_7d"), &["user_activity@v1", "pinned"]),
        (
            json!({"feature_service": "no_such_model", "entities": one_row()}).to_string(),
            &["no_such_model", "fraud_detector"],
        ),
        (
            json!({"features": ["txn_signals@v2:amount_log", "chargebacks@v1:is_fraud"], "entities": one_row()})
                .to_string(),
            &["chargebacks"],
        ),
    ];
    for (body, mentions) in &cases {
        expect_error(&server, body, 404, "not_found", mentions).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_are_400_naming_the_field_and_type() {
    let directory = TempDir::new();
    let plan = fraud_plan();
    let store = redb_store(&directory).await;
    write_fixture(&plan, store.as_ref()).await;
    let server = RunningServer::start_with(
        plan,
        store,
        ServerOptions {
            max_rows: 8,
            max_features: 13,
            ..ServerOptions::default()
        },
    )
    .await;
    let mut without_amount = one_row();
    without_amount.as_object_mut().expect("an object").remove("amount");
    let mut without_user = one_row();
    without_user.as_object_mut().expect("an object").remove("user_id");
    let with = |field: &str, values: Json| {
        let mut row = one_row();
        row[field] = values;
        service_body(row)
    };
    let cases: Vec<(String, Vec<&str>)> = vec![
        (
            service_body(without_amount),
            vec!["missing request field `amount`", "float64"],
        ),
        (
            service_body(without_user),
            vec!["missing request field `user_id`", "string"],
        ),
        (
            with("amount", json!(["12.5"])),
            vec!["`amount`", "row 0", "float64", "the string \"12.5\""],
        ),
        (with("amount", json!([null])), vec!["`amount`", "null", "float64"]),
        (with("amount", json!([true])), vec!["`amount`", "float64", "true"]),
        (
            with("amount", json!([9007199254740993_i64])),
            vec!["`amount`", "9007199254740993"],
        ),
        (with("user_id", json!([42])), vec!["`user_id`", "string", "42"]),
        (with("channel", json!([["web"]])), vec!["`channel`", "an array"]),
        (
            with("event_time", json!(["2026-13-01T00:00:00Z"])),
            vec!["`event_time`", "timestamp", "calendar"],
        ),
        (
            with("event_time", json!(["2026-03-01 10:00"])),
            vec!["`event_time`", "RFC 3339"],
        ),
        (
            with("event_time", json!(["2026-03-01T10:00:00.0000001Z"])),
            vec!["`event_time`", "sub-microsecond"],
        ),
        (with("event_time", json!([1.5])), vec!["`event_time`", "timestamp"]),
        (with("amount", json!([1.0, 2.0])), vec!["different lengths", "amount"]),
        (with("user_id", json!("u1")), vec!["`user_id`", "array"]),
        (
            service_body(
                json!({"user_id": vec!["u1"; 9], "amount": vec![1.0; 9], "country": vec!["US"; 9], "channel": vec!["web"; 9]}),
            ),
            vec!["9 rows", "at most 8"],
        ),
        (
            "{\"feature_service\": \"fraud_detector\", ".to_string(),
            vec!["malformed request body"],
        ),
        ("[1, 2, 3]".to_string(), vec!["malformed request body"]),
        (
            "{\"features\": \"txn_signals@v2:night\"}".to_string(),
            vec!["malformed request body"],
        ),
        (
            json!({"entities": one_row()}).to_string(),
            vec!["no features requested"],
        ),
        (
            json!({"features": ["txn_signals@v2:night"], "feature_service": "fraud_detector", "entities": one_row()})
                .to_string(),
            vec!["either"],
        ),
        (
            json!({"features": ["txn_signals@v2:night", "txn_signals@v2:night"], "entities": one_row()}).to_string(),
            vec!["requested twice"],
        ),
        (
            json!({"features": ["txn_signals@v2:night"], "entities": one_row()})
                .to_string()
                .replace("night", "night\""),
            vec!["malformed request body"],
        ),
        (
            json!({"features": ["night"], "entities": one_row()}).to_string(),
            vec!["malformed feature reference"],
        ),
        (
            json!({"features": [format!("{}:x", "g".repeat(10_000))], "entities": one_row()}).to_string(),
            vec!["bytes"],
        ),
    ];
    for (body, mentions) in &cases {
        expect_error(&server, body, 400, "bad_request", mentions).await;
    }
    // The server still answers a good request after all of that.
    let rows = request_rows();
    let response = server
        .post("/get-online-features", &service_body(entities(&rows)))
        .await;
    assert_eq!(response.status, 200, "{}", response.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_over_the_limit_are_413() {
    let directory = TempDir::new();
    let plan = fraud_plan();
    let store = redb_store(&directory).await;
    let server = RunningServer::start_with(
        plan,
        store,
        ServerOptions {
            max_body_bytes: 1024,
            ..ServerOptions::default()
        },
    )
    .await;
    let body = service_body(json!({"user_id": vec!["u1"; 400]}));
    assert!(body.len() > 1024);
    expect_error(&server, &body, 413, "payload_too_large", &["at most 1024"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_endpoints_and_methods() {
    let directory = TempDir::new();
    let server = RunningServer::start(fraud_plan(), redb_store(&directory).await).await;
    let response = server.get("/get-online-feature").await;
    assert_eq!(response.status, 404);
    assert!(response.detail().contains("/get-online-features"), "{}", response.body);
    let response = server.get("/get-online-features").await;
    assert_eq!(response.status, 405);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_short_names_need_full_feature_names() {
    let text = r#"
        source events {
          format = csv
          location = "data/events"
          schema { x: float64 }
        }
        features first v1 {
          from = events
          score = x + 1
        }
        features second v1 {
          from = events
          score = x * 2
        }
    "#;
    let plan = mlsys_compiler::compile(&[mlsys_compiler::source::SourceFile::new("p.mlsys", text)])
        .plan
        .expect("the project compiles");
    let directory = TempDir::new();
    let server = RunningServer::start(std::sync::Arc::new(plan), redb_store(&directory).await).await;
    let request = |full: bool| {
        json!({"features": ["first@v1:score", "second@v1:score"], "entities": {"x": [2.5]}, "full_feature_names": full})
            .to_string()
    };
    expect_error(
        &server,
        &request(false),
        400,
        "bad_request",
        &["two columns named `score`", "full_feature_names"],
    )
    .await;
    let response = server.post("/get-online-features", &request(true)).await;
    assert_eq!(response.status, 200, "{}", response.body);
    let answer = response.json();
    assert_eq!(
        answer["metadata"]["feature_names"],
        json!(["first@v1__score", "second@v1__score"])
    );
    assert_eq!(answer["results"][0]["values"], json!([3.5]));
    assert_eq!(answer["results"][1]["values"], json!([5.0]));
}
