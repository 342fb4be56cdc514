//! Training sets: every example's label and inputs equal what the reference interpreter computes
//! from the processed events (windowed inputs at the example's time, row-level inputs on the example
//! row, the label joined latest-by-timestamp with its default); unchanged inputs rebuild nothing;
//! a changed label writes a new set beside the old; an interrupted set is rebuilt identically.

use std::collections::{BTreeMap, HashMap};

use mlsys_batch::BuildOptions;
use mlsys_batch::training::manifest::Manifest;
use mlsys_compiler::plan::{FeatureKind, ModelId, Plan};
use mlsys_compiler::types::BaseType;
use mlsys_kernels::interpret::{Bindings, evaluate_feature};
use mlsys_kernels::order::total_cmp;
use mlsys_kernels::value::Value;

use crate::reference::{events, key_text, reference};
use crate::support::Project;

fn model_id(plan: &Plan, name: &str) -> ModelId {
    plan.models
        .iter()
        .find(|(_, model)| model.name == name)
        .map(|(id, _)| id)
        .expect("model")
}

/// The expected label of each join key: the latest non-null label row (ties: the greatest value).
async fn expected_labels(project: &Project, plan: &Plan, model: ModelId) -> HashMap<String, Value> {
    let label = &plan.models[model].label;
    let source = &plan.sources[label.source];
    let (_, label_key) = label.join.expect("a joined label");
    let timestamp = source.timestamp.expect("timestamp");
    let columns = [
        (source.columns[label_key as usize].name.as_str(), BaseType::String),
        (
            source.columns[label.column as usize].name.as_str(),
            source.columns[label.column as usize].ty.base,
        ),
        (source.columns[timestamp as usize].name.as_str(), BaseType::Timestamp),
    ];
    let mut best: HashMap<String, (Value, Value)> = HashMap::new();
    for row in project
        .typed_rows(&format!("processed/{}", source.name), &columns)
        .await
    {
        let [key, value, time] = <[Value; 3]>::try_from(row).expect("three columns");
        if value.is_null() {
            continue;
        }
        let key = key.to_string();
        let replace = match best.get(&key) {
            None => true,
            Some((best_time, best_value)) => match total_cmp(&time, best_time).expect("timestamps") {
                std::cmp::Ordering::Greater => true,
                std::cmp::Ordering::Less => false,
                std::cmp::Ordering::Equal => total_cmp(&value, best_value) == Some(std::cmp::Ordering::Greater),
            },
        };
        if replace {
            best.insert(key, (time, value));
        }
    }
    best.into_iter().map(|(key, (_, value))| (key, value)).collect()
}

