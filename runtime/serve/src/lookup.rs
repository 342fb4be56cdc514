//! Windowed values from the online store: one batched read per table for all rows of a request,
//! each entity's timeline decoded once, and the values in force at each row's time.

use std::time::Instant;

use mlsys_kernels::Value;
use mlsys_online::{EntityKey, Lookup, OnlineStore, Timeline};

use crate::error::ServeError;
use crate::feature_set::TableLookup;
use crate::metrics::Metrics;

/// A row's windowed values of one table.
#[derive(Clone, Copy, Debug)]
pub enum InForce<'a> {
    /// The change point in force, and when it took effect.
    Values { values: &'a [Value], valid_from: i64 },
    /// The entity is stored but had no change point yet at that time: the empty window.
    Empty,
    /// The entity is not in the store: the empty window too, reported as `NOT_FOUND`.
    NotFound,
    /// The time is before what the store holds for the entity: the value is unknown.
    TooOld,
}

/// Reads the timelines of every row's entity in one store call (`keys` decoded from the fields
/// in `columns`, each a column of the request).
pub async fn read_timelines(
    store: &dyn OnlineStore,
    lookup: &TableLookup,
    columns: &[Vec<Value>],
    rows: usize,
    metrics: &Metrics,
) -> Result<Vec<Option<Timeline>>, ServeError> {
    let keys: Vec<EntityKey> = (0..rows)
        .map(|row| {
            EntityKey::new(
                lookup
                    .key_fields
                    .iter()
                    .map(|field| columns[*field][row].clone())
                    .collect(),
            )
        })
        .collect();
    let started = Instant::now();
    let records = store.read(&lookup.table, &keys).await;
    metrics.observe_store_read(started.elapsed().as_secs_f64());
    let records = records?;
    if records.len() != rows {
        return Err(ServeError::Internal(format!(
            "the online store answered {} records for {rows} keys of {}",
            records.len(),
            lookup.table
        )));
    }
    records
        .into_iter()
        .map(|record| {
            let Some(record) = record else { return Ok(None) };
            let timeline = Timeline::from_record(&record).map_err(|error| corrupt(lookup, &error.to_string()))?;
            if timeline.width != lookup.aggregate_names.len() {
                return Err(corrupt(
                    lookup,
                    &format!(
                        "a timeline of {} values per point, the table's metadata lists {}",
                        timeline.width,
                        lookup.aggregate_names.len()
                    ),
                ));
            }
            Ok(Some(timeline))
        })
        .collect()
}

fn corrupt(lookup: &TableLookup, detail: &str) -> ServeError {
    ServeError::Internal(format!(
        "feature table {} holds a record this server cannot read ({detail}): rebuild it with `mlsysc build`",
        lookup.table
    ))
}

/// The values of `timeline` in force at `t`.
pub fn in_force(timeline: Option<&Timeline>, t: i64) -> InForce<'_> {
    let Some(timeline) = timeline else {
        return InForce::NotFound;
    };
    match timeline.at(t) {
        Lookup::Values(values) => {
            // `at` found the last point at or before `t`; its start is the value's event time.
            let index = timeline.points.partition_point(|(valid_from, _)| *valid_from <= t);
            let valid_from = index
                .checked_sub(1)
                .and_then(|index| timeline.points.get(index))
                .map_or(0, |(valid_from, _)| *valid_from);
            InForce::Values { values, valid_from }
        }
        Lookup::Empty => InForce::Empty,
        Lookup::TooOld => InForce::TooOld,
    }
}
