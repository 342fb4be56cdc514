//! Materialization, the last step of `mlsysc build`: every entity group's windowed aggregates are
//! pushed to the online store as per-entity timelines (`mlsys_online::timeline`) — the change point
//! in force at the build's watermark and every later one — so the online engine answers any request
//! time from then on with exactly the batch tables' value (`build --online-from`: from an earlier
//! time, for replays of past days). A group whose table, watermark and base did not
//! change since the last materialization is skipped (its state is kept in the store's metadata).
//! A group whose table changed but whose definition and `--online-from` did not is re-pushed per
//! entity: an entity whose timeline, cut as the stored one was cut, equals its stored record is
//! left as it is (that record answers every time from the new watermark on just as well), so a
//! new hour of events writes the entities it touched, not the whole table. Writes are
//! newest-wins, so re-running converges.

use std::path::Path;
use std::time::Instant;

use mlsys_batch::features::history::{Histories, aggregates_of, watermark};
use mlsys_batch::state::BuildState;
use mlsys_batch::store::OfflineStore;
use mlsys_compiler::plan::{GroupId, Plan};
use mlsys_online::{EntityKey, OnlineStore, Record, StoreLocation, TableId, TableMeta, Timeline, meta_name};

/// Rows per store write.
const WRITE_BATCH: usize = 10_000;

/// What materializing one group did.
pub struct Materialized {
    pub group: String,
    /// False when nothing changed since the last materialization.
    pub written: bool,
    pub entities: u64,
    /// Entities whose stored record was newer (another build materialized later data).
    pub stale: u64,
    /// Entities whose timeline did not change: their stored record is kept, not written again.
    pub unchanged: u64,
    pub seconds: f64,
}

/// Which change points before the watermark a materialization keeps.
#[derive(Clone, Copy, Debug)]
pub enum Exact {
    /// From the one in force at the watermark.
    Watermark,
    /// From the one in force at this time (µs since the epoch), so that requests of earlier times
    /// are answered point in time too (`build --online-from`, for replays of past days).
    From(i64),
    /// As the store's table was materialized last (`deploy`'s refresh keeps what a build chose).
    AsStored,
}

/// Materializes every entity group, keeping the change points `exact` says.
pub async fn materialize(
    plan: &Plan,
    store: &OfflineStore,
    online: &dyn OnlineStore,
    exact: Exact,
) -> anyhow::Result<Vec<Materialized>> {
    let state = BuildState::load(&store.state_file())?;
    let mut reports = Vec::new();
    for (group_id, group) in plan.groups.iter() {
        if group.entity.is_none() || aggregates_of(plan, group_id).is_empty() {
            continue;
        }
        let started = Instant::now();
        let table = TableId::new(&group.name, group.version)?;
        let mut report = Materialized {
            group: table.to_string(),
            written: false,
            entities: 0,
            stale: 0,
            unchanged: 0,
            seconds: 0.0,
        };
        let name = meta_name(&table);
        let stored = online.get_meta(&name).await?;
        let stored = stored.and_then(|bytes| serde_json::from_slice::<TableMeta>(&bytes).ok());
        let Some(meta) = table_meta(plan, store, &state, group_id, exact, stored.as_ref()) else {
            reports.push(report);
            continue;
        };
        if stored.as_ref() != Some(&meta) {
            let cut = Cut {
                base: meta.base(),
                watermark: meta.watermark,
                previous: comparable(stored.as_ref(), &meta),
            };
            let written = write_group(plan, store, online, group_id, &table, cut).await?;
            online.put_meta(&name, &serde_json::to_vec(&meta)?).await?;
            report.written = true;
            (report.entities, report.stale, report.unchanged) = written;
        }
        report.seconds = started.elapsed().as_secs_f64();
        reports.push(report);
    }
    Ok(reports)
}

