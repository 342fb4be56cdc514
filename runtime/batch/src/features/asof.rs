//! Point-in-time ("as-of") lookups in an entity group's change-point table: the value of the
//! group's features for keys `k` at time `t` is the row of `k` with the greatest `valid_from <= t`;
//! before an entity's first row, or for keys with a null, it is the empty-window value (`count` 0,
//! other aggregates null, derived features computed from those). Row-level groups use it for
//! `group@vN.feature` references and the training-set stage for the point-in-time join, both
//! through [`Lookups`].

use std::collections::HashMap;

use datafusion::arrow::array::{Array, ArrayRef, TimestampMicrosecondArray};
use mlsys_compiler::plan::{ColumnIndex, FeatureId, GroupId, Plan, SourceId};
use mlsys_compiler::types::BaseType;
use mlsys_kernels::aggregate::DistinctKey;
use mlsys_kernels::value::Value;

use crate::convert::value_at;
use crate::error::BatchError;
use crate::features::entity::{VALID_FROM, column, timestamp_literal};
use crate::features::eval::{BatchColumns, typed};
use crate::features::spec::EntityGroupSpec;
use crate::store::OfflineStore;

/// An entity group's table held in memory, indexed by keys, for as-of lookups.
pub struct AsOfTable {
    pub group: GroupId,
    /// The group's features, in table order.
    pub features: Vec<FeatureId>,
    types: Vec<BaseType>,
    columns: Vec<ArrayRef>,
    /// Per entity: (valid_from, row) in time order.
    index: HashMap<Vec<DistinctKey>, Vec<(i64, usize)>>,
    empty: Vec<Value>,
}

/// A row found by [`AsOfTable::find`]; `None` reads the empty-window values.
pub type Found = Option<usize>;

impl AsOfTable {
    /// Loads the table of entity group `group`; with `times = [start, end)`, only what lookups at
    /// those times can find.
    ///
    /// A row with `valid_from < start - reach` (reach: the group's longest `W + R`) is never needed
    /// there: if it were still the latest row at some `t >= start`, every tile in a window at its
    /// `valid_from` would have left by `valid_from + reach < t`, each leaving being a change point
    /// after it; so such a row holds only empty windows, which is what finding no row gives.
    pub async fn load(
        plan: &Plan,
        store: &OfflineStore,
        group: GroupId,
        times: Option<(i64, i64)>,
    ) -> Result<AsOfTable, BatchError> {
        let spec = EntityGroupSpec::new(plan, group)?;
        let definition = &plan.groups[group];
        let location = store.features(&definition.name, definition.version);
        let mut table = AsOfTable {
            group,
            features: spec.outputs.clone(),
            types: spec.outputs.iter().map(|id| plan.features[*id].ty.base).collect(),
            columns: Vec::new(),
            index: HashMap::new(),
            empty: spec.empty_outputs()?,
        };
        if !location.exists() {
            return Ok(table);
        }
        let mut frame = store.session()?.read_table(location.provider().await?)?;
        if let Some((start, end)) = times {
            frame = frame.filter(
                column(VALID_FROM)
                    .gt_eq(timestamp_literal(start.saturating_sub(spec.reach)))
                    .and(column(VALID_FROM).lt(timestamp_literal(end))),
            )?;
        }
        let mut selected: Vec<_> = spec.keys.iter().map(|(_, name, _)| column(name)).collect();
        selected.push(column(VALID_FROM));
        selected.extend(spec.outputs.iter().map(|id| column(&plan.features[*id].name)));
        let batches = frame.select(selected)?.collect().await?;
        let schema = match batches.first() {
            Some(batch) => batch.schema(),
            None => return Ok(table),
        };
        let batch = datafusion::arrow::compute::concat_batches(&schema, &batches)?;
        let mut types: Vec<BaseType> = spec.keys.iter().map(|(_, _, ty)| ty.base).collect();
        types.push(BaseType::Timestamp);
        types.extend(table.types.iter().copied());
        let columns = batch
            .columns()
            .iter()
            .zip(types)
            .map(|(array, base)| typed(array, base))
            .collect::<Result<Vec<_>, _>>()?;
        table.fill(&spec, columns, batch.num_rows())?;
        Ok(table)
    }

    /// Indexes the table's columns: keys, `valid_from`, features, in the types of the plan.
    fn fill(&mut self, spec: &EntityGroupSpec<'_>, columns: Vec<ArrayRef>, rows: usize) -> Result<(), BatchError> {
        let key_count = spec.keys.len();
        let valid_from = columns
            .get(key_count)
            .ok_or_else(|| BatchError::Invalid(format!("no `{VALID_FROM}` column")))?
            .as_any()
            .downcast_ref::<TimestampMicrosecondArray>()
            .ok_or_else(|| BatchError::Invalid(format!("`{VALID_FROM}` is not a timestamp column")))?;
        for row in 0..rows {
            let keys: Option<Vec<DistinctKey>> = spec
                .keys
                .iter()
                .enumerate()
                .map(|(index, (_, _, ty))| DistinctKey::of(&value_at(&columns[index], row, ty.base)))
                .collect();
            if let (Some(keys), true) = (keys, valid_from.is_valid(row)) {
                self.index.entry(keys).or_default().push((valid_from.value(row), row));
            }
        }
        for rows in self.index.values_mut() {
            rows.sort_unstable();
        }
        self.columns = columns[key_count + 1..].to_vec();
        Ok(())
    }

