//! The forecast example's data set (`examples/forecast`): the orders each site handled per day
//! (`daily_demand`, Parquet) and the regional weather feed (`weather`, CSV), with a per-site level,
//! weekly seasonality, a slow trend, promotions, holidays, weather effects, noise and a few deliberately
//! bad rows. In the last month (September 2026, after the model's training and holdout months) two
//! sites in five change regime ([`drift`]), for monitors to catch; every row before it is as
//! without the drift. See `examples/data/README.md`.

mod bad_rows;
mod calendar;
pub mod drift;
mod output;
mod sites;
mod weather;

pub use output::{ForecastSummary, write};

use mlsys_compiler::syntax::literal::{MICROS_PER_DAY, days_from_civil};

use crate::random::Rng;
use sites::{REGIONS, Site};
use weather::DailyWeather;

/// Where `examples/forecast/sources.mlsys` reads each source, relative to the project directory.
pub const DEMAND_LOCATION: &str = "data/raw/demand";
pub const WEATHER_LOCATION: &str = "data/raw/weather";

/// The source names of `examples/forecast/sources.mlsys`, as bad rows name them.
pub const DEMAND_SOURCE: &str = "daily_demand";
pub const WEATHER_SOURCE: &str = "weather";

#[derive(Clone, Debug)]
pub struct ForecastConfig {
    pub seed: u64,
    pub sites: u32,
    /// First day, days since 1970-01-01.
    pub start: i32,
    pub days: u32,
    /// First day of the regime change ([`drift`]), 2026-09-01; none when it is not before the end.
    pub drift_from: i32,
}

impl Default for ForecastConfig {
    fn default() -> Self {
        ForecastConfig {
            seed: 42,
            sites: 50,
            start: days_from_civil(2026, 1, 1),
            days: 273,
            drift_from: days_from_civil(2026, 9, 1),
        }
    }
}

impl ForecastConfig {
    /// One past the last day.
    pub fn end(&self) -> i32 {
        self.start.saturating_add(i32::try_from(self.days).unwrap_or(i32::MAX))
    }
}

/// One row of `daily_demand`, plus the ground truth that is not written.
#[derive(Clone, Debug, PartialEq)]
pub struct DemandRow {
    /// `None` only for an injected bad row.
    pub site_id: Option<String>,
    pub region: &'static str,
    /// The day the row describes, days since 1970-01-01; `day_start` is its midnight UTC.
    pub day: i32,
    /// Orders handled that day.
    pub demand: i64,
    pub promotion: bool,
    pub holiday: bool,
    /// Ground truth: the expected demand before noise. Not a column.
    pub expected: f64,
}

impl DemandRow {
    /// The `day_start` column: microseconds since 1970-01-01 UTC.
    pub fn day_start(&self) -> i64 {
        i64::from(self.day) * MICROS_PER_DAY
    }
}

/// One row of `weather`, as text exactly as written to the CSV.
#[derive(Clone, Debug, PartialEq)]
pub struct WeatherRow {
    pub region: &'static str,
    /// The day the row summarises, days since 1970-01-01.
    pub day: i32,
    /// RFC 3339 UTC: the provider's end-of-day summary at 23:00.
    pub observed_at: String,
    /// Millimetres with one decimal, or a bad value.
    pub rain_mm: String,
    /// Degrees Celsius with one decimal, or a bad value.
    pub temperature_c: String,
}

/// A deliberately bad row: its source, the entity it belongs to (site or region), its day and why it
/// is bad.
#[derive(Clone, Debug, PartialEq)]
pub struct BadRow {
    pub source: &'static str,
    pub key: String,
    pub day: i32,
    pub problem: &'static str,
}

/// The whole data set in memory. Demand rows are sorted by (day, site_id), weather rows by (day, region).
#[derive(Clone, Debug)]
pub struct ForecastData {
    pub config: ForecastConfig,
    pub demand: Vec<DemandRow>,
    pub weather: Vec<WeatherRow>,
    pub bad_rows: Vec<BadRow>,
    /// Sites that open during the period (their rows start on the opening day).
    pub sites_opening: u32,
}

/// Generates the data set; the same config always gives the same data.
pub fn generate(config: &ForecastConfig) -> ForecastData {
    let root = Rng::new(config.seed);
    let (start, end) = (config.start, config.end());
    let mut site_rng = root.fork(1);
    let sites: Vec<Site> = (0..config.sites)
        .map(|index| Site::draw(index, start, config.days, &mut site_rng))
        .collect();
    let mut weather_rng = root.fork(2);
    let daily_weather: Vec<Vec<DailyWeather>> = REGIONS
        .iter()
        .map(|region| weather::simulate(region, start, end, &mut weather_rng))
        .collect();

    let mut demand = Vec::new();
    for (index, site) in (0u64..).zip(&sites) {
        let mut rng = root.fork(1_000 + index);
        demand.extend(sites::demand(
            site,
            &daily_weather[site.region],
            (start, end),
            config.drift_from,
            &mut rng,
        ));
    }
    // Within a day, by site id; site ids are zero-padded, so text order is index order.
    demand.sort_by(|a, b| (a.day, &a.site_id).cmp(&(b.day, &b.site_id)));

    let mut weather_rows: Vec<WeatherRow> = (start..end)
        .flat_map(|day| {
            let daily_weather = &daily_weather;
            REGIONS.iter().enumerate().map(move |(region, spec)| {
                let today = &daily_weather[region][(day - start) as usize];
                weather::row(spec.name, day, today)
            })
        })
        .collect();

    let bad_rows = bad_rows::inject(&mut demand, &mut weather_rows, start, end, &mut root.fork(4));
    ForecastData {
        config: config.clone(),
        demand,
        weather: weather_rows,
        bad_rows,
        sites_opening: sites.iter().filter(|site| site.opens > start).count() as u32,
    }
}

/// ISO day of the week of a day since 1970-01-01: 1 is Monday, 7 is Sunday (1970-01-01 was a Thursday).
pub fn day_of_week(day: i32) -> u32 {
    (day + 3).rem_euclid(7) as u32 + 1
}
