//! ONNX export: every built-in model as an ONNX graph that ONNX Runtime scores like the native scorer.
//!
//! The graph has one input `features`, float64 `[N, F]`, and one float64 `[N, 1]` output:
//! `probability` (classification) or `prediction` (regression). Float64 end to end keeps ONNX
//! Runtime within rounding of the native scores (only the summation order may differ):
//! - tree ensembles: `ai.onnx.ml.TreeEnsemble` (opset 5) with `BRANCH_LEQ` splits (true = left, as
//!   the native `x <= threshold`), `nodes_missing_value_tracks_true` from the learned default side,
//!   float64 splits and leaf weights (all float32 values, so even a float32 implementation holds them
//!   exactly), then `Add` of the base score and, for classification, `Sigmoid`;
//! - linear models: `Where(IsNaN(x), 0, x)` (missing reads as 0), `MatMul` by the weights, `Add` the
//!   intercept, `Sigmoid` for logistic regression.
//!
//! The model's feature names are stored in the metadata property `feature_names` (a JSON array).

mod proto;
pub mod runtime;

use prost::Message;

use crate::dataset::Task;
use crate::error::OnnxError;
use crate::model::{LinearModel, Model, TreeEnsemble, TreeNode};
use proto::{
    AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, StringStringEntryProto, TensorProto,
    TensorShapeDimension, TensorShapeProto, TypeProto, TypeProtoTensor, ValueInfoProto, attribute_type, data_type,
};

/// The name of the graph input.
pub const ONNX_INPUT: &str = "features";
/// ONNX IR version written (ONNX Runtime 1.31 reads up to 13).
pub const ONNX_IR_VERSION: i64 = 10;
const OPSET_ONNX: i64 = 21;
const OPSET_ONNX_ML: i64 = 5;
const DOMAIN_ML: &str = "ai.onnx.ml";
/// `TreeEnsemble.nodes_modes`: `x <= split` takes the true branch.
const BRANCH_LEQ: u8 = 0;

/// The name of the graph output for a model of this task.
pub fn onnx_output_name(task: Task) -> &'static str {
    match task {
        Task::Classification => "probability",
        Task::Regression => "prediction",
    }
}

/// Encodes the model as an ONNX `ModelProto`. `feature_names` name the model's inputs, in order.
pub fn to_onnx(model: &Model, feature_names: &[String]) -> Result<Vec<u8>, OnnxError> {
    model
        .validate()
        .map_err(|error| OnnxError::InvalidModel(error.to_string()))?;
    let features = model.feature_names().len();
    if feature_names.len() != features {
        return Err(OnnxError::FeatureNameCount {
            names: feature_names.len(),
            features,
        });
    }
    let output = onnx_output_name(model.task());
    let mut graph = match model {
        Model::Linear(linear) => linear_graph(linear, output, false),
        Model::Logistic(linear) => linear_graph(linear, output, true),
        Model::TreeEnsemble(ensemble) => tree_graph(ensemble, output),
    };
    graph.name = Some("mlsys_model".to_string());
    graph.input.push(tensor_value_info(ONNX_INPUT, Some(features as i64)));
    graph.output.push(tensor_value_info(output, Some(1)));
    let model_proto = ModelProto {
        ir_version: Some(ONNX_IR_VERSION),
        producer_name: Some("mlsys".to_string()),
        producer_version: Some(env!("CARGO_PKG_VERSION").to_string()),
        doc_string: None,
        graph: Some(graph),
        opset_import: vec![
            OperatorSetIdProto {
                domain: Some(String::new()),
                version: Some(OPSET_ONNX),
            },
            OperatorSetIdProto {
                domain: Some(DOMAIN_ML.to_string()),
                version: Some(OPSET_ONNX_ML),
            },
        ],
        metadata_props: vec![StringStringEntryProto {
            key: Some("feature_names".to_string()),
            value: Some(serde_json::Value::from(feature_names.to_vec()).to_string()),
        }],
    };
    Ok(model_proto.encode_to_vec())
}

