//! [`Deployment`]: the realtime targets of one plan over one feature server, and the request
//! flow from a request's typed fields to its scores, independent of HTTP.
//!
//! One path per request: the fields → the model's feature set (the feature server's store
//! lookup and compiled function, exactly as `/get-online-features` answers a feature service) →
//! the version the target's slot holds when the request starts (kept to the end, whatever a hot
//! swap does meanwhile) → the scores. When the deadline passes, the store cannot be read, no
//! version is loaded or the model fails, the fallback answers every row of the request and the
//! response says why; without a fallback the request is refused (503) with the reason.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mlsys_compiler::plan::Plan;
use mlsys_kernels::Value;
use mlsys_serve::{FeatureServer, ServeError};

use crate::batcher::{BatchError, Batcher};
use crate::error::{Reason, RequestError};
use crate::log::{Features, PredictionRecord, PredictionSink};
use crate::metrics::DeployMetrics;
use crate::model::LoadedModel;
use crate::predictions::BatchPredictions;
use crate::shadow::{ShadowJob, ShadowQueue};
use crate::target::Target;

/// Limits of the deploy server.
#[derive(Clone, Debug)]
pub struct DeployOptions {
    /// Requests scored at once per target; more are refused with 503 and `Retry-After`.
    pub max_in_flight: usize,
    /// How often the registry is read for stage changes (the hot-swap bound is this plus the
    /// time to load the new version).
    pub registry_poll: Duration,
    /// Shadow requests waiting to be scored, per deployment; beyond it they are dropped and
    /// counted.
    pub shadow_queue: usize,
    /// ONNX Runtime's intra-op threads per scoring call of an ONNX version. 1 by default: a
    /// server scores many requests at once, each best on one thread.
    pub onnx_threads: usize,
}

impl Default for DeployOptions {
    fn default() -> DeployOptions {
        DeployOptions {
            max_in_flight: 1024,
            registry_poll: Duration::from_millis(250),
            shadow_queue: 10_000,
            onnx_threads: 1,
        }
    }
}

/// A request to score: one value per row for each of the target's fields (`Target::fields`, in
/// order; an absent optional time as nulls).
#[derive(Debug)]
pub struct ScoreRequest {
    pub request_id: String,
    pub columns: Vec<Vec<Value>>,
    pub rows: usize,
}

/// The answer: one score per row, and who gave it.
#[derive(Clone, Debug, PartialEq)]
pub struct Scored {
    pub scores: Vec<f64>,
    pub model: String,
    /// The version that scored; `None` when the fallback answered.
    pub version: Option<u32>,
    pub fallback: Option<Reason>,
    /// Why the fallback answered, in words (also logged).
    pub detail: Option<String>,
}

/// Why the model path gave no scores.
struct Failure {
    reason: Reason,
    detail: String,
}

/// The model path's result: the inputs it computed (for the log and the shadow) and the scores.
type Attempt = Result<(Arc<LoadedModel>, Vec<f64>, Vec<f64>), Result<Failure, RequestError>>;

/// Every realtime target of a plan, ready to score.
pub struct Deployment {
    plan: Arc<Plan>,
    features: Arc<FeatureServer>,
    targets: BTreeMap<String, Arc<Target>>,
    batchers: BTreeMap<String, Batcher>,
    metrics: Arc<DeployMetrics>,
    shadow: Option<ShadowQueue>,
    log: Option<Arc<dyn PredictionSink>>,
    predictions: Option<BatchPredictions>,
    freshness: Arc<crate::freshness::Freshness>,
}

