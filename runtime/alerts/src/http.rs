//! One JSON POST of an alert (Slack, webhooks, PagerDuty) with its `Idempotency-Key` header; its
//! failures described without the URL or any other secret.

use crate::channel::{redact, url_secrets};
use crate::error::DeliveryError;

/// The longest excerpt of a refusing answer's body kept in the error.
const BODY_EXCERPT: usize = 200;

pub(crate) struct Post<'a> {
    client: &'a reqwest::Client,
    timeout: std::time::Duration,
    label: &'a str,
    url: &'a str,
    /// What errors name instead of the URL.
    endpoint: String,
    secrets: Vec<String>,
}

impl<'a> Post<'a> {
    pub(crate) fn new(
        client: &'a reqwest::Client,
        timeout: std::time::Duration,
        label: &'a str,
        url: &'a str,
        endpoint: String,
    ) -> Post<'a> {
        Post {
            client,
            timeout,
            label,
            url,
            endpoint,
            secrets: url_secrets(url),
        }
    }

    pub(crate) fn add_secret(&mut self, secret: &str) {
        self.secrets.push(secret.to_string());
    }

    pub(crate) async fn send(&self, idempotency_key: &str, body: &serde_json::Value) -> Result<(), DeliveryError> {
        let url = reqwest::Url::parse(self.url).map_err(|_| DeliveryError::InvalidChannel {
            channel: self.label.to_string(),
            reason: "its URL does not parse".to_string(),
        })?;
        let response = self
            .client
            .post(url)
            .header("Content-Type", "application/json")
            .header("Idempotency-Key", idempotency_key)
            .body(body.to_string())
            .send()
            .await
            .map_err(|error| self.failure(error))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let text = response.text().await.unwrap_or_default();
        let excerpt: String = text.chars().take(BODY_EXCERPT).collect();
        Err(DeliveryError::Rejected {
            channel: self.label.to_string(),
            endpoint: self.endpoint.clone(),
            status: status.as_u16(),
            body: self.redact(excerpt.trim()),
        })
    }

    fn failure(&self, error: reqwest::Error) -> DeliveryError {
        if error.is_timeout() {
            return DeliveryError::TimedOut {
                channel: self.label.to_string(),
                endpoint: self.endpoint.clone(),
                after: self.timeout,
            };
        }
        // reqwest prints the URL in its own message: describe the causes without it.
        let error = error.without_url();
        let mut cause = error.to_string();
        let mut source = std::error::Error::source(&error);
        while let Some(inner) = source {
            cause.push_str(": ");
            cause.push_str(&inner.to_string());
            source = inner.source();
        }
        DeliveryError::Http {
            channel: self.label.to_string(),
            endpoint: self.endpoint.clone(),
            cause: self.redact(&cause),
        }
    }

    fn redact(&self, text: &str) -> String {
        let secrets: Vec<&str> = self.secrets.iter().map(String::as_str).collect();
        redact(text, &secrets)
    }
}
