//! Writing the fraud data set where `examples/fraud/sources.mlsys` reads it, and the run's summary.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use mlsys_compiler::syntax::literal::format_date;

use super::{BadRow, CHARGEBACKS_LOCATION, Chargeback, FraudData, TRANSACTIONS_LOCATION, Transaction, day_of};
use crate::write::{Error, Staging, write_csv, write_parquet};

/// Position of `event_time` among the columns (the rows of a file are sorted on it).
const EVENT_TIME_COLUMN: usize = 6;

/// The columns of `transactions` as declared in `sources.mlsys`, plus `device_os` when asked.
/// `user_id` is declared `string` but stored nullable: the contract's `not_null(user_id)` is checked on
/// read, and one injected row holds a null.
fn transactions_schema(device_os: bool) -> SchemaRef {
    let mut fields = vec![
        Field::new("txn_id", DataType::Utf8, false),
        Field::new("user_id", DataType::Utf8, true),
        Field::new("merchant", DataType::Utf8, true),
        Field::new("amount", DataType::Float64, false),
        Field::new("country", DataType::Utf8, false),
        Field::new("channel", DataType::Utf8, false),
        Field::new(
            "event_time",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
    ];
    if device_os {
        fields.push(Field::new("device_os", DataType::Utf8, true));
    }
    Arc::new(Schema::new(fields))
}

fn transactions_batch(rows: &[Transaction], device_os: bool) -> Result<RecordBatch, Error> {
    let mut columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(rows.iter().map(|row| &row.txn_id))),
        Arc::new(rows.iter().map(|row| row.user_id.as_deref()).collect::<StringArray>()),
        Arc::new(rows.iter().map(|row| row.merchant.as_deref()).collect::<StringArray>()),
        Arc::new(Float64Array::from_iter_values(rows.iter().map(|row| row.amount))),
        Arc::new(StringArray::from_iter_values(rows.iter().map(|row| row.country))),
        Arc::new(StringArray::from_iter_values(rows.iter().map(|row| row.channel))),
        Arc::new(
            TimestampMicrosecondArray::from_iter_values(rows.iter().map(|row| row.event_time)).with_timezone("UTC"),
        ),
    ];
    if device_os {
        columns.push(Arc::new(rows.iter().map(|row| row.device_os).collect::<StringArray>()));
    }
    Ok(RecordBatch::try_new(transactions_schema(device_os), columns)?)
}

/// The partition directory of a day: `dt=2026-03-04`.
fn partition(day: i32) -> String {
    format!("dt={}", format_date(day))
}

/// Writes the data set under `project`, replacing `data/raw/transactions` and `data/raw/chargebacks`.
/// Every day of the period gets a `transactions` partition, and every day until the labels' end a
/// `chargebacks` one (header-only CSV on a day without reports).
pub fn write(data: &FraudData, project: &Path) -> Result<FraudSummary, Error> {
    let config = &data.config;
    let staging = Staging::create(project)?;
    let mut transactions_bytes = 0;
    let mut chargebacks_bytes = 0;
    let mut transaction_rows = &data.transactions[..];
    for day in config.start..config.end() {
        let count = transaction_rows.partition_point(|row| day_of(row.event_time) <= day);
        let (today, rest) = transaction_rows.split_at(count);
        transaction_rows = rest;
        let path = staging
            .dir(TRANSACTIONS_LOCATION)
            .join(partition(day))
            .join("part-00000.parquet");
        let batch = transactions_batch(today, day >= config.device_os_from)?;
        transactions_bytes += write_parquet(&path, &batch, Some(EVENT_TIME_COLUMN))?;
    }
    let mut chargeback_rows = &data.chargebacks[..];
    for day in config.start..config.labels_end() {
        let count = chargeback_rows.partition_point(|row| day_of(row.reported_micros) <= day);
        let (today, rest) = chargeback_rows.split_at(count);
        chargeback_rows = rest;
        let path = staging
            .dir(CHARGEBACKS_LOCATION)
            .join(partition(day))
            .join("part-00000.csv");
        let rows: Vec<Vec<&str>> = today
            .iter()
            .map(|row: &Chargeback| vec![row.txn_id.as_str(), &row.is_fraud, &row.reported_at])
            .collect();
        chargebacks_bytes += write_csv(&path, &["txn_id", "is_fraud", "reported_at"], &rows)?;
    }
    staging.publish(&[TRANSACTIONS_LOCATION, CHARGEBACKS_LOCATION])?;
    Ok(FraudSummary {
        seed: config.seed,
        users: config.users,
        start: config.start,
        days: config.days,
        device_os_from: config.device_os_from,
        transactions: data.transactions.len(),
        fraudulent: data.transactions.iter().filter(|row| row.fraud).count(),
        chargebacks: data.chargebacks.len(),
        chargebacks_fraud: data.chargebacks.iter().filter(|row| row.is_fraud == "true").count(),
        disputes: data.chargebacks.iter().filter(|row| row.is_fraud == "false").count(),
        reports_after_end: data.reports_after_end,
        bad_rows: data.bad_rows.clone(),
        partitions: config.days,
        labels_end: config.labels_end(),
        transactions_dir: project.join(TRANSACTIONS_LOCATION),
        chargebacks_dir: project.join(CHARGEBACKS_LOCATION),
        transactions_bytes,
        chargebacks_bytes,
    })
}

