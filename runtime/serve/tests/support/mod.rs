//! Test support: the fraud example's plan, stores holding hand-written timelines, a server on a
//! free loopback port, and a minimal HTTP/1.1 client over a plain TCP stream.

// The online store's tests start their Redis the same way: one harness for both.
#[path = "../../../online/tests/support/redis_server.rs"]
#[allow(dead_code)] // restarting a killed server at its port is only exercised by the online tests
pub mod redis_server;
#[path = "../../../online/tests/support/temp_dir.rs"]
mod temp_dir;
pub use temp_dir::TempDir;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use mlsys_compiler::plan::{FeatureId, FeatureKind, GroupId, Plan};
use mlsys_compiler::source::SourceFile;
use mlsys_kernels::Value;
use mlsys_online::{EntityKey, OnlineStore, TableId, TableMeta, Timeline, meta_name};
use mlsys_serve::{FeatureServer, ListenerConfig, ServerOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The plan of `examples/fraud`.
pub fn fraud_plan() -> Arc<Plan> {
    let directory = workspace_root().join("examples/fraud");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&directory)
        .expect("the fraud example")
        .map(|entry| entry.expect("an entry").path())
        .filter(|path| path.extension().is_some_and(|extension| extension == "mlsys"))
        .collect();
    paths.sort();
    let files: Vec<SourceFile> = paths
        .iter()
        .map(|path| {
            SourceFile::new(
                path.display().to_string(),
                std::fs::read_to_string(path).expect("a file"),
            )
        })
        .collect();
    Arc::new(
        mlsys_compiler::compile(&files)
            .plan
            .expect("the fraud example compiles"),
    )
}

pub fn group_id(plan: &Plan, name: &str, version: u32) -> GroupId {
    plan.groups
        .iter()
        .find(|(_, group)| group.name == name && group.version == version)
        .map(|(id, _)| id)
        .expect("the group")
}

/// The windowed aggregates of a group, in group order (the values of each stored point).
pub fn aggregates(plan: &Plan, group: GroupId) -> Vec<FeatureId> {
    plan.groups[group]
        .features
        .iter()
        .copied()
        .filter(|id| matches!(plan.features[*id].kind, FeatureKind::Aggregate(_)))
        .collect()
}

/// The metadata `mlsysc build` writes for a group, with the plan's hash.
pub fn table_meta(plan: &Plan, group: GroupId) -> TableMeta {
    TableMeta {
        group_hash: plan.groups[group].hash.0.clone(),
        features: aggregates(plan, group)
            .iter()
            .map(|id| plan.features[*id].name.clone())
            .collect(),
        watermark: T1,
        stamp: "test".to_string(),
        exact_from: None,
    }
}

/// 2026-03-01T00:00:00Z and 2026-03-02T00:00:00Z.
pub const T0: i64 = 1_772_323_200_000_000;
pub const T1: i64 = T0 + 86_400_000_000;

/// The user_activity@v1 timelines of the fixture: `u1` complete with two change points, `u2`
/// known only from T1 on, `u3` with no point before T1; `u4` is never stored.
/// Values: txn_count_7d, avg_amount_30d, max_amount_30d, foreign_count_30d, countries_30d,
/// txn_count_30d.
pub fn user_timelines() -> Vec<(&'static str, Timeline)> {
    let point_t0 = vec![
        Value::Int(3),
        Value::Float(0.1 + 0.2),
        Value::Float(1e300),
        Value::Int(1),
        Value::Int(2),
        Value::Int(3),
    ];
    let point_t1 = vec![
        Value::Int(7),
        Value::Float(f64::from_bits(1)),
        Value::Float(-0.0),
        Value::Int(2),
        Value::Int(3),
        Value::Int(9),
    ];
    let after_t1 = vec![
        Value::Int(0),
        Value::Float(123.456),
        Value::Null,
        Value::Int(0),
        Value::Int(1),
        Value::Int(1),
    ];
    vec![
        (
            "u1",
            Timeline {
                exact_from: i64::MIN,
                width: 6,
                points: vec![(T0, point_t0), (T1, point_t1.clone())],
            },
        ),
        (
            "u2",
            Timeline {
                exact_from: T1,
                width: 6,
                points: vec![(T1, point_t1)],
            },
        ),
        (
            "u3",
            Timeline {
                exact_from: i64::MIN,
                width: 6,
                points: vec![(T1, after_t1)],
            },
        ),
    ]
}

