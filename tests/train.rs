//! Training inside `mlsysc build`: a model is trained when its inputs change and skipped otherwise,
//! compared with production on the same holdout, registered with its lineage, reproducible from
//! its recorded inputs; bad training data fails the build naming the model and the cause, with
//! nothing registered.

use std::path::Path;
use std::process::{Command, Output};

use mlsys_registry::{Registry, Stage};

pub fn mlsysc(directory: &Path, arguments: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mlsysc"))
        .args(arguments)
        .current_dir(directory)
        .output()
        .expect("mlsysc runs")
}

pub fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// `mlsysc` with extra environment variables.
pub fn mlsysc_with(directory: &Path, arguments: &[&str], environment: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mlsysc"))
        .args(arguments)
        .envs(environment.iter().copied())
        .current_dir(directory)
        .output()
        .expect("mlsysc runs")
}

/// Whether process `pid` is running (a zombie is not).
fn process_alive(pid: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        let state = stat
            .rfind(')')
            .and_then(|end| stat[end + 1..].split_whitespace().next());
        state != Some("Z")
    })
}

/// Waits (up to a deadline) for the process whose pid the trainer wrote to `pid_file` to be
/// gone; kills it and fails if it outlives the deadline.
fn assert_stopped(project: &Path, pid_file: &str, what: &str) {
    let pid = std::fs::read_to_string(project.join(pid_file)).unwrap_or_else(|_| panic!("{what}: no {pid_file}"));
    let pid = pid.trim();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while process_alive(pid) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    if process_alive(pid) {
        let _ = Command::new("kill").args(["-9", pid]).status();
        panic!("{what} (pid {pid}) outlived the trainer's timeout");
    }
}

pub fn versions(project: &Path, model: &str) -> Vec<mlsys_registry::ModelVersion> {
    Registry::open(&project.join(".mlsys/registry.db"))
        .expect("registry opens")
        .versions(model)
        .expect("versions")
}

/// The monitoring baseline recorded with a version: one histogram per input over the training
/// snapshot (bools by category), the holdout's scores, shown by `models --format json`.
fn assert_baseline(project: &Path, version: &mlsys_registry::ModelVersion) {
    let baseline: mlsys_monitor::Baseline =
        serde_json::from_value(version.lineage.baseline.clone().expect("a baseline")).expect("baseline");
    let names: Vec<&str> = version
        .lineage
        .features
        .iter()
        .map(|input| input.column.as_str())
        .collect();
    let baseline_names: Vec<&str> = baseline.inputs.iter().map(|input| input.name.as_str()).collect();
    assert_eq!(baseline_names, names);
    let manifest: serde_json::Value = serde_json::from_str(&version.lineage.training_manifest).expect("manifest");
    let rows = manifest["snapshot"]["rows"].as_u64().expect("snapshot rows");
    for input in &baseline.inputs {
        assert_eq!(input.distribution.total(), rows, "{}", input.name);
    }
    let foreign = baseline
        .inputs
        .iter()
        .find(|input| input.name.ends_with("foreign"))
        .expect("foreign");
    assert_eq!(foreign.distribution.bins, mlsys_monitor::Bins::bool());
    assert!(baseline.score.total() > 0);
    let listed = mlsysc(project, &["models", "--format", "json"]);
    let listed: serde_json::Value = serde_json::from_slice(&listed.stdout).expect("models json");
    assert!(listed.to_string().contains("\"baseline\""), "{listed}");
}

