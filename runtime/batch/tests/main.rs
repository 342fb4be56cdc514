//! Integration tests of the batch engine on real files and real Delta tables.

mod ingest;
mod support;
