//! Opening the registry database: connection settings (WAL, busy timeout, full sync, foreign keys)
//! and the versioned schema migrations.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags, TransactionBehavior};

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
    // 3: the promotion rules of the model's spec when the version was registered; promotion
    // enforces these, not the rules of whatever spec is at hand later. NULL: registered before the
    // rules were recorded.
    "ALTER TABLE model_versions ADD COLUMN approval_required INTEGER CHECK (approval_required IN (0, 1));",
    // 4: one approval per approver of a version: approving again adds nothing. Earlier repeats are
    // folded into the first (the event log keeps every one).
    "UPDATE approvals SET approved_by = TRIM(approved_by);
    DELETE FROM approvals WHERE id NOT IN (SELECT MIN(id) FROM approvals GROUP BY model, version, approved_by);
    CREATE UNIQUE INDEX one_approval_per_approver ON approvals (model, version, approved_by);",
    // 5: what monitors compare traffic with (the inputs' and the score's histograms when the
    // version was trained, as JSON), and what started a retraining (a monitor's rule and values).
    // Versions registered before have neither.
    "CREATE TABLE version_baselines (
        model TEXT NOT NULL,
        version INTEGER NOT NULL,
        baseline TEXT NOT NULL,
        PRIMARY KEY (model, version),
        FOREIGN KEY (model, version) REFERENCES model_versions (model, version)
    ) WITHOUT ROWID;
    ALTER TABLE model_versions ADD COLUMN trigger TEXT;",
];

/// The schema version this code reads and writes.
pub(crate) const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Opens the registry at `path`. Only a missing file starts a new registry; an existing file must
/// be one (an empty file, another SQLite database or a registry missing tables is refused, never
/// initialised over).
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
    match std::fs::metadata(path) {
        Ok(_) => {}
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => create(path).map_err(locate)?,
        Err(source) => {
            return Err(RegistryError::Io {
                path: path.to_path_buf(),
                source,
            });
        }
    }
    open_existing(path).map_err(locate)
}

/// Creates a complete registry at `path`: it is built under a temporary name beside it and then
/// linked into place, so that no process ever sees a registry file without its schema. When
/// several processes create it at once, the first link wins and the others open that one.
fn create(path: &Path) -> Result<(), RegistryError> {
    let staging = staging_path(path);
    let outcome = initialise(&staging).and_then(|()| match std::fs::hard_link(&staging, path) {
        Err(error) if error.kind() != std::io::ErrorKind::AlreadyExists => Err(RegistryError::Io {
            path: path.to_path_buf(),
            source: error,
        }),
        _ => Ok(()),
    });
    for leftover in ["", "-wal", "-shm", "-journal"] {
        let mut name = staging.clone().into_os_string();
        name.push(leftover);
        let _ = std::fs::remove_file(name);
    }
    outcome
}

/// `registry.db.new-<process>-<nanoseconds>` in the registry's directory.
fn staging_path(path: &Path) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_nanos());
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".new-{}-{nanos}", std::process::id()));
    path.with_file_name(name)
}

/// Writes the marked, fully migrated schema into a new file and closes it (checkpointing the
/// write-ahead log into the file).
fn initialise(staging: &Path) -> Result<(), RegistryError> {
    let mut connection = Connection::open(staging)?;
    connection.busy_timeout(BUSY_TIMEOUT)?;
    configure(&connection)?;
    let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    transaction
        .execute_batch("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL);")?;
    transaction.pragma_update(None, "application_id", APPLICATION_ID)?;
    apply_migrations(&transaction, 0)?;
    transaction.commit()?;
    connection.close().map_err(|(_, error)| RegistryError::from(error))
}

/// Opens a file that must already be a registry: it is identified by reading alone (a file that
/// is refused is left as it was), then configured and brought up to [`SCHEMA_VERSION`].
fn open_existing(path: &Path) -> Result<Connection, RegistryError> {
    // No CREATE: a file removed since it was seen is an error, not a new registry.
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let mut connection = Connection::open_with_flags(path, flags)?;
    connection.busy_timeout(BUSY_TIMEOUT)?;
    identify(&connection)?;
    configure(&connection)?;
    migrate(&mut connection, path)?;
    Ok(connection)
}

fn corrupt(message: String) -> RegistryError {
    RegistryError::Corrupt { path: None, message }
}

