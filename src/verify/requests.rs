//! Row-level tables and training sets through the feature server's own request path: sampled rows
//! are sent to [`FeatureServer::get_online_features`] shaped as a client sends them — the row's own
//! source columns, feature references for a row-level group, the model's feature service for a
//! training set, and no other source's time — against a scratch store holding each needed entity's
//! timeline from its earliest sampled time on (what a build with that watermark materializes), and
//! every answered value must equal the offline table's bit for bit. The request-time rule, the
//! store codec, the timeline lookup and the JIT are all on this path.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::sync::Arc;

use datafusion::logical_expr::{col, lit};
use mlsys_batch::features::history::{aggregates_of, for_each_history};
use mlsys_batch::store::TableLocation;
use mlsys_batch::training::manifest::Manifest;
use mlsys_batch::training::spec::input_column;
use mlsys_compiler::plan::{FeatureId, GroupId, Plan, SourceId};
use mlsys_compiler::types::BaseType;
use mlsys_kernels::Value;
use mlsys_online::{EntityKey, OnlineStore, RedbStore, TableId, TableMeta, Timeline, meta_name};
use mlsys_serve::FeatureServer;
use mlsys_serve::wire::{decode_value, write_string, write_value};

use super::sample::Reservoir;
use super::{Context, Mismatch, Outcome, key_text};
use crate::tables::each_row;

/// Rows per request sent to the server.
const ROWS_PER_REQUEST: usize = 256;

/// A table whose rows were computed on rows of `source`, and how a client asks for its values.
struct Checked {
    table: TableLocation,
    source: SourceId,
    /// (feature, the table's column holding it).
    columns: Vec<(FeatureId, String)>,
    /// The request's selection: `"features": [...]` or `"feature_service": "..."`, as JSON text.
    selection: String,
    /// A training split's model, whose scores are compared too.
    model: Option<String>,
}

/// A sampled row: its lineage, its offline values, and the processed source row behind it.
pub struct Row {
    pub lineage: (String, i64),
    pub offline: Vec<Value>,
    pub source_row: Vec<Value>,
}

pub async fn verify_tables(context: &Context<'_>, scratch: &Path, outcome: &mut Outcome) -> anyhow::Result<()> {
    let _ = std::fs::remove_dir_all(scratch);
    std::fs::create_dir_all(scratch)?;
    let result = async {
        // One copy of the plan for every table's server.
        let plan = Arc::new(context.plan.clone());
        for (index, checked) in checked_tables(context)?.into_iter().enumerate() {
            let store_path = scratch.join(format!("{index}.redb"));
            verify_table(context, &plan, &checked, &store_path, outcome).await?;
        }
        anyhow::Ok(())
    }
    .await;
    let _ = std::fs::remove_dir_all(scratch);
    result
}

/// Every row-level group's table and every model's current training splits.
fn checked_tables(context: &Context<'_>) -> anyhow::Result<Vec<Checked>> {
    let plan = context.plan;
    let mut checked = Vec::new();
    for (_, group) in plan.groups.iter().filter(|(_, group)| group.entity.is_none()) {
        let mut references = String::from("\"features\":[");
        for (index, id) in group.features.iter().enumerate() {
            if index > 0 {
                references.push(',');
            }
            write_string(
                &mut references,
                &format!("{}@v{}:{}", group.name, group.version, plan.features[*id].name),
            );
        }
        references.push(']');
        checked.push(Checked {
            table: context.store.features(&group.name, group.version),
            source: group.source,
            columns: group
                .features
                .iter()
                .map(|id| (*id, plan.features[*id].name.clone()))
                .collect(),
            selection: references,
            model: None,
        });
    }
    for (_, model) in plan.models.iter() {
        let Some(id) = context.state.training.get(&model.name) else {
            continue;
        };
        let set = context.store.root().join(format!("training/{}/{id}", model.name));
        let Some(manifest) = Manifest::read(&set)? else {
            continue;
        };
        let mut service = String::from("\"feature_service\":");
        write_string(&mut service, &model.name);
        for split in [&manifest.snapshot, &manifest.holdout] {
            checked.push(Checked {
                table: TableLocation {
                    name: split.table.clone(),
                    path: context.store.root().join(&split.table),
                },
                source: model.examples,
                columns: model.features.iter().map(|id| (*id, input_column(plan, *id))).collect(),
                selection: service.clone(),
                model: Some(model.name.clone()),
            });
        }
    }
    Ok(checked)
}

