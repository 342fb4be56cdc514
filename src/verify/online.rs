//! The online store against the offline change points: for a reservoir sample of every
//! materialized group's entities, the stored timeline equals the one materialization makes from
//! the offline table ([`Timeline::from_history`] at the stored base: the build's watermark, or
//! `--online-from`'s day), point for point. A stored timeline is compared from the point in force
//! at that base on: an entity whose timeline did not change keeps the record an earlier
//! materialization cut at an earlier base, whose earlier points no request from the base on reads.

use mlsys_batch::features::history::{EntityHistory, aggregates_of, for_each_history};
use mlsys_compiler::plan::{GroupId, Plan};
use mlsys_kernels::Value;
use mlsys_online::{EntityKey, OnlineStore, TableId, TableMeta, Timeline, meta_name};

use super::sample::Reservoir;
use super::{Context, Mismatch, Outcome, key_text};

/// The entity groups with windowed aggregates: the ones materialization writes.
pub fn materialized_groups(plan: &Plan) -> Vec<GroupId> {
    plan.groups
        .iter()
        .filter(|(id, group)| group.entity.is_some() && !aggregates_of(plan, *id).is_empty())
        .map(|(id, _)| id)
        .collect()
}

/// Compares the sampled entities' stored timelines (of a table [`super::stale`] found current);
/// returns the sampled histories.
pub async fn verify_group(
    context: &Context<'_>,
    online: &dyn OnlineStore,
    group_id: GroupId,
    outcome: &mut Outcome,
) -> anyhow::Result<Vec<EntityHistory>> {
    let plan = context.plan;
    let group = &plan.groups[group_id];
    let table = TableId::new(&group.name, group.version)?;
    let meta = stored_meta(online, &table).await?;
    let mut reservoir = Reservoir::new(context.sample);
    for_each_history(plan, context.store, group_id, &mut |history| {
        reservoir.offer(history);
        Ok(())
    })
    .await?;
    let sampled = reservoir.into_items();
    let keys: Vec<EntityKey> = sampled
        .iter()
        .map(|history| EntityKey::new(history.keys.clone()))
        .collect();
    let records = online.read(&table, &keys).await?;
    let name = format!("online {table}");
    let width = meta.features.len();
    for (history, record) in sampled.iter().zip(records) {
        let want = Timeline::from_history(history.points.clone(), width, meta.base());
        let key = key_text(&history.keys);
        let Some(record) = record else {
            outcome.compare(Mismatch {
                table: name.clone(),
                key,
                time: None,
                feature: "(entity)".to_string(),
                offline: Value::string("present"),
                online: Value::Null,
                path: "online",
            });
            continue;
        };
        let stored = Timeline::from_record(&record)?;
        let got = Timeline::from_history(stored.points, width, meta.base());
        compare_timelines(&name, &key, &meta.features, &want, &got, outcome);
    }
    Ok(sampled)
}

async fn stored_meta(online: &dyn OnlineStore, table: &TableId) -> anyhow::Result<TableMeta> {
    let Some(meta) = online.get_meta(&meta_name(table)).await? else {
        anyhow::bail!(
            "{table} was never materialized to {}: run `mlsysc build`",
            online.location()
        );
    };
    Ok(serde_json::from_slice(&meta)?)
}

/// Every point's start and values, then the number of points and where the timeline is exact.
fn compare_timelines(
    table: &str,
    key: &str,
    features: &[String],
    want: &Timeline,
    got: &Timeline,
    outcome: &mut Outcome,
) {
    for ((want_from, want_values), (got_from, got_values)) in want.points.iter().zip(&got.points) {
        let mismatch = |feature: &str, offline: Value, online: Value| Mismatch {
            table: table.to_string(),
            key: key.to_string(),
            time: Some(*want_from),
            feature: feature.to_string(),
            offline,
            online,
            path: "online",
        };
        outcome.compare(mismatch(
            "valid_from",
            Value::Timestamp(*want_from),
            Value::Timestamp(*got_from),
        ));
        for ((feature, offline), online) in features.iter().zip(want_values).zip(got_values) {
            outcome.compare(mismatch(feature, offline.clone(), online.clone()));
        }
    }
    let shape =
        |timeline: &Timeline| Value::string(format!("{} points from {}", timeline.points.len(), timeline.exact_from));
    outcome.compare(Mismatch {
        table: table.to_string(),
        key: key.to_string(),
        time: None,
        feature: "(change points)".to_string(),
        offline: shape(want),
        online: shape(got),
        path: "online",
    });
}
