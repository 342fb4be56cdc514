//! The feature server's integration tests: real HTTP on loopback, real redb and Redis stores.

mod connections;
mod errors;
mod fraud;
mod fuzz;
mod metrics;
mod request_time;
mod stores;
mod support;
mod wire;
