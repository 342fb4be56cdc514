//! [`Deliverer`]: the channel configuration (from the environment) and one delivery attempt of one
//! event to one channel.

use std::sync::Arc;
use std::time::Duration;

use crate::channel::{
    CHANNEL_FORM, Channel, PAGERDUTY_URL, PAGERDUTY_URL_VARIABLE, SLACK_WEBHOOK_VARIABLE, channel_label,
    slack_channel_variable,
};
use crate::error::{AlertError, DeliveryError};
use crate::event::{AlertEvent, EventKind};
use crate::http::Post;

/// Time bounds of delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryPolicy {
    /// The bound of one attempt: connecting, sending and the answer (default 10 s).
    pub attempt_timeout: Duration,
    /// The bound of connecting, within the attempt's (default 5 s).
    pub connect_timeout: Duration,
    /// The wait after the first failed attempt; it doubles after each failure (default 1 s)...
    pub first_retry: Duration,
    /// ...up to this (default 1 h).
    pub max_retry: Duration,
    /// A delivery still failing this long after its first attempt is reported as overdue; it is
    /// still retried (default 1 h).
    pub overdue_after: Duration,
    /// The most deliveries one [`deliver_due`](crate::AlertStore::deliver_due) call attempts, at
    /// once (default 64); the rest wait for the next call.
    pub batch: usize,
}

impl Default for DeliveryPolicy {
    fn default() -> DeliveryPolicy {
        DeliveryPolicy {
            attempt_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
            first_retry: Duration::from_secs(1),
            max_retry: Duration::from_secs(3600),
            overdue_after: Duration::from_secs(3600),
            batch: 64,
        }
    }
}

impl DeliveryPolicy {
    /// The wait before the next attempt after `failures` failed attempts (1 or more):
    /// `first_retry · 2^(failures − 1)`, at most `max_retry`.
    pub fn retry_delay(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1).min(31);
        self.first_retry
            .checked_mul(1u32 << doublings)
            .map_or(self.max_retry, |delay| delay.min(self.max_retry))
    }
}

type Lookup = dyn Fn(&str) -> Option<String> + Send + Sync;

/// Sends alert events to their channels, configured from environment variables (never from the
/// spec: webhook URLs and passwords are secrets). Cheap to clone.
#[derive(Clone)]
pub struct Deliverer {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    lookup: Box<Lookup>,
    policy: DeliveryPolicy,
}

impl Deliverer {
    /// Channels configured from the process environment.
    pub fn from_env(policy: DeliveryPolicy) -> Result<Deliverer, AlertError> {
        Deliverer::with_lookup(policy, |name| std::env::var(name).ok())
    }

    /// Channels configured by `lookup(VARIABLE)` instead of the environment (tests, embedding).
    pub fn with_lookup(
        policy: DeliveryPolicy,
        lookup: impl Fn(&str) -> Option<String> + Send + Sync + 'static,
    ) -> Result<Deliverer, AlertError> {
        let http = reqwest::Client::builder()
            .connect_timeout(policy.connect_timeout)
            .timeout(policy.attempt_timeout)
            // A redirected POST would become a GET: an answer other than 2xx is a failure.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|source| AlertError::HttpClient { source })?;
        Ok(Deliverer {
            inner: Arc::new(Inner {
                http,
                lookup: Box::new(lookup),
                policy,
            }),
        })
    }

    pub fn policy(&self) -> &DeliveryPolicy {
        &self.inner.policy
    }

    pub(crate) fn variable(&self, name: &str) -> Option<String> {
        (self.inner.lookup)(name).filter(|value| !value.trim().is_empty())
    }

    /// One attempt to deliver `event` to `channel`, bounded by the policy's attempt timeout.
    pub(crate) async fn attempt(&self, channel: &str, event: &AlertEvent) -> Result<(), DeliveryError> {
        let label = channel_label(channel);
        let bound = self.inner.policy.attempt_timeout;
        match tokio::time::timeout(bound, self.attempt_unbounded(channel, &label, event)).await {
            Ok(outcome) => outcome,
            Err(_) => Err(DeliveryError::TimedOut {
                channel: label,
                endpoint: "the channel".to_string(),
                after: bound,
            }),
        }
    }

    async fn attempt_unbounded(&self, channel: &str, label: &str, event: &AlertEvent) -> Result<(), DeliveryError> {
        let Some(parsed) = Channel::parse(channel) else {
            return Err(DeliveryError::InvalidChannel {
                channel: label.to_string(),
                reason: CHANNEL_FORM.to_string(),
            });
        };
        match parsed {
            Channel::Slack { name } => self.slack(name, label, event).await,
            Channel::Webhook { url } => {
                let post = self.post(label, url, "the webhook".to_string());
                post.send(&event.idempotency_key, &event.to_json()).await
            }
            Channel::Email { address } => crate::email::send(self, label, address, event).await,
            Channel::PagerDuty { routing_key } => self.pagerduty(routing_key, label, event).await,
        }
    }

    /// `MLSYS_SLACK_WEBHOOK_URL_<CHANNEL>`, else `MLSYS_SLACK_WEBHOOK_URL`.
    async fn slack(&self, name: &str, label: &str, event: &AlertEvent) -> Result<(), DeliveryError> {
        let own = slack_channel_variable(name);
        let (variable, url) = match self.variable(&own) {
            Some(url) => (own, url),
            None => match self.variable(SLACK_WEBHOOK_VARIABLE) {
                Some(url) => (SLACK_WEBHOOK_VARIABLE.to_string(), url),
                None => {
                    return Err(DeliveryError::NotConfigured {
                        channel: label.to_string(),
                        variable: format!("{own} or {SLACK_WEBHOOK_VARIABLE}"),
                        purpose: "a Slack incoming-webhook URL",
                    });
                }
            },
        };
        let body = serde_json::json!({
            "text": event.text(),
            "idempotency_key": event.idempotency_key,
            "mlsys_alert": event.to_json(),
        });
        let post = self.post(label, &url, format!("the webhook in {variable}"));
        post.send(&event.idempotency_key, &body).await
    }

    /// PagerDuty Events API v2: `trigger` for fired and repeated events, `resolve` for the
    /// resolution, all of one incident under one `dedup_key` (the incident key), so that PagerDuty
    /// folds repeats and retries into the incident and the resolution closes it.
    async fn pagerduty(&self, routing_key: &str, label: &str, event: &AlertEvent) -> Result<(), DeliveryError> {
        let url = self
            .variable(PAGERDUTY_URL_VARIABLE)
            .unwrap_or_else(|| PAGERDUTY_URL.to_string());
        let action = match event.kind {
            EventKind::Fired | EventKind::Repeated => "trigger",
            EventKind::Resolved => "resolve",
        };
        let summary: String = event.text().chars().take(1024).collect();
        let body = serde_json::json!({
            "routing_key": routing_key,
            "event_action": action,
            "dedup_key": event.incident_key,
            "payload": {
                "summary": summary,
                "source": format!("mlsys monitor {}", event.monitor),
                "severity": "error",
                "timestamp": crate::event::format_time(event.observed_at),
                "component": event.monitor,
                "group": event.rule,
                "custom_details": event.to_json(),
            },
        });
        let mut post = self.post(label, &url, crate::channel::redact_url(&url));
        post.add_secret(routing_key);
        post.send(&event.idempotency_key, &body).await
    }

    fn post<'a>(&'a self, label: &'a str, url: &'a str, endpoint: String) -> Post<'a> {
        Post::new(
            &self.inner.http,
            self.inner.policy.attempt_timeout,
            label,
            url,
            endpoint,
        )
    }
}
