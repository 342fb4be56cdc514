//! End-to-end tests of the `mlsysc` binary: exit codes, output formats, help.

mod build;
mod ci;
mod cli;
mod data;
mod lsp;
mod models;
mod paths;
mod support;
mod train;
mod verify;