/// Refuses an existing file that is not a registry: empty, another program's SQLite database, an
/// SQLite database without the registry's schema, or a registry missing a table. A registry
/// created before the application id was set (id 0, schema present) is accepted; [`migrate`]
/// marks it.
fn identify(connection: &Connection) -> Result<(), RegistryError> {
    let application_id = application_id(connection)?;
    if application_id != 0 && application_id != APPLICATION_ID {
        return Err(corrupt(format!(
            "it is an SQLite database of another program (application_id {application_id:#010x}; a registry's is {APPLICATION_ID:#010x})"
        )));
    }
    let tables = existing_tables(connection)?;
    if tables.contains("schema_migrations") {
        return check_tables(connection, &tables);
    }
    let pages: i64 = connection.query_row("PRAGMA page_count", [], |row| row.get(0))?;
    if pages == 0 {
        return Err(corrupt(
            "the file is empty (0 bytes). Only a missing file starts a new registry: restore the registry \
             from a backup, or remove the file to start an empty one"
                .to_string(),
        ));
    }
    Err(corrupt(format!(
        "an SQLite database with {} table(s) and no registry schema",
        tables.len()
    )))
}

fn application_id(connection: &Connection) -> Result<i64, RegistryError> {
    Ok(connection.query_row("PRAGMA application_id", [], |row| row.get(0))?)
}

/// The names of the database's own tables (SQLite's internal ones excepted).
fn existing_tables(connection: &Connection) -> Result<BTreeSet<String>, RegistryError> {
    let mut statement =
        connection.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")?;
    let names = statement
        .query_map([], |row| row.get(0))?
        .collect::<Result<BTreeSet<String>, _>>()?;
    Ok(names)
}

/// Refuses a registry that lacks a table one of its applied migrations created (dropped by hand,
/// or a damaged file). A newer schema is left to [`migrate`] to refuse.
fn check_tables(connection: &Connection, existing: &BTreeSet<String>) -> Result<(), RegistryError> {
    let Ok(applied) = usize::try_from(current_version(connection)?) else {
        return Ok(());
    };
    // Every table an applied migration creates; migrations never drop one.
    let missing: Vec<&str> = MIGRATIONS
        .get(..applied)
        .unwrap_or_default()
        .iter()
        .flat_map(|migration| migration.split("CREATE TABLE ").skip(1))
        .filter_map(|rest| rest.split_whitespace().next())
        .filter(|table| !existing.contains(*table))
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(corrupt(format!("its schema lacks the table(s) {}", missing.join(", "))))
    }
}

/// Connection settings; the busy timeout is set before anything else reads.
fn configure(connection: &Connection) -> Result<(), RegistryError> {
    // WAL: readers (`mlsysc models`, serve targets resolving stages) never block a writer and
    // never see a half-committed transaction.
    set_wal(connection)?;
    // A registered version or a promotion must survive a power cut once the call returned.
    connection.pragma_update(None, "synchronous", "FULL")?;
    connection.pragma_update(None, "foreign_keys", true)?;
    Ok(())
}

/// Switching to WAL needs a moment of exclusive access, and SQLite reports a conflict there without
/// calling the busy handler; several processes opening a registry not yet in WAL mode retry until
/// the timeout.
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

/// The newest migration applied (the `schema_migrations` table exists: [`identify`] checked).
fn current_version(connection: &Connection) -> Result<i64, RegistryError> {
    Ok(
        connection.query_row("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", [], |row| {
            row.get(0)
        })?,
    )
}

/// Brings an identified registry up to [`SCHEMA_VERSION`] in one write transaction, and marks one
/// created before the application id was set; refuses a registry written by a newer release.
fn migrate(connection: &mut Connection, path: &Path) -> Result<(), RegistryError> {
    let newer = |found: i64| RegistryError::NewerSchema {
        path: path.to_path_buf(),
        found,
        supported: SCHEMA_VERSION,
    };
    // The common case reads only: an up-to-date registry needs no write lock to open.
    let found = current_version(connection)?;
    if found > SCHEMA_VERSION {
        return Err(newer(found));
    }
    if found == SCHEMA_VERSION && application_id(connection)? == APPLICATION_ID {
        return Ok(());
    }
    let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let found = current_version(&transaction)?;
    if found > SCHEMA_VERSION {
        return Err(newer(found));
    }
    transaction.pragma_update(None, "application_id", APPLICATION_ID)?;
    apply_migrations(&transaction, found)?;
    transaction.commit()?;
    Ok(())
}

/// Applies the migrations after schema version `found`, inside the caller's transaction.
fn apply_migrations(transaction: &Connection, found: i64) -> Result<(), RegistryError> {
    let start = usize::try_from(found).unwrap_or(0);
    for (index, migration) in MIGRATIONS.iter().enumerate().skip(start) {
        transaction.execute_batch(migration)?;
        transaction.execute(
            "INSERT INTO schema_migrations (version, applied_at) VALUES (?1, ?2)",
            (index as i64 + 1, crate::now_micros()),
        )?;
    }
    Ok(())
}
