//! The latest stored score of a key in a batch target's output table: what an application asks
//! (`GET /v1/predictions/{target}?{key}=...`). The table is read once into an index per key column
//! (value → the row's latest score: greatest `scored_at`, then greatest example timestamp, then
//! greatest model version), and read again only when its Delta version changed ([`LatestScores::
//! refresh`] lists the log directory, nothing more).
//!
//! Memory: one entry per distinct value of each indexed column, about 150 bytes each (the value's
//! text, the score, version, times and a shared model name), at most [`MAX_ENTRIES`] entries
//! (about 150 MiB); a table with more is refused rather than loaded.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type, Int64Type, TimestampMicrosecondType};

use crate::error::BatchError;
use crate::features::entity::next_batch;
use crate::store::{DATE_PARTITION, OfflineStore, TableLocation};

/// Index entries held at most, over all key columns.
pub const MAX_ENTRIES: usize = 1_000_000;

/// Errors of the latest-score lookup.
#[derive(Debug, thiserror::Error)]
pub enum LatestError {
    #[error("`{column}` is not a key of these scores; keys: {}", .keys.join(", "))]
    UnknownKey { column: String, keys: Vec<String> },
    #[error("the scores table `{table}` has no column `{column}`")]
    MissingColumn { table: String, column: String },
    #[error("the scores table `{table}` has more than {MAX_ENTRIES} distinct keys; the lookup holds at most that many")]
    TooLarge { table: String },
    #[error(transparent)]
    Batch(#[from] BatchError),
}

/// The latest score of a key.
#[derive(Clone, Debug, PartialEq)]
pub struct LatestScore {
    pub score: f64,
    pub model: Arc<str>,
    pub version: i64,
    /// When it was scored, µs since the epoch.
    pub scored_at: i64,
    /// The example's timestamp, µs since the epoch (`None` without a timestamp column).
    pub timestamp: Option<i64>,
    /// The example's day, `YYYY-MM-DD`.
    pub date: String,
}

impl LatestScore {
    fn order(&self) -> (i64, Option<i64>, i64) {
        (self.scored_at, self.timestamp, self.version)
    }
}

/// The latest score per key value of a batch target's output table.
pub struct LatestScores {
    location: TableLocation,
    timestamp: Option<String>,
    keys: Vec<String>,
    /// The table's Delta version the index was read at; `None`: no table yet.
    version: Option<u64>,
    index: Vec<HashMap<String, LatestScore>>,
}

impl LatestScores {
    /// Reads the table at `location` (an absent table answers nothing), indexing `keys`; rows are
    /// ordered by `timestamp` (the examples' timestamp column) after `scored_at`.
    pub async fn load(
        store: &OfflineStore,
        location: TableLocation,
        timestamp: Option<String>,
        keys: Vec<String>,
    ) -> Result<LatestScores, LatestError> {
        let mut scores = LatestScores {
            index: vec![HashMap::new(); keys.len()],
            location,
            timestamp,
            keys,
            version: None,
        };
        scores.reload(store).await?;
        Ok(scores)
    }

    /// The key columns indexed.
    pub fn keys(&self) -> &[String] {
        &self.keys
    }

    /// The Delta version the answers come from (`None`: no table yet).
    pub fn table_version(&self) -> Option<u64> {
        self.version
    }

    /// The latest score of the row or entity whose `column` is `value` (its text: a string as is,
    /// an int64 in decimal, a date `YYYY-MM-DD`, a bool `true`/`false`).
    pub fn get(&self, column: &str, value: &str) -> Result<Option<&LatestScore>, LatestError> {
        let Some(position) = self.keys.iter().position(|key| key == column) else {
            return Err(LatestError::UnknownKey {
                column: column.to_string(),
                keys: self.keys.clone(),
            });
        };
        Ok(self.index[position].get(value))
    }

    /// Re-reads the table when its Delta version moved since it was read (a listing of its log
    /// directory decides); returns whether it did.
    pub async fn refresh(&mut self, store: &OfflineStore) -> Result<bool, LatestError> {
        if log_version(&self.location) == self.version {
            return Ok(false);
        }
        self.reload(store).await?;
        Ok(true)
    }

