//! The zero-skew proof on data: after `mlsysc build`, the online store answers every entity at
//! every tile exactly as the reference interpreter computes from the events, and `mlsysc verify`
//! finds no difference between the offline tables and the online path — and reports a value that
//! was tampered with.

use std::fmt::Write;
use std::path::Path;
use std::process::{Command, Output};

use mlsys_compiler::compile;
use mlsys_compiler::plan::{FeatureKind, Plan};
use mlsys_compiler::source::SourceFile;
use mlsys_kernels::Value;
use mlsys_kernels::interpret::{Bindings, evaluate_aggregate};
use mlsys_online::{EntityKey, Lookup, OnlineStore, RedbStore, TableId, Timeline};

fn run(arguments: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mlsysc"))
        .args(arguments)
        .output()
        .expect("mlsysc runs")
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn verify_finds_no_skew_on_the_fraud_example_and_reports_each_tampered_thing_it_reads() {
    let project = crate::support::fraud_project("verify");
    let path = project.display().to_string();
    let build = run(&["build", &path]);
    assert_eq!(build.status.code(), Some(0), "{}", text(&build));
    assert!(text(&build).contains("user_activity@v1"), "{}", text(&build));

    let verify = run(&["verify", &path, "--sample", "300"]);
    let output = text(&verify);
    assert_eq!(verify.status.code(), Some(0), "{output}");
    assert!(output.contains("0 mismatches"), "{output}");
    for table in [
        "online user_activity@v1",
        "features/user_activity/v1 (recomputed from processed/transactions)",
        "features/txn_signals/v2",
        "/snapshot",
        "/holdout",
    ] {
        assert!(output.contains(table), "{table} is verified: {output}");
    }

    // Each thing verify reads, tampered in a copy of the built project, is reported with the
    // table, the key, the time, the feature and both bit patterns.
    let tampered = |name: &str, sample: &str, tamper: &dyn Fn(&Path), expected: &[&str]| {
        let copy = project.with_file_name(format!(
            "{}-{name}",
            project.file_name().and_then(|n| n.to_str()).unwrap_or("p")
        ));
        let _ = std::fs::remove_dir_all(&copy);
        copy_tree(&project, &copy);
        tamper(&copy);
        let verify = run(&["verify", &copy.display().to_string(), "--sample", sample]);
        let output = text(&verify);
        assert_eq!(verify.status.code(), Some(1), "{name}: {output}");
        for line in expected {
            assert!(output.contains(line), "{name}: `{line}` in {output}");
        }
        let _ = std::fs::remove_dir_all(&copy);
    };
    tampered(
        "store",
        // Every one of the 1,996 users, so the tampered one is sampled.
        "2000",
        &tamper_store_record,
        &[
            "MISMATCH online user_activity@v1 [\"user_00727\"] at ",
            " txn_count_7d: offline ",
            "vs online 123456 (0x000000000001e240)",
        ],
    );
    tampered(
        "change-point",
        "100",
        &|project| tamper_table(project, "features/user_activity/v1", "max_amount_30d"),
        &[
            "MISMATCH features/user_activity/v1 (recomputed from processed/transactions) [\"user_",
            " max_amount_30d: offline ",
            "vs recomputed ",
        ],
    );
    tampered(
        "row-level",
        "100",
        &|project| tamper_table(project, "features/txn_signals/v2", "amount_log"),
        &[
            "MISMATCH features/txn_signals/v2 [",
            " row ",
            " amount_log (amount_log): offline ",
            "vs served ",
        ],
    );
    tampered(
        "training-set",
        "100",
        &|project| {
            let set = training_set(project);
            tamper_table(project, &format!("{set}/holdout"), "txn_signals@v2.night");
        },
        &["/holdout [", " txn_signals@v2.night (night): offline ", "vs served "],
    );
    // A training-set input the model splits on: the score `build` evaluated on the set's inputs
    // differs from the score `deploy` gives the client-shaped request.
    tampered(
        "training-set-score",
        "100",
        &|project| {
            let set = training_set(project);
            tamper_table(project, &format!("{set}/holdout"), "txn_signals@v2.amount_log");
        },
        &["/holdout [", " score (fraud_detector v1): offline ", "vs scored "],
    );
    let _ = std::fs::remove_dir_all(project);
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("directory");
    for entry in std::fs::read_dir(from).expect("a directory") {
        let entry = entry.expect("an entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("a type").is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// Changes `user_00727`'s latest stored `txn_count_7d` (same time: the write replaces it).
fn tamper_store_record(project: &Path) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let store = RedbStore::open(&project.join(".mlsys/online.redb")).expect("store opens");
        let table = TableId::new("user_activity", 1).expect("table");
        let key = EntityKey::new(vec![Value::string("user_00727")]);
        let record = store.read(&table, std::slice::from_ref(&key)).await.expect("read")[0]
            .clone()
            .expect("user_00727 is materialized");
        let mut timeline = Timeline::from_record(&record).expect("a timeline");
        let last = timeline.points.len() - 1;
        timeline.points[last].1[0] = Value::Int(123_456);
        store
            .write(&table, &[(key, timeline.to_record(record.valid_at))])
            .await
            .expect("write");
    });
}

/// The model's current training set, `training/fraud_detector/<id>`.
fn training_set(project: &Path) -> String {
    let sets = project.join(".mlsys/offline/training/fraud_detector");
    let entry = std::fs::read_dir(&sets)
        .expect("a training set")
        .map(|entry| entry.expect("an entry"))
        .find(|entry| entry.path().join("manifest.json").exists())
        .expect("a training set with a manifest");
    format!("training/fraud_detector/{}", entry.file_name().to_string_lossy())
}

/// Rewrites a table of the offline store in one Delta commit with every value of `column`
/// changed: floats get 1.0 added, booleans are negated.
fn tamper_table(project: &Path, table: &str, column: &str) {
    use datafusion::arrow::array::{Array, ArrayRef, BooleanArray, Float64Array};
    use datafusion::arrow::compute::kernels::boolean::not;
    use datafusion::arrow::record_batch::RecordBatch;
    use std::sync::Arc;
    let location = mlsys_batch::store::TableLocation {
        name: table.to_string(),
        path: project.join(".mlsys/offline").join(table),
    };
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let provider = location.provider().await.expect("the table opens");
        let batches = datafusion::prelude::SessionContext::new()
            .read_table(provider)
            .expect("a frame")
            .collect()
            .await
            .expect("the rows");
        let schema = batches[0].schema();
        let index = schema.index_of(column).expect("the column");
        // The same definition as the build recorded: only the values are tampered with.
        let definition = location
            .metadata()
            .await
            .expect("the table's metadata")
            .and_then(|metadata| metadata.definition);
        let writer = location
            .defined_writer(
                definition.as_deref(),
                schema.clone(),
                mlsys_batch::store::Replace::All,
                1 << 40,
                64 << 20,
            )
            .await
            .expect("a writer");
        for batch in batches {
            let old = batch.column(index);
            let new: ArrayRef = if let Some(floats) = old.as_any().downcast_ref::<Float64Array>() {
                Arc::new(
                    floats
                        .iter()
                        .map(|value| value.map(|value| value + 1.0))
                        .collect::<Float64Array>(),
                )
            } else {
                let flags = old
                    .as_any()
                    .downcast_ref::<BooleanArray>()
                    .expect("a float or bool column");
                Arc::new(not(flags).expect("negated"))
            };
            let mut columns = batch.columns().to_vec();
            columns[index] = new;
            let changed = RecordBatch::try_new(schema.clone(), columns).expect("a batch");
            writer.sink().send(changed).await.expect("sent");
        }
        writer.finish(Ok(())).await.expect("committed");
    });
}

