//! Editing latency of `mlsysc lsp` on a generated project of about 10,000 lines: the time from a
//! `didChange` to the `publishDiagnostics` that answers it, over 50 edits that alternately break
//! and fix one file. Prints min / p50 / p99 / max; the goal is under 100 ms.

#[path = "generate.rs"]
mod generate;

use std::io::{BufRead, BufReader, Write};
use std::process::{ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const TARGET_LINES: usize = 10_000;
const EDITS: usize = 50;
const TIMEOUT: Duration = Duration::from_secs(30);

fn send(stdin: &mut ChildStdin, message: &Value) {
    let body = message.to_string();
    write!(stdin, "Content-Length: {}\r\n\r\n{body}", body.len()).expect("write to the server");
    stdin.flush().expect("flush to the server");
}

fn read_message(reader: &mut impl BufRead) -> Option<Value> {
    let mut length = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some(value) = line.strip_prefix("Content-Length: ") {
            length = value.parse::<usize>().ok();
        }
    }
    let mut body = vec![0; length?];
    reader.read_exact(&mut body).ok()?;
    serde_json::from_slice(&body).ok()
}

/// Waits for the diagnostics of `uri` at document version `version`; returns how many there were.
fn wait_for_diagnostics(incoming: &Receiver<Value>, uri: &str, version: i64) -> usize {
    loop {
        let message = incoming.recv_timeout(TIMEOUT).expect("the server answers in time");
        let params = &message["params"];
        if message["method"] == "textDocument/publishDiagnostics"
            && params["uri"] == uri
            && params["version"] == version
        {
            return params["diagnostics"].as_array().map_or(0, Vec::len);
        }
    }
}

fn percentile(sorted: &[f64], fraction: f64) -> f64 {
    let rank = ((sorted.len() as f64 - 1.0) * fraction).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn main() {
    let directory = std::env::temp_dir().join(format!("mlsysc-lsp-latency-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&directory);
    std::fs::create_dir_all(&directory).expect("temp dir");
    let files = generate::generate_project(TARGET_LINES);
    let lines: usize = files.iter().map(|(_, text)| text.lines().count()).sum();
    for (name, text) in &files {
        std::fs::write(directory.join(name), text).expect("write the project");
    }
    let (name, clean) = files.first().cloned().expect("at least one file");
    let broken = clean.replacen("ln(1 + amount)", "ln(1 + amout)", 1);
    assert_ne!(broken, clean, "the generated file has no `ln(1 + amount)` to break");
    let uri = format!("file://{}", directory.join(&name).display());

    let mut server = Command::new(env!("CARGO_BIN_EXE_mlsysc"))
        .arg("lsp")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("mlsysc lsp starts");
    let mut stdin = server.stdin.take().expect("stdin is piped");
    let stdout = server.stdout.take().expect("stdout is piped");
    let (sender, incoming) = channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        while let Some(message) = read_message(&mut reader) {
            if sender.send(message).is_err() {
                break;
            }
        }
    });

    let started = Instant::now();
    let root = format!("file://{}", directory.display());
    send(
        &mut stdin,
        &json!({ "jsonrpc": "2.0", "id": 1, "method": "initialize",
                 "params": { "processId": null, "rootUri": root, "capabilities": {} } }),
    );
    loop {
        let message = incoming.recv_timeout(TIMEOUT).expect("initialize answered");
        if message["id"] == 1 {
            break;
        }
    }
    send(
        &mut stdin,
        &json!({ "jsonrpc": "2.0", "method": "initialized", "params": {} }),
    );
    send(
        &mut stdin,
        &json!({ "jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {
            "textDocument": { "uri": uri, "languageId": "mlsys", "version": 0, "text": clean } } }),
    );
    assert_eq!(
        wait_for_diagnostics(&incoming, &uri, 0),
        0,
        "the generated project is clean"
    );
    let first = started.elapsed();

    let mut timings = Vec::with_capacity(EDITS);
    for edit in 1..=EDITS {
        let introduces_error = edit % 2 == 1;
        let text = if introduces_error { &broken } else { &clean };
        let version = i64::try_from(edit).expect("small");
        let change = json!({ "jsonrpc": "2.0", "method": "textDocument/didChange", "params": {
            "textDocument": { "uri": uri, "version": version }, "contentChanges": [{ "text": text }] } });
        let sent = Instant::now();
        send(&mut stdin, &change);
        let count = wait_for_diagnostics(&incoming, &uri, version);
        timings.push(sent.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(count > 0, introduces_error, "edit {edit}: {count} diagnostics");
    }

    send(&mut stdin, &json!({ "jsonrpc": "2.0", "id": 2, "method": "shutdown" }));
    loop {
        let message = incoming.recv_timeout(TIMEOUT).expect("shutdown answered");
        if message["id"] == 2 {
            break;
        }
    }
    send(&mut stdin, &json!({ "jsonrpc": "2.0", "method": "exit" }));
    drop(stdin);
    let status = server.wait().expect("the server exits");
    let _ = std::fs::remove_dir_all(&directory);

    timings.sort_by(f64::total_cmp);
    println!(
        "project: {} files, {lines} lines; initialize + open + first diagnostics: {:.1} ms",
        files.len(),
        first.as_secs_f64() * 1000.0
    );
    println!("didChange -> publishDiagnostics over {EDITS} edits (ms):");
    println!("{:>8} {:>8} {:>8} {:>8}", "min", "p50", "p99", "max");
    println!(
        "{:>8.1} {:>8.1} {:>8.1} {:>8.1}",
        timings[0],
        percentile(&timings, 0.5),
        percentile(&timings, 0.99),
        timings[timings.len() - 1]
    );
    assert!(status.success(), "the server exited with {status:?}");
}
