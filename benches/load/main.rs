//! A closed-loop HTTP/1.1 load generator for `benches/serving_vs_feast_mlserver.py`.
//!
//! One keep-alive connection per concurrent caller, all on one thread (tokio's current-thread
//! runtime), so the client fits on one pinned core. Each caller sends one row per request, waits for
//! the answer and sends the next; latency is from the first byte written to the last byte read.
//! Requests during the warmup are sent but not counted.
//!
//! Two ways to score a row:
//! - `mlsys`: one `POST /v1/score/{target}` to `mlsysc deploy` (store lookup, features and model
//!   in the server).
//! - `peer`: what a team's service does with Feast and MLServer: `POST /get-online-features` to
//!   Feast's feature server for the user's aggregates, the row-level signals computed here (the
//!   same definitions as `txn_signals@v2`), then `POST /v2/models/{model}/infer` to MLServer.
//!
//! Usage: `serve_load mlsys|peer ROWS.json CONCURRENCY WARMUP_S DURATION_S ADDR [ADDR2] [NAME]`
//! (for `mlsys`, ADDR is the deploy server and NAME the target; for `peer`, ADDR is Feast, ADDR2
//! MLServer and NAME the MLServer model). Prints one JSON object of figures on stdout.

use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use mlsys_deploy::client::{ClientError, Connection};
use serde_json::{Value, json};

/// The user_activity@v1 aggregates the peer asks Feast for, in the model's input order.
const AGGREGATES: [&str; 7] = [
    "txn_count_7d",
    "avg_amount_30d",
    "max_amount_30d",
    "foreign_count_30d",
    "countries_30d",
    "foreign_share_30d",
    "txn_count_30d",
];

