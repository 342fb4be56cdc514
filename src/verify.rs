//! `mlsysc verify`: recomputes sampled offline values through the online path and reports every
//! value that is not bit-identical.
//!
//! 0. Every feature table (offline, and online as materialized) is what the plan computes: it
//!    exists, records the plan's definition and has its columns; otherwise nothing else is compared
//!    and the exit status is 1.
//! 1. The online store: for sampled entities of every materialized group, the stored timeline
//!    (decoded from the store) equals the change points of the offline table from the watermark's
//!    base on.
//! 2. Row-level feature tables and training sets: for sampled rows, the windowed inputs are looked
//!    up the online way — the entity's timeline as a build with the row's time as watermark would
//!    materialize it, written to and read back from a scratch embedded store, then `at(t)` — and
//!    every row-level and derived value is computed by the JIT from the processed row's fields;
//!    each result must equal the offline table's value bit for bit.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::process::ExitCode;

use datafusion::logical_expr::{col, lit};
use mlsys_batch::features::expected_table;
use mlsys_batch::features::history::{EntityHistory, aggregates_of, for_each_history, watermark};
use mlsys_batch::state::BuildState;
use mlsys_batch::store::{OfflineStore, TableLocation};
use mlsys_batch::training::manifest::Manifest;
use mlsys_batch::training::spec::input_column;
use mlsys_compiler::compile;
use mlsys_compiler::plan::{FeatureId, FeatureKind, GroupId, Plan, SourceId};
use mlsys_compiler::types::BaseType;
use mlsys_kernels::Value;
use mlsys_kernels::aggregate::Accumulator;
use mlsys_online::{EntityKey, Lookup, OnlineStore, RedbStore, TableId, TableMeta, Timeline, meta_name};

use crate::tables::read_rows;
use crate::{project, report};

#[derive(clap::Args)]
pub struct VerifyArgs {
    /// Project directory.
    #[arg(default_value = ".")]
    path: PathBuf,
    /// The offline store (default: `.mlsys/offline` in the project).
    #[arg(long, value_name = "DIR")]
    offline: Option<PathBuf>,
    /// The online store (default: `.mlsys/online.redb` in the project).
    #[arg(long, value_name = "LOCATION", env = "MLSYS_ONLINE")]
    online: Option<String>,
    /// Key namespace in a shared online store.
    #[arg(long, value_name = "NAME", default_value = mlsys_online::DEFAULT_NAMESPACE)]
    namespace: String,
    /// Rows (or entities) sampled per table, evenly spread.
    #[arg(long, default_value_t = 1000)]
    sample: usize,
}

/// One value that differs.
struct Mismatch {
    table: String,
    row: String,
    feature: String,
    offline: Value,
    online: Value,
}

#[derive(Default)]
struct Outcome {
    /// Table → values compared.
    compared: BTreeMap<String, u64>,
    mismatches: Vec<Mismatch>,
    /// Tables that are not what the plan says (missing, another definition, other columns): their
    /// values are not compared.
    stale_tables: Vec<String>,
}

