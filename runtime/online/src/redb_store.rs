//! `RedbStore`: the embedded online store, one redb file (default `.mlsys/online.redb`).
//!
//! One `Database` is opened per store and shared by every call. A write batch is one write
//! transaction committed with `Durability::Immediate` (on disk when `write` returns) and runs on
//! tokio's blocking pool, since the commit waits for fsync. A read batch is one read transaction
//! run inline: it takes microseconds and never waits for writers (redb reads a committed snapshot),
//! so a hop to another thread would cost more than the read.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition, TableError};

use crate::codec::{EntityKey, Record, record_valid_at};
use crate::error::StoreError;
use crate::location::redact_location;
use crate::store::{OnlineStore, StoreFuture, WriteSummary};
use crate::table::{DEFAULT_NAMESPACE, MetaName, Namespace, TableId};

/// Where `mlsysc` keeps the embedded online store, relative to the project.
pub const DEFAULT_REDB_PATH: &str = ".mlsys/online.redb";

type BytesTable<'a> = TableDefinition<'a, &'static [u8], &'static [u8]>;

/// The embedded online store.
pub struct RedbStore {
    path: PathBuf,
    /// The path as messages print it ([`redact_location`]).
    location: String,
    namespace: Namespace,
    database: Arc<Database>,
}

impl RedbStore {
    /// Opens (or creates) the store file in the default namespace, creating parent directories.
    /// A file another process has open is [`StoreError::AlreadyOpen`].
    pub fn open(path: &Path) -> Result<RedbStore, StoreError> {
        RedbStore::open_in_namespace(path, DEFAULT_NAMESPACE)
    }

    /// Opens (or creates) the store file; tables and metadata live under `namespace`.
    pub fn open_in_namespace(path: &Path, namespace: &str) -> Result<RedbStore, StoreError> {
        let namespace = Namespace::new(namespace)?;
        let location = redact_location(&path.display().to_string());
        if let Some(parent) = path.parent().filter(|parent| !parent.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|error| StoreError::Io {
                store: location.clone(),
                detail: format!(
                    "cannot create directory {}: {error}",
                    redact_location(&parent.display().to_string())
                ),
            })?;
        }
        let database = Database::create(path).map_err(|error| redb_error(&location, "opening the file", error))?;
        Ok(RedbStore {
            path: path.to_path_buf(),
            location,
            namespace,
            database: Arc::new(database),
        })
    }

    pub fn path(&self) -> PathBuf {
        self.path.clone()
    }

    /// Runs a write transaction on the blocking pool: `work` fills it, then it is committed durably.
    async fn write_transaction<T: Send + 'static>(
        &self,
        work: impl FnOnce(&redb::WriteTransaction, &str) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let database = Arc::clone(&self.database);
        let location = self.location.clone();
        let task = tokio::task::spawn_blocking(move || {
            let mut transaction = database
                .begin_write()
                .map_err(|error| redb_error(&location, "starting a write", error))?;
            transaction
                .set_durability(Durability::Immediate)
                .map_err(|error| redb_error(&location, "starting a write", error))?;
            let result = work(&transaction, &location)?;
            transaction
                .commit()
                .map_err(|error| redb_error(&location, "committing a write", error))?;
            Ok(result)
        });
        task.await.map_err(|error| StoreError::Io {
            store: self.location.clone(),
            detail: format!("the write task did not finish: {error}"),
        })?
    }
}

impl OnlineStore for RedbStore {
    fn location(&self) -> &str {
        &self.location
    }

