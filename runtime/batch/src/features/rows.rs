//! Row-level feature groups: one row per processed row of the group's source, with its lineage
//! (`_file`, `_row`), its timestamp, the entity keys its `group@vN.feature` references look up, and
//! one column per feature. Windowed features are read from the entity groups' tables with an as-of
//! lookup at the row's time ([`crate::features::asof`]).

use std::collections::BTreeSet;
use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::logical_expr::{Expr, lit};
use datafusion::prelude::SessionContext;
use mlsys_compiler::plan::{ColumnIndex, FeatureId, GroupId, Plan, SourceId};

use crate::convert::arrow_type;
use crate::error::BatchError;
use crate::features::asof::{LookupPasses, Lookups, carried_columns, copied_column, entity_keys, lineage_columns};
use crate::features::entity::{Computed, column, next_batch};
use crate::features::eval::{BatchColumns, evaluate_row_features};
use crate::features::output::add_dates;
use crate::features::spec::{feature_fields, features_read};
use crate::ingest::read::ROW_COLUMN;
use crate::ingest::validate::FILE_COLUMN;
use crate::store::{DATE_PARTITION, OfflineStore, Sink};

/// A row-level group, ready to compute.
pub struct RowGroupSpec<'a> {
    pub plan: &'a Plan,
    pub group: GroupId,
    pub source: SourceId,
    pub outputs: Vec<FeatureId>,
    /// The entity groups looked up, each with the columns of this source holding its keys.
    pub lookups: Vec<(GroupId, Vec<ColumnIndex>)>,
    /// Every other group whose definition this one's values depend on.
    pub depends_on: BTreeSet<GroupId>,
}

impl<'a> RowGroupSpec<'a> {
    pub fn new(plan: &'a Plan, group_id: GroupId) -> Result<RowGroupSpec<'a>, BatchError> {
        let group = &plan.groups[group_id];
        let mut depends_on = BTreeSet::new();
        for id in features_read(plan, &group.features) {
            let owner = plan.features[id].group;
            if owner != group_id {
                depends_on.insert(owner);
            }
        }
        let reader = format!("feature group `{}` v{}", group.name, group.version);
        let lookups = entity_keys(plan, group.source, depends_on.iter().copied(), &reader)?;
        Ok(RowGroupSpec {
            plan,
            group: group_id,
            source: group.source,
            outputs: group.features.clone(),
            lookups,
            depends_on,
        })
    }

    /// The source columns copied into the table: the timestamp, then the lookup keys.
    fn carried_columns(&self) -> Vec<ColumnIndex> {
        carried_columns(self.plan.sources[self.source].timestamp, &self.lookups)
    }

    pub fn schema(&self) -> SchemaRef {
        let source = &self.plan.sources[self.source];
        let mut fields = vec![
            Field::new(FILE_COLUMN, DataType::Utf8, false),
            Field::new(ROW_COLUMN, DataType::UInt64, false),
        ];
        for index in self.carried_columns() {
            let column = &source.columns[index as usize];
            fields.push(Field::new(&column.name, arrow_type(column.ty.base), column.ty.nullable));
        }
        fields.extend(feature_fields(self.plan, &self.outputs));
        fields.push(Field::new(DATE_PARTITION, DataType::Utf8, false));
        Arc::new(Schema::new(fields))
    }
}

/// The distinct `dt` partitions of a table's rows that pass `filter`.
pub async fn partitions_of(
    location: &crate::store::TableLocation,
    filter: Option<Expr>,
) -> Result<BTreeSet<String>, BatchError> {
    if !location.exists() {
        return Ok(BTreeSet::new());
    }
    let mut frame = SessionContext::new().read_table(location.provider().await?)?;
    if let Some(filter) = filter {
        frame = frame.filter(filter)?;
    }
    let batches = frame
        .select(vec![column(DATE_PARTITION)])?
        .distinct()?
        .collect()
        .await?;
    let mut partitions = BTreeSet::new();
    for batch in batches {
        add_dates(&mut partitions, batch.column(0))?;
    }
    Ok(partitions)
}

/// Computes the rows of the processed partitions `partitions` (every partition when `None`),
/// sending them to `sink` batch by batch.
pub async fn compute(
    spec: &RowGroupSpec<'_>,
    store: &OfflineStore,
    partitions: Option<&BTreeSet<String>>,
    sink: &Sink,
) -> Result<Computed, BatchError> {
    let plan = spec.plan;
    let source = &plan.sources[spec.source];
    let mut computed = Computed::default();
    let location = store.processed(&source.name);
    if !location.exists() || partitions.is_some_and(BTreeSet::is_empty) {
        return Ok(computed);
    }
    let passes = LookupPasses::plan(plan, store, &spec.lookups, None).await?;
    let mut frame = store.session()?.read_table(location.provider().await?)?;
    if let Some(partitions) = partitions {
        let list = partitions.iter().map(|partition| lit(partition.clone())).collect();
        frame = frame.filter(column(DATE_PARTITION).in_list(list, false))?;
    }
    for pass in 0..passes.passes {
        let lookups = Lookups::load(plan, store, &spec.lookups, None, passes, pass).await?;
        let mut stream = frame.clone().execute_stream().await?;
        while let Some(batch) = next_batch(&mut stream).await? {
            let batch = lookups.rows_of_pass(plan, spec.source, batch)?;
            if batch.num_rows() > 0 {
                computed.add(compute_batch(spec, &lookups, &batch, sink).await?);
            }
        }
    }
    Ok(computed)
}

/// The rows of one batch of the source: lineage, carried columns, features, `dt`.
async fn compute_batch(
    spec: &RowGroupSpec<'_>,
    lookups: &Lookups,
    batch: &RecordBatch,
    sink: &Sink,
) -> Result<Computed, BatchError> {
    let plan = spec.plan;
    let source = &plan.sources[spec.source];
    let schema = spec.schema();
    let carried = spec.carried_columns();
    let mut computed = Computed::default();
    let columns = BatchColumns::new(plan, spec.source, batch)?;
    let rows = batch.num_rows();
    let found = lookups.find(&columns, source.timestamp, rows);
    let looked_up = |feature: FeatureId, row: usize| lookups.value(&found[row], feature);
    let outputs = evaluate_row_features(plan, &spec.outputs, &columns, rows, &looked_up)?;
    let fields = schema.fields();
    let mut arrays = lineage_columns(plan, spec.source, batch, &carried, fields)?;
    arrays.push(copied_column(
        batch,
        &source.name,
        DATE_PARTITION,
        &fields[fields.len() - 1],
    )?);
    let dt = arrays.pop().ok_or(BatchError::Internal("no dt column"))?;
    arrays.extend(outputs);
    arrays.push(dt.clone());
    add_dates(&mut computed.partitions, &dt)?;
    computed.rows += batch.num_rows();
    sink.send(RecordBatch::try_new(schema.clone(), arrays)?).await?;
    Ok(computed)
}
