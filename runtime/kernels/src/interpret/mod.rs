//! The reference interpreter over the feature plan: the test oracle both engines are compared with.
//! It follows lang-spec literally and favours clarity over speed.
//!
//! Architecture Invariant: it never panics on a plan that passes `mlsys_compiler::plan::verify`
//! (nor on most that do not). A plan the checker would never produce (an ill-typed literal, a
//! builtin with the wrong arity) gives an [`EvalError`], never a guessed value.

mod call;
mod feature;
mod inputs;
mod operators;

use mlsys_compiler::builtins::Builtin;
use mlsys_compiler::plan::{BinaryOp, ExprId, ExprKind, FeatureId, Literal, Plan, UnaryOp};

pub use feature::{evaluate_aggregate, evaluate_feature, evaluate_features};
pub use inputs::{Bindings, Inputs, find_column, find_feature};

use crate::aggregate::AggregateError;
use crate::value::Value;

/// How deep the interpreter recurses into one expression. The parser allows trees 192 operators deep
/// and lowering adds at most a `ToFloat` per operator; deeper plans (from JSON, say) are refused
/// instead of risking the stack (512 levels fit in 1 MiB of stack even in a debug build; tested).
pub const MAX_DEPTH: usize = 512;

#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum EvalError {
    #[error("expression {0} is not in the plan")]
    MissingExpr(ExprId),
    #[error("feature {0} is not in the plan")]
    MissingFeature(FeatureId),
    /// An operation on values it has no definition for. The operands are shown in the message
    /// (the error has no cause of its own beyond them).
    #[error("expression {expr}: {error}")]
    IllTyped { expr: ExprId, error: OperandError },
    #[error("expression {0} is nested more than {MAX_DEPTH} deep")]
    TooDeep(ExprId),
    #[error("feature {feature}")]
    Aggregate {
        feature: FeatureId,
        #[source]
        source: AggregateError,
    },
    /// [`evaluate_aggregate`] of a feature that is not a windowed aggregate, whose group, source or
    /// timestamp column is missing, or over an event whose timestamp column holds another type.
    #[error("feature {feature}: {message}")]
    BadFeature { feature: FeatureId, message: String },
}

/// An operator, builtin or `if` applied to values of types it has no definition for: only a plan
/// the checker would never produce (or a wrongly typed input) gets one.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum OperandError {
    #[error("{op:?} of {operand}")]
    Unary { op: UnaryOp, operand: Value },
    #[error("{} of {lhs} and {rhs}", op.name())]
    Binary { op: BinaryOp, lhs: Value, rhs: Value },
    #[error("`in` compares {operand} with {item}")]
    In { operand: Value, item: Value },
    #[error("`{}` has no definition for ({})", function.name(), shown(arguments))]
    Call { function: Builtin, arguments: Vec<Value> },
    #[error("to_float64 of {0}")]
    ToFloat(Value),
    #[error("`if` condition {0} is not a bool")]
    Condition(Value),
}

fn shown(values: &[Value]) -> String {
    values.iter().map(Value::to_string).collect::<Vec<_>>().join(", ")
}

/// The value of expression `expr` of `plan`, reading columns, features and metrics from `inputs`.
pub fn evaluate(plan: &Plan, expr: ExprId, inputs: &dyn Inputs) -> Result<Value, EvalError> {
    Evaluator { plan, inputs }.eval(expr, 0)
}

struct Evaluator<'a> {
    plan: &'a Plan,
    inputs: &'a dyn Inputs,
}

/// `eval` only dispatches and each node kind has its own method, so that one level of recursion
/// costs two small stack frames even in debug builds (which give every local of a function its own
/// slot).
impl Evaluator<'_> {
    fn eval(&self, id: ExprId, depth: usize) -> Result<Value, EvalError> {
        if depth > MAX_DEPTH {
            return Err(EvalError::TooDeep(id));
        }
        let expr = self.plan.exprs.get(id).ok_or(EvalError::MissingExpr(id))?;
        let depth = depth + 1;
        match &expr.kind {
            ExprKind::Literal { value } => Ok(Value::from(value)),
            ExprKind::Column { source, column } => Ok(self.inputs.column(*source, *column)),
            ExprKind::Feature { feature } => Ok(self.inputs.feature(*feature)),
            ExprKind::Metric { side, metric } => Ok(self.inputs.metric(*side, *metric)),
            ExprKind::ToFloat { operand } => self.to_float(id, *operand, depth),
            ExprKind::Unary { unary, operand } => {
                let operand = self.eval(*operand, depth)?;
                operators::unary(*unary, operand).map_err(|error| ill_typed(id, error))
            }
            ExprKind::Binary { binary, lhs, rhs } => self.binary(id, *binary, *lhs, *rhs, depth),
            ExprKind::Call { function, arguments } => self.call(id, *function, arguments, depth),
            ExprKind::In { operand, list, negated } => self.in_list(id, *operand, list, *negated, depth),
            ExprKind::If { branches, otherwise } => self.if_chain(id, branches, *otherwise, depth),
        }
    }

    fn to_float(&self, id: ExprId, operand: ExprId, depth: usize) -> Result<Value, EvalError> {
        match self.eval(operand, depth)? {
            Value::Null => Ok(Value::Null),
            Value::Int(value) => Ok(Value::Float(crate::operators::to_float(value))),
            other => Err(ill_typed(id, OperandError::ToFloat(other))),
        }
    }

    fn binary(&self, id: ExprId, op: BinaryOp, lhs: ExprId, rhs: ExprId, depth: usize) -> Result<Value, EvalError> {
        let lhs = self.eval(lhs, depth)?;
        let rhs = self.eval(rhs, depth)?;
        operators::binary(op, lhs, rhs).map_err(|error| ill_typed(id, error))
    }

    fn call(&self, id: ExprId, function: Builtin, arguments: &[ExprId], depth: usize) -> Result<Value, EvalError> {
        let values = arguments
            .iter()
            .map(|argument| self.eval(*argument, depth))
            .collect::<Result<Vec<_>, _>>()?;
        call::call(function, &values).map_err(|error| ill_typed(id, error))
    }

    fn in_list(
        &self,
        id: ExprId,
        operand: ExprId,
        list: &[Literal],
        negated: bool,
        depth: usize,
    ) -> Result<Value, EvalError> {
        let operand = self.eval(operand, depth)?;
        let found = operators::in_list(&operand, list).map_err(|error| ill_typed(id, error))?;
        Ok(Value::from(if negated { crate::operators::not3(found) } else { found }))
    }

    fn if_chain(
        &self,
        id: ExprId,
        branches: &[(ExprId, ExprId)],
        otherwise: ExprId,
        depth: usize,
    ) -> Result<Value, EvalError> {
        for (condition, then) in branches {
            // A null condition moves on, like `false` (SQL CASE).
            match self.eval(*condition, depth)? {
                Value::Bool(true) => return self.eval(*then, depth),
                Value::Bool(false) | Value::Null => {}
                other => return Err(ill_typed(id, OperandError::Condition(other))),
            }
        }
        self.eval(otherwise, depth)
    }
}

fn ill_typed(expr: ExprId, error: OperandError) -> EvalError {
    EvalError::IllTyped { expr, error }
}
