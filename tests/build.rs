//! `mlsysc build` end to end: the summary, and crash safety — a build SIGKILLed at any point and
//! run again ends in exactly the tables a clean build makes.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use datafusion::prelude::SessionContext;
use mlsys_batch::store::TableLocation;

fn fraud_project(name: &str) -> PathBuf {
    crate::support::fraud_project(&format!("build-{name}"))
}

fn build(project: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_mlsysc"))
        .args(["build", &project.display().to_string()])
        .output()
        .expect("mlsysc runs")
}

/// Every row of every table of the store, sorted, per table.
fn tables(project: &Path) -> Vec<(String, Vec<String>)> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let store = project.join(".mlsys/offline");
    let mut result = Vec::new();
    let mut names: Vec<String> = ["processed", "quarantine"]
        .iter()
        .flat_map(|zone| ["chargebacks", "transactions"].map(|source| format!("{zone}/{source}")))
        .collect();
    names.extend(["features/user_activity/v1", "features/txn_signals/v2"].map(String::from));
    // Training sets are named by an id that digests input file fingerprints (paths, sizes, times),
    // so two copies of the project name theirs differently: compare them by split.
    let sets: Vec<PathBuf> = std::fs::read_dir(store.join("training/fraud_detector"))
        .expect("training sets")
        .map(|entry| entry.expect("entry").path())
        .collect();
    assert_eq!(sets.len(), 1, "one training set: {sets:?}");
    names.extend(["snapshot", "holdout"].map(|split| format!("training/fraud_detector/{split}")));
    for name in names {
        let path = match name.strip_prefix("training/fraud_detector/") {
            Some(split) => sets[0].join(split),
            None => store.join(&name),
        };
        let location = TableLocation {
            name: name.clone(),
            path,
        };
        let rows = runtime.block_on(async {
            let provider = location.provider().await.expect("table opens");
            let batches = SessionContext::new()
                .read_table(provider)
                .expect("scan")
                .collect()
                .await
                .expect("collect");
            let text = datafusion::arrow::util::pretty::pretty_format_batches(&batches)
                .expect("format")
                .to_string();
            let mut lines: Vec<String> = text
                .lines()
                .filter(|line| line.starts_with("| ") && !line.contains("| _file") && !line.starts_with("| file "))
                .map(str::to_string)
                .collect();
            lines.sort();
            lines
        });
        result.push((name, rows));
    }
    result
}

#[test]
fn the_build_summary_counts_every_row() {
    let project = fraud_project("summary");
    let output = build(&project);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("transactions                 182        0    182     112329     112326            3"),
        "{stdout}"
    );
    assert!(stdout.contains("5 rows quarantined"), "{stdout}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("unexpected column `device_os`"), "{stderr}");
    let _ = std::fs::remove_dir_all(project);
}

