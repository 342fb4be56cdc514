//! Online stores: the latest feature values of every entity, per feature group version, behind one
//! trait — embedded ([`RedbStore`], one file) or shared ([`RedisStore`]).
//!
//! Materialization writes each entity's newest record; the feature server reads records per
//! request. Values round-trip bit for bit ([`mlsys_kernels::Value::bits_equal`]): `-0.0`, NaN,
//! subnormals and string bytes come back as written.
//!
//! Code map:
//! - [`codec`]: the canonical, versioned binary encoding of [`EntityKey`]s and [`Record`]s.
//! - [`table`]: [`TableId`] (`user_activity@v1`), [`Namespace`], and the redb and Redis names.
//! - [`store`]: the [`OnlineStore`] trait (newest-wins writes, batched reads, metadata) and
//!   [`open_store`], which picks a backend from a path or URL.
//! - [`location`]: [`StoreLocation`], a path or URL that prints without its password, and
//!   [`redact_location`], the one redaction every printed location goes through.
//! - [`redb_store`]: the embedded store; [`redis_store`]: the Redis store and its write script.
//! - [`timeline`]: an entity's materialized change points and the lookup of the values at a time.
//! - [`error`]: [`StoreError`], whose kinds a server maps to answers (`Unavailable` → 503).
//!
//! Architecture invariant: **newest wins.** A key's stored record is replaced unless it is strictly
//! newer (`valid_at`) than the incoming one, atomically per row, in every backend.
//!
//! Write two records for one user, the second one older, then read:
//!
//! ```
//! use mlsys_kernels::Value;
//! use mlsys_online::{EntityKey, Record, StoreLocation, TableId, WriteSummary, open_store};
//!
//! # let directory = std::env::temp_dir().join(format!("mlsys-online-doctest-{}", std::process::id()));
//! # let path = directory.join("online.redb");
//! # let location = StoreLocation::new(path.to_str().expect("a UTF-8 path"));
//! let runtime = tokio::runtime::Runtime::new().expect("a runtime");
//! runtime.block_on(async {
//!     // `location` is a file path here; a `redis://host:port` URL would select Redis.
//!     let store = open_store(&location, "fraud").await.expect("the store opens");
//!     let table: TableId = "user_activity@v1".parse().expect("a table name");
//!     let user = EntityKey::new(vec![Value::string("u42")]);
//!
//!     let newer = Record::new(2_000, vec![Value::Int(7), Value::Float(-0.0)]);
//!     let older = Record::new(1_000, vec![Value::Int(3), Value::Null]);
//!     let summary = store
//!         .write(&table, &[(user.clone(), newer.clone()), (user.clone(), older)])
//!         .await
//!         .expect("the write commits");
//!     assert_eq!(summary, WriteSummary { written: 1, stale_skipped: 1 });
//!
//!     let missing = EntityKey::new(vec![Value::string("nobody")]);
//!     let records = store.read(&table, &[user, missing]).await.expect("the read succeeds");
//!     assert_eq!(records, vec![Some(newer), None]);
//! });
//! # std::fs::remove_dir_all(&directory).ok();
//! ```

pub mod codec;
pub mod error;
pub mod location;
pub mod redb_store;
pub mod redis_store;
pub mod store;
pub mod table;
pub mod timeline;

pub use codec::{DecodeError, EntityKey, Record};
pub use error::StoreError;
pub use location::{StoreLocation, redact_location};
pub use redb_store::{DEFAULT_REDB_PATH, RedbStore};
pub use redis_store::{RedisOptions, RedisStore};
pub use store::{OnlineStore, StoreFuture, WriteSummary, open_store};
pub use table::{DEFAULT_NAMESPACE, MetaName, Namespace, TableId};
pub use timeline::{Lookup, TableMeta, Timeline, meta_name};
