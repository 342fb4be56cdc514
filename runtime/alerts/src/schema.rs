//! Opening the outbox database: a new file is built complete under a temporary name and linked into
//! place; an existing file is identified by reading alone (application id, schema, tables) before
//! anything writes to it; connection settings (WAL, busy timeout, full sync) and versioned
//! migrations. The same rules as the model registry's (`runtime/registry/src/schema.rs`).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags, TransactionBehavior};

use crate::error::{AlertError, NotAnOutbox};

/// How long a writer waits for another process's write transaction.
pub(crate) const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Marks the file as an mlsys alert outbox (`PRAGMA application_id`, "mlsa").
const APPLICATION_ID: i64 = 0x6d6c_7361;

/// One migration per entry; entry `i` takes the schema from version `i` to `i + 1`. Only appended.
const MIGRATIONS: &[&str] = &[
    // 1: the state of each rule, the event log and the outbox of deliveries.
    "CREATE TABLE alert_state (
        monitor TEXT NOT NULL,
        rule TEXT NOT NULL,
        holding INTEGER NOT NULL CHECK (holding IN (0, 1)),
        -- While holding: the observation time the incident fired at, and the sequence number and
        -- observation time of its last fired or repeated event.
        incident_start INTEGER,
        sequence INTEGER NOT NULL,
        last_sent_at INTEGER,
        last_observed_at INTEGER NOT NULL,
        PRIMARY KEY (monitor, rule)
    ) WITHOUT ROWID;

    CREATE TABLE alert_events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        monitor TEXT NOT NULL,
        rule TEXT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('fired', 'repeated', 'resolved')),
        sequence INTEGER NOT NULL,
        incident_start INTEGER NOT NULL,
        observed_at INTEGER NOT NULL,
        summary TEXT NOT NULL,
        details TEXT NOT NULL,
        incident_key TEXT NOT NULL,
        idempotency_key TEXT NOT NULL UNIQUE
    );
    CREATE INDEX alert_events_by_monitor ON alert_events (monitor, id);

    -- One row per event and channel, written in the event's transaction. delivered_at NULL: pending.
    -- next_attempt_at 0: due at once.
    CREATE TABLE deliveries (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        event_id INTEGER NOT NULL REFERENCES alert_events (id),
        channel TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        first_attempt_at INTEGER,
        last_attempt_at INTEGER,
        next_attempt_at INTEGER NOT NULL,
        delivered_at INTEGER,
        last_error TEXT,
        UNIQUE (event_id, channel)
    );
    CREATE INDEX pending_deliveries ON deliveries (next_attempt_at, id) WHERE delivered_at IS NULL;",
];

const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Opens the outbox at `path`, creating it (and its directory) only when the file is missing.
pub(crate) fn open_database(path: &Path) -> Result<Connection, AlertError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| AlertError::Io { path, source }
    };
    if let Some(parent) = path.parent().filter(|parent| !parent.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(io(parent))?;
    }
    match std::fs::metadata(path) {
        Ok(_) => {}
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => create(path)?,
        Err(error) => return Err(io(path)(error)),
    }
    open_existing(path)
}

/// Builds a complete outbox beside `path` and hard-links it into place: no process ever sees an
/// outbox without its schema, and of concurrent creators the first link wins.
fn create(path: &Path) -> Result<(), AlertError> {
    let staging = staging_path(path);
    let outcome = initialise(&staging)
        .map_err(|source| AlertError::database(&staging, source))
        .and_then(|()| match std::fs::hard_link(&staging, path) {
            Err(error) if error.kind() != std::io::ErrorKind::AlreadyExists => Err(AlertError::Io {
                path: path.to_path_buf(),
                source: error,
            }),
            _ => Ok(()),
        });
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut name = staging.clone().into_os_string();
        name.push(suffix);
        let _ = std::fs::remove_file(name);
    }
    outcome
}

fn staging_path(path: &Path) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_nanos());
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".new-{}-{nanos}", std::process::id()));
    path.with_file_name(name)
}

fn initialise(staging: &Path) -> rusqlite::Result<()> {
    let mut connection = Connection::open(staging)?;
    connection.busy_timeout(BUSY_TIMEOUT)?;
    let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    transaction.execute_batch("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY);")?;
    transaction.pragma_update(None, "application_id", APPLICATION_ID)?;
    apply_migrations(&transaction, 0)?;
    transaction.commit()?;
    connection.close().map_err(|(_, error)| error)
}

