//! The public API around the native function: slots and outputs, the row buffer and the lifetime
//! of its string outputs, NaN canonicalisation, the cache key, and every refusal (what the
//! interpreter refuses is refused at compile time).

use std::sync::Arc;

use mlsys_compiler::plan::{Expr, ExprKind, FeatureId, FeatureKind, Literal, Metric, MetricSide, Plan, UnaryOp};
use mlsys_compiler::types::{BaseType, Type};
use mlsys_jit::{FeatureSetKey, JitCache, JitError, Slot, ValueRef, compile};
use mlsys_kernels::Value;
use mlsys_kernels::interpret::{Bindings, EvalError, evaluate_feature, find_column, find_feature};
use mlsys_kernels::value::CANONICAL_NAN_BITS;

use crate::support::project_text;

const PAYMENTS: &str = "source payments {\n  format = csv\n  location = \"p\"\n  timestamp = at\n  \
    schema { user: string, amount: float64, note: string?, at: timestamp }\n}\n";

fn payments_with(features: &str) -> Plan {
    project_text(&format!(
        "{PAYMENTS}features probe v1 {{\n  from = payments\n{features}}}\n"
    ))
}

fn feature(plan: &Plan, name: &str) -> FeatureId {
    find_feature(plan, "probe", 1, name).expect("a probe feature")
}

#[test]
fn inputs_are_the_columns_read_and_the_aggregates_not_computed() {
    let plan = project_text(&format!(
        "{PAYMENTS}entity person {{ key user: string }}\n\
         features spend v1 {{\n  entity = person\n  from = payments\n  \
           total_7d = sum(amount) over 7d every 1h\n  count_7d = count() over 7d every 1h\n  \
           average = coalesce(total_7d, 0.0) / greatest(count_7d, 1)\n}}\n\
         features probe v1 {{\n  from = payments\n  share = amount / (spend@v1.average + 1.0)\n  \
           tagged = concat(user, coalesce(note, \"-\"))\n}}\n"
    ));
    let share = feature(&plan, "share");
    let tagged = feature(&plan, "tagged");
    let total = find_feature(&plan, "spend", 1, "total_7d").expect("an aggregate");
    let count = find_feature(&plan, "spend", 1, "count_7d").expect("an aggregate");
    let compiled = compile(&plan, &[tagged, share, total]).expect("it compiles");
    // Feature slots follow feature ids (dependency order), not declaration order.
    assert!(count < total);
    let (payments, user) = find_column(&plan, "payments", "user").expect("a column");
    let column = |name| find_column(&plan, "payments", name).expect("a column").1;
    let string = Type::new(BaseType::String);
    assert_eq!(
        compiled.inputs(),
        &[
            Slot::Column {
                source: payments,
                column: user,
                ty: string
            },
            Slot::Column {
                source: payments,
                column: column("amount"),
                ty: Type::new(BaseType::Float64)
            },
            Slot::Column {
                source: payments,
                column: column("note"),
                ty: Type::nullable(BaseType::String)
            },
            Slot::Feature {
                feature: count,
                ty: Type::new(BaseType::Int64)
            },
            Slot::Feature {
                feature: total,
                ty: Type::nullable(BaseType::Float64)
            },
        ]
    );
    assert_eq!(compiled.outputs(), &[tagged, share, total]);
    assert_eq!(
        compiled.output_types(),
        &[BaseType::String, BaseType::Float64, BaseType::Float64]
    );
    // The derived `average` is computed from the aggregates; the requested aggregate passes through.
    let values = compiled
        .evaluate(&[
            Value::from("ann"),
            Value::Float(9.0),
            Value::Null,
            Value::Int(4),
            Value::Float(10.0),
        ])
        .expect("well-typed inputs");
    assert_eq!(
        values,
        vec![Value::from("ann-"), Value::Float(9.0 / 3.5), Value::Float(10.0)]
    );
}

#[test]
fn string_outputs_outlive_input_changes_and_the_compiled_set() {
    let plan = payments_with("  shout = upper(user)\n  same = coalesce(note, user)\n  fixed = \"constant\"\n");
    let features = [feature(&plan, "shout"), feature(&plan, "same"), feature(&plan, "fixed")];
    let compiled = compile(&plan, &features).expect("it compiles");
    let mut row = compiled.new_row();
    // user, note: columns 0 and 2, the only ones read.
    assert_eq!(compiled.inputs().len(), 2);
    row.set(0, &Value::from("straße")).expect("a string");
    row.set(1, &Value::from("memo")).expect("a string");
    compiled.run(&mut row).expect("its own row");
    // Replacing an input keeps the previous outputs readable until the next run.
    row.set(1, &Value::Null).expect("null fits any slot");
    row.set(0, &Value::from("x")).expect("a string");
    assert_eq!(row.output(0), Ok(ValueRef::String("STRASSE")));
    assert_eq!(row.output(1), Ok(ValueRef::String("memo")));
    compiled.run(&mut row).expect("its own row");
    assert_eq!(
        row.values(),
        vec![Value::from("X"), Value::from("x"), Value::from("constant")]
    );
    drop(compiled);
    assert_eq!(row.output(2), Ok(ValueRef::String("constant")));
}

