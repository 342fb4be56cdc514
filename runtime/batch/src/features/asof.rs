//! Point-in-time ("as-of") lookups in an entity group's change-point table: the value of the
//! group's features for keys `k` at time `t` is the row of `k` with the greatest `valid_from <= t`;
//! before an entity's first row, or for keys with a null, it is the empty-window value (`count` 0,
//! other aggregates null, derived features computed from those). Row-level groups use it for
//! `group@vN.feature` references and the training-set stage for the point-in-time join, both
//! through [`Lookups`].

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};

use datafusion::arrow::array::{Array, ArrayRef, BooleanArray, RecordBatch, TimestampMicrosecondArray, UInt32Array};
use datafusion::arrow::compute::{filter_record_batch, take};
use mlsys_compiler::plan::{ColumnIndex, FeatureId, GroupId, Plan, SourceId};
use mlsys_compiler::types::BaseType;
use mlsys_kernels::aggregate::DistinctKey;
use mlsys_kernels::value::Value;

use crate::convert::value_at;
use crate::error::BatchError;
use crate::features::entity::{VALID_FROM, column, next_batch, timestamp_literal};
use crate::features::eval::{BatchColumns, typed};
use crate::features::output::{date_text, day_of};
use crate::features::spec::EntityGroupSpec;
use crate::store::OfflineStore;

/// An entity group's table held in memory as the batches it was read in (never concatenated,
/// which would hold it twice), indexed by keys, for as-of lookups.
pub struct AsOfTable {
    pub group: GroupId,
    /// The group's features, in table order.
    pub features: Vec<FeatureId>,
    types: Vec<BaseType>,
    /// Per batch read, the features' columns.
    chunks: Vec<Vec<ArrayRef>>,
    /// Per entity: (valid_from, batch, row) in time order.
    index: HashMap<Vec<DistinctKey>, Vec<(i64, u32, u32)>>,
    empty: Vec<Value>,
}

/// A row found by [`AsOfTable::find`] (batch, row); `None` reads the empty-window values.
pub type Found = Option<(u32, u32)>;

