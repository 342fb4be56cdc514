//! The CI side of `mlsysc check`: mlsys.lock, `--base` comparisons, GitHub and SARIF output.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn mlsysc(directory: &Path, arguments: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mlsysc"))
        .current_dir(directory)
        .args(arguments)
        .env("NO_COLOR", "1")
        .output()
        .expect("mlsysc runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A fresh directory holding a copy of examples/fraud, removed on drop.
struct Workspace {
    root: PathBuf,
}

impl Workspace {
    fn new(name: &str) -> Workspace {
        let root = std::env::temp_dir().join(format!("mlsysc-ci-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        crate::support::copy_fraud_spec(&root.join("project"));
        Workspace { root }
    }

    fn project(&self) -> PathBuf {
        self.root.join("project")
    }

    fn edit(&self, file: &str, from: &str, to: &str) {
        let path = self.project().join(file);
        let content = std::fs::read_to_string(&path).expect("read");
        assert!(content.contains(from), "`{from}` not in {file}");
        std::fs::write(&path, content.replacen(from, to, 1)).expect("write");
    }

    fn git(&self, arguments: &[&str]) {
        let status = Command::new("git")
            .current_dir(&self.root)
            .args(["-c", "user.name=mlsys", "-c", "user.email=mlsys@example.com"])
            .args(arguments)
            .output()
            .expect("git runs");
        assert!(status.status.success(), "git {arguments:?}: {}", text(&status.stderr));
    }
}

impl Drop for Workspace {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

#[test]
fn lock_then_editing_a_locked_version_fails_the_check() {
    let workspace = Workspace::new("lock");
    let project = workspace.project();
    let output = mlsysc(&project, &["lock"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let lock = std::fs::read_to_string(project.join("mlsys.lock")).expect("lock written");
    assert!(lock.contains("user_activity@v1.avg_amount_30d = "));
    assert!(lock.contains("[contracts]\ntransactions_v1 = "));
    assert_eq!(mlsysc(&project, &["check"]).status.code(), Some(0));

    // Reformatting is not a change of meaning.
    workspace.edit(
        "features.mlsys",
        "amount_log = ln(1 + amount)",
        "amount_log   =   ln( 1+amount )   // spaced",
    );
    assert_eq!(mlsysc(&project, &["check"]).status.code(), Some(0));

    workspace.edit(
        "features.mlsys",
        "over 30d every 1d\n  max_amount_30d",
        "over 28d every 1d\n  max_amount_30d",
    );
    let output = mlsysc(&project, &["check"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("E0801"), "{stderr}");
    assert!(stderr.contains("declare v2 alongside"), "{stderr}");
    let output = mlsysc(&project, &["lock"]);
    assert_eq!(
        output.status.code(),
        Some(1),
        "lock must refuse a changed locked version"
    );
    assert_eq!(std::fs::read_to_string(project.join("mlsys.lock")).expect("lock"), lock);
    assert_eq!(mlsysc(&project, &["lock", "--force"]).status.code(), Some(0));
    assert_eq!(mlsysc(&project, &["check"]).status.code(), Some(0));
}

#[test]
fn a_corrupt_lock_is_a_usage_error() {
    let workspace = Workspace::new("corrupt");
    let project = workspace.project();
    assert_eq!(mlsysc(&project, &["lock"]).status.code(), Some(0));
    let path = project.join("mlsys.lock");
    let lock = std::fs::read_to_string(&path).expect("lock");
    std::fs::write(&path, lock.replacen("= ", "= not-a-hash ", 3)).expect("write");
    let output = mlsysc(&project, &["check"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).contains("mlsys.lock line"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn check_base_compares_with_a_git_revision() {
    let workspace = Workspace::new("base");
    workspace.git(&["init", "-q", "-b", "main"]);
    workspace.git(&["add", "-A"]);
    workspace.git(&["commit", "-q", "-m", "base"]);
    let project = workspace.project();
    let output = mlsysc(&project, &["check", "--base", "HEAD"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));

    workspace.edit(
        "sources.mlsys",
        "require txn_id, user_id, amount, country, event_time",
        "require txn_id, user_id, amount, event_time",
    );
    workspace.edit(
        "model.mlsys",
        "model = fraud_detector@production",
        "model = fraud_detector@candidate",
    );
    let output = mlsysc(&project, &["check", "--base", "HEAD", "--today", "2026-11-20"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("E0803") && stderr.contains("`country` without notice"),
        "{stderr}"
    );
    assert!(stderr.contains("I0804"), "{stderr}");

    let output = mlsysc(&project, &["check", "--base", "no-such-revision"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).contains("`no-such-revision` does not exist"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn a_base_that_does_not_check_is_never_no_breaking_changes() {
    let workspace = Workspace::new("brokenbase");
    let base = workspace.root.join("base");
    std::fs::create_dir_all(&base).expect("dir");
    std::fs::write(base.join("broken.mlsys"), "source s { format = }\n").expect("write");
    let output = mlsysc(
        &workspace.project(),
        &["check", "--base-dir", &base.display().to_string()],
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).contains("cannot compare with base"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn github_annotations_point_at_the_line() {
    let workspace = Workspace::new("github");
    workspace.edit("features.mlsys", "ln(1 + amount)", "ln(1 + amout)");
    let output = mlsysc(&workspace.root, &["check", "project", "--format", "github"]);
    assert_eq!(output.status.code(), Some(1));
    let stdout = text(&output.stdout);
    assert!(
        stdout.starts_with("::error file=project/features.mlsys,line=21,col=23,endLine=21,endColumn=28,title=E0101 unknown name::unknown name `amout` in a feature%0Ahelp: did you mean `amount`?"),
        "{stdout}"
    );
}

#[test]
fn sarif_output_matches_the_sarif_2_1_0_schema() {
    let schema = std::env::var("MLSYS_SARIF_SCHEMA").unwrap_or_else(|_| {
        panic!("MLSYS_SARIF_SCHEMA is not set: run the tests with scripts/test, which fetches the SARIF 2.1.0 schema")
    });
    let workspace = Workspace::new("sarif");
    workspace.edit("features.mlsys", "ln(1 + amount)", "ln(1 + amout)");
    workspace.edit("features.mlsys", "hour(event_time) < 6", "hour(event_time) < \"6\"");
    let output = mlsysc(&workspace.root, &["check", "project", "--format", "sarif"]);
    assert_eq!(output.status.code(), Some(1));
    let sarif: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    let results = sarif["runs"][0]["results"].as_array().expect("results");
    assert_eq!(results.len(), 2, "{sarif:#}");
    assert_eq!(results[0]["ruleId"], "E0101");
    assert_eq!(
        results[0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
        "project/features.mlsys"
    );
    assert_eq!(
        results[0]["locations"][0]["physicalLocation"]["region"]["startLine"],
        21
    );
    let report = workspace.root.join("report.sarif");
    std::fs::write(&report, &output.stdout).expect("write");
    let validation = Command::new("python3")
        .args([
            "-c",
            "import json, sys, jsonschema\n\
             schema = json.load(open(sys.argv[1]))\n\
             jsonschema.validate(json.load(open(sys.argv[2])), schema)\n\
             print('valid')",
            &schema,
            &report.display().to_string(),
        ])
        .output()
        .expect("python3 runs");
    assert!(
        validation.status.success(),
        "SARIF does not match the schema:\n{}",
        text(&validation.stderr)
    );
}

#[test]
fn every_output_format_is_stable() {
    let workspace = Workspace::new("formats");
    workspace.edit("features.mlsys", "ln(1 + amount)", "ln(1 + amout)");
    workspace.edit("model.mlsys", "holdout = 2026-05-01", "holdout = 2026-04-01");
    workspace.edit(
        "features.mlsys",
        "  web =",
        "  has_merchant = not is_null(merchant)\n  web =",
    );
    for format in ["human", "json", "github", "sarif"] {
        let output = mlsysc(&workspace.root, &["check", "project", "--format", format]);
        assert_eq!(output.status.code(), Some(1), "{format}");
        let rendered = if format == "human" {
            text(&output.stderr)
        } else {
            text(&output.stdout)
        };
        insta::with_settings!({
            snapshot_path => concat!(env!("CARGO_MANIFEST_DIR"), "/tests/snapshots"),
            prepend_module_to_snapshot => false,
            omit_expression => true,
        }, {
            insta::assert_snapshot!(format!("check_format_{format}"), rendered);
        });
    }
}
