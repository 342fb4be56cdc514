//! `mlsysc replay`: a period of a realtime target's examples sent to a running `deploy` as
//! traffic, to exercise serving, the prediction log and monitoring end to end on real rows.
//!
//! The rows are the processed rows `mlsysc build` ingested (the offline store's processed zone,
//! read by [`processed_rows_of_days`], as training sets and batch scoring read them) whose
//! timestamp falls on the given UTC days, in time order. Each is sent with exactly the target's
//! request fields ([`request_fields`], what `deploy` decodes requests by), its own timestamp
//! included, so every row is scored point in time as of when it happened. A request never spans
//! two days; its `X-Request-Id` names its rows: `replay-<source>-<day>-<index>` with the row's
//! 0-based position among that day's rows (`-<first>-<last>` when a request carries several), so
//! a replay can be found in the prediction log and is the same on every run.
//!
//! Pacing: request `n` is not sent before `start + rows before it / rate`; at most `concurrency`
//! requests are in flight, each on its own keep-alive connection ([`crate::client`]). Rows are
//! read as they are sent (a bounded queue between the reader and the senders), so a replay of
//! months holds a few batches in memory.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::compute::cast;
use datafusion::physical_plan::SendableRecordBatchStream;
use mlsys_batch::convert::{arrow_type, value_at};
use mlsys_batch::error::BatchError;
use mlsys_batch::features::entity::next_batch;
use mlsys_batch::features::output::{date_text, day_of};
use mlsys_batch::store::OfflineStore;
use mlsys_batch::training::split::processed_rows_of_days;
use mlsys_compiler::plan::{ColumnIndex, DateRange, Plan, ServeMode, SourceId};
use mlsys_jit::JitCache;
use mlsys_kernels::Value;
use mlsys_serve::ServeError;
use mlsys_serve::feature_set::FeatureSet;
use mlsys_serve::wire::{write_string, write_value};
use tokio::sync::mpsc;

use crate::client::{ClientError, Connection};
use crate::deployment::error_chain;
use crate::target::{RequestField, request_fields};

/// Attempts to reach the server before a replay gives up, and the pause after the first one
/// (doubled after each, at most [`MAX_PAUSE`]): about 10 s in all.
const CONNECT_ATTEMPTS: u32 = 8;
const FIRST_PAUSE: Duration = Duration::from_millis(100);
const MAX_PAUSE: Duration = Duration::from_secs(2);
/// A request not answered within this long counts as failed.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a replay could not run.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("no realtime serve target `{name}`{}", realtime_list(.known))]
    UnknownTarget { name: String, known: Vec<String> },
    #[error(
        "serve target `{name}` is a batch target (`mode = batch`); `mlsysc score {name}` scores its examples of some days"
    )]
    BatchTarget { name: String },
    #[error("the examples source `{source_name}` of target `{target}` has no timestamp column to replay its days by")]
    NoTimestamp { target: String, source_name: String },
    #[error("serve target `{target}`: its model's request fields cannot be planned")]
    Features {
        target: String,
        #[source]
        error: ServeError,
    },
    #[error("`{url}` is not a URL replay can send to: {problem}")]
    Url { url: String, problem: String },
    #[error(
        "no processed rows of source `{source_name}` on {from} .. {to}; `mlsysc build` ingests the raw files into the offline store"
    )]
    NoRows {
        source_name: String,
        from: String,
        to: String,
    },
    #[error(
        "cannot reach the deploy server at {url} ({attempts} attempts over {seconds:.1} s); is `mlsysc deploy` running there?"
    )]
    Unreachable {
        url: String,
        attempts: u32,
        seconds: f64,
        #[source]
        error: ClientError,
    },
    #[error("reading the processed rows")]
    Read(#[from] BatchError),
}

fn realtime_list(known: &[String]) -> String {
    if known.is_empty() {
        "; the project declares no realtime serve target".to_string()
    } else {
        format!("; realtime targets: {}", known.join(", "))
    }
}

/// Where a replay sends: the server's address and the path prefix before `/v1/score/...`.
#[derive(Clone, Debug)]
pub struct Endpoint {
    pub url: String,
    pub address: SocketAddr,
    pub prefix: String,
}

