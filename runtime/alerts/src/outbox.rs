//! The outbox: one delivery row per event and channel, claimed, attempted and recorded by
//! [`AlertStore::deliver_due`]; and the history read back for reports.

use std::collections::HashMap;

use rusqlite::{Connection, Row, Transaction, TransactionBehavior};
use tokio::task::JoinSet;

use crate::channel::channel_label;
use crate::deliverer::{Deliverer, DeliveryPolicy};
use crate::error::{AlertError, DeliveryError};
use crate::event::{AlertEvent, EventKind};
use crate::store::AlertStore;

/// One delivery of one event to one channel, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRecord {
    pub id: i64,
    pub event_id: i64,
    /// The channel's label: a webhook URL reduced to its host, a routing key to its start.
    pub channel: String,
    pub attempts: u32,
    /// The `now` of the attempts (µs), as the caller of `deliver_due` passed it.
    pub first_attempt_at: Option<i64>,
    pub last_attempt_at: Option<i64>,
    /// When it is next attempted; `None` once delivered.
    pub next_attempt_at: Option<i64>,
    pub delivered_at: Option<i64>,
    /// The last failure, redacted (kept after a later success).
    pub last_error: Option<String>,
}

impl DeliveryRecord {
    pub fn is_delivered(&self) -> bool {
        self.delivered_at.is_some()
    }

    /// Pending and failing for longer than the policy's `overdue_after` since its first attempt.
    pub fn is_overdue(&self, now: i64, policy: &DeliveryPolicy) -> bool {
        let bound = i64::try_from(policy.overdue_after.as_micros()).unwrap_or(i64::MAX);
        !self.is_delivered()
            && self
                .first_attempt_at
                .is_some_and(|first| now.saturating_sub(first) > bound)
    }
}

/// An event with its deliveries.
#[derive(Debug, Clone, PartialEq)]
pub struct EventHistory {
    pub event: AlertEvent,
    pub deliveries: Vec<DeliveryRecord>,
}

/// One attempt made by a `deliver_due` call.
#[derive(Debug, Clone, PartialEq)]
pub struct Attempt {
    pub delivery_id: i64,
    pub event_id: i64,
    pub idempotency_key: String,
    /// The channel's label.
    pub channel: String,
    /// `Err`: recorded, retried at `next_attempt_at`.
    pub outcome: Result<(), DeliveryError>,
    pub next_attempt_at: Option<i64>,
}

/// What a `deliver_due` call did.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryReport {
    pub attempts: Vec<Attempt>,
    /// Deliveries failing for longer than the policy's `overdue_after` (still retried).
    pub overdue: Vec<DeliveryRecord>,
    /// Deliveries still pending after the call.
    pub pending: usize,
}

impl DeliveryReport {
    pub fn delivered(&self) -> usize {
        self.attempts.iter().filter(|attempt| attempt.outcome.is_ok()).count()
    }

    pub fn failed(&self) -> usize {
        self.attempts.len() - self.delivered()
    }
}

/// A claimed delivery: its row and its event.
struct Due {
    delivery_id: i64,
    channel: String,
    attempts: u32,
    event: AlertEvent,
}

impl AlertStore {
    /// Attempts every pending delivery whose next attempt time has come (`now`, µs since the
    /// epoch; the caller's clock, so tests drive time), at most the policy's `batch` at once, each
    /// bounded by its `attempt_timeout`. A success marks the delivery delivered; a failure records
    /// the redacted error and the attempt count and schedules the next attempt after
    /// [`DeliveryPolicy::retry_delay`]. Deliveries are claimed for twice the attempt timeout
    /// before they are attempted, so that another process delivering at the same time skips them
    /// (and a process killed mid-attempt leaves them due again after that).
    pub async fn deliver_due(&mut self, deliverer: &Deliverer, now: i64) -> Result<DeliveryReport, AlertError> {
        let policy = deliverer.policy().clone();
        let lease = i64::try_from(policy.attempt_timeout.as_micros().saturating_mul(2)).unwrap_or(i64::MAX);
        let claimed = self.write(|transaction| claim_due(transaction, now, now.saturating_add(lease), policy.batch))?;
        let outcomes = attempt_all(deliverer, claimed).await;
        let attempts = self.write(|transaction| {
            let mut attempts = Vec::with_capacity(outcomes.len());
            for (due, outcome) in outcomes {
                attempts.push(record(transaction, &policy, now, due, outcome)?);
            }
            Ok(attempts)
        })?;
        let database = |source| AlertError::database(&self.path, source);
        let pending = pending_deliveries(&self.connection).map_err(database)?;
        Ok(DeliveryReport {
            attempts,
            pending: pending.len(),
            overdue: pending
                .into_iter()
                .filter(|delivery| delivery.is_overdue(now, &policy))
                .collect(),
        })
    }

