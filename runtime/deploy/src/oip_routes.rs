//! The Open Inference Protocol v2 routes over the [`crate::oip`] codec: `GET /v2`,
//! `GET /v2/models/{target}`, `POST /v2/models/{target}/infer`. A target offers two outputs of
//! shape `[N]`: `score` (FP64) and `fallback` (BYTES: the reason the fallback answered, `""` when
//! the model did). `model_version` is the version that scored, or `fallback`.

use std::sync::Arc;

use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use mlsys_kernels::Value;
use mlsys_serve::http::{json_response, read_body};

use crate::deployment::{Deployment, ScoreRequest, error_chain};
use crate::error::RequestError;
use crate::http::{MAX_BODY_BYTES, MAX_ROWS, RequestId, error_response};
use crate::oip::{
    INFERENCE_HEADER_CONTENT_LENGTH, InputSpec, OutputData, OutputTensor, decode_infer, encode_infer_response,
    model_metadata_json, server_metadata_json,
};
use crate::target::Target;

const OUTPUTS: [(&str, &str); 2] = [("score", "FP64"), ("fallback", "BYTES")];

pub async fn server_metadata() -> Response {
    json_response(StatusCode::OK, server_metadata_json())
}

fn specs(target: &Target) -> Vec<InputSpec> {
    target
        .fields
        .iter()
        .map(|field| InputSpec {
            name: field.name.clone(),
            ty: field.ty,
            optional: field.optional,
        })
        .collect()
}

pub async fn model_metadata(State(deployment): State<Arc<Deployment>>, Path(name): Path<String>) -> Response {
    match deployment.target(&name) {
        Ok(target) => {
            let versions: Vec<String> = target
                .primary
                .current()
                .map(|model| model.version.to_string())
                .into_iter()
                .collect();
            let body = model_metadata_json(&target.name, &versions, "mlsys", &specs(target), &OUTPUTS);
            json_response(StatusCode::OK, body)
        }
        Err(error) => error_response(&error),
    }
}

pub async fn infer(State(deployment): State<Arc<Deployment>>, Path(name): Path<String>, request: Request) -> Response {
    let request_id = request
        .extensions()
        .get::<RequestId>()
        .map(|id| id.0.clone())
        .unwrap_or_default();
    let header_length = request
        .headers()
        .get(INFERENCE_HEADER_CONTENT_LENGTH)
        .map(|value| value.to_str().unwrap_or("not text").to_string());
    let result = async {
        let target = deployment.target(&name)?.clone();
        let body = read_body(request, MAX_BODY_BYTES)
            .await
            .map_err(RequestError::from_serve)?;
        let offered: Vec<&str> = OUTPUTS.iter().map(|(name, _)| *name).collect();
        let decoded = decode_infer(&body, header_length.as_deref(), &specs(&target), &offered, MAX_ROWS)
            .map_err(|error| RequestError::BadRequest(error_chain(&error)))?;
        let rows = decoded.rows;
        let columns = decoded
            .columns
            .into_iter()
            .map(|column| column.unwrap_or_else(|| vec![Value::Null; rows]))
            .collect();
        let id = decoded.id.clone().unwrap_or_else(|| request_id.clone());
        let scored = deployment
            .score(
                &target,
                ScoreRequest {
                    request_id: id,
                    columns,
                    rows,
                },
            )
            .await?;
        let outputs: Vec<OutputTensor> = decoded
            .outputs
            .iter()
            .map(|output| OutputTensor {
                name: output.clone(),
                data: if output == "score" {
                    OutputData::Fp64(scored.scores.clone())
                } else {
                    let reason = scored.fallback.map_or("", |reason| reason.as_str());
                    OutputData::Bytes(vec![reason.to_string(); rows])
                },
            })
            .collect();
        let version = scored
            .version
            .map_or_else(|| "fallback".to_string(), |version| version.to_string());
        Ok(encode_infer_response(
            &target.name,
            &version,
            decoded.id.as_deref(),
            &outputs,
            decoded.binary_output,
        ))
    }
    .await;
    match result {
        Ok(encoded) => {
            let mut response = (StatusCode::OK, encoded.body).into_response();
            let headers = response.headers_mut();
            if let Some(length) = encoded.inference_header_length {
                headers.insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/octet-stream"),
                );
                if let Ok(value) = HeaderValue::from_str(&length.to_string()) {
                    headers.insert(INFERENCE_HEADER_CONTENT_LENGTH, value);
                }
            } else {
                headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
            }
            response
        }
        Err(error) => error_response(&error),
    }
}
