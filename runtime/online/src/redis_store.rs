//! `RedisStore`: the shared online store on a Redis server (`redis://host:port/db`).
//!
//! One multiplexed connection carries every concurrent request (redis-rs pipelines them on one
//! socket). When it breaks, the failing call reports [`StoreError::Unavailable`] and the next call
//! connects again, so a restarted server is picked up without restarting the process. Every
//! command has a response timeout and every connection attempt a connect timeout, so an
//! unreachable server is an error within about a second, never a hang.
//!
//! Writes run a Lua script that applies newest-wins to a chunk of rows atomically on the server
//! (one `GET` + compare + `SET` per row, no round trip in between); the chunks of a batch are
//! pipelined as `EVALSHA` calls. Reads are one `MGET`: one round trip per batch.

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, ErrorKind, RedisError, ServerErrorKind};

use crate::codec::{EntityKey, FORMAT_VERSION, Record};
use crate::error::StoreError;
use crate::location::{StoreLocation, redact_location};
use crate::store::{OnlineStore, StoreFuture, WriteSummary};
use crate::table::{MetaName, Namespace, TableId};

/// Rows per script call: large enough to amortise the call, small enough that one call does not
/// hold the (single-threaded) server for long while readers wait.
const ROWS_PER_SCRIPT_CALL: usize = 128;

/// Script calls per pipelined round trip; keeps each round trip well within the response timeout.
const SCRIPT_CALLS_PER_ROUND_TRIP: usize = 32;

/// The error code the write script answers when a stored value is not a record it understands.
const CORRUPT_ERROR_CODE: &str = "MLSYSCORRUPT";

/// Timeouts of a Redis store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RedisOptions {
    /// How long establishing a connection (TCP and handshake) may take.
    pub connect_timeout: Duration,
    /// How long any command or pipeline may wait for its answer.
    pub response_timeout: Duration,
}

impl Default for RedisOptions {
    fn default() -> RedisOptions {
        RedisOptions {
            connect_timeout: Duration::from_secs(1),
            response_timeout: Duration::from_secs(1),
        }
    }
}

/// The shared online store.
pub struct RedisStore {
    /// The URL without its password.
    location: String,
    namespace: Namespace,
    client: redis::Client,
    config: AsyncConnectionConfig,
    /// The live connection; `None` after it broke, until the next call reconnects.
    connection: Mutex<Option<MultiplexedConnection>>,
    /// Held while connecting, so concurrent calls after a failure open one connection, not many.
    connecting: tokio::sync::Mutex<()>,
    /// The SHA1 the server gave the write script (a function of the script text only).
    write_script_sha: String,
}

impl RedisStore {
    /// Connects with the default timeouts (1 s each).
    pub async fn connect(url: &str, namespace: &str) -> Result<RedisStore, StoreError> {
        RedisStore::connect_with(url, namespace, RedisOptions::default()).await
    }

