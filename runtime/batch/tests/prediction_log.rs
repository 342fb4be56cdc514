//! The prediction log: rows read back exactly, by day; a bounded buffer that drops and counts;
//! failed writes retried without loss or duplicates; concurrent logs on one table; and a log
//! killed with SIGKILL leaves a valid table holding every row it reported flushed.

use std::io::BufRead;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use datafusion::arrow::array::{Array, Float64Array, Int64Array, StringArray, TimestampMicrosecondArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::prelude::SessionContext;
use mlsys_batch::prediction_log::{
    FallbackReason, Features, LogOptions, PredictionLog, PredictionLogError, PredictionRecord, label_key,
};
use mlsys_batch::store::{OfflineStore, TableLocation};
use mlsys_compiler::syntax::literal::{MICROS_PER_DAY, days_from_civil};
use mlsys_kernels::Value;

use crate::support::Project;

const TARGET: &str = "fraud_api";

/// How long a condition may take before a test gives up (never a fixed wait).
const PATIENCE: Duration = Duration::from_secs(120);

/// Microseconds of `year-month-day` at midnight UTC, plus `micros`.
fn at(year: i32, month: u32, day: u32, micros: i64) -> i64 {
    i64::from(days_from_civil(year, month, day)) * MICROS_PER_DAY + micros
}

fn names(names: &[&str]) -> Arc<[String]> {
    names.iter().map(|name| name.to_string()).collect()
}

/// An ordinary row: request `req-<n>` scored at `time` by version 3, no shadow, no fallback.
fn record(n: u64, time: i64) -> PredictionRecord {
    PredictionRecord {
        request_id: format!("req-{n}"),
        time,
        example_time: time - 1_000,
        label_key: Some(label_key(&[Value::String(format!("txn-{n}").into())])),
        model: "fraud".to_string(),
        version: Some(3),
        features: Features::new(names(&["amount", "count_1h"]), vec![n as f64 * 0.1, 1.0]).expect("features"),
        score: 1.0 / (n as f64 + 3.0),
        shadow_version: None,
        shadow_score: None,
        fallback: None,
        latency_seconds: 0.000_25,
    }
}

fn store(project: &Project) -> OfflineStore {
    OfflineStore::new(project.store())
}

/// Options whose interval never comes during a test: only `flush` and `close` write.
fn explicit_flushes(max_buffered_rows: usize) -> LogOptions {
    LogOptions {
        flush_interval: Duration::from_secs(3600),
        max_buffered_rows,
    }
}

/// A row of the log table as read back, floats as bits.
#[derive(Debug, PartialEq)]
struct Logged {
    request_id: String,
    time: i64,
    target: String,
    model: String,
    version: Option<i64>,
    features: String,
    score: u64,
    shadow_version: Option<i64>,
    shadow_score: Option<u64>,
    fallback: Option<String>,
    latency_seconds: u64,
    example_time: i64,
    label_key: Option<String>,
    dt: String,
}

impl Logged {
    /// What the table should hold for `record`, partition `dt`.
    fn of(record: &PredictionRecord, dt: &str) -> Logged {
        Logged {
            request_id: record.request_id.clone(),
            time: record.time,
            target: TARGET.to_string(),
            model: record.model.clone(),
            version: record.version,
            features: record.features.to_json(),
            score: record.score.to_bits(),
            shadow_version: record.shadow_version,
            shadow_score: record.shadow_score.map(f64::to_bits),
            fallback: record.fallback.map(|reason| reason.as_str().to_string()),
            latency_seconds: record.latency_seconds.to_bits(),
            example_time: record.example_time,
            label_key: record.label_key.clone(),
            dt: dt.to_string(),
        }
    }
}

/// Every row of a log table, by the crate's own reading path, sorted by request id.
async fn logged(table: &TableLocation) -> Vec<Logged> {
    let batches = SessionContext::new()
        .read_table(table.provider().await.expect("the table opens"))
        .expect("scan")
        .collect()
        .await
        .expect("rows");
    let mut rows = Vec::new();
    for batch in &batches {
        let column =
            |name: &str, data_type: &DataType| cast(batch.column_by_name(name).expect(name), data_type).expect("cast");
        let text = |name: &str| column(name, &DataType::Utf8);
        let label_keys = text("label_key");
        let label_keys = label_keys.as_any().downcast_ref::<StringArray>().expect("utf8").clone();
        let example_time = column(
            "example_time",
            &DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        );
        let example_time = example_time
            .as_any()
            .downcast_ref::<TimestampMicrosecondArray>()
            .expect("example_time")
            .clone();
        let (request_id, target, model, features, fallback, dt) = (
            text("request_id"),
            text("target"),
            text("model"),
            text("features"),
            text("fallback"),
            text("dt"),
        );
        let strings = |array: &Arc<dyn Array>| array.as_any().downcast_ref::<StringArray>().expect("utf8").clone();
        let (request_id, target, model, features, fallback, dt) = (
            strings(&request_id),
            strings(&target),
            strings(&model),
            strings(&features),
            strings(&fallback),
            strings(&dt),
        );
        let time = column("time", &DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())));
        let time = time.as_any().downcast_ref::<TimestampMicrosecondArray>().expect("time");
        let integers = |name: &str| {
            let array = column(name, &DataType::Int64);
            array.as_any().downcast_ref::<Int64Array>().expect("int64").clone()
        };
        let floats = |name: &str| {
            let array = column(name, &DataType::Float64);
            array.as_any().downcast_ref::<Float64Array>().expect("float64").clone()
        };
        let (version, shadow_version) = (integers("version"), integers("shadow_version"));
        let (score, shadow_score, latency) = (floats("score"), floats("shadow_score"), floats("latency_seconds"));
        for row in 0..batch.num_rows() {
            rows.push(Logged {
                request_id: request_id.value(row).to_string(),
                time: time.value(row),
                target: target.value(row).to_string(),
                model: model.value(row).to_string(),
                version: version.is_valid(row).then(|| version.value(row)),
                features: features.value(row).to_string(),
                score: score.value(row).to_bits(),
                shadow_version: shadow_version.is_valid(row).then(|| shadow_version.value(row)),
                shadow_score: shadow_score.is_valid(row).then(|| shadow_score.value(row).to_bits()),
                fallback: fallback.is_valid(row).then(|| fallback.value(row).to_string()),
                latency_seconds: latency.value(row).to_bits(),
                example_time: example_time.value(row),
                label_key: label_keys.is_valid(row).then(|| label_keys.value(row).to_string()),
                dt: dt.value(row).to_string(),
            });
        }
    }
    rows.sort_by(|left, right| left.request_id.cmp(&right.request_id));
    rows
}

