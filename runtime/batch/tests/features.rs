//! Feature tables: every value read from a table ("latest `valid_from <= t`" for entity groups,
//! the row itself for row-level groups) equals the reference interpreter's over the same processed
//! events, bit for bit; and the stage is incremental and idempotent.

use std::collections::{BTreeMap, BTreeSet};

use mlsys_batch::BuildOptions;
use mlsys_compiler::plan::{GroupId, Plan};
use mlsys_compiler::types::BaseType;
use mlsys_kernels::interpret::{Bindings, evaluate_feature};
use mlsys_kernels::value::Value;
use mlsys_kernels::window::floor_to;

use crate::reference::{events, group_id, key_text, reference};
use crate::support::Project;

/// The entity group's table: key text → (valid_from, values) in time order.
async fn change_points(project: &Project, plan: &Plan, group: GroupId) -> BTreeMap<String, Vec<(i64, Vec<Value>)>> {
    let definition = &plan.groups[group];
    let entity = &plan.entities[definition.entity.expect("entity group")];
    let mut columns: Vec<(&str, BaseType)> = entity.keys.iter().map(|key| (key.name.as_str(), key.ty.base)).collect();
    columns.push(("valid_from", BaseType::Timestamp));
    for feature in &definition.features {
        let feature = &plan.features[*feature];
        columns.push((feature.name.as_str(), feature.ty.base));
    }
    let name = format!("features/{}/v{}", definition.name, definition.version);
    let mut table: BTreeMap<String, Vec<(i64, Vec<Value>)>> = BTreeMap::new();
    for row in project.typed_rows(&name, &columns).await {
        let keys = &row[..entity.keys.len()];
        assert!(keys.iter().all(|key| !key.is_null()), "a null key in {name}");
        let Value::Timestamp(valid_from) = row[keys.len()] else {
            panic!("valid_from")
        };
        table
            .entry(key_text(keys))
            .or_default()
            .push((valid_from, row[keys.len() + 1..].to_vec()));
    }
    for rows in table.values_mut() {
        rows.sort_by_key(|(valid_from, _)| *valid_from);
        assert!(
            rows.windows(2).all(|pair| pair[0].0 < pair[1].0),
            "duplicate change points in {name}"
        );
    }
    table
}

/// Picks the instants to check an entity at from its event times and change points.
type Instants = dyn Fn(&[i64], &[i64]) -> BTreeSet<i64>;

/// Checks an entity group at the instants `times` picks for each entity (given its event times and
/// change points); returns how many (entity, instant) pairs were compared.
async fn check_entity_group(
    project: &Project,
    plan: &Plan,
    group: GroupId,
    sample_every: usize,
    times: &Instants,
) -> usize {
    let definition = &plan.groups[group];
    let entity = &plan.entities[definition.entity.expect("entity group")];
    let keys: Vec<String> = entity.keys.iter().map(|key| key.name.clone()).collect();
    let events = events(project, plan, definition.source, &keys).await;
    let table = change_points(project, plan, group).await;
    for key in table.keys() {
        assert!(events.by_key.contains_key(key), "{key} has change points but no events");
    }
    let mut compared = 0;
    for (key, entity_events) in events.by_key.iter().step_by(sample_every) {
        let rows = table.get(key).map(Vec::as_slice).unwrap_or_default();
        let instants: Vec<i64> = entity_events.iter().map(|(time, _)| *time).collect();
        let valid_from: Vec<i64> = rows.iter().map(|(valid_from, _)| *valid_from).collect();
        let bindings: Vec<Bindings> = entity_events.iter().map(|(_, bindings)| bindings.clone()).collect();
        for t in times(&instants, &valid_from) {
            let expected = reference(plan, &definition.features, &bindings, t);
            let position = rows.partition_point(|(valid_from, _)| *valid_from <= t);
            let actual = match position.checked_sub(1) {
                Some(index) => rows[index].1.clone(),
                None => reference(plan, &definition.features, &[], t),
            };
            assert_eq!(
                actual,
                expected,
                "{} for {key} at {}",
                definition.name,
                Value::Timestamp(t)
            );
            compared += 1;
        }
    }
    compared
}

