//! A plan of 100 row-level features (strings, time, categorical, conditionals, features reading
//! features) compiles to one function that agrees with the interpreter.

use mlsys_compiler::plan::FeatureId;

use crate::support::{Rng, check_feature_set, project_text};

/// A project whose group `wide@v1` has `count` features built from ten templates.
pub fn wide_project(count: usize) -> String {
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

#[test]
fn a_hundred_feature_plan_compiles_and_agrees() {
    let plan = project_text(&wide_project(100));
    let features: Vec<FeatureId> = plan.features.iter().map(|(id, _)| id).collect();
    assert_eq!(features.len(), 100);
    let compiled = mlsys_jit::compile(&plan, &features).expect("100 features compile");
    assert_eq!(compiled.outputs().len(), 100);
    assert_eq!(compiled.inputs().len(), 6, "{:?}", compiled.inputs());
    let compared = check_feature_set(&plan, &features, 40, &mut Rng(100)).expect("the engines agree");
    assert_eq!(compared, 4000);
}
