//! Alert channels as the spec writes them (`"SCHEME:TARGET"`), their printable labels (secrets
//! hidden) and the redaction every recorded error text goes through.

/// A channel of a monitor, borrowed from its spec text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Channel<'a> {
    /// `slack:#name`: the Slack incoming webhook configured for it.
    Slack { name: &'a str },
    /// `webhook:URL`: a JSON POST to the URL.
    Webhook { url: &'a str },
    /// `email:ADDRESS`: a mail through the configured SMTP relay.
    Email { address: &'a str },
    /// `pagerduty:ROUTING_KEY`: an Events API v2 event.
    PagerDuty { routing_key: &'a str },
}

/// Why a channel text is not a channel.
pub(crate) const CHANNEL_FORM: &str =
    "a channel is \"SCHEME:TARGET\" with SCHEME one of slack, webhook, email, pagerduty";

impl<'a> Channel<'a> {
    pub(crate) fn parse(text: &'a str) -> Option<Channel<'a>> {
        let (scheme, target) = text.split_once(':')?;
        let target = target.trim();
        if target.is_empty() {
            return None;
        }
        match scheme.trim() {
            "slack" => Some(Channel::Slack { name: target }),
            "webhook" => Some(Channel::Webhook { url: target }),
            "email" => Some(Channel::Email { address: target }),
            "pagerduty" => Some(Channel::PagerDuty { routing_key: target }),
            _ => None,
        }
    }
}

/// The channel as printed in logs, errors and history: a webhook's URL reduced to its scheme and
/// host, a PagerDuty routing key to its first four characters.
pub fn channel_label(text: &str) -> String {
    match Channel::parse(text) {
        Some(Channel::Slack { name }) => format!("slack:{name}"),
        Some(Channel::Email { address }) => format!("email:{address}"),
        Some(Channel::Webhook { url }) => format!("webhook:{}", redact_url(url)),
        Some(Channel::PagerDuty { routing_key }) => {
            let shown: String = routing_key.chars().take(4).collect();
            format!("pagerduty:{shown}…")
        }
        None => {
            let shown: String = text.chars().take(12).collect();
            format!("{shown}… (invalid)")
        }
    }
}

/// A URL reduced to what may be printed: scheme, host and port (paths, queries and user info of
/// webhook URLs are secrets).
pub(crate) fn redact_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(parsed) => {
            let host = parsed.host_str().unwrap_or("");
            let port = parsed.port().map(|port| format!(":{port}")).unwrap_or_default();
            let rest = if parsed.path().len() > 1 || parsed.query().is_some() {
                "/…"
            } else {
                ""
            };
            format!("{}://{host}{port}{rest}", parsed.scheme())
        }
        Err(_) => "<a URL that does not parse>".to_string(),
    }
}

/// Replaces every occurrence of each secret in `text`. Secrets shorter than 3 characters (a bare
/// `/`) are too common to stand for anything and are left alone.
pub(crate) fn redact(text: &str, secrets: &[&str]) -> String {
    let mut redacted = text.to_string();
    for secret in secrets.iter().filter(|secret| secret.len() >= 3) {
        redacted = redacted.replace(secret, "<redacted>");
    }
    redacted
}

/// The secret parts of a URL: itself, its path and query, and its password.
pub(crate) fn url_secrets(url: &str) -> Vec<String> {
    let mut secrets = vec![url.to_string()];
    if let Ok(parsed) = reqwest::Url::parse(url) {
        secrets.push(parsed.path().to_string());
        secrets.extend(parsed.query().map(str::to_string));
        secrets.extend(parsed.password().map(str::to_string));
        secrets.push(parsed.as_str().to_string());
    }
    secrets
}

/// The variable that overrides the Slack webhook for one channel: `#fraud-oncall` →
/// `MLSYS_SLACK_WEBHOOK_URL_FRAUD_ONCALL` (letters upper-cased, every other character `_`).
pub fn slack_channel_variable(name: &str) -> String {
    let suffix: String = name
        .trim_start_matches('#')
        .chars()
        .map(|character| {
            if character.is_ascii_alphanumeric() {
                character.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("{SLACK_WEBHOOK_VARIABLE}_{suffix}")
}

pub(crate) const SLACK_WEBHOOK_VARIABLE: &str = "MLSYS_SLACK_WEBHOOK_URL";
pub(crate) const SMTP_URL_VARIABLE: &str = "MLSYS_SMTP_URL";
pub(crate) const SMTP_USERNAME_VARIABLE: &str = "MLSYS_SMTP_USERNAME";
pub(crate) const SMTP_PASSWORD_VARIABLE: &str = "MLSYS_SMTP_PASSWORD";
pub(crate) const ALERT_FROM_VARIABLE: &str = "MLSYS_ALERT_FROM";
pub(crate) const PAGERDUTY_URL_VARIABLE: &str = "MLSYS_PAGERDUTY_URL";
pub(crate) const PAGERDUTY_URL: &str = "https://events.pagerduty.com/v2/enqueue";
