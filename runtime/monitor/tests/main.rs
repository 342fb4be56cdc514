//! The monitor crate's integration tests: one binary, a module per subject.

mod distribution;
mod evaluate;
mod reading;
mod report;
