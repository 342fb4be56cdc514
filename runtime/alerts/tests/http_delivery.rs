//! Delivery to a real HTTP receiver (webhook, Slack, PagerDuty): killed mid-run and restarted on
//! the same port, and hanging so that an accepted request times out; every event arrives at least
//! once and its retries carry its key.

use std::collections::{BTreeMap, BTreeSet};

use mlsys_alerts::{AlertStore, DeliveryReport, EventKind, Observed};

use crate::support::receiver::{Mode, Receiver};
use crate::support::{DAY, HOUR, START, TempDir, deliverer, observe};

/// Delivers until nothing is pending, moving the clock an hour each round (past any retry delay).
async fn deliver_all(store: &mut AlertStore, deliverer: &mlsys_alerts::Deliverer, now: &mut i64) {
    for _ in 0..10 {
        let report: DeliveryReport = store.deliver_due(deliverer, *now).await.expect("deliver");
        *now += HOUR;
        if report.pending == 0 {
            return;
        }
    }
    panic!("deliveries still pending after 10 rounds");
}

#[tokio::test]
async fn every_event_arrives_at_least_once_across_a_receiver_outage() {
    let directory = TempDir::new();
    let mut store = AlertStore::open(&directory.path().join("alerts.db")).expect("open");
    let mut receiver = Receiver::start().await;
    let channels = vec![
        format!("webhook:{}", receiver.url("/hook")),
        "slack:#fraud-oncall".to_string(),
    ];
    let deliverer = deliverer(&[("MLSYS_SLACK_WEBHOOK_URL", receiver.url("/slack/T000/B000/XXXX"))]);
    let mut now = START + 10 * DAY;

    // Fired and delivered while the receiver is up.
    assert!(matches!(
        observe(&mut store, "r", true, START, &channels),
        Observed::Event(_)
    ));
    let report = store.deliver_due(&deliverer, now).await.expect("deliver");
    assert_eq!((report.delivered(), report.pending), (2, 0));
    assert_eq!(receiver.received().len(), 2);

    // Killed: the repeat, the resolution and a new incident are recorded, their attempts fail
    // (connections refused) and are retried later.
    receiver.kill().await;
    observe(&mut store, "r", true, START + DAY, &channels);
    observe(&mut store, "r", false, START + DAY + HOUR, &channels);
    observe(&mut store, "r", true, START + 2 * DAY, &channels);
    for round in 0..3 {
        now += HOUR;
        let report = store.deliver_due(&deliverer, now).await.expect("deliver");
        assert_eq!(
            (report.delivered(), report.failed(), report.pending),
            (0, 6, 6),
            "round {round}"
        );
        for attempt in &report.attempts {
            let error = attempt.outcome.as_ref().expect_err("refused").to_string();
            assert!(error.contains("request to"), "{error}");
        }
    }
    let failing = store.history(None, 10).expect("history");
    assert!(
        failing
            .iter()
            .take(3)
            .flat_map(|entry| &entry.deliveries)
            .all(|delivery| delivery.attempts == 3)
    );

    // Back, but hanging: the requests arrive, the client times out, and they stay pending.
    receiver.restart().await;
    receiver.set_mode(Mode::Hang);
    now += HOUR;
    let report = store.deliver_due(&deliverer, now).await.expect("deliver");
    assert_eq!((report.delivered(), report.pending), (0, 6));
    assert!(
        receiver.received().len() >= 2 + 6,
        "the hanging receiver got the requests"
    );

    // Answering again: everything is delivered, some of it twice.
    receiver.kill().await;
    receiver.restart().await;
    receiver.set_mode(Mode::Accept);
    deliver_all(&mut store, &deliverer, &mut now).await;

    let history = store.history(None, 100).expect("history");
    let event_keys: BTreeSet<String> = history
        .iter()
        .map(|entry| entry.event.idempotency_key.clone())
        .collect();
    assert_eq!(event_keys.len(), 4, "fired, repeated, resolved, fired");
    assert!(
        history
            .iter()
            .flat_map(|entry| &entry.deliveries)
            .all(|delivery| delivery.is_delivered())
    );
    let received = receiver.received();
    let mut bodies_by_key: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    for request in &received {
        let header = request.idempotency_key.clone().expect("an Idempotency-Key header");
        let field = if request.path == "/hook" {
            &request.body["idempotency_key"]
        } else {
            assert_eq!(request.path, "/slack/T000/B000/XXXX");
            assert!(
                request.body["text"]
                    .as_str()
                    .is_some_and(|text| text.contains("fraud_health"))
            );
            &request.body["mlsys_alert"]["idempotency_key"]
        };
        assert_eq!(field.as_str(), Some(header.as_str()), "the JSON field is the header");
        bodies_by_key
            .entry((request.path.clone(), header))
            .or_default()
            .insert(request.body.to_string());
    }
    for path in ["/hook", "/slack/T000/B000/XXXX"] {
        let keys: BTreeSet<String> = bodies_by_key
            .keys()
            .filter(|(at, _)| at == path)
            .map(|(_, key)| key.clone())
            .collect();
        assert_eq!(
            keys, event_keys,
            "{path}: distinct keys are exactly the events: none lost, none invented"
        );
    }
    assert!(received.len() > 2 * event_keys.len(), "some events arrived twice");
    for (key, bodies) in &bodies_by_key {
        assert_eq!(bodies.len(), 1, "{key:?}: every copy of an event is the same message");
    }
}

#[tokio::test]
async fn pagerduty_gets_trigger_and_resolve_under_the_incident_key() {
    let directory = TempDir::new();
    let mut store = AlertStore::open(&directory.path().join("alerts.db")).expect("open");
    let receiver = Receiver::start().await;
    let channels = vec!["pagerduty:R0UTINGKEY0123456789".to_string()];
    let deliverer = deliverer(&[("MLSYS_PAGERDUTY_URL", receiver.url("/v2/enqueue"))]);
    observe(&mut store, "r", true, START, &channels);
    observe(&mut store, "r", true, START + DAY, &channels);
    observe(&mut store, "r", false, START + DAY + HOUR, &channels);
    let mut now = START + 10 * DAY;
    deliver_all(&mut store, &deliverer, &mut now).await;

    let received = receiver.received();
    let actions: Vec<&str> = received
        .iter()
        .filter_map(|request| request.body["event_action"].as_str())
        .collect();
    let mut sorted = actions.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, ["resolve", "trigger", "trigger"]);
    let history = store.history(None, 10).expect("history");
    let incident = &history[0].event.incident_key;
    assert_eq!(history[0].event.kind, EventKind::Resolved);
    for request in &received {
        assert_eq!(request.path, "/v2/enqueue");
        assert_eq!(request.body["routing_key"], "R0UTINGKEY0123456789");
        assert_eq!(request.body["dedup_key"].as_str(), Some(incident.as_str()));
        assert_eq!(request.body["payload"]["severity"], "error");
    }
    assert_eq!(history[0].deliveries[0].channel, "pagerduty:R0UT…");
}
