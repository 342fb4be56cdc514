//! Idempotency keys: deterministic digests that name an incident and each of its events, so that
//! every retry of an event carries the same key and no two events share one.

use sha2::{Digest, Sha256};

use crate::event::EventKind;

/// Names an incident: one stretch of a rule's condition holding, from the observation that fired
/// it. PagerDuty's `dedup_key` (its trigger and resolve must name the same incident).
pub(crate) fn incident_key(monitor: &str, rule: &str, incident_start: i64) -> String {
    let mut digest = Sha256::new();
    digest.update(b"mlsys-alert-incident\0");
    for field in [monitor.as_bytes(), rule.as_bytes(), &incident_start.to_be_bytes()] {
        // Length-prefixed, so that no two field lists hash alike.
        digest.update((field.len() as u64).to_be_bytes());
        digest.update(field);
    }
    hex(&digest.finalize())
}

/// Names one event of an incident: its kind and sequence number (0 fired, then 1, 2, ... for each
/// repeat and the resolution). The `Idempotency-Key` of webhooks and Slack, the email Message-ID.
pub(crate) fn event_key(incident_key: &str, kind: EventKind, sequence: u32) -> String {
    let mut digest = Sha256::new();
    digest.update(b"mlsys-alert-event\0");
    digest.update(incident_key.as_bytes());
    digest.update([0]);
    digest.update(kind.as_str().as_bytes());
    digest.update([0]);
    digest.update(sequence.to_be_bytes());
    hex(&digest.finalize())
}

/// The first 128 bits in hex: ample for uniqueness, short enough for headers.
fn hex(digest: &[u8]) -> String {
    digest.iter().take(16).map(|byte| format!("{byte:02x}")).collect()
}
