//! Per-row evaluation of the fraud model's features (`examples/fraud`, model `fraud_detector`,
//! aggregates given as inputs): the JIT's fast path against the reference interpreter; and the
//! compile time of the fraud feature set and of a generated 100-feature plan.

mod support {
    pub mod fraud;
}

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use mlsys_compiler::plan::FeatureId;
use mlsys_compiler::source::SourceFile;
use mlsys_jit::{Slot, compile};
use mlsys_kernels::Value;
use mlsys_kernels::interpret::{Bindings, evaluate_features};
use support::fraud::{fraud_plan, plan_of, typical_value};

/// A generated project: one group of `count` row-level features from ten templates.
fn wide_project(count: usize) -> String {
    let mut features = String::new();
    for k in 0..count {
        let definition = match k % 10 {
            0 => format!("ln(1 + abs(amount)) * {k}"),
            1 => "if country == \"US\" then amount else -amount".to_string(),
            2 => format!("coalesce(tip, 0.0) / (amount + {k})"),
            3 => format!("hour(event_time) + {k}"),
            4 => format!("lower(concat(country, \"-{k}\"))"),
            5 => format!("bucketize(amount, [10.0, 50.0, {}.0])", 100 + k),
            6 => format!("hash_bucket(user_id, {})", k + 1),
            7 => format!("f{} * 2.0 + f{}", k - 7, k - 6),
            8 => format!("channel in [\"web\", \"api\"] and amount > {k}.0"),
            _ => format!("greatest(amount, {k}.0, coalesce(tip, 0.0))"),
        };
        features.push_str(&format!("  f{k} = {definition}\n"));
    }
    format!(
        "source payments {{\n  format = parquet\n  location = \"data/payments\"\n  timestamp = event_time\n  \
         schema {{ user_id: string, amount: float64, tip: float64?, country: string, channel: string, \
         event_time: timestamp }}\n}}\nfeatures wide v1 {{\n  from = payments\n{features}}}\n"
    )
}

fn fraud_row(criterion: &mut Criterion) {
    let plan = fraud_plan();
    let model = plan
        .models
        .values()
        .find(|model| model.name == "fraud_detector")
        .expect("the fraud model");
    let features: Vec<FeatureId> = model.features.clone();
    let compiled = compile(&plan, &features).expect("the fraud features compile");
    let inputs: Vec<Value> = compiled
        .inputs()
        .iter()
        .map(|slot| typical_value(slot, &plan))
        .collect();
    let mut bindings = Bindings::new();
    for (slot, value) in compiled.inputs().iter().zip(&inputs) {
        bindings = match slot {
            Slot::Column { source, column, .. } => bindings.with_column(*source, *column, value.clone()),
            Slot::Feature { feature, .. } => bindings.with_feature(*feature, value.clone()),
        };
    }
    let expected = evaluate_features(&plan, &features, &bindings).expect("the interpreter evaluates");
    assert_eq!(compiled.evaluate(&inputs).expect("the JIT evaluates"), expected);
    eprintln!(
        "fraud_detector: {} features ({} computed per row), {} inputs",
        features.len(),
        plan.features
            .iter()
            .filter(|(id, feature)| features.contains(id)
                && !matches!(feature.kind, mlsys_compiler::plan::FeatureKind::Aggregate(_)))
            .count(),
        inputs.len()
    );

    let mut group = criterion.benchmark_group("fraud_detector row");
    let mut row = compiled.new_row();
    row.set_all(&inputs).expect("typed inputs");
    group.bench_function("jit run (inputs already set)", |bench| {
        bench.iter(|| {
            compiled.run(black_box(&mut row)).expect("its own row");
            black_box(row.output(0).is_ok())
        })
    });
    group.bench_function("jit set inputs + run", |bench| {
        bench.iter(|| {
            for (index, value) in inputs.iter().enumerate() {
                row.set(index, black_box(value)).expect("typed inputs");
            }
            compiled.run(&mut row).expect("its own row");
            black_box(row.output(0).is_ok())
        })
    });
    group.bench_function("jit evaluate (values in, values out)", |bench| {
        bench.iter(|| black_box(compiled.evaluate(black_box(&inputs)).expect("typed inputs")))
    });
    group.bench_function("interpreter", |bench| {
        bench.iter(|| black_box(evaluate_features(&plan, &features, black_box(&bindings)).expect("it evaluates")))
    });
    group.finish();
}

fn compile_time(criterion: &mut Criterion) {
    let fraud = fraud_plan();
    let model_features = fraud.models.values().next().expect("a model").features.clone();
    let wide = plan_of(vec![SourceFile::new("wide.mlsys", wide_project(100))]);
    let wide_features: Vec<FeatureId> = wide.features.iter().map(|(id, _)| id).collect();
    let mut group = criterion.benchmark_group("compile");
    group.sample_size(10);
    group.bench_function("fraud_detector features", |bench| {
        bench.iter(|| black_box(compile(&fraud, &model_features).expect("it compiles")))
    });
    group.bench_function("100 generated features", |bench| {
        bench.iter(|| black_box(compile(&wide, &wide_features).expect("it compiles")))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(std::time::Duration::from_secs(1))
        .measurement_time(std::time::Duration::from_secs(3));
    targets = fraud_row, compile_time
}
criterion_main!(benches);
