//! The interpreter beyond single expressions: features reading features, inputs as closures, and
//! plans the checker never produces (ill-typed literals, missing nodes, absurd depth), which give
//! errors rather than panics.

use mlsys_compiler::plan::hash::assign_hashes;
use mlsys_compiler::plan::verify::verify;
use mlsys_compiler::plan::{
    ColumnIndex, Expr, ExprId, ExprKind, FeatureId, FeatureKind, Literal, Plan, SourceId, UnaryOp,
};
use mlsys_compiler::types::{BaseType, Type};
use mlsys_kernels::Value;
use mlsys_kernels::aggregate::AggregateError;
use mlsys_kernels::interpret::{
    Bindings, EvalError, MAX_DEPTH, OperandError, evaluate, evaluate_aggregate, evaluate_feature, evaluate_features,
    find_column, find_feature,
};

use crate::support::{compile_project, float, int};

const LAYERED: &str = r#"
source rows {
  format = csv
  location = "rows"
  timestamp = at
  schema { user: string, x: float64, n: int64?, at: timestamp }
}
entity user { key user: string }
features base v1 {
  from = rows
  doubled = x * 2
}
features more v1 {
  from = rows
  a = b + 1
  b = base@v1.doubled * 2
  c = coalesce(n, 0) + length(totals@v1.biggest)
}
features totals v1 {
  entity = user
  from = rows
  count_7d = count() over 7d every 1d
  biggest = max(user) over 7d every 1d
  per_day = count_7d / 7
}
"#;

#[test]
fn features_read_features() {
    let plan = compile_project(LAYERED);
    let (rows, x) = find_column(&plan, "rows", "x").expect("x");
    let feature = |group, name| find_feature(&plan, group, 1, name).expect("a feature");
    let row = Bindings::new()
        .with_column(rows, x, 1.25)
        .with_feature(feature("totals", "biggest"), "zed");
    assert_eq!(evaluate_feature(&plan, feature("more", "a"), &row), Ok(float(6.0)));
    let values = evaluate_features(&plan, &[feature("more", "c"), feature("base", "doubled")], &row);
    assert_eq!(values, Ok(vec![int(3), float(2.5)]));
    // An aggregate is an input: read, not computed.
    assert_eq!(
        evaluate_feature(&plan, feature("totals", "biggest"), &row),
        Ok(Value::from("zed"))
    );
    let totals = Bindings::new().with_feature(feature("totals", "count_7d"), 14);
    assert_eq!(
        evaluate_feature(&plan, feature("totals", "per_day"), &totals),
        Ok(float(2.0))
    );
    let not_an_aggregate = evaluate_aggregate(&plan, feature("more", "a"), &[row], 0);
    assert!(matches!(not_an_aggregate, Err(EvalError::BadFeature { .. })));
}

#[test]
fn closures_are_inputs() {
    let plan = compile_project(LAYERED);
    let feature = find_feature(&plan, "base", 1, "doubled").expect("doubled");
    let FeatureKind::Row { expr } = plan.features[feature].kind else {
        panic!("a row-level feature");
    };
    let inputs = (
        |_: SourceId, _: ColumnIndex| Value::Float(20.5),
        |_: FeatureId| Value::Null,
    );
    assert_eq!(evaluate(&plan, expr, &inputs), Ok(float(41.0)));
}

/// The row-level expression of `more@v1.c`, whose literal `0` is replaced by `literal`.
fn with_literal(literal: Literal) -> (Plan, ExprId) {
    let mut plan = compile_project(LAYERED);
    let feature = find_feature(&plan, "more", 1, "c").expect("c");
    let FeatureKind::Row { expr } = plan.features[feature].kind else {
        panic!("a row-level feature");
    };
    let zero = plan
        .exprs
        .ids()
        .find(|id| plan.exprs[*id].kind == ExprKind::Literal { value: Literal::Int(0) })
        .expect("the literal 0");
    plan.exprs[zero].kind = ExprKind::Literal { value: literal };
    assign_hashes(&mut plan);
    (plan, expr)
}

#[test]
fn ill_typed_plans_are_errors_not_panics() {
    let (plan, expr) = with_literal(Literal::String("zero".to_string()));
    // The verifier does not type literals, so with fresh hashes this plan passes it.
    assert_eq!(verify(&plan), Vec::new());
    let biggest = find_feature(&plan, "totals", 1, "biggest").expect("biggest");
    let result = evaluate(&plan, expr, &Bindings::new().with_feature(biggest, "zed"));
    // The kind and the operands are kept: code can match on them.
    assert!(
        matches!(
            &result,
            Err(EvalError::IllTyped {
                error: OperandError::Binary {
                    lhs: Value::String(_),
                    ..
                },
                ..
            })
        ),
        "{result:?}"
    );
    // Null propagation comes first: `"zero" + null` is null, as `0 + null` would be.
    assert_eq!(evaluate(&plan, expr, &Bindings::new()), Ok(Value::Null));
    let (plan, expr) = with_literal(Literal::Int(7));
    assert_eq!(evaluate(&plan, expr, &Bindings::new()), Ok(Value::Null)); // `biggest` unknown
    assert_eq!(
        evaluate(&plan, ExprId(1_000_000), &Bindings::new()),
        Err(EvalError::MissingExpr(ExprId(1_000_000)))
    );
}

#[test]
fn depth_is_bounded() {
    let chain = |depth: usize| {
        let mut plan = Plan::default();
        let int64 = Type::new(BaseType::Int64);
        let mut id = plan.exprs.push(Expr {
            kind: ExprKind::Literal { value: Literal::Int(5) },
            ty: int64,
        });
        for _ in 0..depth {
            id = plan.exprs.push(Expr {
                kind: ExprKind::Unary {
                    unary: UnaryOp::Negate,
                    operand: id,
                },
                ty: int64,
            });
        }
        (plan, id)
    };
    // The deepest plan evaluates within 1 MiB of stack, even in a debug build.
    let (plan, root) = chain(MAX_DEPTH);
    let deepest = std::thread::Builder::new()
        .stack_size(1 << 20)
        .spawn(move || evaluate(&plan, root, &Bindings::new()))
        .expect("a thread")
        .join()
        .expect("no stack overflow");
    assert_eq!(deepest, Ok(int(5)));
    let (plan, root) = chain(MAX_DEPTH + 1);
    assert_eq!(
        evaluate(&plan, root, &Bindings::new()),
        Err(EvalError::TooDeep(ExprId(0)))
    );
    let (plan, root) = chain(100_000);
    assert!(matches!(
        evaluate(&plan, root, &Bindings::new()),
        Err(EvalError::TooDeep(_))
    ));
}

/// An aggregate's error is the cause of the feature's: the feature's message names the feature
/// and does not repeat the cause, so a printed chain shows each once.
#[test]
fn an_aggregate_error_is_the_cause_not_the_message() {
    let cause = AggregateError::TypeMismatch {
        expected: BaseType::Int64,
        found: BaseType::String,
    };
    let error = EvalError::Aggregate {
        feature: FeatureId(3),
        source: cause.clone(),
    };
    assert_eq!(error.to_string(), "feature f3");
    assert_eq!(
        std::error::Error::source(&error).map(ToString::to_string),
        Some(cause.to_string())
    );
}
