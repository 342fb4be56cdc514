//! `mlsysc score`: batch targets of both examples score exactly what the training path scores (bit
//! for bit, against the registered model on the holdout's own rows), re-running a day replaces it
//! in one commit, scheduled runs are recorded, and unknown targets are refused by name.

use std::path::{Path, PathBuf};

use mlsys_batch::convert::{arrow_type, value_at};
use mlsys_batch::store::TableLocation;
use mlsys_batch::training::inputs::model_input;
use mlsys_batch::training::manifest::Manifest;
use mlsys_compiler::types::BaseType;
use mlsys_kernels::Value;

use crate::support::{forecast_project, fraud_project};
use crate::train::{external_project, logistic_trainer, mlsysc, text, versions};

/// Every row of the Delta table at `path`: the named columns as values of the given types.
fn table_rows(path: &Path, columns: &[(&str, BaseType)]) -> Vec<Vec<Value>> {
    let location = TableLocation {
        name: "read".to_string(),
        path: path.to_path_buf(),
    };
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let batches = runtime.block_on(async {
        datafusion::prelude::SessionContext::new()
            .read_table(location.provider().await.expect("the table opens"))
            .expect("a frame")
            .collect()
            .await
            .expect("the rows")
    });
    let mut rows = Vec::new();
    for batch in &batches {
        let arrays: Vec<_> = columns
            .iter()
            .map(|(name, base)| {
                let array = batch
                    .column_by_name(name)
                    .unwrap_or_else(|| panic!("a column `{name}`"));
                datafusion::arrow::compute::cast(array, &arrow_type(*base)).expect("cast")
            })
            .collect();
        for row in 0..batch.num_rows() {
            rows.push(
                arrays
                    .iter()
                    .zip(columns)
                    .map(|(array, (_, base))| value_at(array, row, *base))
                    .collect(),
            );
        }
    }
    rows
}

/// One scored example: its timestamp, its key's text, the score's bits.
type Scored = (i64, String, u64);

/// A value's text, strings unquoted.
fn plain(value: &Value) -> String {
    match value {
        Value::String(text) => text.to_string(),
        other => other.to_string(),
    }
}

fn time_of(value: &Value) -> i64 {
    match value {
        Value::Timestamp(micros) => *micros,
        other => panic!("a timestamp, not {other}"),
    }
}

/// Version `version`'s scores of the holdout rows of days `from..=to`, as `build`'s training path
/// has them: the training set's own inputs, converted as training converts them, scored by the
/// registered artifact (native, or in ONNX Runtime for a model trained outside mlsys).
fn training_path_scores(
    project: &Path,
    (model, version): (&str, u32),
    timestamp: &str,
    key: &str,
    days: (&str, &str),
) -> Vec<Scored> {
    let sets = project.join(".mlsys/offline/training").join(model);
    let set = std::fs::read_dir(&sets)
        .expect("training sets")
        .map(|entry| entry.expect("entry").path())
        .find(|path| path.join("manifest.json").exists())
        .expect("a training set");
    let manifest = Manifest::read(&set).expect("manifest").expect("a manifest");
    let mut columns = vec![
        (timestamp, BaseType::Timestamp),
        (key, BaseType::String),
        ("dt", BaseType::String),
    ];
    for feature in &manifest.features {
        let base = BaseType::from_name(feature.ty.trim_end_matches('?')).expect("an input type");
        columns.push((feature.column.as_str(), base));
    }
    let registered = versions(project, model)
        .into_iter()
        .find(|registered| registered.version == version)
        .expect("the version");
    let bytes = std::fs::read(&registered.lineage.artifact.path).expect("the artifact");
    let rows: Vec<Vec<Value>> = table_rows(&set.join("holdout"), &columns)
        .into_iter()
        .filter(|row| {
            let day = plain(&row[2]);
            days.0 <= day.as_str() && day.as_str() <= days.1
        })
        .collect();
    let inputs: Vec<Vec<f64>> = (3..columns.len())
        .map(|column| {
            rows.iter()
                .map(|row| model_input(&row[column]).expect("an input"))
                .collect()
        })
        .collect();
    let scores: Vec<f64> = if ["command", "onnx"].contains(&registered.lineage.algorithm.as_str()) {
        let task = match manifest.task.as_str() {
            "classification" => mlsys_train::Task::Classification,
            _ => mlsys_train::Task::Regression,
        };
        let mut scorer = mlsys_train::OnnxScorer::load(&bytes, inputs.len(), task).expect("ONNX Runtime loads it");
        scorer.predict(&inputs).expect("scores")
    } else {
        let trained = mlsys_train::Model::from_bytes(&bytes).expect("a native model");
        (0..rows.len())
            .map(|row| trained.predict(&inputs.iter().map(|column| column[row]).collect::<Vec<f64>>()))
            .collect()
    };
    let mut scored: Vec<Scored> = rows
        .iter()
        .zip(scores)
        .map(|(row, score)| (time_of(&row[0]), plain(&row[1]), score.to_bits()))
        .collect();
    scored.sort();
    scored
}

