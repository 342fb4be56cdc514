//! The regional weather feed: a yearly temperature cycle with day-to-day persistence, and wet and dry
//! days that come in runs (a two-state Markov chain), so that yesterday's weather says something
//! about today's.

use mlsys_compiler::syntax::literal::format_date;

use super::WeatherRow;
use super::calendar::day_of_year;
use super::sites::Region;
use crate::random::Rng;

/// One region's weather on one day, as the demand sees it.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct DailyWeather {
    pub rain_mm: f64,
    pub temperature_c: f64,
}

/// The region's weather for every day of `start..end`, in day order.
pub fn simulate(region: &Region, start: i32, end: i32, rng: &mut Rng) -> Vec<DailyWeather> {
    let mut wet = false;
    let mut anomaly = 0.0;
    (start..end)
        .map(|day| {
            wet = rng.chance(if wet {
                region.wet_after_wet
            } else {
                region.wet_after_dry
            });
            let rain_mm = if wet {
                tenths(0.2 + rng.exponential(region.wet_day_rain))
            } else {
                0.0
            };
            anomaly = 0.7 * anomaly + 2.5 * rng.normal();
            // Coldest in mid-January.
            let phase = std::f64::consts::TAU * f64::from(day_of_year(day) - 15) / 365.0;
            let temperature_c = tenths(region.temperature_mean - region.temperature_swing * phase.cos() + anomaly);
            DailyWeather { rain_mm, temperature_c }
        })
        .collect()
}

/// The CSV row of a region's day: the provider's end-of-day summary at 23:00 UTC.
pub fn row(region: &'static str, day: i32, weather: &DailyWeather) -> WeatherRow {
    WeatherRow {
        region,
        day,
        observed_at: format!("{}T23:00:00Z", format_date(day)),
        rain_mm: format!("{:.1}", weather.rain_mm),
        temperature_c: format!("{:.1}", weather.temperature_c),
    }
}

/// Rounded to one decimal, as the provider reports it (and as the CSV holds it); never -0.0.
fn tenths(value: f64) -> f64 {
    (value * 10.0).round() / 10.0 + 0.0
}