impl Endpoint {
    /// `http://HOST[:PORT][/PREFIX]` (port 80 by default), the host resolved now.
    pub async fn resolve(url: &str) -> Result<Endpoint, ReplayError> {
        let problem = |problem: &str| ReplayError::Url {
            url: url.to_string(),
            problem: problem.to_string(),
        };
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| problem("only http:// is supported"))?;
        let (authority, prefix) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        if authority.is_empty() {
            return Err(problem("no host"));
        }
        let has_port = authority.rsplit_once(':').is_some_and(|(_, port)| !port.contains(']'));
        let host_port = if has_port {
            authority.to_string()
        } else {
            format!("{authority}:80")
        };
        let address = tokio::net::lookup_host(host_port.as_str())
            .await
            .map_err(|error| problem(&error.to_string()))?
            .next()
            .ok_or_else(|| problem("the host has no address"))?;
        Ok(Endpoint {
            url: url.to_string(),
            address,
            prefix: prefix.trim_end_matches('/').to_string(),
        })
    }
}

/// How to send.
#[derive(Clone, Debug)]
pub struct ReplayOptions {
    /// Rows per second overall; `None`: as fast as the server answers.
    pub rate: Option<f64>,
    /// Requests in flight (at least 1).
    pub concurrency: usize,
    /// Rows per request (at least 1).
    pub rows_per_request: usize,
}

/// A realtime target's examples source and request fields, planned for a replay.
#[derive(Debug)]
pub struct ReplayTarget<'a> {
    pub plan: &'a Plan,
    pub name: String,
    pub source: SourceId,
    pub timestamp: ColumnIndex,
    pub fields: Vec<RequestField>,
}

impl<'a> ReplayTarget<'a> {
    /// The realtime target `name` of `plan`, its request fields planned as `deploy` plans them
    /// (the feature sets compiled here, without a store).
    pub fn new(plan: &'a Plan, name: &str) -> Result<ReplayTarget<'a>, ReplayError> {
        let Some((id, serve)) = plan.serves.iter().find(|(_, serve)| serve.name == name) else {
            let known = plan
                .serves
                .values()
                .filter(|serve| serve.mode == ServeMode::Realtime)
                .map(|serve| serve.name.clone())
                .collect();
            return Err(ReplayError::UnknownTarget {
                name: name.to_string(),
                known,
            });
        };
        if serve.mode != ServeMode::Realtime {
            return Err(ReplayError::BatchTarget { name: name.to_string() });
        }
        let model = &plan.models[serve.model.model];
        let source = &plan.sources[model.examples];
        let timestamp = source.timestamp.ok_or_else(|| ReplayError::NoTimestamp {
            target: name.to_string(),
            source_name: source.name.clone(),
        })?;
        let jit = JitCache::new();
        let service = |model: &str| {
            FeatureSet::service(plan, model, &jit).map_err(|error| ReplayError::Features {
                target: name.to_string(),
                error,
            })
        };
        let set = service(&model.name)?;
        let shadow = match serve.shadow {
            Some(shadow) => Some(service(&plan.models[shadow.model].name)?),
            None => None,
        };
        let fields = request_fields(plan, id, &set, shadow.as_ref()).fields;
        Ok(ReplayTarget {
            plan,
            name: name.to_string(),
            source: model.examples,
            timestamp,
            fields,
        })
    }

    fn source_name(&self) -> &str {
        &self.plan.sources[self.source].name
    }
}

/// A request's failure, by status (`connection` when no answer came).
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Failures {
    pub requests: u64,
    pub rows: u64,
    /// The first failure's message.
    pub message: String,
}

/// What a replay sent and got, so far or in the end.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct ReplayReport {
    pub target: String,
    pub from: String,
    pub to: String,
    /// Requests sent.
    pub requests: u64,
    pub rows_sent: u64,
    /// Rows of answered (200) requests, model or fallback.
    pub rows_answered: u64,
    /// Answered rows the fallback scored, by reason.
    pub fallbacks: BTreeMap<String, u64>,
    pub rows_failed: u64,
    /// Failed requests by HTTP status, or `connection`/`timeout` when none came.
    pub failed: BTreeMap<String, Failures>,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub seconds: f64,
    pub rows_per_second: f64,
    #[serde(skip)]
    latencies: Vec<Duration>,
}

