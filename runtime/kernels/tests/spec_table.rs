//! The spec's edge-case tables (`spec_cases`), compiled by `mlsys_compiler` and evaluated by the
//! reference interpreter.

use crate::spec_cases::{CHECKER_ERRORS, column_cases, constant_cases};
use crate::support::{error_codes, eval, try_eval};

#[test]
fn constant_expressions() {
    let mut failures = Vec::new();
    for (expression, expected) in constant_cases() {
        match try_eval(expression, &[]) {
            Ok(value) if value == expected => {}
            other => failures.push(format!("`{expression}`: expected {expected}, got {other:?}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn column_expressions() {
    let mut failures = Vec::new();
    for (expression, row, expected) in column_cases() {
        let value = eval(expression, &row);
        if value != expected {
            failures.push(format!("`{expression}` on {row:?}: expected {expected}, got {value}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The kernels rely on the checker for these rows.
#[test]
fn invalid_constants_and_bare_nulls_never_reach_the_kernels() {
    for (expression, code) in CHECKER_ERRORS {
        assert_eq!(error_codes(expression), vec![code], "`{expression}`");
    }
}
