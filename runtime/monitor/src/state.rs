//! What a monitor has evaluated, kept so that a re-run neither recomputes nor re-alerts: one
//! result per (monitor, rule, period or window end), in SQLite (`.mlsys/monitors/state.db`).
//! Pending windows are not results: they are evaluated again on later runs; the latest run's list
//! of them is kept per rule, replaced by each run, for the report.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// A state file that cannot be opened, read or written.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("monitor state {}: {source}", path.display())]
    Database {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("monitor state {}: a stored result cannot be read", path.display())]
    Corrupt {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("monitor state {}: cannot create its folder", path.display())]
    Folder {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The stored results.
pub struct State {
    path: PathBuf,
    connection: Connection,
}

impl State {
    /// Opens (or creates) the state at `path`.
    pub fn open(path: &Path) -> Result<State, StateError> {
        if let Some(folder) = path.parent() {
            std::fs::create_dir_all(folder).map_err(|source| StateError::Folder {
                path: path.to_path_buf(),
                source,
            })?;
        }
        let database = |source| StateError::Database {
            path: path.to_path_buf(),
            source,
        };
        let connection = Connection::open(path).map_err(database)?;
        connection
            .execute_batch(
                "PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 10000;
                 CREATE TABLE IF NOT EXISTS results (
                     monitor TEXT NOT NULL, rule TEXT NOT NULL, end_micros INTEGER NOT NULL,
                     result TEXT NOT NULL, evaluated_at INTEGER NOT NULL,
                     PRIMARY KEY (monitor, rule, end_micros)
                 ) WITHOUT ROWID;
                 CREATE TABLE IF NOT EXISTS pending (
                     monitor TEXT NOT NULL, rule TEXT NOT NULL, windows TEXT NOT NULL,
                     evaluated_at INTEGER NOT NULL,
                     PRIMARY KEY (monitor, rule)
                 ) WITHOUT ROWID;",
            )
            .map_err(database)?;
        Ok(State {
            path: path.to_path_buf(),
            connection,
        })
    }

    /// The stored result of `rule` for the period ending at `end`.
    pub fn get<T: DeserializeOwned>(&self, monitor: &str, rule: &str, end: i64) -> Result<Option<T>, StateError> {
        self.one(
            "SELECT result FROM results WHERE monitor = ?1 AND rule = ?2 AND end_micros = ?3",
            params![monitor, rule, end],
        )
    }

    /// The JSON value of the one row `sql` selects, if any.
    fn one<T: DeserializeOwned>(&self, sql: &str, values: impl rusqlite::Params) -> Result<Option<T>, StateError> {
        let text: Option<String> = self
            .connection
            .query_row(sql, values, |row| row.get(0))
            .optional()
            .map_err(|source| self.database(source))?;
        text.map(|text| serde_json::from_str(&text))
            .transpose()
            .map_err(|source| StateError::Corrupt {
                path: self.path.clone(),
                source,
            })
    }

    /// Stores a result (a result already stored is kept: the first evaluation stands).
    pub fn put<T: Serialize>(
        &self,
        monitor: &str,
        rule: &str,
        end: i64,
        result: &T,
        now: i64,
    ) -> Result<(), StateError> {
        let text = serde_json::to_string(result).map_err(|source| StateError::Corrupt {
            path: self.path.clone(),
            source,
        })?;
        self.connection
            .execute(
                "INSERT OR IGNORE INTO results (monitor, rule, end_micros, result, evaluated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![monitor, rule, end, text, now],
            )
            .map_err(|source| self.database(source))?;
        Ok(())
    }

    /// Every stored result of `rule`, oldest first.
    pub fn all<T: DeserializeOwned>(&self, monitor: &str, rule: &str) -> Result<Vec<T>, StateError> {
        let mut statement = self
            .connection
            .prepare("SELECT result FROM results WHERE monitor = ?1 AND rule = ?2 ORDER BY end_micros")
            .map_err(|source| self.database(source))?;
        let texts = statement
            .query_map(params![monitor, rule], |row| row.get::<_, String>(0))
            .and_then(|rows| rows.collect::<Result<Vec<String>, _>>())
            .map_err(|source| self.database(source))?;
        texts
            .iter()
            .map(|text| serde_json::from_str(text))
            .collect::<Result<_, _>>()
            .map_err(|source| StateError::Corrupt {
                path: self.path.clone(),
                source,
            })
    }

    /// Replaces what the latest run of `rule` left pending.
    pub fn set_pending<T: Serialize>(
        &self,
        monitor: &str,
        rule: &str,
        windows: &T,
        now: i64,
    ) -> Result<(), StateError> {
        let text = serde_json::to_string(windows).map_err(|source| StateError::Corrupt {
            path: self.path.clone(),
            source,
        })?;
        self.connection
            .execute(
                "INSERT OR REPLACE INTO pending (monitor, rule, windows, evaluated_at) VALUES (?1, ?2, ?3, ?4)",
                params![monitor, rule, text, now],
            )
            .map_err(|source| self.database(source))?;
        Ok(())
    }

    /// What the latest run of `rule` left pending (`None`: no run yet).
    pub fn pending<T: DeserializeOwned>(&self, monitor: &str, rule: &str) -> Result<Option<T>, StateError> {
        self.one(
            "SELECT windows FROM pending WHERE monitor = ?1 AND rule = ?2",
            params![monitor, rule],
        )
    }

    fn database(&self, source: rusqlite::Error) -> StateError {
        StateError::Database {
            path: self.path.clone(),
            source,
        }
    }
}
