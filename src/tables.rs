//! Reading offline tables back as rows of language values, for the CLI steps that work row by row
//! (verification, training).

use datafusion::prelude::SessionContext;
use mlsys_batch::convert::{arrow_type, value_at};
use mlsys_batch::store::TableLocation;
use mlsys_compiler::types::BaseType;
use mlsys_kernels::Value;

/// Every row of a table (optionally filtered), the named columns cast to the types given.
pub async fn read_rows(
    table: &TableLocation,
    columns: &[(&str, BaseType)],
    filter: Option<datafusion::logical_expr::Expr>,
) -> anyhow::Result<Vec<Vec<Value>>> {
    let mut frame = SessionContext::new().read_table(table.provider().await?)?;
    if let Some(filter) = filter {
        frame = frame.filter(filter)?;
    }
    let batches = frame.collect().await?;
    let mut rows = Vec::new();
    for batch in &batches {
        let arrays = columns
            .iter()
            .map(|(name, base)| {
                let array = batch
                    .column_by_name(name)
                    .ok_or_else(|| anyhow::anyhow!("{} has no column `{name}`", table.name))?;
                Ok(datafusion::arrow::compute::cast(array, &arrow_type(*base))?)
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        for row in 0..batch.num_rows() {
            rows.push(
                arrays
                    .iter()
                    .zip(columns)
                    .map(|(array, (_, base))| value_at(array, row, *base))
                    .collect(),
            );
        }
    }
    Ok(rows)
}
