//! Integration tests of the batch engine on real files and real Delta tables.

mod definitions;
mod features;
mod ingest;
mod ingest_rules;
mod lower;
mod prediction_log;
// The JIT's differential tests draw their values from the same generator.
#[path = "../../jit/tests/random_values.rs"]
#[allow(dead_code)] // the JIT's tests also use the values a typed column cannot hold
mod random_values;
mod reference;
mod score;
// lang-spec's edge-case tables: one definition, also run on the interpreter and the JIT.
#[path = "../../kernels/tests/spec_cases.rs"]
#[allow(dead_code)] // the checker-error rows are the kernels' tests'
mod spec_cases;
mod store;
mod support;
mod training;
mod unique;
