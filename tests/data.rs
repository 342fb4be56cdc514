//! `mlsysc check --data`: drift between the declared schema and contracts and the live files.

use std::path::{Path, PathBuf};
use std::process::Command;

fn project(name: &str) -> PathBuf {
    crate::support::fraud_project(&format!("data-{name}"))
}

fn edit(root: &Path, from: &str, to: &str) {
    let path = root.join("sources.mlsys");
    let text = std::fs::read_to_string(&path).expect("read");
    assert!(text.contains(from), "{from}");
    std::fs::write(&path, text.replacen(from, to, 1)).expect("write");
}

fn codes(root: &Path) -> (Option<i32>, Vec<(String, String)>) {
    let output = Command::new(env!("CARGO_BIN_EXE_mlsysc"))
        .args([
            "check",
            &root.display().to_string(),
            "--data",
            "--sample",
            "200000",
            "--format",
            "json",
        ])
        .output()
        .expect("mlsysc runs");
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    let findings = report["diagnostics"]
        .as_array()
        .expect("diagnostics")
        .iter()
        .map(|diagnostic| {
            (
                diagnostic["code"].as_str().unwrap_or_default().to_string(),
                diagnostic["message"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    (output.status.code(), findings)
}

fn has(findings: &[(String, String)], code: &str, text: &str) -> bool {
    findings
        .iter()
        .any(|(found, message)| found == code && message.contains(text))
}

#[test]
fn the_example_data_shows_its_planted_problems() {
    let root = project("example");
    let (status, findings) = codes(&root);
    assert_eq!(status, Some(0), "{findings:?}");
    assert!(
        has(&findings, "W0902", "`is_fraud` values do not read as bool"),
        "{findings:?}"
    );
    assert!(has(&findings, "W0903", "column `device_os`"), "{findings:?}");
    assert!(
        has(&findings, "W0904", "`expect amount >= 0` fails on <0.01% (1 of 112329)"),
        "{findings:?}"
    );
    assert!(has(&findings, "W0904", "`expect unique(txn_id)`"), "{findings:?}");
    assert!(has(&findings, "W0904", "have no `user_id`"), "{findings:?}");
    let _ = std::fs::remove_dir_all(root);
}

#[test]
fn schema_drift_is_reported_at_the_declaration() {
    let root = project("drift");
    edit(
        &root,
        "    merchant: string?\n",
        "    merchant: int64?\n    terminal: string\n    terminal_os: string?\n",
    );
    edit(&root, "\"data/raw/chargebacks\"", "\"data/raw/nothing\"");
    std::fs::create_dir_all(root.join("data/raw/nothing")).expect("empty location");
    let (status, findings) = codes(&root);
    assert_eq!(status, Some(1), "{findings:?}");
    assert!(
        has(&findings, "E0901", "declared column `terminal` is missing from"),
        "{findings:?}"
    );
    assert!(
        has(&findings, "W0901", "declared column `terminal_os` is missing"),
        "{findings:?}"
    );
    assert!(
        has(
            &findings,
            "E0902",
            "column `merchant` is declared int64 but no sampled value reads as one"
        ),
        "{findings:?}"
    );
    assert!(
        has(&findings, "W0905", "source `chargebacks` has no data files"),
        "{findings:?}"
    );
    let _ = std::fs::remove_dir_all(root);
}
