//! Lowering of feature-plan expressions to DataFusion logical expressions (never SQL text).
//!
//! Architecture Invariant: a lowered expression computes, on every input row, the value the
//! reference interpreter (`mlsys_kernels::interpret::evaluate`) gives, bit for bit, and its Arrow type
//! is exactly [`arrow_type`] of the plan expression's type. DataFusion's own operators are used only
//! where they are identical to lang-spec on every input, nulls included (each use says why);
//! everything else is a [`KernelUdf`] calling the kernel functions the interpreter calls.
//! `tests/lower.rs` checks this differentially on the example projects and on generated expressions.
//!
//! Columns and features are named by the caller: it knows how its input is laid out (a source scan,
//! a join with feature tables) and must supply each as an expression of [`arrow_type`] of its type.

mod arrays;
mod builtins;
mod udf;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::functions::expr_fn::coalesce;
use datafusion::logical_expr::expr::Case;
use datafusion::logical_expr::{Expr, Operator, binary_expr, cast, in_list, lit, not};
use mlsys_compiler::builtins::{Builtin, Shape};
use mlsys_compiler::plan::{BinaryOp, ColumnIndex, ExprId, ExprKind, FeatureId, Literal, Plan, SourceId, UnaryOp};
use mlsys_compiler::types::BaseType;
use mlsys_kernels::interpret::MAX_DEPTH;
use mlsys_kernels::operators::to_float;

pub use udf::{Kernel, KernelUdf};

use crate::convert::{UTC, arrow_type};
use crate::error::BatchError;

/// How a `Column { source, column }` node is read from the input.
pub type ColumnNames<'a> = Box<dyn Fn(SourceId, ColumnIndex) -> Expr + 'a>;
/// How a `Feature { feature }` node is read from the input.
pub type FeatureNames<'a> = Box<dyn Fn(FeatureId) -> Expr + 'a>;

/// Lowers expressions of one plan, reading columns and features as the callbacks say.
pub struct Lowering<'a> {
    pub plan: &'a Plan,
    pub column: ColumnNames<'a>,
    pub feature: FeatureNames<'a>,
}