/// The scores stored in a batch target's output for days `from..=to`.
fn stored_scores(output: &Path, timestamp: &str, key: &str, days: (&str, &str)) -> Vec<Scored> {
    let columns = [
        (timestamp, BaseType::Timestamp),
        (key, BaseType::String),
        ("dt", BaseType::String),
        ("score", BaseType::Float64),
    ];
    let mut scored: Vec<Scored> = table_rows(output, &columns)
        .into_iter()
        .filter(|row| {
            let day = plain(&row[2]);
            days.0 <= day.as_str() && day.as_str() <= days.1
        })
        .map(|row| {
            let Value::Float(score) = row[3] else { panic!("a score") };
            (time_of(&row[0]), plain(&row[1]), score.to_bits())
        })
        .collect();
    scored.sort();
    scored
}

/// The commits in a Delta table's log.
fn commits(table: &Path) -> usize {
    std::fs::read_dir(table.join("_delta_log"))
        .expect("a log")
        .filter(|entry| {
            entry
                .as_ref()
                .is_ok_and(|entry| entry.path().extension().is_some_and(|extension| extension == "json"))
        })
        .count()
}

fn build(project: &Path) {
    let output = mlsysc(project, &["build", "."]);
    assert!(output.status.success(), "{}", text(&output));
}

#[test]
fn fraud_nightly_scores_equal_the_training_path_bit_for_bit_and_a_day_rescored_replaces_it() {
    let project = fraud_project("score-fraud");
    build(&project);
    // Approval is required: until a version is promoted, production resolves to nothing.
    let refused = mlsysc(&project, &["score", "fraud_nightly", "--date", "2026-05-10"]);
    assert!(!refused.status.success());
    assert!(
        text(&refused).contains("no version of model `fraud_detector` is at stage `production`"),
        "{}",
        text(&refused)
    );
    for step in [
        &["approve", "fraud_detector", "1", "--by", "ana"][..],
        &["promote", "fraud_detector", "1", "--to", "production"],
    ] {
        let output = mlsysc(&project, step);
        assert!(output.status.success(), "{}", text(&output));
    }
    let days = ("2026-05-10", "2026-05-11");
    let scored = mlsysc(&project, &["score", "fraud_nightly", "--from", days.0, "--to", days.1]);
    assert!(scored.status.success(), "{}", text(&scored));
    assert!(
        text(&scored).contains("with fraud_detector v1 into data/scores/fraud"),
        "{}",
        text(&scored)
    );
    let output: PathBuf = project.join("data/scores/fraud");
    let expected = training_path_scores(&project, ("fraud_detector", 1), "event_time", "user_id", days);
    assert!(expected.len() > 100, "{} holdout rows", expected.len());
    let stored = stored_scores(&output, "event_time", "user_id", days);
    assert_eq!(stored, expected, "batch scores equal the training path's, bit for bit");

    // The second day again: one more commit, that day's rows the same, the other day untouched.
    let before = commits(&output);
    let rows_before = table_rows(&output, &[("txn_id", BaseType::String), ("score", BaseType::Float64)]);
    let again = mlsysc(&project, &["score", "fraud_nightly", "--date", days.1]);
    assert!(again.status.success(), "{}", text(&again));
    assert_eq!(commits(&output), before + 1);
    let mut rows_after = table_rows(&output, &[("txn_id", BaseType::String), ("score", BaseType::Float64)]);
    let mut rows_before = rows_before;
    let by_text = |rows: &mut Vec<Vec<Value>>| rows.sort_by_key(|row| format!("{row:?}"));
    by_text(&mut rows_after);
    by_text(&mut rows_before);
    assert_eq!(rows_after, rows_before, "one copy of each row, the same scores");
    let partitions = std::fs::read_dir(&output)
        .expect("the table")
        .filter(|entry| {
            entry
                .as_ref()
                .is_ok_and(|entry| entry.file_name().to_string_lossy().starts_with("dt="))
        })
        .count();
    assert!(partitions <= 2, "{partitions} partition directories");
    let _ = std::fs::remove_dir_all(project);
}

