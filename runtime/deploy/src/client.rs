//! A minimal keep-alive HTTP/1.1 client for mlsys's own servers: one TCP connection, one request at
//! a time, answers read by their `Content-Length` (which every answer of `deploy` and the feature
//! server carries). Used by `mlsysc replay` ([`crate::replay`]) and the serving benchmark's load
//! generator (`benches/load/`), where a general client's per-request work would be measured too.

use std::io;
use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Why a request got no answer.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot connect to {address}")]
    Connect {
        address: SocketAddr,
        #[source]
        error: io::Error,
    },
    #[error("sending the request failed")]
    Send(#[source] io::Error),
    #[error("receiving the answer failed")]
    Receive(#[source] io::Error),
    #[error("the server closed the connection")]
    Closed,
    #[error("bad HTTP answer: {0}")]
    Malformed(String),
}

/// An answer: its status code and body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
}

/// One keep-alive connection.
#[derive(Debug)]
pub struct Connection {
    stream: TcpStream,
    host: String,
    buffer: Vec<u8>,
    /// The server answered `Connection: close`: the next request needs a new connection.
    closing: bool,
}

impl Connection {
    pub async fn connect(address: SocketAddr) -> Result<Connection, ClientError> {
        let connect = |error| ClientError::Connect { address, error };
        let stream = TcpStream::connect(address).await.map_err(connect)?;
        stream.set_nodelay(true).map_err(connect)?;
        Ok(Connection {
            stream,
            host: address.to_string(),
            buffer: Vec::with_capacity(8192),
            closing: false,
        })
    }

    /// Whether the server said it closes this connection after its last answer.
    pub fn is_closing(&self) -> bool {
        self.closing
    }

    /// `POST path` with a JSON `body` and extra `headers` (name, value); any status is an answer.
    pub async fn post(&mut self, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Result<Answer, ClientError> {
        let mut head = format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
            self.host,
            body.len()
        );
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        let request = [head.as_bytes(), body].concat();
        self.stream.write_all(&request).await.map_err(ClientError::Send)?;
        self.read_answer().await
    }

    /// Reads one answer. Bytes past it stay in the buffer (none with one request in flight).
    async fn read_answer(&mut self) -> Result<Answer, ClientError> {
        let head_end = loop {
            if let Some(at) = self.buffer.windows(4).position(|window| window == b"\r\n\r\n") {
                break at + 4;
            }
            self.fill().await?;
        };
        let head = parse_head(&self.buffer[..head_end])?;
        while self.buffer.len() < head_end + head.length {
            self.fill().await?;
        }
        let body = self.buffer[head_end..head_end + head.length].to_vec();
        self.buffer.drain(..head_end + head.length);
        self.closing = head.close;
        Ok(Answer {
            status: head.status,
            body,
        })
    }

    async fn fill(&mut self) -> Result<(), ClientError> {
        let mut chunk = [0u8; 16384];
        let read = self.stream.read(&mut chunk).await.map_err(ClientError::Receive)?;
        if read == 0 {
            return Err(ClientError::Closed);
        }
        self.buffer.extend_from_slice(&chunk[..read]);
        Ok(())
    }
}

/// What a response head says about reading the answer.
struct Head {
    status: u16,
    length: usize,
    close: bool,
}

fn parse_head(head: &[u8]) -> Result<Head, ClientError> {
    let text = std::str::from_utf8(head).map_err(|_| ClientError::Malformed("a head that is not UTF-8".into()))?;
    let mut lines = text.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| ClientError::Malformed(format!("bad status line in {text}")))?;
    let (mut length, mut close) = (None, false);
    for (name, value) in lines.filter_map(|line| line.split_once(':')) {
        let (name, value) = (name.trim(), value.trim());
        if name.eq_ignore_ascii_case("content-length") {
            length = value.parse().ok();
        } else if name.eq_ignore_ascii_case("connection") {
            close = value.eq_ignore_ascii_case("close");
        }
    }
    let length = length.ok_or_else(|| ClientError::Malformed(format!("no Content-Length in {text}")))?;
    Ok(Head { status, length, close })
}