/// Writes the fixture's timelines and correct metadata into `store`.
pub async fn write_fixture(plan: &Plan, store: &dyn OnlineStore) {
    let group = group_id(plan, "user_activity", 1);
    let table = TableId::new("user_activity", 1).expect("a table name");
    let rows: Vec<_> = user_timelines()
        .into_iter()
        .map(|(user, timeline)| (EntityKey::new(vec![Value::string(user)]), timeline.to_record(T1)))
        .collect();
    store.write(&table, &rows).await.expect("the timelines are written");
    let meta = serde_json::to_vec(&table_meta(plan, group)).expect("JSON");
    store
        .put_meta(&meta_name(&table), &meta)
        .await
        .expect("the metadata is written");
}

/// A redb store in a temporary directory.
pub async fn redb_store(directory: &TempDir) -> Arc<dyn OnlineStore> {
    let location = directory.path().join("online.redb");
    mlsys_online::open_store(&location.to_str().expect("a UTF-8 path").into(), "test")
        .await
        .expect("the store opens")
}

/// A server on 127.0.0.1 with a free port, stopped when dropped.
pub struct RunningServer {
    pub address: std::net::SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl RunningServer {
    pub async fn start(plan: Arc<Plan>, store: Arc<dyn OnlineStore>) -> RunningServer {
        RunningServer::start_with(plan, store, ServerOptions::default()).await
    }

    pub async fn start_with(plan: Arc<Plan>, store: Arc<dyn OnlineStore>, options: ServerOptions) -> RunningServer {
        RunningServer::start_listening(plan, store, options, ListenerConfig::default()).await
    }

    pub async fn start_listening(
        plan: Arc<Plan>,
        store: Arc<dyn OnlineStore>,
        options: ServerOptions,
        listening: ListenerConfig,
    ) -> RunningServer {
        let server = Arc::new(FeatureServer::with_options(plan, store, options).expect("the server starts"));
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
        let address = listener.local_addr().expect("an address");
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(mlsys_serve::serve_until(listener, server, listening, async {
            stopped.await.ok();
        }));
        RunningServer {
            address,
            stop: Some(stop),
            task: Some(task),
        }
    }

    pub async fn post(&self, path: &str, body: &str) -> Response {
        request(self.address, "POST", path, body.as_bytes()).await
    }

    pub async fn get(&self, path: &str) -> Response {
        request(self.address, "GET", path, b"").await
    }

    /// Stops the server gracefully and waits for it.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            stop.send(()).ok();
        }
        if let Some(task) = self.task.take() {
            task.await.expect("the server task").expect("the server stops cleanly");
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            stop.send(()).ok();
        }
    }
}

/// An HTTP response: status, lower-cased headers, body.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|error| panic!("not JSON ({error}): {}", self.body))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// The `detail` of an error body.
    pub fn detail(&self) -> String {
        self.json()["detail"].as_str().unwrap_or_default().to_string()
    }
}

/// One request on a fresh connection (`Connection: close`), read to the end.
pub async fn request(address: std::net::SocketAddr, method: &str, path: &str, body: &[u8]) -> Response {
    let mut stream = TcpStream::connect(address).await.expect("connect to the server");
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.expect("send the head");
    stream.write_all(body).await.expect("send the body");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.expect("read the response");
    parse_response(&raw)
}

/// Parses a raw HTTP/1.1 response (fixed length or chunked).
pub fn parse_response(raw: &[u8]) -> Response {
    let split = raw
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no end of headers in {:?}", String::from_utf8_lossy(raw)));
    let head = std::str::from_utf8(&raw[..split]).expect("an ASCII head");
    let mut lines = head.split("\r\n");
    let status_line = lines.next().expect("a status line");
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .expect("a status code");
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_string()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(name, value)| name == "transfer-encoding" && value.contains("chunked"));
    if chunked {
        let mut decoded = Vec::new();
        let mut rest = body.as_slice();
        loop {
            let line_end = rest
                .windows(2)
                .position(|window| window == b"\r\n")
                .expect("a chunk size");
            let size = usize::from_str_radix(std::str::from_utf8(&rest[..line_end]).expect("hex").trim(), 16)
                .expect("a chunk size");
            rest = &rest[line_end + 2..];
            if size == 0 {
                break;
            }
            decoded.extend_from_slice(&rest[..size]);
            rest = &rest[size + 2..];
        }
        body = decoded;
    }
    Response {
        status,
        headers,
        body: String::from_utf8(body).expect("a UTF-8 body"),
    }
}
