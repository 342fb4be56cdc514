//! Ingestion: validation, quarantine, incremental and idempotent partition writes, bad input.

use std::path::Path;

use mlsys_batch::BuildOptions;
use mlsys_batch::error::{BatchError, ReadError, ReadStep};

use crate::support::Project;

fn source<'a>(report: &'a mlsys_batch::BuildReport, name: &str) -> &'a mlsys_batch::SourceReport {
    report
        .sources
        .iter()
        .find(|source| source.source == name)
        .expect("source reported")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_row_is_quarantined_with_its_reason() {
    let project = Project::fraud("quarantine");
    let report = project.build(&BuildOptions::default()).await.expect("build");
    let transactions = source(&report, "transactions");
    assert_eq!(
        transactions.rows_read,
        transactions.rows_accepted + transactions.rows_quarantined
    );
    assert_eq!(transactions.rows_quarantined, 3);
    assert_eq!(source(&report, "chargebacks").rows_quarantined, 2);
    assert!(
        transactions
            .warnings
            .iter()
            .any(|warning| warning.contains("unexpected column `device_os`")),
        "{:?}",
        transactions.warnings
    );
    let quarantined = project.rows("quarantine/transactions").await;
    let text = quarantined.join("\n");
    assert!(
        text.contains("`expect amount >= 0` of contract `transactions_v1` is false"),
        "{text}"
    );
    assert!(
        text.contains("column `user_id`: null in a non-nullable column"),
        "{text}"
    );
    assert!(
        text.contains("violates `unique(txn_id)` of contract `transactions_v1`"),
        "{text}"
    );
    assert!(text.contains("part-00000.parquet"), "{text}");
    let chargebacks = project.rows("quarantine/chargebacks").await.join("\n");
    assert!(
        chargebacks.contains("column `is_fraud`: cannot read `maybe` as bool"),
        "{chargebacks}"
    );
    assert!(
        chargebacks.contains("column `reported_at`: cannot read"),
        "{chargebacks}"
    );
    let processed = project.rows("processed/transactions").await;
    assert_eq!(processed.len() as u64, transactions.rows_accepted);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_build_writes_nothing_and_a_changed_day_is_redone_alone() {
    let project = Project::fraud("incremental");
    project.build(&BuildOptions::default()).await.expect("first build");
    let before = project.rows("processed/transactions").await;
    let versions = |project: &Project| {
        std::fs::read_dir(project.store().join("processed/transactions/_delta_log"))
            .expect("log")
            .count()
    };
    let commits = versions(&project);

    let report = project.build(&BuildOptions::default()).await.expect("second build");
    assert!(
        report
            .sources
            .iter()
            .all(|source| source.partitions_ingested == 0 && source.files_read == 0)
    );
    assert_eq!(versions(&project), commits, "an unchanged build must not commit");

    // Rewrite one day with the same bytes but a new modification time: only that day is redone.
    let day = project
        .root
        .join("data/raw/transactions/dt=2026-02-10/part-00000.parquet");
    let bytes = std::fs::read(&day).expect("read");
    let modified = std::fs::metadata(&day).and_then(|meta| meta.modified()).expect("mtime");
    std::fs::write(&day, bytes).expect("rewrite");
    // Set explicitly: a rewrite within the file system's timestamp granularity keeps the old time.
    std::fs::File::options()
        .write(true)
        .open(&day)
        .and_then(|file| file.set_modified(modified + std::time::Duration::from_secs(10)))
        .expect("a new modification time");
    let report = project.build(&BuildOptions::default()).await.expect("third build");
    let transactions = source(&report, "transactions");
    assert_eq!(transactions.changed_partitions, vec!["2026-02-10".to_string()]);
    assert_eq!(transactions.files_read, 1);
    assert_eq!(
        project.rows("processed/transactions").await,
        before,
        "redoing a day gives the same rows"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backfill_ranges_and_full_refresh() {
    let project = Project::fraud("backfill");
    let options = BuildOptions {
        from: Some("2026-03-01".to_string()),
        to: Some("2026-03-07".to_string()),
        ..BuildOptions::default()
    };
    let report = project.build(&options).await.expect("backfill");
    assert_eq!(source(&report, "transactions").partitions_ingested, 7);
    let full = project
        .build(&BuildOptions {
            full_refresh: true,
            ..BuildOptions::default()
        })
        .await
        .expect("full refresh");
    assert_eq!(source(&full, "transactions").partitions_ingested, 182);
    let invalid = project
        .build(&BuildOptions {
            from: Some("2026-13-01".to_string()),
            ..BuildOptions::default()
        })
        .await;
    assert!(invalid.is_err());
}

fn replace_in_spec(project: &Project, from: &str, to: &str) {
    let path = project.root.join("sources.mlsys");
    let text = std::fs::read_to_string(&path).expect("spec");
    assert!(text.contains(from), "{from}");
    std::fs::write(&path, text.replacen(from, to, 1)).expect("write spec");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_a_clear_error() {
    let project = Project::fraud("badinput");
    // A missing required column names the file and the column.
    replace_in_spec(
        &project,
        "    channel: string\n",
        "    channel: string\n    terminal: string\n",
    );
    let error = project
        .build(&BuildOptions::default())
        .await
        .expect_err("missing column fails")
        .to_string();
    assert!(error.contains("required column `terminal` is missing"), "{error}");
    assert!(error.contains("part-00000.parquet"), "{error}");
    replace_in_spec(&project, "    terminal: string\n", "");

    // An unreadable file names the file.
    let day = project
        .root
        .join("data/raw/transactions/dt=2026-01-05/part-00000.parquet");
    std::fs::write(&day, b"not parquet").expect("corrupt");
    let error = project
        .build(&BuildOptions::default())
        .await
        .expect_err("corrupt file fails");
    let message = error.to_string();
    assert!(
        message.contains("dt=2026-01-05/part-00000.parquet") && message.contains("cannot read as Parquet"),
        "{message}"
    );
    // The kind is matchable and the Parquet reader's error is kept as the cause.
    assert!(
        matches!(
            &error,
            BatchError::Read {
                step: ReadStep::Parquet,
                source: ReadError::Parquet(_),
                ..
            }
        ),
        "{error:?}"
    );
    let cause = std::error::Error::source(&error).expect("a cause").to_string();
    assert!(
        cause.contains("Parquet error") && !message.contains(&cause),
        "{message} / {cause}"
    );
    std::fs::remove_file(&day).expect("remove");

    // A missing location is named.
    replace_in_spec(&project, "\"data/raw/chargebacks\"", "\"data/raw/nowhere\"");
    let error = project
        .build(&BuildOptions::default())
        .await
        .expect_err("missing location")
        .to_string();
    assert!(
        error.contains("data/raw/nowhere") && error.contains("does not exist"),
        "{error}"
    );
    replace_in_spec(&project, "\"data/raw/nowhere\"", "\"data/raw/chargebacks\"");

    // `unknown_columns = error` turns the extra column into a failure.
    replace_in_spec(&project, "unknown_columns = warn", "unknown_columns = error");
    let error = project
        .build(&BuildOptions::default())
        .await
        .expect_err("extra column")
        .to_string();
    assert!(error.contains("unexpected column `device_os`"), "{error}");
    replace_in_spec(&project, "unknown_columns = error", "unknown_columns = warn");

    // An empty source is fine: nothing to ingest.
    let empty = project.root.join("data/raw/chargebacks");
    std::fs::remove_dir_all(&empty).expect("remove");
    std::fs::create_dir_all(&empty).expect("empty dir");
    let report = project
        .build(&BuildOptions::default())
        .await
        .expect("empty source builds");
    assert_eq!(source(&report, "chargebacks").rows_read, 0);
    assert!(Path::new(&empty).exists());
}
