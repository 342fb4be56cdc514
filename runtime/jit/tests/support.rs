//! Shared test helpers: project compilation, random inputs for a whole plan (from
//! `random_values`), and the differential check of the JIT against the reference interpreter.

use std::path::{Path, PathBuf};

use mlsys_compiler::compile;
use mlsys_compiler::plan::verify::verify;
use mlsys_compiler::plan::{FeatureId, FeatureKind, Plan};
use mlsys_compiler::source::SourceFile;
use mlsys_jit::CompiledFeatures;
use mlsys_kernels::Value;
use mlsys_kernels::interpret::{Bindings, evaluate_features};

pub use crate::random_values::{Rng, random_value};

/// Compiles project files that must be free of errors and pass the verifier.
pub fn project(files: &[(String, String)]) -> Plan {
    let sources: Vec<SourceFile> = files
        .iter()
        .map(|(name, text)| SourceFile::new(name.clone(), text.clone()))
        .collect();
    let compilation = compile(&sources);
    assert!(!compilation.has_errors(), "{:#?}", compilation.diagnostics);
    let plan = compilation.plan.expect("a plan without errors");
    assert_eq!(verify(&plan), Vec::new());
    plan
}

pub fn project_text(text: &str) -> Plan {
    project(&[("test.mlsys".to_string(), text.to_string())])
}

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn mlsys_files(directory: &Path) -> Vec<PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(directory)
        .expect("a directory")
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.extension().is_some_and(|extension| extension == "mlsys"))
        .collect();
    files.sort();
    files
}

/// Random inputs for a whole plan, chosen without looking at what the JIT reads: every column of
/// every source and every windowed aggregate.
pub fn random_bindings(plan: &Plan, rng: &mut Rng) -> Bindings {
    let mut bindings = Bindings::new();
    for (source_id, source) in plan.sources.iter() {
        let row: Vec<Value> = source
            .columns
            .iter()
            .map(|column| random_value(rng, column.ty))
            .collect();
        bindings = bindings.with_row(source_id, row);
    }
    for (feature_id, feature) in plan.features.iter() {
        if matches!(feature.kind, FeatureKind::Aggregate(_)) {
            bindings = bindings.with_feature(feature_id, random_value(rng, feature.ty));
        }
    }
    bindings
}

/// Compiles `features` and compares the JIT with the interpreter on `rows` random rows, through
/// both the convenience path and one reused row buffer. Returns the number of values compared.
pub fn check_feature_set(plan: &Plan, features: &[FeatureId], rows: usize, rng: &mut Rng) -> Result<usize, String> {
    let compiled = mlsys_jit::compile(plan, features).map_err(|error| format!("compile: {error}"))?;
    let mut row = compiled.new_row();
    let mut compared = 0;
    for _ in 0..rows {
        let bindings = random_bindings(plan, rng);
        compared += compare_on(plan, &compiled, &mut row, &bindings)?;
    }
    Ok(compared)
}

/// The interpreter and the JIT on one set of inputs; `row` is reused from call to call.
pub fn compare_on(
    plan: &Plan,
    compiled: &CompiledFeatures,
    row: &mut mlsys_jit::Row,
    bindings: &Bindings,
) -> Result<usize, String> {
    let features = compiled.outputs();
    let expected = evaluate_features(plan, features, bindings).map_err(|error| format!("interpreter: {error}"))?;
    let actual = compiled
        .evaluate_inputs(bindings)
        .map_err(|error| format!("evaluate: {error}"))?;
    for (index, slot) in compiled.inputs().iter().enumerate() {
        row.set(index, &slot.read(bindings))
            .map_err(|error| format!("set: {error}"))?;
    }
    compiled.run(row).map_err(|error| format!("run: {error}"))?;
    let reused = row.values();
    for (index, feature) in features.iter().enumerate() {
        if !actual[index].bits_equal(&expected[index]) || !reused[index].bits_equal(&expected[index]) {
            let inputs: Vec<String> = compiled
                .inputs()
                .iter()
                .map(|slot| format!("{slot:?} = {}", slot.read(bindings)))
                .collect();
            let name = plan.features.get(*feature).map_or("?", |feature| feature.name.as_str());
            return Err(format!(
                "feature {feature} ({name}): interpreter {}, JIT {}, JIT on a reused row {}\ninputs: {}",
                expected[index],
                actual[index],
                reused[index],
                inputs.join(", ")
            ));
        }
    }
    Ok(features.len())
}