async fn verify_table(
    context: &Context<'_>,
    plan: &Arc<Plan>,
    checked: &Checked,
    store_path: &Path,
    outcome: &mut Outcome,
) -> anyhow::Result<()> {
    if !checked.table.exists() || checked.columns.is_empty() {
        return Ok(());
    }
    let rows = sample_rows(context, checked).await?;
    let scratch: Arc<dyn OnlineStore> = Arc::new(RedbStore::open(store_path)?);
    materialize_for(context, checked, &rows, scratch.as_ref()).await?;
    let server = FeatureServer::new(plan.clone(), scratch)?;
    for chunk in rows.chunks(ROWS_PER_REQUEST) {
        let body = request_body(context.plan, checked, chunk);
        let answer = server.get_online_features(body.as_bytes()).await.map_err(|error| {
            anyhow::anyhow!(
                "{}: the feature server refused a client's request: {error}",
                checked.table.name
            )
        })?;
        compare_answer(context.plan, checked, chunk, &answer, outcome)?;
        if let Some(model) = checked.model.as_ref().and_then(|name| context.models.get(name)) {
            super::scores::compare(context.plan, &server, model, &checked.table.name, chunk, outcome).await?;
        }
    }
    Ok(())
}

/// A reservoir sample of the table's rows, each with the processed source row behind it.
async fn sample_rows(context: &Context<'_>, checked: &Checked) -> anyhow::Result<Vec<Row>> {
    let plan = context.plan;
    let mut wanted: Vec<(&str, BaseType)> = vec![("_file", BaseType::String), ("_row", BaseType::Int64)];
    wanted.extend(
        checked
            .columns
            .iter()
            .map(|(id, name)| (name.as_str(), plan.features[*id].ty.base)),
    );
    let mut reservoir = Reservoir::new(context.sample);
    each_row(&checked.table, &wanted, None, &mut |row| {
        reservoir.offer(row.to_vec());
        Ok(())
    })
    .await?;
    let sampled = reservoir.into_items();
    let mut by_lineage: HashMap<(String, i64), Vec<Value>> = HashMap::new();
    for row in &sampled {
        if let (Value::String(file), Value::Int(number)) = (&row[0], &row[1]) {
            by_lineage.insert((file.to_string(), *number), Vec::new());
        }
    }
    let source = &plan.sources[checked.source];
    let mut columns: Vec<(&str, BaseType)> = source
        .columns
        .iter()
        .map(|column| (column.name.as_str(), column.ty.base))
        .collect();
    columns.push(("_file", BaseType::String));
    columns.push(("_row", BaseType::Int64));
    let files: BTreeSet<String> = by_lineage.keys().map(|(file, _)| file.clone()).collect();
    let filter = col("_file").in_list(files.into_iter().map(lit).collect(), false);
    let count = source.columns.len();
    each_row(
        &context.store.processed(&source.name),
        &columns,
        Some(filter),
        &mut |row| {
            if let (Value::String(file), Value::Int(number)) = (&row[count], &row[count + 1])
                && let Some(slot) = by_lineage.get_mut(&(file.to_string(), *number))
            {
                *slot = row[..count].to_vec();
            }
            Ok(())
        },
    )
    .await?;
    sampled
        .into_iter()
        .map(|row| {
            let (Value::String(file), Value::Int(number)) = (&row[0], &row[1]) else {
                anyhow::bail!("{}: a row without lineage", checked.table.name);
            };
            let lineage = (file.to_string(), *number);
            let source_row = by_lineage
                .remove(&lineage)
                .filter(|row| !row.is_empty())
                .ok_or_else(|| {
                    anyhow::anyhow!(
                        "{}: {} row {} is not in processed/{}",
                        checked.table.name,
                        lineage.0,
                        lineage.1,
                        source.name
                    )
                })?;
            Ok(Row {
                lineage,
                offline: row[2..].to_vec(),
                source_row,
            })
        })
        .collect()
}

/// Writes, for every entity group the table's features read, each sampled row's entity timeline
/// from the entity's earliest sampled time on, and the group's metadata.
async fn materialize_for(
    context: &Context<'_>,
    checked: &Checked,
    rows: &[Row],
    scratch: &dyn OnlineStore,
) -> anyhow::Result<()> {
    let plan = context.plan;
    let source = &plan.sources[checked.source];
    let time_column = source
        .timestamp
        .ok_or_else(|| anyhow::anyhow!("source `{}` has no timestamp", source.name))? as usize;
    let features: Vec<FeatureId> = checked.columns.iter().map(|(id, _)| *id).collect();
    for group_id in groups_read(plan, &features)? {
        let group = &plan.groups[group_id];
        let entity = group
            .entity
            .and_then(|entity| plan.entities.get(entity))
            .ok_or_else(|| anyhow::anyhow!("`{}` has no entity", group.name))?;
        let key_columns: Vec<usize> = entity
            .keys
            .iter()
            .map(|key| {
                source
                    .column_index(&key.name)
                    .map(|index| index as usize)
                    .ok_or_else(|| anyhow::anyhow!("`{}` has no column `{}`", source.name, key.name))
            })
            .collect::<anyhow::Result<_>>()?;
        let mut earliest: HashMap<String, i64> = HashMap::new();
        for row in rows {
            let keys: Vec<Value> = key_columns.iter().map(|index| row.source_row[*index].clone()).collect();
            let time = match row.source_row[time_column] {
                Value::Timestamp(time) => time,
                _ => i64::MIN,
            };
            let slot = earliest.entry(key_text(&keys)).or_insert(time);
            *slot = (*slot).min(time);
        }
        write_group(context, group_id, &earliest, scratch).await?;
    }
    Ok(())
}