    fn write<'a>(&'a self, table: &'a TableId, rows: &'a [(EntityKey, Record)]) -> StoreFuture<'a, WriteSummary> {
        Box::pin(async move {
            // Encoded here so the blocking task owns plain bytes.
            let encoded: Vec<(Vec<u8>, i64, Vec<u8>)> = rows
                .iter()
                .map(|(key, record)| (key.encode(), record.valid_at, record.encode()))
                .collect();
            let table_name = self.namespace.redb_table_name(table);
            let context = format!("table {table}");
            self.write_transaction(move |transaction, location| {
                let mut stored = transaction
                    .open_table(BytesTable::new(&table_name))
                    .map_err(|error| redb_error(location, &context, error))?;
                let mut summary = WriteSummary::default();
                for (key, incoming_valid_at, record) in &encoded {
                    let stored_valid_at = match stored.get(key.as_slice()) {
                        Ok(Some(guard)) => {
                            Some(record_valid_at(guard.value()).map_err(|error| StoreError::Corrupt {
                                store: location.to_string(),
                                context: context.clone(),
                                detail: error.to_string(),
                            })?)
                        }
                        Ok(None) => None,
                        Err(error) => return Err(redb_error(location, &context, error)),
                    };
                    if stored_valid_at.is_some_and(|stored_valid_at| stored_valid_at > *incoming_valid_at) {
                        summary.stale_skipped += 1;
                    } else {
                        stored
                            .insert(key.as_slice(), record.as_slice())
                            .map_err(|error| redb_error(location, &context, error))?;
                        summary.written += 1;
                    }
                }
                Ok(summary)
            })
            .await
        })
    }

    fn read<'a>(&'a self, table: &'a TableId, keys: &'a [EntityKey]) -> StoreFuture<'a, Vec<Option<Record>>> {
        Box::pin(async move {
            let context = || format!("table {table}");
            let transaction = self
                .database
                .begin_read()
                .map_err(|error| redb_error(&self.location, &context(), error))?;
            let table_name = self.namespace.redb_table_name(table);
            let stored = match transaction.open_table(BytesTable::new(&table_name)) {
                Ok(stored) => stored,
                // Nothing was ever written to this table.
                Err(TableError::TableDoesNotExist(_)) => return Ok(vec![None; keys.len()]),
                Err(error) => return Err(redb_error(&self.location, &context(), error)),
            };
            let mut records = Vec::with_capacity(keys.len());
            let mut key_bytes = Vec::new();
            for key in keys {
                key_bytes.clear();
                key.encode_into(&mut key_bytes);
                let record = match stored.get(key_bytes.as_slice()) {
                    Ok(Some(guard)) => Some(Record::decode(guard.value()).map_err(|error| StoreError::Corrupt {
                        store: self.location.clone(),
                        context: context(),
                        detail: error.to_string(),
                    })?),
                    Ok(None) => None,
                    Err(error) => return Err(redb_error(&self.location, &context(), error)),
                };
                records.push(record);
            }
            Ok(records)
        })
    }

    fn put_meta<'a>(&'a self, name: &'a str, bytes: &'a [u8]) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let name = MetaName::new(name)?;
            let table_name = self.namespace.redb_meta_table_name();
            let bytes = bytes.to_vec();
            self.write_transaction(move |transaction, location| {
                let context = format!("metadata {}", name.as_str());
                let mut meta = transaction
                    .open_table(BytesTable::new(&table_name))
                    .map_err(|error| redb_error(location, &context, error))?;
                meta.insert(name.as_str().as_bytes(), bytes.as_slice())
                    .map_err(|error| redb_error(location, &context, error))?;
                Ok(())
            })
            .await
        })
    }

    fn get_meta<'a>(&'a self, name: &'a str) -> StoreFuture<'a, Option<Vec<u8>>> {
        Box::pin(async move {
            let name = MetaName::new(name)?;
            let context = format!("metadata {}", name.as_str());
            let transaction = self
                .database
                .begin_read()
                .map_err(|error| redb_error(&self.location, &context, error))?;
            let table_name = self.namespace.redb_meta_table_name();
            let meta = match transaction.open_table(BytesTable::new(&table_name)) {
                Ok(meta) => meta,
                Err(TableError::TableDoesNotExist(_)) => return Ok(None),
                Err(error) => return Err(redb_error(&self.location, &context, error)),
            };
            match meta.get(name.as_str().as_bytes()) {
                Ok(value) => Ok(value.map(|guard| guard.value().to_vec())),
                Err(error) => Err(redb_error(&self.location, &context, error)),
            }
        })
    }
}

/// Maps any redb error to a [`StoreError`] naming the file and what was being done.
fn redb_error(location: &str, context: &str, error: impl Into<redb::Error>) -> StoreError {
    match error.into() {
        redb::Error::DatabaseAlreadyOpen => StoreError::AlreadyOpen {
            store: location.to_string(),
        },
        redb::Error::Corrupted(detail) => StoreError::Corrupt {
            store: location.to_string(),
            context: context.to_string(),
            detail,
        },
        other => StoreError::Io {
            store: location.to_string(),
            detail: format!("{context}: {other}"),
        },
    }
}
