//! Test support: temporary directories, a real Redis server, and a fresh store of each backend.

pub mod redis_server;
mod temp_dir;

use std::sync::Arc;

use std::time::Duration;

use mlsys_online::{OnlineStore, RedbStore, RedisOptions, RedisStore};
use redis_server::RedisServer;
pub use temp_dir::TempDir;

/// Redis timeouts for calls a test expects to succeed: generous, so a loaded machine never fails
/// them (the store's defaults are tuned for serving, not for a shared test machine).
pub const PATIENT: RedisOptions = RedisOptions {
    connect_timeout: Duration::from_secs(10),
    response_timeout: Duration::from_secs(10),
};

/// The two backends every behavioural check runs against.
#[derive(Clone, Copy, Debug)]
pub enum Backend {
    Redb,
    Redis,
}

/// A fresh, empty store of one backend, with whatever keeps it alive.
pub struct StoreFixture {
    pub store: Arc<dyn OnlineStore>,
    pub redis_server: Option<RedisServer>,
    _directory: Option<TempDir>,
}

impl StoreFixture {
    pub async fn new(backend: Backend) -> StoreFixture {
        match backend {
            Backend::Redb => {
                let directory = TempDir::new();
                let store = RedbStore::open(&directory.path().join("state/online.redb")).expect("open redb");
                StoreFixture {
                    store: Arc::new(store),
                    redis_server: None,
                    _directory: Some(directory),
                }
            }
            Backend::Redis => {
                let server = RedisServer::start();
                let store = RedisStore::connect_with(&server.url(), "test", PATIENT)
                    .await
                    .expect("connect to redis");
                StoreFixture {
                    store: Arc::new(store),
                    redis_server: Some(server),
                    _directory: None,
                }
            }
        }
    }
}
