//! Whether the online store's tables were materialized from this plan's definitions: each table's
//! `TableMeta` (written by `mlsysc build`) must carry the plan's group hash and aggregate list.
//! A verified table is trusted for a short while, so requests do not pay a metadata round trip
//! each; a failed check is never cached, so a store that comes back is used at once.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use mlsys_compiler::plan::{FeatureKind, GroupId, Plan};
use mlsys_online::{OnlineStore, TableId, TableMeta, meta_name};

use crate::error::ServeError;

/// What the plan expects of one materialized table.
#[derive(Clone, Debug)]
pub struct Expected<'a> {
    pub table: &'a TableId,
    pub group_hash: &'a str,
    pub aggregate_names: &'a [String],
}

/// Tables verified recently.
#[derive(Debug, Default)]
pub struct TableChecks {
    verified: Mutex<HashMap<TableId, Instant>>,
}

impl TableChecks {
    /// Verifies `expected` unless it was verified less than `fresh_for` ago.
    pub async fn ensure(
        &self,
        store: &dyn OnlineStore,
        expected: Expected<'_>,
        fresh_for: Duration,
    ) -> Result<(), ServeError> {
        let is_fresh = self
            .verified()
            .get(expected.table)
            .is_some_and(|checked| checked.elapsed() < fresh_for);
        if is_fresh {
            return Ok(());
        }
        let checked_at = Instant::now();
        match check(store, &expected).await {
            Ok(()) => {
                self.verified().insert(expected.table.clone(), checked_at);
                Ok(())
            }
            Err(error) => {
                self.verified().remove(expected.table);
                Err(error)
            }
        }
    }

    fn verified(&self) -> std::sync::MutexGuard<'_, HashMap<TableId, Instant>> {
        // The map holds no invariant a panicking holder could break.
        self.verified.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Reads and compares a table's metadata. `Ok` when it matches; `NeverMaterialized` when it is
/// missing, `NotMaterialized` when unreadable or of another definition; store errors as they are.
pub async fn check(store: &dyn OnlineStore, expected: &Expected<'_>) -> Result<(), ServeError> {
    let table = expected.table;
    let Some(bytes) = store.get_meta(&meta_name(table)).await? else {
        return Err(ServeError::NeverMaterialized(format!(
            "feature table {table} was never materialized into the online store {}: run `mlsysc build` for this project",
            store.location()
        )));
    };
    let meta: TableMeta = serde_json::from_slice(&bytes).map_err(|error| {
        ServeError::NotMaterialized(format!(
            "feature table {table} in the online store {} has unreadable metadata ({error}): run `mlsysc build` for this project",
            store.location()
        ))
    })?;
    if meta.group_hash != expected.group_hash {
        return Err(ServeError::NotMaterialized(format!(
            "feature table {table} in the online store {} was materialized from another definition of the group \
             (hash {}; this server's plan has {}): run `mlsysc build` for this project, or serve the plan that built it",
            store.location(),
            meta.group_hash,
            expected.group_hash
        )));
    }
    if meta.features != expected.aggregate_names {
        return Err(ServeError::NotMaterialized(format!(
            "feature table {table} in the online store {} holds the aggregates [{}], the plan expects [{}]: run `mlsysc build` for this project",
            store.location(),
            meta.features.join(", "),
            expected.aggregate_names.join(", ")
        )));
    }
    Ok(())
}

/// Every table the plan materializes: entity groups with windowed aggregates.
pub fn materialized_tables(plan: &Plan) -> Vec<(GroupId, TableId, Vec<String>)> {
    plan.groups
        .iter()
        .filter(|(_, group)| group.entity.is_some())
        .filter_map(|(id, group)| {
            let aggregates: Vec<String> = group
                .features
                .iter()
                .map(|feature| &plan.features[*feature])
                .filter(|feature| matches!(feature.kind, FeatureKind::Aggregate(_)))
                .map(|feature| feature.name.clone())
                .collect();
            let table = TableId::new(&group.name, group.version).ok()?;
            (!aggregates.is_empty()).then_some((id, table, aggregates))
        })
        .collect()
}
