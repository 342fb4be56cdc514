//! One split of a training set (`snapshot` or `holdout`): the examples whose timestamp falls on the
//! split's UTC days, in time order, each with its lineage (`_file`, `_row`), its timestamp, the entity
//! keys it is looked up by, its label and every model input — windowed features looked up point in
//! time at (keys, t) in the entity groups' change-point tables (the value of the window ending at
//! `floor(t, resolution)`), row-level features computed on the example row itself. Examples whose
//! label is null are left out of the table and counted.

use std::collections::BTreeSet;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, BooleanArray, RecordBatch};
use datafusion::arrow::compute::{cast, filter_record_batch};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::physical_plan::SendableRecordBatchStream;
use mlsys_compiler::plan::{ColumnIndex, DateRange, FeatureId, Plan, SourceId};
use mlsys_kernels::value::Value;

use crate::convert::arrow_type;
use crate::error::BatchError;
use crate::features::asof::{Lookups, carried_columns, lineage_columns};
use crate::features::entity::{column, next_batch, timestamp_literal};
use crate::features::eval::{BatchColumns, evaluate_row_features};
use crate::features::output::{ColumnBuilder, add_dates, date_text, day_of, day_start};
use crate::ingest::read::ROW_COLUMN;
use crate::ingest::validate::FILE_COLUMN;
use crate::store::{DATE_PARTITION, OfflineStore, Sink};
use crate::training::labels::Labels;
use crate::training::spec::TrainingSpec;

/// What computing a split sent to its table.
#[derive(Debug, Default)]
pub struct Split {
    /// The `dt` partitions (example days) it holds.
    pub partitions: BTreeSet<String>,
    pub rows: u64,
    /// Examples in the range left out because their label is null.
    pub unlabeled: u64,
}

impl Split {
    pub fn add(&mut self, other: Split) {
        self.partitions.extend(other.partitions);
        self.rows += other.rows;
        self.unlabeled += other.unlabeled;
    }
}

impl TrainingSpec<'_> {
    /// The source columns copied into the tables: the timestamp, then the lookup keys.
    fn carried_columns(&self) -> Vec<ColumnIndex> {
        carried_columns(Some(self.timestamp), &self.lookups)
    }

    /// The schema of both splits: lineage, carried columns, the label, the inputs, `dt`.
    pub fn schema(&self) -> SchemaRef {
        let source = &self.plan.sources[self.examples];
        let mut fields = vec![
            Field::new(FILE_COLUMN, DataType::Utf8, false),
            Field::new(ROW_COLUMN, DataType::UInt64, false),
        ];
        for index in self.carried_columns() {
            let column = &source.columns[index as usize];
            fields.push(Field::new(&column.name, arrow_type(column.ty.base), column.ty.nullable));
        }
        fields.push(Field::new(&self.label_name, arrow_type(self.label_type.base), false));
        for (id, name) in &self.features {
            let feature = &self.plan.features[*id];
            fields.push(Field::new(name, arrow_type(feature.ty.base), feature.ty.nullable));
        }
        fields.push(Field::new(DATE_PARTITION, DataType::Utf8, false));
        Arc::new(Schema::new(fields))
    }
}

/// The examples of one batch in time order with the model's inputs ([`each_example`]).
pub struct ExampleRows {
    /// The processed rows of the examples source (its columns, `_file`, `_row`, `dt`).
    pub batch: RecordBatch,
    pub columns: BatchColumns,
    /// Each row's timestamp.
    pub times: Vec<Option<i64>>,
    /// The model's inputs in the spec's order, as their features' Arrow types.
    pub inputs: Vec<ArrayRef>,
}

/// Calls `each` with the examples whose timestamp falls on the days of `range`, of the rows
/// `lookups`' pass computes ([`Lookups::rows_of_pass`]), in time order (lineage breaking ties),
/// each with the model's inputs: windowed features looked up point in time, row-level features
/// computed on the row. Training splits and batch scoring both read their rows through here.
pub async fn each_example<E: From<BatchError>>(
    spec: &TrainingSpec<'_>,
    store: &OfflineStore,
    lookups: &Lookups,
    range: DateRange,
    mut each: impl AsyncFnMut(ExampleRows) -> Result<(), E>,
) -> Result<(), E> {
    let Some(mut stream) = processed_rows_of_days(store, spec.plan, spec.examples, spec.timestamp, range).await? else {
        return Ok(());
    };
    let features: Vec<FeatureId> = spec.features.iter().map(|(id, _)| *id).collect();
    while let Some(batch) = next_batch(&mut stream).await? {
        let rows = example_rows(spec, lookups, &features, batch)?;
        if rows.times.is_empty() {
            continue;
        }
        each(rows).await?;
    }
    Ok(())
}

