//! One request's feature vector for the fraud model (`examples/fraud`, model `fraud_detector`,
//! its windowed aggregates given as inputs, as the online store returns them), computed by each
//! engine that can compute it:
//! - the Cranelift JIT (the online path): set the inputs, run;
//! - DataFusion on a 1-row RecordBatch, at its best: the lowered expressions planned once into
//!   physical expressions, then per row only the batch built and every feature evaluated in
//!   dependency order (each result appended as a column the next ones read);
//! - DataFusion as the batch engine calls it per batch (`evaluate_row_features`: lower, simplify and
//!   plan every expression, then evaluate) on a 1-row batch;
//! - the reference interpreter.
//!
//! All four give the same values (checked before timing). Run: `cargo bench -p mlsys-batch --bench
//! row_engines`.

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use datafusion::arrow::array::{ArrayRef, RecordBatch};
use datafusion::arrow::datatypes::{Field, Schema};
use datafusion::common::{Column, DFSchema};
use datafusion::execution::context::ExecutionProps;
use datafusion::logical_expr::Expr;
use datafusion::logical_expr::physical_planning_context::PhysicalPlanningContext;
use datafusion::logical_expr::simplify::SimplifyContext;
use datafusion::optimizer::simplify_expressions::ExprSimplifier;
use datafusion::physical_expr::{PhysicalExpr, create_physical_expr};
use mlsys_batch::convert::{arrow_type, value_at};
use mlsys_batch::features::eval::{BatchColumns, evaluate_row_features};
use mlsys_batch::features::output::ColumnBuilder;
use mlsys_batch::features::spec::features_read;
use mlsys_batch::lower::Lowering;
use mlsys_compiler::plan::{FeatureId, FeatureKind, Plan, SourceId};
use mlsys_compiler::types::BaseType;
use mlsys_jit::{Slot, compile};
use mlsys_kernels::Value;
use mlsys_kernels::interpret::{Bindings, evaluate_features};
use support::fraud::{fraud_plan, request_value, typical_value};

// The JIT bench's fraud plan and request values: both benches time the same request.
#[path = "../../jit/benches/support"]
mod support {
    pub mod fraud;
}

fn one_row(base: BaseType, value: &Value) -> ArrayRef {
    let mut builder = ColumnBuilder::new(base);
    builder.push(value).expect("a typed value");
    builder.finish()
}

fn feature_column(feature: FeatureId) -> String {
    format!("feature_{}", feature.0)
}

/// The model's features as DataFusion computes them with planning done once.
struct Prepared {
    /// The request's columns and the looked-up aggregates: (name, type, value).
    inputs: Vec<(String, BaseType, Value)>,
    /// Row-level and derived features in dependency order, with their planned expression.
    steps: Vec<(FeatureId, Arc<dyn PhysicalExpr>)>,
}

impl Prepared {
    fn new(plan: &Plan, source: SourceId, features: &[FeatureId], aggregates: &HashMap<FeatureId, Value>) -> Prepared {
        let mut inputs: Vec<(String, BaseType, Value)> = plan.sources[source]
            .columns
            .iter()
            .map(|column| {
                let value = request_value(&column.name, column.ty.base);
                (column.name.clone(), column.ty.base, value)
            })
            .collect();
        let needed = features_read(plan, features);
        for feature in &needed {
            if let Some(value) = aggregates.get(feature) {
                inputs.push((feature_column(*feature), plan.features[*feature].ty.base, value.clone()));
            }
        }
        let lowering = Lowering::new(
            plan,
            move |_, column| {
                Expr::Column(Column::new_unqualified(
                    plan.sources[source].columns[column as usize].name.clone(),
                ))
            },
            |feature| Expr::Column(Column::new_unqualified(feature_column(feature))),
        );
        let mut fields: Vec<Field> = inputs
            .iter()
            .map(|(name, base, _)| Field::new(name, arrow_type(*base), true))
            .collect();
        let mut steps = Vec::new();
        for feature in needed {
            let expr = match plan.features[feature].kind {
                FeatureKind::Row { expr } | FeatureKind::Derived { expr } if !aggregates.contains_key(&feature) => expr,
                _ => continue,
            };
            let schema = Arc::new(DFSchema::try_from(Schema::new(fields.clone())).expect("a schema"));
            let lowered = lowering.lower(expr).expect("it lowers");
            let context = SimplifyContext::builder().with_schema(schema.clone()).build();
            let simplified = ExprSimplifier::new(context).simplify(lowered).expect("it simplifies");
            let physical = create_physical_expr(
                &simplified,
                &schema,
                &ExecutionProps::new(),
                &PhysicalPlanningContext::default(),
            )
            .expect("it plans");
            fields.push(Field::new(
                feature_column(feature),
                arrow_type(plan.features[feature].ty.base),
                true,
            ));
            steps.push((feature, physical));
        }
        Prepared { inputs, steps }
    }

