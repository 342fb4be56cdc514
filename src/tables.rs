//! Reading offline tables back as rows of language values, for the CLI steps that work row by row
//! (verification, training).

use datafusion::prelude::SessionContext;
use mlsys_batch::convert::{arrow_type, value_at};
use mlsys_batch::features::entity::next_batch;
use mlsys_batch::store::TableLocation;
use mlsys_compiler::types::BaseType;
use mlsys_kernels::Value;

/// Calls `each` with every row of a table (optionally filtered), the named columns cast to the
/// types given, as the table is scanned: only one batch is held at a time.
pub async fn each_row(
    table: &TableLocation,
    columns: &[(&str, BaseType)],
    filter: Option<datafusion::logical_expr::Expr>,
    each: &mut dyn FnMut(&[Value]) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let mut frame = SessionContext::new().read_table(table.provider().await?)?;
    if let Some(filter) = filter {
        frame = frame.filter(filter)?;
    }
    let mut stream = frame.execute_stream().await?;
    let mut row = Vec::with_capacity(columns.len());
    while let Some(batch) = next_batch(&mut stream).await? {
        let arrays = columns
            .iter()
            .map(|(name, base)| {
                let array = batch
                    .column_by_name(name)
                    .ok_or_else(|| anyhow::anyhow!("{} has no column `{name}`", table.name))?;
                Ok(datafusion::arrow::compute::cast(array, &arrow_type(*base))?)
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        for index in 0..batch.num_rows() {
            row.clear();
            row.extend(
                arrays
                    .iter()
                    .zip(columns)
                    .map(|(array, (_, base))| value_at(array, index, *base)),
            );
            each(&row)?;
        }
    }
    Ok(())
}