/// What the group's table in the store is to be now (`None`: nothing ingested yet).
fn table_meta(
    plan: &Plan,
    store: &OfflineStore,
    state: &BuildState,
    group_id: GroupId,
    exact: Exact,
    stored: Option<&TableMeta>,
) -> Option<TableMeta> {
    let group = &plan.groups[group_id];
    let watermark = watermark(plan, state, group_id)?;
    let exact_from = match exact {
        Exact::Watermark => None,
        Exact::From(from) => Some(from),
        Exact::AsStored => stored.and_then(|stored| stored.exact_from),
    };
    let location = store.features(&group.name, group.version);
    Some(TableMeta {
        group_hash: group.hash.0.clone(),
        features: aggregates_of(plan, group_id)
            .iter()
            .map(|id| plan.features[*id].name.clone())
            .collect(),
        watermark,
        stamp: state.features.get(&location.name).cloned().unwrap_or_default(),
        exact_from: exact_from.filter(|from| *from < watermark),
    })
}

/// The stored table's base and watermark when its records were cut from the same definition and
/// `--online-from`, so that they can be compared entity by entity.
fn comparable(stored: Option<&TableMeta>, meta: &TableMeta) -> Option<(i64, i64)> {
    stored
        .filter(|stored| {
            (&stored.group_hash, &stored.features, stored.exact_from)
                == (&meta.group_hash, &meta.features, meta.exact_from)
        })
        .map(|stored| (stored.base(), stored.watermark))
}

/// How a group's timelines are cut now, and how the stored ones were (`previous`: base and
/// watermark, when stored records may be compared).
struct Cut {
    base: i64,
    watermark: i64,
    previous: Option<(i64, i64)>,
}

/// Writes the group's changed entities: (written, stale, unchanged).
async fn write_group(
    plan: &Plan,
    store: &OfflineStore,
    online: &dyn OnlineStore,
    group: GroupId,
    table: &TableId,
    cut: Cut,
) -> anyhow::Result<(u64, u64, u64)> {
    let width = aggregates_of(plan, group).len();
    // Written a chunk at a time as the histories are read, so only a chunk of records is held.
    let mut histories = Histories::open(plan, store, group).await?;
    let mut rows: Vec<(EntityKey, Record, Option<Record>)> = Vec::with_capacity(WRITE_BATCH);
    let mut counts = (0, 0, 0);
    loop {
        let history = histories.next().await?;
        let last = history.is_none();
        if let Some(history) = history {
            let before = cut.previous.map(|(base, watermark)| {
                Timeline::from_history(history.points.clone(), width, base).to_record(watermark)
            });
            let now = Timeline::from_history(history.points, width, cut.base).to_record(cut.watermark);
            rows.push((EntityKey::new(history.keys), now, before));
        }
        if rows.len() >= WRITE_BATCH || (last && !rows.is_empty()) {
            let (written, stale, unchanged) = write_changed(online, table, &rows).await?;
            counts = (counts.0 + written, counts.1 + stale, counts.2 + unchanged);
            rows.clear();
        }
        if last {
            break;
        }
    }
    Ok(counts)
}

/// Writes the rows whose stored record is not the one they had before (all when there is no
/// `before`): (written, stale, unchanged).
async fn write_changed(
    online: &dyn OnlineStore,
    table: &TableId,
    rows: &[(EntityKey, Record, Option<Record>)],
) -> anyhow::Result<(u64, u64, u64)> {
    let stored = match rows.iter().any(|(_, _, before)| before.is_some()) {
        true => {
            let keys: Vec<EntityKey> = rows.iter().map(|(key, ..)| key.clone()).collect();
            online.read(table, &keys).await?
        }
        false => vec![None; rows.len()],
    };
    let changed: Vec<(EntityKey, Record)> = rows
        .iter()
        .zip(stored)
        .filter(|((_, _, before), stored)| match (before, stored) {
            (Some(before), Some(stored)) => before.encode() != stored.encode(),
            _ => true,
        })
        .map(|((key, now, _), _)| (key.clone(), now.clone()))
        .collect();
    let unchanged = (rows.len() - changed.len()) as u64;
    if changed.is_empty() {
        return Ok((0, 0, unchanged));
    }
    let summary = online.write(table, &changed).await?;
    Ok((summary.written, summary.stale_skipped, unchanged))
}

/// The online store of a project: `--online` if given, else `.mlsys/online.redb` in the project.
/// It prints without its password (the summary, the server's banner, errors).
pub fn online_location(project: &Path, given: Option<&str>) -> StoreLocation {
    match given {
        Some(location) => StoreLocation::new(location),
        None => StoreLocation::new(project.join(".mlsys").join("online.redb").display().to_string()),
    }
}