impl<'a> Lowering<'a> {
    pub fn new(
        plan: &'a Plan,
        column: impl Fn(SourceId, ColumnIndex) -> Expr + 'a,
        feature: impl Fn(FeatureId) -> Expr + 'a,
    ) -> Lowering<'a> {
        Lowering {
            plan,
            column: Box::new(column),
            feature: Box::new(feature),
        }
    }

    /// The DataFusion expression of plan expression `expr`, of type `arrow_type(expr.ty.base)`.
    pub fn lower(&self, expr: ExprId) -> Result<Expr, BatchError> {
        self.lower_at(expr, 0)
    }

    fn lower_at(&self, id: ExprId, depth: usize) -> Result<Expr, BatchError> {
        if depth > MAX_DEPTH {
            return Err(BatchError::LowerTooDeep { expr: id });
        }
        let depth = depth + 1;
        let expr = self.plan.exprs.get(id).ok_or_else(|| invalid(id, "not in the plan"))?;
        let base = expr.ty.base;
        match &expr.kind {
            ExprKind::Literal { value } => literal(id, value, base),
            ExprKind::Column { source, column } => Ok((self.column)(*source, *column)),
            ExprKind::Feature { feature } => Ok((self.feature)(*feature)),
            ExprKind::Metric { .. } => Err(invalid(id, "training metrics exist only in `promote_if`")),
            // Arrow's int64 → float64 cast is Rust's `as`: the nearest float64, ties to even, the
            // kernel's `to_float`.
            ExprKind::ToFloat { operand } => Ok(cast(self.lower_at(*operand, depth)?, DataType::Float64)),
            // Arrow's NOT is three-valued: `not null` is null.
            ExprKind::Unary {
                unary: UnaryOp::Not,
                operand,
            } => Ok(not(self.lower_at(*operand, depth)?)),
            ExprKind::Unary {
                unary: UnaryOp::Negate,
                operand,
            } => {
                let operand = self.lower_at(*operand, depth)?;
                Ok(match base {
                    // Arrow negates a float by flipping its sign bit (`-x`), as the kernel does.
                    BaseType::Float64 => Expr::Negative(Box::new(operand)),
                    _ => KernelUdf::new(Kernel::Negate, vec![arrow_type(base)], arrow_type(base)).call(vec![operand]),
                })
            }
            ExprKind::Binary { binary, lhs, rhs } => self.binary(*binary, *lhs, *rhs, base, depth),
            ExprKind::Call { function, arguments } => self.call(id, *function, arguments, base, depth),
            ExprKind::In { operand, list, negated } => self.in_list(id, *operand, list, *negated, depth),
            ExprKind::If { branches, otherwise } => {
                // SQL CASE: the first branch whose condition is true; a null condition moves on.
                let when_then_expr = branches
                    .iter()
                    .map(|(condition, then)| {
                        let condition = self.lower_at(*condition, depth)?;
                        Ok((Box::new(condition), Box::new(self.lower_at(*then, depth)?)))
                    })
                    .collect::<Result<Vec<_>, BatchError>>()?;
                let otherwise = self.lower_at(*otherwise, depth)?;
                Ok(Expr::Case(Case::new(None, when_then_expr, Some(Box::new(otherwise)))))
            }
        }
    }

    fn binary(&self, op: BinaryOp, lhs: ExprId, rhs: ExprId, base: BaseType, depth: usize) -> Result<Expr, BatchError> {
        let (lhs_base, rhs_base) = (self.base(lhs)?, self.base(rhs)?);
        let (lhs, rhs) = (self.lower_at(lhs, depth)?, self.lower_at(rhs, depth)?);
        let native = |operator: Operator| Ok(binary_expr(lhs.clone(), operator, rhs.clone()));
        match op {
            // Arrow's AND and OR are Kleene logic, SQL's three-valued logic of types.md section 3.
            BinaryOp::And => native(Operator::And),
            BinaryOp::Or => native(Operator::Or),
            BinaryOp::Equal
            | BinaryOp::NotEqual
            | BinaryOp::Less
            | BinaryOp::LessEqual
            | BinaryOp::Greater
            | BinaryOp::GreaterEqual => {
                if lhs_base == BaseType::Float64 || rhs_base == BaseType::Float64 {
                    // Arrow compares floats in total order (NaN == NaN, -0.0 < 0.0); the spec is IEEE.
                    let arguments = vec![to_float64(lhs, lhs_base), to_float64(rhs, rhs_base)];
                    let types = vec![DataType::Float64, DataType::Float64];
                    return Ok(KernelUdf::new(Kernel::FloatComparison(op), types, DataType::Boolean).call(arguments));
                }
                // Integers, days and microseconds compare by value, strings by UTF-8 bytes and bools
                // by equality, in Arrow as in the spec; a null operand gives null.
                native(comparison_operator(op))
            }
            // IEEE float arithmetic: Arrow's float `+ - * /` are the plain Rust operators, never
            // checked (division by zero is ±inf or NaN), like the kernel's. Division is always on
            // float64 (the checker converts int64 operands; a plan that did not is converted here).
            BinaryOp::Divide => Ok(binary_expr(
                to_float64(lhs, lhs_base),
                Operator::Divide,
                to_float64(rhs, rhs_base),
            )),
            BinaryOp::Add | BinaryOp::Subtract | BinaryOp::Multiply if base == BaseType::Float64 => {
                let operator = match op {
                    BinaryOp::Add => Operator::Plus,
                    BinaryOp::Subtract => Operator::Minus,
                    _ => Operator::Multiply,
                };
                Ok(binary_expr(
                    to_float64(lhs, lhs_base),
                    operator,
                    to_float64(rhs, rhs_base),
                ))
            }
            // int64, timestamp and duration arithmetic wraps in the spec; DataFusion's depends on
            // `fail_on_overflow` and on constant folding (checked for scalars, and for timestamps).
            BinaryOp::Add | BinaryOp::Subtract | BinaryOp::Multiply => {
                let types = vec![arrow_type(lhs_base), arrow_type(rhs_base)];
                Ok(KernelUdf::new(Kernel::Wrapping(op), types, arrow_type(base)).call(vec![lhs, rhs]))
            }
        }
    }

    fn call(
        &self,
        id: ExprId,
        function: Builtin,
        arguments: &[ExprId],
        base: BaseType,
        depth: usize,
    ) -> Result<Expr, BatchError> {
        let result_type = arrow_type(base);
        match function {
            // The first non-null argument, unchanged (NaN is a value, not null, in Arrow too); the
            // checker gives every argument the result's type.
            Builtin::Coalesce => Ok(coalesce(self.lower_all(arguments, depth)?)),
            // Arrow's validity bit is exactly the language's null; never null itself.
            Builtin::IsNull => {
                let [operand] = arguments else {
                    return Err(invalid(id, "`is_null` takes one argument"));
                };
                Ok(Expr::IsNull(Box::new(self.lower_at(*operand, depth)?)))
            }
            Builtin::HashBucket => {
                let [operand, buckets] = arguments else {
                    return Err(invalid(id, "`hash_bucket` takes two arguments"));
                };
                let buckets = match self.constant(*buckets)? {
                    Literal::Int(buckets) if buckets >= 1 => buckets,
                    _ => {
                        return Err(invalid(
                            id,
                            "the bucket count of `hash_bucket` must be an int literal >= 1",
                        ));
                    }
                };
                let operand_type = arrow_type(self.base(*operand)?);
                let operand = self.lower_at(*operand, depth)?;
                Ok(KernelUdf::new(Kernel::HashBucket { buckets }, vec![operand_type], result_type).call(vec![operand]))
            }
            Builtin::Bucketize => {
                let [operand, edges @ ..] = arguments else {
                    return Err(invalid(id, "`bucketize` takes a value and edges"));
                };
                let edges = edges
                    .iter()
                    .map(|edge| match self.constant(*edge)? {
                        Literal::Float(value) => Ok(value.to_bits()),
                        Literal::Int(value) => Ok(to_float(value).to_bits()),
                        _ => Err(invalid(id, "`bucketize` edges must be number literals")),
                    })
                    .collect::<Result<Vec<u64>, BatchError>>()?;
                if edges.is_empty() {
                    return Err(invalid(id, "`bucketize` needs at least one edge"));
                }
                let operand = to_float64(self.lower_at(*operand, depth)?, self.base(*operand)?);
                Ok(
                    KernelUdf::new(Kernel::Bucketize { edges }, vec![DataType::Float64], result_type)
                        .call(vec![operand]),
                )
            }
            _ => {
                // Float functions take float64 arguments (the checker converts int64 ones; `abs` and an
                // all-int64 `clamp` keep int64), and `least`/`greatest` arguments have the result's type.
                let float_arguments = match function {
                    Builtin::Abs | Builtin::Clamp | Builtin::Least | Builtin::Greatest => base == BaseType::Float64,
                    _ => matches!(function.shape(), Shape::FloatMath | Shape::Pow),
                };
                let mut types = Vec::with_capacity(arguments.len());
                let mut lowered = Vec::with_capacity(arguments.len());
                for argument in arguments {
                    let argument_base = self.base(*argument)?;
                    let argument = self.lower_at(*argument, depth)?;
                    if float_arguments {
                        types.push(DataType::Float64);
                        lowered.push(to_float64(argument, argument_base));
                    } else {
                        types.push(arrow_type(argument_base));
                        lowered.push(argument);
                    }
                }
                Ok(KernelUdf::new(Kernel::Builtin(function), types, result_type).call(lowered))
            }
        }
    }

    fn in_list(
        &self,
        id: ExprId,
        operand: ExprId,
        list: &[Literal],
        negated: bool,
        depth: usize,
    ) -> Result<Expr, BatchError> {
        let operand_base = self.base(operand)?;
        let lowered = self.lower_at(operand, depth)?;
        if operand_base == BaseType::Float64 {
            // Arrow's IN compares floats in total order; the spec's `==` is IEEE.
            let mut items = Vec::with_capacity(list.len());
            let mut has_null = false;
            for item in list {
                match item {
                    Literal::Null => has_null = true,
                    Literal::Float(value) => items.push(value.to_bits()),
                    Literal::Int(value) => items.push(to_float(*value).to_bits()),
                    _ => return Err(invalid(id, "a float64 `in` list holds a non-number")),
                }
            }
            let kernel = Kernel::FloatIn {
                items,
                has_null,
                negated,
            };
            return Ok(KernelUdf::new(kernel, vec![DataType::Float64], DataType::Boolean).call(vec![lowered]));
        }
        // SQL IN: null for a null operand, true on a match, else null if an item is null, else
        // false; NOT IN is its negation. Equality of non-floats is the spec's `==`.
        let items = list
            .iter()
            .map(|item| literal(id, item, operand_base))
            .collect::<Result<Vec<_>, BatchError>>()?;
        Ok(in_list(lowered, items, negated))
    }

    fn lower_all(&self, arguments: &[ExprId], depth: usize) -> Result<Vec<Expr>, BatchError> {
        arguments
            .iter()
            .map(|argument| self.lower_at(*argument, depth))
            .collect()
    }

    fn base(&self, id: ExprId) -> Result<BaseType, BatchError> {
        Ok(self
            .plan
            .exprs
            .get(id)
            .ok_or_else(|| invalid(id, "not in the plan"))?
            .ty
            .base)
    }

    /// The literal of a constant argument (`ToFloat` of a literal counts: it is the literal's value).
    fn constant(&self, id: ExprId) -> Result<Literal, BatchError> {
        match self.plan.exprs.get(id).map(|expr| &expr.kind) {
            Some(ExprKind::Literal { value }) => Ok(value.clone()),
            Some(ExprKind::ToFloat { operand }) => match self.constant(*operand)? {
                Literal::Int(value) => Ok(Literal::Float(to_float(value))),
                other => Ok(other),
            },
            _ => Err(invalid(id, "a constant argument is not a literal")),
        }
    }
}

