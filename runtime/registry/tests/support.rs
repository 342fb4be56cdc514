//! Shared test fixtures: temporary directories and fully populated versions.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use mlsys_registry::{Artifact, FeatureInput, NewVersion, PromotionRules, Registry};

/// A directory removed when dropped; unique per test and process.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        let path = std::env::temp_dir().join(format!("mlsys-registry-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("temporary directory");
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn database(&self) -> PathBuf {
        self.0.join("state").join("registry.db")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A version of `model` with every lineage field set; `seed` varies the values.
pub fn new_version(model: &str, seed: u32) -> NewVersion {
    let value = f64::from(seed);
    NewVersion {
        model: model.to_string(),
        task: "classification".to_string(),
        spec_hash: format!("spec-{seed}"),
        plan_hash: format!("plan-{seed}"),
        features: vec![
            FeatureInput {
                column: "txn_signals_v2__amount_log".to_string(),
                ty: "float64".to_string(),
                hash: format!("hash-a-{seed}"),
            },
            FeatureInput {
                column: "user_activity_v1__txn_count_7d".to_string(),
                ty: "int64".to_string(),
                hash: format!("hash-b-{seed}"),
            },
            FeatureInput {
                column: "txn_signals_v2__foreign".to_string(),
                ty: "bool?".to_string(),
                hash: format!("hash-c-{seed}"),
            },
        ],
        training_set: format!("ts-{seed:04}"),
        training_manifest: format!("{{\"id\": \"ts-{seed:04}\", \"rows\": {seed}}}"),
        training_fingerprint: format!("training-{seed}"),
        inputs_fingerprint: format!("inputs-{seed}"),
        algorithm: "gbdt".to_string(),
        hyperparameters: "{\"trees\":200,\"depth\":6,\"learning_rate\":0.05}".to_string(),
        metric: "auc".to_string(),
        metrics: BTreeMap::from([
            ("auc".to_string(), 0.9 + value / 1000.0),
            ("logloss".to_string(), 0.1 / (value + 1.0)),
            ("accuracy".to_string(), 0.97),
            ("f1".to_string(), 1.0 / 3.0),
        ]),
        reported_metrics: BTreeMap::from([("train_auc".to_string(), 0.95 + value / 1000.0)]),
        production_version: None,
        production_metrics: None,
        promote_if: Some("auc > production.auc".to_string()),
        promotable: true,
        promotion_rules: Some(PromotionRules {
            approval_required: false,
        }),
        artifact: Artifact {
            path: format!("/state/artifacts/{seed:064}"),
            sha256: format!("{seed:064}"),
            bytes: 1 << 40,
        },
        onnx: Some(Artifact {
            path: format!("/state/artifacts/onnx-{seed}"),
            sha256: format!("{:064}", seed + 1),
            bytes: 12_345,
        }),
        git_commit: Some(format!("{seed:040x}")),
        trained_at: 1_790_000_000_000_000 + i64::from(seed),
        seconds: 12.5 + value,
        baseline: None,
        trigger: None,
    }
}

/// `version` registered under `approval = required`.
pub fn requiring_approval(version: NewVersion) -> NewVersion {
    NewVersion {
        promotion_rules: Some(PromotionRules {
            approval_required: true,
        }),
        ..version
    }
}

/// Registers `count` versions of `model` (seeds 1..=count).
pub fn register_many(registry: &mut Registry, model: &str, count: u32) {
    for seed in 1..=count {
        registry.register(&new_version(model, seed)).expect("register");
    }
}

/// The version numbers of `model` in `stage`.
pub fn in_stage(registry: &Registry, model: &str, stage: mlsys_registry::Stage) -> Vec<u32> {
    registry
        .versions(model)
        .expect("versions")
        .into_iter()
        .filter(|version| version.stage == stage)
        .map(|version| version.version)
        .collect()
}
