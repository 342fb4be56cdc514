//! Test support: temporary directories, a real Redis server, and a fresh store of each backend.

pub mod redis_server;
mod temp_dir;

use std::sync::Arc;

use mlsys_online::{OnlineStore, RedbStore, RedisStore};
use redis_server::RedisServer;
pub use temp_dir::TempDir;

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
                let store = RedisStore::connect(&server.url(), "test")
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
