//! Opening databases: creation, reopening, and refusing what is not a registry this release reads.

use std::path::Path;

use mlsys_registry::{PromotionRules, Registry, RegistryError, SCHEMA_VERSION, Stage};

use crate::support::{TempDir, new_version, register_many, requiring_approval};

/// The registry's `PRAGMA application_id` ("mlsr").
const APPLICATION_ID: i64 = 0x6d6c_7372;

/// Takes the registry at `path` back to the state schema version `version` left: undoes the later
/// migrations (newest first) and forgets them.
fn downgrade(path: &Path, version: i64) {
    // Entry `i` undoes migration `i + 2`.
    const UNDO: [&str; 4] = [
        "DROP TABLE reported_metrics;",
        "ALTER TABLE model_versions DROP COLUMN approval_required;",
        "DROP INDEX one_approval_per_approver;",
        "DROP TABLE version_baselines; ALTER TABLE model_versions DROP COLUMN trigger;",
    ];
    assert_eq!(
        UNDO.len() as i64 + 1,
        SCHEMA_VERSION,
        "a new migration needs its undo here"
    );
    let connection = rusqlite::Connection::open(path).expect("raw");
    for (index, undo) in UNDO.iter().enumerate().rev() {
        if index as i64 + 2 > version {
            connection.execute_batch(undo).expect("undo a migration");
        }
    }
    connection
        .execute("DELETE FROM schema_migrations WHERE version > ?1", [version])
        .expect("forget the migrations");
}

/// Opening `path` fails as "not a registry" naming the file, with `reason` in the message.
fn refused_as_not_a_registry(path: &Path, reason: &str) {
    let error = Registry::open(path).err().expect("refused");
    assert!(matches!(error, RegistryError::Corrupt { .. }), "{error}");
    let message = error.to_string();
    assert!(
        message.starts_with(&format!("{} is not a model registry, or it is corrupt", path.display())),
        "{message}"
    );
    assert!(message.contains(reason), "{message}");
}

#[test]
fn reopening_keeps_everything() {
    let directory = TempDir::new("reopen");
    {
        let mut registry = Registry::open(&directory.database()).expect("create");
        register_many(&mut registry, "fraud", 2);
        registry.promote("fraud", 2, Stage::Production, None).expect("promote");
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
    // The file was built under a temporary name and linked into place; nothing of that is left.
    let names: Vec<String> = std::fs::read_dir(directory.database().parent().expect("parent"))
        .expect("list")
        .map(|entry| entry.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|name| name.contains(".new-"))
        .collect();
    assert!(names.is_empty(), "{names:?}");
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
    downgrade(&directory.database(), 1);
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
    registry.promote("fraud", 1, Stage::Production, None).expect("promote");
    let connection = rusqlite::Connection::open(directory.database()).expect("raw");
    let second = connection.execute(
        "UPDATE model_versions SET stage = 'production' WHERE model = 'fraud' AND version = 2",
        [],
    );
    assert!(second.is_err(), "a second production version was accepted");
}

/// A registry file truncated to nothing is not a new registry: opening it must not register the
/// next version as v1 with the approvals and stages gone.
#[test]
fn an_empty_file_is_refused_and_left_alone() {
    let directory = TempDir::new("empty-file");
    let path = directory.path().join("registry.db");
    std::fs::write(&path, b"").expect("an empty file");
    refused_as_not_a_registry(&path, "the file is empty (0 bytes)");
    assert_eq!(std::fs::metadata(&path).expect("still there").len(), 0);
    // Refused again: the refusal wrote nothing that would make it look like a registry.
    refused_as_not_a_registry(&path, "the file is empty (0 bytes)");
}

#[test]
fn an_sqlite_database_without_tables_is_refused() {
    let directory = TempDir::new("no-tables");
    let path = directory.path().join("registry.db");
    let connection = rusqlite::Connection::open(&path).expect("create");
    connection.pragma_update(None, "user_version", 7).expect("a header");
    drop(connection);
    refused_as_not_a_registry(&path, "0 table(s) and no registry schema");
}

#[test]
fn another_programs_database_is_refused_by_its_application_id() {
    let directory = TempDir::new("foreign-id");
    let database = directory.database();
    Registry::open(&database).expect("create");
    // Even with the registry's tables, another program's id means another program's file.
    let connection = rusqlite::Connection::open(&database).expect("raw");
    connection
        .pragma_update(None, "application_id", 0x4750_4b47)
        .expect("foreign id");
    drop(connection);
    refused_as_not_a_registry(&database, "application_id 0x47504b47");
}

#[test]
fn a_registry_missing_a_table_is_refused() {
    let directory = TempDir::new("missing-table");
    let database = directory.database();
    Registry::open(&database).expect("create");
    let connection = rusqlite::Connection::open(&database).expect("raw");
    connection.execute_batch("DROP TABLE events").expect("drop");
    drop(connection);
    refused_as_not_a_registry(&database, "lacks the table(s) events");
}

/// A new registry carries the application id; one created before the id was set (id 0, schema
/// present) still opens, and is marked.
#[test]
fn registries_are_marked_with_the_application_id() {
    let directory = TempDir::new("application-id");
    let database = directory.database();
    {
        let mut registry = Registry::open(&database).expect("create");
        register_many(&mut registry, "fraud", 1);
    }
    let application_id = || -> i64 {
        rusqlite::Connection::open(&database)
            .expect("raw")
            .query_row("PRAGMA application_id", [], |row| row.get(0))
            .expect("application id")
    };
    assert_eq!(application_id(), APPLICATION_ID);
    rusqlite::Connection::open(&database)
        .expect("raw")
        .pragma_update(None, "application_id", 0)
        .expect("unmark");
    let registry = Registry::open(&database).expect("an unmarked registry opens");
    assert_eq!(registry.versions("fraud").expect("versions").len(), 1);
    drop(registry);
    assert_eq!(application_id(), APPLICATION_ID);
}

/// Versions registered before promotion rules were recorded read back without rules, and their
/// repeated approvals by one person count once.
#[test]
fn a_second_schema_registry_keeps_its_versions_without_rules() {
    let directory = TempDir::new("upgrade-rules");
    let database = directory.database();
    {
        let mut registry = Registry::open(&database).expect("create");
        register_many(&mut registry, "fraud", 1);
    }
    downgrade(&database, 2);
    {
        let connection = rusqlite::Connection::open(&database).expect("raw");
        for (by, at) in [("alice", 1), ("alice", 2), ("alice ", 3), ("bob", 4)] {
            connection
                .execute(
                    "INSERT INTO approvals (model, version, approved_by, approved_at) VALUES ('fraud', 1, ?1, ?2)",
                    rusqlite::params![by, at],
                )
                .expect("approval");
        }
    }
    let mut registry = Registry::open(&database).expect("upgrade");
    let old = registry.version("fraud", 1).expect("read").expect("v1");
    assert_eq!(old.lineage.promotion_rules, None);
    let approvals: Vec<(&str, i64)> = old
        .approvals
        .iter()
        .map(|approval| (approval.by.as_str(), approval.at))
        .collect();
    assert_eq!(approvals, [("alice", 1), ("bob", 4)]);
    registry
        .register(&requiring_approval(new_version("fraud", 2)))
        .expect("register");
    let new = registry.version("fraud", 2).expect("read").expect("v2");
    assert_eq!(
        new.lineage.promotion_rules,
        Some(PromotionRules {
            approval_required: true
        })
    );
    registry.integrity_check().expect("integrity");
}
