//! The compiler's integration tests: data-driven cases, hash stability, robustness, examples.

mod cases;
mod duplicates;
mod evolution;
mod examples;
mod format;
mod hashes;
mod index;
mod paths;
mod render;
mod robustness;
mod support;
