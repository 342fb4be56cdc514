//! Integration tests of the JIT: differential tests against the reference interpreter on
//! generated expressions, on every example project and on the spec's edge-case tables; a large
//! plan; concurrent use; the row, cache and error API.

mod api;
mod generated;
mod projects;
mod scale;
mod spec_table;
mod support;
mod threads;