#[test]
fn fraud_models_are_trained_compared_with_production_and_reproducible() {
    let project = crate::support::fraud_project("train");
    let build = mlsysc(&project, &["build"]);
    let output = text(&build);
    assert_eq!(build.status.code(), Some(0), "{output}");
    assert!(
        output.contains("needs approval (mlsysc approve fraud_detector 1 --by NAME)"),
        "{output}"
    );
    let first = versions(&project, "fraud_detector");
    assert_eq!(first.len(), 1);
    let v1 = &first[0];
    assert_eq!(v1.stage, Stage::Candidate);
    assert!(v1.lineage.metrics["auc"] > 0.8, "{:?}", v1.lineage.metrics);
    for metric in ["auc", "logloss", "accuracy", "f1"] {
        assert!(v1.lineage.metrics.contains_key(metric), "{metric}");
    }
    assert_baseline(&project, v1);
    assert!(Path::new(&v1.lineage.artifact.path).exists());
    assert!(
        v1.lineage
            .onnx
            .as_ref()
            .is_some_and(|onnx| Path::new(&onnx.path).exists())
    );

    // Unchanged inputs: nothing retrained.
    let again = mlsysc(&project, &["build"]);
    assert!(
        text(&again).contains("unchanged: trained from the same inputs"),
        "{}",
        text(&again)
    );
    assert_eq!(versions(&project, "fraud_detector").len(), 1);

    // Approve and promote; then a new hyperparameter trains v2, compared with v1 on the holdout.
    assert_eq!(
        mlsysc(&project, &["promote", "fraud_detector", "1", "--to", "production"])
            .status
            .code(),
        Some(1)
    );
    assert_eq!(
        mlsysc(&project, &["approve", "fraud_detector", "1", "--by", "ana"])
            .status
            .code(),
        Some(0)
    );
    let promote = mlsysc(&project, &["promote", "fraud_detector", "1", "--to", "production"]);
    assert_eq!(promote.status.code(), Some(0), "{}", text(&promote));
    let spec = project.join("model.mlsys");
    let text_before = std::fs::read_to_string(&spec).expect("spec");
    std::fs::write(&spec, text_before.replace("trees = 200", "trees = 40")).expect("edit");
    let retrain = mlsysc(&project, &["build"]);
    let output = text(&retrain);
    assert_eq!(retrain.status.code(), Some(0), "{output}");
    let all = versions(&project, "fraud_detector");
    assert_eq!(all.len(), 2, "{output}");
    let v2 = &all[1];
    assert_eq!(v2.lineage.production_version, Some(1));
    let production_auc = v2.lineage.production_metrics.as_ref().expect("compared")["auc"];
    assert_eq!(
        production_auc, v1.lineage.metrics["auc"],
        "production scored on the same holdout"
    );
    assert!(output.contains("v1 0."), "{output}");

    // Reproducible: the same recorded inputs train the same bytes.
    std::fs::remove_file(project.join(".mlsys/registry.db")).expect("registry removed");
    std::fs::remove_dir_all(project.join(".mlsys/artifacts")).expect("artifacts removed");
    let rebuilt = mlsysc(&project, &["build"]);
    assert_eq!(rebuilt.status.code(), Some(0), "{}", text(&rebuilt));
    let again = versions(&project, "fraud_detector");
    assert_eq!(again[0].lineage.artifact.sha256, v2.lineage.artifact.sha256);
    assert_eq!(again[0].lineage.training_set, v2.lineage.training_set);
    let _ = std::fs::remove_dir_all(project);
}

const SPEC: &str = r#"
source payments {
  format = csv
  location = "data/payments"
  timestamp = paid_at
  schema { payment_id: string, user_id: string, amount: float64, paid_at: timestamp }
}

source disputes {
  format = csv
  location = "data/disputes"
  timestamp = reported_at
  schema { payment_id: string, lost: bool, reported_at: timestamp }
}

entity user { key user_id: string }

features spend v1 {
  entity = user
  from = payments
  count_1d = count() over 1d every 1h
}

features pay v1 {
  from = payments
  big = amount > 10.0
  RATIO
}

model disputes_model {
  examples = payments
  label = disputes.lost on payment_id default false
  features = [pay@v1, spend@v1]
  algorithm = gbdt(trees = 3, min_rows_per_leaf = 1)
  train {
    snapshot = SNAPSHOT
    holdout = 2026-03-03 .. 2026-03-03
    metric = auc
  }
}

serve disputes_api {
  model = disputes_model@production
  mode = realtime
}
"#;

