//! Integration tests of the batch engine on real files and real Delta tables.

mod definitions;
mod features;
mod ingest;
mod ingest_rules;
mod lower;
mod reference;
mod store;
mod support;
mod training;
mod unique;
