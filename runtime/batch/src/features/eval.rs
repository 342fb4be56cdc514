//! Evaluating plan expressions on a batch: each expression is lowered to a DataFusion `Expr`
//! (`crate::lower`, kernel-backed where DataFusion's semantics differ) and evaluated vectorized over
//! the batch's columns. Row-level features are evaluated in dependency order, each one becoming a
//! column the next ones can read.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, RecordBatch, new_null_array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{Field, Schema};
use datafusion::common::{Column, DFSchema};
use datafusion::execution::context::ExecutionProps;
use datafusion::logical_expr::Expr;
use datafusion::logical_expr::physical_planning_context::PhysicalPlanningContext;
use datafusion::logical_expr::simplify::SimplifyContext;
use datafusion::optimizer::simplify_expressions::ExprSimplifier;
use datafusion::physical_expr::create_physical_expr;
use mlsys_compiler::plan::{ColumnIndex, ExprId, FeatureId, Plan, SourceId};
use mlsys_compiler::types::BaseType;
use mlsys_kernels::value::Value;

use crate::convert::{arrow_type, value_at};
use crate::error::BatchError;
use crate::features::output::ColumnBuilder;
use crate::lower::Lowering;

/// The columns of one source present in a batch, by the source's column index.
pub struct BatchColumns {
    pub source: SourceId,
    columns: Vec<Option<(ArrayRef, BaseType)>>,
}

impl BatchColumns {
    /// The source's declared columns found (by name) in `batch`, cast to their Arrow types (a scan
    /// may return other encodings, such as string views); others read as null.
    pub fn new(plan: &Plan, source: SourceId, batch: &RecordBatch) -> Result<BatchColumns, BatchError> {
        let columns = plan.sources[source]
            .columns
            .iter()
            .map(|column| {
                batch
                    .column_by_name(&column.name)
                    .map(|array| Ok((typed(array, column.ty.base)?, column.ty.base)))
                    .transpose()
            })
            .collect::<Result<_, BatchError>>()?;
        Ok(BatchColumns { source, columns })
    }

    pub fn value(&self, column: ColumnIndex, row: usize) -> Value {
        match self.columns.get(column as usize) {
            Some(Some((array, base))) => value_at(array, row, *base),
            _ => Value::Null,
        }
    }
}

/// `array` as `convert::arrow_type(base)`, cast when it is encoded otherwise.
pub fn typed(array: &ArrayRef, base: BaseType) -> Result<ArrayRef, BatchError> {
    let target = arrow_type(base);
    if array.data_type() == &target {
        return Ok(array.clone());
    }
    Ok(cast(array, &target)?)
}

/// The column holding feature `feature` in an evaluation batch.
fn feature_column(feature: FeatureId) -> String {
    format!("__feature_{}", feature.0)
}

/// The source's declared columns (typed, by name; missing ones null), plus extra named columns.
fn evaluation_batch(
    plan: &Plan,
    columns: &BatchColumns,
    rows: usize,
    extra: Vec<(String, ArrayRef)>,
) -> Result<RecordBatch, BatchError> {
    let mut fields = Vec::new();
    let mut arrays = Vec::new();
    for (index, column) in plan.sources[columns.source].columns.iter().enumerate() {
        let array = match columns.columns.get(index) {
            Some(Some((array, _))) => array.clone(),
            _ => new_null_array(&arrow_type(column.ty.base), rows),
        };
        fields.push(Field::new(&column.name, array.data_type().clone(), true));
        arrays.push(array);
    }
    for (name, array) in extra {
        fields.push(Field::new(name, array.data_type().clone(), true));
        arrays.push(array);
    }
    Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)?)
}

/// Evaluates a lowered expression over `batch`.
fn evaluate_lowered(expr: &Expr, batch: &RecordBatch) -> Result<ArrayRef, BatchError> {
    let schema = Arc::new(DFSchema::try_from(batch.schema().as_ref().clone())?);
    // Some functions (coalesce) exist only until the simplifier rewrites them, as the planner does.
    let context = SimplifyContext::builder().with_schema(schema.clone()).build();
    let simplified = ExprSimplifier::new(context).simplify(expr.clone())?;
    let physical = create_physical_expr(
        &simplified,
        &schema,
        &ExecutionProps::new(),
        &PhysicalPlanningContext::default(),
    )?;
    Ok(physical.evaluate(batch)?.into_array(batch.num_rows())?)
}

fn lowering<'p>(plan: &'p Plan, source: SourceId) -> Lowering<'p> {
    Lowering::new(
        plan,
        move |column_source, column| {
            let name = if column_source == source {
                plan.sources[column_source].columns[column as usize].name.clone()
            } else {
                String::from("__missing")
            };
            Expr::Column(Column::new_unqualified(name))
        },
        |feature| Expr::Column(Column::new_unqualified(feature_column(feature))),
    )
}

/// The value of `expr` on every row of `columns`' batch (`rows` rows): a column of values.
pub fn evaluate_column(
    plan: &Plan,
    columns: &BatchColumns,
    rows: usize,
    expr: ExprId,
) -> Result<Vec<Value>, BatchError> {
    let batch = evaluation_batch(plan, columns, rows, Vec::new())?;
    let lowered = lowering(plan, columns.source).lower(expr)?;
    let array = evaluate_lowered(&lowered, &batch)?;
    let base = plan.exprs[expr].ty.base;
    Ok((0..rows).map(|row| value_at(&array, row, base)).collect())
}

/// The values of `features` (row-level, with the row-level features they read) on every row of
/// `columns`' batch, one array per feature; `looked_up` answers the windowed and derived features
/// of entity groups, one value per row.
pub fn evaluate_row_features(
    plan: &Plan,
    features: &[FeatureId],
    columns: &BatchColumns,
    rows: usize,
    looked_up: &dyn Fn(FeatureId, usize) -> Value,
) -> Result<Vec<ArrayRef>, BatchError> {
    let needed = crate::features::spec::features_read(plan, features);
    let mut extra: Vec<(String, ArrayRef)> = Vec::new();
    for feature in &needed {
        if matches!(
            plan.features[*feature].kind,
            mlsys_compiler::plan::FeatureKind::Row { .. }
        ) {
            continue;
        }
        let mut builder = ColumnBuilder::new(plan.features[*feature].ty.base);
        for row in 0..rows {
            builder.push(&looked_up(*feature, row))?;
        }
        extra.push((feature_column(*feature), builder.finish()));
    }
    let mut batch = evaluation_batch(plan, columns, rows, extra)?;
    let lowering = lowering(plan, columns.source);
    // Feature ids are in dependency order: each row-level feature reads only earlier ones.
    for feature in &needed {
        let mlsys_compiler::plan::FeatureKind::Row { expr } = plan.features[*feature].kind else {
            continue;
        };
        let array = evaluate_lowered(&lowering.lower(expr)?, &batch)?;
        let mut fields: Vec<Field> = batch
            .schema()
            .fields()
            .iter()
            .map(|field| field.as_ref().clone())
            .collect();
        fields.push(Field::new(feature_column(*feature), array.data_type().clone(), true));
        let mut arrays = batch.columns().to_vec();
        arrays.push(array);
        batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)?;
    }
    features
        .iter()
        .map(|feature| {
            batch
                .column_by_name(&feature_column(*feature))
                .cloned()
                .ok_or(BatchError::NotComputed { feature: *feature })
        })
        .collect()
}
