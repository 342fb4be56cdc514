//! Unit tests of the language server's pure parts: positions, URIs and completion contexts. The
//! protocol itself is tested end to end in tests/lsp.rs.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use lsp_types::{Position, Uri};
use mlsys_compiler::compile;
use mlsys_compiler::source::{FileId, SourceFile};

use super::completion::completion;
use super::convert::{Encoding, LineMap};
use super::uri;
use super::workspace::Analysis;

#[test]
fn utf16_columns_count_surrogate_pairs() {
    let text = "a\n\"é😀\" x\r\nz";
    let map = LineMap::new(text);
    let x = text.find('x').expect("x");
    assert_eq!(map.position(text, x, Encoding::Utf16), Position::new(1, 6));
    assert_eq!(map.position(text, x, Encoding::Utf8), Position::new(1, 9));
    assert_eq!(map.offset(text, Position::new(1, 6), Encoding::Utf16), x);
    assert_eq!(map.offset(text, Position::new(1, 9), Encoding::Utf8), x);
    // Past the end of a CRLF line: the end of the line, before `\r`.
    assert_eq!(map.offset(text, Position::new(1, 99), Encoding::Utf16), x + 1);
    assert_eq!(map.offset(text, Position::new(9, 0), Encoding::Utf16), text.len());
    // Inside the surrogate pair: the start of the emoji.
    let emoji = text.find('😀').expect("emoji");
    assert_eq!(map.offset(text, Position::new(1, 3), Encoding::Utf16), emoji);
    // Offsets inside a character or past the end snap back.
    assert_eq!(map.position(text, emoji + 1, Encoding::Utf16), Position::new(1, 2));
    assert_eq!(map.position(text, 999, Encoding::Utf16), Position::new(2, 1));
}

#[test]
fn file_uris_round_trip_paths_with_spaces_and_non_ascii() {
    let path = Path::new("/tmp/my project/fé 1.mlsys");
    let uri = uri::from_path(path).expect("a valid URI");
    assert_eq!(uri.as_str(), "file:///tmp/my%20project/f%C3%A9%201.mlsys");
    assert_eq!(uri::to_path(&uri).as_deref(), Some(path));
    let localhost = Uri::from_str("file://localhost/a/b.mlsys").expect("a valid URI");
    assert_eq!(uri::to_path(&localhost).as_deref(), Some(Path::new("/a/b.mlsys")));
    let untitled = Uri::from_str("untitled:Untitled-1").expect("a valid URI");
    assert_eq!(uri::to_path(&untitled), None);
}

/// A small project in the shape of examples/fraud, kept here so that layout changes to the
/// examples do not move the cursors below.
const PROJECT: [(&str, &str); 2] = [
    (
        "sources.mlsys",
        r#"
source transactions {
  format = parquet
  location = "data/transactions"
  timestamp = event_time
  schema { txn_id: string, user_id: string, amount: float64, country: string, event_time: timestamp }
  bad_rows = quarantine
}

source chargebacks {
  format = csv
  location = "data/chargebacks"
  timestamp = reported_at
  schema { txn_id: string, is_fraud: bool, reported_at: timestamp }
}

entity user { key user_id: string }
"#,
    ),
    (
        "features.mlsys",
        r#"// Feature groups.
features user_activity v1 {
  entity = user
  from = transactions
  txn_count_7d = count() over 7d every 1h
  avg_amount_30d = avg(amount) over 30d every 1d
}

features txn_signals v2 {
  from = transactions
  amount_log = ln(1 + amount)
  amount_vs_avg = amount / (coalesce(user_activity@v1.avg_amount_30d, 0.0) + 1)
  foreign = country != "US"
}

model fraud_detector {
  examples = transactions
  label = chargebacks.is_fraud on txn_id default false
  features = [txn_signals@v2, user_activity@v1]
  algorithm = gbdt(trees = 20)
  train {
    snapshot = 2026-01-01 .. 2026-04-30
    holdout = 2026-05-01 .. 2026-05-31
    metric = auc
    approval = required
  }
}

serve fraud_api {
  model = fraud_detector@production
  mode = realtime
}
"#,
    ),
];

/// The labels offered in `PROJECT` after replacing `needle` in `file` by `replacement`,
/// whose `$0` marks the cursor.
fn labels(file: &str, needle: &str, replacement: &str) -> Vec<String> {
    let mut cursor = None;
    let files: Vec<SourceFile> = PROJECT
        .iter()
        .enumerate()
        .map(|(index, (name, text))| {
            if *name != file {
                return SourceFile::new(*name, *text);
            }
            assert!(text.contains(needle), "{needle} not in {name}");
            let edited = text.replacen(needle, replacement, 1);
            let offset = edited.find("$0").expect("a cursor marker");
            cursor = Some((FileId(u32::try_from(index).expect("small")), offset));
            SourceFile::new(*name, edited.replacen("$0", "", 1))
        })
        .collect();
    let (file, offset) = cursor.expect("the file is part of the project");
    let analysis = Analysis {
        encoding: Encoding::Utf16,
        paths: files.iter().map(|file| PathBuf::from(&file.name)).collect(),
        uris: vec![None; files.len()],
        line_maps: files.iter().map(|file| LineMap::new(&file.text)).collect(),
        compilation: compile(&files),
        files,
    };
    completion(&analysis, file, offset, true)
        .into_iter()
        .map(|item| item.label)
        .collect()
}

