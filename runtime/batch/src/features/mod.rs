//! Feature tables, the stage after ingestion: `features/<group>/v<N>` for every feature group.
//!
//! - An **entity group**'s table holds change points: one row per (entity keys, `valid_from`) at
//!   which any feature of the group may change value, with every feature's value valid from then
//!   until the entity's next row ([`changes`], [`entity`]). Reading the group at `t` is an as-of
//!   lookup: the latest row with `valid_from <= t` ([`asof`]). `dt` is the day of `valid_from`.
//! - A **row-level group**'s table holds one row per processed row of its source ([`rows`]), `dt`
//!   being the row's input partition.
//!
//! Incremental: a table is recomputed only for the days its inputs' changes can reach
//! ([`incremental`]), or entirely — with the columns of its current definition, in one commit — when
//! its definition changed, on `--full-refresh`, or when the table is missing or records another
//! definition than its stamp; each table is written in one commit replacing exactly those `dt`
//! partitions; with no change, nothing is written.

pub mod asof;
pub mod changes;
pub mod entity;
pub mod eval;
pub mod history;
pub mod incremental;
pub mod output;
pub mod rows;
pub mod spec;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Instant;

use mlsys_compiler::plan::{GroupId, Plan};

use crate::error::BatchError;
use crate::features::entity::{Computed, Scope, column, entity_schema, timestamp_literal};
use crate::features::incremental::{Stamp, affected_days, definition};
use crate::features::output::{date_text, day_of, day_start};
use crate::features::rows::{RowGroupSpec, partitions_of};
use crate::features::spec::EntityGroupSpec;
use crate::state::BuildState;
use crate::store::{OfflineStore, Replace, TableLocation};
use crate::{BuildContext, Progress};

/// What computing one feature table did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FeatureReport {
    /// `group@vN`.
    pub group: String,
    /// The table, e.g. `features/user_activity/v1`.
    pub table: String,
    /// Whether every partition was recomputed (new table, changed definition, `--full-refresh`).
    pub full: bool,
    pub partitions_computed: usize,
    pub partitions_skipped: usize,
    pub rows_written: u64,
    pub seconds: f64,
}

/// The rows a table's write committed and the `dt` partitions they replaced.
struct Write {
    computed: Computed,
    replaced: BTreeSet<String>,
    full: bool,
}

/// Computes every feature table whose inputs changed; entity groups first (row-level groups look
/// them up). The stamp of each table is saved with `state` right after its commit.
pub async fn build_features(
    context: &BuildContext<'_>,
    store: &OfflineStore,
    state: &mut BuildState,
    state_file: &Path,
    progress: &dyn Progress,
) -> Result<Vec<FeatureReport>, BatchError> {
    let plan = context.plan;
    let entity_groups = plan.groups.iter().filter(|(_, group)| group.entity.is_some());
    let row_groups = plan.groups.iter().filter(|(_, group)| group.entity.is_none());
    let order: Vec<GroupId> = entity_groups.chain(row_groups).map(|(id, _)| id).collect();
    let mut reports = Vec::new();
    for group_id in order {
        let started = Instant::now();
        let group = &plan.groups[group_id];
        let location = store.features(&group.name, group.version);
        progress.start(&format!("features {}@v{}", group.name, group.version), 1);
        let previous = state.features.get(&location.name).and_then(|text| Stamp::parse(text));
        let previous = previous.as_ref();
        let (mut stamp, write) = group_work(context, store, state, group_id, &location, previous)
            .await
            .map_err(|error| in_group(&location, error))?;
        let mut report = FeatureReport {
            group: format!("{}@v{}", group.name, group.version),
            table: location.name.clone(),
            ..FeatureReport::default()
        };
        let old_partitions = previous.map(|stamp| stamp.partitions.clone()).unwrap_or_default();
        stamp.partitions = old_partitions;
        if let Some(write) = write {
            let rows = write.computed.rows as u64;
            stamp.partitions.retain(|partition| !write.replaced.contains(partition));
            stamp.partitions.extend(write.computed.partitions);
            report.full = write.full;
            report.partitions_computed = write.replaced.len();
            report.rows_written = rows;
            report.partitions_skipped = stamp.partitions.difference(&write.replaced).count();
        } else {
            report.partitions_skipped = stamp.partitions.len();
        }
        if previous != Some(&stamp) {
            state.features.insert(location.name.clone(), stamp.text());
            state.save(state_file)?;
        }
        progress.advance(1);
        progress.finish();
        report.seconds = started.elapsed().as_secs_f64();
        reports.push(report);
    }
    Ok(reports)
}

