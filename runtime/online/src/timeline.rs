//! An entity's windowed values as materialized: the change points of a feature group's windowed
//! aggregates from the last one at or before the build's watermark onwards — including the points
//! where windows expire, which are known in advance — so a lookup at any time `t` from that base on
//! returns exactly the value the batch tables hold at `t` (lang-spec/windows.md: the value at `t` is
//! the latest change point `<= t`; before an entity's first one, the empty window).
//!
//! Stored as one [`Record`] per entity: `valid_at` is the watermark (the newest event time the
//! build had seen; a newer build's record wins), and the values are
//! `[Timestamp(exact_from), Int(width), Timestamp(valid_from₁), v₁…, Timestamp(valid_from₂), v₂…]`.

use mlsys_kernels::Value;
use serde::{Deserialize, Serialize};

use crate::codec::Record;
use crate::table::TableId;

/// A timeline's values at a time.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Lookup<'a> {
    /// The values of the change point in force.
    Values(&'a [Value]),
    /// No change point at or before `t`, and none was left out: the empty window (`count` 0,
    /// other aggregates null).
    Empty,
    /// `t` is before the timeline's base: the store no longer holds the value in force then.
    TooOld,
}

/// An entity's change points from its base on.
#[derive(Clone, Debug, PartialEq)]
pub struct Timeline {
    /// Lookups at `t >= exact_from` are exact; `i64::MIN` when the entity's history is complete.
    pub exact_from: i64,
    /// Values per change point.
    pub width: usize,
    /// `(valid_from, values)` in increasing `valid_from`, each with `width` values.
    pub points: Vec<(i64, Vec<Value>)>,
}

/// A record that is not a timeline.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("not a feature timeline: {0}")]
pub struct TimelineError(String);

impl Timeline {
    /// The timeline from an entity's whole history of change points (increasing `valid_from`),
    /// keeping the last point at or before `watermark` and every later one.
    pub fn from_history(history: Vec<(i64, Vec<Value>)>, width: usize, watermark: i64) -> Timeline {
        let after = history.partition_point(|(valid_from, _)| *valid_from <= watermark);
        let base = after.saturating_sub(1);
        let exact_from = match after {
            0 => i64::MIN,
            _ => history[base].0,
        };
        Timeline {
            exact_from,
            width,
            points: history.into_iter().skip(base).collect(),
        }
    }

    /// The record stored for this timeline at `watermark`.
    pub fn to_record(&self, watermark: i64) -> Record {
        let mut values = Vec::with_capacity(2 + self.points.len() * (self.width + 1));
        values.push(Value::Timestamp(self.exact_from));
        values.push(Value::Int(i64::try_from(self.width).unwrap_or(i64::MAX)));
        for (valid_from, point) in &self.points {
            values.push(Value::Timestamp(*valid_from));
            values.extend(point.iter().cloned());
        }
        Record::new(watermark, values)
    }

    /// Reads a stored timeline back.
    pub fn from_record(record: &Record) -> Result<Timeline, TimelineError> {
        let header = |index: usize| record.values.get(index).cloned();
        let (Some(Value::Timestamp(exact_from)), Some(Value::Int(width))) = (header(0), header(1)) else {
            return Err(TimelineError("no (exact_from, width) header".to_string()));
        };
        let width = usize::try_from(width).map_err(|_| TimelineError(format!("width {width}")))?;
        let body = &record.values[2..];
        if !body.len().is_multiple_of(width + 1) {
            return Err(TimelineError(format!(
                "{} values do not split into points of {width}",
                body.len()
            )));
        }
        let mut points = Vec::with_capacity(body.len() / (width + 1));
        for chunk in body.chunks(width + 1) {
            let Value::Timestamp(valid_from) = chunk[0] else {
                return Err(TimelineError("a point without its valid_from".to_string()));
            };
            if points.last().is_some_and(|(previous, _)| *previous >= valid_from) {
                return Err(TimelineError("points out of order".to_string()));
            }
            points.push((valid_from, chunk[1..].to_vec()));
        }
        Ok(Timeline {
            exact_from,
            width,
            points,
        })
    }

    /// The values in force at `t`.
    pub fn at(&self, t: i64) -> Lookup<'_> {
        if t < self.exact_from {
            return Lookup::TooOld;
        }
        let after = self.points.partition_point(|(valid_from, _)| *valid_from <= t);
        match after.checked_sub(1) {
            Some(index) => Lookup::Values(&self.points[index].1),
            None => Lookup::Empty,
        }
    }
}

/// What the store's metadata says about a materialized table (entry [`meta_name`]): the hash of
/// the feature group definition it was computed with (a server refuses a table of another
/// definition), the windowed aggregates of each point in order, the watermark, and the stamp of
/// the offline table it came from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TableMeta {
    pub group_hash: String,
    pub features: Vec<String>,
    pub watermark: i64,
    pub stamp: String,
    /// The time the timelines are exact from when a build asked for more than the watermark's
    /// change point (`mlsysc build --online-from`); `None`: from the watermark's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exact_from: Option<i64>,
}

impl TableMeta {
    /// The time the stored timelines are built from ([`Timeline::from_history`]'s cut): the
    /// requested earlier time, else the watermark.
    pub fn base(&self) -> i64 {
        self.exact_from.unwrap_or(self.watermark)
    }
}

/// The metadata entry describing a materialized table.
pub fn meta_name(table: &TableId) -> String {
    format!("{table}/materialized")
}
