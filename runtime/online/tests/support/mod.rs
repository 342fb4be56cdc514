//! Test support: temporary directories, a real Redis server, and a fresh store of each backend.

pub mod redis_server;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use mlsys_online::{OnlineStore, RedbStore, RedisStore};
use redis_server::RedisServer;

static NEXT_DIRECTORY: AtomicU32 = AtomicU32::new(0);

/// A directory removed when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new() -> TempDir {
        let path = std::env::temp_dir().join(format!(
            "mlsys-online-test-{}-{}",
            std::process::id(),
            NEXT_DIRECTORY.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::remove_dir_all(&path).ok();
        std::fs::create_dir_all(&path).expect("create a temporary directory");
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.0).ok();
    }
}

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