/// An error of one table, naming it.
fn in_group(location: &TableLocation, error: BatchError) -> BatchError {
    BatchError::FeatureTable {
        table: location.name.clone(),
        source: Box::new(error),
    }
}

/// What a group's table holds when it is current: the definition fingerprint its last full write
/// recorded, and its columns.
pub struct ExpectedTable {
    pub definition: String,
    pub schema: datafusion::arrow::datatypes::SchemaRef,
}

/// The table `group` has when it is current (`mlsysc verify` compares each table with it).
pub fn expected_table(plan: &Plan, group: GroupId) -> Result<ExpectedTable, BatchError> {
    if plan.groups[group].entity.is_some() {
        let spec = EntityGroupSpec::new(plan, group)?;
        Ok(ExpectedTable {
            definition: table_definition(plan, group, &spec.depends_on),
            schema: entity_schema(&spec),
        })
    } else {
        let spec = RowGroupSpec::new(plan, group)?;
        Ok(ExpectedTable {
            definition: table_definition(plan, group, &spec.depends_on),
            schema: spec.schema(),
        })
    }
}

/// The definition fingerprint of a group's table: its hash and those of the groups it reads.
fn table_definition(plan: &Plan, group: GroupId, depends_on: &BTreeSet<GroupId>) -> String {
    let hashes = std::iter::once(group)
        .chain(depends_on.iter().copied())
        .map(|id| plan.groups[id].hash.0.clone());
    definition(hashes)
}

/// The current stamp of a group's inputs, and what was written (nothing when nothing changed).
async fn group_work(
    context: &BuildContext<'_>,
    store: &OfflineStore,
    state: &BuildState,
    group_id: GroupId,
    location: &TableLocation,
    previous: Option<&Stamp>,
) -> Result<(Stamp, Option<Write>), BatchError> {
    let plan = context.plan;
    if plan.groups[group_id].entity.is_some() {
        let spec = EntityGroupSpec::new(plan, group_id)?;
        let now = current_stamp(context, state, group_id, &spec.depends_on, [spec.source]);
        let write = entity_table(context, store, location, previous, &now, &spec).await?;
        Ok((now, write))
    } else {
        let spec = RowGroupSpec::new(plan, group_id)?;
        let lookups = spec.lookups.iter().map(|(other, _)| plan.groups[*other].source);
        let now = current_stamp(
            context,
            state,
            group_id,
            &spec.depends_on,
            std::iter::once(spec.source).chain(lookups),
        );
        let write = row_table(context, store, location, previous, &now, &spec).await?;
        Ok((now, write))
    }
}

/// The stamp of a group's current inputs.
fn current_stamp(
    context: &BuildContext<'_>,
    state: &BuildState,
    group: GroupId,
    depends_on: &BTreeSet<GroupId>,
    sources: impl IntoIterator<Item = mlsys_compiler::plan::SourceId>,
) -> Stamp {
    let plan = context.plan;
    let sources: BTreeSet<String> = sources.into_iter().map(|id| plan.sources[id].name.clone()).collect();
    Stamp::current(table_definition(plan, group, depends_on), &sources, state)
}

/// The stamp a table is updated incrementally from, or `None` when it is recomputed in full:
/// `--full-refresh`, no stamp, a changed definition, or a table that is not what the stamp says
/// (deleted, or written by another definition: a restored state file, a table replaced by hand).
async fn incremental_base<'s>(
    context: &BuildContext<'_>,
    location: &TableLocation,
    previous: Option<&'s Stamp>,
    now: &Stamp,
) -> Result<Option<&'s Stamp>, BatchError> {
    let Some(previous) = previous else { return Ok(None) };
    if context.options.full_refresh || previous.definition != now.definition {
        return Ok(None);
    }
    let recorded = location.metadata().await?.and_then(|metadata| metadata.definition);
    Ok((recorded.as_deref() == Some(now.definition.as_str())).then_some(previous))
}

/// The partitions a full recomputation replaces besides those it computes: every existing one.
async fn existing_partitions(
    previous: Option<&Stamp>,
    location: &TableLocation,
) -> Result<BTreeSet<String>, BatchError> {
    match previous {
        Some(previous) => {
            let mut partitions = previous.partitions.clone();
            // A table written by a build killed before its stamp was saved may hold more.
            if previous.partitions.is_empty() {
                partitions.extend(partitions_of(location, None).await?);
            }
            Ok(partitions)
        }
        None => partitions_of(location, None).await,
    }
}