#[test]
fn float_outputs_leave_with_the_canonical_nan() {
    let plan = payments_with("  scaled = amount * 1.0\n  negated = -amount\n");
    let compiled = compile(&plan, &[feature(&plan, "scaled"), feature(&plan, "negated")]).expect("it compiles");
    let mut row = compiled.new_row();
    row.set(0, &Value::Float(f64::from_bits(0xFFF8_0000_0000_0001)))
        .expect("a float");
    compiled.run(&mut row).expect("its own row");
    for index in 0..2 {
        let Ok(ValueRef::Float(value)) = row.output(index) else {
            panic!("a float output")
        };
        assert_eq!(value.to_bits(), CANONICAL_NAN_BITS);
    }
}

#[test]
fn rows_and_inputs_are_checked() {
    let plan = payments_with("  big = amount > 10.0\n  loud = upper(user)\n");
    let big = compile(&plan, &[feature(&plan, "big")]).expect("it compiles");
    let loud = compile(&plan, &[feature(&plan, "loud")]).expect("it compiles");
    let mut row = big.new_row();
    assert_eq!(
        row.set(0, &Value::Int(3)),
        Err(JitError::InputType {
            index: 0,
            expected: BaseType::Float64,
            found: BaseType::Int64
        })
    );
    assert_eq!(
        row.set(1, &Value::Float(1.0)),
        Err(JitError::SlotIndex { index: 1, count: 1 })
    );
    assert_eq!(row.output(1), Err(JitError::SlotIndex { index: 1, count: 1 }));
    assert_eq!(row.output(0), Ok(ValueRef::Null), "null before the first run");
    assert_eq!(loud.run(&mut row), Err(JitError::ForeignRow));
    assert_eq!(big.evaluate(&[]), Err(JitError::InputCount { expected: 1, actual: 0 }));
    assert_eq!(
        compile(&plan, &[FeatureId(99)]).err(),
        Some(JitError::MissingFeature(FeatureId(99)))
    );
}

/// The root expression of the probe feature `name`.
fn root(plan: &Plan, name: &str) -> mlsys_compiler::plan::ExprId {
    match plan.features.get(feature(plan, name)).map(|feature| &feature.kind) {
        Some(FeatureKind::Row { expr }) => *expr,
        _ => panic!("a row-level feature"),
    }
}

#[test]
fn training_metrics_are_refused() {
    let mut plan = payments_with("  value = amount + 1.0\n");
    let expr = root(&plan, "value");
    plan.exprs.get_mut(expr).expect("the root").kind = ExprKind::Metric {
        side: MetricSide::Production,
        metric: Metric::Auc,
    };
    assert!(matches!(
        compile(&plan, &[feature(&plan, "value")]),
        Err(JitError::Unsupported { expr: refused, .. }) if refused == expr
    ));
}

#[test]
fn what_the_interpreter_refuses_is_refused_at_compile_time() {
    let mut plan = payments_with("  bucket = hash_bucket(user, 10)\n");
    let bucket = feature(&plan, "bucket");
    let count = plan
        .exprs
        .iter()
        .find(|(_, expr)| {
            expr.kind
                == ExprKind::Literal {
                    value: Literal::Int(10),
                }
        })
        .map(|(id, _)| id)
        .expect("the bucket count");
    plan.exprs.get_mut(count).expect("the count").kind = ExprKind::Literal { value: Literal::Int(0) };
    let (payments, user) = find_column(&plan, "payments", "user").expect("a column");
    let row = Bindings::new().with_column(payments, user, "ann");
    assert!(matches!(
        evaluate_feature(&plan, bucket, &row),
        Err(EvalError::IllTyped { .. })
    ));
    assert!(matches!(compile(&plan, &[bucket]), Err(JitError::Unsupported { .. })));
}

