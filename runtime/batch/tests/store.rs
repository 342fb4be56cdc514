//! The offline store's streaming table writes: rows go to the Parquet files as they are sent, and
//! the one commit happens only when the producer finished; anything else leaves the table as it was.

use std::sync::Arc;

use datafusion::arrow::array::{Int64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::prelude::SessionContext;
use mlsys_batch::BatchError;
use mlsys_batch::error::TableOperation;
use mlsys_batch::store::{OfflineStore, Replace, TableLocation, WriteOutcome};

/// A write buffer small enough that the larger writes below finish their files several times.
const BUFFER: usize = 16 << 10;

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("value", DataType::Int64, false),
        Field::new("dt", DataType::Utf8, false),
    ]))
}

fn batch(rows: &[(i64, &str)]) -> RecordBatch {
    RecordBatch::try_new(
        schema(),
        vec![
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|(value, _)| *value))),
            Arc::new(StringArray::from_iter_values(rows.iter().map(|(_, dt)| *dt))),
        ],
    )
    .expect("batch")
}

/// The table's rows as sorted `(value, dt)` pairs, and its version.
async fn contents(table: &TableLocation) -> (Vec<(i64, String)>, Option<u64>) {
    let version = table.open().await.expect("table opens").version();
    let batches = SessionContext::new()
        .read_table(table.provider().await.expect("provider"))
        .expect("scan")
        .collect()
        .await
        .expect("rows");
    let mut rows = Vec::new();
    for batch in &batches {
        let values = batch.column_by_name("value").expect("value");
        let values = values.as_any().downcast_ref::<Int64Array>().expect("int64");
        let dates =
            datafusion::arrow::compute::cast(batch.column_by_name("dt").expect("dt"), &DataType::Utf8).expect("cast");
        let dates = dates.as_any().downcast_ref::<StringArray>().expect("utf8");
        for row in 0..batch.num_rows() {
            rows.push((values.value(row), dates.value(row).to_string()));
        }
    }
    rows.sort();
    (rows, version)
}