/// A small project: one CSV source and one entity group of windowed aggregates (also the
/// project of `redaction.rs`).
pub const SPEC: &str = r#"
source clicks {
  format = csv
  location = "data/clicks"
  timestamp = at
  schema { user: string, value: float64?, weight: int64?, at: timestamp }
}

entity visitor { key user: string }

features recent v1 {
  entity = visitor
  from = clicks
  n_2h = count() over 2h every 1h
  n_valued_1d = count(value) over 1d every 1h
  sum_3h = sum(value) over 3h every 1h
  avg_1d = avg(weight) over 1d every 6h
  max_2d = max(value) over 2d every 1d
  last_1d = last(value) over 1d every 1h
  distinct_1d = count_distinct(weight) over 1d every 1h
  big_3h = count() over 3h every 1h where value > 0.5
}
"#;

const HOUR: i64 = 3_600_000_000;

/// A seeded stream: a few users, times clustered on tile boundaries and shared between events,
/// nulls, awkward floats and extreme integers.
fn events(seed: u64) -> Vec<(String, Option<f64>, Option<i64>, i64)> {
    let mut state = seed;
    let mut next = move || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let start = 1_772_409_600_000_000; // 2026-03-02T00:00:00Z
    let mut times = vec![start];
    let mut rows = Vec::new();
    for _ in 0..400 {
        let time = match next() % 4 {
            0 => times[(next() % times.len() as u64) as usize],
            1 => start + (next() % 72) as i64 * HOUR,
            2 => start + (next() % 72) as i64 * HOUR - 1,
            _ => start + (next() % (72 * HOUR as u64)) as i64,
        };
        times.push(time);
        let value = match next() % 8 {
            0 => None,
            1 => Some(-0.0),
            2 => Some(1e16),
            3 => Some(-1e16),
            _ => Some((next() % 1000) as f64 / 997.0),
        };
        let weight = match next() % 6 {
            0 => None,
            1 => Some(i64::MAX),
            2 => Some(i64::MIN + 1),
            _ => Some((next() % 5) as i64),
        };
        rows.push((format!("u{}", next() % 5), value, weight, time));
    }
    rows
}

