//! The sites of the forecast data set and their daily demand: a per-site level, a weekly profile
//! (business districts are quiet at weekends, residential areas busy), a slow trend, a yearly cycle,
//! promotions, holidays, the weather of the day, a ramp-up after opening, and multiplicative noise.

use super::calendar::{day_of_year, is_holiday};
use super::weather::DailyWeather;
use super::{DemandRow, day_of_week};
use crate::random::Rng;

/// A region: its weather climate and its own public holiday.
pub struct Region {
    pub name: &'static str,
    /// Share of the sites.
    pub weight: f64,
    /// Mean and half the yearly swing of the daily temperature, °C.
    pub temperature_mean: f64,
    pub temperature_swing: f64,
    /// Chance that a day is wet after a dry day and after a wet day: wet days come in runs.
    pub wet_after_dry: f64,
    pub wet_after_wet: f64,
    /// Mean rain of a wet day, mm.
    pub wet_day_rain: f64,
    /// (month, day) of the regional holiday.
    pub holiday: (u32, u32),
}

pub const REGIONS: [Region; 5] = [
    Region {
        name: "north",
        weight: 0.2,
        temperature_mean: 7.0,
        temperature_swing: 12.0,
        wet_after_dry: 0.30,
        wet_after_wet: 0.65,
        wet_day_rain: 7.0,
        holiday: (3, 17),
    },
    Region {
        name: "south",
        weight: 0.2,
        temperature_mean: 19.0,
        temperature_swing: 8.0,
        wet_after_dry: 0.15,
        wet_after_wet: 0.55,
        wet_day_rain: 11.0,
        holiday: (4, 21),
    },
    Region {
        name: "east",
        weight: 0.25,
        temperature_mean: 12.0,
        temperature_swing: 11.0,
        wet_after_dry: 0.25,
        wet_after_wet: 0.60,
        wet_day_rain: 8.0,
        holiday: (6, 14),
    },
    Region {
        name: "west",
        weight: 0.2,
        temperature_mean: 14.0,
        temperature_swing: 6.0,
        wet_after_dry: 0.35,
        wet_after_wet: 0.70,
        wet_day_rain: 6.0,
        holiday: (8, 17),
    },
    Region {
        name: "central",
        weight: 0.15,
        temperature_mean: 10.0,
        temperature_swing: 14.0,
        wet_after_dry: 0.20,
        wet_after_wet: 0.55,
        wet_day_rain: 9.0,
        holiday: (5, 5),
    },
];

/// Demand by ISO weekday (Monday first) on working days; Saturday and Sunday come from the site.
const WORKING_DAYS: [f64; 5] = [1.00, 0.96, 0.97, 1.00, 1.08];

/// New sites reach their full level over this many days.
const RAMP_UP_DAYS: i32 = 28;

/// Chance per day that a promotion starts at a site that runs none.
const PROMOTION_START: f64 = 0.035;

#[derive(Clone, Debug)]
pub struct Site {
    pub id: String,
    /// Index into `REGIONS`.
    pub region: usize,
    /// Mean daily orders on a Monday at the start of the period.
    pub level: f64,
    /// Saturday's demand relative to a Monday (Sunday is 90% of it).
    pub weekend: f64,
    /// Growth per year: `exp(growth)` is the factor after 365 days.
    pub growth: f64,
    /// Demand factor while a promotion runs.
    pub promotion_lift: f64,
    /// Demand factor on a public holiday.
    pub holiday_factor: f64,
    /// First day with demand: the period's start, or later for a site that opens during it.
    pub opens: i32,
    /// The site changes regime when the drift starts ([`super::drift`]).
    pub changes_regime: bool,
}

impl Site {
    pub fn draw(index: u32, start: i32, days: u32, rng: &mut Rng) -> Site {
        let weights: Vec<f64> = REGIONS.iter().map(|region| region.weight).collect();
        let region = rng.weighted(&weights);
        let business = rng.chance(0.4);
        let weekend = if business {
            0.45 + 0.2 * rng.unit()
        } else {
            1.15 + 0.25 * rng.unit()
        };
        let span = i32::try_from(days).unwrap_or(i32::MAX);
        // About 8% of the sites open during the period, between its first sixth and two thirds.
        let opens = if span >= 6 && rng.chance(0.08) {
            start + span / 6 + rng.below(u64::try_from(span / 2).unwrap_or(1).max(1)) as i32
        } else {
            start
        };
        Site {
            id: format!("site_{index:03}"),
            region,
            level: rng.log_normal(300f64.ln(), 0.5).clamp(60.0, 3_000.0),
            weekend,
            growth: 0.08 + 0.12 * rng.normal(),
            promotion_lift: 1.2 + 0.25 * rng.unit(),
            holiday_factor: if business { 0.35 } else { 0.8 },
            opens,
            changes_regime: super::drift::changes(index),
        }
    }
}

/// The site's rows from its opening day to the end of the period, in day order. `weather` holds the
/// site's region's days from `start`; the regime change applies from `drift_from`.
pub fn demand(
    site: &Site,
    weather: &[DailyWeather],
    (start, end): (i32, i32),
    drift_from: i32,
    rng: &mut Rng,
) -> Vec<DemandRow> {
    let region = &REGIONS[site.region];
    let mut out = Vec::new();
    let mut promotion_days_left = 0u32;
    for day in site.opens.max(start)..end {
        if promotion_days_left == 0 && rng.chance(PROMOTION_START) {
            promotion_days_left = 3 + rng.below(5) as u32;
        }
        let promotion = promotion_days_left > 0;
        promotion_days_left = promotion_days_left.saturating_sub(1);
        let holiday = is_holiday(day, region.holiday);
        let today = weather.get((day - start) as usize).copied().unwrap_or_default();

        let weekday = day_of_week(day);
        let weekly = match weekday {
            6 => site.weekend,
            7 => 0.9 * site.weekend,
            _ => WORKING_DAYS[(weekday - 1) as usize],
        };
        let years = f64::from(day - start) / 365.0;
        // Busier in winter: the cycle peaks in mid-January.
        let season = 1.0 + 0.05 * (std::f64::consts::TAU * (f64::from(day_of_year(day)) - 15.0) / 365.0).cos();
        let rain = 1.0 + 0.01 * today.rain_mm.min(30.0);
        let temperature = if today.temperature_c < 0.0 {
            1.08
        } else if today.temperature_c > 28.0 {
            0.95
        } else {
            1.0
        };
        let ramp = if site.opens > start && day - site.opens < RAMP_UP_DAYS {
            0.5 + 0.5 * f64::from(day - site.opens) / f64::from(RAMP_UP_DAYS)
        } else {
            1.0
        };
        let mut expected = site.level * weekly * (site.growth * years).exp() * season * rain * temperature * ramp;
        if promotion {
            expected *= site.promotion_lift;
        }
        if holiday {
            expected *= site.holiday_factor;
        }
        expected *= super::drift::factor(site.changes_regime, day, weekday, drift_from);
        let noisy = expected * rng.log_normal(0.0, 0.08);
        out.push(DemandRow {
            site_id: Some(site.id.clone()),
            region: region.name,
            day,
            demand: (noisy.round() as i64).max(1),
            promotion,
            holiday,
            expected,
        });
    }
    out
}
