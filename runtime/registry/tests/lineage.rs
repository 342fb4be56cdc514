//! Registration: version numbering, exact lineage round trips, lookups.

use std::collections::BTreeMap;

use mlsys_registry::{Registry, RegistryError, Stage};

use crate::support::{TempDir, new_version, register_many};

#[test]
fn register_assigns_one_two_three_per_model() {
    let directory = TempDir::new("numbering");
    let mut registry = Registry::open(&directory.database()).expect("open");
    let numbers: Vec<u32> = (1..=3)
        .map(|seed| {
            registry
                .register(&new_version("fraud", seed))
                .expect("register")
                .version
        })
        .collect();
    assert_eq!(numbers, [1, 2, 3]);
    // Another model counts on its own.
    assert_eq!(
        registry.register(&new_version("churn", 9)).expect("register").version,
        1
    );
    assert_eq!(registry.models().expect("models"), ["churn", "fraud"]);
    let listed: Vec<(u32, Stage)> = registry
        .versions("fraud")
        .expect("versions")
        .iter()
        .map(|version| (version.version, version.stage))
        .collect();
    assert_eq!(
        listed,
        [(1, Stage::Candidate), (2, Stage::Candidate), (3, Stage::Candidate)]
    );
}

#[test]
fn lineage_round_trips_exactly() {
    let directory = TempDir::new("round-trip");
    let mut registry = Registry::open(&directory.database()).expect("open");
    registry.register(&new_version("fraud", 1)).expect("register v1");
    let mut new = new_version("fraud", 2);
    new.production_version = Some(1);
    new.production_metrics = Some(BTreeMap::from([
        ("auc".to_string(), 0.912_345_678_901_234_5),
        ("logloss".to_string(), f64::MIN_POSITIVE),
        ("accuracy".to_string(), f64::INFINITY),
    ]));
    new.metrics.insert("tiny".to_string(), 5e-324);
    new.promotable = false;
    new.git_commit = None;
    new.trained_at = -5;
    new.baseline = Some(serde_json::json!({"inputs": [{"name": "amount", "counts": [1, 2, 0]}], "score": 0.25}));
    new.trigger = Some(serde_json::json!({"monitor": "fraud_health", "auc": 0.61}));
    let registered = registry.register(&new).expect("register v2");
    assert_eq!(registered.lineage, new);

    // Read back through a fresh connection: what is on disk, not what is cached.
    drop(registry);
    let registry = Registry::open(&directory.database()).expect("reopen");
    let stored = registry.version("fraud", 2).expect("read").expect("v2");
    assert_eq!(stored.lineage, new);
    assert_eq!(stored, registered);
    assert_eq!(stored.headline(), new.metrics["auc"]);
    assert_eq!(stored.production_headline(), Some((1, 0.912_345_678_901_234_5)));
    // Bit-exact, not approximately equal.
    for (name, value) in &new.metrics {
        assert_eq!(stored.lineage.metrics[name].to_bits(), value.to_bits(), "{name}");
    }
}

#[test]
fn optional_lineage_and_nan_metrics_round_trip() {
    let directory = TempDir::new("optional");
    let mut registry = Registry::open(&directory.database()).expect("open");
    registry.register(&new_version("fraud", 1)).expect("register v1");
    let mut new = new_version("fraud", 2);
    new.onnx = None;
    new.promote_if = None;
    new.features.clear();
    // A production version compared on a holdout where no metric could be computed: an empty map,
    // which must stay distinct from "not compared".
    new.production_version = Some(1);
    new.production_metrics = Some(BTreeMap::new());
    new.metrics.insert("auc".to_string(), f64::NAN);
    new.seconds = f64::NAN;
    registry.register(&new).expect("register v2");
    let stored = registry.version("fraud", 2).expect("read").expect("v2");
    assert!(stored.lineage.metrics["auc"].is_nan());
    assert!(stored.lineage.seconds.is_nan());
    assert_eq!(stored.lineage.production_metrics, Some(BTreeMap::new()));
    assert_eq!(stored.lineage.onnx, None);
    assert_eq!(stored.lineage.promote_if, None);
    assert!(stored.lineage.features.is_empty());
    assert_eq!((&stored.lineage.baseline, &stored.lineage.trigger), (&None, &None));
    let first = registry.version("fraud", 1).expect("read").expect("v1");
    assert_eq!(first.lineage.production_metrics, None);
    assert_eq!(first.lineage.features.len(), 3);
}

#[test]
fn find_by_inputs_returns_the_newest_match() {
    let directory = TempDir::new("find-by-inputs");
    let mut registry = Registry::open(&directory.database()).expect("open");
    register_many(&mut registry, "fraud", 3);
    let mut same_inputs = new_version("fraud", 4);
    same_inputs.inputs_fingerprint = "inputs-2".to_string();
    registry.register(&same_inputs).expect("register v4");
    registry.promote("fraud", 4, Stage::Archived, None).expect("archive v4");

    let found = registry.find_by_inputs("fraud", "inputs-2").expect("find");
    assert_eq!(found.map(|version| version.version), Some(4));
    let found = registry.find_by_inputs("fraud", "inputs-3").expect("find");
    assert_eq!(
        found.map(|version| (version.version, version.lineage.training_set)),
        Some((3, "ts-0003".to_string()))
    );
    assert_eq!(registry.find_by_inputs("fraud", "inputs-9").expect("find"), None);
    assert_eq!(registry.find_by_inputs("churn", "inputs-2").expect("find"), None);
}

#[test]
fn unknown_models_and_versions_read_as_absent() {
    let directory = TempDir::new("absent");
    let mut registry = Registry::open(&directory.database()).expect("open");
    assert!(registry.models().expect("models").is_empty());
    assert!(registry.versions("fraud").expect("versions").is_empty());
    register_many(&mut registry, "fraud", 1);
    assert_eq!(registry.version("fraud", 2).expect("read"), None);
    assert_eq!(registry.version("churn", 1).expect("read"), None);
}

#[test]
fn invalid_registrations_are_refused_and_leave_nothing() {
    let directory = TempDir::new("invalid");
    let mut registry = Registry::open(&directory.database()).expect("open");
    let error = registry.register(&new_version("  ", 1)).expect_err("blank name");
    assert!(matches!(error, RegistryError::InvalidRegistration { .. }), "{error}");

    let mut compared_with_nothing = new_version("fraud", 1);
    compared_with_nothing.production_version = Some(1);
    let error = registry
        .register(&compared_with_nothing)
        .expect_err("unknown production");
    assert_eq!(
        error.to_string(),
        "invalid registration of `fraud`: it was compared with production v1, which is not a registered version"
    );
    assert!(registry.models().expect("models").is_empty());
    assert!(registry.events("fraud").expect("events").is_empty());
    assert_eq!(
        registry.register(&new_version("fraud", 1)).expect("register").version,
        1
    );
}
