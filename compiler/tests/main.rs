//! The compiler's integration tests: data-driven cases, hash stability, robustness, examples.

mod cases;
mod duplicates;
mod evolution;
mod examples;
mod format;
mod hashes;
mod index;
mod render;
mod paths;
mod robustness;
mod support;
