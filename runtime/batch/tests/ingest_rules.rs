//! Row rules of ingestion on hand-made files: booleans, event times against their partition and
//! the range of event times, rows without an event time, and partition directories.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, RecordBatch, StringArray, TimestampMicrosecondArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion::parquet::arrow::ArrowWriter;
use mlsys_batch::ingest::validate::SkipReason;
use mlsys_batch::{BatchError, BuildOptions};

use crate::support::Project;

const FLAGS_SPEC: &str = r#"
source flags {
  format = csv
  location = "data/flags"
  timestamp = at
  schema { id: string, on: bool, at: timestamp }
}

source json_flags {
  format = json
  location = "data/json_flags"
  timestamp = at
  schema { id: string, on: bool, at: timestamp }
}

entity thing { key id: string }

features seen v1 {
  entity = thing
  from = flags
  n = count() over 1d every 1d
}

features json_seen v1 {
  entity = thing
  from = json_flags
  n = count() over 1d every 1d
}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn booleans_are_true_or_false_in_every_format() {
    let csv = "id,on,at\na,true,2026-01-21T01:00:00Z\nb,false,2026-01-21T02:00:00Z\n\
               c,yes,2026-01-21T03:00:00Z\nd,1,2026-01-21T04:00:00Z\ne,TRUE,2026-01-21T05:00:00Z\n\
               f,on,2026-01-21T06:00:00Z\n";
    // One file per JSON type of `on` (a file mixing them does not read).
    let json = "{\"id\":\"a\",\"on\":true,\"at\":\"2026-01-21T01:00:00Z\"}\n\
                {\"id\":\"b\",\"on\":false,\"at\":\"2026-01-21T02:00:00Z\"}\n";
    let texts = "{\"id\":\"c\",\"on\":\"false\",\"at\":\"2026-01-21T03:00:00Z\"}\n\
                 {\"id\":\"d\",\"on\":\"yes\",\"at\":\"2026-01-21T04:00:00Z\"}\n";
    let numbers = "{\"id\":\"e\",\"on\":1,\"at\":\"2026-01-21T05:00:00Z\"}\n";
    let project = Project::with_files(
        "ingest-bools",
        &[
            ("spec.mlsys", FLAGS_SPEC),
            ("data/flags/dt=2026-01-21/part-0.csv", csv),
            ("data/json_flags/dt=2026-01-21/part-0.json", json),
            ("data/json_flags/dt=2026-01-21/part-1.json", texts),
            ("data/json_flags/dt=2026-01-21/part-2.json", numbers),
        ],
    );
    let report = project.build(&BuildOptions::default()).await.expect("build");
    assert_eq!(
        (report.sources[0].rows_accepted, report.sources[0].rows_quarantined),
        (2, 4)
    );
    assert_eq!(
        (report.sources[1].rows_accepted, report.sources[1].rows_quarantined),
        (3, 2)
    );
    let quarantined = project.rows("quarantine/flags").await.join("\n");
    for text in ["yes", "1", "TRUE", "on"] {
        assert!(
            quarantined.contains(&format!("column `on`: cannot read `{text}` as bool")),
            "{quarantined}"
        );
    }
    let quarantined = project.rows("quarantine/json_flags").await.join("\n");
    assert!(quarantined.contains("cannot read `yes` as bool"), "{quarantined}");
    assert!(quarantined.contains("cannot read `1` as bool"), "{quarantined}");
}

const EVENTS_SPEC: &str = r#"
source events {
  format = csv
  location = "data/events"
  timestamp = at
  schema { id: string, at: timestamp }
}

source stamped {
  format = parquet
  location = "data/stamped"
  timestamp = at
  schema { id: string, at: timestamp }
}

entity thing { key id: string }

features seen v1 {
  entity = thing
  from = events
  n = count() over 1d every 1d
}

features stamped_seen v1 {
  entity = thing
  from = stamped
  n = count() over 1d every 1d
}
"#;

