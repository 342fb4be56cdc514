//! Typing of builtin calls, one rule per signature shape (see `builtins::Shape`).

use crate::builtins::{Builtin, Shape};
use crate::check::Checker;
use crate::check::expr::{Env, Ty, Typed, constant_literal};
use crate::diagnostic::{Code, Diagnostic};
use crate::plan::{ExprId, ExprKind, Literal};
use crate::source::Span;
use crate::syntax::ast;
use crate::types::{BaseType, Type};

/// Checks a builtin call whose argument count is already known to be right.
pub fn check_call(
    checker: &mut Checker<'_>,
    env: &Env,
    builtin: Builtin,
    arguments: &[ast::Argument],
    span: Span,
) -> Option<Typed> {
    let shape = builtin.shape();
    // Constant arguments are checked as constants, not as expressions.
    let checked_count = match shape {
        Shape::HashBucket | Shape::Bucketize => 1,
        _ => arguments.len(),
    };
    let mut typed = Vec::with_capacity(arguments.len());
    let mut failed = false;
    for argument in &arguments[..checked_count] {
        match checker.expr(env, &argument.value) {
            Some(value) => typed.push((value, argument.value.span)),
            None => failed = true,
        }
    }
    if failed {
        return None;
    }
    let wrong = |checker: &mut Checker<'_>, index: usize, expected: &str| {
        let (value, argument_span) = typed[index];
        let found = match value.ty {
            Ty::Known(ty) => ty.to_string(),
            Ty::Null => "null".to_string(),
        };
        checker.error(
            Diagnostic::new(
                Code::TypeMismatch,
                argument_span,
                format!("`{}` expects {expected}, found {found}", builtin.name()),
            )
            .with_label_text(format!("this is {found}"))
            .with_help(builtin.signature()),
        );
    };
    let bases: Vec<Option<BaseType>> = typed
        .iter()
        .map(|(value, _)| match value.ty {
            Ty::Known(ty) => Some(ty.base),
            Ty::Null => None,
        })
        .collect();
    let accepts = |index: usize, allowed: &[BaseType]| bases[index].is_none_or(|base| allowed.contains(&base));
    const NUMERIC: &[BaseType] = &[BaseType::Int64, BaseType::Float64];
    // The base every argument is converted to, or `None` to keep each argument's own type.
    let target: Option<BaseType> = match shape {
        Shape::FloatMath | Shape::Pow => {
            for index in 0..typed.len() {
                if !accepts(index, NUMERIC) {
                    wrong(checker, index, "a number");
                    return None;
                }
            }
            Some(BaseType::Float64)
        }
        Shape::Abs => {
            if !accepts(0, NUMERIC) {
                wrong(checker, 0, "a number");
                return None;
            }
            Some(bases[0].unwrap_or(BaseType::Float64))
        }
        Shape::Clamp => {
            for index in 0..typed.len() {
                if !accepts(index, NUMERIC) {
                    wrong(checker, index, "a number");
                    return None;
                }
            }
            if bases.iter().all(|base| *base == Some(BaseType::Int64)) {
                Some(BaseType::Int64)
            } else {
                Some(BaseType::Float64)
            }
        }
        Shape::LeastGreatest | Shape::Coalesce => {
            let what = if shape == Shape::Coalesce {
                "the arguments of `coalesce`"
            } else {
                "the arguments of this call"
            };
            let unified = checker.unify(&typed, what)?;
            match unified.base() {
                Some(BaseType::Bool) if shape == Shape::LeastGreatest => {
                    wrong(checker, 0, "an orderable value (not bool)");
                    return None;
                }
                Some(base) => Some(base),
                None => {
                    checker.error(Diagnostic::new(
                        Code::TypeMismatch,
                        span,
                        format!("cannot tell the type of `{}` of only nulls", builtin.name()),
                    ));
                    return None;
                }
            }
        }
        Shape::StringToString | Shape::StringLength | Shape::StringPredicate | Shape::Concat => {
            for index in 0..typed.len() {
                if !accepts(index, &[BaseType::String]) {
                    wrong(checker, index, "a string");
                    return None;
                }
            }
            Some(BaseType::String)
        }
        Shape::TimestampPart | Shape::DateOf => {
            if !accepts(0, &[BaseType::Timestamp]) {
                wrong(checker, 0, "a timestamp");
                return None;
            }
            Some(BaseType::Timestamp)
        }
        Shape::DatePart => {
            if !accepts(0, &[BaseType::Date, BaseType::Timestamp]) {
                wrong(checker, 0, "a date or a timestamp");
                return None;
            }
            Some(bases[0].unwrap_or(BaseType::Timestamp))
        }
        Shape::IsNull => None,
        Shape::HashBucket => {
            if !accepts(0, &[BaseType::String, BaseType::Int64]) {
                wrong(checker, 0, "a string or an int64");
                return None;
            }
            Some(bases[0].unwrap_or(BaseType::String))
        }
        Shape::Bucketize => {
            if !accepts(0, NUMERIC) {
                wrong(checker, 0, "a number");
                return None;
            }
            Some(BaseType::Float64)
        }
    };
    let mut ids: Vec<ExprId> = typed
        .iter()
        .map(|(value, _)| match target {
            Some(base) => checker.coerce(*value, base),
            None => match value.ty {
                Ty::Null => checker.coerce(*value, BaseType::Bool),
                Ty::Known(_) => value.id,
            },
        })
        .collect();
    let argument_types: Vec<Type> = ids.iter().map(|id| checker.plan.exprs[*id].ty).collect();
    if builtin == Builtin::Clamp
        && let (Some(low), Some(high)) = (number_literal(&arguments[1].value), number_literal(&arguments[2].value))
        && low > high
    {
        checker.error(
            Diagnostic::new(
                Code::ConstantRequired,
                arguments[1].value.span.to(arguments[2].value.span),
                format!("`clamp`'s lower bound {low} is above its upper bound {high}"),
            )
            .with_help(builtin.signature()),
        );
        return None;
    }
    match shape {
        Shape::HashBucket => ids.push(bucket_count(checker, builtin, &arguments[1].value)?),
        Shape::Bucketize => ids.extend(bucket_edges(checker, &arguments[1].value)?),
        _ => {}
    }
    let nullable = match builtin {
        Builtin::IsNull => false,
        Builtin::Coalesce => argument_types.iter().all(|ty| ty.nullable),
        _ => argument_types.iter().any(|ty| ty.nullable),
    };
    let ty = Type {
        base: builtin.result_base(&argument_types),
        nullable,
    };
    let id = checker.push_expr(
        ExprKind::Call {
            function: builtin,
            arguments: ids,
        },
        ty,
    );
    Some(Typed { id, ty: Ty::Known(ty) })
}