pub fn verify(arguments: VerifyArgs) -> anyhow::Result<ExitCode> {
    let project = project::load(&arguments.path)?;
    let compilation = compile(&project.files);
    let Some(plan) = &compilation.plan else {
        eprint!("{}", report::human(&compilation.diagnostics, &project.files));
        eprintln!("not verified: {}", report::summary(&compilation.diagnostics));
        return Ok(ExitCode::from(1));
    };
    let directory = project::directory(&arguments.path);
    let store_root = arguments
        .offline
        .clone()
        .unwrap_or_else(|| directory.join(".mlsys").join("offline"));
    let location = crate::materialize::online_location(&directory, arguments.online.as_deref());
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let outcome = runtime.block_on(async {
        let store = OfflineStore::new(&store_root);
        let state = BuildState::load(&store.state_file())?;
        let online = mlsys_online::open_store(&location, &arguments.namespace).await?;
        let mut outcome = Outcome {
            stale_tables: stale_feature_tables(plan, &store).await?,
            ..Outcome::default()
        };
        if !outcome.stale_tables.is_empty() {
            return anyhow::Ok(outcome);
        }
        let histories = Histories::default();
        verify_online_store(
            plan,
            &store,
            &state,
            online.as_ref(),
            arguments.sample,
            &histories,
            &mut outcome,
        )
        .await?;
        if !outcome.stale_tables.is_empty() {
            return anyhow::Ok(outcome);
        }
        let scratch_path = store_root.join("_verify").join("online.redb");
        if let Some(parent) = scratch_path.parent() {
            let _ = std::fs::remove_dir_all(parent);
        }
        let scratch = RedbStore::open(&scratch_path)?;
        let checker = RowChecker {
            plan,
            store: &store,
            scratch: &scratch,
            histories: &histories,
            sample: arguments.sample,
            batches: std::cell::Cell::new(0),
        };
        for (_, group) in plan.groups.iter() {
            if group.entity.is_none() {
                let table = store.features(&group.name, group.version);
                let columns: Vec<(FeatureId, String)> = group
                    .features
                    .iter()
                    .map(|id| (*id, plan.features[*id].name.clone()))
                    .collect();
                checker
                    .check_table(&table, group.source, &columns, &mut outcome)
                    .await?;
            }
        }
        for (_, model) in plan.models.iter() {
            let Some(id) = state.training.get(&model.name) else {
                continue;
            };
            let set = store.root().join(format!("training/{}/{id}", model.name));
            let Some(manifest) = Manifest::read(&set)? else {
                continue;
            };
            let columns: Vec<(FeatureId, String)> =
                model.features.iter().map(|id| (*id, input_column(plan, *id))).collect();
            for split in [&manifest.snapshot, &manifest.holdout] {
                let table = TableLocation {
                    name: split.table.clone(),
                    path: store.root().join(&split.table),
                };
                checker
                    .check_table(&table, model.examples, &columns, &mut outcome)
                    .await?;
            }
        }
        drop(scratch);
        let _ = std::fs::remove_dir_all(store_root.join("_verify"));
        anyhow::Ok(outcome)
    })?;
    if !outcome.stale_tables.is_empty() {
        for problem in &outcome.stale_tables {
            println!("STALE {problem}");
        }
        println!(
            "{} tables do not match the plan: run `mlsysc build`",
            outcome.stale_tables.len()
        );
        return Ok(ExitCode::from(1));
    }
    for (table, compared) in &outcome.compared {
        println!("{table:<48} {compared:>10} values compared");
    }
    for mismatch in outcome.mismatches.iter().take(100) {
        println!(
            "MISMATCH {} {} {}: offline {} ({:?}) vs online {} ({:?})",
            mismatch.table,
            mismatch.row,
            mismatch.feature,
            mismatch.offline,
            bits(&mismatch.offline),
            mismatch.online,
            bits(&mismatch.online)
        );
    }
    let total: u64 = outcome.compared.values().sum();
    println!("{} mismatches in {total} values", outcome.mismatches.len());
    Ok(if outcome.mismatches.is_empty() && total > 0 {
        ExitCode::SUCCESS
    } else {
        if total == 0 {
            eprintln!("nothing to verify: run `mlsysc build` first");
        }
        ExitCode::from(1)
    })
}