/// What a run wrote.
#[derive(Clone, Debug)]
pub struct FraudSummary {
    pub seed: u64,
    pub users: u32,
    pub start: i32,
    pub days: u32,
    pub device_os_from: i32,
    pub transactions: usize,
    /// Payments made by fraudsters (ground truth).
    pub fraudulent: usize,
    pub chargebacks: usize,
    /// Chargeback rows with `is_fraud = true` / `false`.
    pub chargebacks_fraud: usize,
    pub disputes: usize,
    pub reports_after_end: usize,
    pub bad_rows: Vec<BadRow>,
    /// Daily partitions of `transactions`.
    pub partitions: u32,
    /// One past the last day of chargebacks.
    pub labels_end: i32,
    pub transactions_dir: PathBuf,
    pub chargebacks_dir: PathBuf,
    pub transactions_bytes: u64,
    pub chargebacks_bytes: u64,
}

impl FraudSummary {
    pub fn fraud_rate(&self) -> f64 {
        self.fraudulent as f64 / self.transactions.max(1) as f64
    }
}

impl fmt::Display for FraudSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let last = self.start + i32::try_from(self.days).unwrap_or(i32::MAX) - 1;
        writeln!(
            f,
            "fraud data: seed {}, {} users, {} .. {} ({} days, {} daily partitions; chargebacks through {})",
            self.seed,
            self.users,
            format_date(self.start),
            format_date(last),
            self.days,
            self.partitions,
            format_date(self.labels_end - 1)
        )?;
        writeln!(
            f,
            "  transactions  {:>7} rows, {} fraudulent ({:.2}%), device_os from {}  {} ({})",
            self.transactions,
            self.fraudulent,
            100.0 * self.fraud_rate(),
            format_date(self.device_os_from),
            self.transactions_dir.display(),
            bytes(self.transactions_bytes)
        )?;
        writeln!(
            f,
            "  chargebacks   {:>7} rows, {} fraud, {} legitimate disputes, {} reports due after {} absent  {} ({})",
            self.chargebacks,
            self.chargebacks_fraud,
            self.disputes,
            self.reports_after_end,
            format_date(self.labels_end - 1),
            self.chargebacks_dir.display(),
            bytes(self.chargebacks_bytes)
        )?;
        writeln!(f, "  bad rows      {} injected:", self.bad_rows.len())?;
        for row in &self.bad_rows {
            writeln!(f, "    {:<13} {}  {}", row.source, row.txn_id, row.problem)?;
        }
        Ok(())
    }
}

fn bytes(count: u64) -> String {
    format!("{:.1} MiB", count as f64 / (1024.0 * 1024.0))
}