#[test]
fn a_killed_build_rerun_equals_a_clean_build() {
    let clean = fraud_project("clean");
    assert_eq!(build(&clean).status.code(), Some(0));
    let expected = tables(&clean);
    assert!(expected.iter().all(|(_, rows)| !rows.is_empty()));

    for kill_after in [50u64, 600, 1500, 4000, 8500, 10500] {
        let project = fraud_project(&format!("killed-{kill_after}"));
        let mut child = Command::new(env!("CARGO_BIN_EXE_mlsysc"))
            .args(["build", &project.display().to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        std::thread::sleep(Duration::from_millis(kill_after));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        let output = build(&project);
        assert_eq!(
            output.status.code(),
            Some(0),
            "rerun after a kill at {kill_after} ms: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let actual = tables(&project);
        for ((name, expected_rows), (_, actual_rows)) in expected.iter().zip(&actual) {
            assert_eq!(
                actual_rows.len(),
                expected_rows.len(),
                "{name} after a kill at {kill_after} ms: row count differs"
            );
            assert!(
                actual_rows == expected_rows,
                "{name} after a kill at {kill_after} ms: rows differ"
            );
        }
        let _ = std::fs::remove_dir_all(project);
    }
    let _ = std::fs::remove_dir_all(clean);
}

#[test]
fn rows_without_an_event_time_are_counted_as_skipped_in_the_summary() {
    let project = std::env::temp_dir().join(format!("mlsysc-build-skipped-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&project);
    std::fs::create_dir_all(project.join("data/flights/dt=2026-01-21")).expect("dirs");
    std::fs::write(
        project.join("flights.mlsys"),
        "source flights {\n  format = csv\n  location = \"data/flights\"\n  timestamp = departure\n  \
         schema { flight: string, departure: timestamp? }\n}\n\nentity plane { key flight: string }\n\n\
         features departures v1 {\n  entity = plane\n  from = flights\n  n = count() over 1d every 1d\n}\n",
    )
    .expect("spec");
    std::fs::write(
        project.join("data/flights/dt=2026-01-21/part-0.csv"),
        "flight,departure\nLH1,2026-01-21T10:00:00Z\nLH2,\nLH3,\n",
    )
    .expect("data");
    let output = build(&project);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("flights: 2 rows skipped (no event time); not bad data, not quarantined"),
        "{stdout}"
    );
    assert!(!stdout.contains("rows quarantined"), "{stdout}");
    let _ = std::fs::remove_dir_all(project);
}

/// Waits until `condition` holds, checking every 20 ms, for at most `limit`.
fn wait_until(limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let started = std::time::Instant::now();
    while started.elapsed() < limit {
        if condition() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// The data files of the store's tables that no log version references (whenever written).
fn uncommitted(store: &Path) -> Vec<PathBuf> {
    let later = std::time::SystemTime::now() + Duration::from_secs(3600);
    mlsys_batch::orphans::table_directories(store)
        .unwrap_or_default()
        .iter()
        .flat_map(|table| mlsys_batch::orphans::uncommitted_files(table, later).unwrap_or_default())
        .collect()
}

#[test]
fn a_second_build_says_which_build_runs_and_a_killed_builds_files_are_removed() {
    let project = fraud_project("concurrent");
    let store = project.join(".mlsys/offline");
    let mut first = Command::new(env!("CARGO_BIN_EXE_mlsysc"))
        .args(["build", &project.display().to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let lock = project.join(".mlsys/build.lock");
    let pid = first.id().to_string();
    assert!(
        wait_until(Duration::from_secs(60), || std::fs::read_to_string(&lock)
            .is_ok_and(|text| text.lines().next() == Some(pid.as_str()))),
        "the first build takes the lock"
    );
    let second = build(&project);
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("another build is running (mlsysc build, pid {pid})")),
        "{stderr}"
    );

    // Killed while a table's files are written and not yet committed (if the build is caught
    // there; a file planted below stands for one either way).
    wait_until(Duration::from_secs(120), || !uncommitted(&store).is_empty());
    let _ = first.kill(); // SIGKILL
    let _ = first.wait();
    let planted_directory = store.join("features/user_activity/v1/dt=2026-01-01");
    std::fs::create_dir_all(&planted_directory).expect("directory");
    let planted = planted_directory.join("part-00000-00000000-0000-0000-0000-000000000000-c000.snappy.parquet");
    std::fs::write(&planted, b"PAR1").expect("plant");
    let left = uncommitted(&store);
    assert!(left.contains(&planted.canonicalize().expect("planted")), "{left:?}");

    let rerun = build(&project);
    assert_eq!(
        rerun.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&rerun.stderr)
    );
    for file in &left {
        assert!(!file.exists(), "{} is left", file.display());
    }
    assert_eq!(uncommitted(&store), Vec::<PathBuf>::new());
    // Every file any log version references is still there.
    for table in mlsys_batch::orphans::table_directories(&store).expect("tables") {
        let committed = mlsys_batch::orphans::referenced_files(&table)
            .expect("log")
            .expect("the whole log");
        for file in committed {
            assert!(file.exists(), "committed {} was removed", file.display());
        }
    }
    let _ = std::fs::remove_dir_all(project);
}

#[test]
fn a_failing_build_shuts_down_without_a_panic() {
    let project = fraud_project("failing");
    // The fraud data has duplicate payments: with `bad_rows = fail`, ingestion fails while the
    // processed and quarantine tables are being written.
    let sources = project.join("sources.mlsys");
    let text = std::fs::read_to_string(&sources).expect("sources");
    std::fs::write(&sources, text.replacen("bad_rows = quarantine", "bad_rows = fail", 1)).expect("edit");
    for attempt in 0..3 {
        let output = build(&project);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "attempt {attempt}: {stderr}");
        assert!(stderr.contains("bad_rows = fail"), "attempt {attempt}: {stderr}");
        assert!(!stderr.contains("panicked"), "attempt {attempt}: {stderr}");
    }
    let _ = std::fs::remove_dir_all(project);
}

/// A failed build prints the whole chain of causes: which source and file, what reading it was
/// doing, and the reader's own error; and for a store file the engine wrote, which file and why
/// it does not parse.
#[test]
fn a_failed_build_prints_the_cause_of_its_error() {
    let project = fraud_project("cause");
    let day = std::fs::read_dir(project.join("data/raw/transactions"))
        .expect("partitions")
        .map(|entry| entry.expect("entry").path())
        .find(|path| path.is_dir())
        .expect("a date partition");
    let file = std::fs::read_dir(&day)
        .expect("files")
        .map(|entry| entry.expect("entry").path())
        .find(|path| path.extension().is_some_and(|extension| extension == "parquet"))
        .expect("a Parquet file");
    std::fs::write(&file, b"not parquet").expect("corrupt the file");
    let output = build(&project);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    let name = file.file_name().and_then(|name| name.to_str()).expect("file name");
    // The source, the file, the step, then the Parquet reader's own message.
    let (context, cause) = stderr
        .split_once("cannot read as Parquet: ")
        .unwrap_or_else(|| panic!("no cause after the step: {stderr}"));
    assert!(
        context.contains("source `transactions`") && context.contains(name),
        "{stderr}"
    );
    assert!(cause.contains("Parquet error"), "{stderr}");
    std::fs::remove_file(&file).expect("remove the file");

    // A store file the build wrote and cannot parse: the file, then the parser's message.
    let state = project.join(".mlsys/offline/_state/build.json");
    std::fs::create_dir_all(state.parent().expect("parent")).expect("state directory");
    std::fs::write(&state, b"{ not json").expect("corrupt the build state");
    let output = build(&project);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!(
            "{} is corrupt; delete it to rebuild everything: key must be a string",
            state.display()
        )),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(project);
}

/// A build waits while `deploy`'s feature refresh holds the build lock (it says so), and builds
/// once the lock is released.
#[test]
fn a_build_waits_for_a_feature_refresh_holding_the_lock() {
    use std::io::{BufRead, BufReader, Write};
    let project = fraud_project("build-waits");
    let state = project.join(".mlsys");
    std::fs::create_dir_all(&state).expect("state directory");
    let mut lock = std::fs::File::create(state.join("build.lock")).expect("the lock file");
    lock.lock().expect("locked");
    writeln!(lock, "4242\nmlsysc deploy's feature refresh").expect("holder");
    let mut waiting = Command::new(env!("CARGO_BIN_EXE_mlsysc"))
        .args(["build", "."])
        .current_dir(&project)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stderr = BufReader::new(waiting.stderr.take().expect("stderr"));
    let mut line = String::new();
    while !line.starts_with("waiting: ") {
        line.clear();
        assert!(
            stderr.read_line(&mut line).expect("stderr") > 0,
            "the build ended without waiting"
        );
    }
    assert!(line.contains("(mlsysc deploy's feature refresh, pid 4242)"), "{line}");
    drop(lock);
    let status = waiting.wait().expect("the build ends");
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).expect("stderr");
    assert!(status.success(), "{rest}");
    std::fs::remove_dir_all(&project).ok();
}
