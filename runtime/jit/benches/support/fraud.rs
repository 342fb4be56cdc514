//! The fraud example's plan and a typical request's values, for the per-row benches of the JIT
//! (`runtime/jit/benches/row.rs`) and of every engine (`runtime/batch/benches/row_engines.rs`).

use std::path::Path;

use mlsys_compiler::compile as check;
use mlsys_compiler::plan::Plan;
use mlsys_compiler::source::SourceFile;
use mlsys_compiler::types::BaseType;
use mlsys_jit::Slot;
use mlsys_kernels::Value;

/// The checked plan of a project's files.
pub fn plan_of(files: Vec<SourceFile>) -> Plan {
    let compilation = check(&files);
    assert!(!compilation.has_errors(), "{:#?}", compilation.diagnostics);
    compilation.plan.expect("a plan")
}

/// The plan of `examples/fraud`.
pub fn fraud_plan() -> Plan {
    let directory = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/fraud");
    let mut paths: Vec<_> = std::fs::read_dir(&directory)
        .expect("the fraud example")
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.extension().is_some_and(|extension| extension == "mlsys"))
        .collect();
    paths.sort();
    plan_of(
        paths
            .iter()
            .map(|path| {
                SourceFile::new(
                    path.display().to_string(),
                    std::fs::read_to_string(path).expect("a file"),
                )
            })
            .collect(),
    )
}

/// A payment as the request carries it, and the online store's aggregates for its user, by name
/// and type.
pub fn request_value(name: &str, base: BaseType) -> Value {
    match (name, base) {
        ("country", _) => Value::from("FR"),
        ("channel", _) => Value::from("web"),
        ("event_time", _) => Value::Timestamp(1_767_225_600_000_000 + 3 * 3_600_000_000),
        (_, BaseType::Float64) => Value::Float(125.5),
        (_, BaseType::Int64) => Value::Int(12),
        (_, BaseType::String) => Value::from("u-123"),
        (_, BaseType::Bool) => Value::Bool(false),
        (_, BaseType::Date) => Value::Date(20_454),
        (_, BaseType::Timestamp) => Value::Timestamp(1_767_225_600_000_000),
        (_, BaseType::Duration) => Value::Duration(3_600_000_000),
    }
}

/// [`request_value`] for a JIT input slot.
pub fn typical_value(slot: &Slot, plan: &Plan) -> Value {
    let name = match slot {
        Slot::Column { source, column, .. } => plan
            .sources
            .get(*source)
            .map(|source| source.columns[*column as usize].name.clone()),
        Slot::Feature { feature, .. } => plan.features.get(*feature).map(|feature| feature.name.clone()),
    }
    .unwrap_or_default();
    request_value(&name, slot.ty().base)
}
