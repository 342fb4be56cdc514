//! The alert lifecycle of a rule: fire, quiet, repeat after the interval, resolve; duplicate and
//! stale observations; the event and its deliveries written in one transaction.

use std::collections::BTreeSet;
use std::time::Duration;

use mlsys_alerts::{AlertError, AlertStore, EventKind, Observed};

use crate::support::{DAY, HOUR, START, TempDir, observe};

fn channels() -> Vec<String> {
    vec![
        "slack:#fraud-oncall".to_string(),
        "email:ml-oncall@example.com".to_string(),
        "webhook:https://hooks.example.com/ml".to_string(),
        "pagerduty:SERVICE_KEY".to_string(),
        // A repeated channel is one delivery.
        "slack:#fraud-oncall".to_string(),
    ]
}

fn kind(observed: &Observed) -> Option<(EventKind, u32)> {
    match observed {
        Observed::Event(event) => Some((event.kind, event.sequence)),
        _ => None,
    }
}

#[test]
fn fires_repeats_after_the_interval_and_resolves_once() {
    let directory = TempDir::new();
    let mut store = AlertStore::open(&directory.path().join("alerts.db")).expect("open");
    let channels = channels();
    let rule = "drift-psi-features";

    assert_eq!(observe(&mut store, rule, false, START, &channels), Observed::Quiet);
    let fired = observe(&mut store, rule, true, START + DAY, &channels);
    assert_eq!(kind(&fired), Some((EventKind::Fired, 0)));
    assert_eq!(
        observe(&mut store, rule, true, START + DAY + 12 * HOUR, &channels),
        Observed::Quiet
    );
    // The default interval: a day of observation time after the alert fired.
    let repeated = observe(&mut store, rule, true, START + 2 * DAY, &channels);
    assert_eq!(kind(&repeated), Some((EventKind::Repeated, 1)));
    assert_eq!(
        observe(&mut store, rule, true, START + 2 * DAY + 23 * HOUR, &channels),
        Observed::Quiet
    );
    assert_eq!(
        kind(&observe(&mut store, rule, true, START + 3 * DAY, &channels)),
        Some((EventKind::Repeated, 2))
    );
    let resolved = observe(&mut store, rule, false, START + 3 * DAY + HOUR, &channels);
    assert_eq!(kind(&resolved), Some((EventKind::Resolved, 3)));
    assert_eq!(
        observe(&mut store, rule, false, START + 4 * DAY, &channels),
        Observed::Quiet
    );
    let again = observe(&mut store, rule, true, START + 5 * DAY, &channels);
    assert_eq!(kind(&again), Some((EventKind::Fired, 0)));

    let (Observed::Event(fired), Observed::Event(resolved), Observed::Event(again)) = (fired, resolved, again) else {
        panic!("events expected");
    };
    assert_eq!(resolved.incident_start, fired.observed_at);
    assert_eq!(resolved.incident_key, fired.incident_key);
    assert_ne!(again.incident_key, fired.incident_key);
    assert!(
        fired
            .to_string()
            .contains("alert fired fraud_health/drift-psi-features"),
        "{fired}"
    );

    let history = store.history(None, 100).expect("history");
    let kinds: Vec<EventKind> = history.iter().rev().map(|entry| entry.event.kind).collect();
    use EventKind::{Fired, Repeated, Resolved};
    assert_eq!(kinds, [Fired, Repeated, Repeated, Resolved, Fired]);
    let keys: BTreeSet<&str> = history
        .iter()
        .map(|entry| entry.event.idempotency_key.as_str())
        .collect();
    assert_eq!(keys.len(), history.len(), "every event has its own key");
    for entry in &history {
        let labels: Vec<&str> = entry
            .deliveries
            .iter()
            .map(|delivery| delivery.channel.as_str())
            .collect();
        assert_eq!(
            labels,
            [
                "slack:#fraud-oncall",
                "email:ml-oncall@example.com",
                "webhook:https://hooks.example.com/…",
                "pagerduty:SERV…"
            ]
        );
        assert!(
            entry
                .deliveries
                .iter()
                .all(|delivery| delivery.attempts == 0 && !delivery.is_delivered())
        );
    }
}