    async fn reload(&mut self, store: &OfflineStore) -> Result<(), LatestError> {
        let mut index = vec![HashMap::new(); self.keys.len()];
        let version = if self.location.exists() {
            let table = self.location.open().await.map_err(LatestError::from)?;
            let version = table.version();
            let provider = table.table_provider().await.map_err(BatchError::from)?;
            let mut columns: Vec<&str> = ["score", "model", "version", "scored_at", DATE_PARTITION].to_vec();
            columns.extend(self.timestamp.as_deref());
            columns.extend(self.keys.iter().map(String::as_str));
            let frame = store
                .session()?
                .read_table(provider)
                .and_then(|frame| frame.select_columns(&columns))
                .map_err(BatchError::from)?;
            let mut stream = frame.execute_stream().await.map_err(BatchError::from)?;
            let mut entries = 0usize;
            while let Some(batch) = next_batch(&mut stream).await? {
                entries = self.add(&batch, &mut index, entries)?;
            }
            version
        } else {
            None
        };
        self.index = index;
        self.version = version;
        Ok(())
    }

    /// Adds a batch's rows to `index`; returns the entries held.
    fn add(
        &self,
        batch: &RecordBatch,
        index: &mut [HashMap<String, LatestScore>],
        mut entries: usize,
    ) -> Result<usize, LatestError> {
        let column = |name: &str, data_type: &DataType| -> Result<ArrayRef, LatestError> {
            let array = batch.column_by_name(name).ok_or_else(|| LatestError::MissingColumn {
                table: self.location.name.clone(),
                column: name.to_string(),
            })?;
            Ok(cast(array, data_type).map_err(BatchError::from)?)
        };
        let micros = crate::convert::arrow_type(mlsys_compiler::types::BaseType::Timestamp);
        let score = column("score", &DataType::Float64)?;
        let model = column("model", &DataType::Utf8)?;
        let version = column("version", &DataType::Int64)?;
        let scored_at = column("scored_at", &micros)?;
        let date = column(DATE_PARTITION, &DataType::Utf8)?;
        let timestamp = self
            .timestamp
            .as_deref()
            .map(|name| column(name, &micros))
            .transpose()?;
        let keys = self
            .keys
            .iter()
            .map(|key| column(key, &DataType::Utf8))
            .collect::<Result<Vec<_>, _>>()?;
        let (score, model, version) = (
            score.as_primitive::<Float64Type>(),
            model.as_string::<i32>(),
            version.as_primitive::<Int64Type>(),
        );
        let (scored_at, date) = (
            scored_at.as_primitive::<TimestampMicrosecondType>(),
            date.as_string::<i32>(),
        );
        let timestamp = timestamp
            .as_ref()
            .map(|array| array.as_primitive::<TimestampMicrosecondType>());
        let mut models: HashMap<String, Arc<str>> = HashMap::new();
        for row in 0..batch.num_rows() {
            let name = model.value(row);
            let shared = models
                .entry(name.to_string())
                .or_insert_with(|| Arc::from(name))
                .clone();
            let candidate = LatestScore {
                score: score.value(row),
                model: shared,
                version: version.value(row),
                scored_at: scored_at.value(row),
                timestamp: timestamp.and_then(|array| array.is_valid(row).then(|| array.value(row))),
                date: date.value(row).to_string(),
            };
            for (key, held) in keys.iter().zip(index.iter_mut()) {
                let key = key.as_string::<i32>();
                if key.is_null(row) {
                    continue;
                }
                match held.get_mut(key.value(row)) {
                    Some(existing) if existing.order() >= candidate.order() => {}
                    Some(existing) => *existing = candidate.clone(),
                    None => {
                        entries += 1;
                        if entries > MAX_ENTRIES {
                            return Err(LatestError::TooLarge {
                                table: self.location.name.clone(),
                            });
                        }
                        held.insert(key.value(row).to_string(), candidate.clone());
                    }
                }
            }
        }
        Ok(entries)
    }
}

/// The table's latest Delta version from its log directory's file names alone; `None` for no
/// table.
pub fn log_version(location: &TableLocation) -> Option<u64> {
    let entries = std::fs::read_dir(location.path.join("_delta_log")).ok()?;
    entries
        .filter_map(|entry| {
            let name = entry.ok()?.file_name();
            let name = name.to_str()?;
            let stem = name.strip_suffix(".json")?;
            (stem.len() == 20 && stem.bytes().all(|byte| byte.is_ascii_digit()))
                .then(|| stem.parse::<u64>().ok())
                .flatten()
        })
        .max()
}
