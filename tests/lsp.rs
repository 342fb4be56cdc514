//! `mlsysc lsp` end to end: a tiny JSON-RPC client drives the real binary over stdio through a
//! whole editing session on a copy of the fraud example.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::Duration;

use serde_json::{Value, json};

/// How long any one answer may take before the test fails instead of hanging.
const TIMEOUT: Duration = Duration::from_secs(20);

/// A language client speaking Content-Length framed JSON-RPC to a spawned server.
struct Client {
    child: Child,
    stdin: ChildStdin,
    incoming: Receiver<Value>,
    /// Notifications read while waiting for a response.
    pending: VecDeque<Value>,
    next_id: i64,
}

impl Client {
    fn start() -> Client {
        let mut child = Command::new(env!("CARGO_BIN_EXE_mlsysc"))
            .arg("lsp")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("mlsysc lsp starts");
        let stdin = child.stdin.take().expect("stdin is piped");
        let stdout = child.stdout.take().expect("stdout is piped");
        let (sender, incoming) = channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            while let Some(message) = read_message(&mut reader) {
                if sender.send(message).is_err() {
                    break;
                }
            }
        });
        Client {
            child,
            stdin,
            incoming,
            pending: VecDeque::new(),
            next_id: 1,
        }
    }

    fn send(&mut self, message: Value) {
        let body = message.to_string();
        write!(self.stdin, "Content-Length: {}\r\n\r\n{body}", body.len()).expect("write to the server");
        self.stdin.flush().expect("flush to the server");
    }

    fn notify(&mut self, method: &str, params: Value) {
        self.send(json!({ "jsonrpc": "2.0", "method": method, "params": params }));
    }

    /// Sends a request and returns the whole response (`result` or `error`).
    fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        self.send(json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params }));
        loop {
            let message = self.receive();
            if message.get("id") == Some(&json!(id)) && message.get("method").is_none() {
                return message;
            }
            self.pending.push_back(message);
        }
    }

    /// The `result` of a request that must succeed.
    fn call(&mut self, method: &str, params: Value) -> Value {
        let response = self.request(method, params);
        assert!(response.get("error").is_none(), "{method} failed: {response}");
        response["result"].clone()
    }

    fn receive(&mut self) -> Value {
        self.incoming
            .recv_timeout(TIMEOUT)
            .expect("the server answers within the timeout")
    }

    /// The next `publishDiagnostics` for `uri` that satisfies `wanted` (others are skipped).
    fn diagnostics(&mut self, uri: &str, wanted: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        loop {
            let message = match self.pending.pop_front() {
                Some(message) => message,
                None => self.receive(),
            };
            if message["method"] == "textDocument/publishDiagnostics" && message["params"]["uri"] == uri {
                let diagnostics = message["params"]["diagnostics"].as_array().cloned().unwrap_or_default();
                if wanted(&diagnostics) {
                    return diagnostics;
                }
            }
        }
    }
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

fn file_uri(path: &Path) -> String {
    format!("file://{}", path.display())
}

