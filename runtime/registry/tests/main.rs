//! Tests of the model registry: registration and lineage, the stage rules, the event log, artifacts,
//! schema handling, and crash and concurrency behaviour across real processes.

mod artifacts;
mod child;
mod concurrency;
mod crash;
mod events;
mod lineage;
mod schema;
mod stages;
mod support;
