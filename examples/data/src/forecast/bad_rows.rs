//! A few deliberately bad rows in the middle of the period, so that an ingestion run shows quarantine:
//! a negative demand and a null `site_id` in `daily_demand`; an unparsable `rain_mm` and an unparsable
//! `temperature_c` in `weather`.

use super::{BadRow, DEMAND_SOURCE, DemandRow, WEATHER_SOURCE, WeatherRow};
use crate::random::Rng;

pub const NEGATIVE_DEMAND: &str = "negative demand (contract: expect demand >= 0)";
pub const NULL_SITE_ID: &str = "null site_id (contract: expect not_null(site_id))";
pub const BAD_RAIN: &str = "rain_mm is `n/a`: not a float64";
pub const BAD_TEMPERATURE: &str = "temperature_c with a unit: not a float64";

pub fn inject(
    demand: &mut [DemandRow],
    weather: &mut [WeatherRow],
    start: i32,
    end: i32,
    rng: &mut Rng,
) -> Vec<BadRow> {
    let span = end - start;
    let middle = |day: i32| day >= start + span / 6 && day < start + span * 3 / 5;
    let mut bad = Vec::new();

    let mut demand_rows: Vec<usize> = (0..demand.len()).filter(|index| middle(demand[*index].day)).collect();
    if demand_rows.len() < 2 {
        demand_rows = (0..demand.len()).collect();
    }
    if let Some(index) = pick(&mut demand_rows, rng) {
        let row = &mut demand[index];
        row.demand = -row.demand; // a returns correction booked as demand
        bad.push(bad_row(
            DEMAND_SOURCE,
            row.site_id.clone().unwrap_or_default(),
            row.day,
            NEGATIVE_DEMAND,
        ));
    }
    if let Some(index) = pick(&mut demand_rows, rng) {
        let row = &mut demand[index];
        let site_id = row.site_id.take().unwrap_or_default();
        bad.push(bad_row(DEMAND_SOURCE, site_id, row.day, NULL_SITE_ID));
    }

    let mut weather_rows: Vec<usize> = (0..weather.len()).filter(|index| middle(weather[*index].day)).collect();
    if weather_rows.len() < 2 {
        weather_rows = (0..weather.len()).collect();
    }
    if let Some(index) = pick(&mut weather_rows, rng) {
        let row = &mut weather[index];
        row.rain_mm = "n/a".into(); // a rain gauge outage
        bad.push(bad_row(WEATHER_SOURCE, row.region.into(), row.day, BAD_RAIN));
    }
    if let Some(index) = pick(&mut weather_rows, rng) {
        let row = &mut weather[index];
        row.temperature_c = format!("{}°C", row.temperature_c); // a station sending its display text
        bad.push(bad_row(WEATHER_SOURCE, row.region.into(), row.day, BAD_TEMPERATURE));
    }
    bad
}

/// Removes and returns a random candidate.
fn pick(candidates: &mut Vec<usize>, rng: &mut Rng) -> Option<usize> {
    if candidates.is_empty() {
        return None;
    }
    Some(candidates.swap_remove(rng.below(candidates.len() as u64) as usize))
}

fn bad_row(source: &'static str, key: String, day: i32, problem: &'static str) -> BadRow {
    BadRow {
        source,
        key,
        day,
        problem,
    }
}