/// Instants around every event's tiles for the given resolutions and windows, and around every
/// change point: tile boundaries exactly, one microsecond either side, and the events' own times.
fn boundaries(windows: Vec<(i64, i64)>) -> impl Fn(&[i64], &[i64]) -> BTreeSet<i64> {
    move |events, change_points| {
        let mut instants = BTreeSet::new();
        for event in events {
            instants.extend([*event, event - 1, event + 1]);
            for (window, resolution) in &windows {
                let tile = floor_to(*event, *resolution);
                for boundary in [tile, tile + resolution, tile + resolution + window] {
                    instants.extend([boundary - 1, boundary, boundary + 1]);
                }
            }
        }
        for point in change_points {
            instants.extend([point - 1, *point]);
        }
        instants
    }
}

const HOUR: i64 = 3_600_000_000;
const DAY: i64 = 24 * HOUR;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fraud_feature_tables_match_the_reference_interpreter() {
    let project = Project::fraud("features-reference");
    let report = project.build(&BuildOptions::default()).await.expect("build");
    assert_eq!(report.features.len(), 2, "{:?}", report.features);
    assert!(
        report
            .features
            .iter()
            .all(|feature| feature.full && feature.rows_written > 0)
    );
    let plan = project.plan();
    let activity = group_id(&plan, "user_activity", 1);
    let sample = |events: &[i64], points: &[i64]| -> BTreeSet<i64> {
        let all = boundaries(vec![(7 * DAY, HOUR), (30 * DAY, DAY)])(events, points);
        all.into_iter().step_by(9).collect()
    };
    let compared = check_entity_group(&project, &plan, activity, 97, &sample).await;
    assert!(compared > 500, "{compared}");

    // Row-level: every 250th row of txn_signals@v2 against the interpreter, windowed references
    // computed from the user's events at the row's time.
    let signals = group_id(&plan, "txn_signals", 2);
    let events = events(&project, &plan, plan.groups[signals].source, &["user_id".to_string()]).await;
    let mut columns: Vec<(&str, BaseType)> = vec![("_file", BaseType::String), ("_row", BaseType::Int64)];
    for feature in &plan.groups[signals].features {
        let feature = &plan.features[*feature];
        columns.push((feature.name.as_str(), feature.ty.base));
    }
    let table = project.typed_rows("features/txn_signals/v2", &columns).await;
    assert_eq!(table.len(), events.by_row.len(), "one row per processed row");
    let activity_features = &plan.groups[activity].features;
    for row in table.iter().step_by(250) {
        let (Value::String(file), Value::Int(number)) = (&row[0], &row[1]) else {
            panic!("lineage")
        };
        let (key, time, bindings) = &events.by_row[&(file.to_string(), *number as u64)];
        let user_events: Vec<Bindings> = events.by_key[key]
            .iter()
            .map(|(_, bindings)| bindings.clone())
            .collect();
        let values = reference(&plan, activity_features, &user_events, *time);
        let mut inputs = bindings.clone();
        for (feature, value) in activity_features.iter().zip(values) {
            inputs = inputs.with_feature(*feature, value);
        }
        for (feature, actual) in plan.groups[signals].features.iter().zip(&row[2..]) {
            let expected = evaluate_feature(&plan, *feature, &inputs).expect("reference row feature");
            assert_eq!(
                actual, &expected,
                "{} of {file} row {number}",
                plan.features[*feature].name
            );
        }
    }
}

pub const SMALL_SPEC: &str = r#"
source payments {
  format = csv
  location = "data/payments"
  timestamp = paid_at
  schema { user_id: string?, amount: float64?, qty: int64?, paid_at: timestamp }
}

entity user { key user_id: string }

