//! Reading the written data back: Parquet through the parquet crate's Arrow reader, CSV by hand.

use std::fs::File;
use std::path::{Path, PathBuf};

use arrow::array::{Array, AsArray};
use arrow::datatypes::{SchemaRef, TimestampMicrosecondType};
use mlsys_compiler::syntax::literal::{MICROS_PER_DAY, MICROS_PER_SECOND, parse_date};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

/// The partition directories (`dt=...`) of a location, sorted, each with its files.
pub fn partitions(location: &Path) -> Vec<(String, Vec<PathBuf>)> {
    let mut out: Vec<(String, Vec<PathBuf>)> = std::fs::read_dir(location)
        .expect("location exists")
        .map(|entry| {
            let path = entry.expect("entry").path();
            let name = path.file_name().expect("name").to_string_lossy().into_owned();
            let mut files: Vec<PathBuf> = std::fs::read_dir(&path)
                .expect("partition")
                .map(|file| file.expect("file").path())
                .collect();
            files.sort();
            (name, files)
        })
        .collect();
    out.sort();
    out
}

/// One row of `transactions` as read back.
#[derive(Clone, Debug)]
pub struct Row {
    pub txn_id: String,
    pub user_id: Option<String>,
    pub merchant: Option<String>,
    pub amount: f64,
    pub country: String,
    pub channel: String,
    pub event_time: i64,
    pub device_os: Option<String>,
}

/// The Arrow schema stored in a Parquet file, and its rows.
pub fn parquet(path: &Path) -> (SchemaRef, Vec<Row>) {
    let builder = ParquetRecordBatchReaderBuilder::try_new(File::open(path).expect("open")).expect("parquet");
    let schema = builder.schema().clone();
    let mut rows = Vec::new();
    for batch in builder.build().expect("reader") {
        let batch = batch.expect("batch");
        let text = |name: &str, row: usize| {
            batch.column_by_name(name).and_then(|column| {
                let column = column.as_string::<i32>();
                column.is_valid(row).then(|| column.value(row).to_string())
            })
        };
        let amounts = batch.column_by_name("amount").expect("amount");
        let amounts = amounts.as_primitive::<arrow::datatypes::Float64Type>();
        let times = batch.column_by_name("event_time").expect("event_time");
        let times = times.as_primitive::<TimestampMicrosecondType>();
        for row in 0..batch.num_rows() {
            rows.push(Row {
                txn_id: text("txn_id", row).expect("txn_id"),
                user_id: text("user_id", row),
                merchant: text("merchant", row),
                amount: amounts.value(row),
                country: text("country", row).expect("country"),
                channel: text("channel", row).expect("channel"),
                event_time: times.value(row),
                device_os: text("device_os", row),
            });
        }
    }
    (schema, rows)
}

/// The header and rows of a CSV file (the generator writes no quoted fields).
pub fn csv(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let text = std::fs::read_to_string(path).expect("csv");
    let mut lines = text
        .lines()
        .map(|line| line.split(',').map(str::to_string).collect::<Vec<_>>());
    let header = lines.next().expect("header");
    (header, lines.collect())
}

/// Microseconds of an RFC 3339 UTC timestamp in whole seconds, `2026-03-04T05:06:07Z`.
pub fn rfc3339(text: &str) -> Option<i64> {
    let (date, time) = text.strip_suffix('Z')?.split_once('T')?;
    let day = parse_date(date).ok()?;
    let parts: Vec<i64> = time.split(':').map(|part| part.parse().ok()).collect::<Option<_>>()?;
    let [hour, minute, second] = parts[..] else {
        return None;
    };
    if !(0..24).contains(&hour) || !(0..60).contains(&minute) || !(0..60).contains(&second) || time.len() != 8 {
        return None;
    }
    Some(i64::from(day) * MICROS_PER_DAY + (hour * 3_600 + minute * 60 + second) * MICROS_PER_SECOND)
}
