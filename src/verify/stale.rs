//! Tables that are not what the plan computes: a feature table that is missing, records another
//! definition or has other columns, and an online table never materialized or materialized from
//! another definition or build. Their values are not compared: verify reports them and fails.

use mlsys_batch::features::expected_table;
use mlsys_batch::features::history::watermark;
use mlsys_online::{OnlineStore, TableId, TableMeta, meta_name};

use super::Context;
use super::online::materialized_groups;

/// Every feature table that is not what the plan computes.
pub async fn stale_feature_tables(context: &Context<'_>) -> anyhow::Result<Vec<String>> {
    let plan = context.plan;
    let mut stale = Vec::new();
    for (group_id, group) in plan.groups.iter() {
        let location = context.store.features(&group.name, group.version);
        let label = format!("{}: `{}@v{}`", location.name, group.name, group.version);
        let expected = expected_table(plan, group_id)?;
        let Some(metadata) = location.metadata().await? else {
            stale.push(format!("{label} has no table"));
            continue;
        };
        if metadata.definition.as_deref() != Some(expected.definition.as_str()) {
            stale.push(format!(
                "{label} was computed from another definition ({}), the plan's is {}",
                metadata.definition.as_deref().unwrap_or("none recorded"),
                expected.definition
            ));
        } else if !metadata.has_columns(&expected.schema)? {
            let columns: Vec<&str> = expected
                .schema
                .fields()
                .iter()
                .map(|field| field.name().as_str())
                .collect();
            stale.push(format!(
                "{label} has the columns ({}), the plan's are ({})",
                metadata.column_list(),
                columns.join(", ")
            ));
        }
    }
    Ok(stale)
}

/// Every materialized group's online table that was never written, or was written from another
/// definition or by another build than the offline tables'.
pub async fn stale_online_tables(context: &Context<'_>, online: &dyn OnlineStore) -> anyhow::Result<Vec<String>> {
    let plan = context.plan;
    let mut stale = Vec::new();
    for group_id in materialized_groups(plan) {
        let group = &plan.groups[group_id];
        let table = TableId::new(&group.name, group.version)?;
        let Some(meta) = online.get_meta(&meta_name(&table)).await? else {
            stale.push(format!("online {table}: never materialized to {}", online.location()));
            continue;
        };
        let meta: TableMeta = serde_json::from_slice(&meta)?;
        if meta.group_hash != group.hash.0 {
            stale.push(format!(
                "online {table}: materialized from another definition (group hash {}), the plan's is {}",
                meta.group_hash, group.hash.0
            ));
        } else if Some(meta.watermark) != watermark(plan, context.state, group_id) {
            stale.push(format!(
                "online {table}: materialized by another build (watermark {})",
                meta.watermark
            ));
        }
    }
    Ok(stale)
}
