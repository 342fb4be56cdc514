//! The canonical native model bytes: versioned JSON whose floats decode bit-exactly, plus the
//! structural validation that makes decoded models safe to score and export.
//!
//! Canonical: the same model always encodes to the same bytes (struct fields in declaration order,
//! shortest round-trip float text), so a hash of the bytes identifies the model.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{LinearModel, Model, Tree, TreeEnsemble, TreeNode};
use crate::error::{InvalidModel, ModelError, TreeError};

const MODEL_FORMAT: &str = "mlsys-model";
/// Bumped whenever the encoding changes incompatibly.
pub const MODEL_FORMAT_VERSION: u32 = 1;

#[derive(Serialize)]
struct EnvelopeOut<'a> {
    format: &'static str,
    version: u32,
    model: &'a Model,
}

#[derive(Deserialize)]
struct EnvelopeHeader {
    format: String,
    version: u32,
}

#[derive(Deserialize)]
struct EnvelopeIn {
    model: Model,
}

impl Model {
    /// Encodes the model canonically. Fails only for a model that [`Model::validate`] refuses
    /// (for example a non-finite weight, which JSON cannot hold).
    pub fn to_bytes(&self) -> Result<Vec<u8>, ModelError> {
        self.validate()?;
        serde_json::to_vec(&EnvelopeOut {
            format: MODEL_FORMAT,
            version: MODEL_FORMAT_VERSION,
            model: self,
        })
        .map_err(|error| ModelError::Encode(Arc::new(error)))
    }

    /// Decodes and validates model bytes. Never panics, whatever the bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Model, ModelError> {
        let header: EnvelopeHeader =
            serde_json::from_slice(bytes).map_err(|error| ModelError::Syntax(Arc::new(error)))?;
        if header.format != MODEL_FORMAT || header.version != MODEL_FORMAT_VERSION {
            return Err(ModelError::UnsupportedFormat {
                format: header.format,
                version: header.version,
                expected: MODEL_FORMAT,
                expected_version: MODEL_FORMAT_VERSION,
            });
        }
        let envelope: EnvelopeIn =
            serde_json::from_slice(bytes).map_err(|error| ModelError::Syntax(Arc::new(error)))?;
        envelope.model.validate()?;
        Ok(envelope.model)
    }

    /// Checks the invariants every scorer and exporter relies on: finite numbers, one weight per
    /// feature, float32-exact thresholds, and trees whose children are in range and after their parent.
    pub fn validate(&self) -> Result<(), ModelError> {
        match self {
            Model::Linear(linear) | Model::Logistic(linear) => validate_linear(linear),
            Model::TreeEnsemble(ensemble) => validate_ensemble(ensemble),
        }
    }
}

fn validate_linear(linear: &LinearModel) -> Result<(), ModelError> {
    if linear.weights.len() != linear.feature_names.len() {
        return Err(ModelError::Invalid(InvalidModel::WeightCount {
            weights: linear.weights.len(),
            features: linear.feature_names.len(),
        }));
    }
    if !linear.intercept.is_finite() || linear.weights.iter().any(|weight| !weight.is_finite()) {
        return Err(ModelError::Invalid(InvalidModel::WeightNotFinite));
    }
    Ok(())
}

fn validate_ensemble(ensemble: &TreeEnsemble) -> Result<(), ModelError> {
    if !ensemble.base_score.is_finite() {
        return Err(ModelError::Invalid(InvalidModel::BaseScoreNotFinite));
    }
    let features = ensemble.feature_names.len();
    for (tree_index, tree) in ensemble.trees.iter().enumerate() {
        validate_tree(tree, features).map_err(|problem| {
            ModelError::Invalid(InvalidModel::Tree {
                tree: tree_index,
                problem,
            })
        })?;
    }
    Ok(())
}

fn validate_tree(tree: &Tree, features: usize) -> Result<(), TreeError> {
    if tree.nodes.is_empty() {
        return Err(TreeError::NoNodes);
    }
    if u32::try_from(tree.nodes.len()).is_err() {
        return Err(TreeError::TooManyNodes);
    }
    // Every node but the root must be the child of exactly one earlier node: a tree, not a graph.
    let mut parent_count = vec![0u8; tree.nodes.len()];
    for (index, node) in tree.nodes.iter().enumerate() {
        match *node {
            TreeNode::Leaf { value } => {
                if !value.is_finite() {
                    return Err(TreeError::LeafNotFinite { node: index });
                }
            }
            TreeNode::Split {
                feature,
                threshold,
                left,
                right,
                ..
            } => {
                if feature as usize >= features {
                    return Err(TreeError::Feature {
                        node: index,
                        feature,
                        features,
                    });
                }
                if !threshold.is_finite() || f64::from(threshold as f32) != threshold {
                    return Err(TreeError::Threshold { node: index, threshold });
                }
                for child in [left, right] {
                    let child = child as usize;
                    if child <= index || child >= tree.nodes.len() {
                        return Err(TreeError::Child { node: index, child });
                    }
                    parent_count[child] = parent_count[child].saturating_add(1);
                }
            }
        }
    }
    if let Some(orphan) = parent_count.iter().skip(1).position(|&count| count != 1) {
        return Err(TreeError::Parents { node: orphan + 1 });
    }
    Ok(())
}