/// Checks every `sample_every`-th example of both splits of `model`'s current training set against
/// the reference; returns (rows in the tables, examples compared).
async fn check_training_set(project: &Project, plan: &Plan, name: &str, sample_every: usize) -> (usize, usize) {
    let model_id = model_id(plan, name);
    let model = &plan.models[model_id];
    let examples = &plan.sources[model.examples];
    let timestamp = examples.timestamp.expect("timestamp");
    let (example_key, _) = model.label.join.expect("joined label");
    let entity_groups: Vec<_> = plan
        .groups
        .iter()
        .filter(|(_, group)| group.entity.is_some() && group.source == model.examples)
        .map(|(id, _)| id)
        .collect();
    let keys: Vec<String> = plan.entities[plan.groups[entity_groups[0]].entity.expect("entity")]
        .keys
        .iter()
        .map(|key| key.name.clone())
        .collect();
    let events = events(project, plan, model.examples, &keys).await;
    let labels = expected_labels(project, plan, model_id).await;
    let default = model.label.default.as_ref().map_or(Value::Null, Value::from);
    let label_base = plan.sources[model.label.source].columns[model.label.column as usize]
        .ty
        .base;

    let directory = project.store().join(format!("training/{name}"));
    let ids: Vec<_> = std::fs::read_dir(&directory).expect("training dir").collect();
    assert_eq!(ids.len(), 1, "one training set");
    let manifest = Manifest::read(&ids[0].as_ref().expect("entry").path())
        .expect("manifest reads")
        .expect("a manifest");
    let mut columns: Vec<(&str, BaseType)> = vec![
        ("_file", BaseType::String),
        ("_row", BaseType::Int64),
        (examples.columns[timestamp as usize].name.as_str(), BaseType::Timestamp),
        (manifest.label.name.as_str(), label_base),
    ];
    for (feature, column) in model.features.iter().zip(&manifest.features) {
        columns.push((column.column.as_str(), plan.features[*feature].ty.base));
    }
    let (mut rows_seen, mut compared) = (0, 0);
    for (split, range) in [
        (&manifest.snapshot, model.train.snapshot),
        (&manifest.holdout, model.train.holdout),
    ] {
        let rows = project.typed_rows(&split.table, &columns).await;
        assert_eq!(rows.len() as u64, split.rows, "{} rows", split.table);
        rows_seen += rows.len();
        // Every example of the range with a label is there, once.
        let day = |time: i64| time.div_euclid(86_400_000_000) as i32;
        let in_range: Vec<_> = events
            .by_row
            .iter()
            .filter(|(_, (_, time, _))| (range.start..=range.end).contains(&day(*time)))
            .collect();
        assert_eq!(
            rows.len() as u64 + split.unlabeled,
            in_range.len() as u64,
            "{}",
            split.table
        );
        for row in rows.iter().step_by(sample_every) {
            let (Value::String(file), Value::Int(number)) = (&row[0], &row[1]) else {
                panic!("lineage")
            };
            let (key, time, bindings) = &events.by_row[&(file.to_string(), *number as u64)];
            assert_eq!(row[2], Value::Timestamp(*time));
            let join = bindings_value(bindings, plan, model.examples, example_key);
            let expected_label = labels
                .get(&join.to_string())
                .cloned()
                .unwrap_or_else(|| default.clone());
            assert_eq!(row[3], expected_label, "label of {file} row {number}");
            let mut inputs = bindings.clone();
            for group in &entity_groups {
                let features = &plan.groups[*group].features;
                let user_events: Vec<Bindings> = events
                    .by_key
                    .get(key)
                    .map(|events| events.iter().map(|(_, bindings)| bindings.clone()).collect())
                    .unwrap_or_default();
                for (feature, value) in features.iter().zip(reference(plan, features, &user_events, *time)) {
                    inputs = inputs.with_feature(*feature, value);
                }
            }
            for (feature, actual) in model.features.iter().zip(&row[4..]) {
                let expected = match plan.features[*feature].kind {
                    FeatureKind::Aggregate(_) => mlsys_kernels::interpret::Inputs::feature(&inputs, *feature),
                    _ => evaluate_feature(plan, *feature, &inputs).expect("reference"),
                };
                assert_eq!(
                    actual, &expected,
                    "{} of {file} row {number}",
                    plan.features[*feature].name
                );
            }
            compared += 1;
        }
    }
    (rows_seen, compared)
}