#[test]
fn the_forecast_weekly_target_scores_a_week_and_runs_when_due() {
    let project = forecast_project("score-forecast");
    build(&project);
    // A Thursday-to-Wednesday week of the holdout, as the weekly run on the next Thursday scores it.
    let week = ("2026-08-06", "2026-08-12");
    let scored = mlsysc(&project, &["score", "demand_weekly", "--from", week.0, "--to", week.1]);
    assert!(scored.status.success(), "{}", text(&scored));
    let output = project.join("data/scores/demand");
    let expected = training_path_scores(&project, ("demand_forecast", 1), "day_start", "site_id", week);
    assert_eq!(expected.len(), 50 * 7, "50 sites, 7 days");
    assert_eq!(stored_scores(&output, "day_start", "site_id", week), expected);
    // The label (`demand`, a column of the examples) is not written.
    let header = table_rows(&output, &[("site_id", BaseType::String)]);
    assert_eq!(header.len(), 50 * 7);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let columns = runtime.block_on(async {
        TableLocation {
            name: "read".to_string(),
            path: output.clone(),
        }
        .metadata()
        .await
        .expect("metadata")
        .expect("a table")
        .column_list()
    });
    assert!(!columns.contains("demand"), "{columns}");

    // The scheduled run due now, then nothing more until the next Thursday.
    let due = mlsysc(&project, &["score", "demand_weekly", "--due"]);
    assert!(due.status.success(), "{}", text(&due));
    assert!(text(&due).starts_with("demand_weekly: run of "), "{}", text(&due));
    assert!(project.join(".mlsys/schedules/demand_weekly.json").is_file());
    let again = mlsysc(&project, &["score", "demand_weekly", "--due"]);
    assert!(text(&again).contains("no run due"), "{}", text(&again));
    let _ = std::fs::remove_dir_all(project);
}

#[test]
fn a_model_trained_outside_mlsys_scores_in_onnx_runtime_as_build_evaluated_it() {
    let project = external_project("score-onnx", &logistic_trainer(", iterations = 50"));
    let spec = project.join("spec.mlsys");
    let mut text_of_spec = std::fs::read_to_string(&spec).expect("spec");
    text_of_spec.push_str(
        "\nserve nightly {\n  model = disputes_model@v1\n  mode = batch\n  schedule = \"0 2 * * *\"\n  output = \"scores\"\n}\n",
    );
    std::fs::write(&spec, text_of_spec).expect("spec written");
    build(&project);
    let day = ("2026-03-03", "2026-03-03");
    let scored = mlsysc(&project, &["score", "nightly", "--date", day.0]);
    assert!(scored.status.success(), "{}", text(&scored));
    let expected = training_path_scores(&project, ("disputes_model", 1), "paid_at", "user_id", day);
    assert_eq!(expected.len(), 20);
    assert_eq!(
        stored_scores(&project.join("scores"), "paid_at", "user_id", day),
        expected
    );
    let _ = std::fs::remove_dir_all(project);
}

#[test]
fn unknown_and_realtime_targets_are_refused_by_name() {
    let project = fraud_project("score-unknown");
    let unknown = mlsysc(&project, &["score", "fraud_weekly"]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(
        text(&unknown).contains("no serve target `fraud_weekly`; batch targets: fraud_nightly"),
        "{}",
        text(&unknown)
    );
    let realtime = mlsysc(&project, &["score", "fraud_api"]);
    assert_eq!(realtime.status.code(), Some(2));
    assert!(
        text(&realtime).contains("`fraud_api` is a realtime target"),
        "{}",
        text(&realtime)
    );
    let _ = std::fs::remove_dir_all(project);
}