async fn entity_table(
    context: &BuildContext<'_>,
    store: &OfflineStore,
    location: &TableLocation,
    previous: Option<&Stamp>,
    now: &Stamp,
    spec: &EntityGroupSpec<'_>,
) -> Result<Option<Write>, BatchError> {
    let Some(previous) = incremental_base(context, location, previous, now).await? else {
        let mut replaced = existing_partitions(previous, location).await?;
        let writer = location
            .defined_writer(
                Some(&now.definition),
                entity_schema(spec),
                Replace::All,
                context.run,
                store.write_buffer(),
            )
            .await?;
        let scope = Scope {
            events: None,
            emit: &|_| true,
        };
        let produced = entity::compute(spec, store, &scope, &writer.sink()).await;
        let (computed, _) = writer.finish(produced).await?;
        replaced.extend(computed.partitions.iter().cloned());
        return Ok(Some(Write {
            computed,
            replaced,
            full: true,
        }));
    };
    let source = &context.plan.sources[spec.source].name;
    let days = affected_days(&previous.changes(now, source).ranges, spec.reach);
    let (Some(first), Some(last)) = (days.first(), days.last()) else {
        return Ok(None);
    };
    let events = (
        day_start(*first).saturating_sub(spec.reach),
        day_start(last.saturating_add(1)),
    );
    let emit = |instant: i64| days.contains(&day_of(instant));
    let replaced: BTreeSet<String> = days.iter().map(|day| date_text(*day)).collect();
    let dates: Vec<String> = replaced.iter().cloned().collect();
    let writer = location
        .defined_writer(
            Some(&now.definition),
            entity_schema(spec),
            Replace::Dates(&dates),
            context.run,
            store.write_buffer(),
        )
        .await?;
    let scope = Scope {
        events: Some(events),
        emit: &emit,
    };
    let produced = entity::compute(spec, store, &scope, &writer.sink()).await;
    let (computed, _) = writer.finish(produced).await?;
    Ok(Some(Write {
        computed,
        replaced,
        full: false,
    }))
}

async fn row_table(
    context: &BuildContext<'_>,
    store: &OfflineStore,
    location: &TableLocation,
    previous: Option<&Stamp>,
    now: &Stamp,
    spec: &RowGroupSpec<'_>,
) -> Result<Option<Write>, BatchError> {
    let plan = context.plan;
    let Some(previous) = incremental_base(context, location, previous, now).await? else {
        let mut replaced = existing_partitions(previous, location).await?;
        let writer = location
            .defined_writer(
                Some(&now.definition),
                spec.schema(),
                Replace::All,
                context.run,
                store.write_buffer(),
            )
            .await?;
        let produced = rows::compute(spec, store, None, &writer.sink()).await;
        let (computed, _) = writer.finish(produced).await?;
        replaced.extend(computed.partitions.iter().cloned());
        return Ok(Some(Write {
            computed,
            replaced,
            full: true,
        }));
    };
    let source = &plan.sources[spec.source];
    let mut partitions = previous.changes(now, &source.name).partitions;
    // A change to a looked-up group's events can change the value read by any later row.
    let first_day = spec
        .lookups
        .iter()
        .flat_map(|(other, _)| {
            previous
                .changes(now, &plan.sources[plan.groups[*other].source].name)
                .ranges
        })
        .map(|(low, _)| day_of(low))
        .min();
    if let (Some(day), Some(timestamp)) = (first_day, source.timestamp) {
        let since = column(&source.columns[timestamp as usize].name).gt_eq(timestamp_literal(day_start(day)));
        partitions.extend(partitions_of(&store.processed(&source.name), Some(since)).await?);
    }
    if partitions.is_empty() {
        return Ok(None);
    }
    let dates: Vec<String> = partitions.iter().cloned().collect();
    let writer = location
        .defined_writer(
            Some(&now.definition),
            spec.schema(),
            Replace::Dates(&dates),
            context.run,
            store.write_buffer(),
        )
        .await?;
    let produced = rows::compute(spec, store, Some(&partitions), &writer.sink()).await;
    let (computed, _) = writer.finish(produced).await?;
    Ok(Some(Write {
        computed,
        replaced: partitions,
        full: false,
    }))
}