fn bindings_value(bindings: &Bindings, plan: &Plan, source: mlsys_compiler::plan::SourceId, column: u32) -> Value {
    let _ = plan;
    mlsys_kernels::interpret::Inputs::column(bindings, source, column)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fraud_training_set_matches_the_reference_interpreter() {
    let project = Project::fraud("training-reference");
    let report = project.build(&BuildOptions::default()).await.expect("build");
    assert_eq!(report.training.len(), 1);
    assert!(report.training[0].built);
    let plan = project.plan();
    let (rows, compared) = check_training_set(&project, &plan, "fraud_detector", 97).await;
    assert_eq!(
        rows as u64,
        report.training[0].snapshot_rows + report.training[0].holdout_rows
    );
    assert!(compared > 500, "{compared}");
}

pub const SPEC: &str = r#"
source payments {
  format = csv
  location = "data/payments"
  timestamp = paid_at
  schema { payment_id: string, user_id: string?, amount: float64?, paid_at: timestamp }
}

source disputes {
  format = csv
  location = "data/disputes"
  timestamp = reported_at
  schema { payment_id: string, lost: bool?, reported_at: timestamp }
}

entity user { key user_id: string }

features spend v1 {
  entity = user
  from = payments
  count_2h = count() over 2h every 1h
  sum_1d = sum(amount) over 1d every 1h
  last_amount = last(amount) over 1d every 1h
  share = if count_2h == 0 then -1.0 else count_2h / 2
}

features pay v1 {
  from = payments
  big = amount > 10.0
  vs_day = amount / (coalesce(spend@v1.sum_1d, 0.0) + 1)
}

model disputes_model {
  examples = payments
  label = disputes.lost on payment_id default false
  features = [pay@v1, spend@v1]
  algorithm = gbdt(trees = 5)
  train {
    snapshot = 2026-03-02 .. 2026-03-02
    holdout = 2026-03-03 .. 2026-03-03
    metric = auc
  }
}

serve disputes_api {
  model = disputes_model@production
  mode = realtime
}
"#;

/// Ties on timestamps, events exactly on tile boundaries, an entity appearing late, null keys and
/// amounts, a payment outside both ranges, an example with no dispute (default) and disputes with
/// ties and corrections.
pub const PAYMENTS_DAY_1: &str = "payment_id,user_id,amount,paid_at
p1,u1,10.0,2026-03-02T09:00:00Z
p2,u1,25.0,2026-03-02T10:00:00Z
p3,u1,5.0,2026-03-02T10:00:00Z
p4,u1,,2026-03-02T10:59:59.999999Z
p5,,40.0,2026-03-02T11:00:00Z
p6,u2,-0.0,2026-03-02T23:59:59.999999Z
";

pub const PAYMENTS_DAY_2: &str = "payment_id,user_id,amount,paid_at
p7,u1,12.5,2026-03-03T00:00:00Z
p8,u3,7.0,2026-03-03T05:00:00Z
p9,u2,1e16,2026-03-03T06:00:00Z
p10,u2,1.0,2026-03-03T06:00:00Z
p12,u4,8.0,2026-03-03T12:00:00Z
";

/// Undated payments around the ranges: u4's earlier events, one long before the ranges (its change
/// points are older than anything a lookup in the ranges may read) and one whose windows reach into
/// the first day; u1's payments just before and just after the ranges.
pub const PAYMENTS_EARLIER: &str = "payment_id,user_id,amount,paid_at
q1,u4,50.0,2026-02-20T08:00:00Z
q2,u4,4.0,2026-03-01T22:30:00Z
p0,u1,1.0,2026-03-01T23:00:00Z
p11,u1,3.0,2026-03-04T00:00:00Z
";

pub const DISPUTES: &str = "payment_id,lost,reported_at
p2,false,2026-03-05T00:00:00Z
p2,true,2026-03-06T00:00:00Z
p3,true,2026-03-05T00:00:00Z
p3,false,2026-03-05T00:00:00Z
p7,,2026-03-08T00:00:00Z
p8,false,2026-03-09T00:00:00Z
p9,true,2026-03-09T00:00:00Z
p9,false,2026-03-08T00:00:00Z
";

fn small_project(name: &str) -> Project {
    Project::with_files(
        name,
        &[
            ("spec.mlsys", SPEC),
            ("data/payments/dt=2026-03-02/part-0.csv", PAYMENTS_DAY_1),
            ("data/payments/dt=2026-03-03/part-0.csv", PAYMENTS_DAY_2),
            ("data/payments/undated.csv", PAYMENTS_EARLIER),
            ("data/disputes/part-0.csv", DISPUTES),
        ],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edge_cases_match_the_reference_and_the_spec() {
    let project = small_project("training-edges");
    let report = project.build(&BuildOptions::default()).await.expect("build");
    let plan = project.plan();
    let (rows, compared) = check_training_set(&project, &plan, "disputes_model", 1).await;
    assert_eq!(
        (rows, compared),
        (11, 11),
        "p0, p11 and u4's earlier payments are outside the ranges"
    );
    assert_eq!(report.training[0].snapshot_rows, 6);
    assert_eq!(report.training[0].holdout_rows, 5);

    // The label rules, by hand: p2 latest (true); p3 tie on time, greater value (true); p7 only a
    // null label row (the default); p9 latest (true); p1 no dispute (the default).
    let manifest_dir = std::fs::read_dir(project.store().join("training/disputes_model"))
        .expect("dir")
        .next()
        .expect("a set")
        .expect("entry")
        .path();
    let manifest = Manifest::read(&manifest_dir).expect("reads").expect("manifest");
    let mut labels = BTreeMap::new();
    for split in [&manifest.snapshot, &manifest.holdout] {
        let rows = project
            .typed_rows(
                &split.table,
                &[
                    ("_file", BaseType::String),
                    ("_row", BaseType::Int64),
                    ("lost", BaseType::Bool),
                    ("spend@v1.count_2h", BaseType::Int64),
                    ("spend@v1.sum_1d", BaseType::Float64),
                ],
            )
            .await;
        for row in rows {
            let id = format!("{}:{}", key_text(&row[..1]).contains("03-03") as u8, row[1]);
            labels.insert(id, (row[2].clone(), row[3].clone(), row[4].clone()));
        }
    }
    let at = |day: u8, row: i64| labels[&format!("{day}:{row}")].clone();
    // Day 1 rows 1.. (p1..p6); row numbers count data rows from 1.
    assert_eq!(at(0, 1).0, Value::Bool(false), "p1: no dispute, default");
    assert_eq!(at(0, 2).0, Value::Bool(true), "p2: the latest dispute");
    assert_eq!(at(0, 3).0, Value::Bool(true), "p3: a tie on time, the greater value");
    assert_eq!(
        at(1, 1).0,
        Value::Bool(false),
        "p7: a null label carries none; the default"
    );
    assert_eq!(at(1, 3).0, Value::Bool(true), "p9: the latest dispute");
    // p2 and p3 at 10:00 exactly: the 2h window of the 10:00 tile holds only p1 (09:00); the event
    // being scored is never in its own window.
    assert_eq!(at(0, 2).1, Value::Int(1));
    assert_eq!(at(0, 3).1, Value::Int(1));
    // p8: u3 appears first at 05:00 on day 2: an empty window.
    assert_eq!(at(1, 2).1, Value::Int(0));
    assert_eq!(at(1, 2).2, Value::Null);
    // p12: u4's earlier payments have all left its windows (its change-point rows from February
    // are not even loaded for the lookup): empty windows again.
    assert_eq!(at(1, 5).1, Value::Int(0));
    assert_eq!(at(1, 5).2, Value::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn training_sets_are_incremental_and_rebuilt_identically() {
    let project = small_project("training-incremental");
    let first = project.build(&BuildOptions::default()).await.expect("build");
    let id = first.training[0].id.clone();
    let set = project.store().join(format!("training/disputes_model/{id}"));
    let snapshot_table = format!("training/disputes_model/{id}/snapshot");
    let holdout_table = format!("training/disputes_model/{id}/holdout");
    let snapshot = project.rows(&snapshot_table).await;
    let holdout = project.rows(&holdout_table).await;
    let manifest = Manifest::read(&set).expect("reads").expect("manifest");

    // Unchanged inputs: the same set, nothing written.
    let second = project.build(&BuildOptions::default()).await.expect("build");
    assert_eq!(second.training[0].id, id);
    assert!(!second.training[0].built);

    // A build interrupted after writing the tables but before the manifest: rebuilt, identical.
    std::fs::remove_file(set.join("manifest.json")).expect("remove manifest");
    let third = project.build(&BuildOptions::default()).await.expect("build");
    assert!(third.training[0].built);
    assert_eq!(third.training[0].id, id);
    assert_eq!(project.rows(&snapshot_table).await, snapshot);
    assert_eq!(project.rows(&holdout_table).await, holdout);
    let rebuilt = Manifest::read(&set).expect("reads").expect("manifest");
    assert_eq!(
        Manifest { run: 0, ..rebuilt },
        Manifest {
            run: 0,
            ..manifest.clone()
        }
    );

    // Deleted entirely (months later): the same id and rows from the same inputs.
    std::fs::remove_dir_all(&set).expect("remove set");
    let fourth = project.build(&BuildOptions::default()).await.expect("build");
    assert_eq!(fourth.training[0].id, id);
    assert_eq!(project.rows(&snapshot_table).await, snapshot);

    // A late label: a new set beside the old one, which stays for the models trained on it.
    std::fs::create_dir_all(project.root.join("data/disputes/dt=2026-03-10")).expect("dir");
    std::fs::write(
        project.root.join("data/disputes/dt=2026-03-10/part-0.csv"),
        "payment_id,lost,reported_at\np1,true,2026-03-10T00:00:00Z\n",
    )
    .expect("late label");
    let fifth = project.build(&BuildOptions::default()).await.expect("build");
    assert!(fifth.training[0].built);
    assert_ne!(fifth.training[0].id, id);
    assert!(set.join("manifest.json").exists(), "the old set stays");
    let plan = project.plan();
    std::fs::remove_dir_all(&set).expect("remove old set");
    check_training_set(&project, &plan, "disputes_model", 1).await;

    // A payment outside the ranges changes nothing.
    std::fs::create_dir_all(project.root.join("data/payments/dt=2026-03-20")).expect("dir");
    std::fs::write(
        project.root.join("data/payments/dt=2026-03-20/part-0.csv"),
        "payment_id,user_id,amount,paid_at\np99,u1,3.0,2026-03-20T00:00:00Z\n",
    )
    .expect("late payment");
    let sixth = project.build(&BuildOptions::default()).await.expect("build");
    assert_eq!(sixth.training[0].id, fifth.training[0].id);
    assert!(!sixth.training[0].built);
}