#[test]
fn expressions_deeper_than_the_interpreter_allows_are_refused() {
    let mut plan = payments_with("  deep = -amount\n  shallow = -amount\n");
    let float = Type::new(BaseType::Float64);
    let mut top = root(&plan, "deep");
    for _ in 0..600 {
        top = plan.exprs.push(Expr {
            kind: ExprKind::Unary {
                unary: UnaryOp::Negate,
                operand: top,
            },
            ty: float,
        });
    }
    let deep = feature(&plan, "deep");
    plan.features.get_mut(deep).expect("the feature").kind = FeatureKind::Row { expr: top };
    let (payments, amount) = find_column(&plan, "payments", "amount").expect("a column");
    let row = Bindings::new().with_column(payments, amount, 1.0);
    assert!(matches!(
        evaluate_feature(&plan, deep, &row),
        Err(EvalError::TooDeep(_))
    ));
    assert!(matches!(compile(&plan, &[deep]), Err(JitError::TooDeep(_))));
    // Nesting up to the limit compiles and agrees.
    let mut top = root(&plan, "shallow");
    for _ in 0..500 {
        top = plan.exprs.push(Expr {
            kind: ExprKind::Unary {
                unary: UnaryOp::Negate,
                operand: top,
            },
            ty: float,
        });
    }
    let shallow = feature(&plan, "shallow");
    plan.features.get_mut(shallow).expect("the feature").kind = FeatureKind::Row { expr: top };
    let compiled = compile(&plan, &[shallow]).expect("500 levels compile");
    let interpreted = evaluate_feature(&plan, shallow, &row).expect("500 levels evaluate");
    assert_eq!(compiled.evaluate_inputs(&row).expect("inputs"), vec![interpreted]);
}

#[test]
fn the_cache_key_follows_what_is_computed_not_the_plan_object() {
    let text = "  doubled = amount * 2.0\n  tripled = amount * 3.0\n";
    let (first, second) = (payments_with(text), payments_with(text));
    let doubled = feature(&first, "doubled");
    let tripled = feature(&first, "tripled");
    assert_eq!(
        FeatureSetKey::new(&first, &[doubled]),
        FeatureSetKey::new(&second, &[doubled])
    );
    assert_ne!(
        FeatureSetKey::new(&first, &[doubled]),
        FeatureSetKey::new(&first, &[tripled])
    );
    let changed = payments_with("  doubled = amount * 2.5\n  tripled = amount * 3.0\n");
    assert_ne!(
        FeatureSetKey::new(&first, &[doubled]),
        FeatureSetKey::new(&changed, &[doubled])
    );

    let cache = JitCache::new();
    let a = cache.get_or_compile(&first, &[doubled]).expect("it compiles");
    let b = cache.get_or_compile(&second, &[doubled]).expect("it compiles");
    assert!(Arc::ptr_eq(&a, &b));
    cache.get_or_compile(&first, &[tripled]).expect("it compiles");
    assert_eq!(cache.len(), 2);
    assert_eq!(
        cache.get_or_compile(&first, &[FeatureId(42)]).err(),
        Some(JitError::MissingFeature(FeatureId(42)))
    );
    cache.clear();
    assert!(cache.is_empty());
    assert_eq!(a.evaluate(&[Value::Float(1.5)]), Ok(vec![Value::Float(3.0)]));
}

#[test]
fn deep_call_and_if_chains_compile_on_a_test_thread() {
    let mut plan = payments_with("  calls = abs(amount)\n  choices = amount\n  texts = upper(user)\n");
    let float = Type::new(BaseType::Float64);
    let (payments, amount) = find_column(&plan, "payments", "amount").expect("a column");
    let column = plan.exprs.push(Expr {
        kind: ExprKind::Column {
            source: payments,
            column: amount,
        },
        ty: float,
    });
    let mut calls = root(&plan, "calls");
    let mut choices = root(&plan, "choices");
    let mut texts = root(&plan, "texts");
    let string = Type::new(BaseType::String);
    for _ in 0..510 {
        calls = plan.exprs.push(Expr {
            kind: ExprKind::Call {
                function: mlsys_compiler::builtins::Builtin::Least,
                arguments: vec![calls, column],
            },
            ty: float,
        });
        let condition = plan.exprs.push(Expr {
            kind: ExprKind::Literal {
                value: Literal::Bool(true),
            },
            ty: Type::new(BaseType::Bool),
        });
        choices = plan.exprs.push(Expr {
            kind: ExprKind::If {
                branches: vec![(condition, choices)],
                otherwise: column,
            },
            ty: float,
        });
        texts = plan.exprs.push(Expr {
            kind: ExprKind::Call {
                function: mlsys_compiler::builtins::Builtin::Concat,
                arguments: vec![texts],
            },
            ty: string,
        });
    }
    for (name, top) in [("calls", calls), ("choices", choices), ("texts", texts)] {
        let id = feature(&plan, name);
        plan.features.get_mut(id).expect("the feature").kind = FeatureKind::Row { expr: top };
        compile(&plan, &[id]).expect("510 levels compile");
    }
}