    /// The row holding the values of `keys` at `t`.
    pub fn find(&self, keys: &[Value], t: i64) -> Found {
        let keys: Vec<DistinctKey> = keys.iter().map(DistinctKey::of).collect::<Option<_>>()?;
        let rows = self.index.get(&keys)?;
        let after = rows.partition_point(|(valid_from, _)| *valid_from <= t);
        after.checked_sub(1).map(|position| rows[position].1)
    }

    /// The value of the group's feature `feature` in a found row (null for a feature not in it).
    pub fn value(&self, found: Found, feature: FeatureId) -> Value {
        let Some(index) = self.features.iter().position(|candidate| *candidate == feature) else {
            return Value::Null;
        };
        match (found, self.columns.get(index), self.types.get(index)) {
            (Some(row), Some(column), Some(base)) => value_at(column, row, *base),
            _ => self.empty.get(index).cloned().unwrap_or(Value::Null),
        }
    }
}

/// The entity groups among `groups`, each with the columns of `source` holding its keys (by key
/// name); `reader` names what reads them in errors.
pub fn entity_keys(
    plan: &Plan,
    source: SourceId,
    groups: impl IntoIterator<Item = GroupId>,
    reader: &str,
) -> Result<Vec<(GroupId, Vec<ColumnIndex>)>, BatchError> {
    let source = &plan.sources[source];
    let mut lookups = Vec::new();
    for group in groups {
        let Some(entity) = plan.groups[group].entity.and_then(|entity| plan.entities.get(entity)) else {
            continue;
        };
        let keys = entity
            .keys
            .iter()
            .map(|key| {
                source.column_index(&key.name).ok_or_else(|| {
                    BatchError::Invalid(format!(
                        "{reader}: source `{}` has no column for the key `{}` of entity `{}`",
                        source.name, key.name, entity.name
                    ))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        lookups.push((group, keys));
    }
    Ok(lookups)
}

/// The source columns copied beside values computed on its rows: the timestamp, then the keys the
/// lookups read, each once.
pub fn carried_columns(timestamp: Option<ColumnIndex>, lookups: &[(GroupId, Vec<ColumnIndex>)]) -> Vec<ColumnIndex> {
    let mut carried: Vec<ColumnIndex> = timestamp.into_iter().collect();
    for key in lookups.iter().flat_map(|(_, keys)| keys) {
        if !carried.contains(key) {
            carried.push(*key);
        }
    }
    carried
}

/// The entity groups' tables a computation over a source's rows looks windowed values up in, each
/// with the source columns holding its keys.
pub struct Lookups {
    tables: Vec<(AsOfTable, Vec<ColumnIndex>)>,
}

impl Lookups {
    /// The tables, each restricted to what lookups at `times` (`[start, end)`, when known) can
    /// find.
    pub async fn load(
        plan: &Plan,
        store: &OfflineStore,
        lookups: &[(GroupId, Vec<ColumnIndex>)],
        times: Option<(i64, i64)>,
    ) -> Result<Lookups, BatchError> {
        let mut tables = Vec::new();
        for (group, keys) in lookups {
            tables.push((AsOfTable::load(plan, store, *group, times).await?, keys.clone()));
        }
        Ok(Lookups { tables })
    }

    /// For every row of a batch, the row found in each table at the row's time (the `timestamp`
    /// column); a row without a time finds nothing (the empty window).
    pub fn find(&self, columns: &BatchColumns, timestamp: Option<ColumnIndex>, rows: usize) -> Vec<Vec<Found>> {
        (0..rows)
            .map(|row| {
                let time = match timestamp.map(|timestamp| columns.value(timestamp, row)) {
                    Some(Value::Timestamp(time)) => Some(time),
                    _ => None,
                };
                self.tables
                    .iter()
                    .map(|(table, keys)| {
                        let time = time?;
                        let keys: Vec<Value> = keys.iter().map(|key| columns.value(*key, row)).collect();
                        table.find(&keys, time)
                    })
                    .collect()
            })
            .collect()
    }

    /// The value of `feature` in the rows `found` (one per table, as [`Lookups::find`] gives them).
    pub fn value(&self, found: &[Found], feature: FeatureId) -> Value {
        self.tables
            .iter()
            .zip(found)
            .find(|((table, _), _)| table.features.contains(&feature))
            .map_or(Value::Null, |((table, _), found)| table.value(*found, feature))
    }
}