impl AsOfTable {
    /// Loads the table of entity group `group`, only the entities of `bucket`; with
    /// `times = [start, end)`, only what lookups at those times can find.
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
        bucket: Bucket,
    ) -> Result<AsOfTable, BatchError> {
        let spec = EntityGroupSpec::new(plan, group)?;
        let definition = &plan.groups[group];
        let location = store.features(&definition.name, definition.version);
        let mut table = AsOfTable {
            group,
            features: spec.outputs.clone(),
            types: spec.outputs.iter().map(|id| plan.features[*id].ty.base).collect(),
            chunks: Vec::new(),
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
        let mut types: Vec<BaseType> = spec.keys.iter().map(|(_, _, ty)| ty.base).collect();
        types.push(BaseType::Timestamp);
        types.extend(table.types.iter().copied());
        let mut stream = frame.select(selected)?.execute_stream().await?;
        while let Some(batch) = next_batch(&mut stream).await? {
            let columns = batch
                .columns()
                .iter()
                .zip(&types)
                .map(|(array, base)| typed(array, *base))
                .collect::<Result<Vec<_>, _>>()?;
            table.fill(&spec, columns, batch.num_rows(), bucket)?;
        }
        for rows in table.index.values_mut() {
            rows.sort_unstable();
        }
        Ok(table)
    }

    /// Indexes the rows of `bucket` in one batch of the table's columns: keys, `valid_from`,
    /// features, in the types of the plan; keeps those rows of the features' columns.
    fn fill(
        &mut self,
        spec: &EntityGroupSpec<'_>,
        columns: Vec<ArrayRef>,
        rows: usize,
        bucket: Bucket,
    ) -> Result<(), BatchError> {
        let chunk = u32::try_from(self.chunks.len())
            .map_err(|_| BatchError::Internal("an entity table read in more than 2^32 batches"))?;
        let key_count = spec.keys.len();
        let valid_from = columns
            .get(key_count)
            .ok_or_else(|| BatchError::MissingColumn {
                rows: "an entity table's rows".to_string(),
                column: VALID_FROM.to_string(),
            })?
            .as_any()
            .downcast_ref::<TimestampMicrosecondArray>()
            .ok_or_else(|| BatchError::ColumnType {
                rows: "an entity table's rows".to_string(),
                column: VALID_FROM.to_string(),
                expected: "a timestamp",
            })?;
        let mut kept: Vec<u32> = Vec::new();
        for row in 0..rows {
            let keys: Option<Vec<DistinctKey>> = spec
                .keys
                .iter()
                .enumerate()
                .map(|(index, (_, _, ty))| DistinctKey::of(&value_at(&columns[index], row, ty.base)))
                .collect();
            if let (Some(keys), true) = (keys, valid_from.is_valid(row))
                && bucket.holds(&keys)
            {
                let position = u32::try_from(kept.len()).map_err(|_| BatchError::Internal("a batch of 2^32 rows"))?;
                kept.push(row as u32);
                self.index
                    .entry(keys)
                    .or_default()
                    .push((valid_from.value(row), chunk, position));
            }
        }
        let features = &columns[key_count + 1..];
        if kept.len() == rows {
            self.chunks.push(features.to_vec());
        } else {
            let kept = UInt32Array::from(kept);
            let taken = features
                .iter()
                .map(|column| take(column.as_ref(), &kept, None))
                .collect::<Result<Vec<_>, _>>()?;
            self.chunks.push(taken);
        }
        Ok(())
    }

    /// The row holding the values of `keys` at `t`.
    pub fn find(&self, keys: &[Value], t: i64) -> Found {
        let keys: Vec<DistinctKey> = keys.iter().map(DistinctKey::of).collect::<Option<_>>()?;
        let rows = self.index.get(&keys)?;
        let after = rows.partition_point(|(valid_from, _, _)| *valid_from <= t);
        after
            .checked_sub(1)
            .map(|position| (rows[position].1, rows[position].2))
    }

    /// The value of the group's feature `feature` in a found row (null for a feature not in it).
    pub fn value(&self, found: Found, feature: FeatureId) -> Value {
        let Some(index) = self.features.iter().position(|candidate| *candidate == feature) else {
            return Value::Null;
        };
        let column = found.and_then(|(chunk, row)| Some((self.chunks.get(chunk as usize)?.get(index)?, row)));
        match (column, self.types.get(index)) {
            (Some((column, row)), Some(base)) => value_at(column, row as usize, *base),
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
                source.column_index(&key.name).ok_or_else(|| BatchError::NoKeyColumn {
                    reader: reader.to_string(),
                    source_name: source.name.clone(),
                    key: key.name.clone(),
                    entity: entity.name.clone(),
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

/// A share of an entity group's entities: those whose keys hash to `index` modulo `count`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bucket {
    pub index: u64,
    pub count: u64,
}

impl Bucket {
    /// Every entity.
    pub const ALL: Bucket = Bucket { index: 0, count: 1 };

    pub fn holds(&self, keys: &[DistinctKey]) -> bool {
        if self.count <= 1 {
            return true;
        }
        // SipHash with fixed keys: the same keys fall in the same bucket on both sides of a lookup.
        let mut hasher = DefaultHasher::new();
        keys.hash(&mut hasher);
        hasher.finish() % self.count == self.index
    }
}

/// How a computation over a source's rows does its lookups within the memory budget: in
/// `passes` passes over its rows, each holding the entities of one bucket of the largest table
/// (`table`, an index into the lookups) and the other tables whole.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LookupPasses {
    pub passes: u64,
    pub table: usize,
}

impl LookupPasses {
    /// What the lookups' tables would hold in memory (an estimate: their Parquet bytes in the
    /// partitions `times` can reach, times [`IN_MEMORY_PER_PARQUET_BYTE`]) against half the
    /// store's memory budget.
    pub async fn plan(
        plan: &Plan,
        store: &OfflineStore,
        lookups: &[(GroupId, Vec<ColumnIndex>)],
        times: Option<(i64, i64)>,
    ) -> Result<LookupPasses, BatchError> {
        let mut largest = (0usize, 0u64);
        for (position, (group, _)) in lookups.iter().enumerate() {
            let spec = EntityGroupSpec::new(plan, *group)?;
            let definition = &plan.groups[*group];
            let location = store.features(&definition.name, definition.version);
            let days = times.map(|(start, end)| {
                (
                    date_text(day_of(start.saturating_sub(spec.reach))),
                    date_text(day_of(end)),
                )
            });
            let bytes = location
                .bytes_in(days.as_ref().map(|(low, high)| (low.as_str(), high.as_str())))
                .await?;
            if bytes > largest.1 {
                largest = (position, bytes);
            }
        }
        let estimate = largest.1.saturating_mul(IN_MEMORY_PER_PARQUET_BYTE);
        let share = (store.memory_limit() as u64 / 2).max(1);
        Ok(LookupPasses {
            passes: estimate.div_ceil(share).clamp(1, MAX_LOOKUP_PASSES),
            table: largest.0,
        })
    }

    pub fn bucket(&self, index: u64) -> Bucket {
        Bucket {
            index,
            count: self.passes,
        }
    }
}

/// Bytes an entity table takes in memory per byte of its Parquet files (decoded feature columns
/// and the per-entity index: about 3.7 measured on the batch benchmark's entity table, rounded up).
pub const IN_MEMORY_PER_PARQUET_BYTE: u64 = 4;

/// Beyond this many passes over the rows, a smaller budget is not honoured.
const MAX_LOOKUP_PASSES: u64 = 256;

/// A column of a processed `batch` of source `source`, cast to `field`'s type.
pub fn copied_column(
    batch: &RecordBatch,
    source: &str,
    name: &str,
    field: &datafusion::arrow::datatypes::Field,
) -> Result<ArrayRef, BatchError> {
    let array = batch.column_by_name(name).ok_or_else(|| BatchError::MissingColumn {
        rows: format!("processed `{source}`"),
        column: name.to_string(),
    })?;
    Ok(datafusion::arrow::compute::cast(array, field.data_type())?)
}

/// The first columns of a table computed over a processed `batch` of `source`: its lineage
/// (`_file`, `_row`), then the `carried` source columns, cast to the types of `fields`.
pub fn lineage_columns(
    plan: &Plan,
    source: SourceId,
    batch: &RecordBatch,
    carried: &[ColumnIndex],
    fields: &datafusion::arrow::datatypes::Fields,
) -> Result<Vec<ArrayRef>, BatchError> {
    let source = &plan.sources[source];
    let names = [crate::ingest::validate::FILE_COLUMN, crate::ingest::read::ROW_COLUMN]
        .into_iter()
        .chain(
            carried
                .iter()
                .map(|index| source.columns[*index as usize].name.as_str()),
        );
    names
        .zip(fields.iter())
        .map(|(name, field)| copied_column(batch, &source.name, name, field))
        .collect()
}

/// The entity groups' tables a computation over a source's rows looks windowed values up in, each
/// with the source columns holding its keys; one bucket of one of them in a pass of
/// [`LookupPasses`].
pub struct Lookups {
    tables: Vec<(AsOfTable, Vec<ColumnIndex>)>,
    /// The table loaded in part, and the part.
    bucketed: Option<(usize, Bucket)>,
}

impl Lookups {
    /// The tables, each restricted to what lookups at `times` (`[start, end)`, when known) can
    /// find; table `passes.table` to the entities of bucket `pass`.
    pub async fn load(
        plan: &Plan,
        store: &OfflineStore,
        lookups: &[(GroupId, Vec<ColumnIndex>)],
        times: Option<(i64, i64)>,
        passes: LookupPasses,
        pass: u64,
    ) -> Result<Lookups, BatchError> {
        let bucket = passes.bucket(pass);
        let mut tables = Vec::new();
        for (position, (group, keys)) in lookups.iter().enumerate() {
            let share = if position == passes.table { bucket } else { Bucket::ALL };
            tables.push((AsOfTable::load(plan, store, *group, times, share).await?, keys.clone()));
        }
        Ok(Lookups {
            tables,
            bucketed: (passes.passes > 1).then_some((passes.table, bucket)),
        })
    }

    /// The rows of `batch` this pass computes: those whose keys in the bucketed table fall in its
    /// bucket; a row with a null key finds nothing there and is computed in the first pass.
    pub fn rows_of_pass(&self, plan: &Plan, source: SourceId, batch: RecordBatch) -> Result<RecordBatch, BatchError> {
        let Some((table, bucket)) = self.bucketed else {
            return Ok(batch);
        };
        let Some((_, keys)) = self.tables.get(table) else {
            return Ok(batch);
        };
        let columns = BatchColumns::new(plan, source, &batch)?;
        let mask: BooleanArray = (0..batch.num_rows())
            .map(|row| {
                let keys: Option<Vec<DistinctKey>> = keys
                    .iter()
                    .map(|key| DistinctKey::of(&columns.value(*key, row)))
                    .collect();
                Some(match keys {
                    Some(keys) => bucket.holds(&keys),
                    None => bucket.index == 0,
                })
            })
            .collect();
        Ok(filter_record_batch(&batch, &mask)?)
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
