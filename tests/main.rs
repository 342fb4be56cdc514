//! End-to-end tests of the `mlsysc` binary: exit codes, output formats, help.

mod build;
mod ci;
mod cli;
mod closed_loop;
mod data;
mod deploy;
mod drift;
mod generated;
mod logged_rows;
mod lsp;
mod models;
mod monitor;
mod redaction;
mod refresh;
mod retrain;
mod score;
// The online store's tests start their Redis the same way: one harness for all.
mod paths;
#[path = "../runtime/online/tests/support/redis_server.rs"]
#[allow(dead_code)] // restarting a killed server is only exercised by the online tests
mod redis_server;
// The alert crate's HTTP receiver: alerts of the closed loop are delivered to it.
#[path = "../runtime/alerts/tests/support/receiver.rs"]
#[allow(dead_code)] // its failure modes are exercised by the alert crate's own tests
mod receiver;
mod support;
mod train;
mod verify;