impl std::fmt::Debug for Deployment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deployment")
            .field("targets", &self.targets.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Deployment {
    /// Starts batching and shadow tasks on the current runtime. Models are loaded by the
    /// registry watch ([`crate::watch`]).
    pub fn new(
        features: Arc<FeatureServer>,
        targets: Vec<Target>,
        options: &DeployOptions,
        log: Option<Arc<dyn PredictionSink>>,
    ) -> Deployment {
        let metrics = Arc::new(DeployMetrics::new());
        let mut batchers = BTreeMap::new();
        for target in &targets {
            if let Some(batching) = target.batching {
                let wait = Duration::from_micros(batching.max_wait_micros.max(0) as u64);
                let (name, metrics) = (target.name.clone(), metrics.clone());
                let observe = Arc::new(move |rows| metrics.observe_batch(&name, rows));
                let (permits, limit) = (target.in_flight.clone(), target.in_flight_limit());
                let in_flight = Arc::new(move || limit.saturating_sub(permits.available_permits()));
                batchers.insert(
                    target.name.clone(),
                    Batcher::start(batching.max_size, wait, observe, in_flight),
                );
            }
        }
        let shadow = targets
            .iter()
            .any(|target| target.shadow.is_some())
            .then(|| ShadowQueue::start(options.shadow_queue, features.clone(), log.clone()));
        Deployment {
            plan: features.plan().clone(),
            features,
            targets: targets
                .into_iter()
                .map(|target| (target.name.clone(), Arc::new(target)))
                .collect(),
            batchers,
            metrics,
            shadow,
            log,
            predictions: None,
            freshness: Arc::default(),
        }
    }

    /// Serves the batch targets' stored scores too (`GET /v1/predictions/{target}`).
    pub fn with_predictions(mut self, predictions: BatchPredictions) -> Deployment {
        self.predictions = Some(predictions);
        self
    }

    pub fn predictions(&self) -> Option<&BatchPredictions> {
        self.predictions.as_ref()
    }

    pub fn plan(&self) -> &Arc<Plan> {
        &self.plan
    }

    pub fn features(&self) -> &Arc<FeatureServer> {
        &self.features
    }

    pub fn metrics(&self) -> &Arc<DeployMetrics> {
        &self.metrics
    }

    /// The served groups' freshness, as the feature refresh sets it.
    pub fn freshness(&self) -> &Arc<crate::freshness::Freshness> {
        &self.freshness
    }

    /// Every metric of the deployment as OpenMetrics text: the feature server's, the targets',
    /// the prediction log's.
    pub fn encode_metrics(&self) -> String {
        let mut text = self.features.metrics().encode_body();
        text.push_str(&self.metrics.encode_body());
        if let Some(log) = &self.log {
            text.push_str(&log.encode_metrics());
        }
        text.push_str("# EOF\n");
        text
    }

    pub fn targets(&self) -> impl Iterator<Item = &Arc<Target>> {
        self.targets.values()
    }

    pub fn target(&self, name: &str) -> Result<&Arc<Target>, RequestError> {
        self.targets.get(name).ok_or_else(|| {
            let known: Vec<&str> = self.targets.keys().map(String::as_str).collect();
            RequestError::NotFound(format!(
                "no realtime target `{}`; this server has: {}",
                name.chars().take(200).collect::<String>(),
                known.join(", ")
            ))
        })
    }

    /// Whether every target can answer (a loaded model, or a fallback).
    pub fn is_ready(&self) -> bool {
        self.targets.values().all(|target| target.is_ready())
    }

    /// After the server stopped taking requests: waits (at most 10 s) for the shadow scores of
    /// the requests answered, so that their records reach the log.
    pub async fn drain(&self) {
        if let Some(shadow) = &self.shadow {
            shadow.drain(Duration::from_secs(10)).await;
        }
    }

    /// Scores a request on `target`: see the module docs.
    pub async fn score(&self, target: &Arc<Target>, request: ScoreRequest) -> Result<Scored, RequestError> {
        let Ok(_permit) = target.in_flight.clone().try_acquire_owned() else {
            self.metrics.count_overloaded(&target.name);
            return Err(RequestError::Overloaded {
                target: target.name.clone(),
                limit: target.in_flight_limit(),
            });
        };
        let started = Instant::now();
        let now = mlsys_serve::server::now_micros();
        let attempt = self.attempt(target, &request, now);
        let attempt = match target.timeout {
            Some(timeout) => tokio::time::timeout(timeout, attempt).await.unwrap_or_else(|_| {
                Err(Ok(Failure {
                    reason: Reason::Timeout,
                    detail: format!("not scored within {} µs", timeout.as_micros()),
                }))
            }),
            None => attempt.await,
        };
        let result = match attempt {
            Ok((model, inputs, scores)) => {
                let scored = Scored {
                    scores,
                    model: model.model.clone(),
                    version: Some(model.version),
                    fallback: None,
                    detail: None,
                };
                self.record(target, &request, now, started, &scored, Some(inputs));
                Ok(scored)
            }
            Err(Ok(failure)) => self.fall_back(target, &request, failure, now, started),
            Err(Err(error)) => Err(error),
        };
        self.metrics
            .observe_latency(&target.name, started.elapsed().as_secs_f64());
        result
    }

    /// Features, then the model.
    async fn attempt(&self, target: &Target, request: &ScoreRequest, now: i64) -> Attempt {
        let feature_fields = target.features.fields.len();
        let inputs = self
            .features
            .service_inputs(&target.features, &request.columns[..feature_fields], request.rows, now)
            .await
            .map_err(feature_failure)?;
        let Some(model) = target.primary.current() else {
            return Err(Ok(Failure {
                reason: Reason::NoModel,
                detail: target
                    .primary
                    .problem()
                    .unwrap_or_else(|| format!("no version of {} at {}", target.model, target.stage)),
            }));
        };
        let scores = match self.batchers.get(&target.name) {
            Some(batcher) => batcher.score(model.clone(), inputs.clone(), request.rows).await,
            None if model.is_onnx() => {
                let (model, inputs, rows) = (model.clone(), inputs.clone(), request.rows);
                tokio::task::spawn_blocking(move || model.score(&inputs, rows))
                    .await
                    .map_err(|_| BatchError::Stopped)
                    .and_then(|scored| scored.map_err(|error| BatchError::Score(Arc::new(error))))
            }
            None => model
                .score(&inputs, request.rows)
                .map_err(|error| BatchError::Score(Arc::new(error))),
        };
        let scores = scores.map_err(|error| {
            Ok(Failure {
                reason: Reason::ModelError,
                detail: error_chain(&error),
            })
        })?;
        Ok((model, inputs, scores))
    }

    fn fall_back(
        &self,
        target: &Arc<Target>,
        request: &ScoreRequest,
        failure: Failure,
        now: i64,
        started: Instant,
    ) -> Result<Scored, RequestError> {
        self.metrics.count_fallback(&target.name, failure.reason.as_str());
        let unavailable = |detail: String| RequestError::Unavailable {
            target: target.name.clone(),
            reason: failure.reason,
            detail,
        };
        let Some(fallback) = &target.fallback else {
            return Err(unavailable(failure.detail));
        };
        let scores = (0..request.rows)
            .map(|row| fallback.evaluate(&self.plan, &request.columns, row))
            .collect::<Result<Vec<f64>, _>>()
            .map_err(|error| unavailable(format!("{}; and {}", failure.detail, error_chain(&error))))?;
        let scored = Scored {
            scores,
            model: target.model.clone(),
            version: None,
            fallback: Some(failure.reason),
            detail: Some(failure.detail),
        };
        self.record(target, request, now, started, &scored, None);
        Ok(scored)
    }

    /// Appends the request to the prediction log, through the shadow queue when the target has
    /// a shadow (so both scores land in one record).
    fn record(
        &self,
        target: &Arc<Target>,
        request: &ScoreRequest,
        now: i64,
        started: Instant,
        scored: &Scored,
        inputs: Option<Vec<f64>>,
    ) {
        self.metrics.count_scored(&target.name, request.rows);
        let width = target.inputs.len();
        let mut records: Vec<PredictionRecord> = Vec::with_capacity(request.rows);
        for row in 0..request.rows {
            let features = match &inputs {
                Some(inputs) => Features::new(
                    target.input_names.clone(),
                    inputs[row * width..(row + 1) * width].to_vec(),
                ),
                None => Features::new(Arc::from(Vec::<String>::new()), Vec::new()),
            };
            // Names and values come from the same feature set: their counts agree.
            let Ok(features) = features else { continue };
            records.push(PredictionRecord {
                request_id: request.request_id.clone(),
                time: now,
                example_time: target.example_time(&request.columns, row, now),
                label_key: target.label_key(&request.columns, row),
                model: scored.model.clone(),
                version: scored.version.map(i64::from),
                features,
                score: scored.scores[row],
                shadow_version: None,
                shadow_score: None,
                fallback: scored.fallback,
                latency_seconds: started.elapsed().as_secs_f64(),
            });
        }
        // Through the shadow queue only when a shadow version can score the rows: otherwise the
        // records go to the log as they are, without copying the request's columns.
        let shadow = self
            .shadow
            .as_ref()
            .filter(|_| inputs.is_some() && target.shadow_slot.current().is_some());
        let Some(shadow) = shadow else {
            if let Some(log) = &self.log {
                log.append(&target.name, records);
            }
            return;
        };
        let job = ShadowJob {
            target: target.clone(),
            records,
            columns: request.columns.clone(),
            rows: request.rows,
            now,
        };
        if let Err(job) = shadow.submit(job) {
            self.metrics.count_shadow_dropped(&target.name);
            if let Some(log) = &self.log {
                log.append(&target.name, job.records);
            }
        }
    }
}

/// A feature-side error: the client's (400/404/413) or the store's (a fallback reason).
fn feature_failure(error: ServeError) -> Result<Failure, RequestError> {
    match error {
        ServeError::StoreUnavailable(_) | ServeError::NeverMaterialized(_) | ServeError::NotMaterialized(_) => {
            Ok(Failure {
                reason: Reason::StoreUnavailable,
                detail: error.to_string(),
            })
        }
        ServeError::Internal(_) => Ok(Failure {
            reason: Reason::StoreUnavailable,
            detail: format!("the stored features cannot be read: {error}"),
        }),
        other => Err(RequestError::from_serve(other)),
    }
}

/// An error and its causes on one line.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