impl ReplayReport {
    fn fail(&mut self, status: String, rows: u64, message: String) {
        self.rows_failed += rows;
        let failures = self.failed.entry(status).or_default();
        failures.requests += 1;
        failures.rows += rows;
        if failures.message.is_empty() {
            failures.message = message;
        }
    }

    /// The latency quantiles and rate, from what was recorded.
    fn finish(&mut self, elapsed: Duration) {
        self.latencies.sort_unstable();
        let quantile = |q: f64| {
            let n = self.latencies.len();
            let rank = ((q * n as f64).ceil() as usize).clamp(1, n.max(1)) - 1;
            self.latencies.get(rank).map(|latency| latency.as_secs_f64() * 1e3)
        };
        (self.p50_ms, self.p99_ms) = (quantile(0.50), quantile(0.99));
        self.seconds = elapsed.as_secs_f64();
        self.rows_per_second = if self.seconds > 0.0 {
            self.rows_sent as f64 / self.seconds
        } else {
            0.0
        };
    }
}

/// One request to send.
struct Job {
    id: String,
    body: Vec<u8>,
    rows: u64,
    /// Not before this time (the rate).
    due: Option<Instant>,
}

/// Replays the rows of `days` to `endpoint`; `progress` is called about once a second with the
/// report so far. Failed requests are in the report, not an error.
pub async fn replay(
    target: &ReplayTarget<'_>,
    store: &OfflineStore,
    days: DateRange,
    endpoint: &Endpoint,
    options: &ReplayOptions,
    progress: &(dyn Fn(&ReplayReport) + Sync),
) -> Result<ReplayReport, ReplayError> {
    let (from, to) = (date_text(days.start), date_text(days.end));
    let no_rows = || ReplayError::NoRows {
        source_name: target.source_name().to_string(),
        from: from.clone(),
        to: to.clone(),
    };
    let mut stream = processed_rows_of_days(store, target.plan, target.source, target.timestamp, days)
        .await?
        .ok_or_else(no_rows)?;
    let first = first_rows(&mut stream).await?.ok_or_else(no_rows)?;
    let connection = connect(endpoint).await?;
    let report = Arc::new(Mutex::new(ReplayReport {
        target: target.name.clone(),
        from,
        to,
        ..ReplayReport::default()
    }));
    let started = Instant::now();
    let (sender, receiver) = mpsc::channel::<Job>(options.concurrency.max(1) * 2);
    let receiver = Arc::new(tokio::sync::Mutex::new(receiver));
    let mut senders = tokio::task::JoinSet::new();
    let mut first_connection = Some(connection);
    for _ in 0..options.concurrency.max(1) {
        let worker = Worker {
            endpoint: endpoint.clone(),
            path: format!("{}/v1/score/{}", endpoint.prefix, target.name),
            connection: first_connection.take(),
            report: report.clone(),
        };
        senders.spawn(worker.run(receiver.clone()));
    }
    let reading = read_jobs(target, first, stream, options, started, sender);
    let reading = run_with_progress(reading, &report, progress).await;
    while senders.join_next().await.is_some() {}
    reading?;
    let mut report = take(&report);
    report.finish(started.elapsed());
    Ok(report)
}

/// Awaits `work`, calling `progress` with the report each second meanwhile.
async fn run_with_progress<T>(
    work: impl Future<Output = T>,
    report: &Mutex<ReplayReport>,
    progress: &(dyn Fn(&ReplayReport) + Sync),
) -> T {
    let mut work = std::pin::pin!(work);
    let mut ticks = tokio::time::interval(Duration::from_secs(1));
    ticks.tick().await;
    loop {
        tokio::select! {
            done = &mut work => return done,
            _ = ticks.tick() => progress(&report.lock().unwrap_or_else(PoisonError::into_inner)),
        }
    }
}

fn take(report: &Mutex<ReplayReport>) -> ReplayReport {
    std::mem::take(&mut *report.lock().unwrap_or_else(PoisonError::into_inner))
}

/// The first batch with rows, or `None` when there are no rows.
async fn first_rows(stream: &mut SendableRecordBatchStream) -> Result<Option<RecordBatch>, BatchError> {
    while let Some(batch) = next_batch(stream).await? {
        if batch.num_rows() > 0 {
            return Ok(Some(batch));
        }
    }
    Ok(None)
}

