//! Opening databases: creation, reopening, and refusing what is not a registry this release reads.

use mlsys_registry::{Registry, RegistryError, SCHEMA_VERSION, Stage};

use crate::support::{TempDir, new_version, register_many};

#[test]
fn reopening_keeps_everything() {
    let directory = TempDir::new("reopen");
    {
        let mut registry = Registry::open(&directory.database()).expect("create");
        register_many(&mut registry, "fraud", 2);
        registry.promote("fraud", 2, Stage::Production, false).expect("promote");
    }
    let registry = Registry::open(&directory.database()).expect("reopen");
    assert_eq!(registry.versions("fraud").expect("versions").len(), 2);
    assert_eq!(registry.events("fraud").expect("events").len(), 3);
    registry.integrity_check().expect("integrity");
    let connection = rusqlite::Connection::open(directory.database()).expect("raw");
    let mode: String = connection
        .query_row("PRAGMA journal_mode", [], |row| row.get(0))
        .expect("journal mode");
    assert_eq!(mode, "wal");
    let applied: i64 = connection
        .query_row("SELECT MAX(version) FROM schema_migrations", [], |row| row.get(0))
        .expect("migrations");
    assert_eq!(applied, SCHEMA_VERSION);
}

/// A registry written before the reported-metrics table existed is upgraded in place on open: its
/// versions stay readable and new versions record what their trainer reported.
#[test]
fn a_first_schema_registry_is_upgraded() {
    let directory = TempDir::new("upgrade");
    {
        let mut registry = Registry::open(&directory.database()).expect("create");
        register_many(&mut registry, "fraud", 1);
    }
    {
        // Back to the state the first schema leaves.
        let connection = rusqlite::Connection::open(directory.database()).expect("raw");
        connection
            .execute_batch("DROP TABLE reported_metrics; DELETE FROM schema_migrations WHERE version > 1;")
            .expect("downgrade");
    }
    let mut registry = Registry::open(&directory.database()).expect("upgrade");
    let old = registry.versions("fraud").expect("versions");
    assert_eq!(old.len(), 1);
    assert!(old[0].lineage.reported_metrics.is_empty());
    registry.register(&new_version("fraud", 2)).expect("register");
    let versions = registry.versions("fraud").expect("versions");
    assert_eq!(versions.len(), 2);
    assert_eq!(versions[1].lineage.reported_metrics.len(), 1);
    registry.integrity_check().expect("integrity");
}

#[test]
fn a_file_that_is_not_a_database_is_refused() {
    let directory = TempDir::new("not-a-database");
    let path = directory.path().join("registry.db");
    std::fs::write(&path, vec![0x5a; 8192]).expect("write garbage");
    let error = Registry::open(&path).err().expect("refused");
    assert!(matches!(error, RegistryError::Corrupt { .. }), "{error}");
    let message = error.to_string();
    assert!(
        message.starts_with(&format!("{} is not a model registry, or it is corrupt", path.display())),
        "{message}"
    );
    // Untouched.
    assert_eq!(std::fs::read(&path).expect("read"), vec![0x5a; 8192]);
}

#[test]
fn another_sqlite_database_is_not_taken_over() {
    let directory = TempDir::new("other-database");
    let path = directory.path().join("app.db");
    let connection = rusqlite::Connection::open(&path).expect("create");
    connection
        .execute_batch("CREATE TABLE users (name TEXT)")
        .expect("table");
    drop(connection);
    let error = Registry::open(&path).err().expect("refused");
    assert!(error.to_string().contains("no registry schema"), "{error}");
}

#[test]
fn a_newer_schema_is_refused() {
    let directory = TempDir::new("newer-schema");
    Registry::open(&directory.database()).expect("create");
    let connection = rusqlite::Connection::open(directory.database()).expect("raw");
    connection
        .execute(
            "INSERT INTO schema_migrations (version, applied_at) VALUES (?1, 0)",
            [SCHEMA_VERSION + 1],
        )
        .expect("bump");
    drop(connection);
    let error = Registry::open(&directory.database()).err().expect("refused");
    assert!(matches!(error, RegistryError::NewerSchema { .. }), "{error}");
    assert!(error.to_string().contains("upgrade mlsysc"), "{error}");
}

#[test]
fn the_database_enforces_one_production_version() {
    let directory = TempDir::new("unique-production");
    let mut registry = Registry::open(&directory.database()).expect("create");
    register_many(&mut registry, "fraud", 2);
    registry.promote("fraud", 1, Stage::Production, false).expect("promote");
    let connection = rusqlite::Connection::open(directory.database()).expect("raw");
    let second = connection.execute(
        "UPDATE model_versions SET stage = 'production' WHERE model = 'fraud' AND version = 2",
        [],
    );
    assert!(second.is_err(), "a second production version was accepted");
}
