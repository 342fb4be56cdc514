//! The spec's edge-case tables (the kernels' `spec_cases`, the cases the interpreter is checked
//! on), compiled by the JIT: the JIT must give the spec's value, bit for bit, and agree with the
//! interpreter.

use mlsys_jit::compile;
use mlsys_kernels::Value;
use mlsys_kernels::interpret::{Bindings, evaluate_feature, find_column, find_feature};

use crate::spec_cases::{Row, column_cases, constant_cases, probe_project};
use crate::support::project_text;

/// The JIT's and the interpreter's value of `expression` on a row with the given columns.
fn both(expression: &str, row: &[(&str, Value)]) -> Result<(Value, Value), String> {
    let plan = project_text(&probe_project(expression));
    let mut bindings = Bindings::new();
    for (name, value) in row {
        let (source, column) = find_column(&plan, "rows", name).ok_or("a test column")?;
        bindings = bindings.with_column(source, column, value.clone());
    }
    let feature = find_feature(&plan, "probe", 1, "value").ok_or("the probe feature")?;
    let interpreted = evaluate_feature(&plan, feature, &bindings).map_err(|error| error.to_string())?;
    let compiled = compile(&plan, &[feature]).map_err(|error| error.to_string())?;
    let mut values = compiled.evaluate_inputs(&bindings).map_err(|error| error.to_string())?;
    Ok((values.pop().unwrap_or(Value::Null), interpreted))
}

fn check(cases: Vec<(&str, Row, Value)>) {
    let mut failures = Vec::new();
    for (expression, row, expected) in cases {
        match both(expression, &row) {
            Ok((jit, interpreted)) if jit == expected && interpreted == expected => {}
            Ok((jit, interpreted)) => failures.push(format!(
                "`{expression}` on {row:?}: the spec says {expected}, the JIT {jit}, the interpreter {interpreted}"
            )),
            Err(error) => failures.push(format!("`{expression}`: {error}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn constant_expressions() {
    check(
        constant_cases()
            .into_iter()
            .map(|(expression, value)| (expression, Vec::new(), value))
            .collect(),
    );
}

#[test]
fn column_expressions() {
    check(column_cases());
}
