//! The regime change of the last month (from `ForecastConfig::drift_from`, 2026-09-01 by default),
//! after the model's training snapshot and holdout, for monitors to catch: two sites in five
//! (`site_000`, `site_001`, `site_005`, `site_006`, ...) take on a new customer from that day on;
//! their working days get [`LEVEL_STEP`] times the demand and their weekends [`WEEKEND_STEP`]
//! times (the new customer orders at weekends too), a step in level and in weekly pattern that the
//! windows of past demand the model reads only catch up with weeks later.
//!
//! Only the expected demand changes, never a draw: every row before the drift is as without it.

/// Demand factor of a changed site's working days, and of its weekends.
pub const LEVEL_STEP: f64 = 1.5;
pub const WEEKEND_STEP: f64 = 2.2;

/// Whether site `index` changes regime.
pub fn changes(index: u32) -> bool {
    index % 5 < 2
}

/// The factor on a site's expected demand on `day` (ISO weekday `weekday`, 1 is Monday).
pub fn factor(changes: bool, day: i32, weekday: u32, drift_from: i32) -> f64 {
    match (changes && day >= drift_from, weekday >= 6) {
        (false, _) => 1.0,
        (true, false) => LEVEL_STEP,
        (true, true) => WEEKEND_STEP,
    }
}
