//! A real HTTP/1.1 receiver on a loopback port (hyper on tokio) that records every POST: it can be
//! killed (its listener and every open connection closed, so connections are refused) and
//! restarted on the same port, and told to hang or refuse.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};

/// One request as it arrived.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub idempotency_key: Option<String>,
    pub body: serde_json::Value,
}

/// How the receiver answers (after recording the request).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// 200.
    Accept,
    /// Never: the client times out although the request arrived.
    Hang,
    /// This status, with a body that echoes the request's path.
    Status(u16),
}

struct Shared {
    received: Mutex<Vec<Received>>,
    mode: Mutex<Mode>,
}

pub struct Receiver {
    address: SocketAddr,
    shared: Arc<Shared>,
    server: Option<JoinHandle<()>>,
}

impl Receiver {
    pub async fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind a loopback port");
        let address = listener.local_addr().expect("a local address");
        let shared = Arc::new(Shared {
            received: Mutex::new(Vec::new()),
            mode: Mutex::new(Mode::Accept),
        });
        let server = Some(tokio::spawn(serve(listener, shared.clone())));
        Receiver {
            address,
            shared,
            server,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    pub fn set_mode(&self, mode: Mode) {
        *self.shared.mode.lock().expect("mode lock") = mode;
    }

    pub fn received(&self) -> Vec<Received> {
        self.shared.received.lock().expect("received lock").clone()
    }

    /// Closes the listener and every connection; returns once they are closed.
    pub async fn kill(&mut self) {
        if let Some(server) = self.server.take() {
            server.abort();
            let _ = server.await;
        }
    }

    /// Listens again on the same port, keeping what was received.
    pub async fn restart(&mut self) {
        self.kill().await;
        let listener = TcpListener::bind(self.address).await.expect("bind the same port again");
        self.server = Some(tokio::spawn(serve(listener, self.shared.clone())));
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }
}

/// Accepts connections until aborted; the connections are tasks of a set owned here, so aborting
/// this task closes them too.
async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    let mut connections = JoinSet::new();
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let shared = shared.clone();
        connections.spawn(async move {
            let service = service_fn(move |request| answer(request, shared.clone()));
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
        while connections.try_join_next().is_some() {}
    }
}

async fn answer(request: Request<Incoming>, shared: Arc<Shared>) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = request.uri().path().to_string();
    let idempotency_key = request
        .headers()
        .get("idempotency-key")
        .and_then(|value| value.to_str().ok())
        .map(str::to_string);
    let bytes = match request.into_body().collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => Bytes::new(),
    };
    let body = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
    shared.received.lock().expect("received lock").push(Received {
        path: path.clone(),
        idempotency_key,
        body,
    });
    let mode = *shared.mode.lock().expect("mode lock");
    let (status, text) = match mode {
        Mode::Accept => (200, "ok".to_string()),
        Mode::Hang => std::future::pending().await,
        Mode::Status(status) => (status, format!("refused request to {path}")),
    };
    let mut response = Response::new(Full::new(Bytes::from(text)));
    *response.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    Ok(response)
}
