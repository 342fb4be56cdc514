//! The HTTP edge: the axum [`router`] over a [`FeatureServer`], request timing, error bodies, and
//! [`serve`] with graceful shutdown on ctrl-c or SIGTERM, over the connection loop of
//! [`crate::listener`].
//!
//! Error bodies are `{"detail": "<message>", "kind": "<kind>"}`: `detail` is where FastAPI, and so
//! Feast's server, puts the message, so Feast clients show it; `kind` is the `mlsys_errors_total`
//! label.

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::{Body, HttpBody};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::net::TcpListener;

use crate::error::ServeError;
use crate::listener::{BodyError, ListenerConfig, serve_router};
use crate::server::FeatureServer;
use crate::wire::write_string;

const JSON: &str = "application/json";
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The routes: `POST /get-online-features`, `GET /health`, `GET /ready`, `GET /metrics`.
pub fn router(server: Arc<FeatureServer>) -> Router {
    Router::new()
        .route("/get-online-features", post(get_online_features))
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
        .fallback(unknown_endpoint)
        .layer(middleware::from_fn_with_state(server.clone(), time_request))
        .with_state(server)
}

/// `POST /get-online-features` alone, for a server that has its own `/health`, `/ready` and
/// `/metrics` (`mlsysc deploy`).
pub fn feature_routes(server: Arc<FeatureServer>) -> Router {
    Router::new()
        .route("/get-online-features", post(get_online_features))
        .with_state(server)
}

/// Serves until ctrl-c or SIGTERM, then finishes the requests in flight.
pub async fn serve(listener: TcpListener, server: Arc<FeatureServer>, config: ListenerConfig) -> io::Result<()> {
    serve_until(listener, server, config, shutdown_signal()).await
}

/// Serves until `shutdown` completes, then finishes the requests in flight. Connections are
/// bounded as [`ListenerConfig`] says.
pub async fn serve_until(
    listener: TcpListener,
    server: Arc<FeatureServer>,
    config: ListenerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    serve_router(listener, router(server), config, shutdown).await
}

/// Completes on ctrl-c or SIGTERM. A signal that cannot be listened to never completes (rather
/// than shutting the server down at once).
pub async fn shutdown_signal() {
    let interrupt = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}

async fn time_request(State(server): State<Arc<FeatureServer>>, request: Request, next: Next) -> Response {
    let endpoint = crate::metrics::endpoint_label(request.uri().path());
    let started = Instant::now();
    let response = next.run(request).await;
    server
        .metrics()
        .observe_request(endpoint, started.elapsed().as_secs_f64());
    response
}

pub fn json_response(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON));
    response
}

fn error_response(server: &FeatureServer, error: &ServeError) -> Response {
    server.metrics().count_error(error.kind());
    let mut body = String::from("{\"detail\":");
    write_string(&mut body, &error.to_string());
    body.push_str(",\"kind\":");
    write_string(&mut body, error.kind());
    body.push('}');
    let status = StatusCode::from_u16(error.status_code()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = json_response(status, body);
    if matches!(error, ServeError::RequestTimeout(_)) {
        // The rest of the body is not read: the connection cannot carry another request.
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

async fn get_online_features(State(server): State<Arc<FeatureServer>>, request: Request) -> Response {
    let limit = server.options().max_body_bytes;
    let result = match read_body(request, limit).await {
        Ok(body) => server.get_online_features(&body).await,
        Err(error) => Err(error),
    };
    match result {
        Ok(body) => json_response(StatusCode::OK, body),
        Err(error) => error_response(&server, &error),
    }
}

/// The request body, refused past `limit` bytes without reading the rest.
pub async fn read_body(request: Request, limit: usize) -> Result<Vec<u8>, ServeError> {
    let too_large = |size: &dyn std::fmt::Display| {
        ServeError::PayloadTooLarge(format!("request body of {size} bytes; at most {limit} are accepted"))
    };
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if let Some(declared) = declared
        && declared > limit as u64
    {
        return Err(too_large(&declared));
    }
    let body: Body = request.into_body();
    let mut bytes = Vec::with_capacity(declared.map_or(0, |size| size as usize));
    let mut body = std::pin::pin!(body);
    while let Some(frame) = std::future::poll_fn(|context| body.as_mut().poll_frame(context)).await {
        let frame = frame.map_err(body_error)?;
        if let Ok(data) = frame.into_data() {
            if bytes.len() + data.len() > limit {
                return Err(too_large(&format!("more than {limit}")));
            }
            bytes.extend_from_slice(&data);
        }
    }
    Ok(bytes)
}

/// A body that arrived too slowly is the client's timeout (408); anything else a bad request.
fn body_error(error: axum::Error) -> ServeError {
    let error = error.into_inner();
    match error.downcast_ref::<BodyError>() {
        Some(timed_out @ BodyError::TimedOut(_)) => ServeError::RequestTimeout(timed_out.to_string()),
        _ => ServeError::bad_request(format!("cannot read the request body: {error}")),
    }
}

async fn health() -> Response {
    json_response(StatusCode::OK, "{\"status\":\"ok\"}".to_string())
}

async fn ready(State(server): State<Arc<FeatureServer>>) -> Response {
    let readiness = server.readiness().await;
    let status = if readiness.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    json_response(status, readiness.body)
}

async fn metrics(State(server): State<Arc<FeatureServer>>) -> Response {
    let mut response = (StatusCode::OK, server.metrics().encode()).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(OPENMETRICS));
    response
}

async fn unknown_endpoint(request: Request) -> Response {
    let mut body = String::from("{\"detail\":");
    let path: String = request.uri().path().chars().take(200).collect();
    write_string(
        &mut body,
        &format!("no endpoint {path}; this server has POST /get-online-features, GET /health, /ready, /metrics"),
    );
    body.push_str(",\"kind\":\"not_found\"}");
    json_response(StatusCode::NOT_FOUND, body)
}
