//! The `OnlineStore` trait every backend implements, and `open_store`, which picks the backend
//! from a location.

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;

use crate::codec::{EntityKey, Record};
use crate::error::StoreError;
use crate::location::StoreLocation;
use crate::redb_store::RedbStore;
use crate::redis_store::{RedisOptions, RedisStore};
use crate::table::TableId;

/// The future a store operation returns. Boxed so the trait stays object-safe
/// (`Arc<dyn OnlineStore>`) without a macro crate.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// What a write did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WriteSummary {
    /// Rows stored (new keys, and keys whose stored `valid_at` was not newer).
    pub written: u64,
    /// Rows not stored because the store already held a strictly newer `valid_at` for their key.
    pub stale_skipped: u64,
}

/// An online store: per table, the latest record of each entity key, plus small metadata.
///
/// Architecture invariant: **newest wins.** A stored record is replaced by an incoming one unless
/// the stored `valid_at` is strictly greater. Equal times replace (a corrected rebuild for the same
/// time takes effect), and re-running a materialization converges to the same state whatever the
/// order or concurrency of the writers. Each row is replaced atomically.
///
/// The futures run on tokio (the Redis connection and redb's commits use it): await them inside a
/// tokio runtime.
pub trait OnlineStore: Send + Sync {
    /// The store's path or URL through [`crate::redact_location`] (without a password), as
    /// messages name it.
    fn location(&self) -> &str;

    /// Writes rows under newest-wins. Rows are applied in order, so a later row of the same batch
    /// for the same key competes with the earlier one like any other write.
    fn write<'a>(&'a self, table: &'a TableId, rows: &'a [(EntityKey, Record)]) -> StoreFuture<'a, WriteSummary>;

    /// The stored record of each key, in the order of `keys` (`None` for a key never written).
    fn read<'a>(&'a self, table: &'a TableId, keys: &'a [EntityKey]) -> StoreFuture<'a, Vec<Option<Record>>>;

    /// Stores a small metadata entry (replacing any previous one), as durably as records.
    fn put_meta<'a>(&'a self, name: &'a str, bytes: &'a [u8]) -> StoreFuture<'a, ()>;

    /// A metadata entry, or `None` if it was never stored.
    fn get_meta<'a>(&'a self, name: &'a str) -> StoreFuture<'a, Option<Vec<u8>>>;
}

/// Opens the store at `location`: a `redis://` URL is a shared Redis server (default timeouts, see
/// [`RedisOptions`]); anything without a URL scheme is the path of an embedded redb file. Other
/// URLs (`rediss://` included: this build has no TLS) are an error, and so is a `redis:` location
/// without `//` (a mistyped URL, not a file name). Opening a redb file runs on the calling thread
/// (it is a start-up step).
pub async fn open_store(location: &StoreLocation, namespace: &str) -> Result<Arc<dyn OnlineStore>, StoreError> {
    let unsupported = |reason: &str| StoreError::UnsupportedLocation {
        location: location.clone(),
        reason: reason.to_string(),
    };
    let text = location.as_given();
    if text.starts_with("redis://") {
        let store = RedisStore::connect_with(text, namespace, RedisOptions::default()).await?;
        return Ok(Arc::new(store));
    }
    if text.starts_with("rediss://") {
        return Err(unsupported(
            "TLS (`rediss://`) is not supported by this build; use `redis://` on a trusted network",
        ));
    }
    if let Some((scheme, _)) = text.split_once("://") {
        return Err(unsupported(&format!(
            "unknown scheme `{scheme}`; use `redis://host:port` or a file path for the embedded store"
        )));
    }
    if text.starts_with("redis:") || text.starts_with("rediss:") {
        return Err(unsupported("a Redis URL starts with `redis://`"));
    }
    if text.is_empty() {
        return Err(unsupported("empty location; use `redis://host:port` or a file path"));
    }
    let store = RedbStore::open_in_namespace(Path::new(text), namespace)?;
    Ok(Arc::new(store))
}
