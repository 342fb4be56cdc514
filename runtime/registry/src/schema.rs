//! Opening the registry database: connection settings (WAL, busy timeout, full sync, foreign keys)
//! and the versioned schema migrations.

use std::path::Path;
use std::time::{Duration, Instant};

use rusqlite::{Connection, OptionalExtension, TransactionBehavior};

use crate::error::RegistryError;

/// How long a writer waits for another process's write transaction before giving up with
/// [`RegistryError::Busy`]. Registry transactions last milliseconds; this covers many queued writers.
pub(crate) const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Marks the file as an mlsys registry (`PRAGMA application_id`, "mlsr").
const APPLICATION_ID: i64 = 0x6d6c_7372;

/// The schema, one migration per entry; entry `i` takes the schema from version `i` to `i + 1`.
/// Migrations are only ever appended: a released entry is never edited.
const MIGRATIONS: &[&str] = &[
    // 1: versions with their lineage, approvals, the production history and the event log.
    // The partial unique indexes make "at most one production and one shadow version per model" a
    // property of the database, not only of the code that writes it.
    "CREATE TABLE model_versions (
        model TEXT NOT NULL,
        version INTEGER NOT NULL CHECK (version >= 1),
        stage TEXT NOT NULL CHECK (stage IN ('candidate', 'approved', 'shadow', 'production', 'archived')),
        registered_at INTEGER NOT NULL,
        task TEXT NOT NULL,
        spec_hash TEXT NOT NULL,
        plan_hash TEXT NOT NULL,
        training_set TEXT NOT NULL,
        training_manifest TEXT NOT NULL,
        training_fingerprint TEXT NOT NULL,
        inputs_fingerprint TEXT NOT NULL,
        algorithm TEXT NOT NULL,
        hyperparameters TEXT NOT NULL,
        metric TEXT NOT NULL,
        production_version INTEGER,
        has_production_metrics INTEGER NOT NULL,
        promote_if TEXT,
        promotable INTEGER NOT NULL,
        artifact_path TEXT NOT NULL,
        artifact_sha256 TEXT NOT NULL,
        artifact_bytes INTEGER NOT NULL,
        onnx_path TEXT,
        onnx_sha256 TEXT,
        onnx_bytes INTEGER,
        git_commit TEXT,
        trained_at INTEGER NOT NULL,
        seconds REAL,
        PRIMARY KEY (model, version)
    ) WITHOUT ROWID;
    CREATE UNIQUE INDEX one_production_per_model ON model_versions (model) WHERE stage = 'production';
    CREATE UNIQUE INDEX one_shadow_per_model ON model_versions (model) WHERE stage = 'shadow';
    CREATE INDEX model_versions_by_inputs ON model_versions (model, inputs_fingerprint);

    CREATE TABLE version_features (
        model TEXT NOT NULL,
        version INTEGER NOT NULL,
        position INTEGER NOT NULL,
        column_name TEXT NOT NULL,
        type TEXT NOT NULL,
        hash TEXT NOT NULL,
        PRIMARY KEY (model, version, position),
        FOREIGN KEY (model, version) REFERENCES model_versions (model, version)
    ) WITHOUT ROWID;

    -- side: 'version' for the version's own holdout metrics, 'production' for the production
    -- version's on the same holdout. A NULL value is NaN (SQLite stores NaN as NULL).
    CREATE TABLE version_metrics (
        model TEXT NOT NULL,
        version INTEGER NOT NULL,
        side TEXT NOT NULL CHECK (side IN ('version', 'production')),
        name TEXT NOT NULL,
        value REAL,
        PRIMARY KEY (model, version, side, name),
        FOREIGN KEY (model, version) REFERENCES model_versions (model, version)
    ) WITHOUT ROWID;

    CREATE TABLE approvals (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        model TEXT NOT NULL,
        version INTEGER NOT NULL,
        approved_by TEXT NOT NULL,
        approved_at INTEGER NOT NULL,
        note TEXT,
        FOREIGN KEY (model, version) REFERENCES model_versions (model, version)
    );
    CREATE INDEX approvals_by_version ON approvals (model, version);

    -- Every entry into production, oldest first; rollback pops the newest. Invariant: when a model
    -- has a production version, it is the newest entry here.
    CREATE TABLE production_history (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        model TEXT NOT NULL,
        version INTEGER NOT NULL,
        entered_at INTEGER NOT NULL,
        FOREIGN KEY (model, version) REFERENCES model_versions (model, version)
    );
    CREATE INDEX production_history_by_model ON production_history (model, id);

    CREATE TABLE events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        model TEXT NOT NULL,
        version INTEGER NOT NULL,
        kind TEXT NOT NULL,
        from_stage TEXT,
        to_stage TEXT NOT NULL,
        actor TEXT,
        note TEXT,
        at INTEGER NOT NULL
    );
    CREATE INDEX events_by_model ON events (model, id);",
    // 2: the metrics an external trainer reported about itself, kept apart from the holdout
    // metrics mlsys computes (only those are compared and gate promotion).
    "CREATE TABLE reported_metrics (
        model TEXT NOT NULL,
        version INTEGER NOT NULL,
        name TEXT NOT NULL,
        value REAL,
        PRIMARY KEY (model, version, name),
        FOREIGN KEY (model, version) REFERENCES model_versions (model, version)
    ) WITHOUT ROWID;",
];

