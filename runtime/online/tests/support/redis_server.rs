//! A real `redis-server` for tests and benches: started on a free loopback port in its own
//! directory, with persistence off, and killed when dropped.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// How long a starting server may take to answer PING.
const STARTUP_LIMIT: Duration = Duration::from_secs(20);

static NEXT_SERVER: AtomicU32 = AtomicU32::new(0);

pub struct RedisServer {
    child: Child,
    port: u16,
    directory: PathBuf,
}

impl RedisServer {
    /// Starts a server on a free port. Panics (the test fails) if `redis-server` is missing or
    /// does not start.
    pub fn start() -> RedisServer {
        let mut last_problem = String::new();
        // A free port can be taken by someone else before the server binds it: try a few.
        for _ in 0..5 {
            match RedisServer::try_start_on(free_port()) {
                Ok(server) => return server,
                Err(problem) => last_problem = problem,
            }
        }
        panic!("redis-server did not start: {last_problem}");
    }

    /// Starts a server on this port (to bring a killed server back at the same address).
    pub fn start_on(port: u16) -> RedisServer {
        RedisServer::try_start_on(port).unwrap_or_else(|problem| panic!("redis-server did not start: {problem}"))
    }

    fn try_start_on(port: u16) -> Result<RedisServer, String> {
        let directory = std::env::temp_dir().join(format!(
            "mlsys-online-redis-{}-{}-{port}",
            std::process::id(),
            NEXT_SERVER.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&directory)
            .map_err(|error| format!("cannot create {}: {error}", directory.display()))?;
        let spawned = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .arg("--dir")
            .arg(&directory)
            .arg("--logfile")
            .arg(directory.join("redis.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let child = match spawned {
            Ok(child) => child,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => panic!(
                "`redis-server` is not on PATH; these tests need a real Redis server: \
                 install the Debian package `redis-server` (apt-get install redis-server)"
            ),
            Err(error) => panic!("cannot run redis-server: {error}"),
        };
        let mut server = RedisServer { child, port, directory };
        let started = Instant::now();
        while started.elapsed() < STARTUP_LIMIT {
            if let Ok(Some(status)) = server.child.try_wait() {
                let log = std::fs::read_to_string(server.directory.join("redis.log")).unwrap_or_default();
                return Err(format!("it exited with {status} on port {port}; log:\n{log}"));
            }
            if answers_ping(port) {
                return Ok(server);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Err(format!("no PING answer on port {port} within {STARTUP_LIMIT:?}"))
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// The server's process id (to stop and continue it).
    #[allow(dead_code)] // pausing the server is exercised by the deploy tests
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills the server now (SIGKILL) and waits for it to exit.
    pub fn kill(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        std::fs::remove_dir_all(&self.directory).ok();
    }
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral loopback port");
    listener.local_addr().expect("a local address").port()
}

fn answers_ping(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    stream.set_read_timeout(Some(Duration::from_millis(500))).ok();
    if stream.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut answer = [0u8; 7];
    stream.read_exact(&mut answer).is_ok() && &answer == b"+PONG\r\n"
}