async fn write(
    table: &TableLocation,
    replace: Replace<'_>,
    run: i64,
    batches: Vec<RecordBatch>,
) -> Result<WriteOutcome, BatchError> {
    let writer = table.writer(schema(), replace, run, BUFFER).await?;
    let sink = writer.sink();
    let mut sent = Ok(());
    for batch in batches {
        sent = sink.send(batch).await;
        if sent.is_err() {
            break;
        }
    }
    Ok(writer.finish(sent).await?.1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_commits_once_and_only_when_its_producer_finished() {
    let root = std::env::temp_dir().join(format!("mlsys-batch-store-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let store = OfflineStore::new(&root);
    let table = store.features("writes", 1);
    let day = |day: &str| vec![day.to_string()];

    // A new table, streamed in many batches that interleave two days: the writer finishes its
    // files whenever they hold BUFFER bytes, and still commits once.
    let mut expected = Vec::new();
    let mut batches = Vec::new();
    for chunk in 0..40 {
        let rows: Vec<(i64, &str)> = (0..1000)
            .map(|row| {
                let value = (chunk * 1000 + row) * 7_919 % 1_000_003;
                (value, if row % 3 == 0 { "2026-01-01" } else { "2026-01-02" })
            })
            .collect();
        expected.extend(rows.iter().map(|(value, dt)| (*value, dt.to_string())));
        batches.push(batch(&rows));
    }
    expected.sort();
    let outcome = write(&table, Replace::All, 1, batches).await.expect("first write");
    assert_eq!(outcome, WriteOutcome::Written { rows: 40_000 });
    let first = contents(&table).await;
    assert_eq!(first.0, expected);
    let files = table
        .open()
        .await
        .expect("opens")
        .get_file_uris()
        .expect("files")
        .count();
    assert!(files > 2, "the writer finished its files several times: {files} files");
    let first_version = first.1;

    // A producer that fails after sending rows commits nothing.
    let writer = table
        .writer(schema(), Replace::Dates(&day("2026-01-01")), 2, BUFFER)
        .await
        .expect("writer");
    writer.sink().send(batch(&[(10, "2026-01-01")])).await.expect("sent");
    let error = writer
        .finish::<()>(Err(BatchError::Internal("the producer broke")))
        .await
        .expect_err("a failed producer fails the write");
    assert!(error.to_string().contains("the producer broke"), "{error}");
    assert_eq!(contents(&table).await, first);

    // A writer dropped mid-way (its step returned early) commits nothing either: its write stops
    // (a sink kept alive finds no receiver) and the table is unchanged once it has.
    let writer = table
        .writer(schema(), Replace::Dates(&day("2026-01-01")), 2, BUFFER)
        .await
        .expect("writer");
    let sink = writer.sink();
    sink.send(batch(&[(11, "2026-01-01")])).await.expect("sent");
    drop(writer);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while sink.send(batch(&[(11, "2026-01-01")])).await.is_ok() {
        assert!(
            std::time::Instant::now() < deadline,
            "the dropped writer's write never stopped"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    drop(sink);
    assert_eq!(contents(&table).await, first);

    // Every sink clone dropped without the producer finishing is not an end of the rows.
    let writer = table
        .writer(schema(), Replace::Dates(&day("2026-01-01")), 2, BUFFER)
        .await
        .expect("writer");
    let sink = writer.sink();
    sink.send(batch(&[(12, "2026-01-01")])).await.expect("sent");
    drop(sink);
    let error = writer
        .finish::<()>(Err(BatchError::Internal("a worker panicked")))
        .await
        .expect_err("fails");
    assert!(error.to_string().contains("a worker panicked"), "{error}");
    assert_eq!(contents(&table).await, first);

    // A row outside the replaced partitions fails the write, with the writer's own error.
    let error = write(
        &table,
        Replace::Dates(&day("2026-01-01")),
        2,
        vec![batch(&[(13, "2026-01-01")]), batch(&[(14, "2026-01-03")])],
    )
    .await
    .expect_err("a row outside the replaced days is refused");
    assert!(
        error
            .to_string()
            .contains("partition dt=2026-01-03 is outside the partitions this write replaces"),
        "{error}"
    );
    assert_eq!(contents(&table).await, first);

    // Replacing one day keeps the others.
    let outcome = write(
        &table,
        Replace::Dates(&day("2026-01-01")),
        2,
        vec![batch(&[(20, "2026-01-01")])],
    )
    .await
    .expect("replace one day");
    assert_eq!(outcome, WriteOutcome::Written { rows: 1 });
    let (rows, version) = contents(&table).await;
    let mut kept: Vec<(i64, String)> = expected.into_iter().filter(|(_, dt)| dt == "2026-01-02").collect();
    kept.push((20, "2026-01-01".to_string()));
    kept.sort();
    assert_eq!(rows, kept);
    assert_eq!(version, first_version.map(|version| version + 1));

    // The same run again (a retried step) writes nothing.
    let outcome = write(
        &table,
        Replace::Dates(&day("2026-01-01")),
        2,
        vec![batch(&[(30, "2026-01-01")])],
    )
    .await
    .expect("retried step");
    assert_eq!(outcome, WriteOutcome::AlreadyCommitted);
    assert_eq!(contents(&table).await, (rows, version));

    // Replacing everything drops the days not written again; no rows at all is a valid table.
    write(&table, Replace::All, 3, vec![batch(&[(40, "2026-01-05")])])
        .await
        .expect("replace all");
    assert_eq!(contents(&table).await.0, vec![(40, "2026-01-05".to_string())]);
    write(&table, Replace::All, 4, Vec::new()).await.expect("empty");
    assert_eq!(contents(&table).await.0, Vec::new());
    let _ = std::fs::remove_dir_all(&root);
}

/// An append through `writer` as `sequence`: one batch, committed.
async fn append(table: &TableLocation, writer: &str, sequence: i64, rows: &[(i64, &str)]) -> WriteOutcome {
    let write = table
        .append_writer(schema(), writer, sequence, BUFFER)
        .await
        .expect("append writer");
    let sent = write.sink().send(batch(rows)).await;
    write.finish(sent).await.expect("appended").1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appends_replace_nothing_and_writers_that_both_found_no_table_both_land() {
    let root = std::env::temp_dir().join(format!("mlsys-batch-appends-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let table = OfflineStore::new(&root).predictions("appends");
    // Both writers start before the table exists: the first creates it, the second appends to it.
    let first = table.append_writer(schema(), "a", 1, BUFFER).await.expect("first");
    let second = table.append_writer(schema(), "b", 1, BUFFER).await.expect("second");
    let sent = first.sink().send(batch(&[(1, "2026-01-01")])).await;
    first.finish(sent).await.expect("first appended");
    let sent = second.sink().send(batch(&[(2, "2026-01-01")])).await;
    second.finish(sent).await.expect("second appended");
    let day = |values: &[i64]| -> Vec<(i64, String)> {
        values.iter().map(|value| (*value, "2026-01-01".to_string())).collect()
    };
    let (rows, version) = contents(&table).await;
    assert_eq!(rows, day(&[1, 2]));

    // A writer's sequence already committed (a retry whose commit landed) adds nothing.
    assert_eq!(
        append(&table, "a", 1, &[(1, "2026-01-01")]).await,
        WriteOutcome::AlreadyCommitted
    );
    assert_eq!(contents(&table).await, (day(&[1, 2]), version));
    // The next sequence appends to the day, keeping its rows.
    assert_eq!(
        append(&table, "a", 2, &[(3, "2026-01-01")]).await,
        WriteOutcome::Written { rows: 1 }
    );
    assert_eq!(contents(&table).await.0, day(&[1, 2, 3]));
    let _ = std::fs::remove_dir_all(&root);
}

/// A table whose log does not parse: the error names the table and what was being done with it,
/// and keeps Delta's own error as its cause.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_log_names_the_table_and_the_operation() {
    let root = std::env::temp_dir().join(format!("mlsys-batch-store-corrupt-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let table = OfflineStore::new(&root).features("corrupt", 1);
    write(&table, Replace::All, 1, vec![batch(&[(1, "2026-01-01")])])
        .await
        .expect("write");
    let log = table.path.join("_delta_log").join(format!("{:020}.json", 0));
    std::fs::write(&log, b"{ not json").expect("corrupt the log");
    let error = table.metadata().await.expect_err("a corrupt log fails");
    let BatchError::Delta {
        table: path,
        operation: TableOperation::Open,
        ..
    } = &error
    else {
        panic!("not a Delta error of opening the table: {error:?}");
    };
    assert_eq!(path, &table.path.display().to_string());
    let message = error.to_string();
    let cause = std::error::Error::source(&error).expect("Delta's error").to_string();
    assert!(
        message.contains("opening the table") && !message.contains(&cause),
        "{message} / {cause}"
    );
    let _ = std::fs::remove_dir_all(&root);
}