    /// The newest `limit` events (of one monitor, or of all), newest first, each with its
    /// deliveries.
    pub fn history(&self, monitor: Option<&str>, limit: usize) -> Result<Vec<EventHistory>, AlertError> {
        let database = |source| AlertError::database(&self.path, source);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let events = {
            let mut statement = self
                .connection
                .prepare(&format!(
                    "SELECT {EVENT_COLUMNS} FROM alert_events WHERE ?1 IS NULL OR monitor = ?1 ORDER BY id DESC LIMIT ?2"
                ))
                .map_err(database)?;
            let rows = statement.query_map((monitor, limit), |row| event_from_row(row, 0));
            rows.and_then(Iterator::collect::<rusqlite::Result<Vec<AlertEvent>>>)
                .map_err(database)?
        };
        events
            .into_iter()
            .map(|event| {
                let deliveries = deliveries_of(&self.connection, event.id).map_err(database)?;
                Ok(EventHistory { event, deliveries })
            })
            .collect()
    }

    /// Runs `work` in one immediate transaction and commits it.
    pub(crate) fn write<T>(
        &mut self,
        work: impl FnOnce(&Transaction<'_>) -> rusqlite::Result<T>,
    ) -> Result<T, AlertError> {
        let path = self.path.clone();
        let database = |source| AlertError::database(&path, source);
        let transaction = self
            .connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(database)?;
        let value = work(&transaction).map_err(database)?;
        transaction.commit().map_err(database)?;
        Ok(value)
    }
}

/// Writes one pending delivery per distinct channel of a new event (inside its transaction).
pub(crate) fn enqueue(transaction: &Transaction<'_>, event_id: i64, channels: &[String]) -> rusqlite::Result<()> {
    let mut statement = transaction.prepare(
        "INSERT INTO deliveries (event_id, channel, next_attempt_at) VALUES (?1, ?2, 0)
         ON CONFLICT (event_id, channel) DO NOTHING",
    )?;
    for channel in channels {
        statement.execute((event_id, channel.trim()))?;
    }
    Ok(())
}

const EVENT_COLUMNS: &str = "alert_events.id, monitor, rule, kind, sequence, incident_start, observed_at, summary, \
     details, incident_key, idempotency_key";

fn event_from_row(row: &Row<'_>, first: usize) -> rusqlite::Result<AlertEvent> {
    let conversion = |column: usize, error: Box<dyn std::error::Error + Send + Sync>| {
        rusqlite::Error::FromSqlConversionFailure(first + column, rusqlite::types::Type::Text, error)
    };
    let kind: String = row.get(first + 3)?;
    let details: String = row.get(first + 8)?;
    Ok(AlertEvent {
        id: row.get(first)?,
        monitor: row.get(first + 1)?,
        rule: row.get(first + 2)?,
        kind: EventKind::parse(&kind).ok_or_else(|| conversion(3, format!("unknown event kind `{kind}`").into()))?,
        sequence: row.get(first + 4)?,
        incident_start: row.get(first + 5)?,
        observed_at: row.get(first + 6)?,
        summary: row.get(first + 7)?,
        details: serde_json::from_str(&details).map_err(|error| conversion(8, Box::new(error)))?,
        incident_key: row.get(first + 9)?,
        idempotency_key: row.get(first + 10)?,
    })
}

/// The due deliveries, oldest first, with their events; each is leased until `lease_until`.
fn claim_due(transaction: &Transaction<'_>, now: i64, lease_until: i64, batch: usize) -> rusqlite::Result<Vec<Due>> {
    let claimed: Vec<Due> = {
        let mut statement = transaction.prepare(&format!(
            "SELECT deliveries.id, channel, attempts, {EVENT_COLUMNS}
             FROM deliveries JOIN alert_events ON alert_events.id = deliveries.event_id
             WHERE delivered_at IS NULL AND next_attempt_at <= ?1
             ORDER BY next_attempt_at, deliveries.id LIMIT ?2"
        ))?;
        let rows = statement.query_map((now, i64::try_from(batch).unwrap_or(i64::MAX)), |row| {
            Ok(Due {
                delivery_id: row.get(0)?,
                channel: row.get(1)?,
                attempts: row.get(2)?,
                event: event_from_row(row, 3)?,
            })
        })?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    let mut lease = transaction.prepare("UPDATE deliveries SET next_attempt_at = ?2 WHERE id = ?1")?;
    for due in &claimed {
        lease.execute((due.delivery_id, lease_until))?;
    }
    Ok(claimed)
}

/// Attempts every claimed delivery concurrently. A task that ended without an outcome (attempts
/// do not panic on input, but the runtime may be shutting down) is a failed attempt.
async fn attempt_all(deliverer: &Deliverer, claimed: Vec<Due>) -> Vec<(Due, Result<(), DeliveryError>)> {
    let mut tasks = JoinSet::new();
    let mut index_of_task = HashMap::new();
    for (index, due) in claimed.iter().enumerate() {
        let deliverer = deliverer.clone();
        let (channel, event) = (due.channel.clone(), due.event.clone());
        let task = tasks.spawn(async move { deliverer.attempt(&channel, &event).await });
        index_of_task.insert(task.id(), index);
    }
    let mut outcomes: Vec<Option<Result<(), DeliveryError>>> = vec![None; claimed.len()];
    while let Some(joined) = tasks.join_next_with_id().await {
        let (task, outcome) = match joined {
            Ok((task, outcome)) => (task, Ok(outcome)),
            Err(error) => (error.id(), Err(error.to_string())),
        };
        let Some(&index) = index_of_task.get(&task) else {
            continue;
        };
        if let (Some(slot), Some(due)) = (outcomes.get_mut(index), claimed.get(index)) {
            *slot = Some(outcome.unwrap_or_else(|cause| Err(aborted(&due.channel, cause))));
        }
    }
    claimed
        .into_iter()
        .zip(outcomes)
        .map(|(due, outcome)| {
            let outcome = outcome.unwrap_or_else(|| Err(aborted(&due.channel, "it ended without an outcome".into())));
            (due, outcome)
        })
        .collect()
}

fn aborted(channel: &str, cause: String) -> DeliveryError {
    DeliveryError::Aborted {
        channel: channel_label(channel),
        cause,
    }
}

/// Records one attempt: delivered, or failed with its error and the next attempt's time.
fn record(
    transaction: &Transaction<'_>,
    policy: &DeliveryPolicy,
    now: i64,
    due: Due,
    outcome: Result<(), DeliveryError>,
) -> rusqlite::Result<Attempt> {
    let next_attempt_at = match &outcome {
        Ok(()) => {
            transaction.execute(
                "UPDATE deliveries SET attempts = attempts + 1, first_attempt_at = COALESCE(first_attempt_at, ?2),
                     last_attempt_at = ?2, delivered_at = ?2 WHERE id = ?1",
                (due.delivery_id, now),
            )?;
            None
        }
        Err(error) => {
            let delay = policy.retry_delay(due.attempts.saturating_add(1));
            let next = now.saturating_add(i64::try_from(delay.as_micros()).unwrap_or(i64::MAX));
            transaction.execute(
                "UPDATE deliveries SET attempts = attempts + 1, first_attempt_at = COALESCE(first_attempt_at, ?2),
                     last_attempt_at = ?2, next_attempt_at = ?3, last_error = ?4
                 WHERE id = ?1 AND delivered_at IS NULL",
                (due.delivery_id, now, next, error.to_string()),
            )?;
            Some(next)
        }
    };
    Ok(Attempt {
        delivery_id: due.delivery_id,
        event_id: due.event.id,
        idempotency_key: due.event.idempotency_key,
        channel: channel_label(&due.channel),
        outcome,
        next_attempt_at,
    })
}

const DELIVERY_COLUMNS: &str =
    "id, event_id, channel, attempts, first_attempt_at, last_attempt_at, next_attempt_at, delivered_at, last_error";

fn delivery_from_row(row: &Row<'_>) -> rusqlite::Result<DeliveryRecord> {
    let delivered_at: Option<i64> = row.get(7)?;
    let channel: String = row.get(2)?;
    Ok(DeliveryRecord {
        id: row.get(0)?,
        event_id: row.get(1)?,
        channel: channel_label(&channel),
        attempts: row.get(3)?,
        first_attempt_at: row.get(4)?,
        last_attempt_at: row.get(5)?,
        next_attempt_at: if delivered_at.is_some() { None } else { row.get(6)? },
        delivered_at,
        last_error: row.get(8)?,
    })
}

fn deliveries_of(connection: &Connection, event_id: i64) -> rusqlite::Result<Vec<DeliveryRecord>> {
    let mut statement = connection.prepare(&format!(
        "SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE event_id = ?1 ORDER BY id"
    ))?;
    let rows = statement.query_map([event_id], delivery_from_row)?;
    rows.collect()
}

fn pending_deliveries(connection: &Connection) -> rusqlite::Result<Vec<DeliveryRecord>> {
    let mut statement = connection.prepare(&format!(
        "SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE delivered_at IS NULL ORDER BY next_attempt_at, id"
    ))?;
    let rows = statement.query_map([], delivery_from_row)?;
    rows.collect()
}