/// Every feature table that is not what the plan computes: missing, recording another definition
/// than the plan's, or with other columns.
async fn stale_feature_tables(plan: &Plan, store: &OfflineStore) -> anyhow::Result<Vec<String>> {
    let mut stale = Vec::new();
    for (group_id, group) in plan.groups.iter() {
        let location = store.features(&group.name, group.version);
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
            stale.push(format!(
                "{label} has the columns ({}), the plan's are ({})",
                metadata.column_list(),
                expected
                    .schema
                    .fields()
                    .iter()
                    .map(|field| field.name().as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    Ok(stale)
}

/// A value's bits, for reports (floats by their bit pattern).
fn bits(value: &Value) -> String {
    match value {
        Value::Float(float) => format!("{:#018x}", float.to_bits()),
        other => other.to_string(),
    }
}

async fn verify_online_store(
    plan: &Plan,
    store: &OfflineStore,
    state: &BuildState,
    online: &dyn OnlineStore,
    sample: usize,
    histories: &Histories,
    outcome: &mut Outcome,
) -> anyhow::Result<()> {
    for (group_id, group) in plan.groups.iter() {
        let aggregates = aggregates_of(plan, group_id);
        if group.entity.is_none() || aggregates.is_empty() {
            continue;
        }
        let table = TableId::new(&group.name, group.version)?;
        let Some(meta) = online.get_meta(&meta_name(&table)).await? else {
            outcome
                .stale_tables
                .push(format!("online {table}: never materialized to {}", online.location()));
            continue;
        };
        let meta: TableMeta = serde_json::from_slice(&meta)?;
        if meta.group_hash != group.hash.0 {
            outcome.stale_tables.push(format!(
                "online {table}: materialized from another definition (group hash {}), the plan's is {}",
                meta.group_hash, group.hash.0
            ));
            continue;
        }
        if Some(meta.watermark) != watermark(plan, state, group_id) {
            outcome.stale_tables.push(format!(
                "online {table}: materialized by another build (watermark {})",
                meta.watermark
            ));
            continue;
        }
        let expected = histories.of(plan, store, group_id).await?;
        let step = expected.entities.len().div_ceil(sample.max(1)).max(1);
        let sampled: Vec<_> = expected.entities.iter().step_by(step).cloned().collect();
        let keys: Vec<EntityKey> = sampled
            .iter()
            .map(|history| EntityKey::new(history.keys.clone()))
            .collect();
        let records = online.read(&table, &keys).await?;
        let name = format!("online {table}");
        for (EntityHistory { keys, points }, record) in sampled.into_iter().zip(records) {
            let want = Timeline::from_history(points, aggregates.len(), meta.watermark);
            let row = keys.iter().map(Value::to_string).collect::<Vec<_>>().join(", ");
            let Some(record) = record else {
                outcome.mismatches.push(Mismatch {
                    table: name.clone(),
                    row,
                    feature: "(entity)".to_string(),
                    offline: Value::string("present"),
                    online: Value::Null,
                });
                continue;
            };
            let got = Timeline::from_record(&record)?;
            let mut compared = 0;
            let pairs = want.points.iter().zip(&got.points);
            for ((want_from, want_values), (got_from, got_values)) in pairs {
                let want_row = std::iter::once(Value::Timestamp(*want_from)).chain(want_values.iter().cloned());
                let got_row = std::iter::once(Value::Timestamp(*got_from)).chain(got_values.iter().cloned());
                let names = std::iter::once("valid_from".to_string()).chain(meta.features.iter().cloned());
                for ((feature, offline), online) in names.zip(want_row).zip(got_row) {
                    compared += 1;
                    if offline != online {
                        outcome.mismatches.push(Mismatch {
                            table: name.clone(),
                            row: row.clone(),
                            feature,
                            offline,
                            online,
                        });
                    }
                }
            }
            if want.points.len() != got.points.len() || want.exact_from != got.exact_from {
                outcome.mismatches.push(Mismatch {
                    table: name.clone(),
                    row,
                    feature: "(change points)".to_string(),
                    offline: Value::Int(want.points.len() as i64),
                    online: Value::Int(got.points.len() as i64),
                });
            }
            *outcome.compared.entry(name.clone()).or_default() += compared;
        }
    }
    Ok(())
}

/// Every entity's change points of a group (in key order, with an index by key), read from the
/// offline table once per verification and shared by every check that needs them.
struct GroupHistories {
    entities: Vec<EntityHistory>,
    by_key: HashMap<String, usize>,
}

#[derive(Default)]
struct Histories {
    loaded: std::cell::RefCell<HashMap<GroupId, std::rc::Rc<GroupHistories>>>,
}

impl Histories {
    async fn of(
        &self,
        plan: &Plan,
        store: &OfflineStore,
        group: GroupId,
    ) -> anyhow::Result<std::rc::Rc<GroupHistories>> {
        if let Some(loaded) = self.loaded.borrow().get(&group) {
            return Ok(loaded.clone());
        }
        let mut entities = Vec::new();
        for_each_history(plan, store, group, &mut |history| {
            entities.push(history);
            Ok(())
        })
        .await?;
        let by_key = entities
            .iter()
            .enumerate()
            .map(|(index, history)| (key_text(&history.keys), index))
            .collect();
        let loaded = std::rc::Rc::new(GroupHistories { entities, by_key });
        self.loaded.borrow_mut().insert(group, loaded.clone());
        Ok(loaded)
    }
}

struct RowChecker<'a> {
    plan: &'a Plan,
    store: &'a OfflineStore,
    scratch: &'a RedbStore,
    histories: &'a Histories,
    sample: usize,
    /// Numbers each lookup batch, so scratch keys never collide (the store is newest-wins).
    batches: std::cell::Cell<i64>,
}

impl RowChecker<'_> {
    /// Checks sampled rows of a table holding `columns` (feature, column name) computed on rows of
    /// `source`, identified by their lineage (`_file`, `_row`).
    async fn check_table(
        &self,
        table: &TableLocation,
        source: SourceId,
        columns: &[(FeatureId, String)],
        outcome: &mut Outcome,
    ) -> anyhow::Result<()> {
        let plan = self.plan;
        if !table.exists() || columns.is_empty() {
            return Ok(());
        }
        let mut wanted: Vec<(&str, BaseType)> = vec![("_file", BaseType::String), ("_row", BaseType::Int64)];
        wanted.extend(
            columns
                .iter()
                .map(|(id, name)| (name.as_str(), plan.features[*id].ty.base)),
        );
        let rows = read_rows(table, &wanted, None).await?;
        let step = rows.len().div_ceil(self.sample.max(1)).max(1);
        let sampled: Vec<&Vec<Value>> = rows.iter().step_by(step).collect();
        // The processed rows behind the sample, by lineage.
        let files: BTreeSet<String> = sampled.iter().map(|row| row[0].to_plain()).collect();
        let definition = &plan.sources[source];
        let mut source_columns: Vec<(&str, BaseType)> = definition
            .columns
            .iter()
            .map(|column| (column.name.as_str(), column.ty.base))
            .collect();
        source_columns.push(("_file", BaseType::String));
        source_columns.push(("_row", BaseType::Int64));
        let filter = col("_file").in_list(files.iter().map(|file| lit(file.clone())).collect(), false);
        let processed = read_rows(&self.store.processed(&definition.name), &source_columns, Some(filter)).await?;
        let count = definition.columns.len();
        let by_lineage: HashMap<(String, String), &Vec<Value>> = processed
            .iter()
            .map(|row| ((row[count].to_plain(), row[count + 1].to_plain()), row))
            .collect();
        let features: Vec<FeatureId> = columns.iter().map(|(id, _)| *id).collect();
        let compiled = mlsys_jit::compile(plan, &features)?;
        let lookups = self.lookups(source, &compiled, &sampled, &by_lineage).await?;
        let mut row_buffer = compiled.new_row();
        for (index, row) in sampled.iter().enumerate() {
            let lineage = format!("{} row {}", row[0].to_plain(), row[1]);
            let Some(processed_row) = by_lineage.get(&(row[0].to_plain(), row[1].to_plain())) else {
                anyhow::bail!("{}: {lineage} is not in processed/{}", table.name, definition.name);
            };
            for (slot_index, slot) in compiled.inputs().iter().enumerate() {
                let value = match slot {
                    mlsys_jit::Slot::Column {
                        source: column_source,
                        column,
                        ..
                    } if *column_source == source => processed_row[*column as usize].clone(),
                    mlsys_jit::Slot::Column { .. } => Value::Null,
                    mlsys_jit::Slot::Feature { feature, .. } => {
                        lookups.get(&(index, *feature)).cloned().unwrap_or(Value::Null)
                    }
                };
                row_buffer.set(slot_index, &value)?;
            }
            compiled.run(&mut row_buffer)?;
            for (position, (feature, name)) in columns.iter().enumerate() {
                let online = row_buffer.output(position)?.to_value();
                let offline = row[2 + position].clone();
                if offline != online {
                    outcome.mismatches.push(Mismatch {
                        table: table.name.clone(),
                        row: lineage.clone(),
                        feature: format!("{name} ({})", plan.features[*feature].name),
                        offline,
                        online,
                    });
                }
            }
            *outcome.compared.entry(table.name.clone()).or_default() += columns.len() as u64;
        }
        Ok(())
    }

    /// The windowed inputs of every sampled row, looked up the online way: (row index, feature) →
    /// value.
    async fn lookups(
        &self,
        source: SourceId,
        compiled: &mlsys_jit::CompiledFeatures,
        sampled: &[&Vec<Value>],
        by_lineage: &HashMap<(String, String), &Vec<Value>>,
    ) -> anyhow::Result<HashMap<(usize, FeatureId), Value>> {
        let plan = self.plan;
        let definition = &plan.sources[source];
        let timestamp = definition
            .timestamp
            .ok_or_else(|| anyhow::anyhow!("source `{}` has no timestamp", definition.name))?;
        let mut groups: BTreeMap<GroupId, Vec<FeatureId>> = BTreeMap::new();
        for slot in compiled.inputs() {
            if let mlsys_jit::Slot::Feature { feature, .. } = slot {
                groups.entry(plan.features[*feature].group).or_default().push(*feature);
            }
        }
        let mut values = HashMap::new();
        for (group_id, features) in groups {
            let group = &plan.groups[group_id];
            let entity = &plan.entities[group
                .entity
                .ok_or_else(|| anyhow::anyhow!("`{}` has no entity", group.name))?];
            let key_columns: Vec<usize> = entity
                .keys
                .iter()
                .map(|key| {
                    definition
                        .column_index(&key.name)
                        .map(|index| index as usize)
                        .ok_or_else(|| anyhow::anyhow!("`{}` has no column `{}`", definition.name, key.name))
                })
                .collect::<anyhow::Result<_>>()?;
            let aggregates = aggregates_of(plan, group_id);
            // Each sampled row's keys and time.
            let mut requests = Vec::new();
            for (index, row) in sampled.iter().enumerate() {
                let Some(processed) = by_lineage.get(&(row[0].to_plain(), row[1].to_plain())) else {
                    continue;
                };
                let keys: Vec<Value> = key_columns.iter().map(|column| processed[*column].clone()).collect();
                if let Value::Timestamp(time) = processed[timestamp as usize] {
                    requests.push((index, keys, time));
                }
            }
            let histories = self.histories.of(plan, self.store, group_id).await?;
            // What a build with watermark `t` would materialize, through the store and back.
            let table = TableId::new(&group.name, group.version)?;
            let batch = self.batches.get();
            self.batches.set(batch + 1);
            let records: Vec<(EntityKey, mlsys_online::Record)> = requests
                .iter()
                .map(|(index, keys, time)| {
                    let history = histories
                        .by_key
                        .get(&key_text(keys))
                        .map(|index| histories.entities[*index].points.clone())
                        .unwrap_or_default();
                    let timeline = Timeline::from_history(history, aggregates.len(), *time);
                    (
                        EntityKey::new(vec![Value::Int(batch), Value::Int(*index as i64)]),
                        timeline.to_record(*time),
                    )
                })
                .collect();
            self.scratch.write(&table, &records).await?;
            let keys: Vec<EntityKey> = records.iter().map(|(key, _)| key.clone()).collect();
            let stored = self.scratch.read(&table, &keys).await?;
            let empty: Vec<Value> = aggregates
                .iter()
                .map(|id| empty_value(plan, *id))
                .collect::<anyhow::Result<_>>()?;
            for ((index, keys, time), record) in requests.iter().zip(stored) {
                let record = record.ok_or_else(|| anyhow::anyhow!("the scratch store lost a record"))?;
                let timeline = Timeline::from_record(&record)?;
                let in_force = match timeline.at(*time) {
                    Lookup::Values(values) => values.to_vec(),
                    Lookup::Empty => empty.clone(),
                    Lookup::TooOld => anyhow::bail!("{} at {time}: the timeline starts later", key_text(keys)),
                };
                for feature in &features {
                    let position = aggregates
                        .iter()
                        .position(|id| id == feature)
                        .ok_or_else(|| anyhow::anyhow!("feature {feature} is not an aggregate of `{}`", group.name))?;
                    values.insert((*index, *feature), in_force[position].clone());
                }
            }
        }
        Ok(values)
    }
}

/// The value of an aggregate over an empty window (`count` 0, the others null).
fn empty_value(plan: &Plan, feature: FeatureId) -> anyhow::Result<Value> {
    let FeatureKind::Aggregate(aggregate) = &plan.features[feature].kind else {
        return Ok(Value::Null);
    };
    let argument = aggregate.argument.map(|expr| plan.exprs[expr].ty.base);
    Ok(Accumulator::new(aggregate.function, argument)?.finish())
}

fn key_text(keys: &[Value]) -> String {
    keys.iter().map(Value::to_string).collect::<Vec<_>>().join("\u{1f}")
}

trait Plain {
    fn to_plain(&self) -> String;
}

impl Plain for Value {
    /// A string value's text without quotes; other values as text.
    fn to_plain(&self) -> String {
        match self {
            Value::String(text) => text.to_string(),
            other => other.to_string(),
        }
    }
}