/// A first connection, retried with growing pauses while the server cannot be reached.
async fn connect(endpoint: &Endpoint) -> Result<Connection, ReplayError> {
    let started = Instant::now();
    let mut pause = FIRST_PAUSE;
    let mut attempt = 1;
    loop {
        match Connection::connect(endpoint.address).await {
            Ok(connection) => return Ok(connection),
            Err(error) if attempt >= CONNECT_ATTEMPTS => {
                return Err(ReplayError::Unreachable {
                    url: endpoint.url.clone(),
                    attempts: attempt,
                    seconds: started.elapsed().as_secs_f64(),
                    error,
                });
            }
            Err(_) => {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(MAX_PAUSE);
                attempt += 1;
            }
        }
    }
}

/// Cuts the rows into requests (never across days) and queues them, paced by the rate.
async fn read_jobs(
    target: &ReplayTarget<'_>,
    first: RecordBatch,
    mut stream: SendableRecordBatchStream,
    options: &ReplayOptions,
    started: Instant,
    sender: mpsc::Sender<Job>,
) -> Result<(), ReplayError> {
    let mut requests = Requests {
        source: target.source_name().to_string(),
        per_request: options.rows_per_request.max(1),
        rate: options.rate.filter(|rate| *rate > 0.0),
        started,
        sender,
        day: None,
        index: 0,
        rows: Vec::new(),
        rows_before: 0,
    };
    let mut batch = Some(first);
    while let Some(rows) = batch {
        for (time, row) in encode_rows(target, &rows)? {
            if !requests.push(day_of(time), row).await {
                return Ok(()); // every sender stopped
            }
        }
        batch = next_batch(&mut stream).await?;
    }
    requests.flush().await;
    Ok(())
}

/// Each row of `batch` as (its timestamp, its JSON object of request fields); rows without a
/// timestamp (none in a processed zone filtered by time) are skipped.
fn encode_rows(target: &ReplayTarget<'_>, batch: &RecordBatch) -> Result<Vec<(i64, String)>, BatchError> {
    let timestamp_name = &target.plan.sources[target.source].columns[target.timestamp as usize].name;
    let mut columns = Vec::with_capacity(target.fields.len());
    for field in &target.fields {
        let array = batch
            .column_by_name(&field.name)
            .ok_or_else(|| BatchError::MissingColumn {
                rows: "the processed rows".to_string(),
                column: field.name.clone(),
            })?;
        columns.push(cast(array, &arrow_type(field.ty.base))?);
    }
    let times = batch
        .column_by_name(timestamp_name)
        .ok_or_else(|| BatchError::MissingColumn {
            rows: "the processed rows".to_string(),
            column: timestamp_name.clone(),
        })?;
    let times = cast(times, &arrow_type(mlsys_compiler::types::BaseType::Timestamp))?;
    let mut rows = Vec::with_capacity(batch.num_rows());
    for row in 0..batch.num_rows() {
        let Value::Timestamp(time) = value_at(&times, row, mlsys_compiler::types::BaseType::Timestamp) else {
            continue;
        };
        let mut json = String::from("{");
        for (index, (field, array)) in target.fields.iter().zip(&columns).enumerate() {
            if index > 0 {
                json.push(',');
            }
            write_string(&mut json, &field.name);
            json.push(':');
            write_value(&mut json, &value_at(array, row, field.ty.base));
        }
        json.push('}');
        rows.push((time, json));
    }
    Ok(rows)
}

/// The request being filled.
struct Requests {
    source: String,
    per_request: usize,
    rate: Option<f64>,
    started: Instant,
    sender: mpsc::Sender<Job>,
    /// The day of the rows being gathered, and the next row's index in it.
    day: Option<i32>,
    index: u64,
    rows: Vec<String>,
    rows_before: u64,
}

impl Requests {
    /// Adds a row of `day`; false when no sender takes requests any more.
    async fn push(&mut self, day: i32, row: String) -> bool {
        if self.day != Some(day) {
            if !self.flush().await {
                return false;
            }
            (self.day, self.index) = (Some(day), 0);
        }
        self.rows.push(row);
        self.rows.len() < self.per_request || self.flush().await
    }

