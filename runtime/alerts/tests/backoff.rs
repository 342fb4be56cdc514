//! Retries: a failing delivery is recorded, retried after 1 s doubling up to 1 h, reported as
//! overdue after an hour and never dropped. A channel without configuration is such a failure.

use mlsys_alerts::{AlertStore, DeliveryError};

use crate::support::{HOUR, SECOND, START, TempDir, deliverer, observe};

#[tokio::test]
async fn failures_back_off_exponentially_and_become_overdue_but_stay_pending() {
    let directory = TempDir::new();
    let mut store = AlertStore::open(&directory.path().join("alerts.db")).expect("open");
    let channels = vec!["slack:#fraud-oncall".to_string()];
    observe(&mut store, "r", true, START, &channels);
    let unconfigured = deliverer(&[]);

    let mut now = START + 7 * HOUR;
    let first_attempt = now;
    let mut delays = Vec::new();
    for attempt in 1..=16 {
        let delivery = store.deliver_due(&unconfigured, now);
        assert_send(&delivery);
        let report = delivery.await.expect("deliver");
        assert_eq!(report.attempts.len(), 1, "attempt {attempt}");
        let failure = &report.attempts[0];
        let Err(DeliveryError::NotConfigured { variable, .. }) = &failure.outcome else {
            panic!("a missing webhook URL is a delivery failure: {failure:?}");
        };
        assert_eq!(
            variable,
            "MLSYS_SLACK_WEBHOOK_URL_FRAUD_ONCALL or MLSYS_SLACK_WEBHOOK_URL"
        );
        assert_eq!(report.pending, 1);
        let overdue = now - first_attempt > HOUR;
        assert_eq!(
            report.overdue.len(),
            usize::from(overdue),
            "attempt {attempt} at +{} s",
            (now - first_attempt) / SECOND
        );
        let next = failure.next_attempt_at.expect("a next attempt");
        // Not due again before its time.
        let early = store.deliver_due(&unconfigured, next - 1).await.expect("deliver");
        assert!(early.attempts.is_empty());
        delays.push((next - now) / SECOND);
        now = next;
    }
    assert_eq!(
        delays,
        [
            1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 3600, 3600, 3600, 3600
        ]
    );

    let history = store.history(None, 10).expect("history");
    let delivery = &history[0].deliveries[0];
    assert_eq!(delivery.attempts, 16);
    assert_eq!(delivery.first_attempt_at, Some(first_attempt));
    let error = delivery.last_error.as_deref().expect("the error is recorded");
    assert!(
        error.contains("set MLSYS_SLACK_WEBHOOK_URL_FRAUD_ONCALL or MLSYS_SLACK_WEBHOOK_URL"),
        "{error}"
    );
}

#[tokio::test]
async fn a_channel_the_spec_got_wrong_is_a_failure_that_stays_pending() {
    let directory = TempDir::new();
    let mut store = AlertStore::open(&directory.path().join("alerts.db")).expect("open");
    let channels = vec!["sms:+15550100".to_string(), "webhook:not a url".to_string()];
    observe(&mut store, "r", true, START, &channels);
    let report = store.deliver_due(&deliverer(&[]), START).await.expect("deliver");
    assert_eq!((report.failed(), report.pending), (2, 2));
    for attempt in &report.attempts {
        assert!(
            matches!(attempt.outcome, Err(DeliveryError::InvalidChannel { .. })),
            "{attempt:?}"
        );
    }
}

/// A caller may spawn delivery on a multi-threaded runtime.
fn assert_send<T: Send>(_: &T) {}
