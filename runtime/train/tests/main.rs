//! Integration tests of `mlsys-train`: metrics, data validation, the three trainers, model bytes,
//! checkpoint resumption (with a killed child process) and ONNX Runtime parity.

// A failed unwrap is a failed test, with its location.
#![allow(clippy::unwrap_used)]

mod checkpoint;
mod codec;
mod common;
mod dataset;
mod gbdt;
mod linear;
mod metrics;
mod onnx;
