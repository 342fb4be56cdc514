//! [`AlertStore`]: the outbox file, and observations turned into alert events (the state machine of
//! a rule) with their deliveries, in one transaction.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, Transaction};

use crate::error::AlertError;
use crate::event::{AlertEvent, EventKind, Observation, Observed};
use crate::keys::{event_key, incident_key};

/// The default repeat interval: a day of observation time.
pub const DEFAULT_REPEAT_INTERVAL: Duration = Duration::from_secs(24 * 3600);

/// The alert state of every rule, the event log and the outbox of deliveries, in one SQLite file.
pub struct AlertStore {
    pub(crate) connection: Connection,
    pub(crate) path: PathBuf,
    repeat_interval: i64,
}

impl AlertStore {
    /// Opens the outbox at `path` (e.g. `.mlsys/monitors/alerts.db`). Only a missing file starts a
    /// new outbox; an existing file that is not one (empty, another program's SQLite database,
    /// damaged) is refused with [`AlertError::NotAnOutbox`] naming it.
    pub fn open(path: &Path) -> Result<AlertStore, AlertError> {
        Ok(AlertStore {
            connection: crate::schema::open_database(path)?,
            path: path.to_path_buf(),
            repeat_interval: micros(DEFAULT_REPEAT_INTERVAL),
        })
    }

    /// Sets how long (in observation time) a holding condition stays quiet after it fired or last
    /// repeated (default [`DEFAULT_REPEAT_INTERVAL`]).
    pub fn with_repeat_interval(mut self, interval: Duration) -> AlertStore {
        self.repeat_interval = micros(interval);
        self
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Records one observation of a rule. The rule's state, the event (if any) and its deliveries
    /// (one per distinct channel, pending) are written in one transaction.
    pub fn observe(&mut self, observation: &Observation<'_>) -> Result<Observed, AlertError> {
        let invalid = |reason| AlertError::InvalidObservation {
            monitor: observation.monitor.to_string(),
            rule: observation.rule.to_string(),
            reason,
        };
        if observation.monitor.trim().is_empty() {
            return Err(invalid("the monitor name is empty"));
        }
        if observation.rule.trim().is_empty() {
            return Err(invalid("the rule id is empty"));
        }
        let repeat_interval = self.repeat_interval;
        self.write(|transaction| observe_in(transaction, observation, repeat_interval))
    }
}

fn micros(duration: Duration) -> i64 {
    i64::try_from(duration.as_micros()).unwrap_or(i64::MAX)
}

/// A rule's row of `alert_state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct RuleState {
    /// While holding: the observation time it fired at, and the sequence number and time of its
    /// last fired or repeated event.
    incident: Option<Incident>,
    last_observed_at: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Incident {
    start: i64,
    sequence: u32,
    last_sent_at: i64,
}

/// The state machine: the next state, and the event to send (kind, incident, sequence).
fn next_state(
    previous: Option<Incident>,
    holds: bool,
    at: i64,
    repeat_interval: i64,
) -> (Option<Incident>, Option<(EventKind, Incident)>) {
    match (previous, holds) {
        (None, false) => (None, None),
        (None, true) => {
            let incident = Incident {
                start: at,
                sequence: 0,
                last_sent_at: at,
            };
            (Some(incident), Some((EventKind::Fired, incident)))
        }
        (Some(incident), true) if at.saturating_sub(incident.last_sent_at) >= repeat_interval => {
            let repeated = Incident {
                sequence: incident.sequence + 1,
                last_sent_at: at,
                ..incident
            };
            (Some(repeated), Some((EventKind::Repeated, repeated)))
        }
        (Some(incident), true) => (Some(incident), None),
        (Some(incident), false) => {
            let resolved = Incident {
                sequence: incident.sequence + 1,
                ..incident
            };
            (None, Some((EventKind::Resolved, resolved)))
        }
    }
}

fn observe_in(
    transaction: &Transaction<'_>,
    observation: &Observation<'_>,
    repeat_interval: i64,
) -> rusqlite::Result<Observed> {
    let state = load_state(transaction, observation.monitor, observation.rule)?;
    if let Some(state) = state {
        if observation.at < state.last_observed_at {
            return Ok(Observed::Stale {
                last_observed_at: state.last_observed_at,
            });
        }
        if observation.at == state.last_observed_at {
            return Ok(Observed::AlreadyObserved);
        }
    }
    let previous = state.and_then(|state| state.incident);
    let (incident, event) = next_state(previous, observation.holds, observation.at, repeat_interval);
    save_state(transaction, observation, incident)?;
    let Some((kind, incident)) = event else {
        return Ok(Observed::Quiet);
    };
    let event = insert_event(transaction, observation, kind, incident)?;
    crate::outbox::enqueue(transaction, event.id, observation.channels)?;
    Ok(Observed::Event(event))
}

fn load_state(connection: &Connection, monitor: &str, rule: &str) -> rusqlite::Result<Option<RuleState>> {
    connection
        .query_row(
            "SELECT holding, incident_start, sequence, last_sent_at, last_observed_at
             FROM alert_state WHERE monitor = ?1 AND rule = ?2",
            (monitor, rule),
            |row| {
                let holding: bool = row.get(0)?;
                let last_observed_at: i64 = row.get(4)?;
                let incident = holding.then(|| -> rusqlite::Result<Incident> {
                    Ok(Incident {
                        start: row.get::<_, Option<i64>>(1)?.unwrap_or(last_observed_at),
                        sequence: row.get(2)?,
                        last_sent_at: row.get::<_, Option<i64>>(3)?.unwrap_or(last_observed_at),
                    })
                });
                Ok(RuleState {
                    incident: incident.transpose()?,
                    last_observed_at,
                })
            },
        )
        .optional()
}

fn save_state(
    connection: &Connection,
    observation: &Observation<'_>,
    incident: Option<Incident>,
) -> rusqlite::Result<()> {
    connection.execute(
        "INSERT INTO alert_state (monitor, rule, holding, incident_start, sequence, last_sent_at, last_observed_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (monitor, rule) DO UPDATE SET holding = excluded.holding,
             incident_start = excluded.incident_start, sequence = excluded.sequence,
             last_sent_at = excluded.last_sent_at, last_observed_at = excluded.last_observed_at",
        (
            observation.monitor,
            observation.rule,
            incident.is_some(),
            incident.map(|incident| incident.start),
            incident.map_or(0, |incident| incident.sequence),
            incident.map(|incident| incident.last_sent_at),
            observation.at,
        ),
    )?;
    Ok(())
}

fn insert_event(
    connection: &Connection,
    observation: &Observation<'_>,
    kind: EventKind,
    incident: Incident,
) -> rusqlite::Result<AlertEvent> {
    let incident_key = incident_key(observation.monitor, observation.rule, incident.start);
    let idempotency_key = event_key(&incident_key, kind, incident.sequence);
    connection.execute(
        "INSERT INTO alert_events (monitor, rule, kind, sequence, incident_start, observed_at, summary, details,
             incident_key, idempotency_key)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        (
            observation.monitor,
            observation.rule,
            kind.as_str(),
            incident.sequence,
            incident.start,
            observation.at,
            observation.summary,
            observation.details.to_string(),
            &incident_key,
            &idempotency_key,
        ),
    )?;
    Ok(AlertEvent {
        id: connection.last_insert_rowid(),
        monitor: observation.monitor.to_string(),
        rule: observation.rule.to_string(),
        kind,
        sequence: incident.sequence,
        incident_start: incident.start,
        observed_at: observation.at,
        summary: observation.summary.to_string(),
        details: observation.details.clone(),
        incident_key,
        idempotency_key,
    })
}
