//! Slow, idle and too many clients: the listener's timeouts close them, and its connection limit
//! keeps `/health` and feature requests answering while a thousand sockets hang.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::support::{RunningServer, TempDir, fraud_plan, parse_response, redb_store, write_fixture};
use mlsys_serve::listener::raise_open_file_limit;
use mlsys_serve::{ListenerConfig, ServerOptions};

/// How many hanging sockets the tests hold (each is two descriptors in this process).
const SLOW_CLIENTS: usize = 1000;

/// How long a test waits for the server to close a socket before it fails.
const PATIENCE: Duration = Duration::from_secs(30);

async fn fixture_server(listening: ListenerConfig) -> (TempDir, RunningServer) {
    raise_open_file_limit();
    let directory = TempDir::new();
    let plan = fraud_plan();
    let store = redb_store(&directory).await;
    write_fixture(&plan, store.as_ref()).await;
    let server = RunningServer::start_listening(plan, store, ServerOptions::default(), listening).await;
    (directory, server)
}

/// Connections that each send the start of a request line and then nothing.
async fn slow_clients(address: SocketAddr, count: usize) -> Vec<TcpStream> {
    let mut streams = Vec::with_capacity(count);
    for _ in 0..count {
        let mut stream = TcpStream::connect(address).await.expect("connect to the server");
        stream
            .write_all(b"GET /hea")
            .await
            .expect("send part of a request line");
        streams.push(stream);
    }
    streams
}

/// Whether the server closes `stream` (end of stream or reset) before `deadline`; whatever it
/// sends first (an error response) is skipped.
async fn closed_by_server(stream: &mut TcpStream, deadline: Instant) -> bool {
    let mut buffer = [0_u8; 1024];
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buffer)).await {
            Err(_elapsed) => return false,
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => {}
        }
    }
}

/// `/health` and a `fraud_detector` request both answer 200.
async fn server_answers(server: &RunningServer) {
    assert_eq!(server.get("/health").await.status, 200);
    let body = json!({
        "feature_service": "fraud_detector",
        "entities": {
            "user_id": ["u1"], "amount": [12.5], "country": ["US"], "channel": ["web"],
            "event_time": ["2026-03-02T05:00:00Z"],
        },
    });
    let response = server.post("/get-online-features", &body.to_string()).await;
    assert_eq!(response.status, 200, "{}", response.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_are_closed_after_the_head_timeout() {
    let (_directory, server) = fixture_server(ListenerConfig {
        head_timeout: Duration::from_millis(500),
        ..ListenerConfig::default()
    })
    .await;
    let mut streams = slow_clients(server.address, SLOW_CLIENTS).await;
    server_answers(&server).await;
    let deadline = Instant::now() + PATIENCE;
    for (index, stream) in streams.iter_mut().enumerate() {
        assert!(
            closed_by_server(stream, deadline).await,
            "slow client {index} still open {PATIENCE:?} after it connected"
        );
    }
    server_answers(&server).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_connection_limit_the_oldest_waiting_connection_is_closed() {
    let limit = 100;
    // A head timeout far beyond the test's patience: only eviction can close the slow clients.
    let (_directory, server) = fixture_server(ListenerConfig {
        head_timeout: Duration::from_secs(3600),
        max_connections: limit,
        ..ListenerConfig::default()
    })
    .await;
    let mut streams = slow_clients(server.address, SLOW_CLIENTS).await;
    // Each request's connection evicts the oldest hanging one.
    server_answers(&server).await;
    let deadline = Instant::now() + PATIENCE;
    let evicted = SLOW_CLIENTS - limit;
    for (index, stream) in streams.iter_mut().take(evicted).enumerate() {
        assert!(
            closed_by_server(stream, deadline).await,
            "slow client {index} was not evicted by the {} connections opened after it",
            SLOW_CLIENTS - index - 1
        );
    }
    server_answers(&server).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_does_not_arrive_is_answered_408_and_the_connection_closed() {
    let (_directory, server) = fixture_server(ListenerConfig {
        body_timeout: Duration::from_millis(300),
        ..ListenerConfig::default()
    })
    .await;
    let mut stream = TcpStream::connect(server.address).await.expect("connect to the server");
    let head = "POST /get-online-features HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n\
                Content-Length: 100\r\n\r\n{\"feature_";
    stream
        .write_all(head.as_bytes())
        .await
        .expect("send the head and part of the body");
    let mut raw = Vec::new();
    tokio::time::timeout(PATIENCE, stream.read_to_end(&mut raw))
        .await
        .expect("the server answers and closes the connection")
        .expect("read the response");
    let response = parse_response(&raw);
    assert_eq!(response.status, 408, "{}", response.body);
    assert_eq!(response.json()["kind"], json!("request_timeout"));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_kept_alive_connection_is_closed_after_the_head_timeout() {
    let (_directory, server) = fixture_server(ListenerConfig {
        head_timeout: Duration::from_millis(300),
        ..ListenerConfig::default()
    })
    .await;
    let mut stream = TcpStream::connect(server.address).await.expect("connect to the server");
    // HTTP/1.1 keeps the connection alive after the response.
    stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: test\r\n\r\n")
        .await
        .expect("send a request");
    let mut raw = Vec::new();
    tokio::time::timeout(PATIENCE, stream.read_to_end(&mut raw))
        .await
        .expect("the server closes the idle connection")
        .expect("read the response");
    assert_eq!(parse_response(&raw).status, 200);
    server.stop().await;
}
