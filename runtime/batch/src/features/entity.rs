//! Computing an entity group's change-point table: DataFusion reads the group's processed events
//! (event time limited to the needed range, null keys left out), projects the keys, the timestamp
//! and the columns the aggregates read, hash-partitions them by the keys (one partition per core)
//! and sorts each partition by (keys, timestamp) — its external sort spills under the memory limit.
//! One thread per partition then walks its sorted events entity by entity and emits the change
//! points ([`crate::features::changes`]); entities are independent, so partitions need no merging.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::task::Poll;

use datafusion::arrow::array::{RecordBatch, StringBuilder};
use datafusion::arrow::compute::SortOptions;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::common::{Column, ScalarValue};
use datafusion::execution::SendableRecordBatchStream;
use datafusion::logical_expr::{Expr, col, lit};
use datafusion::physical_expr::{LexOrdering, PhysicalExpr, PhysicalSortExpr};
use datafusion::physical_plan::repartition::RepartitionExec;
use datafusion::physical_plan::sorts::sort::SortExec;
use datafusion::physical_plan::{ExecutionPlan, ExecutionPlanProperties};
use mlsys_compiler::plan::walk::row_columns_read;
use mlsys_compiler::types::BaseType;
use mlsys_kernels::value::Value;

use crate::convert::{UTC, arrow_type};
use crate::error::BatchError;
use crate::features::changes::{ChangeRow, Event, change_rows};
use crate::features::eval::{BatchColumns, evaluate_column};
use crate::features::output::{ColumnBuilder, date_text, day_of};
use crate::features::spec::EntityGroupSpec;
use crate::store::{DATE_PARTITION, OfflineStore, Sink};

/// The column of the instant from which a change-point row's values hold.
pub const VALID_FROM: &str = "valid_from";

/// Rows per output batch.
const BATCH_ROWS: usize = 64 * 1024;

/// What to compute: the event-time range to read (`[start, end)`, everything when `None`) and which
/// change points to emit.
pub struct Scope<'s> {
    pub events: Option<(i64, i64)>,
    pub emit: &'s (dyn Fn(i64) -> bool + Sync),
}

/// What computing a table's rows sent to its sink: how many, and the `dt` partitions they fall in.
#[derive(Debug, Default)]
pub struct Computed {
    pub partitions: BTreeSet<String>,
    pub rows: usize,
}

impl Computed {
    pub fn add(&mut self, other: Computed) {
        self.partitions.extend(other.partitions);
        self.rows += other.rows;
    }
}

pub fn timestamp_literal(micros: i64) -> Expr {
    lit(ScalarValue::TimestampMicrosecond(Some(micros), Some(UTC.into())))
}

/// A column by its exact name (no SQL identifier normalisation).
pub fn column(name: &str) -> Expr {
    col(Column::from_name(name))
}

/// The schema of an entity group's table.
pub fn entity_schema(spec: &EntityGroupSpec<'_>) -> SchemaRef {
    let mut fields: Vec<Field> = spec
        .keys
        .iter()
        .map(|(_, name, ty)| Field::new(name, arrow_type(ty.base), false))
        .collect();
    fields.push(Field::new(
        VALID_FROM,
        DataType::Timestamp(TimeUnit::Microsecond, Some(UTC.into())),
        false,
    ));
    fields.extend(spec.feature_fields());
    fields.push(Field::new(DATE_PARTITION, DataType::Utf8, false));
    Arc::new(Schema::new(fields))
}

