//! Email through a real SMTP server (aiosmtpd): the mail arrives with the event's Message-ID and
//! Idempotency-Key; a relay without a sender is a clear failure.

use std::time::Duration;

use mlsys_alerts::{AlertStore, DeliveryError, Observed, message_id};

use crate::support::smtp_server::SmtpServer;
use crate::support::{START, TempDir, deliverer, observe, wait_until};

#[tokio::test]
async fn an_alert_email_arrives_with_its_message_id() {
    let server = SmtpServer::start();
    let directory = TempDir::new();
    let mut store = AlertStore::open(&directory.path().join("alerts.db")).expect("open");
    let channels = vec!["email:ml-oncall@example.com".to_string()];
    let Observed::Event(event) = observe(&mut store, "auc", true, START, &channels) else {
        panic!("fired");
    };

    // Without a sender the attempt fails, saying which variable to set, and stays pending.
    let without_sender = deliverer(&[("MLSYS_SMTP_URL", server.url())]);
    let report = store.deliver_due(&without_sender, START).await.expect("deliver");
    let Err(DeliveryError::NotConfigured { variable, .. }) = &report.attempts[0].outcome else {
        panic!("{report:?}");
    };
    assert_eq!(variable, "MLSYS_ALERT_FROM");
    assert_eq!(report.pending, 1);

    let configured = deliverer(&[
        ("MLSYS_SMTP_URL", server.url()),
        ("MLSYS_ALERT_FROM", "mlsys alerts <alerts@example.com>".to_string()),
    ]);
    let report = store
        .deliver_due(&configured, START + 3_600_000_000)
        .await
        .expect("deliver");
    assert_eq!((report.delivered(), report.pending), (1, 0), "{report:?}");

    let expected_id = message_id(&event.idempotency_key);
    assert!(
        wait_until(Duration::from_secs(30), || server
            .mails()
            .iter()
            .any(|mail| mail.contains(&expected_id))),
        "no mail with Message-ID {expected_id} in {}: {:?}",
        server.maildir().display(),
        server.mails()
    );
    let mail = server
        .mails()
        .into_iter()
        .find(|mail| mail.contains(&expected_id))
        .expect("the mail");
    assert!(mail.contains(&format!("Message-ID: {expected_id}")), "{mail}");
    assert!(
        mail.contains(&format!("Idempotency-Key: {}", event.idempotency_key)),
        "{mail}"
    );
    assert!(mail.contains("To: ml-oncall@example.com"), "{mail}");
    assert!(mail.contains("[FIRING] fraud_health / auc"), "{mail}");
}
