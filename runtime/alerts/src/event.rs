//! What the caller reports ([`Observation`]) and what it gets back ([`Observed`], [`AlertEvent`]).

use std::fmt;

use chrono::{DateTime, SecondsFormat};

/// One evaluation of one monitor rule for one period.
#[derive(Debug, Clone, Copy)]
pub struct Observation<'a> {
    /// The monitor's name.
    pub monitor: &'a str,
    /// A stable id of the rule within its monitor (the same on every evaluation).
    pub rule: &'a str,
    /// Whether the rule's condition holds for this period.
    pub holds: bool,
    /// The time the observation is about, in microseconds since the epoch: the evaluated period's
    /// end, not the wall clock (evaluation is replayable with `--at`).
    pub at: i64,
    /// One line saying what was observed (e.g. `psi 0.31 > 0.2 on amount`).
    pub summary: &'a str,
    /// Structured details, sent with the alert.
    pub details: &'a serde_json::Value,
    /// The monitor's channels, `"SCHEME:TARGET"` as the spec writes them.
    pub channels: &'a [String],
}

/// What an observation did.
#[derive(Debug, Clone, PartialEq)]
pub enum Observed {
    /// An alert event, recorded with one pending delivery per channel.
    Event(AlertEvent),
    /// Recorded; nothing to send (the condition still does not hold, or still holds and the repeat
    /// interval has not passed).
    Quiet,
    /// The rule was already observed at this time (a re-run of the same period): nothing changed.
    AlreadyObserved,
    /// Older than the rule's last observation: ignored, nothing changed.
    Stale { last_observed_at: i64 },
}

/// The kind of an alert event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// The condition started holding.
    Fired,
    /// It still holds, a repeat interval after the last fired or repeated event.
    Repeated,
    /// It stopped holding.
    Resolved,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Fired => "fired",
            EventKind::Repeated => "repeated",
            EventKind::Resolved => "resolved",
        }
    }

    pub(crate) fn parse(text: &str) -> Option<EventKind> {
        [EventKind::Fired, EventKind::Repeated, EventKind::Resolved]
            .into_iter()
            .find(|kind| kind.as_str() == text)
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// One alert event: a row of the event log.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertEvent {
    pub id: i64,
    pub monitor: String,
    pub rule: String,
    pub kind: EventKind,
    /// 0 for the fired event, then 1, 2, ... for each repeat and the resolution of the incident.
    pub sequence: u32,
    /// The observation time (µs) the incident fired at.
    pub incident_start: i64,
    /// The observation time (µs) of this event.
    pub observed_at: i64,
    pub summary: String,
    pub details: serde_json::Value,
    /// Names the incident (PagerDuty's `dedup_key`).
    pub incident_key: String,
    /// Names this event: the same on every retry, different for every other event.
    pub idempotency_key: String,
}

impl AlertEvent {
    /// The message's one line: the Slack text, the email subject, the PagerDuty summary.
    pub fn text(&self) -> String {
        let label = match self.kind {
            EventKind::Fired => "[FIRING]".to_string(),
            EventKind::Repeated => format!("[STILL FIRING since {}]", format_time(self.incident_start)),
            EventKind::Resolved => "[RESOLVED]".to_string(),
        };
        format!("{label} {} / {}: {}", self.monitor, self.rule, self.summary)
    }

    /// The event as the JSON object webhooks receive (and Slack and PagerDuty carry).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "idempotency_key": self.idempotency_key,
            "incident_key": self.incident_key,
            "event": self.kind.as_str(),
            "monitor": self.monitor,
            "rule": self.rule,
            "sequence": self.sequence,
            "incident_start": format_time(self.incident_start),
            "observed_at": format_time(self.observed_at),
            "incident_start_micros": self.incident_start,
            "observed_at_micros": self.observed_at,
            "summary": self.summary,
            "text": self.text(),
            "details": self.details,
        })
    }
}

/// The log line: `TIME KIND MONITOR/RULE: SUMMARY (key KEY)`.
impl fmt::Display for AlertEvent {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            formatter,
            "{} alert {} {}/{}: {} (key {})",
            format_time(self.observed_at),
            self.kind,
            self.monitor,
            self.rule,
            self.summary,
            self.idempotency_key
        )
    }
}

/// RFC 3339 in UTC, whole seconds unless the time has a fraction.
pub fn format_time(micros: i64) -> String {
    match DateTime::from_timestamp_micros(micros) {
        Some(time) => time.to_rfc3339_opts(SecondsFormat::AutoSi, true),
        None => format!("{micros} µs"),
    }
}
