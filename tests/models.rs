//! `mlsysc models`, `approve`, `promote` and `rollback` on a registry populated through the
//! registry crate, in a temporary copy of the fraud example.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use mlsys_registry::{Artifact, EventKind, FeatureInput, NewVersion, PromotionRules, Registry, Stage, StageRef};

use crate::support::copy_fraud_spec;

/// 2026-10-31 12:34 UTC.
const TRAINED_AT: i64 = 1_793_450_040_000_000;

fn mlsysc(arguments: &[&str], directory: Option<&Path>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_mlsysc"));
    command.args(arguments).env("NO_COLOR", "1").env("USER", "release-bot");
    if let Some(directory) = directory {
        command.current_dir(directory);
    }
    command.output().expect("mlsysc runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn new_version(seed: u32, production: Option<(u32, f64)>) -> NewVersion {
    let auc = 0.9 + f64::from(seed) / 1000.0;
    NewVersion {
        model: "fraud_detector".to_string(),
        task: "classification".to_string(),
        spec_hash: format!("spec-{seed}"),
        plan_hash: "plan".to_string(),
        features: vec![FeatureInput {
            column: "txn_signals_v2__amount_log".to_string(),
            ty: "float64".to_string(),
            hash: "feature-hash".to_string(),
        }],
        training_set: format!("ts-{seed:04}"),
        training_manifest: format!("{{\"id\":\"ts-{seed:04}\"}}"),
        training_fingerprint: format!("training-{seed}"),
        inputs_fingerprint: format!("inputs-{seed}"),
        algorithm: "gbdt".to_string(),
        hyperparameters: "{\"trees\":200}".to_string(),
        metric: "auc".to_string(),
        metrics: BTreeMap::from([("auc".to_string(), auc), ("logloss".to_string(), 0.2)]),
        reported_metrics: BTreeMap::new(),
        production_version: production.map(|(version, _)| version),
        production_metrics: production.map(|(_, auc)| BTreeMap::from([("auc".to_string(), auc)])),
        promote_if: Some("auc > production.auc".to_string()),
        promotable: production.is_none_or(|(_, production_auc)| auc > production_auc),
        // The fraud example's `approval = required`.
        promotion_rules: Some(PromotionRules {
            approval_required: true,
        }),
        artifact: Artifact {
            path: format!("/artifacts/{seed}"),
            sha256: format!("{seed:064}"),
            bytes: 100,
        },
        onnx: None,
        git_commit: Some("0123abcd".to_string()),
        trained_at: TRAINED_AT,
        seconds: 3.0,
        baseline: None,
        trigger: None,
    }
}

/// A copy of the fraud example whose registry holds v1 (approved, in production, AUC 0.901), v2
/// (a candidate compared with v1, AUC 0.902) and v3 (a candidate, AUC 0.903).
fn project_with_registry(name: &str) -> PathBuf {
    let directory = std::env::temp_dir().join(format!("mlsysc-models-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&directory);
    copy_fraud_spec(&directory);
    let mut registry = Registry::open(&registry_file(&directory)).expect("registry");
    registry.register(&new_version(1, None)).expect("v1");
    registry
        .approve("fraud_detector", 1, "alice", None)
        .expect("approve v1");
    registry
        .promote("fraud_detector", 1, Stage::Production, None)
        .expect("promote v1");
    registry.register(&new_version(2, Some((1, 0.901)))).expect("v2");
    registry.register(&new_version(3, Some((1, 0.901)))).expect("v3");
    directory
}

fn registry_file(directory: &Path) -> PathBuf {
    directory.join(".mlsys").join("registry.db")
}

fn production(directory: &Path) -> Option<u32> {
    Registry::open(&registry_file(directory))
        .expect("registry")
        .resolve("fraud_detector", &StageRef::Production)
        .expect("resolve")
        .map(|version| version.version)
}

#[test]
fn models_prints_one_row_per_version_newest_first() {
    let directory = project_with_registry("table");
    let output = mlsysc(&["models", &directory.display().to_string()], None);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{stdout}");
    for column in [
        "model",
        "version",
        "stage",
        "metric",
        "production",
        "training set",
        "trained at",
        "approvals",
    ] {
        assert!(lines[0].contains(column), "{column}: {stdout}");
    }
    let cells: Vec<Vec<&str>> = lines[1..]
        .iter()
        .map(|line| {
            line.split("  ")
                .map(str::trim)
                .filter(|cell| !cell.is_empty())
                .collect()
        })
        .collect();
    assert_eq!(
        cells[0],
        [
            "fraud_detector",
            "v3",
            "candidate",
            "auc 0.9030",
            "0.9010 (v1)",
            "ts-0003",
            "2026-10-31 12:34",
            "-"
        ]
    );
    assert_eq!(cells[1][..3], ["fraud_detector", "v2", "candidate"]);
    assert_eq!(
        cells[2],
        [
            "fraud_detector",
            "v1",
            "production",
            "auc 0.9010",
            "-",
            "ts-0001",
            "2026-10-31 12:34",
            "alice"
        ]
    );

    // Run inside the project, a lone argument that is not a path names the model.
    let output = mlsysc(&["models", "fraud_detector"], Some(&directory));
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert_eq!(text(&output.stdout), stdout);

    // A path that does not exist stays a path.
    let output = mlsysc(&["models", "no/such/project"], Some(&directory));
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).contains("cannot open no/such/project"),
        "{}",
        text(&output.stderr)
    );

    let output = mlsysc(&["models", &directory.display().to_string(), "churn"], None);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output.stderr).contains("no version of `churn` is registered"),
        "{}",
        text(&output.stderr)
    );
    let _ = std::fs::remove_dir_all(&directory);
}