fn tensor_value_info(name: &str, columns: Option<i64>) -> ValueInfoProto {
    let rows = TensorShapeDimension {
        dim_value: None,
        dim_param: Some("N".to_string()),
    };
    let columns = TensorShapeDimension {
        dim_value: columns,
        dim_param: None,
    };
    ValueInfoProto {
        name: Some(name.to_string()),
        r#type: Some(TypeProto {
            tensor_type: Some(TypeProtoTensor {
                elem_type: Some(data_type::DOUBLE),
                shape: Some(TensorShapeProto {
                    dim: vec![rows, columns],
                }),
            }),
        }),
    }
}

fn double_tensor(name: Option<&str>, dims: Vec<i64>, values: &[f64]) -> TensorProto {
    TensorProto {
        dims,
        data_type: Some(data_type::DOUBLE),
        name: name.map(str::to_string),
        raw_data: Some(values.iter().flat_map(|value| value.to_le_bytes()).collect()),
    }
}

fn node(op_type: &str, domain: &str, inputs: &[&str], output: &str, attribute: Vec<AttributeProto>) -> NodeProto {
    NodeProto {
        input: inputs.iter().map(|input| input.to_string()).collect(),
        output: vec![output.to_string()],
        name: Some(output.to_string()),
        op_type: Some(op_type.to_string()),
        attribute,
        domain: Some(domain.to_string()),
    }
}

fn int_attribute(name: &str, value: i64) -> AttributeProto {
    AttributeProto {
        name: Some(name.to_string()),
        i: Some(value),
        r#type: Some(attribute_type::INT),
        ..AttributeProto::default()
    }
}

fn ints_attribute(name: &str, values: Vec<i64>) -> AttributeProto {
    AttributeProto {
        name: Some(name.to_string()),
        ints: values,
        r#type: Some(attribute_type::INTS),
        ..AttributeProto::default()
    }
}

fn tensor_attribute(name: &str, tensor: TensorProto) -> AttributeProto {
    AttributeProto {
        name: Some(name.to_string()),
        t: Some(tensor),
        r#type: Some(attribute_type::TENSOR),
        ..AttributeProto::default()
    }
}

fn linear_graph(linear: &LinearModel, output: &str, logistic: bool) -> GraphProto {
    let features = linear.weights.len() as i64;
    let score = if logistic { "score" } else { output };
    let mut nodes = vec![
        node("IsNaN", "", &[ONNX_INPUT], "features_missing", Vec::new()),
        node(
            "Where",
            "",
            &["features_missing", "zero", ONNX_INPUT],
            "features_or_zero",
            Vec::new(),
        ),
        node(
            "MatMul",
            "",
            &["features_or_zero", "weights"],
            "weighted_sum",
            Vec::new(),
        ),
        node("Add", "", &["weighted_sum", "intercept"], score, Vec::new()),
    ];
    if logistic {
        nodes.push(node("Sigmoid", "", &[score], output, Vec::new()));
    }
    GraphProto {
        node: nodes,
        name: None,
        initializer: vec![
            double_tensor(Some("zero"), Vec::new(), &[0.0]),
            double_tensor(Some("weights"), vec![features, 1], &linear.weights),
            double_tensor(Some("intercept"), vec![1], &[linear.intercept]),
        ],
        input: Vec::new(),
        output: Vec::new(),
    }
}

/// The flattened `TreeEnsemble` arrays: interior nodes of all trees, then leaves.
#[derive(Default)]
struct EnsembleArrays {
    tree_roots: Vec<i64>,
    feature_ids: Vec<i64>,
    splits: Vec<f64>,
    true_ids: Vec<i64>,
    true_is_leaf: Vec<i64>,
    false_ids: Vec<i64>,
    false_is_leaf: Vec<i64>,
    missing_tracks_true: Vec<i64>,
    leaf_weights: Vec<f64>,
}

impl EnsembleArrays {
    fn push_leaf(&mut self, value: f64) -> i64 {
        self.leaf_weights.push(value);
        self.leaf_weights.len() as i64 - 1
    }

