//! An entity group's windowed aggregates per entity, as change-point histories read back from its
//! table in (keys, `valid_from`) order — what materialization pushes to the online store — and the
//! group's watermark: the newest event time ingested from its source.

use mlsys_compiler::plan::{FeatureId, FeatureKind, GroupId, Plan};
use mlsys_compiler::types::BaseType;
use mlsys_kernels::value::Value;

use crate::convert::value_at;
use crate::error::BatchError;
use crate::features::entity::{VALID_FROM, column, next_batch};
use crate::features::eval::typed;
use crate::features::spec::EntityGroupSpec;
use crate::state::BuildState;
use crate::store::OfflineStore;

/// One entity's change points: `(valid_from, aggregate values)` in increasing `valid_from`.
#[derive(Clone, Debug)]
pub struct EntityHistory {
    pub keys: Vec<Value>,
    pub points: Vec<(i64, Vec<Value>)>,
}

/// The windowed aggregates of an entity group, in group order.
pub fn aggregates_of(plan: &Plan, group: GroupId) -> Vec<FeatureId> {
    plan.groups[group]
        .features
        .iter()
        .copied()
        .filter(|id| matches!(plan.features[*id].kind, FeatureKind::Aggregate(_)))
        .collect()
}

/// The newest event time ingested from the group's source, if any event was.
pub fn watermark(plan: &Plan, state: &BuildState, group: GroupId) -> Option<i64> {
    let source = &plan.sources[plan.groups[group].source].name;
    state
        .sources
        .get(source)?
        .partitions
        .values()
        .filter_map(|partition| partition.events.map(|(_, high)| high))
        .max()
}

/// Calls `each` with every entity's history of the group's windowed aggregates, entity by entity
/// ([`Histories`]).
pub async fn for_each_history(
    plan: &Plan,
    store: &OfflineStore,
    group: GroupId,
    each: &mut dyn FnMut(EntityHistory) -> Result<(), BatchError>,
) -> Result<(), BatchError> {
    let mut histories = Histories::open(plan, store, group).await?;
    while let Some(history) = histories.next().await? {
        each(history)?;
    }
    Ok(())
}

/// The histories of an entity group's windowed aggregates, read entity by entity (the table is
/// read sorted by keys and time; the sort spills under the memory limit): one entity's history and
/// one batch are held at a time.
pub struct Histories {
    stream: Option<datafusion::execution::SendableRecordBatchStream>,
    types: Vec<BaseType>,
    key_count: usize,
    /// The batch being read and the next row in it.
    batch: Option<(Vec<datafusion::arrow::array::ArrayRef>, usize, usize)>,
    current: Option<EntityHistory>,
}

impl Histories {
    pub async fn open(plan: &Plan, store: &OfflineStore, group: GroupId) -> Result<Histories, BatchError> {
        let spec = EntityGroupSpec::new(plan, group)?;
        let definition = &plan.groups[group];
        let location = store.features(&definition.name, definition.version);
        let aggregates = aggregates_of(plan, group);
        let mut types: Vec<BaseType> = spec.keys.iter().map(|(_, _, ty)| ty.base).collect();
        types.push(BaseType::Timestamp);
        types.extend(aggregates.iter().map(|id| plan.features[*id].ty.base));
        let mut histories = Histories {
            stream: None,
            types,
            key_count: spec.keys.len(),
            batch: None,
            current: None,
        };
        if !location.exists() {
            return Ok(histories);
        }
        let mut selected: Vec<_> = spec.keys.iter().map(|(_, name, _)| column(name)).collect();
        selected.push(column(VALID_FROM));
        selected.extend(aggregates.iter().map(|id| column(&plan.features[*id].name)));
        let mut order: Vec<_> = spec
            .keys
            .iter()
            .map(|(_, name, _)| column(name).sort(true, false))
            .collect();
        order.push(column(VALID_FROM).sort(true, false));
        let frame = store
            .session()?
            .read_table(location.provider().await?)?
            .select(selected)?
            .sort(order)?;
        histories.stream = Some(frame.execute_stream().await?);
        Ok(histories)
    }

    /// The next entity's history, or `None` after the last.
    pub async fn next(&mut self) -> Result<Option<EntityHistory>, BatchError> {
        loop {
            let Some((columns, row, rows)) = &mut self.batch else {
                let Some(stream) = &mut self.stream else {
                    return Ok(self.current.take());
                };
                match next_batch(stream).await? {
                    Some(batch) => {
                        let columns = batch
                            .columns()
                            .iter()
                            .zip(&self.types)
                            .map(|(array, base)| typed(array, *base))
                            .collect::<Result<Vec<_>, _>>()?;
                        self.batch = Some((columns, 0, batch.num_rows()));
                    }
                    None => {
                        self.stream = None;
                        return Ok(self.current.take());
                    }
                }
                continue;
            };
            if *row >= *rows {
                self.batch = None;
                continue;
            }
            let index = *row;
            *row += 1;
            let key_count = self.key_count;
            let keys: Vec<Value> = (0..key_count)
                .map(|column| value_at(&columns[column], index, self.types[column]))
                .collect();
            let Value::Timestamp(valid_from) = value_at(&columns[key_count], index, BaseType::Timestamp) else {
                continue;
            };
            let values = (key_count + 1..self.types.len())
                .map(|column| value_at(&columns[column], index, self.types[column]))
                .collect();
            match &mut self.current {
                Some(history) if history.keys == keys => history.points.push((valid_from, values)),
                _ => {
                    let done = self.current.replace(EntityHistory {
                        keys,
                        points: vec![(valid_from, values)],
                    });
                    if done.is_some() {
                        return Ok(done);
                    }
                }
            }
        }
    }
}