#[test]
fn models_json_prints_the_full_lineage() {
    let directory = project_with_registry("json");
    let output = mlsysc(&["models", &directory.display().to_string(), "--format", "json"], None);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let versions: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    let versions = versions.as_array().expect("array");
    assert_eq!(versions.len(), 3);
    assert_eq!(versions[0]["version"], 3);
    assert_eq!(versions[0]["stage"], "candidate");
    assert_eq!(versions[0]["lineage"]["training_manifest"], "{\"id\":\"ts-0003\"}");
    assert_eq!(versions[0]["lineage"]["production_version"], 1);
    assert_eq!(versions[0]["lineage"]["features"][0]["hash"], "feature-hash");
    assert_eq!(versions[2]["stage"], "production");
    assert_eq!(versions[2]["approvals"][0]["by"], "alice");
    let _ = std::fs::remove_dir_all(&directory);
}

#[test]
fn an_empty_or_missing_registry_is_reported() {
    let directory = std::env::temp_dir().join(format!("mlsysc-models-empty-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&directory);
    copy_fraud_spec(&directory);
    let project = directory.display().to_string();
    let output = mlsysc(&["models", &project], None);
    assert_eq!(output.status.code(), Some(0));
    assert!(
        text(&output.stdout).starts_with("no models registered yet"),
        "{}",
        text(&output.stdout)
    );
    let output = mlsysc(&["approve", "fraud_detector", "1", &project, "--by", "alice"], None);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output.stderr).contains("no model registry at"),
        "{}",
        text(&output.stderr)
    );
    // Neither command created a registry.
    assert!(!registry_file(&directory).exists());
    let _ = std::fs::remove_dir_all(&directory);
}

#[test]
fn promotion_waits_for_approval_then_rollback_restores() {
    let directory = project_with_registry("promote");
    let project = directory.display().to_string();

    let output = mlsysc(
        &["promote", "fraud_detector", "3", &project, "--to", "production"],
        None,
    );
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        text(&output.stderr).trim(),
        "error: fraud_detector v3 needs an approval: mlsysc approve fraud_detector 3 --by NAME"
    );
    assert_eq!(production(&directory), Some(1));

    // The hint works as printed, from the project directory.
    let output = mlsysc(
        &["approve", "fraud_detector", "3", "--by", "bob", "--note", "AUC up"],
        Some(&directory),
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert_eq!(
        text(&output.stdout).trim(),
        "approved fraud_detector v3 by bob (1 approval); stage: approved"
    );

    let output = mlsysc(
        &["promote", "fraud_detector", "3", &project, "--to", "production"],
        None,
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert_eq!(
        text(&output.stdout).trim(),
        "promoted fraud_detector v3: approved -> production; v1 archived"
    );
    assert_eq!(production(&directory), Some(3));

    let output = mlsysc(&["rollback", "fraud_detector", &project], None);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert_eq!(
        text(&output.stdout).trim(),
        "rolled back fraud_detector: v1 is in production again (was archived); v3 archived"
    );
    assert_eq!(production(&directory), Some(1));
    let output = mlsysc(&["rollback", "fraud_detector", &project], None);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output.stderr).contains("no previous one to roll back to"),
        "{}",
        text(&output.stderr)
    );

    let registry = Registry::open(&registry_file(&directory)).expect("registry");
    let events = registry.events("fraud_detector").expect("events");
    let last = events.last().expect("events");
    assert_eq!(
        (last.version, last.to, last.by.as_deref()),
        (1, Stage::Production, Some("release-bot"))
    );
    let approval = registry
        .version("fraud_detector", 3)
        .expect("read")
        .expect("v3")
        .approvals;
    assert_eq!(
        (approval[0].by.as_str(), approval[0].note.as_deref()),
        ("bob", Some("AUC up"))
    );
    let _ = std::fs::remove_dir_all(&directory);
}