    fn push_tree(&mut self, nodes: &[TreeNode]) {
        // A tree that is one leaf still needs an interior root: a split whose both sides hold it.
        if let Some(TreeNode::Leaf { value }) = nodes.first() {
            self.tree_roots.push(self.feature_ids.len() as i64);
            let (left, right) = (self.push_leaf(*value), self.push_leaf(*value));
            self.push_interior(0, 0.0, (left, 1), (right, 1), true);
            return;
        }
        // Interior nodes and leaves get consecutive global indices in tree order.
        let first_interior = self.feature_ids.len() as i64;
        let mut global = Vec::with_capacity(nodes.len());
        let (mut interior_count, mut leaf_count) = (0i64, self.leaf_weights.len() as i64);
        for node in nodes {
            match node {
                TreeNode::Split { .. } => {
                    global.push(first_interior + interior_count);
                    interior_count += 1;
                }
                TreeNode::Leaf { .. } => {
                    global.push(leaf_count);
                    leaf_count += 1;
                }
            }
        }
        self.tree_roots.push(first_interior);
        let child = |index: u32| {
            let is_leaf = matches!(nodes[index as usize], TreeNode::Leaf { .. });
            (global[index as usize], i64::from(is_leaf))
        };
        for node in nodes {
            match *node {
                TreeNode::Split {
                    feature,
                    threshold,
                    missing_goes_left,
                    left,
                    right,
                } => {
                    self.push_interior(
                        i64::from(feature),
                        threshold,
                        child(left),
                        child(right),
                        missing_goes_left,
                    );
                }
                TreeNode::Leaf { value } => {
                    self.push_leaf(value);
                }
            }
        }
    }

    fn push_interior(&mut self, feature: i64, split: f64, left: (i64, i64), right: (i64, i64), missing_left: bool) {
        self.feature_ids.push(feature);
        self.splits.push(split);
        self.true_ids.push(left.0);
        self.true_is_leaf.push(left.1);
        self.false_ids.push(right.0);
        self.false_is_leaf.push(right.1);
        self.missing_tracks_true.push(i64::from(missing_left));
    }
}

fn tree_graph(ensemble: &TreeEnsemble, output: &str) -> GraphProto {
    let mut arrays = EnsembleArrays::default();
    for tree in &ensemble.trees {
        arrays.push_tree(&tree.nodes);
    }
    if ensemble.trees.is_empty() {
        arrays.push_tree(&[TreeNode::Leaf { value: 0.0 }]);
    }
    let interior = arrays.feature_ids.len() as i64;
    let leaves = arrays.leaf_weights.len() as i64;
    let modes = TensorProto {
        dims: vec![interior],
        data_type: Some(data_type::UINT8),
        name: None,
        raw_data: Some(vec![BRANCH_LEQ; interior as usize]),
    };
    let attributes = vec![
        int_attribute("n_targets", 1),
        int_attribute("aggregate_function", 1),
        int_attribute("post_transform", 0),
        ints_attribute("tree_roots", arrays.tree_roots),
        ints_attribute("nodes_featureids", arrays.feature_ids),
        tensor_attribute("nodes_modes", modes),
        tensor_attribute("nodes_splits", double_tensor(None, vec![interior], &arrays.splits)),
        ints_attribute("nodes_truenodeids", arrays.true_ids),
        ints_attribute("nodes_trueleafs", arrays.true_is_leaf),
        ints_attribute("nodes_falsenodeids", arrays.false_ids),
        ints_attribute("nodes_falseleafs", arrays.false_is_leaf),
        ints_attribute("nodes_missing_value_tracks_true", arrays.missing_tracks_true),
        ints_attribute("leaf_targetids", vec![0; leaves as usize]),
        tensor_attribute("leaf_weights", double_tensor(None, vec![leaves], &arrays.leaf_weights)),
    ];
    let classification = ensemble.task == Task::Classification;
    let score = if classification { "score" } else { output };
    let mut nodes = vec![
        node("TreeEnsemble", DOMAIN_ML, &[ONNX_INPUT], "tree_sum", attributes),
        node("Add", "", &["tree_sum", "base_score"], score, Vec::new()),
    ];
    if classification {
        nodes.push(node("Sigmoid", "", &[score], output, Vec::new()));
    }
    GraphProto {
        node: nodes,
        name: None,
        initializer: vec![double_tensor(Some("base_score"), vec![1], &[ensemble.base_score])],
        input: Vec::new(),
        output: Vec::new(),
    }
}
