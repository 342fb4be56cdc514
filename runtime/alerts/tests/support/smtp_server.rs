//! A real SMTP server for tests: `python3 -m aiosmtpd` (PyPI `aiosmtpd`) on a free loopback port,
//! storing every mail it accepts in a Maildir; killed when dropped.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::{TempDir, wait_until};

pub struct SmtpServer {
    child: Child,
    port: u16,
    maildir: TempDir,
}

impl SmtpServer {
    /// Starts a server; panics (the test fails) when aiosmtpd is missing or does not start.
    pub fn start() -> SmtpServer {
        let maildir = TempDir::new();
        let port = free_port();
        let child = Command::new("python3")
            .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}")])
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(maildir.path().join("mail"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run python3 (the SMTP tests need python3 with aiosmtpd: pip install aiosmtpd)");
        let mut server = SmtpServer { child, port, maildir };
        let started = wait_until(Duration::from_secs(30), || {
            TcpStream::connect(("127.0.0.1", port)).is_ok() || matches!(server.child.try_wait(), Ok(Some(_)))
        });
        if let Ok(Some(status)) = server.child.try_wait() {
            let mut stderr = String::new();
            if let Some(mut pipe) = server.child.stderr.take() {
                std::io::Read::read_to_string(&mut pipe, &mut stderr).ok();
            }
            panic!("aiosmtpd exited with {status} (pip install aiosmtpd):\n{stderr}");
        }
        assert!(started, "aiosmtpd did not listen on port {port} within 30 s");
        server
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    pub fn maildir(&self) -> PathBuf {
        self.maildir.path().join("mail")
    }

    /// The raw text of every mail stored so far.
    pub fn mails(&self) -> Vec<String> {
        read_mails(&self.maildir().join("new"))
    }
}

fn read_mails(directory: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(directory) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| std::fs::read_to_string(entry.path()).ok())
        .collect()
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral loopback port");
    listener.local_addr().expect("a local address").port()
}
