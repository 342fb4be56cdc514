//! Integration tests of the JIT: differential tests against the reference interpreter on
//! generated expressions, on every example project and on the spec's edge-case tables; a large
//! plan; concurrent use; the row, cache and error API; compiled models against `Model::predict`.

mod api;
mod generated;
mod models;
mod projects;
#[allow(dead_code)] // values for typed Arrow columns are the batch lowering's tests'
mod random_values;
mod scale;
// The spec's edge-case tables: one definition, also run by the kernels' and the batch lowering's tests.
#[path = "../../kernels/tests/spec_cases.rs"]
#[allow(dead_code)] // the checker-error rows are the kernels' tests'
mod spec_cases;
mod spec_table;
mod support;
mod threads;
