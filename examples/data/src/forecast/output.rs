//! Writing the forecast data set where `examples/forecast/sources.mlsys` reads it, and the run's summary.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use mlsys_compiler::syntax::literal::format_date;

use super::{BadRow, DEMAND_LOCATION, DemandRow, ForecastData, WEATHER_LOCATION, WeatherRow};
use crate::write::{Error, Staging, write_csv, write_parquet};

/// Position of `day_start` among the columns (the rows of a file are sorted on it).
const DAY_START_COLUMN: usize = 2;

/// The columns of `daily_demand` as declared in `sources.mlsys`. `site_id` is declared `string` but
/// stored nullable: the contract's `not_null(site_id)` is checked on read, and one injected row holds
/// a null.
pub fn demand_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("site_id", DataType::Utf8, true),
        Field::new("region", DataType::Utf8, false),
        Field::new(
            "day_start",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
        Field::new("demand", DataType::Int64, false),
        Field::new("promotion", DataType::Boolean, false),
        Field::new("holiday", DataType::Boolean, false),
    ]))
}

fn demand_batch(rows: &[DemandRow]) -> Result<RecordBatch, Error> {
    let columns: Vec<ArrayRef> = vec![
        Arc::new(rows.iter().map(|row| row.site_id.as_deref()).collect::<StringArray>()),
        Arc::new(StringArray::from_iter_values(rows.iter().map(|row| row.region))),
        Arc::new(
            TimestampMicrosecondArray::from_iter_values(rows.iter().map(DemandRow::day_start)).with_timezone("UTC"),
        ),
        Arc::new(Int64Array::from_iter_values(rows.iter().map(|row| row.demand))),
        Arc::new(BooleanArray::from(
            rows.iter().map(|row| row.promotion).collect::<Vec<_>>(),
        )),
        Arc::new(BooleanArray::from(
            rows.iter().map(|row| row.holiday).collect::<Vec<_>>(),
        )),
    ];
    Ok(RecordBatch::try_new(demand_schema(), columns)?)
}

/// The header of the `weather` CSV files, in the declared column order.
pub const WEATHER_HEADER: [&str; 4] = ["region", "observed_at", "rain_mm", "temperature_c"];

/// The partition directory of a day: `dt=2026-03-04`.
fn partition(day: i32) -> String {
    format!("dt={}", format_date(day))
}

/// Writes the data set under `project`, replacing `data/raw/demand` and `data/raw/weather`. Every day
/// of the period gets a partition in both sources.
pub fn write(data: &ForecastData, project: &Path) -> Result<ForecastSummary, Error> {
    let config = &data.config;
    let staging = Staging::create(project)?;
    let (mut demand_bytes, mut weather_bytes) = (0, 0);
    let (mut demand_rows, mut weather_rows) = (&data.demand[..], &data.weather[..]);
    for day in config.start..config.end() {
        let count = demand_rows.partition_point(|row| row.day <= day);
        let (today, rest) = demand_rows.split_at(count);
        demand_rows = rest;
        let path = staging
            .dir(DEMAND_LOCATION)
            .join(partition(day))
            .join("part-00000.parquet");
        demand_bytes += write_parquet(&path, &demand_batch(today)?, Some(DAY_START_COLUMN))?;

        let count = weather_rows.partition_point(|row| row.day <= day);
        let (today, rest) = weather_rows.split_at(count);
        weather_rows = rest;
        let path = staging
            .dir(WEATHER_LOCATION)
            .join(partition(day))
            .join("part-00000.csv");
        let rows: Vec<Vec<&str>> = today
            .iter()
            .map(|row: &WeatherRow| vec![row.region, &row.observed_at, &row.rain_mm, &row.temperature_c])
            .collect();
        weather_bytes += write_csv(&path, &WEATHER_HEADER, &rows)?;
    }
    staging.publish(&[DEMAND_LOCATION, WEATHER_LOCATION])?;

    let valid: Vec<&DemandRow> = data
        .demand
        .iter()
        .filter(|row| row.demand >= 0 && row.site_id.is_some())
        .collect();
    let total: i64 = valid.iter().map(|row| row.demand).sum();
    let wet = data
        .weather
        .iter()
        .filter(|row| row.rain_mm.parse::<f64>().is_ok_and(|rain| rain > 0.0));
    Ok(ForecastSummary {
        seed: config.seed,
        sites: config.sites,
        sites_opening: data.sites_opening,
        start: config.start,
        days: config.days,
        demand_rows: data.demand.len(),
        mean_demand: total as f64 / valid.len().max(1) as f64,
        promotion_rows: data.demand.iter().filter(|row| row.promotion).count(),
        holiday_rows: data.demand.iter().filter(|row| row.holiday).count(),
        weather_rows: data.weather.len(),
        wet_days: wet.count(),
        bad_rows: data.bad_rows.clone(),
        partitions: config.days,
        demand_dir: project.join(DEMAND_LOCATION),
        weather_dir: project.join(WEATHER_LOCATION),
        demand_bytes,
        weather_bytes,
    })
}

/// What a run wrote.
#[derive(Clone, Debug)]
pub struct ForecastSummary {
    pub seed: u64,
    pub sites: u32,
    pub sites_opening: u32,
    pub start: i32,
    pub days: u32,
    pub demand_rows: usize,
    /// Mean orders per site and day over the rows that are not bad.
    pub mean_demand: f64,
    pub promotion_rows: usize,
    pub holiday_rows: usize,
    pub weather_rows: usize,
    /// Weather rows with rain.
    pub wet_days: usize,
    pub bad_rows: Vec<BadRow>,
    /// Daily partitions per source.
    pub partitions: u32,
    pub demand_dir: PathBuf,
    pub weather_dir: PathBuf,
    pub demand_bytes: u64,
    pub weather_bytes: u64,
}

impl fmt::Display for ForecastSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let last = self.start + i32::try_from(self.days).unwrap_or(i32::MAX) - 1;
        writeln!(
            f,
            "forecast data: seed {}, {} sites ({} opening during the period), {} .. {} ({} days, {} daily partitions per source)",
            self.seed,
            self.sites,
            self.sites_opening,
            format_date(self.start),
            format_date(last),
            self.days,
            self.partitions
        )?;
        writeln!(
            f,
            "  daily_demand  {:>7} rows, {:.0} orders per site-day on average, {} on promotion, {} on holidays  {} ({})",
            self.demand_rows,
            self.mean_demand,
            self.promotion_rows,
            self.holiday_rows,
            self.demand_dir.display(),
            bytes(self.demand_bytes)
        )?;
        writeln!(
            f,
            "  weather       {:>7} rows, {} wet  {} ({})",
            self.weather_rows,
            self.wet_days,
            self.weather_dir.display(),
            bytes(self.weather_bytes)
        )?;
        writeln!(f, "  bad rows      {} injected:", self.bad_rows.len())?;
        for row in &self.bad_rows {
            writeln!(
                f,
                "    {:<13} {:<9} {}  {}",
                row.source,
                row.key,
                format_date(row.day),
                row.problem
            )?;
        }
        Ok(())
    }
}

fn bytes(count: u64) -> String {
    format!("{} KiB", count.div_ceil(1024))
}