#[test]
fn promote_refuses_unknown_models_versions_and_stages() {
    let directory = project_with_registry("refusals");
    let project = directory.display().to_string();
    let output = mlsysc(&["promote", "churn", "1", &project, "--to", "production"], None);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output.stderr).contains("no model named `churn` in the registry (registered: fraud_detector)"),
        "{}",
        text(&output.stderr)
    );
    let output = mlsysc(&["promote", "fraud_detector", "9", &project, "--to", "shadow"], None);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output.stderr).contains("fraud_detector has no version 9"),
        "{}",
        text(&output.stderr)
    );
    let output = mlsysc(&["promote", "fraud_detector", "2", &project, "--to", "candidate"], None);
    assert_eq!(output.status.code(), Some(2), "clap refuses the stage");
    let output = mlsysc(&["approve", "fraud_detector", "2", &project], None);
    assert_eq!(output.status.code(), Some(2), "--by is required");
    let _ = std::fs::remove_dir_all(&directory);
}

#[test]
fn two_promotions_at_once_leave_exactly_one_production_version() {
    let directory = project_with_registry("concurrent");
    let project = directory.display().to_string();
    {
        let mut registry = Registry::open(&registry_file(&directory)).expect("registry");
        registry
            .approve("fraud_detector", 2, "alice", None)
            .expect("approve v2");
        registry
            .approve("fraud_detector", 3, "alice", None)
            .expect("approve v3");
    }
    // Both processes start before either is waited for, so their transactions overlap.
    let children: Vec<_> = ["2", "3"]
        .into_iter()
        .map(|version| {
            Command::new(env!("CARGO_BIN_EXE_mlsysc"))
                .args(["promote", "fraud_detector", version, &project, "--to", "production"])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawn")
        })
        .collect();
    for child in children {
        let output = child.wait_with_output().expect("wait");
        assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    }
    let registry = Registry::open(&registry_file(&directory)).expect("registry");
    registry.integrity_check().expect("integrity");
    let stages: Vec<Stage> = registry
        .versions("fraud_detector")
        .expect("versions")
        .iter()
        .map(|version| version.stage)
        .collect();
    // One of v2 and v3 won the last word; the other and v1 were archived, one promotion each.
    assert!(
        stages == [Stage::Archived, Stage::Production, Stage::Archived]
            || stages == [Stage::Archived, Stage::Archived, Stage::Production],
        "{stages:?}"
    );
    let events = registry.events("fraud_detector").expect("events");
    let promotions = events.iter().filter(|event| event.kind == EventKind::Promoted).count();
    assert_eq!(promotions, 3);
    let winner = production(&directory).expect("production");
    let rolled_back = mlsysc(&["rollback", "fraud_detector", &project], None);
    assert_eq!(rolled_back.status.code(), Some(0), "{}", text(&rolled_back.stderr));
    // The loser's promotion is in the history too: rolling back restores it, not v1.
    assert_eq!(production(&directory), Some(if winner == 2 { 3 } else { 2 }));
    let _ = std::fs::remove_dir_all(&directory);
}

