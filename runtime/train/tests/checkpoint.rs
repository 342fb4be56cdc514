//! Checkpointed gbdt training: a child process killed mid-training, resumed here, must end with the
//! bytes of an uninterrupted run; foreign checkpoints are ignored and corrupt ones refused.

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use mlsys_train::{
    CHECKPOINT_FILE, Dataset, GbdtParams, TrainError, TrainOptions, train_gbdt, train_with_checkpoint_hook,
    train_with_checkpoints,
};

use crate::common::{assert_same_bytes, nonlinear_classification, nonlinear_regression};

/// When set, `child_training_process` trains into this directory (the parent test kills it).
const CHILD_DIRECTORY_VARIABLE: &str = "MLSYS_TRAIN_CHECKPOINT_CHILD_DIR";
const EVERY_N_TREES: u32 = 5;

fn data() -> Dataset {
    nonlinear_classification(20_000, 51)
}

fn params() -> GbdtParams {
    GbdtParams {
        trees: 150,
        depth: 5,
        learning_rate: 0.1,
        min_rows_per_leaf: 20,
        l2: 1.0,
        subsample: 0.8,
        early_stopping_rounds: 40,
        seed: 9,
    }
}

fn options() -> TrainOptions {
    TrainOptions { threads: 2 }
}

fn scratch_directory(name: &str) -> PathBuf {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_nanos());
    std::env::temp_dir().join(format!("mlsys-train-{name}-{}-{nanos}", std::process::id()))
}

fn saved_tree_count(checkpoint: &Path) -> usize {
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(checkpoint).unwrap()).unwrap();
    json["progress"]["trees"].as_array().unwrap().len()
}

/// The training the parent test runs in a child process; does nothing unless the parent set the
/// variable. It stops for good once its first checkpoint is durable, so the parent's kill always
/// lands mid-training, at a known point.
#[test]
fn child_training_process() {
    if let Some(directory) = std::env::var_os(CHILD_DIRECTORY_VARIABLE) {
        let mut wait_for_the_kill = |_| {
            loop {
                std::thread::park();
            }
        };
        train_with_checkpoint_hook(
            &data(),
            &params(),
            &options(),
            Path::new(&directory),
            EVERY_N_TREES,
            &mut wait_for_the_kill,
        )
        .unwrap();
    }
}

#[test]
fn killed_training_resumes_to_the_uninterrupted_bytes() {
    let directory = scratch_directory("resume");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "checkpoint::child_training_process",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env(CHILD_DIRECTORY_VARIABLE, &directory)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let checkpoint = directory.join(CHECKPOINT_FILE);
    // The child writes its first checkpoint and then waits to be killed; the deadline only guards
    // against a child that never gets there.
    let give_up = Instant::now() + Duration::from_secs(900);
    while !checkpoint.exists() {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the child ended ({status}) before writing a checkpoint");
        }
        assert!(Instant::now() < give_up, "no checkpoint appeared");
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert_eq!(
        status.signal(),
        Some(9),
        "the child finished before it could be killed: {status}"
    );
    let saved = saved_tree_count(&checkpoint);
    assert_eq!(
        saved, EVERY_N_TREES as usize,
        "the child stopped at its first checkpoint"
    );

    let resumed = train_with_checkpoints(&data(), &params(), &options(), &directory, EVERY_N_TREES).unwrap();
    assert_eq!(resumed.resumed_from_trees, Some(saved));
    let uninterrupted = train_gbdt(&data(), &params(), &options()).unwrap();
    assert_same_bytes(
        &resumed.model.to_bytes().unwrap(),
        &uninterrupted.to_bytes().unwrap(),
        "resumed vs uninterrupted",
    );
    std::fs::remove_dir_all(&directory).unwrap();
}

#[test]
fn a_checkpoint_of_other_data_is_ignored_and_a_finished_one_reused() {
    let directory = scratch_directory("foreign");
    let small = GbdtParams {
        trees: 12,
        depth: 3,
        ..params()
    };
    let first = nonlinear_regression(1500, 52);
    let second = nonlinear_regression(1500, 53);
    let trained = train_with_checkpoints(&first, &small, &options(), &directory, 4).unwrap();
    assert_eq!(trained.resumed_from_trees, None);
    let plain = train_gbdt(&first, &small, &options()).unwrap();
    assert_same_bytes(
        &trained.model.to_bytes().unwrap(),
        &plain.to_bytes().unwrap(),
        "checkpointed vs plain",
    );

    // Same data and parameters: continues from the last checkpoint (12 trees) to the same model.
    let again = train_with_checkpoints(&first, &small, &options(), &directory, 4).unwrap();
    assert_eq!(again.resumed_from_trees, Some(12));
    assert_eq!(again.model, trained.model);

    // Other data or other parameters: the checkpoint is not theirs and is ignored.
    let other_data = train_with_checkpoints(&second, &small, &options(), &directory, 4).unwrap();
    assert_eq!(other_data.resumed_from_trees, None);
    assert_eq!(other_data.model, train_gbdt(&second, &small, &options()).unwrap());
    let other_params = GbdtParams { seed: 77, ..small };
    let retrained = train_with_checkpoints(&second, &other_params, &options(), &directory, 4).unwrap();
    assert_eq!(retrained.resumed_from_trees, None);
    std::fs::remove_dir_all(&directory).unwrap();
}

#[test]
fn corrupt_checkpoints_and_bad_intervals_are_errors() {
    let directory = scratch_directory("corrupt");
    std::fs::create_dir_all(&directory).unwrap();
    std::fs::write(
        directory.join(CHECKPOINT_FILE),
        b"{\"format\": \"mlsys-gbdt-checkpoint\", \"ver",
    )
    .unwrap();
    let data = nonlinear_regression(300, 54);
    let small = GbdtParams {
        trees: 5,
        depth: 2,
        early_stopping_rounds: 0,
        ..params()
    };
    let result = train_with_checkpoints(&data, &small, &options(), &directory, 2);
    assert!(
        matches!(result, Err(TrainError::CorruptCheckpoint { .. })),
        "{result:?}"
    );
    let result = train_with_checkpoints(&data, &small, &options(), &directory, 0);
    assert!(matches!(result, Err(TrainError::CheckpointInterval)), "{result:?}");

    // A well-formed checkpoint of this job whose early-stopping state points past its trees.
    let early = GbdtParams {
        early_stopping_rounds: 2,
        ..small
    };
    std::fs::remove_file(directory.join(CHECKPOINT_FILE)).unwrap();
    train_with_checkpoints(&data, &early, &options(), &directory, 1).unwrap();
    let path = directory.join(CHECKPOINT_FILE);
    let mut json: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    json["progress"]["best_iteration"] = serde_json::json!(999);
    std::fs::write(&path, json.to_string()).unwrap();
    let result = train_with_checkpoints(&data, &early, &options(), &directory, 1);
    assert!(
        matches!(result, Err(TrainError::CorruptCheckpoint { .. })),
        "{result:?}"
    );
    std::fs::remove_dir_all(&directory).unwrap();
}
