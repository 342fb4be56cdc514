//! Monitor alerts (`lang-spec/grammar.md` §7.7): what happens once a monitor rule's condition has
//! been evaluated for a period — the alert state of each rule, a persistent outbox of deliveries,
//! and at-least-once delivery to Slack, webhooks, email and PagerDuty.
//!
//! The caller (the monitor evaluation) reports one [`Observation`] per rule and evaluated period
//! with [`AlertStore::observe`]; it gets back the [`AlertEvent`] to print, if any. Delivery is a
//! separate step, [`AlertStore::deliver_due`], run after observing and again later to retry.
//!
//! ```
//! use mlsys_alerts::{AlertStore, Deliverer, DeliveryPolicy, Observation, Observed};
//! # let directory = std::env::temp_dir().join(format!("mlsys-alerts-doctest-{}", std::process::id()));
//! # let _ = std::fs::remove_dir_all(&directory);
//! let mut store = AlertStore::open(&directory.join("alerts.db"))?;
//! let channels = vec!["slack:#fraud-oncall".to_string()];
//! let details = serde_json::json!({"psi": 0.31, "threshold": 0.2});
//! let day = 86_400_000_000_i64; // one day in µs
//! let observation = Observation {
//!     monitor: "fraud_health",
//!     rule: "drift-psi-features",
//!     holds: true,
//!     at: 20_000 * day, // the evaluated period's end
//!     summary: "psi 0.31 > 0.2 on amount",
//!     details: &details,
//!     channels: &channels,
//! };
//! let Observed::Event(event) = store.observe(&observation)? else { unreachable!() };
//! println!("{event}"); // the log line
//! // A re-run of the same period sends nothing new.
//! assert_eq!(store.observe(&observation)?, Observed::AlreadyObserved);
//!
//! // Nothing configured for Slack here: the delivery fails, is recorded and stays pending.
//! let deliverer = Deliverer::with_lookup(DeliveryPolicy::default(), |_| None)?;
//! # let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
//! let report = runtime.block_on(store.deliver_due(&deliverer, 1_800_000_000_000_000))?;
//! assert_eq!((report.failed(), report.pending), (1, 1));
//! assert!(store.history(None, 10)?[0].deliveries[0].last_error.as_deref().unwrap().contains("MLSYS_SLACK_WEBHOOK_URL"));
//! # std::fs::remove_dir_all(&directory)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Alert delivery
//!
//! **Events.** Each monitor rule has an alert state, kept in the outbox file (the caller passes its
//! path, e.g. `.mlsys/monitors/alerts.db`). An observation says whether the rule's condition holds
//! for a period, at that period's end (observation time, not the wall clock, so that evaluation
//! replays with `--at`). An alert **fires** when the condition starts holding; while it keeps
//! holding it **repeats** once the repeat interval (default 24 h of observation time) has passed
//! since it fired or last repeated, and is otherwise quiet; when it stops holding, one **resolved**
//! event is sent. The same observation reported again (a re-run of the same period) changes and
//! sends nothing; an observation older than the rule's last one is ignored. Every event is recorded
//! in the outbox's event log and returned to the caller to print.
//!
//! **Outbox.** An event and one delivery per channel are written in the same SQLite transaction as
//! the rule's new state, so a crash can neither lose an alert nor record it twice.
//! `deliver_due(now)` attempts every pending delivery whose time has come, each bounded by an
//! attempt timeout (10 s, connecting within 5 s). A failure is recorded (the error with secrets
//! redacted, the attempt count) and retried with exponential backoff: 1 s after the first failure,
//! doubling, at most 1 h apart. A delivery is never given up: one failing for more than an hour
//! since its first attempt is reported as overdue and still retried. A channel without
//! configuration is such a failure, with a message naming the variable to set.
//!
//! **At least once.** A delivery is marked delivered only after the channel accepted it (HTTP 2xx,
//! SMTP accepted), so a crash or timeout after the channel received it sends it again. Every retry
//! of an event carries the same **idempotency key** (a digest of the monitor, the rule, the
//! incident's start, the event's kind and its sequence number: 0 fired, then 1, 2, ... for each
//! repeat and the resolution), and no two events share one, so receivers can drop duplicates: the
//! `Idempotency-Key` HTTP header and an `idempotency_key` JSON field (webhook, Slack), the email's
//! `Message-ID` (`<KEY@mlsys.alerts>`) and an `Idempotency-Key` header. PagerDuty gets the
//! incident's key as `dedup_key` (the same for the incident's trigger, repeats and resolve, which
//! PagerDuty needs to fold them into one incident and close it): `trigger` for fired and repeated
//! events, `resolve` for the resolution.
//!
//! **Channels** are configured from the environment, never from the spec:
//!
//! | channel | configuration |
//! |---|---|
//! | `slack:#name` | the incoming-webhook URL in `MLSYS_SLACK_WEBHOOK_URL_<NAME>` (the name upper-cased, every character other than a letter or digit `_`: `#fraud-oncall` → `MLSYS_SLACK_WEBHOOK_URL_FRAUD_ONCALL`), else `MLSYS_SLACK_WEBHOOK_URL`; body `{"text": ..., "idempotency_key": ..., "mlsys_alert": {event}}` |
//! | `webhook:URL` | none: a JSON POST of the event (`idempotency_key`, `incident_key`, `event` = fired / repeated / resolved, `monitor`, `rule`, `sequence`, `incident_start`, `observed_at`, `summary`, `text`, `details`) to the URL |
//! | `email:ADDRESS` | the relay `MLSYS_SMTP_URL` (`smtp://HOST:PORT`; `?tls=required` for STARTTLS, `smtps://` for TLS), optional `MLSYS_SMTP_USERNAME` and `MLSYS_SMTP_PASSWORD`, the sender `MLSYS_ALERT_FROM` |
//! | `pagerduty:ROUTING_KEY` | none: Events API v2 at `https://events.pagerduty.com/v2/enqueue`, or `MLSYS_PAGERDUTY_URL` |
//!
//! HTTP answers other than 2xx (redirects included) are failures. Webhook URLs (their paths and
//! queries), routing keys and SMTP passwords never appear in errors, logs or the outbox's error
//! column; channels are printed with a webhook URL reduced to its host.
//!
//! Code map:
//! - `store.rs` — [`AlertStore`]: opening, [`AlertStore::observe`] and the rule state machine.
//! - `outbox.rs` — delivery rows: claimed, attempted concurrently and recorded by
//!   [`AlertStore::deliver_due`]; [`AlertStore::history`].
//! - `deliverer.rs` — [`Deliverer`] (channel configuration, one attempt), [`DeliveryPolicy`].
//! - `http.rs` — one JSON POST with its `Idempotency-Key`; `email.rs` — one email over SMTP.
//! - `channel.rs` — channel texts, printable labels, redaction.
//! - `keys.rs` — incident and event keys. `event.rs` — [`Observation`], [`Observed`],
//!   [`AlertEvent`]. `schema.rs` — the outbox file. `error.rs` — [`AlertError`], [`DeliveryError`].
//!
//! Architecture invariants:
//! - an event and its deliveries are written in the transaction that changes the rule's state;
//! - a delivery is pending until a channel accepted it; nothing removes a pending delivery;
//! - an event's idempotency key depends only on its monitor, rule, incident start, kind and
//!   sequence number;
//! - only a missing file starts a new outbox; an existing file that is not one is refused.

mod channel;
mod deliverer;
mod email;
mod error;
mod event;
mod http;
mod keys;
mod outbox;
mod schema;
mod store;

pub use channel::{channel_label, slack_channel_variable};
pub use deliverer::{Deliverer, DeliveryPolicy};
pub use email::message_id;
pub use error::{AlertError, DeliveryError, NotAnOutbox};
pub use event::{AlertEvent, EventKind, Observation, Observed, format_time};
pub use outbox::{Attempt, DeliveryRecord, DeliveryReport, EventHistory};
pub use store::{AlertStore, DEFAULT_REPEAT_INTERVAL};
