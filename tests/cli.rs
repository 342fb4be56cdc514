//! Runs the real binary on the example project and on broken copies of it.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::support;

fn mlsysc(arguments: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mlsysc"))
        .args(arguments)
        .env("NO_COLOR", "1")
        .output()
        .expect("mlsysc runs")
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn fraud() -> String {
    root().join("examples/fraud").display().to_string()
}

/// A copy of the fraud example's `.mlsys` files in a fresh temporary directory.
fn fraud_copy(name: &str) -> PathBuf {
    let directory = std::env::temp_dir().join(format!("mlsysc-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&directory);
    support::copy_fraud_spec(&directory);
    directory
}

/// A copy of the fraud example with one text replacement applied, in a fresh temporary directory.
fn broken_copy(name: &str, file: &str, from: &str, to: &str) -> PathBuf {
    let directory = fraud_copy(name);
    let path = directory.join(file);
    let text = std::fs::read_to_string(&path).expect("read");
    assert!(text.contains(from), "{from} not in {file}");
    std::fs::write(&path, text.replacen(from, to, 1)).expect("write");
    directory
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn check_on_the_example_is_clean() {
    let output = mlsysc(&["check", &fraud()]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert!(text(&output.stderr).contains("no problems"));
}

#[test]
fn check_reports_errors_with_location_and_exit_one() {
    let directory = broken_copy("typo", "features.mlsys", "ln(1 + amount)", "ln(1 + amout)");
    let output = mlsysc(&["check", &directory.display().to_string()]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("E0101"), "{stderr}");
    assert!(stderr.contains("features.mlsys:"), "{stderr}");
    assert!(stderr.contains("did you mean `amount`?"), "{stderr}");
    assert!(stderr.contains("1 error, 0 warnings"), "{stderr}");
    let _ = std::fs::remove_dir_all(directory);
}

#[test]
fn check_json_is_machine_readable() {
    let directory = broken_copy("json", "model.mlsys", "holdout = 2026-05-01", "holdout = 2026-04-01");
    let output = mlsysc(&["check", &directory.display().to_string(), "--format", "json"]);
    assert_eq!(output.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("valid JSON");
    assert_eq!(report["errors"], 1);
    let diagnostic = &report["diagnostics"][0];
    assert_eq!(diagnostic["code"], "E0402");
    assert_eq!(diagnostic["severity"], "error");
    assert_eq!(diagnostic["span"]["file"], "model.mlsys");
    assert_eq!(diagnostic["span"]["line"], 12);
    assert_eq!(diagnostic["span"]["column"], 15);
    assert!(
        diagnostic["help"]
            .as_str()
            .is_some_and(|help| help.contains("2026-05-01"))
    );
    let _ = std::fs::remove_dir_all(directory);
}

#[test]
fn warnings_do_not_fail_the_check() {
    let directory = broken_copy(
        "warn",
        "features.mlsys",
        "  web =",
        "  merchant_known = is_null(merchant)\n  web =",
    );
    let output = mlsysc(&["check", &directory.display().to_string()]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("W0002"), "{stderr}");
    assert!(stderr.contains("2026-11-15"), "{stderr}");
    let _ = std::fs::remove_dir_all(directory);
}

#[test]
fn io_and_usage_problems_exit_two() {
    let output = mlsysc(&["check", "/nonexistent/project"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("/nonexistent/project"));
    let output = mlsysc(&["check", "--format", "yaml"]);
    assert_eq!(output.status.code(), Some(2));
    let empty = std::env::temp_dir().join(format!("mlsysc-cli-empty-{}", std::process::id()));
    std::fs::create_dir_all(&empty).expect("temp dir");
    let output = mlsysc(&["check", &empty.display().to_string()]);
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("no .mlsys files"));
    let _ = std::fs::remove_dir_all(empty);
}

#[test]
fn plan_emits_ir_and_json() {
    let output = mlsysc(&["plan", &fraud(), "--emit", "ir"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let ir = text(&output.stdout);
    assert!(
        ir.contains("features user_activity@v1 from=transactions entity=user hash="),
        "{ir}"
    );
    assert!(
        ir.contains("txn_count_7d: int64 = aggregate count() over 7d every 1h"),
        "{ir}"
    );
    let output = mlsysc(&["plan", &fraud(), "--emit", "json"]);
    assert_eq!(output.status.code(), Some(0));
    let plan: serde_json::Value = serde_json::from_slice(&output.stdout).expect("valid JSON");
    assert_eq!(plan["models"][0]["name"], "fraud_detector");
    assert_eq!(plan["models"][0]["task"], "classification");
}

#[test]
fn plan_refuses_a_broken_project() {
    let directory = broken_copy("plan", "sources.mlsys", "format = csv", "format = cvs");
    let output = mlsysc(&["plan", &directory.display().to_string()]);
    assert_eq!(output.status.code(), Some(1));
    assert!(output.stdout.is_empty());
    assert!(
        text(&output.stderr).contains("did you mean `csv`?"),
        "{}",
        text(&output.stderr)
    );
    let _ = std::fs::remove_dir_all(directory);
}

#[test]
fn every_command_has_help() {
    for command in [&["--help"][..], &["check", "--help"], &["plan", "--help"]] {
        let output = mlsysc(command);
        assert_eq!(output.status.code(), Some(0));
        assert!(text(&output.stdout).len() > 200, "{:?}", command);
    }
}

#[test]
fn version_ends_with_a_newline() {
    for flag in ["--version", "-V"] {
        let output = mlsysc(&[flag]);
        assert_eq!(output.status.code(), Some(0));
        let stdout = text(&output.stdout);
        assert!(stdout.starts_with("mlsysc "), "{stdout:?}");
        assert!(stdout.ends_with('\n'), "{stdout:?}");
    }
}

#[test]
fn a_feature_group_version_declared_in_two_files_is_an_error() {
    let directory = fraud_copy("duplicate");
    let features = std::fs::read_to_string(directory.join("features.mlsys")).expect("read");
    let start = features
        .find("features user_activity v1")
        .expect("the example declares it");
    let end = start + features[start..].find("\n}\n").expect("its body closes") + 3;
    std::fs::write(directory.join("more_features.mlsys"), &features[start..end]).expect("write");
    let output = mlsysc(&["check", &directory.display().to_string()]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("E0105"), "{stderr}");
    assert!(
        stderr.contains("feature group `user_activity` v1 is declared twice"),
        "{stderr}"
    );
    assert!(stderr.contains("more_features.mlsys:"), "{stderr}");
    assert!(stderr.contains("features.mlsys:4:10: first declared here"), "{stderr}");
    let _ = std::fs::remove_dir_all(directory);
}

/// Runs `mlsysc`, failing the test instead of hanging when it has not exited after a minute.
fn mlsysc_exits(arguments: &[&str]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mlsysc"))
        .args(arguments)
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("mlsysc starts");
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().expect("mlsysc can be waited on").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("mlsysc {arguments:?} did not exit");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("mlsysc output")
}

#[test]
fn a_named_pipe_in_the_project_is_skipped_with_a_warning() {
    let directory = fraud_copy("fifo");
    let pipe = directory.join("pipe.mlsys");
    let made = Command::new("mkfifo").arg(&pipe).status().expect("mkfifo runs");
    assert!(made.success());
    let output = mlsysc_exits(&["check", &directory.display().to_string()]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("skipping") && stderr.contains("pipe.mlsys: not a regular file"),
        "{stderr}"
    );
    assert!(stderr.contains("checked 3 files"), "{stderr}");
    let output = mlsysc_exits(&["check", &pipe.display().to_string()]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("pipe.mlsys: not a regular file"), "{stderr}");
    let _ = std::fs::remove_dir_all(directory);
}

#[test]
fn many_diagnostics_in_one_file_are_all_rendered() {
    // 20,000 unused entities: one warning each. Rendering used to rescan the file for every
    // diagnostic (minutes at this size); each format must list every one of them.
    const COUNT: usize = 20_000;
    let directory = std::env::temp_dir().join(format!("mlsysc-cli-many-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&directory);
    std::fs::create_dir_all(&directory).expect("temp dir");
    let text_of_file: String = (0..COUNT)
        .map(|index| format!("entity e{index} {{ key k: string }}\n"))
        .collect();
    std::fs::write(directory.join("many.mlsys"), text_of_file).expect("write");
    let path = directory.display().to_string();
    let output = mlsysc(&["check", &path]);
    assert_eq!(output.status.code(), Some(0));
    let stderr = text(&output.stderr);
    assert_eq!(stderr.matches("entity `e").count(), COUNT);
    assert!(stderr.contains(&format!("entity `e{}` is never used", COUNT - 1)));
    assert!(
        stderr.contains(&format!("many.mlsys:{COUNT}:8]")),
        "the last line is located"
    );
    for format in ["json", "github", "sarif"] {
        let output = mlsysc(&["check", &path, "--format", format]);
        assert_eq!(output.status.code(), Some(0), "{format}");
        assert_eq!(text(&output.stdout).matches("never used").count(), COUNT, "{format}");
    }
    let _ = std::fs::remove_dir_all(directory);
}