features recent v1 {
  entity = user
  from = payments
  n_3h = count() over 3h every 1h
  n_amt_3h = count(amount) over 3h every 1h
  sum_3h = sum(amount) over 3h every 1h
  last_3h = last(amount) over 3h every 1h
  big_3h = count() over 3h every 1h where amount > 20.0
  min_2d = min(amount) over 2d every 1d
  max_qty_2d = max(qty) over 2d every 1d
  sum_qty_2d = sum(qty) over 2d every 1d
  avg_qty_2d = avg(qty) over 2d every 1d
  distinct_2d = count_distinct(amount) over 2d every 1d
  share_big = if n_3h == 0 then -1.0 else big_3h / n_3h
}

features signals v1 {
  from = payments
  vs_sum = amount / (coalesce(recent@v1.sum_3h, 0.0) + 1)
  seen = recent@v1.n_3h
  share = recent@v1.share_big
}
"#;

const DAY_1: &str = "user_id,amount,qty,paid_at
u1,10.0,1,2026-03-02T09:10:00Z
u1,25.0,2,2026-03-02T10:30:00Z
u1,5.0,,2026-03-02T11:00:00.000000Z
u1,,3,2026-03-02T11:59:59.999999Z
u1,40.0,9223372036854775807,2026-03-02T12:00:00Z
u1,7.0,9223372036854775807,2026-03-02T12:00:00Z
u1,,4,2026-03-02T12:00:00Z
,15.0,1,2026-03-02T10:00:00Z
u3,-0.0,0,2026-03-02T00:00:00Z
u3,0.0,0,2026-03-02T00:00:00Z
u3,NaN,-5,2026-03-02T23:59:59.999999Z
";

const DAY_2: &str = "user_id,amount,qty,paid_at
u2,100.5,7,2026-03-03T23:00:00Z
u1,1e16,1,2026-03-03T01:00:00Z
u1,1.0,1,2026-03-03T01:30:00Z
u1,-1e16,1,2026-03-03T01:45:00Z
";

/// An event exactly at midnight, in its own day's partition.
const DAY_3: &str = "user_id,amount,qty,paid_at
u2,0.1,,2026-03-04T00:00:00Z
";