/// A typed literal: `null` takes the type of its expression.
fn literal(id: ExprId, value: &Literal, base: BaseType) -> Result<Expr, BatchError> {
    let scalar = match (value, base) {
        (Literal::Null, _) => ScalarValue::try_from(&arrow_type(base))?,
        (Literal::Bool(value), BaseType::Bool) => ScalarValue::Boolean(Some(*value)),
        (Literal::Int(value), BaseType::Int64) => ScalarValue::Int64(Some(*value)),
        (Literal::Int(value), BaseType::Float64) => ScalarValue::Float64(Some(to_float(*value))),
        (Literal::Float(value), BaseType::Float64) => ScalarValue::Float64(Some(*value)),
        (Literal::String(value), BaseType::String) => ScalarValue::Utf8(Some(value.clone())),
        (Literal::Date(value), BaseType::Date) => ScalarValue::Date32(Some(*value)),
        (Literal::Timestamp(value), BaseType::Timestamp) => {
            ScalarValue::TimestampMicrosecond(Some(*value), Some(UTC.into()))
        }
        (Literal::Duration(value), BaseType::Duration) => ScalarValue::DurationMicrosecond(Some(*value)),
        (value, base) => {
            return Err(BatchError::LowerLiteral {
                expr: id,
                literal: value.clone(),
                ty: base.name(),
            });
        }
    };
    Ok(lit(scalar))
}

/// An int64 operand as float64 (the spec's promotion); any other operand unchanged.
fn to_float64(expr: Expr, base: BaseType) -> Expr {
    if base == BaseType::Int64 {
        cast(expr, DataType::Float64)
    } else {
        expr
    }
}

/// The Arrow operator of a comparison (`op` is one: the caller matched it).
fn comparison_operator(op: BinaryOp) -> Operator {
    match op {
        BinaryOp::Equal => Operator::Eq,
        BinaryOp::NotEqual => Operator::NotEq,
        BinaryOp::Less => Operator::Lt,
        BinaryOp::LessEqual => Operator::LtEq,
        BinaryOp::Greater => Operator::Gt,
        _ => Operator::GtEq,
    }
}

fn invalid(expr: ExprId, reason: &'static str) -> BatchError {
    BatchError::Lower { expr, reason }
}