fn open_existing(path: &Path) -> Result<Connection, AlertError> {
    let database = |source| AlertError::database(path, source);
    let refuse = |reason| AlertError::NotAnOutbox {
        path: path.to_path_buf(),
        reason,
    };
    // No CREATE: a file removed since it was seen is an error, not a new outbox.
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let mut connection = Connection::open_with_flags(path, flags).map_err(database)?;
    connection.busy_timeout(BUSY_TIMEOUT).map_err(database)?;
    identify(&connection)
        .map_err(database)?
        .map_or(Ok(()), |reason| Err(refuse(reason)))?;
    if let Some(mode) = set_wal(&connection).map_err(database)? {
        return Err(refuse(NotAnOutbox::NoWal { mode }));
    }
    // An alert sent or a delivery marked done must survive a power cut once the call returned.
    connection
        .pragma_update(None, "synchronous", "FULL")
        .map_err(database)?;
    connection.pragma_update(None, "foreign_keys", true).map_err(database)?;
    migrate(&mut connection, path)?;
    Ok(connection)
}

/// Why the file is not an outbox, or `None` when it is one (possibly of an older schema).
fn identify(connection: &Connection) -> rusqlite::Result<Option<NotAnOutbox>> {
    let found: i64 = connection.query_row("PRAGMA application_id", [], |row| row.get(0))?;
    let tables = existing_tables(connection)?;
    let pages: i64 = connection.query_row("PRAGMA page_count", [], |row| row.get(0))?;
    if pages == 0 {
        return Ok(Some(NotAnOutbox::Empty));
    }
    if found != APPLICATION_ID {
        return Ok(Some(NotAnOutbox::ForeignApplication {
            found,
            expected: APPLICATION_ID,
        }));
    }
    if !tables.contains("schema_migrations") {
        return Ok(Some(NotAnOutbox::NoSchema { tables: tables.len() }));
    }
    let applied: i64 = connection.query_row("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", [], |row| {
        row.get(0)
    })?;
    // Every table an applied migration creates (migrations never drop one); a newer schema is left
    // to `migrate` to refuse.
    let missing: Vec<String> = MIGRATIONS
        .iter()
        .take(usize::try_from(applied).unwrap_or(0))
        .flat_map(|migration| migration.split("CREATE TABLE ").skip(1))
        .filter_map(|rest| rest.split_whitespace().next())
        .filter(|table| !tables.contains(*table))
        .map(str::to_string)
        .collect();
    Ok((!missing.is_empty()).then_some(NotAnOutbox::MissingTables { missing }))
}

fn existing_tables(connection: &Connection) -> rusqlite::Result<BTreeSet<String>> {
    let mut statement =
        connection.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")?;
    statement.query_map([], |row| row.get(0))?.collect()
}

/// Switches to WAL (readers never block the delivering writer); returns the journal mode when the
/// database cannot use WAL. SQLite reports a conflict here without calling the busy handler, so
/// concurrent openers retry until the busy timeout.
fn set_wal(connection: &Connection) -> rusqlite::Result<Option<String>> {
    let started = Instant::now();
    loop {
        match connection.query_row("PRAGMA journal_mode = WAL", [], |row| row.get::<_, String>(0)) {
            Ok(mode) if mode.eq_ignore_ascii_case("wal") => return Ok(None),
            Ok(mode) => return Ok(Some(mode)),
            Err(error)
                if matches!(error.sqlite_error_code(), Some(rusqlite::ErrorCode::DatabaseBusy))
                    && started.elapsed() < BUSY_TIMEOUT =>
            {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(error) => return Err(error),
        }
    }
}

/// Brings an identified outbox up to [`SCHEMA_VERSION`]; refuses one written by a newer release.
fn migrate(connection: &mut Connection, path: &Path) -> Result<(), AlertError> {
    let database = |source| AlertError::database(path, source);
    let current = |connection: &Connection| {
        connection.query_row("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", [], |row| {
            row.get::<_, i64>(0)
        })
    };
    let newer = |found| AlertError::NewerSchema {
        path: path.to_path_buf(),
        found,
        supported: SCHEMA_VERSION,
    };
    let found = current(connection).map_err(database)?;
    if found == SCHEMA_VERSION {
        return Ok(());
    }
    if found > SCHEMA_VERSION {
        return Err(newer(found));
    }
    let transaction = connection
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(database)?;
    let found = current(&transaction).map_err(database)?;
    if found > SCHEMA_VERSION {
        return Err(newer(found));
    }
    apply_migrations(&transaction, found).map_err(database)?;
    transaction.commit().map_err(database)
}

fn apply_migrations(transaction: &Connection, found: i64) -> rusqlite::Result<()> {
    let start = usize::try_from(found).unwrap_or(0);
    for (index, migration) in MIGRATIONS.iter().enumerate().skip(start) {
        transaction.execute_batch(migration)?;
        transaction.execute(
            "INSERT INTO schema_migrations (version) VALUES (?1)",
            [index as i64 + 1],
        )?;
    }
    Ok(())
}
