//! `unique(...)` across partitions and builds: an incremental build after any sequence of added,
//! changed and removed partition files gives exactly the tables and training sets of a clean build
//! of the final files.

use std::path::{Path, PathBuf};

use mlsys_batch::BuildOptions;
use mlsys_batch::state::BuildState;
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

use crate::support::Project;

const SPEC: &str = r#"
source txns {
  format = csv
  location = "data/txns"
  timestamp = at
  schema { txn_id: string, user_id: string, amount: float64, big: bool, at: timestamp }
}

contract txns_v1 on txns {
  owner = "payments"
  expect unique(txn_id)
  expect amount >= 0
}

entity user { key user_id: string }

features spend v1 {
  entity = user
  from = txns
  total = sum(amount) over 1d every 1d
}

model big_spender {
  examples = txns
  label = big
  features = [spend@v1]
  algorithm = gbdt(trees = 2)
  train {
    snapshot = 2026-01-01 .. 2026-01-02
    holdout = 2026-01-03 .. 2026-01-04
    metric = auc
  }
}
"#;

/// The tables compared between an incremental and a clean build.
const TABLES: [&str; 3] = ["processed/txns", "quarantine/txns", "features/spend/v1"];

/// One row of a `txns` file: transaction number, hour of its day, amount.
type Row = (u8, u8, i8);

fn file_path(day: u8, file: u8) -> String {
    format!("data/txns/dt=2026-01-0{}/part-{file}.csv", day + 1)
}

fn csv(day: u8, rows: &[Row]) -> String {
    let mut text = "txn_id,user_id,amount,big,at\n".to_string();
    for (id, hour, amount) in rows {
        text.push_str(&format!(
            "t{id},u{},{amount}.5,{},2026-01-0{}T{hour:02}:00:00Z\n",
            id % 3,
            amount % 2 == 0,
            day + 1
        ));
    }
    text
}

/// Writes (or, with no rows, removes) one partition file.
fn write(project: &Project, day: u8, file: u8, rows: &[Row]) {
    let path = project.root.join(file_path(day, file));
    if rows.is_empty() {
        let _ = std::fs::remove_file(&path);
        return;
    }
    std::fs::create_dir_all(path.parent().expect("parent")).expect("dirs");
    std::fs::write(&path, csv(day, rows)).expect("write");
}

/// The rows of every compared table and of the training set, and the training set's id.
async fn snapshot(project: &Project, store: &Path) -> (Vec<Vec<String>>, Option<String>) {
    let mut tables = Vec::new();
    for table in TABLES {
        tables.push(project.rows_in(store, table).await);
    }
    let state = BuildState::load(&store.join("_state/build.json")).expect("state");
    let id = state.training.get("big_spender").cloned();
    if let Some(id) = &id {
        for split in ["snapshot", "holdout"] {
            tables.push(
                project
                    .rows_in(store, &format!("training/big_spender/{id}/{split}"))
                    .await,
            );
        }
    }
    (tables, id)
}

/// Builds incrementally after each step, then compares with a clean build of the final files.
async fn incremental_equals_clean(project: &Project, steps: &[(u8, u8, Vec<Row>)]) {
    for (day, file, rows) in steps {
        write(project, *day, *file, rows);
        project
            .build(&BuildOptions::default())
            .await
            .expect("incremental build");
    }
    let clean: PathBuf = project.root.join(".mlsys/clean");
    let _ = std::fs::remove_dir_all(&clean);
    project
        .build_into(&clean, &BuildOptions::default())
        .await
        .expect("clean build");
    let incremental = snapshot(project, &project.store()).await;
    let clean = snapshot(project, &clean).await;
    assert_eq!(incremental.1, clean.1, "training set ids");
    for (index, (incremental, clean)) in incremental.0.iter().zip(&clean.0).enumerate() {
        assert_eq!(incremental, clean, "table {index} differs");
    }
}

/// The fingerprint of a processed partition of `txns` in the build state.
fn fingerprint(project: &Project, partition: &str) -> String {
    let state = BuildState::load(&project.store().join("_state/build.json")).expect("state");
    state.sources["txns"].partitions[partition].fingerprint.clone()
}

fn project(name: &str) -> Project {
    let project = Project::with_files(name, &[("spec.mlsys", SPEC)]);
    std::fs::create_dir_all(project.root.join("data/txns")).expect("source directory");
    project
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copies_in_a_new_day_are_quarantined_and_an_earlier_copy_wins() {
    let project = project("unique-days");
    write(&project, 1, 0, &[(1, 9, 1), (2, 10, 2), (3, 11, 3)]);
    project.build(&BuildOptions::default()).await.expect("first build");

    // Day 3 repeats t1 and t2: both are quarantined, naming their first occurrence.
    write(&project, 2, 0, &[(1, 1, 4), (2, 2, 4), (4, 3, 4)]);
    let report = project.build(&BuildOptions::default()).await.expect("second build");
    let before = fingerprint(&project, "2026-01-02");
    assert_eq!(report.sources[0].rows_quarantined, 2, "{:?}", report.sources);
    let quarantined = project.rows("quarantine/txns").await.join("\n");
    assert!(
        quarantined.contains("`t1` first seen in data/txns/dt=2026-01-02/part-0.csv row 1"),
        "{quarantined}"
    );

    // Day 1 holds an earlier t3: it is kept, and day 2's copy moves to quarantine.
    write(&project, 0, 0, &[(3, 23, 5)]);
    let report = project.build(&BuildOptions::default()).await.expect("third build");
    let mut changed = report.sources[0].changed_partitions.clone();
    changed.sort();
    assert_eq!(changed, ["2026-01-01", "2026-01-02"]);
    let quarantined = project.rows("quarantine/txns").await.join("\n");
    assert!(
        quarantined.contains("`t3` first seen in data/txns/dt=2026-01-01/part-0.csv row 1"),
        "{quarantined}"
    );
    // Day 2's files did not change, but its rows did: so does the fingerprint later stages and
    // training set ids read.
    assert_ne!(fingerprint(&project, "2026-01-02"), before);
    incremental_equals_clean(&project, &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_the_first_copy_accepts_the_next_one() {
    let project = project("unique-remove");
    write(&project, 0, 0, &[(1, 9, 1)]);
    write(&project, 3, 1, &[(1, 9, 2)]);
    project.build(&BuildOptions::default()).await.expect("first build");
    assert_eq!(project.rows("quarantine/txns").await.len(), 1);
    incremental_equals_clean(&project, &[(0, 0, vec![])]).await;
    assert_eq!(project.rows("quarantine/txns").await.len(), 0);
}

fn rows() -> impl Strategy<Value = Vec<Row>> {
    prop::collection::vec((0u8..8, 0u8..24, -1i8..4), 0..5)
}

fn steps() -> impl Strategy<Value = Vec<(u8, u8, Vec<Row>)>> {
    prop::collection::vec((0u8..4, 0u8..2, rows()), 1..6)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 12,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct("tests/proptest-regressions/unique.txt"))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn incremental_builds_equal_a_clean_build(steps in steps()) {
        let project = project("unique-generated");
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(incremental_equals_clean(&project, &steps));
    }
}