fn assert_offers(labels: &[String], wanted: &[&str], unwanted: &[&str]) {
    for label in wanted {
        assert!(
            labels.iter().any(|offered| offered == label),
            "{label} missing from {labels:?}"
        );
    }
    for label in unwanted {
        assert!(!labels.iter().any(|offered| offered == label), "{label} in {labels:?}");
    }
}

#[test]
fn completion_in_expressions_offers_columns_features_groups_and_functions() {
    let offered = labels("features.mlsys", "ln(1 + amount)", "ln(1 + $0amount)");
    assert_offers(
        &offered,
        &[
            "amount",
            "country",
            "amount_log",
            "foreign",
            "user_activity@v1",
            "ln",
            "coalesce",
            "count",
            "if",
        ],
        &["format", "txn_id_missing"],
    );
    let offered = labels("features.mlsys", "ln(1 + amount)", "ln(1 + am$0)");
    assert_offers(&offered, &["amount"], &[]);
}

#[test]
fn completion_after_at_and_dot_follows_the_reference() {
    let offered = labels("features.mlsys", "user_activity@v1.avg", "user_activity@v1.$0avg");
    assert_offers(&offered, &["avg_amount_30d", "txn_count_7d"], &["ln", "amount"]);
    let offered = labels("features.mlsys", "[txn_signals@v2", "[txn_signals@$0v2");
    assert_offers(&offered, &["v2"], &["v1", "production"]);
    let offered = labels("features.mlsys", "= fraud_detector@production", "= fraud_detector@$0");
    assert_offers(&offered, &["production", "candidate"], &["v2"]);
    let offered = labels("features.mlsys", "chargebacks.is_fraud", "chargebacks.$0is_fraud");
    assert_offers(&offered, &["is_fraud", "reported_at"], &["amount"]);
}

#[test]
fn completion_of_items_values_and_declarations() {
    let offered = labels(
        "sources.mlsys",
        "  bad_rows = quarantine",
        "  $0\n  bad_rows = quarantine",
    );
    assert_offers(&offered, &["format", "schema", "bad_rows"], &["ln", "amount", "source"]);
    let offered = labels("sources.mlsys", "format = parquet", "format = $0");
    assert_offers(&offered, &["parquet", "csv"], &["ln", "daily"]);
    let offered = labels("sources.mlsys", "txn_id: string, user_id", "txn_id: $0, user_id");
    assert_offers(&offered, &["string", "timestamp"], &["ln"]);
    let offered = labels("features.mlsys", "metric = auc", "metric = $0");
    assert_offers(&offered, &["auc", "rmse"], &["ln"]);
    let offered = labels(
        "features.mlsys",
        "approval = required\n",
        "approval = required\n    $0\n",
    );
    assert_offers(&offered, &["seed", "snapshot"], &["examples"]);
    let offered = labels(
        "features.mlsys",
        "  from = transactions\n  amount_log",
        "  from = $0\n  amount_log",
    );
    assert_offers(&offered, &["transactions", "chargebacks"], &["user", "ln"]);
    let offered = labels(
        "sources.mlsys",
        "entity user { key user_id: string }",
        "entity user { key user_id: string }\n$0",
    );
    assert_offers(&offered, &["source", "features", "model"], &["ln", "format"]);
}

#[test]
fn no_completion_inside_comments_and_strings() {
    assert!(labels("features.mlsys", "// Feature groups.", "// Feature $0groups.").is_empty());
    assert!(labels("features.mlsys", r#"country != "US""#, r#"country != "U$0S""#).is_empty());
    let offered = labels(
        "features.mlsys",
        "  foreign = country",
        "  /* wip $0 */\n  foreign = country",
    );
    assert!(offered.is_empty(), "{offered:?}");
}

/// Closing a document whose path is now a named pipe reads nothing: a read would block the
/// server forever. (Fails, instead of hanging, after a generous bound.)
#[test]
fn closing_a_document_that_became_a_named_pipe_does_not_block() {
    let root = std::env::temp_dir().join(format!("mlsys-lsp-fifo-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).expect("a directory");
    let path = root.join("pipe.mlsys");
    std::fs::write(&path, "entity user { key user_id: string }\n").expect("a file");
    let uri = uri::from_path(&path).expect("a file URI");
    let (done, finished) = std::sync::mpsc::channel();
    let workspace_root = root.clone();
    std::thread::spawn(move || {
        let mut workspace = super::workspace::Workspace::new(Encoding::Utf16, vec![workspace_root]);
        workspace.open(uri.clone(), 1, "entity user { key user_id: string }\n".to_string());
        std::fs::remove_file(&path).expect("removed");
        let made = std::process::Command::new("mkfifo")
            .arg(&path)
            .status()
            .expect("mkfifo runs");
        assert!(made.success(), "mkfifo");
        workspace.close(&uri);
        done.send(()).ok();
    });
    let closed = finished.recv_timeout(std::time::Duration::from_secs(60));
    let _ = std::fs::remove_dir_all(&root);
    assert!(closed.is_ok(), "closing the document blocked on the named pipe");
}