pub fn small_project(name: &str, snapshot: &str, ratio: &str, lost_on_day_2: bool) -> std::path::PathBuf {
    let root = std::env::temp_dir().join(format!("mlsysc-train-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let spec = SPEC.replace("SNAPSHOT", snapshot).replace("RATIO", ratio);
    // Each day's payments in that day's partition (a row outside its `dt=` day is a bad row).
    let mut payments = [2, 3].map(|_| String::from("payment_id,user_id,amount,paid_at\n"));
    let mut disputes = String::from("payment_id,lost,reported_at\n");
    for (file, day) in payments.iter_mut().zip([2, 3]) {
        for index in 0..20 {
            let id = format!("p{day}_{index}");
            file.push_str(&format!(
                "{id},u{},{}.0,2026-03-0{day}T{:02}:00:00Z\n",
                index % 3,
                index,
                index
            ));
            let lost = index % 2 == 0 && (day == 2 || lost_on_day_2);
            disputes.push_str(&format!("{id},{lost},2026-03-10T00:00:00Z\n"));
        }
    }
    let [day_2, day_3] = payments;
    for (path, content) in [
        ("spec.mlsys", spec),
        ("data/payments/dt=2026-03-02/part-0.csv", day_2),
        ("data/payments/dt=2026-03-03/part-0.csv", day_3),
        ("data/disputes/dt=2026-03-10/part-0.csv", disputes),
    ] {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("dirs");
        std::fs::write(path, content).expect("write");
    }
    root
}

#[test]
fn bad_training_data_fails_the_build_naming_the_model_and_registers_nothing() {
    let cases = [
        (
            "empty",
            small_project("empty", "2026-01-01 .. 2026-01-02", "", true),
            "the training set is empty",
        ),
        (
            "one-class",
            small_project("one-class", "2026-03-02 .. 2026-03-02", "", false),
            "auc on the holdout",
        ),
        (
            "nan",
            small_project("nan", "2026-03-02 .. 2026-03-02", "ratio = amount / amount", true),
            "input `pay@v1.ratio` is NaN",
        ),
    ];
    for (name, project, expected) in cases {
        let build = mlsysc(&project, &["build"]);
        let output = text(&build);
        assert_eq!(build.status.code(), Some(1), "{name}: {output}");
        assert!(output.contains("model `disputes_model`"), "{name}: {output}");
        assert!(output.contains(expected), "{name}: {output}");
        assert!(
            versions(&project, "disputes_model").is_empty(),
            "{name}: nothing registered"
        );
        let _ = std::fs::remove_dir_all(project);
    }
    // The same project with good data trains and registers.
    let good = small_project("good", "2026-03-02 .. 2026-03-02", "", true);
    let build = mlsysc(&good, &["build"]);
    assert_eq!(build.status.code(), Some(0), "{}", text(&build));
    assert_eq!(versions(&good, "disputes_model").len(), 1);
    let _ = std::fs::remove_dir_all(good);
}

/// `small_project` with another algorithm for `disputes_model`.
pub fn external_project(name: &str, algorithm: &str) -> std::path::PathBuf {
    let project = small_project(name, "2026-03-02 .. 2026-03-02", "", true);
    set_algorithm(&project, algorithm);
    project
}

fn set_algorithm(project: &Path, algorithm: &str) {
    let spec = project.join("spec.mlsys");
    let text = std::fs::read_to_string(&spec).expect("spec");
    let start = text.find("algorithm = ").expect("algorithm line");
    let end = start + text[start..].find('\n').expect("line end");
    std::fs::write(
        &spec,
        format!("{}algorithm = {algorithm}{}", &text[..start], &text[end..]),
    )
    .expect("edit");
}

/// `command(...)` running the logistic trainer fixture with extra arguments.
pub fn logistic_trainer(arguments: &str) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/logistic_trainer.py");
    format!("command(\"python3 '{}'\"{arguments})", script.display())
}

#[test]
fn external_models_are_trained_by_their_command_or_imported_and_evaluated_like_built_in_ones() {
    let project = external_project(
        "command",
        &logistic_trainer(r#", outputs = 2, precision = "f32", iterations = 300, timeout = 2m"#),
    );
    let build = mlsysc(&project, &["build"]);
    let output = text(&build);
    assert_eq!(build.status.code(), Some(0), "{output}");
    let registered = versions(&project, "disputes_model");
    assert_eq!(registered.len(), 1, "{output}");
    let v1 = &registered[0];
    assert_eq!(v1.lineage.algorithm, "command");
    assert_eq!(
        Some(&v1.lineage.artifact),
        v1.lineage.onnx.as_ref(),
        "the ONNX file is the artifact"
    );
    let onnx = std::fs::read(&v1.lineage.artifact.path).expect("artifact");
    assert_eq!(mlsys_registry::sha256_hex(&onnx), v1.lineage.artifact.sha256);
    let auc = v1.lineage.metrics["auc"];
    assert!((0.0..=1.0).contains(&auc), "{:?}", v1.lineage.metrics);
    assert!(v1.lineage.reported_metrics.contains_key("train_logloss"), "{v1:?}");
    let hyperparameters: serde_json::Value = serde_json::from_str(&v1.lineage.hyperparameters).expect("json");
    assert_eq!(hyperparameters["hyperparameters"]["outputs"], 2);
    assert_eq!(hyperparameters["hyperparameters"]["precision"], "f32");
    assert_eq!(hyperparameters["timeout_seconds"], 120.0);
    // The program saw its hyperparameters; the copies of the data are gone, the logs stay.
    let trainer = project.join(".mlsys/trainers/disputes_model");
    let stderr = std::fs::read_to_string(trainer.join("stderr.log")).expect("stderr log");
    assert!(stderr.contains("'iterations': 300"), "{stderr}");
    assert!(!trainer.join("training.parquet").exists());

    // Unchanged inputs: the program is not run again.
    let again = mlsysc(&project, &["build"]);
    assert!(
        text(&again).contains("unchanged: trained from the same inputs"),
        "{}",
        text(&again)
    );
    assert_eq!(versions(&project, "disputes_model").len(), 1);

    // An imported file: missing, then present. The same ONNX model scores the same holdout
    // identically, whoever trained it.
    set_algorithm(&project, r#"onnx("models/imported.onnx")"#);
    let missing = mlsysc(&project, &["build"]);
    let output = text(&missing);
    assert_eq!(missing.status.code(), Some(1), "{output}");
    assert!(output.contains("model `disputes_model`"), "{output}");
    assert!(output.contains("no such file"), "{output}");
    assert_eq!(versions(&project, "disputes_model").len(), 1, "nothing registered");
    std::fs::create_dir_all(project.join("models")).expect("models dir");
    std::fs::write(project.join("models/imported.onnx"), &onnx).expect("import");
    let import = mlsysc(&project, &["build"]);
    assert_eq!(import.status.code(), Some(0), "{}", text(&import));
    let registered = versions(&project, "disputes_model");
    assert_eq!(registered.len(), 2);
    let v2 = &registered[1];
    assert_eq!(v2.lineage.algorithm, "onnx");
    assert_eq!(v2.lineage.metrics, v1.lineage.metrics);
    assert!(v2.lineage.reported_metrics.is_empty());

    // With v2 in production, a newly trained version is compared with it on the same holdout:
    // production is scored through ONNX Runtime too.
    let promote = mlsysc(&project, &["promote", "disputes_model", "2", "--to", "production"]);
    assert_eq!(promote.status.code(), Some(0), "{}", text(&promote));
    set_algorithm(&project, &logistic_trainer(", iterations = 50"));
    let retrain = mlsysc(&project, &["build"]);
    assert_eq!(retrain.status.code(), Some(0), "{}", text(&retrain));
    let registered = versions(&project, "disputes_model");
    assert_eq!(registered.len(), 3);
    assert_eq!(registered[2].lineage.production_version, Some(2));
    assert_eq!(
        registered[2].lineage.production_metrics.as_ref(),
        Some(&v1.lineage.metrics)
    );
    let _ = std::fs::remove_dir_all(project);
}

#[test]
fn failing_external_trainers_fail_the_build_with_the_cause_and_register_nothing() {
    let cases = [
        (
            "exit",
            logistic_trainer(", fail = 3"),
            vec!["exited with status 3", "no GPU found"],
        ),
        (
            "no-model",
            logistic_trainer(", write_model = false"),
            vec!["wrote no model", "MLSYS_MODEL_OUTPUT"],
        ),
        (
            "misfit",
            logistic_trainer(", inputs = 5"),
            vec!["does not fit", "[N, 2]"],
        ),
        (
            "signal",
            r#"command("kill -9 $$")"#.to_string(),
            vec!["was killed by signal 9"],
        ),
        (
            "timeout",
            // The timeout leaves the shell ample time to start the sleeper and record its pid.
            r#"command("sleep 300 & echo $! > sleeper.pid; wait", timeout = 5s)"#.to_string(),
            vec!["did not finish within 5s", "raise `timeout`"],
        ),
    ];
    for (name, algorithm, expected) in cases {
        let project = external_project(name, &algorithm);
        let build = mlsysc(&project, &["build"]);
        let output = text(&build);
        assert_eq!(build.status.code(), Some(1), "{name}: {output}");
        assert!(output.contains("model `disputes_model`"), "{name}: {output}");
        for fragment in expected {
            assert!(output.contains(fragment), "{name}: `{fragment}` in {output}");
        }
        assert!(
            versions(&project, "disputes_model").is_empty(),
            "{name}: nothing registered"
        );
        if name == "timeout" {
            // What the program started in the background was stopped with it.
            assert_stopped(&project, "sleeper.pid", "the trainer's background `sleep`");
        }
        let _ = std::fs::remove_dir_all(project);
    }
}

/// `label = EXPR` over the examples' own columns: the label is computed on each example row, the
/// model trains and registers, and the training set holds the computed label.
#[test]
fn a_label_expression_over_the_examples_columns_labels_each_example() {
    let project = small_project("label-expression", "2026-03-02 .. 2026-03-02", "", true);
    let spec = std::fs::read_to_string(project.join("spec.mlsys")).expect("spec");
    let spec = spec
        .replace(
            "label = disputes.lost on payment_id default false",
            "label = amount >= 10.0",
        )
        .replace("features = [pay@v1, spend@v1]", "features = [spend@v1]");
    std::fs::write(project.join("spec.mlsys"), spec).expect("spec");
    let build = mlsysc(&project, &["build"]);
    assert_eq!(build.status.code(), Some(0), "{}", text(&build));
    assert_eq!(versions(&project, "disputes_model").len(), 1);
    let plan = mlsysc(&project, &["plan", "--emit", "ir"]);
    assert!(text(&plan).contains("label ge($amount, 10.0)"), "{}", text(&plan));
    // Day 2's amounts are 0..19: ten examples of the snapshot are labelled true.
    let sets = project.join(".mlsys/offline/training/disputes_model");
    let set = std::fs::read_dir(&sets)
        .expect("a training set")
        .map(|entry| entry.expect("an entry").path())
        .find(|path| path.join("manifest.json").exists())
        .expect("a manifest");
    let location = mlsys_batch::store::TableLocation {
        name: "snapshot".to_string(),
        path: set.join("snapshot"),
    };
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let labels: Vec<bool> = runtime.block_on(async {
        let frame = datafusion::prelude::SessionContext::new()
            .read_table(location.provider().await.expect("the split opens"))
            .expect("a frame");
        let batches = frame.collect().await.expect("rows");
        batches
            .iter()
            .flat_map(|batch| {
                let column = batch.column_by_name("label").expect("a label column");
                let flags = column
                    .as_any()
                    .downcast_ref::<datafusion::arrow::array::BooleanArray>()
                    .expect("bool labels");
                flags.iter().map(|flag| flag.expect("labelled")).collect::<Vec<_>>()
            })
            .collect()
    });
    assert_eq!(labels.len(), 20);
    assert_eq!(labels.iter().filter(|label| **label).count(), 10);
    let _ = std::fs::remove_dir_all(project);
}

#[test]
fn a_timed_out_trainer_is_stopped_with_the_processes_that_left_its_group() {
    // One grandchild in a new session under the trainer's shell, one in a new session whose
    // parent exited at once (re-parented away from the trainer's tree); then the trainer hangs.
    let project = external_project(
        "detached",
        r#"command("setsid sleep 1000 & echo $! > session.pid; (setsid sleep 1000 & echo $! > orphan.pid); sleep 1000", timeout = 5s)"#,
    );
    let build = mlsysc(&project, &["build"]);
    let output = text(&build);
    assert_eq!(build.status.code(), Some(1), "{output}");
    assert!(output.contains("did not finish within 5s"), "{output}");
    assert_stopped(&project, "session.pid", "a `setsid` grandchild");
    assert_stopped(&project, "orphan.pid", "an orphaned `setsid` grandchild");
    let _ = std::fs::remove_dir_all(project);
}

#[test]
fn a_trainer_sees_only_the_passed_environment() {
    // The trainer records its environment and fails (nothing to register).
    let project = external_project("environment", r#"command("env > trainer.env; exit 3")"#);
    let build = mlsysc_with(
        &project,
        &["build"],
        &[
            ("MLSYS_TEST_SECRET", "hunter2"),
            ("MLSYS_TEST_PASSED", "visible"),
            ("MLSYS_TRAINER_ENV", "MLSYS_TEST_PASSED, NOT_SET_ANYWHERE"),
        ],
    );
    assert_eq!(build.status.code(), Some(1), "{}", text(&build));
    let environment = std::fs::read_to_string(project.join("trainer.env")).expect("the trainer ran");
    let names: Vec<&str> = environment
        .lines()
        .filter_map(|line| line.split_once('=').map(|(name, _)| name))
        .collect();
    assert!(
        !environment.contains("hunter2"),
        "the secret reached the trainer:\n{environment}"
    );
    assert!(environment.contains("MLSYS_TEST_PASSED=visible"), "{environment}");
    for name in ["PATH", "MLSYS_MODEL_OUTPUT", "MLSYS_TRAINING_SET", "MLSYS_SEED"] {
        assert!(names.contains(&name), "{name} missing:\n{environment}");
    }
    let _ = std::fs::remove_dir_all(project);
}
