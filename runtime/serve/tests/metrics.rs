//! `/metrics`: the histograms, error counters and row counter after real requests.

use serde_json::json;

use crate::fraud::{entities, request_rows};
use crate::support::{RunningServer, TempDir, fraud_plan, redb_store, write_fixture};

/// The value of the sample line `name` (labels included) in an OpenMetrics text.
fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_requests_rows_errors_and_store_reads() {
    let directory = TempDir::new();
    let plan = fraud_plan();
    let store = redb_store(&directory).await;
    write_fixture(&plan, store.as_ref()).await;
    let server = RunningServer::start(plan, store).await;
    let rows = request_rows();
    let good = json!({"feature_service": "fraud_detector", "entities": entities(&rows)}).to_string();
    for _ in 0..3 {
        assert_eq!(server.post("/get-online-features", &good).await.status, 200);
    }
    assert_eq!(server.post("/get-online-features", "{").await.status, 400);
    let unknown = json!({"feature_service": "nope", "entities": {}}).to_string();
    assert_eq!(server.post("/get-online-features", &unknown).await.status, 404);
    assert_eq!(server.get("/health").await.status, 200);

    let response = server.get("/metrics").await;
    assert_eq!(response.status, 200);
    assert!(
        response
            .header("content-type")
            .is_some_and(|value| value.starts_with("application/openmetrics-text")),
        "{:?}",
        response.headers
    );
    let text = &response.body;
    assert!(
        text.contains("# TYPE mlsys_request_duration_seconds histogram"),
        "{text}"
    );
    assert!(
        text.contains("# TYPE mlsys_store_read_duration_seconds histogram"),
        "{text}"
    );
    let requests = r#"mlsys_request_duration_seconds_count{endpoint="/get-online-features"}"#;
    assert_eq!(sample(text, requests), Some(5.0), "{text}");
    assert_eq!(
        sample(text, r#"mlsys_request_duration_seconds_count{endpoint="/health"}"#),
        Some(1.0),
        "{text}"
    );
    // At least five buckets below a millisecond, the first at most 10 µs.
    let bounds: Vec<f64> = text
        .lines()
        .filter(|line| {
            line.starts_with("mlsys_request_duration_seconds_bucket{") && line.contains("/get-online-features")
        })
        .filter_map(|line| line.split("le=\"").nth(1)?.split('"').next()?.parse().ok())
        .collect();
    assert!(bounds.iter().filter(|bound| **bound < 1e-3).count() >= 5, "{bounds:?}");
    assert!(bounds.first().is_some_and(|first| *first <= 1e-5), "{bounds:?}");
    // One store read per table per request: three good requests, one table.
    assert_eq!(
        sample(text, "mlsys_store_read_duration_seconds_count"),
        Some(3.0),
        "{text}"
    );
    assert_eq!(
        sample(text, "mlsys_rows_total"),
        Some(3.0 * rows.len() as f64),
        "{text}"
    );
    assert_eq!(
        sample(text, r#"mlsys_errors_total{kind="bad_request"}"#),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(text, r#"mlsys_errors_total{kind="not_found"}"#),
        Some(1.0),
        "{text}"
    );
}