/// A fresh copy of examples/fraud in a temporary directory.
fn fraud_copy(name: &str) -> PathBuf {
    let directory = std::env::temp_dir().join(format!("mlsysc-lsp-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&directory);
    crate::support::copy_fraud_spec(&directory);
    directory
}

/// `text` with the item defining `key` (the first line `  key = ...`) replaced by `line`, whatever
/// the spacing of the original.
fn with_line(text: &str, key: &str, line: &str) -> String {
    let mut replaced = false;
    let lines: Vec<&str> = text
        .lines()
        .map(|original| {
            let defines = original
                .trim_start()
                .strip_prefix(key)
                .is_some_and(|rest| rest.trim_start().starts_with('='));
            if defines && !replaced {
                replaced = true;
                line
            } else {
                original
            }
        })
        .collect();
    assert!(replaced, "no `{key} =` line in the text");
    lines.join("\n") + "\n"
}

/// The LSP position (UTF-16 columns) of the first occurrence of `needle` in `text`, plus `shift`
/// bytes.
fn position_of(text: &str, needle: &str, shift: usize) -> (u64, u64) {
    let offset = text.find(needle).unwrap_or_else(|| panic!("{needle} not in the text")) + shift;
    let before = &text[..offset];
    let line = before.matches('\n').count();
    let line_start = before.rfind('\n').map_or(0, |newline| newline + 1);
    let character = before[line_start..].encode_utf16().count();
    (line as u64, character as u64)
}

fn at(uri: &str, (line, character): (u64, u64)) -> Value {
    json!({ "textDocument": { "uri": uri }, "position": { "line": line, "character": character } })
}

fn labels(completion: &Value) -> Vec<String> {
    let items = completion.as_array().or_else(|| completion["items"].as_array());
    items
        .into_iter()
        .flatten()
        .filter_map(|item| item["label"].as_str().map(str::to_string))
        .collect()
}

#[test]
fn lsp_session_on_the_fraud_example() {
    let root = fraud_copy("session");
    let path = root.join("features.mlsys");
    let uri = file_uri(&path);
    // The editor's text: the file on disk with a doc comment added, then two errors in two feature
    // groups, one after non-ASCII text on its line (UTF-16 columns differ from bytes and chars).
    let on_disk = std::fs::read_to_string(&path).expect("features.mlsys");
    let fixed = with_line(
        &on_disk,
        "avg_amount_30d",
        "  /// Mean payment over the last 30 days.\n  avg_amount_30d = avg(amount) over 30d every 1d",
    );
    let broken = with_line(
        &fixed,
        "max_amount_30d",
        "  max_amount_30d = max(amount) over 30d every 7d",
    );
    let broken = with_line(&broken, "foreign", r#"  foreign = "é😀" != contry"#);
    assert_ne!(broken, fixed);

    let mut client = Client::start();
    let initialized = client.call(
        "initialize",
        json!({ "processId": null, "rootUri": file_uri(&root), "capabilities": {} }),
    );
    assert_eq!(initialized["capabilities"]["positionEncoding"], "utf-16");
    client.notify("initialized", json!({}));
    client.notify(
        "textDocument/didOpen",
        json!({ "textDocument": { "uri": uri, "languageId": "mlsys", "version": 1, "text": broken } }),
    );

    let diagnostics = client.diagnostics(&uri, |diagnostics| !diagnostics.is_empty());
    let found: Vec<(String, u64, u64)> = diagnostics
        .iter()
        .map(|diagnostic| {
            let start = &diagnostic["range"]["start"];
            (
                diagnostic["code"].as_str().unwrap_or_default().to_string(),
                start["line"].as_u64().unwrap_or(u64::MAX),
                start["character"].as_u64().unwrap_or(u64::MAX),
            )
        })
        .collect();
    let (window_line, window_character) = position_of(&broken, "every 7d", "every ".len());
    let (name_line, name_character) = position_of(&broken, "contry", 0);
    assert_eq!(
        found,
        vec![
            ("E0303".to_string(), window_line, window_character),
            ("E0101".to_string(), name_line, name_character),
        ],
        "{diagnostics:#?}"
    );
    assert!(diagnostics.iter().all(|diagnostic| diagnostic["source"] == "mlsys"));
    assert_eq!(diagnostics[1]["severity"], 1);
    let end = &diagnostics[1]["range"]["end"];
    assert_eq!(end["character"].as_u64(), Some(name_character + "contry".len() as u64));
    assert!(
        diagnostics[1]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("help: did you mean `country`?"),
        "{diagnostics:#?}"
    );

    // Hover on the reference to `avg_amount_30d` in `txn_signals`: its type and its doc comment.
    let reference = "user_activity@v1.avg_amount_30d";
    let on_reference = position_of(&broken, reference, "user_activity@v1.".len() + 2);
    let hover = client.call("textDocument/hover", at(&uri, on_reference));
    let hover_text = hover["contents"]["value"].as_str().unwrap_or_default();
    assert!(
        hover_text.contains("feature user_activity@v1.avg_amount_30d"),
        "{hover_text}"
    );
    assert!(hover_text.contains("float64?"), "{hover_text}");
    assert!(
        hover_text.contains("Mean payment over the last 30 days."),
        "{hover_text}"
    );

    // Go to definition from the same reference: its line in features.mlsys.
    let definition = client.call("textDocument/definition", at(&uri, on_reference));
    assert_eq!(definition["uri"], uri.as_str(), "{definition}");
    let (definition_line, definition_character) = position_of(&broken, "  avg_amount_30d", 2);
    assert_eq!(definition["range"]["start"]["line"].as_u64(), Some(definition_line));
    assert_eq!(
        definition["range"]["start"]["character"].as_u64(),
        Some(definition_character)
    );

    // Completion inside an expression and after a version reference.
    let in_expression = position_of(&broken, "ln(1 + ", "ln(1 + ".len());
    let names = labels(&client.call("textDocument/completion", at(&uri, in_expression)));
    assert!(names.iter().any(|name| name == "amount"), "{names:?}");
    assert!(names.iter().any(|name| name == "ln"), "{names:?}");
    let after_version = position_of(&broken, reference, "user_activity@v1.".len());
    let names = labels(&client.call("textDocument/completion", at(&uri, after_version)));
    assert!(names.iter().any(|name| name == "avg_amount_30d"), "{names:?}");
    assert!(!names.iter().any(|name| name == "ln"), "{names:?}");

    // Fixing both errors clears the file's diagnostics.
    client.notify(
        "textDocument/didChange",
        json!({
            "textDocument": { "uri": uri, "version": 2 },
            "contentChanges": [{ "text": fixed }],
        }),
    );
    client.diagnostics(&uri, <[Value]>::is_empty);
    // Now that the project is clean, hover also shows the feature's canonical hash.
    let on_reference = position_of(&fixed, reference, "user_activity@v1.".len() + 2);
    let hover = client.call("textDocument/hover", at(&uri, on_reference));
    let hover_text = hover["contents"]["value"].as_str().unwrap_or_default();
    assert!(hover_text.contains("hash `"), "{hover_text}");

    // Formatting: one whole-file edit to the canonical layout, then nothing left to do.
    let formatting = json!({
        "textDocument": { "uri": uri },
        "options": { "tabSize": 2, "insertSpaces": true },
    });
    let messy = with_line(&fixed, "amount_log", "  amount_log   =   ln( 1+amount )");
    client.notify(
        "textDocument/didChange",
        json!({ "textDocument": { "uri": uri, "version": 3 }, "contentChanges": [{ "text": messy }] }),
    );
    let edits = client.call("textDocument/formatting", formatting.clone());
    let edits = edits.as_array().expect("edits for a file out of canonical layout");
    assert_eq!(edits.len(), 1, "{edits:?}");
    assert_eq!(edits[0]["range"]["start"], json!({ "line": 0, "character": 0 }));
    let formatted = edits[0]["newText"].as_str().unwrap_or_default().to_string();
    assert!(formatted.contains("  amount_log = ln(1 + amount)\n"), "{formatted}");
    client.notify(
        "textDocument/didChange",
        json!({ "textDocument": { "uri": uri, "version": 4 }, "contentChanges": [{ "text": formatted }] }),
    );
    assert_eq!(client.call("textDocument/formatting", formatting.clone()), Value::Null);
    let unparsable = format!("{fixed}\nsource {{\n");
    client.notify(
        "textDocument/didChange",
        json!({ "textDocument": { "uri": uri, "version": 5 }, "contentChanges": [{ "text": unparsable }] }),
    );
    let response = client.request("textDocument/formatting", formatting);
    assert!(response.get("error").is_some(), "{response}");

    // A malformed request gets an error response and the server keeps going.
    let response = client.request("textDocument/hover", json!({ "textDocument": 42 }));
    assert_eq!(response["error"]["code"], -32602, "{response}");
    let response = client.request("mlsys/unknown", json!({}));
    assert_eq!(response["error"]["code"], -32601, "{response}");

    assert_eq!(client.call("shutdown", Value::Null), Value::Null);
    client.notify("exit", Value::Null);
    drop(client.stdin);
    let status = client.child.wait().expect("the server exits");
    assert!(status.success(), "{status:?}");
    let _ = std::fs::remove_dir_all(root);
}
