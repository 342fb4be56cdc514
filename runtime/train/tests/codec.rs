//! Native model bytes: canonical, bit-exact round trips, and corrupt bytes as errors (never panics).

use mlsys_train::{
    GbdtParams, LinearModel, Model, ModelError, Task, TrainOptions, Tree, TreeEnsemble, TreeNode, train_gbdt,
};
use proptest::prelude::*;
use std::sync::OnceLock;

use crate::common::{nonlinear_classification, quick_gbdt};

fn small_tree_model() -> Model {
    static MODEL: OnceLock<Model> = OnceLock::new();
    MODEL
        .get_or_init(|| {
            let data = nonlinear_classification(500, 31);
            let params = GbdtParams {
                trees: 3,
                depth: 2,
                ..quick_gbdt()
            };
            train_gbdt(&data, &params, &TrainOptions { threads: 1 }).unwrap()
        })
        .clone()
}

#[test]
fn trained_models_round_trip_to_the_same_bytes() {
    let model = small_tree_model();
    let bytes = model.to_bytes().unwrap();
    let decoded = Model::from_bytes(&bytes).unwrap();
    assert_eq!(decoded, model);
    assert_eq!(decoded.to_bytes().unwrap(), bytes);
    assert!(bytes.starts_with(br#"{"format":"mlsys-model","version":1,"model":{"tree_ensemble":"#));
}

fn linear(intercept: f64, weights: Vec<f64>) -> Model {
    let feature_names = (0..weights.len()).map(|index| format!("f{index}")).collect();
    Model::Logistic(LinearModel {
        feature_names,
        intercept,
        weights,
    })
}

fn tree_model(nodes: Vec<TreeNode>) -> Model {
    Model::TreeEnsemble(TreeEnsemble {
        task: Task::Regression,
        feature_names: vec!["a".into()],
        base_score: 0.5,
        trees: vec![Tree { nodes }],
    })
}

#[test]
fn invalid_models_are_refused_both_ways() {
    assert!(matches!(
        linear(f64::NAN, vec![1.0]).to_bytes(),
        Err(ModelError::Invalid(_))
    ));
    let leaf = |value| TreeNode::Leaf { value };
    let split = |threshold, left, right| TreeNode::Split {
        feature: 0,
        threshold,
        missing_goes_left: true,
        left,
        right,
    };
    let bad_trees = [
        vec![split(0.5, 0, 1), leaf(1.0)],            // a child before its parent: a cycle
        vec![split(0.5, 1, 3), leaf(1.0), leaf(2.0)], // out of range
        vec![split(0.1, 1, 2), leaf(1.0), leaf(2.0)], // 0.1 is not a float32 value
        vec![split(0.5, 1, 1), leaf(1.0)],            // a shared child
        vec![],
    ];
    for nodes in bad_trees {
        let model = tree_model(nodes.clone());
        assert!(model.to_bytes().is_err(), "{nodes:?}");
        // Hand-written JSON with the same content is refused by the decoder too.
        let json = serde_json::json!({"format": "mlsys-model", "version": 1, "model": model});
        let decoded = Model::from_bytes(json.to_string().as_bytes());
        assert!(matches!(decoded, Err(ModelError::Invalid(_))), "{nodes:?}: {decoded:?}");
    }
    let good = tree_model(vec![split(0.5, 1, 2), leaf(1.0), leaf(2.0)]);
    assert_eq!(good.predict(&[0.5]), 1.5);
    assert_eq!(good.predict(&[f64::NAN]), 1.5);
    assert_eq!(good.predict(&[0.500_000_1]), 2.5);
}

#[test]
fn wrong_format_or_version_is_an_error() {
    let bytes = String::from_utf8(small_tree_model().to_bytes().unwrap()).unwrap();
    let newer = bytes.replacen("\"version\":1", "\"version\":2", 1);
    assert!(matches!(
        Model::from_bytes(newer.as_bytes()),
        Err(ModelError::UnsupportedFormat { version: 2, .. })
    ));
    assert!(matches!(Model::from_bytes(b"not json"), Err(ModelError::Syntax(_))));
    assert!(matches!(Model::from_bytes(b""), Err(ModelError::Syntax(_))));
}

proptest! {
    #[test]
    fn floats_round_trip_bit_exactly(intercept_bits in any::<u64>(), weight_bits in proptest::collection::vec(any::<u64>(), 1..8)) {
        let finite = |bits: u64| { let value = f64::from_bits(bits); if value.is_finite() { value } else { 1.0 } };
        let model = linear(finite(intercept_bits), weight_bits.into_iter().map(finite).collect());
        let bytes = model.to_bytes().unwrap();
        let decoded = Model::from_bytes(&bytes).unwrap();
        let (Model::Logistic(original), Model::Logistic(round_tripped)) = (&model, &decoded) else { panic!() };
        prop_assert_eq!(original.intercept.to_bits(), round_tripped.intercept.to_bits());
        let original_bits: Vec<u64> = original.weights.iter().map(|w| w.to_bits()).collect();
        let round_tripped_bits: Vec<u64> = round_tripped.weights.iter().map(|w| w.to_bits()).collect();
        prop_assert_eq!(original_bits, round_tripped_bits);
        prop_assert_eq!(decoded.to_bytes().unwrap(), bytes);
    }

    #[test]
    fn corrupt_bytes_never_panic(edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6), cut in any::<usize>()) {
        let mut bytes = small_tree_model().to_bytes().unwrap();
        for (position, byte) in edits {
            let index = position % bytes.len();
            bytes[index] = byte;
        }
        if cut % 3 == 0 {
            bytes.truncate(cut % bytes.len());
        }
        if let Ok(model) = Model::from_bytes(&bytes) {
            // Whatever decodes is valid: scoring it terminates without panicking.
            let _ = model.predict(&[0.0, 1.0, f64::NAN, -1.0, 2.0, 0.5]);
        }
    }
}