/// The request numbers of a log table's rows (`req-<n>`), sorted.
async fn request_numbers(table: &TableLocation) -> Vec<u64> {
    let mut numbers: Vec<u64> = logged(table)
        .await
        .iter()
        .map(|row| row.request_id.trim_start_matches("req-").parse().expect("req-<n>"))
        .collect();
    numbers.sort_unstable();
    numbers
}

/// Waits until `condition` holds, checking every 10 ms, for at most [`PATIENCE`].
async fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let started = Instant::now();
    while !condition() {
        assert!(started.elapsed() < PATIENCE, "waited too long for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The `features` text parses back to every value's bits; missing and infinite values are null.
fn assert_features_round_trip(record: &PredictionRecord, text: &str) {
    let parsed: serde_json::Map<String, serde_json::Value> = serde_json::from_str(text).expect("a JSON object");
    let features = &record.features;
    assert_eq!(parsed.len(), features.names().len(), "{text}");
    for (name, value) in features.names().iter().zip(features.values()) {
        let logged = &parsed[name.as_str()];
        if value.is_finite() {
            let logged = logged.as_f64().expect("a number");
            assert_eq!(logged.to_bits(), value.to_bits(), "{name} in {text}");
        } else {
            assert!(logged.is_null(), "{name} in {text}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appended_rows_read_back_exactly_partitioned_by_day_across_midnight() {
    let project = Project::with_files("predictions-exact", &[]);
    let log = PredictionLog::start(&store(&project), TARGET, explicit_flushes(100))
        .await
        .expect("starts");
    let last_microsecond = at(2026, 3, 1, MICROS_PER_DAY - 1);
    let midnight = at(2026, 3, 2, 0);
    let inputs = names(&["amount", "missing", "quoted \"name\"\n", "tiny", "huge", "third"]);
    let row = |id: &str, time: i64, values: Vec<f64>| PredictionRecord {
        request_id: id.to_string(),
        time,
        features: Features::new(inputs.clone(), values).expect("features"),
        ..record(0, time)
    };
    let before_midnight = PredictionRecord {
        shadow_version: Some(4),
        shadow_score: Some(0.690_000_000_000_000_1),
        score: 0.1 + 0.2,
        ..row(
            "a",
            last_microsecond,
            vec![0.1 + 0.2, f64::NAN, -0.0, 5e-324, f64::MAX, 1.0 / 3.0],
        )
    };
    let at_midnight = PredictionRecord {
        version: None,
        label_key: None,
        fallback: Some(FallbackReason::NoModel),
        score: -0.0,
        latency_seconds: 1e-7,
        ..row("b", midnight, vec![-1.5e300, 2.0, 3.0, f64::MIN_POSITIVE, 0.0, 7.0])
    };
    let before_1970 = PredictionRecord {
        fallback: Some(FallbackReason::Timeout),
        ..row("c", -1, vec![f64::INFINITY, f64::NEG_INFINITY, 1.0, 2.0, 3.0, 4.0])
    };
    let same_day_later = PredictionRecord {
        fallback: Some(FallbackReason::StoreUnavailable),
        ..row("d", last_microsecond - 5, vec![9.0; 6])
    };
    assert!(log.append(before_midnight.clone()));
    assert!(log.append(at_midnight.clone()));
    log.flush().await.expect("first flush");
    // A second commit appends to the day already written, replacing nothing.
    assert!(log.append(before_1970.clone()));
    assert!(log.append(same_day_later.clone()));
    log.close().await.expect("closes");

    let stats = log.stats();
    assert_eq!(
        (stats.rows_written, stats.commits, stats.dropped, stats.buffered),
        (4, 2, 0, 0)
    );
    let table = store(&project).predictions(TARGET);
    let rows = logged(&table).await;
    let expected = [
        (&before_midnight, "2026-03-01"),
        (&at_midnight, "2026-03-02"),
        (&before_1970, "1969-12-31"),
        (&same_day_later, "2026-03-01"),
    ];
    assert_eq!(
        rows,
        expected
            .iter()
            .map(|(record, dt)| Logged::of(record, dt))
            .collect::<Vec<_>>()
    );
    for ((record, _), row) in expected.iter().zip(&rows) {
        assert_features_round_trip(record, &row.features);
    }
    assert_eq!(
        rows[0].features,
        r#"{"amount":0.30000000000000004,"missing":null,"quoted \"name\"\n":-0.0,"tiny":5e-324,"huge":1.7976931348623157e+308,"third":0.3333333333333333}"#
    );
    for day in ["2026-03-01", "2026-03-02", "1969-12-31"] {
        assert!(table.path.join(format!("dt={day}")).is_dir(), "partition {day}");
    }
    let last_commit = std::fs::read_to_string(table.path.join("_delta_log/00000000000000000002.json")).expect("commit");
    assert!(last_commit.contains(r#""mode":"Append""#), "{last_commit}");
    assert!(!last_commit.contains(r#""remove""#), "{last_commit}");
    // Builds never clean up the log's files: a deploy may be writing them.
    let build_tables = mlsys_batch::orphans::table_directories(&project.store()).expect("tables");
    assert!(
        !build_tables.iter().any(|path| path.starts_with(&table.path)),
        "{build_tables:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_buffer_drops_and_counts_appends_and_close_writes_the_rest() {
    let project = Project::with_files("predictions-bound", &[]);
    let log = PredictionLog::start(&store(&project), TARGET, explicit_flushes(5))
        .await
        .expect("starts");
    let time = at(2026, 3, 1, 0);
    let accepted: Vec<bool> = (0..12).map(|n| log.append(record(n, time))).collect();
    assert_eq!(accepted, [[true; 5].as_slice(), &[false; 7]].concat());
    let stats = log.stats();
    assert_eq!((stats.dropped, stats.buffered, stats.rows_written), (7, 5, 0));
    assert_eq!(log.dropped(), 7);

    // Close (from a clone, as a server's shutdown would) writes everything buffered.
    log.clone().close().await.expect("closes");
    assert!(log.close().await.is_ok(), "a second close returns at once");
    let table = store(&project).predictions(TARGET);
    assert_eq!(request_numbers(&table).await, [0, 1, 2, 3, 4]);
    let stats = log.stats();
    assert_eq!((stats.rows_written, stats.commits, stats.buffered), (5, 1, 0));
    // A closed log takes nothing more.
    assert!(!log.append(record(99, time)));
    assert_eq!(log.dropped(), 8);
    assert!(matches!(log.flush().await, Err(PredictionLogError::Closed { .. })));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_writes_every_buffered_row() {
    let project = Project::with_files("predictions-close", &[]);
    let log = PredictionLog::start(&store(&project), TARGET, explicit_flushes(10_000))
        .await
        .expect("starts");
    let start = at(2026, 3, 1, 0);
    for n in 0..2_000 {
        // Two days: 1,000 rows each side of midnight.
        assert!(log.append(record(n, start + (n as i64 - 1_000) * 1_000)));
    }
    assert_eq!(
        log.stats().rows_written,
        0,
        "nothing is written before the interval or close"
    );
    log.close().await.expect("closes");
    let table = store(&project).predictions(TARGET);
    assert_eq!(request_numbers(&table).await, (0..2_000).collect::<Vec<u64>>());
    let stats = log.stats();
    assert_eq!((stats.rows_written, stats.commits, stats.buffered), (2_000, 1, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_write_is_retried_at_the_next_interval_without_loss_or_duplicates() {
    let project = Project::with_files("predictions-retry", &[]);
    let store = store(&project);
    let table = store.predictions(TARGET);
    // A file where the day's partition directory must go: every write of that day fails, as on
    // a full disk, until it is removed.
    let blocker = table.path.join("dt=2026-03-01");
    std::fs::create_dir_all(&table.path).expect("table directory");
    std::fs::write(&blocker, b"not a directory").expect("blocker");
    let options = LogOptions {
        flush_interval: Duration::from_millis(20),
        max_buffered_rows: 8,
    };
    let log = PredictionLog::start(&store, TARGET, options).await.expect("starts");
    let time = at(2026, 3, 1, 3_600_000_000);
    for n in 0..5 {
        assert!(log.append(record(n, time)));
    }
    wait_until("a failed write", || log.stats().write_failures >= 2).await;
    let flushed = log.flush().await;
    assert!(
        matches!(&flushed, Err(PredictionLogError::Write { rows: 5, .. })),
        "{flushed:?}"
    );
    // The failed rows are kept and count against the bound: 3 more fit, 2 are dropped.
    let accepted: Vec<bool> = (5..10).map(|n| log.append(record(n, time))).collect();
    assert_eq!(accepted, [true, true, true, false, false]);
    assert_eq!(log.stats().buffered, 8);

    std::fs::remove_file(&blocker).expect("unblocked");
    wait_until("the retried rows", || log.stats().rows_written == 8).await;
    log.close().await.expect("closes");
    assert_eq!(request_numbers(&table).await, [0, 1, 2, 3, 4, 5, 6, 7]);
    let stats = log.stats();
    assert_eq!((stats.dropped, stats.buffered), (2, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_logs_append_to_one_table_without_losing_a_row() {
    let project = Project::with_files("predictions-concurrent", &[]);
    let options = LogOptions {
        flush_interval: Duration::from_millis(5),
        max_buffered_rows: 10_000,
    };
    let first = PredictionLog::start(&store(&project), TARGET, options)
        .await
        .expect("starts");
    let second = PredictionLog::start(&store(&project), TARGET, options)
        .await
        .expect("starts");
    let time = at(2026, 3, 1, 0);
    let append = move |log: PredictionLog, offset: u64| async move {
        for n in 0..300 {
            assert!(log.append(record(offset + n, time)));
            if n % 10 == 0 {
                tokio::task::yield_now().await;
                log.flush().await.expect("flushed");
            }
        }
        log.close().await.expect("closes");
        log.stats()
    };
    let (first, second) = tokio::join!(tokio::spawn(append(first, 0)), tokio::spawn(append(second, 1_000)));
    let (first, second) = (first.expect("first log"), second.expect("second log"));
    assert_eq!((first.rows_written, second.rows_written), (300, 300));
    let table = store(&project).predictions(TARGET);
    let expected: Vec<u64> = (0..300).chain(1_000..1_300).collect();
    assert_eq!(request_numbers(&table).await, expected);
    // Both logs found no table: one created it, the other appended to it (not creating it again).
    let log = std::fs::read_dir(table.path.join("_delta_log")).expect("log");
    let metadata_commits = log
        .filter_map(|entry| std::fs::read_to_string(entry.expect("entry").path()).ok())
        .filter(|commit| commit.contains(r#"{"metaData":"#))
        .count();
    assert_eq!(metadata_commits, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_refuses_a_table_of_other_columns_and_bad_options() {
    let project = Project::with_files("predictions-refused", &[]);
    let store = store(&project);
    let table = store.predictions(TARGET);
    let schema = Arc::new(datafusion::arrow::datatypes::Schema::new(vec![
        datafusion::arrow::datatypes::Field::new("other", DataType::Int64, false),
        datafusion::arrow::datatypes::Field::new("dt", DataType::Utf8, false),
    ]));
    let rows = datafusion::arrow::array::RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(Int64Array::from(vec![1])),
            Arc::new(StringArray::from(vec!["2026-03-01"])),
        ],
    )
    .expect("batch");
    let writer = table.append_writer(schema, "test", 1, 8 << 20).await.expect("writer");
    let sent = writer.sink().send(rows).await;
    writer.finish(sent).await.expect("written");
    let error = PredictionLog::start(&store, TARGET, LogOptions::default())
        .await
        .err()
        .expect("refused");
    assert!(matches!(error, PredictionLogError::Open { .. }), "{error:?}");
    let error = PredictionLog::start(&store, "../escape", LogOptions::default())
        .await
        .err()
        .expect("refused");
    assert!(matches!(error, PredictionLogError::InvalidTarget { .. }), "{error:?}");
    let no_room = LogOptions {
        max_buffered_rows: 0,
        ..LogOptions::default()
    };
    let error = PredictionLog::start(&store, "other", no_room)
        .await
        .err()
        .expect("refused");
    assert!(matches!(error, PredictionLogError::InvalidOptions), "{error:?}");
}

/// The child's store root (set only in the child).
const CHILD_STORE: &str = "MLSYS_PREDICTION_LOG_CHILD_STORE";

/// Rows the SIGKILL test waits to see reported flushed before killing the child.
const FLUSHED_BEFORE_KILL: u64 = 3_000;

/// The SIGKILL test's child (this test binary re-executed with [`CHILD_STORE`] set; run normally
/// it does nothing): appends rows `req-0, req-1, …` continuously with a 10 ms flush interval and
/// prints `flushed N` whenever the first N rows are committed, until it is killed.
#[test]
fn sigkill_child() {
    let Ok(root) = std::env::var(CHILD_STORE) else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let options = LogOptions {
            flush_interval: Duration::from_millis(10),
            max_buffered_rows: 1_000_000,
        };
        let log = PredictionLog::start(&OfflineStore::new(root), TARGET, options)
            .await
            .expect("starts");
        let mut pace = tokio::time::interval(Duration::from_millis(1));
        let (mut next, mut reported) = (0, 0);
        loop {
            for _ in 0..20 {
                assert!(log.append(record(next, at(2026, 3, 1, next as i64))), "dropped");
                next += 1;
            }
            // Rows are committed in append order, none dropped: the first `rows_written` are in.
            let written = log.stats().rows_written;
            if written != reported {
                println!("flushed {written}");
                reported = written;
            }
            pace.tick().await;
        }
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_sigkill_the_table_is_valid_and_holds_every_row_reported_flushed() {
    let project = Project::with_files("predictions-sigkill", &[]);
    let mut child = Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "prediction_log::sigkill_child",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_STORE, project.store())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("child starts");
    // The child's reports, read on a thread so that waiting for them has a deadline.
    let stdout = child.stdout.take().expect("stdout");
    let (reports, reported) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let rows = line.strip_prefix("flushed ").and_then(|rows| rows.parse::<u64>().ok());
            if let Some(rows) = rows
                && reports.send(rows).is_err()
            {
                break;
            }
        }
    });
    let started = Instant::now();
    let mut flushed = 0;
    while flushed < FLUSHED_BEFORE_KILL {
        let left = PATIENCE.saturating_sub(started.elapsed());
        flushed = reported
            .recv_timeout(left)
            .unwrap_or_else(|error| panic!("the child reported {flushed} rows flushed, then {error}"));
    }
    child.kill().expect("SIGKILL");
    let status = child.wait().expect("child reaped");
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(9),
        "{status}"
    );
    // Later reports may have been printed before the kill landed.
    flushed = reported.try_iter().fold(flushed, u64::max);

    let table = store(&project).predictions(TARGET);
    let numbers = request_numbers(&table).await;
    let distinct: std::collections::BTreeSet<u64> = numbers.iter().copied().collect();
    assert_eq!(distinct.len(), numbers.len(), "a row was written twice");
    // Every row reported flushed is there; what follows is a prefix of the rest, committed in order.
    assert!(
        numbers.len() as u64 >= flushed,
        "{} rows, {flushed} reported",
        numbers.len()
    );
    assert_eq!(numbers, (0..numbers.len() as u64).collect::<Vec<_>>());
    read_with_python_deltalake(&table, numbers.len(), flushed);
}

/// Reads the table with the `deltalake` and `pyarrow` Python packages: the same rows, every
/// reported one present. Skipped, saying so, where they are not installed.
fn read_with_python_deltalake(table: &TableLocation, rows: usize, flushed: u64) {
    let available = Command::new("python3")
        .args(["-c", "import deltalake, pyarrow"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if !available {
        eprintln!(
            "SKIPPED the Python reading of the prediction log: python3 with `deltalake` and `pyarrow` is not installed (pip install deltalake pyarrow)"
        );
        return;
    }
    let script = r#"
import os, sys
from deltalake import DeltaTable
rows = DeltaTable(sys.argv[1]).to_pyarrow_table()
ids = rows.column("request_id").to_pylist()
numbers = sorted(int(i[len("req-"):]) for i in ids)
assert numbers == list(range(len(numbers))), "not the first rows, once each"
assert len(numbers) == int(sys.argv[2]) and len(numbers) >= int(sys.argv[3]), len(numbers)
assert str(rows.schema.field("time").type) == "timestamp[us, tz=UTC]", rows.schema
print(len(numbers), flush=True)
# Past the checks: skip the interpreter's teardown, where the deltalake package's threads can
# abort the process ("terminate called without an active exception") after a correct read.
os._exit(0)
"#;
    let output = Command::new("python3")
        .args(["-c", script])
        .arg(&table.path)
        .arg(rows.to_string())
        .arg(flushed.to_string())
        .output()
        .expect("python3 runs");
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The label key is one text per value tuple, whichever engine read the values.
#[test]
fn label_keys_are_canonical_json_arrays() {
    let key = label_key(&[
        Value::String("t\"1".into()),
        Value::Int(-3),
        Value::Float(0.1),
        Value::Float(f64::NAN),
        Value::Bool(true),
        Value::Null,
        Value::Date(20_000),
        Value::Timestamp(1_700_000_000_000_000),
    ]);
    assert_eq!(key, r#"["t\"1",-3,0.1,"NaN",true,null,20000,1700000000000000]"#);
}
