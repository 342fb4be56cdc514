//! A process killed inside a registration leaves nothing behind: no partial version, no event, no
//! consumed version number, and an intact database.

use std::time::Duration;

use mlsys_registry::Registry;

use crate::child::{spawn, wait_for_file};
use crate::support::{TempDir, new_version};

/// Whether another connection holds the write lock right now (a zero busy timeout fails at once).
fn write_lock_is_held(database: &std::path::Path) -> bool {
    let connection = rusqlite::Connection::open(database).expect("raw connection");
    connection.busy_timeout(Duration::ZERO).expect("timeout");
    match connection.execute_batch("BEGIN IMMEDIATE") {
        Ok(()) => {
            connection.execute_batch("ROLLBACK").expect("rollback");
            false
        }
        Err(error) => {
            assert_eq!(
                error.sqlite_error_code(),
                Some(rusqlite::ErrorCode::DatabaseBusy),
                "{error}"
            );
            true
        }
    }
}

#[test]
fn a_registration_killed_before_commit_leaves_nothing() {
    let directory = TempDir::new("crash");
    let database = directory.database();
    {
        let mut registry = Registry::open(&database).expect("open");
        registry.register(&new_version("fraud", 1)).expect("register v1");
    }
    let ready = directory.path().join("ready");
    let mut child = spawn("register_then_hang", &database, &ready, 2);
    wait_for_file(&ready, &mut child);
    // The child is inside its transaction: it holds the write lock.
    assert!(write_lock_is_held(&database));
    child.kill().expect("SIGKILL");
    child.wait().expect("reap");
    assert!(!write_lock_is_held(&database));

    let mut registry = Registry::open(&database).expect("reopen");
    registry.integrity_check().expect("integrity");
    let versions: Vec<u32> = registry
        .versions("fraud")
        .expect("versions")
        .iter()
        .map(|version| version.version)
        .collect();
    assert_eq!(versions, [1]);
    assert_eq!(registry.events("fraud").expect("events").len(), 1);
    assert_eq!(registry.find_by_inputs("fraud", "inputs-2").expect("find"), None);
    // The killed registration did not consume its number.
    assert_eq!(
        registry.register(&new_version("fraud", 3)).expect("register").version,
        2
    );
}