/// A Parquet file of `(id, at)` rows with raw microsecond timestamps.
fn write_stamped(path: &std::path::Path, rows: &[(&str, i64)]) {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new(
            "at",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
    ]));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(rows.iter().map(|(id, _)| *id))),
        Arc::new(TimestampMicrosecondArray::from_iter_values(rows.iter().map(|(_, at)| *at)).with_timezone("UTC")),
    ];
    let batch = RecordBatch::try_new(schema.clone(), columns).expect("batch");
    std::fs::create_dir_all(path.parent().expect("parent")).expect("dirs");
    let mut writer = ArrowWriter::try_new(std::fs::File::create(path).expect("file"), schema, None).expect("writer");
    writer.write(&batch).expect("write");
    writer.close().expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_times_outside_their_partition_or_the_range_are_quarantined() {
    let dated = "id,at\na,2026-01-21T10:00:00Z\nb,2100-01-01T00:00:00Z\nc,2026-01-22T00:00:00Z\n";
    let undated = "id,at\nd,1969-12-31T23:59:59Z\ne,2262-04-11T00:00:00Z\nf,2026-01-20T23:59:59Z\n";
    let project = Project::with_files(
        "ingest-event-times",
        &[
            ("spec.mlsys", EVENTS_SPEC),
            ("data/events/dt=2026-01-21/part-0.csv", dated),
            ("data/events/late.csv", undated),
        ],
    );
    let day = 20_474 * 86_400_000_000_i64;
    write_stamped(
        &project.root.join("data/stamped/part-0.parquet"),
        &[("g", i64::MAX), ("h", i64::MIN + 1), ("i", day)],
    );
    let report = project.build(&BuildOptions::default()).await.expect("build");
    let events = &report.sources[0];
    assert_eq!((events.rows_accepted, events.rows_quarantined), (2, 4), "{events:?}");
    let quarantined = project.rows("quarantine/events").await.join("\n");
    assert!(
        quarantined.contains("event time on 2100-01-01 is outside its partition dt=2026-01-21"),
        "{quarantined}"
    );
    assert!(
        quarantined.contains("event time on 2026-01-22 is outside its partition dt=2026-01-21"),
        "{quarantined}"
    );
    assert!(
        quarantined.contains("event time on 1969-12-31 is outside [1970-01-01, 2262-04-11)"),
        "{quarantined}"
    );
    assert!(
        quarantined.contains("event time on 2262-04-11 is outside [1970-01-01, 2262-04-11)"),
        "{quarantined}"
    );
    let stamped = &report.sources[1];
    assert_eq!((stamped.rows_accepted, stamped.rows_quarantined), (1, 2), "{stamped:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_directory_that_is_not_a_date_is_refused() {
    let project = Project::with_files(
        "ingest-bad-dt",
        &[
            ("spec.mlsys", EVENTS_SPEC),
            (
                "data/events/dt=2026-13-45/part-0.csv",
                "id,at\na,2026-01-21T10:00:00Z\n",
            ),
        ],
    );
    write_stamped(&project.root.join("data/stamped/part-0.parquet"), &[]);
    let error = project
        .build(&BuildOptions::default())
        .await
        .expect_err("an undated dt= directory fails");
    assert!(
        matches!(&error, BatchError::PartitionDirectory { directory, .. } if directory == "data/events/dt=2026-13-45"),
        "{error}"
    );
    assert!(error.to_string().contains("dt=2026-13-45"), "{error}");
}

const FLIGHTS_SPEC: &str = r#"
source flights {
  format = csv
  location = "data/flights"
  timestamp = departure
  schema { flight: string, departure: timestamp? }
}

contract flights_v1 on flights {
  owner = "ops"
  expect not_null(flight)
}

entity plane { key flight: string }

features departures v1 {
  entity = plane
  from = flights
  n = count() over 1d every 1d
}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_without_an_event_time_are_skipped_and_counted_not_quarantined() {
    let flights = "flight,departure\nLH1,2026-01-21T10:00:00Z\nLH2,\nLH3,\n,2026-01-21T11:00:00Z\nLH4,soon\n";
    let project = Project::with_files(
        "ingest-no-event-time",
        &[
            ("spec.mlsys", FLIGHTS_SPEC),
            ("data/flights/dt=2026-01-21/part-0.csv", flights),
        ],
    );
    let report = project.build(&BuildOptions::default()).await.expect("build");
    let flights = &report.sources[0];
    assert_eq!(flights.rows_read, 5);
    assert_eq!((flights.rows_accepted, flights.rows_quarantined), (1, 2), "{flights:?}");
    assert_eq!(flights.rows_skipped.get(&SkipReason::NoEventTime), Some(&2));
    let quarantined = project.rows("quarantine/flights").await.join("\n");
    assert!(
        !quarantined.contains("LH2") && !quarantined.contains("LH3"),
        "{quarantined}"
    );
    assert!(quarantined.contains("cannot read `soon` as timestamp"), "{quarantined}");
    let state = mlsys_batch::state::BuildState::load(&project.store().join("_state/build.json")).expect("state");
    let partition = &state.sources["flights"].partitions["2026-01-21"];
    assert_eq!(partition.rows_skipped.get(&SkipReason::NoEventTime), Some(&2));
}
