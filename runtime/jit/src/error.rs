//! The one error type of the crate: why a feature set or a model could not be compiled, or why a
//! row could not be evaluated.

use mlsys_compiler::plan::{ExprId, FeatureId};
use mlsys_compiler::types::BaseType;
use mlsys_kernels::interpret::MAX_DEPTH;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum JitError {
    #[error("feature {0} is not in the plan")]
    MissingFeature(FeatureId),
    #[error("expression {0} is not in the plan")]
    MissingExpr(ExprId),
    /// The plan holds something the reference interpreter would refuse too (an ill-typed node, a
    /// builtin with the wrong arity or a non-constant bucket count), or a training metric, which
    /// only `promote_if` reads and the per-row function never computes.
    #[error("expression {expr}: {message}")]
    Unsupported { expr: ExprId, message: String },
    #[error("feature {feature}: {message}")]
    BadFeature { feature: FeatureId, message: String },
    #[error("expression {0} is nested more than {MAX_DEPTH} deep")]
    TooDeep(ExprId),
    #[error("this machine is not supported by the code generator: {0}")]
    UnsupportedHost(String),
    /// Cranelift refused the function: a bug of this crate, reported instead of aborting.
    #[error("code generation failed: {0}")]
    Codegen(String),
    #[error("{actual} input values given, the feature set reads {expected}")]
    InputCount { expected: usize, actual: usize },
    #[error("input slot {index} holds {} values, not {}", .expected.name(), .found.name())]
    InputType {
        index: usize,
        expected: BaseType,
        found: BaseType,
    },
    #[error("slot {index} does not exist ({count} slots)")]
    SlotIndex { index: usize, count: usize },
    #[error("the row was made by another compiled feature set")]
    ForeignRow,
    /// A model's tree without nodes: [`mlsys_train::Model::from_bytes`] refuses it too.
    #[error("tree {tree} of the model has no nodes")]
    EmptyTree { tree: usize },
    /// A model's split whose child is out of range or not after it, which would make the tree a
    /// graph with cycles or dangling edges: [`mlsys_train::Model::from_bytes`] refuses it too.
    #[error("tree {tree} of the model: node {node} has child {child}, out of order or range")]
    TreeChild { tree: usize, node: usize, child: usize },
    #[error("{values} values are not a whole number of rows of {features} features")]
    RowMatrixShape { values: usize, features: usize },
}

impl JitError {
    pub(crate) fn unsupported(expr: ExprId, message: impl Into<String>) -> JitError {
        JitError::Unsupported {
            expr,
            message: message.into(),
        }
    }
}