#[derive(Debug, thiserror::Error)]
enum LoadError {
    #[error("usage: serve_load mlsys|peer ROWS.json CONCURRENCY WARMUP_S DURATION_S ADDR [ADDR2] [NAME]")]
    Usage,
    #[error("{0}: {1}")]
    Io(&'static str, #[source] io::Error),
    #[error("bad JSON in {0}")]
    Json(&'static str, #[source] serde_json::Error),
    #[error("bad HTTP answer: {0}")]
    Http(String),
    #[error("HTTP")]
    Client(#[from] ClientError),
}

/// A request row as `fraud_api` takes it.
struct Row {
    user_id: String,
    amount: f64,
    country: String,
    channel: String,
    event_time: String,
}

#[derive(Clone)]
enum Mode {
    Mlsys {
        server: SocketAddr,
        target: String,
    },
    Peer {
        feast: SocketAddr,
        mlserver: SocketAddr,
        model: String,
    },
}

struct Config {
    mode: Mode,
    rows: Vec<Row>,
    concurrency: usize,
    warmup: Duration,
    duration: Duration,
}

/// What one caller saw during the measured window.
#[derive(Default)]
struct Tally {
    latencies_ns: Vec<u64>,
    errors: u64,
    fallbacks: u64,
    first_error: Option<String>,
}

fn main() {
    match run() {
        Ok(report) => println!("{report}"),
        Err(error) => {
            let mut message = error.to_string();
            let mut source = std::error::Error::source(&error);
            while let Some(cause) = source {
                message.push_str(&format!(": {cause}"));
                source = cause.source();
            }
            eprintln!("serve_load: {message}");
            std::process::exit(2);
        }
    }
}

fn run() -> Result<Value, LoadError> {
    let config = parse_args(std::env::args().skip(1).collect())?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|error| LoadError::Io("runtime", error))?;
    let local = tokio::task::LocalSet::new();
    local.block_on(&runtime, drive(config))
}

fn parse_args(args: Vec<String>) -> Result<Config, LoadError> {
    let [mode, rows, concurrency, warmup, duration, first, rest @ ..] = args.as_slice() else {
        return Err(LoadError::Usage);
    };
    let addr = |text: &String| text.parse::<SocketAddr>().map_err(|_| LoadError::Usage);
    let mode = match (mode.as_str(), rest) {
        ("mlsys", [target]) => Mode::Mlsys {
            server: addr(first)?,
            target: target.clone(),
        },
        ("peer", [mlserver, model]) => Mode::Peer {
            feast: addr(first)?,
            mlserver: addr(mlserver)?,
            model: model.clone(),
        },
        _ => return Err(LoadError::Usage),
    };
    let text = std::fs::read_to_string(rows).map_err(|error| LoadError::Io("reading the rows", error))?;
    let rows: Vec<Value> = serde_json::from_str(&text).map_err(|error| LoadError::Json("the rows file", error))?;
    let rows = rows
        .iter()
        .map(parse_row)
        .collect::<Option<Vec<Row>>>()
        .ok_or(LoadError::Usage)?;
    if rows.is_empty() {
        return Err(LoadError::Usage);
    }
    let seconds = |text: &String| {
        text.parse::<f64>()
            .map(Duration::from_secs_f64)
            .map_err(|_| LoadError::Usage)
    };
    Ok(Config {
        mode,
        rows,
        concurrency: concurrency.parse().map_err(|_| LoadError::Usage)?,
        warmup: seconds(warmup)?,
        duration: seconds(duration)?,
    })
}

/// One row of the rows file: `{"user_id", "amount", "country", "channel", "event_time"}`.
fn parse_row(row: &Value) -> Option<Row> {
    let text = |name: &str| row[name].as_str().map(str::to_owned);
    Some(Row {
        user_id: text("user_id")?,
        amount: row["amount"].as_f64()?,
        country: text("country")?,
        channel: text("channel")?,
        event_time: text("event_time")?,
    })
}

/// Runs every caller until the window closes and merges what they saw.
async fn drive(config: Config) -> Result<Value, LoadError> {
    let config = Rc::new(config);
    let start = Instant::now();
    let measure_from = start + config.warmup;
    let end = measure_from + config.duration;
    let mut callers = Vec::with_capacity(config.concurrency);
    for index in 0..config.concurrency {
        callers.push(tokio::task::spawn_local(caller(
            config.clone(),
            index,
            measure_from,
            end,
        )));
    }
    let mut total = Tally::default();
    for handle in callers {
        let tally = handle
            .await
            .map_err(|error| LoadError::Http(format!("caller stopped: {error}")))??;
        total.latencies_ns.extend(tally.latencies_ns);
        total.errors += tally.errors;
        total.fallbacks += tally.fallbacks;
        total.first_error = total.first_error.or(tally.first_error);
    }
    Ok(report(total, config.duration))
}

fn report(mut total: Tally, window: Duration) -> Value {
    total.latencies_ns.sort_unstable();
    let quantile = |q: f64| {
        let n = total.latencies_ns.len();
        if n == 0 {
            return f64::NAN;
        }
        let rank = ((q * n as f64).ceil() as usize).clamp(1, n) - 1;
        total.latencies_ns[rank] as f64 / 1e6
    };
    json!({
        "requests": total.latencies_ns.len(),
        "errors": total.errors,
        "fallbacks": total.fallbacks,
        "first_error": total.first_error,
        "p50_ms": quantile(0.50),
        "p90_ms": quantile(0.90),
        "p99_ms": quantile(0.99),
        "p999_ms": quantile(0.999),
        "max_ms": quantile(1.0),
        "requests_per_s": total.latencies_ns.len() as f64 / window.as_secs_f64(),
    })
}

/// One closed-loop caller: its own keep-alive connection(s), rows starting at its own offset.
async fn caller(config: Rc<Config>, index: usize, measure_from: Instant, end: Instant) -> Result<Tally, LoadError> {
    let mut connections = Connections::open(&config.mode).await?;
    let mut tally = Tally::default();
    let mut next = index * 7919 % config.rows.len();
    loop {
        let row = &config.rows[next];
        next = (next + 1) % config.rows.len();
        let sent = Instant::now();
        if sent >= end {
            return Ok(tally);
        }
        let outcome = connections.score(&config.mode, row).await;
        let elapsed = sent.elapsed();
        let measured = sent >= measure_from;
        match outcome {
            Ok(fallback) if measured => {
                tally.latencies_ns.push(elapsed.as_nanos() as u64);
                tally.fallbacks += u64::from(fallback);
            }
            Ok(_) => {}
            Err(error) => {
                if measured {
                    tally.errors += 1;
                    tally.first_error.get_or_insert_with(|| error.to_string());
                }
                connections = Connections::open(&config.mode).await?;
            }
        }
    }
}

/// A caller's connections: one to the deploy server, or one each to Feast and MLServer.
enum Connections {
    Mlsys(Http),
    Peer { feast: Http, mlserver: Http },
}

impl Connections {
    async fn open(mode: &Mode) -> Result<Self, LoadError> {
        Ok(match mode {
            Mode::Mlsys { server, .. } => Connections::Mlsys(Http::connect(*server).await?),
            Mode::Peer { feast, mlserver, .. } => Connections::Peer {
                feast: Http::connect(*feast).await?,
                mlserver: Http::connect(*mlserver).await?,
            },
        })
    }

    /// Scores one row; true when a fallback answered instead of the model.
    async fn score(&mut self, mode: &Mode, row: &Row) -> Result<bool, LoadError> {
        match (self, mode) {
            (Connections::Mlsys(http), Mode::Mlsys { target, .. }) => score_mlsys(http, target, row).await,
            (Connections::Peer { feast, mlserver }, Mode::Peer { model, .. }) => {
                score_peer(feast, mlserver, model, row).await
            }
            _ => Err(LoadError::Http("connections do not match the mode".into())),
        }
    }
}

async fn score_mlsys(http: &mut Http, target: &str, row: &Row) -> Result<bool, LoadError> {
    let body = json!({"rows": [{
        "user_id": row.user_id,
        "amount": row.amount,
        "country": row.country,
        "channel": row.channel,
        "event_time": row.event_time,
    }]});
    let answer = http.post(&format!("/v1/score/{target}"), &body).await?;
    let result = &answer["results"][0];
    if !result["score"].is_number() {
        return Err(LoadError::Http(format!("no score in {answer}")));
    }
    Ok(!result["fallback"].is_null())
}

async fn score_peer(feast: &mut Http, mlserver: &mut Http, model: &str, row: &Row) -> Result<bool, LoadError> {
    let features: Vec<String> = AGGREGATES.iter().map(|name| format!("user_activity:{name}")).collect();
    let request = json!({"features": features, "entities": {"user_id": [row.user_id]}});
    let answer = feast.post("/get-online-features", &request).await?;
    let aggregates = feast_values(&answer)?;
    let mut inputs = row_signals(row, aggregates[1])?;
    inputs.extend(aggregates);
    let infer =
        json!({"inputs": [{"name": "input-0", "shape": [1, inputs.len()], "datatype": "FP64", "data": inputs}]});
    let scored = mlserver.post(&format!("/v2/models/{model}/infer"), &infer).await?;
    if !scored["outputs"][0]["data"][0].is_number() {
        return Err(LoadError::Http(format!("no score in {scored}")));
    }
    Ok(false)
}

/// The aggregates in `AGGREGATES` order from Feast's answer (missing values as NaN, as in training).
fn feast_values(answer: &Value) -> Result<Vec<f64>, LoadError> {
    let names = answer["metadata"]["feature_names"]
        .as_array()
        .ok_or_else(|| LoadError::Http(format!("no feature names in {answer}")))?;
    let results = answer["results"]
        .as_array()
        .ok_or_else(|| LoadError::Http(format!("no results in {answer}")))?;
    AGGREGATES
        .iter()
        .map(|wanted| {
            let column = names.iter().position(|name| name.as_str() == Some(wanted));
            let column = column.ok_or_else(|| LoadError::Http(format!("Feast did not answer {wanted}")))?;
            Ok(results[column]["values"][0].as_f64().unwrap_or(f64::NAN))
        })
        .collect()
}

/// `txn_signals@v2` for one row: what the team's service computes itself before calling the model.
fn row_signals(row: &Row, avg_amount_30d: f64) -> Result<Vec<f64>, LoadError> {
    let hour = row
        .event_time
        .get(11..13)
        .and_then(|text| text.parse::<u32>().ok())
        .ok_or_else(|| LoadError::Http(format!("bad event_time {}", row.event_time)))?;
    let average = if avg_amount_30d.is_nan() { 0.0 } else { avg_amount_30d };
    let bucket = [10.0, 50.0, 200.0, 1000.0]
        .iter()
        .filter(|edge| **edge <= row.amount)
        .count();
    let flag = |on: bool| if on { 1.0 } else { 0.0 };
    Ok(vec![
        (1.0 + row.amount).ln(),
        row.amount / (average + 1.0),
        flag(row.country != "US"),
        flag(hour < 6),
        flag(row.channel == "web" || row.channel == "api"),
        bucket as f64,
    ])
}

/// One keep-alive connection (`mlsys_deploy::client`); only a 200 with a JSON body is an answer.
struct Http(Connection);

impl Http {
    async fn connect(address: SocketAddr) -> Result<Self, LoadError> {
        Ok(Http(Connection::connect(address).await?))
    }

    async fn post(&mut self, path: &str, body: &Value) -> Result<Value, LoadError> {
        let answer = self.0.post(path, &[], body.to_string().as_bytes()).await?;
        if answer.status != 200 {
            return Err(LoadError::Http(format!(
                "{path}: status {}: {}",
                answer.status,
                String::from_utf8_lossy(&answer.body)
            )));
        }
        serde_json::from_slice(&answer.body).map_err(|error| LoadError::Json("an answer", error))
    }
}
