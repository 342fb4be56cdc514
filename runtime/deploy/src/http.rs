//! The HTTP edge of `mlsysc deploy`: one router with the scoring endpoints, the Open Inference
//! Protocol's health routes, the feature API of `serve-features` (`POST /get-online-features`),
//! `/health`, `/ready` and `/metrics`.
//!
//! Every response carries `X-Request-Id` (the client's, when it sent a usable one, else
//! generated); every error body is JSON: `{"error": "<message>", "kind": "<kind>"}`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use mlsys_kernels::Value;
use mlsys_serve::http::{json_response, read_body};
use mlsys_serve::wire::{decode_value, write_string};
use serde_json::{Map, Value as Json};

use crate::deployment::{Deployment, ScoreRequest, Scored};
use crate::error::RequestError;
use crate::oip_routes;
use crate::target::Target;

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Largest scoring request body (413 beyond) and most rows in one request (400 beyond).
pub const MAX_BODY_BYTES: usize = 4 << 20;
pub const MAX_ROWS: usize = 10_000;

/// The request id a handler answers under (set by the middleware).
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

/// Every route of the deploy server.
pub fn router(deployment: Arc<Deployment>) -> Router {
    let features = mlsys_serve::feature_routes(deployment.features().clone());
    Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
        .route("/v1/score/{target}", post(score))
        .route("/v2/health/live", get(health))
        .route("/v2/health/ready", get(ready))
        .route("/v2/models/{target}/ready", get(target_ready))
        .route("/v1/predictions/{target}", get(crate::predictions::latest))
        .route("/v2", get(oip_routes::server_metadata))
        .route("/v2/models/{target}", get(oip_routes::model_metadata))
        .route("/v2/models/{target}/infer", post(oip_routes::infer))
        .with_state(deployment)
        .merge(features)
        .fallback(unknown_endpoint)
        .layer(middleware::from_fn(request_id))
}

/// Takes the client's `X-Request-Id` (printable ASCII, at most 128 bytes) or makes one, hands it
/// to the handler and echoes it on the response.
async fn request_id(mut request: Request, next: Next) -> Response {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let id = request
        .headers()
        .get(&REQUEST_ID)
        .and_then(|value| value.to_str().ok())
        .filter(|id| !id.is_empty() && id.len() <= 128)
        .map(str::to_string)
        .unwrap_or_else(|| {
            format!(
                "{:x}-{:x}",
                mlsys_serve::server::now_micros(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            )
        });
    request.extensions_mut().insert(RequestId(id.clone()));
    let mut response = next.run(request).await;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID.clone(), value);
    }
    response
}