async fn write_group(
    context: &Context<'_>,
    group_id: GroupId,
    earliest: &HashMap<String, i64>,
    scratch: &dyn OnlineStore,
) -> anyhow::Result<()> {
    let plan = context.plan;
    let group = &plan.groups[group_id];
    let aggregates = aggregates_of(plan, group_id);
    let table = TableId::new(&group.name, group.version)?;
    let mut records = Vec::new();
    for_each_history(plan, context.store, group_id, &mut |history| {
        if let Some(time) = earliest.get(&key_text(&history.keys)) {
            let timeline = Timeline::from_history(history.points, aggregates.len(), *time);
            records.push((EntityKey::new(history.keys), timeline.to_record(*time)));
        }
        Ok(())
    })
    .await?;
    scratch.write(&table, &records).await?;
    let meta = TableMeta {
        group_hash: group.hash.0.clone(),
        features: aggregates.iter().map(|id| plan.features[*id].name.clone()).collect(),
        watermark: earliest.values().copied().min().unwrap_or(0),
        stamp: "verify".to_string(),
        exact_from: None,
    };
    scratch
        .put_meta(&meta_name(&table), &serde_json::to_vec(&meta)?)
        .await?;
    Ok(())
}

/// The entity groups whose aggregates the compiled features read.
fn groups_read(plan: &Plan, features: &[FeatureId]) -> anyhow::Result<BTreeSet<GroupId>> {
    let compiled = mlsys_jit::compile(plan, features)?;
    Ok(compiled
        .inputs()
        .iter()
        .filter_map(|slot| match slot {
            mlsys_jit::Slot::Feature { feature, .. } => Some(plan.features[*feature].group),
            mlsys_jit::Slot::Column { .. } => None,
        })
        .collect())
}

/// A request as a client of the source sends it: every column of the source's rows.
fn request_body(plan: &Plan, checked: &Checked, rows: &[Row]) -> String {
    let source = &plan.sources[checked.source];
    let mut body = String::from("{");
    body.push_str(&checked.selection);
    body.push_str(",\"full_feature_names\":true,\"entities\":{");
    for (index, column) in source.columns.iter().enumerate() {
        if index > 0 {
            body.push(',');
        }
        write_string(&mut body, &column.name);
        body.push_str(":[");
        for (position, row) in rows.iter().enumerate() {
            if position > 0 {
                body.push(',');
            }
            write_value(&mut body, &row.source_row[index]);
        }
        body.push(']');
    }
    body.push_str("}}");
    body
}

fn compare_answer(
    plan: &Plan,
    checked: &Checked,
    rows: &[Row],
    answer: &str,
    outcome: &mut Outcome,
) -> anyhow::Result<()> {
    let answer: serde_json::Value = serde_json::from_str(answer)?;
    let names: BTreeMap<&str, usize> = answer["metadata"]["feature_names"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
        .filter_map(|(index, name)| name.as_str().map(|name| (name, index)))
        .collect();
    let source = &plan.sources[checked.source];
    let time_column = source.timestamp.map(|column| column as usize);
    for (position, (feature, column)) in checked.columns.iter().enumerate() {
        let definition = &plan.features[*feature];
        let group = &plan.groups[definition.group];
        let full_name = format!("{}@v{}__{}", group.name, group.version, definition.name);
        let index = names
            .get(full_name.as_str())
            .ok_or_else(|| anyhow::anyhow!("the server's answer has no column `{full_name}`"))?;
        let values = answer["results"][*index]["values"]
            .as_array()
            .ok_or_else(|| anyhow::anyhow!("the server's answer has no values for `{full_name}`"))?;
        for (row, served) in rows.iter().zip(values) {
            let online = decode_value(served, definition.ty)
                .map_err(|problem| anyhow::anyhow!("`{full_name}` answered {served}: {problem}"))?;
            outcome.compare(Mismatch {
                table: checked.table.name.clone(),
                key: format!("{} row {}", row.lineage.0, row.lineage.1),
                time: time_column.and_then(|column| match row.source_row[column] {
                    Value::Timestamp(time) => Some(time),
                    _ => None,
                }),
                feature: format!("{column} ({})", definition.name),
                offline: row.offline[position].clone(),
                online,
                path: "served",
            });
        }
    }
    Ok(())
}