    /// Connects and loads the write script. An unreachable server is [`StoreError::Unavailable`].
    pub async fn connect_with(url: &str, namespace: &str, options: RedisOptions) -> Result<RedisStore, StoreError> {
        let namespace = Namespace::new(namespace)?;
        let location = redact_location(url);
        let client = redis::Client::open(url).map_err(|error| StoreError::UnsupportedLocation {
            location: StoreLocation::new(url),
            reason: error.to_string(),
        })?;
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(options.connect_timeout))
            .set_response_timeout(Some(options.response_timeout));
        let mut store = RedisStore {
            location,
            namespace,
            client,
            config,
            connection: Mutex::new(None),
            connecting: tokio::sync::Mutex::new(()),
            write_script_sha: String::new(),
        };
        store.write_script_sha = store.load_write_script().await?;
        Ok(store)
    }

    /// The shared connection, opening a new one if there is none.
    async fn connection(&self) -> Result<MultiplexedConnection, StoreError> {
        if let Some(connection) = self.connection_slot().as_ref() {
            return Ok(connection.clone());
        }
        let _connecting = self.connecting.lock().await;
        if let Some(connection) = self.connection_slot().as_ref() {
            return Ok(connection.clone());
        }
        let connection = self
            .client
            .get_multiplexed_async_connection_with_config(&self.config)
            .await
            .map_err(|error| self.redis_error("connecting", error))?;
        *self.connection_slot() = Some(connection.clone());
        Ok(connection)
    }

    fn connection_slot(&self) -> MutexGuard<'_, Option<MultiplexedConnection>> {
        // The slot holds no invariant a panicking holder could break.
        self.connection.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Maps a Redis error; a connection-level failure also drops the connection so the next call
    /// reconnects.
    fn redis_error(&self, context: &str, error: RedisError) -> StoreError {
        let store = self.location.clone();
        let is_unavailable = error.is_io_error()
            || error.is_timeout()
            || error.is_connection_dropped()
            || error.is_connection_refusal()
            || matches!(
                error.kind(),
                ErrorKind::Server(
                    ServerErrorKind::BusyLoading
                        | ServerErrorKind::MasterDown
                        | ServerErrorKind::TryAgain
                        | ServerErrorKind::ClusterDown
                )
            );
        if is_unavailable {
            *self.connection_slot() = None;
            return StoreError::Unavailable {
                store,
                detail: format!("{context}: {error}"),
            };
        }
        if error.code() == Some(CORRUPT_ERROR_CODE) {
            return StoreError::Corrupt {
                store,
                context: context.to_string(),
                detail: error.to_string(),
            };
        }
        StoreError::Backend {
            store,
            detail: format!("{context}: {error}"),
        }
    }

    async fn load_write_script(&self) -> Result<String, StoreError> {
        let mut connection = self.connection().await?;
        redis::cmd("SCRIPT")
            .arg("LOAD")
            .arg(write_script())
            .query_async::<String>(&mut connection)
            .await
            .map_err(|error| self.redis_error("loading the write script", error))
    }

    fn record_key(&self, prefix: &[u8], key: &EntityKey) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(prefix.len() + 32);
        bytes.extend_from_slice(prefix);
        key.encode_into(&mut bytes);
        bytes
    }

    /// One pipelined round trip of script calls. `Ok(None)` means the server had forgotten the
    /// script (restarted or flushed): the caller loads it and retries, which is safe because
    /// newest-wins writes are idempotent.
    async fn write_round_trip(
        &self,
        context: &str,
        rows: &[(Vec<u8>, Vec<u8>)],
    ) -> Result<Option<WriteSummary>, StoreError> {
        let mut pipeline = redis::pipe();
        for chunk in rows.chunks(ROWS_PER_SCRIPT_CALL) {
            let call = pipeline.cmd("EVALSHA").arg(&self.write_script_sha).arg(chunk.len());
            for (key, _) in chunk {
                call.arg(key.as_slice());
            }
            for (_, record) in chunk {
                call.arg(record.as_slice());
            }
        }
        let mut connection = self.connection().await?;
        let results: Vec<redis::RedisResult<(u64, u64)>> = pipeline
            .ignore_errors()
            .query_async(&mut connection)
            .await
            .map_err(|error| self.redis_error(context, error))?;
        let mut summary = WriteSummary::default();
        for result in results {
            match result {
                Ok((written, stale_skipped)) => {
                    summary.written += written;
                    summary.stale_skipped += stale_skipped;
                }
                Err(error) if error.kind() == ErrorKind::Server(ServerErrorKind::NoScript) => return Ok(None),
                Err(error) => return Err(self.redis_error(context, error)),
            }
        }
        Ok(Some(summary))
    }
}

impl OnlineStore for RedisStore {
    fn location(&self) -> &str {
        &self.location
    }