/// `hash_bucket`'s bucket count: an int literal of at least 1.
fn bucket_count(checker: &mut Checker<'_>, builtin: Builtin, expr: &ast::Expr) -> Option<ExprId> {
    match constant_literal(expr) {
        Some(Literal::Int(count)) if count >= 1 => Some(checker.push_expr(
            ExprKind::Literal {
                value: Literal::Int(count),
            },
            Type::new(BaseType::Int64),
        )),
        _ => {
            checker.error(
                Diagnostic::new(
                    Code::ConstantRequired,
                    expr.span,
                    format!(
                        "the bucket count of `{}` must be an integer literal of at least 1",
                        builtin.name()
                    ),
                )
                .with_help(builtin.signature()),
            );
            None
        }
    }
}

/// `bucketize`'s edges: a non-empty list of strictly increasing number literals.
fn bucket_edges(checker: &mut Checker<'_>, expr: &ast::Expr) -> Option<Vec<ExprId>> {
    let fail = |checker: &mut Checker<'_>, span: Span, message: &str| {
        checker.error(
            Diagnostic::new(Code::ConstantRequired, span, message.to_string())
                .with_help(Builtin::Bucketize.signature()),
        );
        None
    };
    let ast::ExprKind::List(items) = &expr.kind else {
        return fail(
            checker,
            expr.span,
            "`bucketize` edges must be a list like `[10.0, 50.0, 200.0]`",
        );
    };
    if items.is_empty() {
        return fail(checker, expr.span, "`bucketize` needs at least one edge");
    }
    let mut edges = Vec::with_capacity(items.len());
    for item in items {
        let edge = match constant_literal(item) {
            Some(Literal::Float(value)) => value,
            Some(Literal::Int(value)) => value as f64,
            _ => return fail(checker, item.span, "`bucketize` edges must be number literals"),
        };
        if edges.last().is_some_and(|previous: &f64| *previous >= edge) {
            return fail(checker, item.span, "`bucketize` edges must be strictly increasing");
        }
        edges.push(edge);
    }
    Some(
        edges
            .into_iter()
            .map(|edge| {
                checker.push_expr(
                    ExprKind::Literal {
                        value: Literal::Float(edge),
                    },
                    Type::new(BaseType::Float64),
                )
            })
            .collect(),
    )
}

/// The value of a number literal (possibly negated), for constant checks.
fn number_literal(expr: &ast::Expr) -> Option<f64> {
    match constant_literal(expr)? {
        Literal::Int(value) => Some(value as f64),
        Literal::Float(value) => Some(value),
        _ => None,
    }
}
