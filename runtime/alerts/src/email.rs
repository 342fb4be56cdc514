//! One alert email through the SMTP relay of `MLSYS_SMTP_URL` (lettre on tokio, rustls), its
//! Message-ID made of the event's idempotency key.

use lettre::address::AddressError;
use lettre::message::Mailbox;
use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::channel::{
    ALERT_FROM_VARIABLE, SMTP_PASSWORD_VARIABLE, SMTP_URL_VARIABLE, SMTP_USERNAME_VARIABLE, redact, redact_url,
    url_secrets,
};
use crate::deliverer::Deliverer;
use crate::error::DeliveryError;
use crate::event::AlertEvent;

/// The Message-ID of an event's email: `<KEY@mlsys.alerts>`.
pub fn message_id(idempotency_key: &str) -> String {
    format!("<{idempotency_key}@mlsys.alerts>")
}

pub(crate) async fn send(
    deliverer: &Deliverer,
    label: &str,
    address: &str,
    event: &AlertEvent,
) -> Result<(), DeliveryError> {
    let relay = Relay::configured(deliverer, label)?;
    let to: Mailbox = address
        .parse()
        .map_err(|error: AddressError| DeliveryError::InvalidChannel {
            channel: label.to_string(),
            reason: format!("not an email address: {error}"),
        })?;
    let message = compose(event, relay.from.clone(), to).map_err(|error| DeliveryError::Message {
        channel: label.to_string(),
        cause: error.to_string(),
    })?;
    relay.transport.send(message).await.map(drop).map_err(|error| {
        let secrets: Vec<&str> = relay.secrets.iter().map(String::as_str).collect();
        DeliveryError::Smtp {
            channel: label.to_string(),
            relay: redact_url(&relay.url),
            cause: redact(&error.to_string(), &secrets),
        }
    })
}

/// The SMTP relay and sender from the environment.
struct Relay {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    url: String,
    /// The relay URL's secret parts and the password.
    secrets: Vec<String>,
}

impl Relay {
    fn configured(deliverer: &Deliverer, label: &str) -> Result<Relay, DeliveryError> {
        let not_configured = |variable: &str, purpose| DeliveryError::NotConfigured {
            channel: label.to_string(),
            variable: variable.to_string(),
            purpose,
        };
        let url = deliverer
            .variable(SMTP_URL_VARIABLE)
            .ok_or_else(|| not_configured(SMTP_URL_VARIABLE, "the SMTP relay, smtp://HOST:PORT"))?;
        let from = deliverer
            .variable(ALERT_FROM_VARIABLE)
            .ok_or_else(|| not_configured(ALERT_FROM_VARIABLE, "the alert emails' sender address"))?;
        let password = deliverer.variable(SMTP_PASSWORD_VARIABLE);
        let mut secrets = url_secrets(&url);
        secrets.extend(password.clone());
        let invalid = |variable: &str, reason: String| {
            let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
            DeliveryError::InvalidSetting {
                channel: label.to_string(),
                variable: variable.to_string(),
                reason: redact(&reason, &secrets),
            }
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::from_url(&url)
            .map_err(|error| invalid(SMTP_URL_VARIABLE, error.to_string()))?
            .timeout(Some(deliverer.policy().attempt_timeout));
        match (deliverer.variable(SMTP_USERNAME_VARIABLE), password) {
            (Some(username), Some(password)) => builder = builder.credentials(Credentials::new(username, password)),
            (Some(_), None) => return Err(not_configured(SMTP_PASSWORD_VARIABLE, "the SMTP password")),
            (None, Some(_)) => return Err(not_configured(SMTP_USERNAME_VARIABLE, "the SMTP user name")),
            (None, None) => {}
        }
        let from = from
            .parse()
            .map_err(|error: AddressError| invalid(ALERT_FROM_VARIABLE, error.to_string()))?;
        Ok(Relay {
            transport: builder.build(),
            from,
            url,
            secrets,
        })
    }
}

/// Subject: the event's line; body: the line, then the event as JSON; `Message-ID` and an
/// `Idempotency-Key` header from the event's key, so that a retried email is recognisably the same.
fn compose(event: &AlertEvent, from: Mailbox, to: Mailbox) -> Result<Message, lettre::error::Error> {
    let details = serde_json::to_string_pretty(&event.to_json()).unwrap_or_default();
    let mut message = Message::builder()
        .from(from)
        .to(to)
        .subject(event.text())
        .message_id(Some(message_id(&event.idempotency_key)))
        .header(ContentType::TEXT_PLAIN)
        .body(format!("{}\n\n{details}\n", event.text()))?;
    message.headers_mut().insert_raw(HeaderValue::new(
        HeaderName::new_from_ascii_str("Idempotency-Key"),
        event.idempotency_key.clone(),
    ));
    Ok(message)
}
