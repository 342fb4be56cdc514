//! Evaluating plan expressions on the rows of a batch. Today this is the kernels' reference
//! interpreter, row by row; once the DataFusion lowering (`crate::lower`) lands, aggregate
//! arguments, `where` filters and row-level features become projections of the query instead, and
//! only this module changes.

use datafusion::arrow::array::{Array, ArrayRef, RecordBatch};
use datafusion::arrow::compute::cast;
use mlsys_compiler::plan::{ColumnIndex, ExprId, FeatureId, Plan, SourceId};
use mlsys_compiler::types::BaseType;
use mlsys_kernels::interpret::{Inputs, evaluate, evaluate_features};
use mlsys_kernels::value::Value;

use crate::convert::{arrow_type, value_at};
use crate::error::BatchError;

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

    /// The inputs of row `row`, with `features` answering feature references.
    pub fn row<'b>(&'b self, row: usize, features: &'b dyn Fn(FeatureId) -> Value) -> RowInputs<'b> {
        RowInputs {
            columns: self,
            row,
            features,
        }
    }
}

/// One row of a batch as interpreter inputs.
pub struct RowInputs<'b> {
    columns: &'b BatchColumns,
    row: usize,
    features: &'b dyn Fn(FeatureId) -> Value,
}

impl Inputs for RowInputs<'_> {
    fn column(&self, source: SourceId, column: ColumnIndex) -> Value {
        if source != self.columns.source {
            return Value::Null;
        }
        self.columns.value(column, self.row)
    }

    fn feature(&self, feature: FeatureId) -> Value {
        (self.features)(feature)
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

fn no_features(_: FeatureId) -> Value {
    Value::Null
}

/// The value of `expr` on every row of `columns`' batch (`rows` rows): a column of values.
pub fn evaluate_column(
    plan: &Plan,
    columns: &BatchColumns,
    rows: usize,
    expr: ExprId,
) -> Result<Vec<Value>, BatchError> {
    (0..rows)
        .map(|row| {
            evaluate(plan, expr, &columns.row(row, &no_features))
                .map_err(|error| BatchError::Invalid(format!("evaluating expression {expr}: {error}")))
        })
        .collect()
}

/// The values of `features` (row-level, with the features they read) on one row whose windowed
/// features are answered by `inputs`.
pub fn evaluate_row_features(
    plan: &Plan,
    features: &[FeatureId],
    inputs: &RowInputs<'_>,
) -> Result<Vec<Value>, BatchError> {
    evaluate_features(plan, features, inputs)
        .map_err(|error| BatchError::Invalid(format!("computing a row-level feature: {error}")))
}