    /// Every computed feature's value for the request.
    fn run(&self) -> HashMap<FeatureId, ArrayRef> {
        let mut fields: Vec<Field> = Vec::with_capacity(self.inputs.len() + self.steps.len());
        let mut arrays: Vec<ArrayRef> = Vec::with_capacity(self.inputs.len() + self.steps.len());
        for (name, base, value) in &self.inputs {
            fields.push(Field::new(name, arrow_type(*base), true));
            arrays.push(one_row(*base, value));
        }
        let mut results = HashMap::new();
        for (feature, physical) in &self.steps {
            let batch = RecordBatch::try_new(Arc::new(Schema::new(fields.clone())), arrays.clone()).expect("a batch");
            let array = physical
                .evaluate(&batch)
                .and_then(|value| value.into_array(1))
                .expect("it evaluates");
            fields.push(Field::new(feature_column(*feature), array.data_type().clone(), true));
            arrays.push(array.clone());
            results.insert(*feature, array);
        }
        results
    }
}

fn fraud_row(criterion: &mut Criterion) {
    let plan = fraud_plan();
    let model = plan
        .models
        .values()
        .find(|model| model.name == "fraud_detector")
        .expect("the fraud model");
    let source = model.examples;
    let features: Vec<FeatureId> = model.features.clone();

    let compiled = compile(&plan, &features).expect("the fraud features compile");
    let inputs: Vec<Value> = compiled
        .inputs()
        .iter()
        .map(|slot| typical_value(slot, &plan))
        .collect();
    let mut bindings = Bindings::new();
    let mut aggregates: HashMap<FeatureId, Value> = HashMap::new();
    for (slot, value) in compiled.inputs().iter().zip(&inputs) {
        bindings = match slot {
            Slot::Column { source, column, .. } => bindings.with_column(*source, *column, value.clone()),
            Slot::Feature { feature, .. } => {
                aggregates.insert(*feature, value.clone());
                bindings.with_feature(*feature, value.clone())
            }
        };
    }
    let expected = evaluate_features(&plan, &features, &bindings).expect("the interpreter evaluates");
    assert_eq!(compiled.evaluate(&inputs).expect("the JIT evaluates"), expected);

    let prepared = Prepared::new(&plan, source, &features, &aggregates);
    let computed = prepared.run();
    let request_batch = || {
        let fields: Vec<Field> = prepared
            .inputs
            .iter()
            .filter(|(name, _, _)| !name.starts_with("feature_"))
            .map(|(name, base, _)| Field::new(name, arrow_type(*base), true))
            .collect();
        let arrays: Vec<ArrayRef> = prepared
            .inputs
            .iter()
            .filter(|(name, _, _)| !name.starts_with("feature_"))
            .map(|(_, base, value)| one_row(*base, value))
            .collect();
        RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).expect("a batch")
    };
    // The batch engine reads an entity group's derived features from its table, as it does the
    // aggregates: give it the values the other engines compute.
    let mut stored = aggregates.clone();
    for (feature, value) in features.iter().zip(&expected) {
        if matches!(plan.features[*feature].kind, FeatureKind::Derived { .. }) {
            stored.insert(*feature, value.clone());
        }
    }
    let looked_up = |feature: FeatureId, _row: usize| stored.get(&feature).cloned().unwrap_or(Value::Null);
    let engine = {
        let batch = request_batch();
        let columns = BatchColumns::new(&plan, source, &batch).expect("columns");
        evaluate_row_features(&plan, &features, &columns, 1, &looked_up).expect("the batch engine evaluates")
    };
    for ((index, feature), value) in features.iter().enumerate().zip(&expected) {
        let base = plan.features[*feature].ty.base;
        if let Some(array) = computed.get(feature) {
            assert_eq!(
                &value_at(array, 0, base),
                value,
                "prepared DataFusion, {}",
                plan.features[*feature].name
            );
        }
        assert_eq!(
            &value_at(&engine[index], 0, base),
            value,
            "batch engine, {}",
            plan.features[*feature].name
        );
    }
    eprintln!(
        "fraud_detector: {} features, {} computed per row by DataFusion, {} JIT inputs",
        features.len(),
        prepared.steps.len(),
        inputs.len()
    );

    let mut group = criterion.benchmark_group("fraud_detector row");
    let mut row = compiled.new_row();
    group.bench_function("jit set inputs + run", |bench| {
        bench.iter(|| {
            for (index, value) in inputs.iter().enumerate() {
                row.set(index, black_box(value)).expect("typed inputs");
            }
            compiled.run(&mut row).expect("its own row");
            black_box(row.output(0).is_ok())
        })
    });
    group.bench_function("datafusion 1-row batch, planned once", |bench| {
        bench.iter(|| black_box(prepared.run()))
    });
    group.bench_function("datafusion 1-row batch, batch engine path", |bench| {
        bench.iter(|| {
            let batch = request_batch();
            let columns = BatchColumns::new(&plan, source, &batch).expect("columns");
            black_box(evaluate_row_features(&plan, &features, &columns, 1, &looked_up).expect("it evaluates"))
        })
    });
    group.bench_function("interpreter", |bench| {
        bench.iter(|| black_box(evaluate_features(&plan, &features, black_box(&bindings)).expect("it evaluates")))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(std::time::Duration::from_secs(1))
        .measurement_time(std::time::Duration::from_secs(3));
    targets = fraud_row
}
criterion_main!(benches);