    /// Queues the gathered rows as one request.
    async fn flush(&mut self) -> bool {
        let (Some(day), false) = (self.day, self.rows.is_empty()) else {
            return true;
        };
        let count = self.rows.len() as u64;
        let first = self.index;
        let id = if count == 1 {
            format!("replay-{}-{}-{first:06}", self.source, date_text(day))
        } else {
            format!(
                "replay-{}-{}-{first:06}-{:06}",
                self.source,
                date_text(day),
                first + count - 1
            )
        };
        let body = format!("{{\"rows\":[{}]}}", self.rows.join(",")).into_bytes();
        let due = self
            .rate
            .map(|rate| self.started + Duration::from_secs_f64(self.rows_before as f64 / rate));
        self.rows.clear();
        self.index += count;
        self.rows_before += count;
        let job = Job {
            id,
            body,
            rows: count,
            due,
        };
        self.sender.send(job).await.is_ok()
    }
}

/// One sender: takes requests from the queue in order, each on its keep-alive connection.
struct Worker {
    endpoint: Endpoint,
    path: String,
    connection: Option<Connection>,
    report: Arc<Mutex<ReplayReport>>,
}

impl Worker {
    async fn run(mut self, queue: Arc<tokio::sync::Mutex<mpsc::Receiver<Job>>>) {
        loop {
            let job = queue.lock().await.recv().await;
            let Some(job) = job else { return };
            if let Some(due) = job.due {
                tokio::time::sleep_until(due.into()).await;
            }
            self.record(|report| {
                report.requests += 1;
                report.rows_sent += job.rows;
            });
            let sent = Instant::now();
            let outcome = tokio::time::timeout(REQUEST_TIMEOUT, self.send(&job)).await;
            let latency = sent.elapsed();
            match outcome {
                Ok(Ok((status, body))) => self.answered(&job, status, &body, latency),
                Ok(Err(error)) => {
                    self.connection = None;
                    let message = error_chain(&error);
                    self.record(|report| report.fail("connection".into(), job.rows, message));
                }
                Err(_) => {
                    self.connection = None;
                    let message = format!("no answer within {} s", REQUEST_TIMEOUT.as_secs());
                    self.record(|report| report.fail("timeout".into(), job.rows, message));
                }
            }
        }
    }

    /// Sends on the kept-alive connection; once more on a new one when the kept one was closed
    /// by the server before answering (an idle connection closed between slow-paced requests).
    async fn send(&mut self, job: &Job) -> Result<(u16, Vec<u8>), ClientError> {
        let headers = [("X-Request-Id", job.id.as_str())];
        if let Some(connection) = self.connection.as_mut().filter(|connection| !connection.is_closing()) {
            match connection.post(&self.path, &headers, &job.body).await {
                Ok(answer) => return Ok((answer.status, answer.body)),
                Err(ClientError::Closed | ClientError::Send(_)) => {}
                Err(error) => return Err(error),
            }
        }
        self.connection = None;
        let connection = self
            .connection
            .insert(Connection::connect(self.endpoint.address).await?);
        let answer = connection.post(&self.path, &headers, &job.body).await?;
        Ok((answer.status, answer.body))
    }

    fn answered(&self, job: &Job, status: u16, body: &[u8], latency: Duration) {
        let json: serde_json::Value = serde_json::from_slice(body).unwrap_or(serde_json::Value::Null);
        if status != 200 {
            let message = json["error"]
                .as_str()
                .map_or_else(|| String::from_utf8_lossy(body).into_owned(), str::to_string);
            self.record(|report| report.fail(status.to_string(), job.rows, message));
            return;
        }
        let results = json["results"].as_array().map_or(&[][..], Vec::as_slice);
        self.record(|report| {
            report.rows_answered += results.len() as u64;
            report.latencies.push(latency);
            for reason in results.iter().filter_map(|result| result["fallback"].as_str()) {
                *report.fallbacks.entry(reason.to_string()).or_default() += 1;
            }
        });
    }

    fn record(&self, change: impl FnOnce(&mut ReplayReport)) {
        change(&mut self.report.lock().unwrap_or_else(PoisonError::into_inner));
    }
}
