//! `GET /v1/predictions/{target}?{key}={value}`: the latest score a batch target stored for an
//! entity or row key (`user_id`, `txn_id`, ...), read from its `output` table. The index is
//! re-read when the table's Delta version moved (a listing of its log decides), at most once per
//! request.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use mlsys_batch::score::latest::{LatestError, LatestScores};
use mlsys_batch::store::OfflineStore;
use mlsys_serve::http::json_response;
use tokio::sync::Mutex;

use crate::deployment::{Deployment, error_chain};
use crate::error::RequestError;
use crate::http::error_response;

/// Every batch target's latest scores.
pub struct BatchPredictions {
    pub store: OfflineStore,
    pub targets: BTreeMap<String, Mutex<LatestScores>>,
}

impl std::fmt::Debug for BatchPredictions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchPredictions")
            .field("targets", &self.targets.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

pub async fn latest(
    State(deployment): State<Arc<Deployment>>,
    Path(name): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    match answer(&deployment, &name, query.as_deref().unwrap_or_default()).await {
        Ok(body) => json_response(StatusCode::OK, body),
        Err(error) => error_response(&error),
    }
}

async fn answer(deployment: &Deployment, name: &str, query: &str) -> Result<String, RequestError> {
    let predictions = deployment.predictions();
    let Some(scores) = predictions.and_then(|predictions| predictions.targets.get(name)) else {
        let known: Vec<&str> = predictions
            .map(|predictions| predictions.targets.keys().map(String::as_str).collect())
            .unwrap_or_default();
        return Err(RequestError::NotFound(format!(
            "no batch target `{}`; this server has: {}",
            name.chars().take(200).collect::<String>(),
            if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            }
        )));
    };
    let (column, value) = key_of(query)?;
    let mut scores = scores.lock().await;
    if let Some(predictions) = predictions {
        scores
            .refresh(&predictions.store)
            .await
            .map_err(|error| RequestError::Unavailable {
                target: name.to_string(),
                reason: crate::Reason::StoreUnavailable,
                detail: error_chain(&error),
            })?;
    }
    match scores.get(&column, &value) {
        Ok(Some(found)) => Ok(serde_json::json!({
            "target": name,
            "key": {column: value},
            "score": found.score,
            "model": &*found.model,
            "version": found.version,
            "scored_at": mlsys_serve::wire::format_timestamp(found.scored_at),
            "date": found.date,
        })
        .to_string()),
        Ok(None) => Err(RequestError::NotFound(format!(
            "no stored score of `{name}` for {column} = {value}"
        ))),
        Err(error @ LatestError::UnknownKey { .. }) => Err(RequestError::BadRequest(error.to_string())),
        Err(error) => Err(RequestError::BadRequest(error_chain(&error))),
    }
}

/// The one `key=value` pair of the query, percent-decoded.
fn key_of(query: &str) -> Result<(String, String), RequestError> {
    let pairs: Vec<&str> = query.split('&').filter(|pair| !pair.is_empty()).collect();
    let [pair] = pairs.as_slice() else {
        return Err(RequestError::BadRequest(
            "give exactly one key, as `?column=value` (for example `?user_id=user_00727`)".to_string(),
        ));
    };
    let (column, value) = pair.split_once('=').unwrap_or((pair, ""));
    Ok((decode(column)?, decode(value)?))
}

fn decode(text: &str) -> Result<String, RequestError> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        match bytes[index] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = text
                    .get(index + 1..index + 3)
                    .and_then(|hex| u8::from_str_radix(hex, 16).ok())
                    .ok_or_else(|| RequestError::BadRequest(format!("a malformed %-escape in `{text}`")))?;
                out.push(hex);
                index += 2;
            }
            byte => out.push(byte),
        }
        index += 1;
    }
    String::from_utf8(out).map_err(|_| RequestError::BadRequest(format!("`{text}` is not UTF-8")))
}