pub fn small_project(name: &str) -> Project {
    Project::with_files(
        name,
        &[
            ("spec.mlsys", SMALL_SPEC),
            ("data/payments/dt=2026-03-02/part-0.csv", DAY_1),
            ("data/payments/dt=2026-03-03/part-0.csv", DAY_2),
            ("data/payments/dt=2026-03-04/part-0.csv", DAY_3),
        ],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hand_built_edge_cases_match_the_reference_interpreter() {
    let project = small_project("features-edges");
    let report = project.build(&BuildOptions::default()).await.expect("build");
    assert_eq!(report.sources[0].rows_quarantined, 0, "{:?}", report.sources);
    let plan = project.plan();
    let recent = group_id(&plan, "recent", 1);
    let every = boundaries(vec![(3 * HOUR, HOUR), (2 * DAY, DAY)]);
    let compared = check_entity_group(&project, &plan, recent, 1, &every).await;
    assert!(compared > 100, "{compared}");
    // The worked example of lang-spec/windows.md, section 6.
    let table = change_points(&project, &plan, recent).await;
    let at = |text: &str| -> Vec<Value> {
        let t = mlsys_compiler::syntax::literal::parse_date("2026-03-02").expect("date") as i64 * DAY
            + text
                .split(':')
                .zip([HOUR, 60_000_000])
                .map(|(part, unit)| part.parse::<i64>().expect("n") * unit)
                .sum::<i64>();
        let rows = &table["\"u1\""];
        rows[rows.partition_point(|(valid_from, _)| *valid_from <= t) - 1]
            .1
            .clone()
    };
    assert_eq!(
        at("12:00")[..5],
        [
            Value::Int(4),
            Value::Int(3),
            Value::Float(40.0),
            Value::Float(5.0),
            Value::Int(1)
        ]
    );
    assert_eq!(
        at("13:05")[..5],
        [
            Value::Int(6),
            Value::Int(4),
            Value::Float(77.0),
            Value::Float(40.0),
            Value::Int(2)
        ]
    );

    // Row-level lookups, every row.
    let signals = group_id(&plan, "signals", 1);
    let events = events(&project, &plan, plan.groups[signals].source, &["user_id".to_string()]).await;
    let rows = project
        .typed_rows(
            "features/signals/v1",
            &[
                ("_file", BaseType::String),
                ("_row", BaseType::Int64),
                ("vs_sum", BaseType::Float64),
                ("seen", BaseType::Int64),
                ("share", BaseType::Float64),
            ],
        )
        .await;
    assert_eq!(rows.len(), 16);
    for row in rows {
        let (Value::String(file), Value::Int(number)) = (&row[0], &row[1]) else {
            panic!("lineage")
        };
        let (key, time, bindings) = &events.by_row[&(file.to_string(), *number as u64)];
        let user_events: Vec<Bindings> = events
            .by_key
            .get(key)
            .map(|events| events.iter().map(|(_, bindings)| bindings.clone()).collect())
            .unwrap_or_default();
        let features = &plan.groups[recent].features;
        let mut inputs = bindings.clone();
        for (feature, value) in features.iter().zip(reference(&plan, features, &user_events, *time)) {
            inputs = inputs.with_feature(*feature, value);
        }
        for (feature, actual) in plan.groups[signals].features.iter().zip(&row[2..]) {
            let expected = evaluate_feature(&plan, *feature, &inputs).expect("reference");
            assert_eq!(
                actual, &expected,
                "{} of {file} row {number}",
                plan.features[*feature].name
            );
        }
    }
}

/// The tables as they are equal the tables a full rebuild makes.
async fn assert_equals_full_rebuild(project: &Project, tables: &[&str]) {
    let mut incremental = Vec::new();
    for table in tables {
        incremental.push(project.rows(table).await);
    }
    let options = BuildOptions {
        full_refresh: true,
        ..BuildOptions::default()
    };
    project.build(&options).await.expect("full rebuild");
    for (table, rows) in tables.iter().zip(incremental) {
        assert_eq!(
            rows,
            project.rows(table).await,
            "{table}: incremental differs from a full rebuild"
        );
    }
}

/// The `dt` partitions the last commit of a Delta table wrote, and how many commits it has.
fn last_commit(project: &Project, table: &str) -> (usize, BTreeSet<String>) {
    let (commits, text) = project.last_commit(table);
    let mut partitions = BTreeSet::new();
    for line in text.lines() {
        let action: serde_json::Value = serde_json::from_str(line).expect("json");
        for kind in ["add", "remove"] {
            if let Some(dt) = action[kind]["partitionValues"]["dt"].as_str() {
                partitions.insert(dt.to_string());
            }
        }
    }
    (commits, partitions)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unchanged_inputs_write_nothing_and_a_changed_day_recomputes_only_what_it_reaches() {
    let project = small_project("features-incremental");
    project.build(&BuildOptions::default()).await.expect("first build");
    let tables = ["features/recent/v1", "features/signals/v1"];
    let commits: Vec<usize> = tables.iter().map(|table| last_commit(&project, table).0).collect();
    let report = project.build(&BuildOptions::default()).await.expect("second build");
    assert!(
        report.features.iter().all(|feature| feature.partitions_computed == 0),
        "{:?}",
        report.features
    );
    let after: Vec<usize> = tables.iter().map(|table| last_commit(&project, table).0).collect();
    assert_eq!(after, commits, "an unchanged build must not commit");

    // Change the second day: change points from 2026-03-03 through 2 days + 1 day after its last
    // event (2026-03-03T23:00 → 2026-03-06) are recomputed; 2026-03-02 is left alone.
    std::fs::write(
        project.root.join("data/payments/dt=2026-03-03/part-0.csv"),
        "user_id,amount,qty,paid_at\nu2,3.5,1,2026-03-03T05:00:00Z\nu1,2.0,2,2026-03-03T22:00:00Z\n",
    )
    .expect("rewrite");
    let report = project.build(&BuildOptions::default()).await.expect("third build");
    let (_, recent) = last_commit(&project, "features/recent/v1");
    assert!(!recent.contains("2026-03-02"), "{recent:?}");
    assert!(
        recent
            .iter()
            .all(|day| day.as_str() >= "2026-03-03" && day.as_str() <= "2026-03-06"),
        "{recent:?}"
    );
    let recent_report = &report.features[0];
    assert!(
        !recent_report.full && recent_report.partitions_computed == 4,
        "{recent_report:?}"
    );
    // Row-level: the changed input day, and every day holding rows at or after the first changed event.
    let (_, signals) = last_commit(&project, tables[1]);
    assert_eq!(
        signals,
        BTreeSet::from(["2026-03-03".to_string(), "2026-03-04".to_string()])
    );
    assert_equals_full_rebuild(&project, &tables).await;

    // A vanished input day: its events leave every window, its rows leave the row-level table.
    std::fs::remove_dir_all(project.root.join("data/payments/dt=2026-03-03")).expect("remove a day");
    let report = project.build(&BuildOptions::default()).await.expect("fourth build");
    assert!(
        report.features.iter().all(|feature| !feature.full),
        "{:?}",
        report.features
    );
    assert_equals_full_rebuild(&project, &tables).await;
    let plan = project.plan();
    let every = boundaries(vec![(3 * HOUR, HOUR), (2 * DAY, DAY)]);
    check_entity_group(&project, &plan, group_id(&plan, "recent", 1), 1, &every).await;
}

/// A budget several times smaller than the data (the fraud example's 367,285 change points are
/// about 35 MiB as Arrow arrays): the build spills, finishes, and writes exactly the tables of a
/// build with room to spare.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_build_under_a_small_memory_budget_spills_and_writes_the_same_tables() {
    let roomy = Project::fraud("memory-roomy");
    let roomy_report = roomy.build(&BuildOptions::default()).await.expect("build");
    let tight = Project::fraud("memory-tight");
    let limit = 6 << 20;
    let options = BuildOptions {
        memory_limit: Some(limit),
        ..BuildOptions::default()
    };
    let tight_report = tight.build(&options).await.expect("builds under 6 MiB");
    // Under this budget the lookups of the row-level group and the training set hold a share of
    // the entities at a time, in several passes over their rows.
    let plan = tight.plan();
    let group = group_id(&plan, "txn_signals", 2);
    let spec = mlsys_batch::features::rows::RowGroupSpec::new(&plan, group).expect("row group");
    let store = mlsys_batch::store::OfflineStore::new(tight.store()).with_memory_limit(limit);
    let passes = mlsys_batch::features::asof::LookupPasses::plan(&plan, &store, &spec.lookups, None)
        .await
        .expect("passes");
    assert!(passes.passes > 1, "{passes:?}");
    let training = |report: &mlsys_batch::BuildReport, split: &str| format!("{}/{split}", report.training[0].directory);
    let mut tables: Vec<(String, String)> = [
        "processed/transactions",
        "features/user_activity/v1",
        "features/txn_signals/v2",
    ]
    .map(|table| (table.to_string(), table.to_string()))
    .to_vec();
    for split in ["snapshot", "holdout"] {
        tables.push((training(&tight_report, split), training(&roomy_report, split)));
    }
    for (tight_table, roomy_table) in tables {
        let rows = tight.rows(&tight_table).await;
        assert!(!rows.is_empty(), "{tight_table}");
        assert_eq!(rows, roomy.rows(&roomy_table).await, "{tight_table}");
    }
}
