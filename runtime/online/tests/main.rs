//! Integration tests of the online stores; both backends are real (redb files, `redis-server`).

mod behaviour;
mod codec;
mod concurrency;
mod location;
mod redb_store;
mod redis_store;
mod support;
mod table;
mod timeline;
