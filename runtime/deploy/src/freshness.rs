//! How fresh each served entity group is, as `deploy`'s feature refresh last found it in the
//! store: the newest event time materialized and the group's own `every` (the smallest among its
//! windowed features). A group is *stale* once its lag behind now exceeds [`STALE_AFTER`] times its
//! `every`. `/ready` lists every group with its lag; a stale group does not make the server
//! unready — its values are still the newest it has, and taking every replica out of service
//! would turn late data into an outage — it is reported for alerting (and in `/metrics`).

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde::Serialize;

/// A group lagging more than this many of its `every` is stale.
pub const STALE_AFTER: i64 = 3;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Group {
    watermark: i64,
    every: i64,
}

/// One group's freshness as `/ready` shows it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GroupFreshness {
    /// The newest event time materialized, RFC 3339.
    pub watermark: String,
    pub lag_seconds: f64,
    pub every_seconds: f64,
    pub stale: bool,
}

/// The served groups' freshness, shared by the refresh (which sets it) and `/ready`.
#[derive(Debug, Default)]
pub struct Freshness {
    groups: Mutex<BTreeMap<String, Group>>,
}

impl Freshness {
    /// `group` holds events up to `watermark` (µs); its values change every `every` µs.
    pub fn set(&self, group: &str, watermark: i64, every: i64) {
        self.lock().insert(group.to_string(), Group { watermark, every });
    }

    /// Every group's freshness at `now` (µs), by name.
    pub fn report(&self, now: i64) -> BTreeMap<String, GroupFreshness> {
        let seconds = |micros: i64| micros as f64 / 1e6;
        self.lock()
            .iter()
            .map(|(name, group)| {
                let lag = now.saturating_sub(group.watermark);
                let freshness = GroupFreshness {
                    watermark: mlsys_serve::wire::format_timestamp(group.watermark),
                    lag_seconds: seconds(lag),
                    every_seconds: seconds(group.every),
                    stale: lag > group.every.saturating_mul(STALE_AFTER),
                };
                (name.clone(), freshness)
            })
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Group>> {
        // The map holds no invariant a panicking holder could break.
        self.groups.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3_600_000_000;

    #[test]
    fn a_group_is_stale_past_three_of_its_every() {
        let freshness = Freshness::default();
        freshness.set("user_activity@v1", 10 * HOUR, HOUR);
        let at = |now: i64| freshness.report(now)["user_activity@v1"].clone();
        assert!(!at(13 * HOUR).stale);
        assert_eq!(at(13 * HOUR).lag_seconds, 3.0 * 3600.0);
        assert!(at(13 * HOUR + 1).stale);
        assert_eq!(at(0).watermark, "1970-01-01T10:00:00.000000Z");
    }
}
