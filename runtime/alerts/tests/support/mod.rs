//! Test support: a temporary directory (shared with the online store's tests), the HTTP receiver,
//! the SMTP server, observations and conditions waited on with a bound.

pub mod receiver;
pub mod smtp_server;
#[path = "../../../online/tests/support/temp_dir.rs"]
mod temp_dir;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use mlsys_alerts::{AlertStore, Deliverer, DeliveryPolicy, Observation, Observed};
pub use temp_dir::TempDir;

pub const SECOND: i64 = 1_000_000;
pub const HOUR: i64 = 3600 * SECOND;
pub const DAY: i64 = 24 * HOUR;
/// 2026-01-01T00:00:00Z in µs: the observation times of the tests start here.
pub const START: i64 = 1_767_225_600 * SECOND;

/// Polls `condition` until it holds or `limit` passed; whether it held.
pub fn wait_until(limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let started = Instant::now();
    loop {
        if condition() {
            return true;
        }
        if started.elapsed() > limit {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Reports that the rule `rule` of monitor `fraud_health` holds (or not) at `at`.
pub fn observe(store: &mut AlertStore, rule: &str, holds: bool, at: i64, channels: &[String]) -> Observed {
    let details = serde_json::json!({"psi": if holds { 0.31 } else { 0.05 }, "threshold": 0.2});
    let summary = if holds {
        "psi 0.31 > 0.2 on amount"
    } else {
        "psi 0.05 <= 0.2 on amount"
    };
    store
        .observe(&Observation {
            monitor: "fraud_health",
            rule,
            holds,
            at,
            summary,
            details: &details,
            channels,
        })
        .expect("observe")
}

/// A deliverer configured by `variables` instead of the environment, with a short attempt
/// timeout (a hanging receiver fails an attempt within it).
pub fn deliverer(variables: &[(&str, String)]) -> Deliverer {
    let variables: BTreeMap<String, String> = variables
        .iter()
        .map(|(name, value)| (name.to_string(), value.clone()))
        .collect();
    let policy = DeliveryPolicy {
        attempt_timeout: Duration::from_secs(2),
        connect_timeout: Duration::from_secs(1),
        ..DeliveryPolicy::default()
    };
    Deliverer::with_lookup(policy, move |name| variables.get(name).cloned()).expect("a deliverer")
}
