//! The embedded store's own guarantees: durability across reopen, the file lock, namespaces in one
//! file, corrupt bytes, and `open_store`'s choice of backend.

use std::path::Path;
use std::process::Command;

use mlsys_kernels::Value;
use mlsys_online::{OnlineStore, Record, RedbStore, StoreError, open_store};
use redb::{Database, TableDefinition};

use crate::behaviour::{record, table, user};
use crate::support::TempDir;

/// Set in the child process of `a_second_process_gets_a_clear_error`.
const LOCKED_PATH_VARIABLE: &str = "MLSYS_ONLINE_TEST_LOCKED_PATH";

#[tokio::test]
async fn writes_survive_close_and_reopen() {
    let directory = TempDir::new();
    let path = directory.path().join("deep/nested/online.redb");
    {
        let store = RedbStore::open(&path).expect("open creates parent directories");
        store
            .write(&table("user_activity@v1"), &[(user("u1"), record(7, 1))])
            .await
            .expect("write");
        store
            .put_meta("user_activity@v1/plan_hash", b"abc")
            .await
            .expect("put meta");
    }
    let store = RedbStore::open(&path).expect("reopen");
    assert_eq!(
        store
            .read(&table("user_activity@v1"), &[user("u1")])
            .await
            .expect("read"),
        vec![Some(record(7, 1))]
    );
    assert_eq!(
        store.get_meta("user_activity@v1/plan_hash").await.expect("get"),
        Some(b"abc".to_vec())
    );
    // Newest-wins still holds against what was stored before the reopen.
    let summary = store
        .write(&table("user_activity@v1"), &[(user("u1"), record(6, 2))])
        .await
        .expect("write");
    assert_eq!(summary.stale_skipped, 1);
}

#[test]
fn a_second_open_in_the_same_process_gets_a_clear_error() {
    let directory = TempDir::new();
    let path = directory.path().join("online.redb");
    let _first = RedbStore::open(&path).expect("the first open");
    let error = RedbStore::open(&path).err().expect("the second open is refused");
    assert!(matches!(error, StoreError::AlreadyOpen { .. }), "{error}");
    let message = error.to_string();
    assert!(
        message.contains(&path.display().to_string()) && message.contains("already open"),
        "{message}"
    );
}

#[test]
fn a_second_process_gets_a_clear_error() {
    let directory = TempDir::new();
    let path = directory.path().join("online.redb");
    let _first = RedbStore::open(&path).expect("the first open");
    let output = Command::new(std::env::current_exe().expect("the test binary"))
        .args([
            "redb_store::second_process_probe",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(LOCKED_PATH_VARIABLE, &path)
        .output()
        .expect("run the probe process");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the probe failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("probe: refused with AlreadyOpen"),
        "the probe did not run:\n{stdout}"
    );
}

/// Runs only as the child of `a_second_process_gets_a_clear_error`.
#[test]
#[ignore = "the child process of a_second_process_gets_a_clear_error"]
fn second_process_probe() {
    let path = std::env::var_os(LOCKED_PATH_VARIABLE).expect("run by a_second_process_gets_a_clear_error");
    match RedbStore::open(Path::new(&path)) {
        Err(StoreError::AlreadyOpen { .. }) => println!("probe: refused with AlreadyOpen"),
        Err(other) => panic!("expected AlreadyOpen, got: {other}"),
        Ok(_) => panic!("a second process opened a locked store"),
    }
}

#[tokio::test]
async fn namespaces_in_one_file_are_separate() {
    let directory = TempDir::new();
    let path = directory.path().join("online.redb");
    {
        let store = RedbStore::open_in_namespace(&path, "project-a").expect("open a");
        store
            .write(&table("user_activity@v1"), &[(user("u"), record(1, 1))])
            .await
            .expect("write");
        store.put_meta("plan_hash", b"a").await.expect("meta");
    }
    let store = RedbStore::open_in_namespace(&path, "project-b").expect("open b");
    assert_eq!(
        store
            .read(&table("user_activity@v1"), &[user("u")])
            .await
            .expect("read"),
        vec![None]
    );
    assert_eq!(store.get_meta("plan_hash").await.expect("meta"), None);
}

#[tokio::test]
async fn corrupt_stored_bytes_are_an_error_not_a_panic() {
    let directory = TempDir::new();
    let path = directory.path().join("online.redb");
    let table_id = table("user_activity@v1");
    {
        let store = RedbStore::open(&path).expect("open");
        store
            .write(&table_id, &[(user("good"), record(1, 1))])
            .await
            .expect("write");
    }
    {
        // Damage one record behind the store's back.
        let database = Database::create(&path).expect("open the raw file");
        let transaction = database.begin_write().expect("begin");
        {
            let name = mlsys_online::Namespace::new("default")
                .expect("a namespace")
                .redb_table_name(&table_id);
            let mut raw = transaction
                .open_table(TableDefinition::<&[u8], &[u8]>::new(&name))
                .expect("the table exists");
            raw.insert(user("bad").encode().as_slice(), [1u8, 2, 3].as_slice())
                .expect("insert");
        }
        transaction.commit().expect("commit");
    }
    let store = RedbStore::open(&path).expect("reopen");
    let error = store
        .read(&table_id, &[user("good"), user("bad")])
        .await
        .expect_err("corrupt bytes");
    assert!(matches!(error, StoreError::Corrupt { .. }), "{error}");
    let error = store
        .write(&table_id, &[(user("bad"), record(5, 5))])
        .await
        .expect_err("corrupt bytes");
    assert!(matches!(error, StoreError::Corrupt { .. }), "{error}");
    // The healthy record is still readable on its own.
    assert_eq!(
        store.read(&table_id, &[user("good")]).await.expect("read"),
        vec![Some(record(1, 1))]
    );
}

#[tokio::test]
async fn open_store_picks_the_backend_from_the_location() {
    let directory = TempDir::new();
    let path = directory.path().join(".mlsys/online.redb");
    let store = open_store(&path.to_str().expect("a UTF-8 path").into(), "default")
        .await
        .expect("a path opens redb");
    assert_eq!(store.location(), path.display().to_string());
    store
        .write(&table("t@v1"), &[(user("u"), Record::new(0, vec![Value::Null]))])
        .await
        .expect("write");

    for (location, expected) in [
        ("rediss://127.0.0.1:6379", "TLS"),
        ("http://example.com/store", "unknown scheme `http`"),
        ("", "empty location"),
        ("redis:/cache:6379", "starts with `redis://`"),
    ] {
        let error = open_store(&location.into(), "default").await.err().expect("refused");
        assert!(matches!(error, StoreError::UnsupportedLocation { .. }), "{error}");
        assert!(error.to_string().contains(expected), "{location}: {error}");
    }
    let error = open_store(&path.to_str().expect("a UTF-8 path").into(), "bad:namespace")
        .await
        .err()
        .expect("refused");
    assert!(
        matches!(error, StoreError::InvalidName { what: "namespace", .. }),
        "{error}"
    );
}
