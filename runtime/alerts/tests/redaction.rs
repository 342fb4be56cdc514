//! Secrets (webhook URL paths and queries, routing keys, SMTP passwords) never reach an error, the
//! outbox's error column or a printed channel.

use mlsys_alerts::AlertStore;

use crate::support::receiver::{Mode, Receiver};
use crate::support::smtp_server::free_port;
use crate::support::{START, TempDir, deliverer, observe};

const SECRETS: &[&str] = &[
    "T0SECRETPATH",
    "B1SECRETPATH",
    "QSECRETTOKEN",
    "HUNTER2PASSWORD",
    "SLACKSECRET",
];

fn assert_no_secret(text: &str) {
    for secret in SECRETS {
        assert!(!text.contains(secret), "{secret} leaked into: {text}");
    }
}

#[tokio::test]
async fn failing_channels_record_errors_without_their_secrets() {
    let directory = TempDir::new();
    let path = directory.path().join("alerts.db");
    let mut store = AlertStore::open(&path).expect("open");
    let receiver = Receiver::start().await;
    receiver.set_mode(Mode::Status(403));
    let closed = free_port();
    let channels = vec![
        // Refused connection.
        format!("webhook:http://127.0.0.1:{closed}/hooks/T0SECRETPATH/B1SECRETPATH?token=QSECRETTOKEN"),
        // An answer whose body echoes the secret path.
        format!("webhook:{}", receiver.url("/hooks/T0SECRETPATH/B1SECRETPATH")),
        "slack:#fraud-oncall".to_string(),
        "email:ml-oncall@example.com".to_string(),
    ];
    let deliverer = deliverer(&[
        (
            "MLSYS_SLACK_WEBHOOK_URL",
            format!("http://127.0.0.1:{closed}/services/SLACKSECRET"),
        ),
        (
            "MLSYS_SMTP_URL",
            format!("smtp://alerts:HUNTER2PASSWORD@127.0.0.1:{closed}"),
        ),
        ("MLSYS_ALERT_FROM", "alerts@example.com".to_string()),
    ]);
    observe(&mut store, "r", true, START, &channels);
    let report = store.deliver_due(&deliverer, START).await.expect("deliver");
    assert_eq!(report.failed(), 4, "{report:?}");
    assert_eq!(receiver.received().len(), 1, "the refusing receiver was reached");
    for attempt in &report.attempts {
        let error = attempt.outcome.as_ref().expect_err("failed").to_string();
        assert_no_secret(&error);
        assert_no_secret(&format!("{:?}", attempt.outcome));
        assert_no_secret(&attempt.channel);
    }
    let refused = report
        .attempts
        .iter()
        .filter_map(|attempt| attempt.outcome.as_ref().err())
        .map(ToString::to_string)
        .find(|error| error.contains("HTTP 403"))
        .expect("the 403 is reported");
    assert!(
        refused.ends_with("answered HTTP 403: refused request to <redacted>"),
        "{refused}"
    );

    // The outbox's error column and the history.
    let connection = rusqlite::Connection::open(&path).expect("open");
    let mut statement = connection.prepare("SELECT last_error FROM deliveries").expect("query");
    let errors: Vec<String> = statement
        .query_map([], |row| row.get(0))
        .and_then(Iterator::collect)
        .expect("errors");
    assert_eq!(errors.len(), 4);
    errors.iter().for_each(|error| assert_no_secret(error));
    for entry in store.history(None, 10).expect("history") {
        assert_no_secret(&format!("{entry:?}"));
    }
}