/// The processed rows of `source` whose `timestamp` column falls on the UTC days of `range`, in
/// time order (lineage breaking ties), streamed; `None` when the source has no processed zone.
/// Training sets, batch scoring and `mlsysc replay` read a period's rows through here.
pub async fn processed_rows_of_days(
    store: &OfflineStore,
    plan: &Plan,
    source: SourceId,
    timestamp: ColumnIndex,
    range: DateRange,
) -> Result<Option<SendableRecordBatchStream>, BatchError> {
    let source = &plan.sources[source];
    let location = store.processed(&source.name);
    if !location.exists() {
        return Ok(None);
    }
    let timestamp_name = &source.columns[timestamp as usize].name;
    let (start, end) = (day_start(range.start), day_start(range.end.saturating_add(1)));
    let in_range = column(timestamp_name)
        .gt_eq(timestamp_literal(start))
        .and(column(timestamp_name).lt(timestamp_literal(end)));
    // Time order (lineage breaking ties) makes the tables reproducible and gives trainers their
    // validation slice; the sort spills under the memory limit.
    let order = [timestamp_name.as_str(), FILE_COLUMN, ROW_COLUMN].map(|name| column(name).sort(true, false));
    let frame = store
        .session()?
        .read_table(location.provider().await?)
        .and_then(|frame| frame.filter(in_range))
        .and_then(|frame| frame.sort(order.to_vec()))?;
    Ok(Some(frame.execute_stream().await?))
}

/// One batch of examples with their inputs, of the rows `lookups`' pass computes.
fn example_rows(
    spec: &TrainingSpec<'_>,
    lookups: &Lookups,
    features: &[FeatureId],
    batch: RecordBatch,
) -> Result<ExampleRows, BatchError> {
    let plan = spec.plan;
    let batch = lookups.rows_of_pass(plan, spec.examples, batch)?;
    let rows = batch.num_rows();
    let columns = BatchColumns::new(plan, spec.examples, &batch)?;
    let times: Vec<Option<i64>> = (0..rows)
        .map(|row| match columns.value(spec.timestamp, row) {
            Value::Timestamp(time) => Some(time),
            _ => None,
        })
        .collect();
    let found = lookups.find(&columns, Some(spec.timestamp), rows);
    let looked_up = |feature: FeatureId, row: usize| lookups.value(&found[row], feature);
    let inputs = evaluate_row_features(plan, features, &columns, rows, &looked_up)?;
    Ok(ExampleRows {
        batch,
        columns,
        times,
        inputs,
    })
}

/// Computes the split of the examples on the days of `range` that `lookups`' pass computes
/// ([`Lookups::rows_of_pass`]), sending its rows to `sink`.
pub async fn compute(
    spec: &TrainingSpec<'_>,
    store: &OfflineStore,
    labels: &Labels<'_>,
    lookups: &Lookups,
    range: DateRange,
    sink: &Sink,
) -> Result<Split, BatchError> {
    let plan = spec.plan;
    let schema = spec.schema();
    let carried = spec.carried_columns();
    let mut split = Split::default();
    each_example(spec, store, lookups, range, async |rows| {
        let ExampleRows {
            batch,
            columns,
            times,
            inputs,
        } = rows;
        let mut label = ColumnBuilder::new(spec.label_type.base);
        let mut dates = ColumnBuilder::new(mlsys_compiler::types::BaseType::String);
        let mut keep = Vec::with_capacity(times.len());
        for (row, time) in times.iter().enumerate() {
            let value = labels.label(&columns, row)?;
            keep.push(!value.is_null() && time.is_some());
            label.push(&value)?;
            let date = time.map_or(Value::Null, |time| Value::string(date_text(day_of(time))));
            dates.push(&date)?;
        }
        let fields = schema.fields();
        let mut arrays = lineage_columns(plan, spec.examples, &batch, &carried, fields)?;
        arrays.push(label.finish());
        for (output, field) in inputs.iter().zip(&fields[2 + carried.len() + 1..]) {
            arrays.push(cast(output, field.data_type())?);
        }
        arrays.push(dates.finish());
        let keep = BooleanArray::from(keep);
        let kept = keep.true_count();
        split.unlabeled += (times.len() - kept) as u64;
        // The label and dt columns are non-null in the schema: build unchecked, then keep the
        // labelled rows.
        let unfiltered = RecordBatch::try_new(nullable(&schema), arrays)?;
        let filtered = filter_record_batch(&unfiltered, &keep)?;
        let filtered = RecordBatch::try_new(schema.clone(), filtered.columns().to_vec())?;
        add_dates(&mut split.partitions, filtered.column(schema.fields().len() - 1))?;
        split.rows += kept as u64;
        sink.send(filtered).await
    })
    .await?;
    Ok(split)
}

/// `schema` with every field nullable.
pub fn nullable(schema: &SchemaRef) -> SchemaRef {
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|field| field.as_ref().clone().with_nullable(true))
        .collect();
    Arc::new(Schema::new(fields))
}
