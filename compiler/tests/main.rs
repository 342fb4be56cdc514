//! The compiler's integration tests: data-driven cases, hash stability, robustness, examples.

mod cases;
mod examples;
mod hashes;
mod robustness;
mod support;
