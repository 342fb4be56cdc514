//! The store side: a real Redis server (happy path, then killed: 503), tables never materialized
//! or materialized from another definition (503 saying to run `mlsysc build`), and `/ready`.

use std::sync::Arc;

use mlsys_online::{OnlineStore, TableId, TableMeta, meta_name};
use serde_json::json;

use crate::fraud::{check_response, entities, model_features, request_rows};
use crate::support::redis_server::RedisServer;
use crate::support::{RunningServer, TempDir, fraud_plan, group_id, redb_store, table_meta, write_fixture};

fn service_request() -> String {
    json!({"feature_service": "fraud_detector", "entities": entities(&request_rows())}).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_serves_the_same_values_then_503_when_it_is_gone() {
    let mut redis = RedisServer::start();
    let plan = fraud_plan();
    let store: Arc<dyn OnlineStore> = mlsys_online::open_store(&redis.url().into(), "serve-test")
        .await
        .expect("connect to redis");
    write_fixture(&plan, store.as_ref()).await;
    let server = RunningServer::start(plan.clone(), store).await;

    let response = server.post("/get-online-features", &service_request()).await;
    assert_eq!(response.status, 200, "{}", response.body);
    let features = model_features(&plan);
    let names: Vec<String> = features.iter().map(|id| plan.features[*id].name.clone()).collect();
    check_response(&plan, &features, &names, &request_rows(), &response.json());
    assert_eq!(server.get("/ready").await.status, 200);

    // The port is closed now: nothing listens at the store's address.
    redis.kill();
    let response = server.post("/get-online-features", &service_request()).await;
    assert_eq!(response.status, 503, "{}", response.body);
    assert_eq!(response.json()["kind"], json!("store_unavailable"));
    assert!(response.detail().contains("unavailable"), "{}", response.body);
    assert!(response.detail().contains(&redis.url()), "{}", response.body);
    let ready = server.get("/ready").await;
    assert_eq!(ready.status, 503, "{}", ready.body);
    assert!(ready.body.contains("unavailable"), "{}", ready.body);
    // Liveness does not depend on the store.
    assert_eq!(server.get("/health").await.status, 200);
    // Features computed from the request alone need no store.
    let row_only = json!({"features": ["txn_signals@v2:amount_log"], "entities": {"amount": [1.0]}});
    assert_eq!(
        server.post("/get-online-features", &row_only.to_string()).await.status,
        200
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_never_materialized_is_503_saying_to_build() {
    let directory = TempDir::new();
    let server = RunningServer::start(fraud_plan(), redb_store(&directory).await).await;
    let response = server.post("/get-online-features", &service_request()).await;
    assert_eq!(response.status, 503, "{}", response.body);
    assert_eq!(response.json()["kind"], json!("not_materialized"));
    let detail = response.detail();
    assert!(
        detail.contains("user_activity@v1") && detail.contains("never materialized"),
        "{detail}"
    );
    assert!(detail.contains("mlsysc build"), "{detail}");
    // Ready (the store answers, nothing stored contradicts the plan), with the table listed.
    let ready = server.get("/ready").await;
    assert_eq!(ready.status, 200, "{}", ready.body);
    assert_eq!(ready.json()["not_materialized"], json!(["user_activity@v1"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_of_another_definition_is_503_and_not_ready() {
    let directory = TempDir::new();
    let plan = fraud_plan();
    let store = redb_store(&directory).await;
    write_fixture(&plan, store.as_ref()).await;
    let group = group_id(&plan, "user_activity", 1);
    let table = TableId::new("user_activity", 1).expect("a table name");
    let stale = TableMeta {
        group_hash: "0123456789abcdef".to_string(),
        ..table_meta(&plan, group)
    };
    store
        .put_meta(&meta_name(&table), &serde_json::to_vec(&stale).expect("JSON"))
        .await
        .expect("the metadata is written");
    let server = RunningServer::start(plan.clone(), store.clone()).await;
    let response = server.post("/get-online-features", &service_request()).await;
    assert_eq!(response.status, 503, "{}", response.body);
    let detail = response.detail();
    assert!(
        detail.contains("another definition") && detail.contains("0123456789abcdef"),
        "{detail}"
    );
    assert!(detail.contains("mlsysc build"), "{detail}");
    let ready = server.get("/ready").await;
    assert_eq!(ready.status, 503, "{}", ready.body);
    assert!(ready.body.contains("another definition"), "{}", ready.body);

    // Rebuilt with this plan: served again (a failed check is never cached).
    let meta = serde_json::to_vec(&table_meta(&plan, group)).expect("JSON");
    store.put_meta(&meta_name(&table), &meta).await.expect("written");
    assert_eq!(
        server.post("/get-online-features", &service_request()).await.status,
        200
    );
    assert_eq!(server.get("/ready").await.status, 200);

    // Aggregates listed in another order are refused too, since values are read by position.
    let mut reordered = table_meta(&plan, group);
    reordered.features.reverse();
    store
        .put_meta(&meta_name(&table), &serde_json::to_vec(&reordered).expect("JSON"))
        .await
        .expect("written");
    let ready = server.get("/ready").await;
    assert_eq!(ready.status, 503, "{}", ready.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_ready_on_a_good_store() {
    let directory = TempDir::new();
    let plan = fraud_plan();
    let store = redb_store(&directory).await;
    write_fixture(&plan, store.as_ref()).await;
    let server = RunningServer::start(plan, store).await;
    let health = server.get("/health").await;
    assert_eq!((health.status, health.json()), (200, json!({"status": "ok"})));
    let ready = server.get("/ready").await;
    assert_eq!(ready.status, 200, "{}", ready.body);
    assert_eq!(
        ready.json(),
        json!({"status": "ready", "problems": [], "not_materialized": []})
    );
}
