//! Shared helpers: compiling test projects and evaluating one expression as a row-level feature.

use mlsys_compiler::plan::Plan;
use mlsys_compiler::plan::verify::verify;
use mlsys_compiler::{compile, source::SourceFile};
use mlsys_kernels::Value;
use mlsys_kernels::interpret::{Bindings, EvalError, evaluate_feature, find_column, find_feature};

use crate::spec_cases::probe_project;
pub use crate::spec_cases::{float, int, text};

/// Compiles a one-file project that must be free of errors and pass the verifier.
pub fn compile_project(text: &str) -> Plan {
    let compilation = compile(&[SourceFile::new("test.mlsys", text)]);
    assert!(!compilation.has_errors(), "{:#?}", compilation.diagnostics);
    let plan = compilation.plan.expect("a plan without errors");
    assert_eq!(verify(&plan), Vec::new());
    plan
}

/// The error codes the checker reports for `expression` (empty if it compiles).
pub fn error_codes(expression: &str) -> Vec<&'static str> {
    let compilation = compile(&[SourceFile::new("test.mlsys", probe_project(expression))]);
    compilation
        .diagnostics
        .iter()
        .filter(|diagnostic| diagnostic.is_error())
        .map(|diagnostic| diagnostic.code.as_str())
        .collect()
}

/// Evaluates `expression` as a row-level feature on a row with the given column values.
pub fn try_eval(expression: &str, row: &[(&str, Value)]) -> Result<Value, EvalError> {
    let plan = compile_project(&probe_project(expression));
    let mut bindings = Bindings::new();
    for (name, value) in row {
        let (source, column) = find_column(&plan, "rows", name).expect("a test column");
        bindings = bindings.with_column(source, column, value.clone());
    }
    let feature = find_feature(&plan, "probe", 1, "value").expect("the probe feature");
    evaluate_feature(&plan, feature, &bindings)
}

pub fn eval(expression: &str, row: &[(&str, Value)]) -> Value {
    try_eval(expression, row).unwrap_or_else(|error| panic!("`{expression}`: {error}"))
}

/// Asserts two floats are bit-identical after NaN canonicalisation.
#[track_caller]
pub fn assert_bits(actual: f64, expected: f64) {
    assert_eq!(
        Value::Float(actual),
        Value::Float(expected),
        "{actual:?} ({:#018x}) != {expected:?} ({:#018x})",
        actual.to_bits(),
        expected.to_bits()
    );
}

/// Day number of a calendar date.
pub fn date(year: i32, month: u32, day: u32) -> i32 {
    mlsys_compiler::syntax::literal::days_from_civil(year, month, day)
}