#[test]
fn a_repeated_or_older_observation_sends_nothing() {
    let directory = TempDir::new();
    let path = directory.path().join("alerts.db");
    let mut store = AlertStore::open(&path).expect("open");
    let channels = channels();
    assert!(matches!(
        observe(&mut store, "r", true, START + DAY, &channels),
        Observed::Event(_)
    ));
    // A re-run of the same period, whatever it found, and an older period: nothing changes.
    assert_eq!(
        observe(&mut store, "r", true, START + DAY, &channels),
        Observed::AlreadyObserved
    );
    assert_eq!(
        observe(&mut store, "r", false, START + DAY, &channels),
        Observed::AlreadyObserved
    );
    assert_eq!(
        observe(&mut store, "r", false, START, &channels),
        Observed::Stale {
            last_observed_at: START + DAY
        }
    );
    drop(store);
    // The state is in the file: a new process re-running the period sends nothing either.
    let mut store = AlertStore::open(&path).expect("reopen");
    assert_eq!(
        observe(&mut store, "r", true, START + DAY, &channels),
        Observed::AlreadyObserved
    );
    assert_eq!(store.history(None, 100).expect("history").len(), 1);
    // Other rules and monitors have their own state.
    assert!(matches!(
        observe(&mut store, "other", true, START + DAY, &channels),
        Observed::Event(_)
    ));
}

#[test]
fn keys_are_deterministic_and_the_repeat_interval_configurable() {
    let channels = channels();
    let run = |interval: Duration| {
        let directory = TempDir::new();
        let mut store = AlertStore::open(&directory.path().join("alerts.db"))
            .expect("open")
            .with_repeat_interval(interval);
        for hour in 0..5 {
            observe(&mut store, "r", true, START + hour * HOUR, &channels);
        }
        observe(&mut store, "r", false, START + 5 * HOUR, &channels);
        let history = store.history(Some("fraud_health"), 100).expect("history");
        history
            .into_iter()
            .map(|entry| entry.event.idempotency_key)
            .collect::<Vec<_>>()
    };
    let hourly = run(Duration::from_secs(3600));
    assert_eq!(hourly.len(), 6, "fired, four repeats, resolved");
    assert_eq!(
        run(Duration::from_secs(3600)),
        hourly,
        "the same events have the same keys"
    );
    assert_eq!(
        run(Duration::from_secs(2 * 3600)).len(),
        4,
        "fired, two repeats, resolved"
    );
}

#[test]
fn an_event_and_its_deliveries_are_one_transaction() {
    let directory = TempDir::new();
    let path = directory.path().join("alerts.db");
    let mut store = AlertStore::open(&path).expect("open");
    // Another connection makes writing a delivery fail: the event and the rule's new state must
    // not be written without it.
    let tamper = rusqlite::Connection::open(&path).expect("open the file");
    tamper
        .execute_batch(
            "CREATE TRIGGER no_deliveries BEFORE INSERT ON deliveries BEGIN SELECT RAISE(ABORT, 'disk full'); END;",
        )
        .expect("a trigger");
    let details = serde_json::json!({});
    let channels = channels();
    let observation = mlsys_alerts::Observation {
        monitor: "fraud_health",
        rule: "r",
        holds: true,
        at: START,
        summary: "s",
        details: &details,
        channels: &channels,
    };
    let error = store.observe(&observation).expect_err("the delivery insert fails");
    assert!(matches!(error, AlertError::Database { .. }), "{error:?}");
    assert!(error.to_string().contains(&path.display().to_string()), "{error}");
    assert!(
        store.history(None, 10).expect("history").is_empty(),
        "no event without its deliveries"
    );

    tamper
        .execute_batch("DROP TRIGGER no_deliveries;")
        .expect("drop the trigger");
    let Observed::Event(event) = store.observe(&observation).expect("observe") else {
        panic!("the same observation fires now: its state was not written before");
    };
    let history = store.history(None, 10).expect("history");
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].event, event);
    assert_eq!(history[0].deliveries.len(), 4);
}