    fn write<'a>(&'a self, table: &'a TableId, rows: &'a [(EntityKey, Record)]) -> StoreFuture<'a, WriteSummary> {
        Box::pin(async move {
            let context = format!("writing table {table}");
            let prefix = self.namespace.redis_table_prefix(table);
            let mut summary = WriteSummary::default();
            for round in rows.chunks(ROWS_PER_SCRIPT_CALL * SCRIPT_CALLS_PER_ROUND_TRIP) {
                let encoded: Vec<(Vec<u8>, Vec<u8>)> = round
                    .iter()
                    .map(|(key, record)| (self.record_key(&prefix, key), record.encode()))
                    .collect();
                let round_summary = match self.write_round_trip(&context, &encoded).await? {
                    Some(round_summary) => round_summary,
                    None => {
                        self.load_write_script().await?;
                        self.write_round_trip(&context, &encoded)
                            .await?
                            .ok_or_else(|| StoreError::Backend {
                                store: self.location.clone(),
                                detail: format!(
                                    "{context}: the server does not keep the write script after loading it"
                                ),
                            })?
                    }
                };
                summary.written += round_summary.written;
                summary.stale_skipped += round_summary.stale_skipped;
            }
            Ok(summary)
        })
    }

    fn read<'a>(&'a self, table: &'a TableId, keys: &'a [EntityKey]) -> StoreFuture<'a, Vec<Option<Record>>> {
        Box::pin(async move {
            if keys.is_empty() {
                return Ok(Vec::new());
            }
            let context = || format!("reading table {table}");
            let prefix = self.namespace.redis_table_prefix(table);
            let mut command = redis::cmd("MGET");
            for key in keys {
                command.arg(self.record_key(&prefix, key));
            }
            let mut connection = self.connection().await?;
            let stored: Vec<Option<Vec<u8>>> = command
                .query_async(&mut connection)
                .await
                .map_err(|error| self.redis_error(&context(), error))?;
            if stored.len() != keys.len() {
                return Err(StoreError::Backend {
                    store: self.location.clone(),
                    detail: format!(
                        "{}: asked for {} keys, got {} values",
                        context(),
                        keys.len(),
                        stored.len()
                    ),
                });
            }
            stored
                .into_iter()
                .map(|bytes| {
                    bytes
                        .map(|bytes| Record::decode(&bytes))
                        .transpose()
                        .map_err(|error| StoreError::Corrupt {
                            store: self.location.clone(),
                            context: format!("table {table}"),
                            detail: error.to_string(),
                        })
                })
                .collect()
        })
    }

    fn put_meta<'a>(&'a self, name: &'a str, bytes: &'a [u8]) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let name = MetaName::new(name)?;
            let mut connection = self.connection().await?;
            redis::cmd("SET")
                .arg(self.namespace.redis_meta_key(&name))
                .arg(bytes)
                .query_async::<()>(&mut connection)
                .await
                .map_err(|error| self.redis_error(&format!("writing metadata {}", name.as_str()), error))
        })
    }

    fn get_meta<'a>(&'a self, name: &'a str) -> StoreFuture<'a, Option<Vec<u8>>> {
        Box::pin(async move {
            let name = MetaName::new(name)?;
            let mut connection = self.connection().await?;
            redis::cmd("GET")
                .arg(self.namespace.redis_meta_key(&name))
                .query_async::<Option<Vec<u8>>>(&mut connection)
                .await
                .map_err(|error| self.redis_error(&format!("reading metadata {}", name.as_str()), error))
        })
    }
}

/// The newest-wins script: `KEYS[i]` gets `ARGV[i]` unless the stored record's `valid_at` is
/// strictly greater. It compares the 8 order-preserving header bytes one by one (byte values are
/// small integers in Lua; whole `i64`s would round as Lua doubles). Returns `{written, stale}`.
fn write_script() -> String {
    format!(
        r#"
local written, stale = 0, 0
for i = 1, #KEYS do
  local incoming = ARGV[i]
  local stored = redis.call('GET', KEYS[i])
  local keep_stored = false
  if stored then
    if #stored < 9 or string.byte(stored, 1) ~= {version} then
      return redis.error_reply('{corrupt} a stored value is not a version {version} record')
    end
    for b = 2, 9 do
      local stored_byte, incoming_byte = string.byte(stored, b), string.byte(incoming, b)
      if stored_byte ~= incoming_byte then
        keep_stored = stored_byte > incoming_byte
        break
      end
    end
  end
  if keep_stored then
    stale = stale + 1
  else
    redis.call('SET', KEYS[i], incoming)
    written = written + 1
  end
end
return {{written, stale}}
"#,
        version = FORMAT_VERSION,
        corrupt = CORRUPT_ERROR_CODE,
    )
}