/// Computes the change points of `spec` in `scope`, sending them to `sink` as they are found.
pub async fn compute(
    spec: &EntityGroupSpec<'_>,
    store: &OfflineStore,
    scope: &Scope<'_>,
    sink: &Sink,
) -> Result<Computed, BatchError> {
    let plan = spec.plan;
    let source = &plan.sources[spec.source];
    let timestamp = source.timestamp.ok_or_else(|| BatchError::NoTimestamp {
        source_name: source.name.clone(),
    })?;
    let location = store.processed(&source.name);
    if !location.exists() {
        return Ok(Computed::default());
    }
    let timestamp_name = &source.columns[timestamp as usize].name;
    let mut predicate = spec
        .keys
        .iter()
        .map(|(key, _, _)| column(&source.columns[*key as usize].name).is_not_null())
        .fold(lit(true), Expr::and);
    if let Some((start, end)) = scope.events {
        predicate = predicate
            .and(column(timestamp_name).gt_eq(timestamp_literal(start)))
            .and(column(timestamp_name).lt(timestamp_literal(end)));
    }
    let roots: Vec<_> = spec
        .aggregates
        .iter()
        .flat_map(|aggregate| aggregate.argument.into_iter().chain(aggregate.filter))
        .collect();
    let mut read: BTreeSet<u32> = spec.keys.iter().map(|(key, _, _)| *key).collect();
    read.insert(timestamp);
    read.extend(
        row_columns_read(plan, &roots)
            .into_iter()
            .filter(|(read_source, _)| *read_source == spec.source)
            .map(|(_, column)| column),
    );
    let session = store.session()?;
    let partitions = session.copied_config().target_partitions().max(1);
    let input = session
        .read_table(location.provider().await?)?
        .filter(predicate)?
        .select(
            read.iter()
                .map(|index| column(&source.columns[*index as usize].name))
                .collect::<Vec<_>>(),
        )?
        .create_physical_plan()
        .await?;
    // Every entity's events land in one partition; each partition is sorted by (keys, time) on
    // its own (spilling under the memory limit) and walked by its own thread. Built by hand after
    // the optimizer, which would otherwise be free to turn the hash partitioning into round robin.
    let schema = input.schema();
    let mut hashed = Vec::with_capacity(spec.keys.len());
    for (key, _, _) in &spec.keys {
        hashed.push(physical_column(&source.columns[*key as usize].name, &schema)?);
    }
    let input: Arc<dyn ExecutionPlan> = Arc::new(RepartitionExec::try_new(
        input,
        datafusion::physical_plan::Partitioning::Hash(hashed, partitions),
    )?);
    let mut order = Vec::with_capacity(spec.keys.len() + 1);
    for name in spec
        .keys
        .iter()
        .map(|(key, _, _)| &source.columns[*key as usize].name)
        .chain([timestamp_name])
    {
        order.push(PhysicalSortExpr::new(
            physical_column(name, &schema)?,
            SortOptions::new(false, false),
        ));
    }
    let ordering = LexOrdering::new(order).ok_or(BatchError::Internal("an empty sort order"))?;
    let sorted: Arc<dyn ExecutionPlan> = Arc::new(SortExec::new(ordering, input).with_preserve_partitioning(true));
    let context = session.task_ctx();
    let count = sorted.output_partitioning().partition_count();
    let streams = (0..count)
        .map(|partition| sorted.execute(partition, context.clone()))
        .collect::<Result<Vec<_>, _>>()?;
    let parallel = count > 1
        && tokio::runtime::Handle::try_current()
            .is_ok_and(|handle| handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
    let parts: Vec<Computed> = if parallel {
        let handle = tokio::runtime::Handle::current();
        tokio::task::block_in_place(|| {
            std::thread::scope(|threads| {
                let workers: Vec<_> = streams
                    .into_iter()
                    .map(|stream| {
                        let handle = handle.clone();
                        let sink = sink.clone();
                        threads.spawn(move || handle.block_on(walk_partition(spec, scope, timestamp, stream, sink)))
                    })
                    .collect();
                workers
                    .into_iter()
                    .map(|worker| {
                        worker
                            .join()
                            .unwrap_or(Err(BatchError::Internal("a change-point worker thread panicked")))
                    })
                    .collect::<Result<Vec<_>, _>>()
            })
        })?
    } else {
        let mut parts = Vec::with_capacity(count);
        for stream in streams {
            parts.push(walk_partition(spec, scope, timestamp, stream, sink.clone()).await?);
        }
        parts
    };
    let mut computed = Computed::default();
    for part in parts {
        computed.add(part);
    }
    Ok(computed)
}

fn physical_column(name: &str, schema: &SchemaRef) -> Result<Arc<dyn PhysicalExpr>, BatchError> {
    Ok(datafusion::physical_expr::expressions::col(name, schema)?)
}

/// Walks one partition's events, sorted by (keys, time), entity by entity.
async fn walk_partition(
    spec: &EntityGroupSpec<'_>,
    scope: &Scope<'_>,
    timestamp: u32,
    mut stream: SendableRecordBatchStream,
    sink: Sink,
) -> Result<Computed, BatchError> {
    let plan = spec.plan;
    let mut output = Output::new(spec, sink);
    let mut entity: Option<(Vec<Value>, Vec<Event>)> = None;
    while let Some(batch) = next_batch(&mut stream).await? {
        let columns = BatchColumns::new(plan, spec.source, &batch)?;
        let rows = batch.num_rows();
        let mut arguments = Vec::with_capacity(spec.aggregates.len());
        for aggregate in &spec.aggregates {
            let values = match aggregate.argument {
                Some(argument) => Some(evaluate_column(plan, &columns, rows, argument)?),
                None => None,
            };
            let filter = match aggregate.filter {
                Some(filter) => Some(evaluate_column(plan, &columns, rows, filter)?),
                None => None,
            };
            arguments.push((values, filter));
        }
        for row in 0..rows {
            let keys: Vec<Value> = spec.keys.iter().map(|(key, _, _)| columns.value(*key, row)).collect();
            let Value::Timestamp(time) = columns.value(timestamp, row) else {
                continue;
            };
            let inputs = arguments
                .iter()
                .map(|(values, filter)| {
                    let passes = filter
                        .as_ref()
                        .is_none_or(|filter| matches!(filter.get(row), Some(Value::Bool(true))));
                    passes.then(|| {
                        values
                            .as_ref()
                            .and_then(|values| values.get(row).cloned())
                            .unwrap_or(Value::Null)
                    })
                })
                .collect();
            let event = Event {
                timestamp: time,
                inputs,
            };
            match &mut entity {
                Some((current, events)) if *current == keys => events.push(event),
                _ => {
                    if let Some((keys, events)) = entity.take() {
                        output.push(&keys, change_rows(spec, &events, scope.emit)?).await?;
                    }
                    entity = Some((keys, vec![event]));
                }
            }
        }
    }
    if let Some((keys, events)) = entity.take() {
        output.push(&keys, change_rows(spec, &events, scope.emit)?).await?;
    }
    output.finish().await
}

/// The next batch of a DataFusion stream.
pub async fn next_batch(stream: &mut SendableRecordBatchStream) -> Result<Option<RecordBatch>, BatchError> {
    let next = std::future::poll_fn(|context| match stream.as_mut().poll_next(context) {
        Poll::Ready(item) => Poll::Ready(item),
        Poll::Pending => Poll::Pending,
    })
    .await;
    Ok(next.transpose()?)
}

/// The table's rows as they are produced, cut into batches sent to the sink.
struct Output {
    schema: SchemaRef,
    keys: Vec<ColumnBuilder>,
    valid_from: ColumnBuilder,
    features: Vec<ColumnBuilder>,
    dt: StringBuilder,
    pending: usize,
    sink: Sink,
    done: Computed,
}

impl Output {
    fn new(spec: &EntityGroupSpec<'_>, sink: Sink) -> Output {
        let schema = entity_schema(spec);
        Output {
            keys: spec.keys.iter().map(|(_, _, ty)| ColumnBuilder::new(ty.base)).collect(),
            valid_from: ColumnBuilder::new(BaseType::Timestamp),
            features: spec
                .outputs
                .iter()
                .map(|id| ColumnBuilder::new(spec.plan.features[*id].ty.base))
                .collect(),
            dt: StringBuilder::new(),
            pending: 0,
            sink,
            done: Computed::default(),
            schema,
        }
    }

    async fn push(&mut self, keys: &[Value], rows: Vec<ChangeRow>) -> Result<(), BatchError> {
        for (instant, values) in rows {
            for (builder, key) in self.keys.iter_mut().zip(keys) {
                builder.push(key)?;
            }
            self.valid_from.push(&Value::Timestamp(instant))?;
            for (builder, value) in self.features.iter_mut().zip(&values) {
                builder.push(value)?;
            }
            let day = date_text(day_of(instant));
            self.dt.append_value(&day);
            self.done.partitions.insert(day);
            self.pending += 1;
            if self.pending >= BATCH_ROWS {
                self.flush().await?;
            }
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), BatchError> {
        if self.pending == 0 {
            return Ok(());
        }
        let mut columns: Vec<_> = self.keys.iter_mut().map(ColumnBuilder::finish).collect();
        columns.push(self.valid_from.finish());
        columns.extend(self.features.iter_mut().map(ColumnBuilder::finish));
        columns.push(Arc::new(self.dt.finish()));
        self.sink
            .send(RecordBatch::try_new(self.schema.clone(), columns)?)
            .await?;
        self.done.rows += self.pending;
        self.pending = 0;
        Ok(())
    }

    async fn finish(mut self) -> Result<Computed, BatchError> {
        self.flush().await?;
        Ok(self.done)
    }
}