/// The JSON error body with the error's status (and `Retry-After` on overload).
pub fn error_response(error: &RequestError) -> Response {
    let mut body = String::from("{\"error\":");
    write_string(&mut body, &error.to_string());
    body.push_str(",\"kind\":");
    write_string(&mut body, error.kind());
    body.push('}');
    let status = StatusCode::from_u16(error.status_code()).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    let mut response = json_response(status, body);
    match error {
        RequestError::Overloaded { .. } => {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        RequestError::RequestTimeout(_) => {
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        _ => {}
    }
    response
}

async fn health() -> Response {
    json_response(StatusCode::OK, "{\"status\":\"ok\"}".to_string())
}

/// Ready when every target has a loaded model or a fallback; the body says, per target, which
/// version it serves and why it has none, and per refreshed group how fresh it is
/// ([`crate::freshness`]: a stale group is reported, not unready).
async fn ready(State(deployment): State<Arc<Deployment>>) -> Response {
    let mut targets = Map::new();
    for target in deployment.targets() {
        targets.insert(target.name.clone(), target_status(target));
    }
    let ready = deployment.is_ready();
    let features = deployment.freshness().report(mlsys_serve::server::now_micros());
    let stale: Vec<&String> = features
        .iter()
        .filter(|(_, group)| group.stale)
        .map(|(name, _)| name)
        .collect();
    let body = serde_json::json!({
        "status": if ready { "ready" } else { "not ready" },
        "targets": targets,
        "features": features,
        "stale_features": stale,
    });
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    json_response(status, body.to_string())
}

fn target_status(target: &Target) -> Json {
    let model = target.primary.current();
    serde_json::json!({
        "ready": target.is_ready(),
        "model": target.model,
        "stage": target.stage.to_string(),
        "version": model.as_ref().map(|model| model.version),
        "fallback": target.fallback.is_some(),
        "problem": target.primary.problem(),
        "shadow_version": target.shadow_slot.current().map(|model| model.version),
    })
}

async fn target_ready(State(deployment): State<Arc<Deployment>>, Path(name): Path<String>) -> Response {
    match deployment.target(&name) {
        Ok(target) => {
            let status = if target.is_ready() {
                StatusCode::OK
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            };
            json_response(status, target_status(target).to_string())
        }
        Err(error) => error_response(&error),
    }
}

async fn metrics(State(deployment): State<Arc<Deployment>>) -> Response {
    let mut response = (StatusCode::OK, deployment.encode_metrics()).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(OPENMETRICS));
    response
}

/// `POST /v1/score/{target}` with `{"rows": [{field: value, ...}, ...]}`.
async fn score(State(deployment): State<Arc<Deployment>>, Path(name): Path<String>, request: Request) -> Response {
    let id = request
        .extensions()
        .get::<RequestId>()
        .map(|id| id.0.clone())
        .unwrap_or_default();
    let result = async {
        let target = deployment.target(&name)?.clone();
        let body = read_body(request, MAX_BODY_BYTES)
            .await
            .map_err(RequestError::from_serve)?;
        let (columns, rows) = decode_rows(&target, &body)?;
        let request = ScoreRequest {
            request_id: id.clone(),
            columns,
            rows,
        };
        deployment.score(&target, request).await
    }
    .await;
    match result {
        Ok(scored) => json_response(StatusCode::OK, score_body(&id, &scored)),
        Err(error) => error_response(&error),
    }
}

/// `{"rows": [...]}` decoded into one typed column per target field.
pub fn decode_rows(target: &Target, body: &[u8]) -> Result<(Vec<Vec<Value>>, usize), RequestError> {
    #[derive(serde::Deserialize)]
    struct Body {
        rows: Vec<Map<String, Json>>,
    }
    let body: Body = serde_json::from_slice(body).map_err(|error| {
        RequestError::BadRequest(format!(
            "malformed request body ({error}); send {{\"rows\": [{{\"field\": value, ...}}, ...]}}"
        ))
    })?;
    if body.rows.len() > MAX_ROWS {
        return Err(RequestError::BadRequest(format!(
            "{} rows in one request; at most {MAX_ROWS} are accepted",
            body.rows.len()
        )));
    }
    let mut columns: Vec<Vec<Value>> = target
        .fields
        .iter()
        .map(|_| Vec::with_capacity(body.rows.len()))
        .collect();
    for (row, values) in body.rows.iter().enumerate() {
        for (field, column) in target.fields.iter().zip(&mut columns) {
            let value = match values.get(&field.name) {
                Some(json) => decode_value(json, field.ty).map_err(|problem| {
                    RequestError::BadRequest(format!("row {row}, field `{}`: {problem}", field.name))
                })?,
                None if field.optional => Value::Null,
                None => {
                    return Err(RequestError::BadRequest(format!(
                        "row {row}: missing field `{}` of type {}{}",
                        field.name,
                        field.ty.base.name(),
                        if field.ty.nullable { "?" } else { "" }
                    )));
                }
            };
            column.push(value);
        }
    }
    Ok((columns, body.rows.len()))
}

fn score_body(id: &str, scored: &Scored) -> String {
    let results: Vec<Json> = scored
        .scores
        .iter()
        .map(|score| {
            serde_json::json!({
                "score": score,
                "model": scored.model,
                "version": scored.version,
                "fallback": scored.fallback.map(|reason| reason.as_str()),
            })
        })
        .collect();
    let mut body = serde_json::json!({ "request_id": id, "results": results });
    if let Some(detail) = &scored.detail {
        body["fallback_detail"] = Json::from(detail.as_str());
    }
    body.to_string()
}

async fn unknown_endpoint(request: Request) -> Response {
    let path: String = request.uri().path().chars().take(200).collect();
    error_response(&RequestError::NotFound(format!(
        "no endpoint {path}; this server has POST /v1/score/{{target}}, GET /v1/predictions/{{target}}?key=value, \
         POST /v2/models/{{target}}/infer, \
         GET /v2/models/{{target}}, POST /get-online-features, GET /health, /ready, /metrics"
    )))
}
