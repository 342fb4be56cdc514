//! What a feature table was computed from, and what changed since: the table's stamp (kept in
//! `BuildState.features`) records its definition fingerprint, the input partitions of every source
//! it reads (fingerprint and event-time range, as ingestion recorded them) and the table's own `dt`
//! partitions. Comparing the stamp with the current build state gives the changed input partitions
//! and their event-time ranges before and after — so a build killed between ingestion and this stage
//! still recomputes what the killed build ingested.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::features::output::day_of;
use crate::state::{BuildState, PartitionState};

/// Bumped when the layout or the computation of feature tables changes: every table is recomputed.
const FORMAT: &str = "features-1";

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Stamp {
    pub definition: String,
    /// Source → input partition → what it held.
    pub inputs: BTreeMap<String, BTreeMap<String, Input>>,
    /// The table's `dt` partitions.
    pub partitions: BTreeSet<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Input {
    pub fingerprint: String,
    pub events: Option<(i64, i64)>,
}

/// The changes of one source's input since a stamp.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Changes {
    pub partitions: BTreeSet<String>,
    /// Event-time ranges (inclusive) of the changed partitions, before and after the change.
    pub ranges: Vec<(i64, i64)>,
}

/// The definition fingerprint of a table: the group's hash and those of every group it reads.
pub fn definition(hashes: impl IntoIterator<Item = String>) -> String {
    let mut parts = vec![FORMAT.to_string()];
    parts.extend(hashes);
    parts.join(":")
}

impl Stamp {
    pub fn parse(text: &str) -> Option<Stamp> {
        serde_json::from_str(text).ok()
    }

    pub fn text(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// A stamp of the current inputs of `sources` in `state`.
    pub fn current(definition: String, sources: &BTreeSet<String>, state: &BuildState) -> Stamp {
        let inputs = sources
            .iter()
            .map(|source| {
                let partitions = state
                    .sources
                    .get(source)
                    .map(|source| {
                        source
                            .partitions
                            .iter()
                            .map(|(partition, held)| (partition.clone(), Input::of(held)))
                            .collect()
                    })
                    .unwrap_or_default();
                (source.clone(), partitions)
            })
            .collect();
        Stamp {
            definition,
            inputs,
            partitions: BTreeSet::new(),
        }
    }

    /// What changed in `source` from this (older) stamp to `now`.
    pub fn changes(&self, now: &Stamp, source: &str) -> Changes {
        let empty = BTreeMap::new();
        let before = self.inputs.get(source).unwrap_or(&empty);
        let after = now.inputs.get(source).unwrap_or(&empty);
        let mut changes = Changes::default();
        for partition in before.keys().chain(after.keys()) {
            let (old, new) = (before.get(partition), after.get(partition));
            if old == new {
                continue;
            }
            changes.partitions.insert(partition.clone());
            changes
                .ranges
                .extend([old, new].into_iter().flatten().filter_map(|input| input.events));
        }
        changes
    }
}

impl Input {
    fn of(state: &PartitionState) -> Input {
        Input {
            fingerprint: state.fingerprint.clone(),
            events: state.events,
        }
    }
}

/// The days whose change points events in `ranges` can move: from the day of the earliest event
/// through the day `reach` (the longest `W + R`) after the latest.
pub fn affected_days(ranges: &[(i64, i64)], reach: i64) -> BTreeSet<i32> {
    let mut days = BTreeSet::new();
    for (low, high) in ranges {
        days.extend(day_of(*low)..=day_of(high.saturating_add(reach)));
    }
    days
}