/// The schema version this code reads and writes.
pub(crate) const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Opens (creating if needed) the database at `path` with the registry's settings and schema.
pub(crate) fn open_database(path: &Path) -> Result<Connection, RegistryError> {
    if let Some(parent) = path.parent().filter(|parent| !parent.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|source| RegistryError::Io {
            path: parent.to_path_buf(),
            source,
        })?;
    }
    let locate = |error: RegistryError| match error {
        RegistryError::Corrupt { path: None, message } => RegistryError::Corrupt {
            path: Some(path.to_path_buf()),
            message,
        },
        other => other,
    };
    let mut connection = Connection::open(path).map_err(RegistryError::from).map_err(locate)?;
    configure(&connection).map_err(locate)?;
    migrate(&mut connection, path).map_err(locate)?;
    Ok(connection)
}

fn configure(connection: &Connection) -> Result<(), RegistryError> {
    connection.busy_timeout(BUSY_TIMEOUT)?;
    // WAL: readers (`mlsysc models`, serve targets resolving stages) never block a writer and
    // never see a half-committed transaction.
    set_wal(connection)?;
    // A registered version or a promotion must survive a power cut once the call returned.
    connection.pragma_update(None, "synchronous", "FULL")?;
    connection.pragma_update(None, "foreign_keys", true)?;
    Ok(())
}

/// Switching to WAL needs a moment of exclusive access, and SQLite reports a conflict there without
/// calling the busy handler; several processes creating the registry at once retry until the timeout.
fn set_wal(connection: &Connection) -> Result<(), RegistryError> {
    let started = Instant::now();
    loop {
        let outcome = connection
            .query_row("PRAGMA journal_mode", [], |row| row.get::<_, String>(0))
            .and_then(|mode| {
                if mode.eq_ignore_ascii_case("wal") {
                    Ok(mode)
                } else {
                    connection.query_row("PRAGMA journal_mode = WAL", [], |row| row.get::<_, String>(0))
                }
            });
        match outcome {
            Ok(mode) if mode.eq_ignore_ascii_case("wal") => return Ok(()),
            Ok(mode) => {
                return Err(RegistryError::Corrupt {
                    path: None,
                    message: format!("the database cannot use write-ahead logging (journal mode {mode})"),
                });
            }
            Err(error) if is_busy(&error) && started.elapsed() < BUSY_TIMEOUT => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(error) => return Err(error.into()),
        }
    }
}

fn is_busy(error: &rusqlite::Error) -> bool {
    matches!(
        error.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

fn current_version(connection: &Connection) -> Result<Option<i64>, RegistryError> {
    let has_table = connection
        .query_row(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'",
            [],
            |_| Ok(()),
        )
        .optional()?
        .is_some();
    if !has_table {
        return Ok(None);
    }
    Ok(Some(connection.query_row(
        "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
        [],
        |row| row.get(0),
    )?))
}

/// Brings the schema up to [`SCHEMA_VERSION`] in one write transaction; refuses a database written
/// by a newer release and an SQLite file that is something else.
fn migrate(connection: &mut Connection, path: &Path) -> Result<(), RegistryError> {
    let newer = |found: i64| RegistryError::NewerSchema {
        path: path.to_path_buf(),
        found,
        supported: SCHEMA_VERSION,
    };
    // The common case reads only: an up-to-date registry needs no write lock to open.
    match current_version(connection)? {
        Some(found) if found == SCHEMA_VERSION => return Ok(()),
        Some(found) if found > SCHEMA_VERSION => return Err(newer(found)),
        _ => {}
    }
    let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let found = match current_version(&transaction)? {
        Some(found) => found,
        None => {
            let other_tables: i64 = transaction.query_row(
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
                [],
                |row| row.get(0),
            )?;
            if other_tables > 0 {
                return Err(RegistryError::Corrupt {
                    path: None,
                    message: format!("an SQLite database with {other_tables} other table(s) and no registry schema"),
                });
            }
            transaction.execute_batch(
                "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL);",
            )?;
            transaction.pragma_update(None, "application_id", APPLICATION_ID)?;
            0
        }
    };
    if found > SCHEMA_VERSION {
        return Err(newer(found));
    }
    let start = usize::try_from(found).unwrap_or(0);
    for (index, migration) in MIGRATIONS.iter().enumerate().skip(start) {
        transaction.execute_batch(migration)?;
        transaction.execute(
            "INSERT INTO schema_migrations (version, applied_at) VALUES (?1, ?2)",
            (index as i64 + 1, crate::now_micros()),
        )?;
    }
    transaction.commit()?;
    Ok(())
}
