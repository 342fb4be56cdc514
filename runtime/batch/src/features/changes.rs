//! The change points of one entity: every instant at which a feature of the group may change
//! value, and the value of every feature from that instant on.
//!
//! An aggregate `agg(x) over W every R` read at `t` covers the tiles of `[floor(t, R) - W,
//! floor(t, R))`. An event in tile `s` therefore enters the window at `s + R` and leaves it at
//! `s + R + W`; between two such instants nothing changes. Events are accumulated once per tile
//! with the kernels' accumulators, and a window's value is the exact merge of its tiles, so the
//! result is bit-identical to the reference definition whatever the order of the events.

use std::collections::{BTreeMap, BTreeSet};

use mlsys_kernels::aggregate::Accumulator;
use mlsys_kernels::value::Value;
use mlsys_kernels::window::floor_to;

use crate::error::BatchError;
use crate::features::spec::EntityGroupSpec;

/// One event of an entity: its timestamp and, per aggregate of the group, the argument value it
/// contributes (`Value::Null` for `count()`), or `None` when the `where` condition excludes it.
#[derive(Clone, Debug)]
pub struct Event {
    pub timestamp: i64,
    pub inputs: Vec<Option<Value>>,
}

/// One row of the feature table: the instant the values become valid, and the output features.
pub type ChangeRow = (i64, Vec<Value>);

/// The change points of one entity whose instants pass `emit`, in time order. `events` must hold
/// every event of the entity from `reach` (the group's longest `W + R`) before the first emitted
/// instant up to the last emitted one.
pub fn change_rows(
    spec: &EntityGroupSpec<'_>,
    events: &[Event],
    emit: &dyn Fn(i64) -> bool,
) -> Result<Vec<ChangeRow>, BatchError> {
    let mut tiles: Vec<BTreeMap<i64, Accumulator>> = vec![BTreeMap::new(); spec.aggregates.len()];
    for event in events {
        for ((aggregate, tiles), input) in spec.aggregates.iter().zip(&mut tiles).zip(&event.inputs) {
            let Some(input) = input else { continue };
            let start = floor_to(event.timestamp, aggregate.window.resolution());
            let tile = match tiles.entry(start) {
                std::collections::btree_map::Entry::Occupied(entry) => entry.into_mut(),
                std::collections::btree_map::Entry::Vacant(entry) => entry.insert(aggregate.empty()?),
            };
            tile.update(input, event.timestamp)
                .map_err(|source| BatchError::Aggregate {
                    feature: aggregate.feature,
                    source,
                })?;
        }
    }
    let mut instants = BTreeSet::new();
    for (aggregate, tiles) in spec.aggregates.iter().zip(&tiles) {
        let resolution = aggregate.window.resolution();
        let length = aggregate.window.length();
        for start in tiles.keys() {
            let enters = start.saturating_add(resolution);
            let leaves = enters.saturating_add(length);
            instants.extend([enters, leaves].into_iter().filter(|instant| emit(*instant)));
        }
    }
    let mut rows = Vec::with_capacity(instants.len());
    for instant in instants {
        let mut values = Vec::with_capacity(spec.aggregates.len());
        for (aggregate, tiles) in spec.aggregates.iter().zip(&tiles) {
            let end = floor_to(instant, aggregate.window.resolution());
            let start = end.saturating_sub(aggregate.window.length());
            let mut window = aggregate.empty()?;
            for tile in tiles.range(start..end).map(|(_, tile)| tile) {
                window.merge(tile).map_err(|source| BatchError::Aggregate {
                    feature: aggregate.feature,
                    source,
                })?;
            }
            values.push(window.finish());
        }
        rows.push((instant, spec.outputs_from(&values)?));
    }
    Ok(rows)
}