/// A copy of the fraud example's spec without `approval = required`.
fn spec_without_approval(name: &str) -> PathBuf {
    let directory = std::env::temp_dir().join(format!("mlsysc-models-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&directory);
    copy_fraud_spec(&directory);
    let model = directory.join("model.mlsys");
    let text = std::fs::read_to_string(&model).expect("model.mlsys");
    assert!(text.contains("approval = required"), "{text}");
    std::fs::write(&model, text.replace("approval = required", "")).expect("write");
    directory
}

/// The approval a version was registered under cannot be dropped by promoting it through a copy
/// of the spec without `approval = required` and the real registry.
#[test]
fn promotion_rules_come_from_the_registry_not_the_spec_at_hand() {
    let directory = project_with_registry("recorded-rules");
    let copy = spec_without_approval("recorded-rules-copy");
    let registry = registry_file(&directory).display().to_string();
    let output = mlsysc(
        &[
            "promote",
            "fraud_detector",
            "3",
            &copy.display().to_string(),
            "--registry",
            &registry,
            "--to",
            "production",
        ],
        None,
    );
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stdout));
    assert_eq!(
        text(&output.stderr).trim(),
        "error: fraud_detector v3 needs an approval: mlsysc approve fraud_detector 3 --by NAME"
    );
    assert_eq!(production(&directory), Some(1));
    // Not even a project is needed: the registry alone holds the rules.
    let empty = copy.join("no-project-here");
    std::fs::create_dir_all(&empty).expect("directory");
    let output = mlsysc(
        &[
            "promote",
            "fraud_detector",
            "3",
            "--registry",
            &registry,
            "--to",
            "shadow",
        ],
        Some(&empty),
    );
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    assert!(
        text(&output.stderr).contains("needs an approval"),
        "{}",
        text(&output.stderr)
    );
    let _ = std::fs::remove_dir_all(&directory);
    let _ = std::fs::remove_dir_all(&copy);
}

/// A version registered before the registry recorded rules keeps today's behaviour (the
/// project's rules) and says so.
#[test]
fn a_version_without_recorded_rules_takes_the_projects_and_says_so() {
    let directory = project_with_registry("unrecorded-rules");
    rusqlite::Connection::open(registry_file(&directory))
        .expect("raw")
        .execute(
            "UPDATE model_versions SET approval_required = NULL WHERE version = 3",
            [],
        )
        .expect("forget v3's rules");
    let project = directory.display().to_string();
    let output = mlsysc(
        &["promote", "fraud_detector", "3", &project, "--to", "production"],
        None,
    );
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains(
            "note: fraud_detector v3 was registered before the registry recorded promotion rules; the \
             project's rules apply (approval required)"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("needs an approval"), "{stderr}");

    let copy = spec_without_approval("unrecorded-rules-copy");
    let registry = registry_file(&directory).display().to_string();
    let output = mlsysc(
        &[
            "promote",
            "fraud_detector",
            "3",
            &copy.display().to_string(),
            "--registry",
            &registry,
            "--to",
            "production",
        ],
        None,
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert!(text(&output.stderr).contains("the project's rules apply (approval none)"));
    assert_eq!(production(&directory), Some(3));
    let _ = std::fs::remove_dir_all(&directory);
    let _ = std::fs::remove_dir_all(&copy);
}

#[test]
fn approving_twice_counts_once() {
    let directory = project_with_registry("approve-twice");
    let project = directory.display().to_string();
    let approve = || mlsysc(&["approve", "fraud_detector", "3", &project, "--by", "bob"], None);
    assert_eq!(approve().status.code(), Some(0));
    let again = approve();
    assert_eq!(again.status.code(), Some(1));
    assert_eq!(
        text(&again.stderr).trim(),
        "error: fraud_detector v3 is already approved by bob: an approver counts once"
    );
    let version = Registry::open(&registry_file(&directory))
        .expect("registry")
        .version("fraud_detector", 3)
        .expect("read")
        .expect("v3");
    assert_eq!(version.approvals.len(), 1);
    let _ = std::fs::remove_dir_all(&directory);
}

/// An emptied registry file is an error naming it, never "no models registered yet" (after which
/// the next build would register v1 again, the approvals and stages gone).
#[test]
fn an_emptied_registry_is_an_error_not_a_new_registry() {
    let directory = std::env::temp_dir().join(format!("mlsysc-models-emptied-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&directory);
    copy_fraud_spec(&directory);
    let registry = registry_file(&directory);
    std::fs::create_dir_all(registry.parent().expect("parent")).expect(".mlsys");
    std::fs::write(&registry, b"").expect("an empty registry file");
    let project = directory.display().to_string();
    for arguments in [
        vec!["models", &project],
        vec!["approve", "fraud_detector", "1", &project, "--by", "alice"],
        vec!["promote", "fraud_detector", "1", &project, "--to", "production"],
    ] {
        let output = mlsysc(&arguments, None);
        assert_eq!(output.status.code(), Some(2), "{arguments:?}");
        let stderr = text(&output.stderr);
        assert!(
            stderr.contains(&format!("{} is not a model registry", registry.display()))
                && stderr.contains("the file is empty (0 bytes)"),
            "{arguments:?}: {stderr}"
        );
        assert!(text(&output.stdout).is_empty(), "{arguments:?}");
    }
    assert_eq!(std::fs::metadata(&registry).expect("kept").len(), 0);
    let _ = std::fs::remove_dir_all(&directory);
}