fn timestamp_text(micros: i64) -> String {
    Value::Timestamp(micros).to_string().trim_matches('"').to_string()
}

fn plan_of(project: &Path) -> Plan {
    let text = std::fs::read_to_string(project.join("spec.mlsys")).expect("spec");
    compile(&[SourceFile::new("spec.mlsys", text)]).plan.expect("compiles")
}

#[test]
fn random_event_streams_are_served_online_exactly_as_the_interpreter_computes_them() {
    for seed in [1u64, 2, 3] {
        let project = std::env::temp_dir().join(format!("mlsysc-skew-{seed}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&project);
        std::fs::create_dir_all(&project).expect("project");
        std::fs::write(project.join("spec.mlsys"), SPEC).expect("spec");
        let rows = events(seed);
        let mut by_day: std::collections::BTreeMap<String, String> = Default::default();
        for (user, value, weight, time) in &rows {
            let day = timestamp_text(*time)[..10].to_string();
            let file = by_day
                .entry(day)
                .or_insert_with(|| "user,value,weight,at\n".to_string());
            let value = value.map(|value| format!("{value:?}")).unwrap_or_default();
            let weight = weight.map(|weight| weight.to_string()).unwrap_or_default();
            writeln!(file, "{user},{value},{weight},{}", timestamp_text(*time)).expect("write");
        }
        for (day, file) in &by_day {
            let directory = project.join(format!("data/clicks/dt={day}"));
            std::fs::create_dir_all(&directory).expect("dir");
            std::fs::write(directory.join("part-0.csv"), file).expect("csv");
        }
        let build = run(&["build", &project.display().to_string()]);
        assert_eq!(build.status.code(), Some(0), "{}", text(&build));

        let plan = plan_of(&project);
        let (source, _) = plan.sources.iter().next().expect("a source");
        let aggregates: Vec<_> = plan
            .features
            .iter()
            .filter(|(_, feature)| matches!(feature.kind, FeatureKind::Aggregate(_)))
            .map(|(id, _)| id)
            .collect();
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        let store = RedbStore::open(&project.join(".mlsys/online.redb")).expect("store");
        let table = TableId::new("recent", 1).expect("table");
        let mut compared = 0;
        for user in (0..5).map(|user| format!("u{user}")) {
            let record = runtime
                .block_on(store.read(&table, &[EntityKey::new(vec![Value::string(user.as_str())])]))
                .expect("read")[0]
                .clone()
                .expect("every user is materialized");
            let timeline = Timeline::from_record(&record).expect("timeline");
            let events: Vec<Bindings> = rows
                .iter()
                .filter(|row| row.0 == user)
                .map(|(user, value, weight, time)| {
                    Bindings::new().with_row(
                        source,
                        [
                            Value::string(user.as_str()),
                            value.map_or(Value::Null, Value::Float),
                            weight.map_or(Value::Null, Value::Int),
                            Value::Timestamp(*time),
                        ],
                    )
                })
                .collect();
            // Every hour boundary from the base to past the last expiry, and one microsecond
            // either side.
            let first = timeline.exact_from.max(record.valid_at - 3 * 24 * HOUR);
            let last = timeline.points.last().map_or(first, |(valid_from, _)| *valid_from) + 2 * HOUR;
            let mut tile = first - first.rem_euclid(HOUR);
            while tile <= last {
                for t in [tile - 1, tile, tile + 1] {
                    if t < timeline.exact_from {
                        continue;
                    }
                    let served = match timeline.at(t) {
                        Lookup::Values(values) => values.to_vec(),
                        Lookup::Empty => aggregates
                            .iter()
                            .map(|feature| evaluate_aggregate(&plan, *feature, &[] as &[Bindings], t).expect("empty"))
                            .collect(),
                        Lookup::TooOld => panic!("{user} at {t}: too old"),
                    };
                    for (feature, served) in aggregates.iter().zip(served) {
                        let expected = evaluate_aggregate(&plan, *feature, &events, t).expect("reference");
                        assert_eq!(
                            served,
                            expected,
                            "seed {seed}: {} of {user} at {}",
                            plan.features[*feature].name,
                            Value::Timestamp(t)
                        );
                        compared += 1;
                    }
                }
                tile += HOUR;
            }
        }
        assert!(compared > 1000, "{compared}");
        drop(store);
        let verify = run(&["verify", &project.display().to_string()]);
        assert_eq!(verify.status.code(), Some(0), "{}", text(&verify));
        if seed == 1 {
            serve_features_answers_over_http(&project);
        }
        let _ = std::fs::remove_dir_all(&project);
    }
}

/// `mlsysc serve-features` on the built project: health, a Feast-shaped answer, a 404.
fn serve_features_answers_over_http(project: &Path) {
    let server = crate::support::Server::spawn(&["serve-features", &project.display().to_string(), "--port", "0"]);
    let request = |method: &str, path: &str, body: &str| server.request(method, path, body).1;
    assert!(request("GET", "/health", "").starts_with("HTTP/1.1 200"));
    let answer = request(
        "POST",
        "/get-online-features",
        r#"{"features": ["recent@v1:n_2h"], "entities": {"user": ["u1", "nobody"]}}"#,
    );
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains(r#""feature_names":["user","n_2h"]"#), "{answer}");
    assert!(answer.contains("NOT_FOUND"), "{answer}");
    let missing = request(
        "POST",
        "/get-online-features",
        r#"{"features": ["recent@v9:n_2h"], "entities": {"user": ["u1"]}}"#,
    );
    assert!(missing.starts_with("HTTP/1.1 404"), "{missing}");
    assert!(missing.contains("recent@v9"), "{missing}");
}

#[test]
fn an_edited_group_builds_and_verify_reports_tables_that_do_not_match_the_plan() {
    let project = crate::support::fraud_project("verify-edited");
    let path = project.display().to_string();
    let build = run(&["build", &path]);
    assert_eq!(build.status.code(), Some(0), "{}", text(&build));

    // A deleted table: verify says so (and compares nothing).
    let table = project.join(".mlsys/offline/features/user_activity/v1");
    std::fs::remove_dir_all(&table).expect("delete the table");
    let verify = run(&["verify", &path]);
    let output = text(&verify);
    assert_eq!(verify.status.code(), Some(1), "{output}");
    assert!(
        output.contains("STALE features/user_activity/v1: `user_activity@v1` has no table"),
        "{output}"
    );

    // An edited, unlocked group: every table and the online store are of another definition
    // until the next build, which rebuilds the table (missing too) with the new column.
    let features = project.join("features.mlsys");
    let spec = std::fs::read_to_string(&features).expect("features");
    let edited = spec.replacen(
        "  txn_count_30d = count() over 30d every 1d\n",
        "  txn_count_30d = count() over 30d every 1d\n  min_amount_30d = min(amount) over 30d every 1d\n",
        1,
    );
    assert_ne!(edited, spec);
    std::fs::write(&features, edited).expect("edit");
    let verify = run(&["verify", &path]);
    let output = text(&verify);
    assert_eq!(verify.status.code(), Some(1), "{output}");
    for stale in [
        "STALE features/user_activity/v1",
        "STALE features/txn_signals/v2: `txn_signals@v2` was computed from another definition",
    ] {
        assert!(output.contains(stale), "{stale}: {output}");
    }

    let build = run(&["build", &path]);
    assert_eq!(build.status.code(), Some(0), "{}", text(&build));
    let verify = run(&["verify", &path, "--sample", "300"]);
    let output = text(&verify);
    assert_eq!(verify.status.code(), Some(0), "{output}");
    assert!(output.contains("0 mismatches"), "{output}");
    assert!(!output.contains("STALE"), "{output}");
    // The online store holds the new aggregate too.
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let meta = runtime.block_on(async {
        let store = RedbStore::open(&project.join(".mlsys/online.redb")).expect("store opens");
        let table = TableId::new("user_activity", 1).expect("table");
        store.get_meta(&mlsys_online::meta_name(&table)).await.expect("meta")
    });
    let meta: mlsys_online::TableMeta = serde_json::from_slice(&meta.expect("materialized")).expect("meta");
    assert!(meta.features.contains(&"min_amount_30d".to_string()), "{meta:?}");
    let _ = std::fs::remove_dir_all(project);
}
