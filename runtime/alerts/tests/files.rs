//! The outbox file: created marked, reopened, and an existing file that is not one refused with a
//! typed error naming it (never initialised over, never a panic).

use std::path::Path;

use mlsys_alerts::{AlertError, AlertStore, NotAnOutbox};

use crate::support::TempDir;

fn refusal(path: &Path) -> NotAnOutbox {
    let error = match AlertStore::open(path) {
        Ok(_) => panic!("{} was accepted as an outbox", path.display()),
        Err(error) => error,
    };
    assert!(error.to_string().contains(&path.display().to_string()), "{error}");
    match error {
        AlertError::NotAnOutbox { path: named, reason } => {
            assert_eq!(named, path);
            reason
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_new_outbox_is_marked_and_reopens() {
    let directory = TempDir::new();
    let path = directory.path().join("monitors").join("alerts.db");
    drop(AlertStore::open(&path).expect("create"));
    let connection = rusqlite::Connection::open(&path).expect("open");
    let id: i64 = connection
        .query_row("PRAGMA application_id", [], |row| row.get(0))
        .expect("id");
    assert_eq!(id, 0x6d6c_7361, "\"mlsa\"");
    drop(connection);
    AlertStore::open(&path).expect("reopen");
}

#[test]
fn a_corrupt_file_is_refused_naming_it() {
    let directory = TempDir::new();
    let path = directory.path().join("alerts.db");
    let bytes: Vec<u8> = (0..8192u32)
        .map(|index| (index.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&path, &bytes).expect("write");
    assert!(matches!(refusal(&path), NotAnOutbox::Unreadable { .. }));
    assert_eq!(std::fs::read(&path).expect("read"), bytes, "the file is left as it was");

    // An outbox damaged inside: its first page intact, the rest overwritten.
    let damaged = directory.path().join("damaged.db");
    drop(AlertStore::open(&damaged).expect("create"));
    let mut content = std::fs::read(&damaged).expect("read");
    for byte in content.iter_mut().skip(100) {
        *byte = 0xA5;
    }
    std::fs::write(&damaged, &content).expect("write");
    assert!(matches!(
        refusal(&damaged),
        NotAnOutbox::Unreadable { .. } | NotAnOutbox::NoSchema { .. }
    ));
}

#[test]
fn a_foreign_or_empty_file_is_refused() {
    let directory = TempDir::new();
    let foreign = directory.path().join("other.db");
    let connection = rusqlite::Connection::open(&foreign).expect("create");
    connection
        .execute_batch("PRAGMA application_id = 1234; CREATE TABLE notes (text TEXT);")
        .expect("a foreign database");
    drop(connection);
    assert!(matches!(
        refusal(&foreign),
        NotAnOutbox::ForeignApplication { found: 1234, .. }
    ));

    let unmarked = directory.path().join("unmarked.db");
    rusqlite::Connection::open(&unmarked)
        .and_then(|connection| connection.execute_batch("CREATE TABLE notes (text TEXT);"))
        .expect("an unmarked database");
    assert!(matches!(
        refusal(&unmarked),
        NotAnOutbox::ForeignApplication { found: 0, .. }
    ));

    let empty = directory.path().join("empty.db");
    std::fs::write(&empty, b"").expect("write");
    assert!(matches!(refusal(&empty), NotAnOutbox::Empty));
    assert_eq!(std::fs::metadata(&empty).expect("stat").len(), 0);
}
