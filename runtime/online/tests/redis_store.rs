//! The Redis store's own guarantees: key layout and namespaces on a shared server, `Unavailable`
//! (never a hang) when the server is gone or silent, recovery when it comes back, and corrupt values.

use std::future::Future;
use std::net::TcpListener;
use std::time::Duration;

use mlsys_online::{Namespace, OnlineStore, RedisOptions, RedisStore, StoreError, open_store};

use crate::behaviour::{record, table, user};
use crate::support::PATIENT;
use crate::support::redis_server::{RedisServer, free_port};

/// Short timeouts so the tests that expect a timeout are quick; only for calls that must fail.
const QUICK: RedisOptions = RedisOptions {
    connect_timeout: Duration::from_millis(300),
    response_timeout: Duration::from_millis(300),
};

/// Fails the test instead of hanging if a store call never returns.
async fn within_limit<T>(work: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(20), work)
        .await
        .expect("the call returned instead of hanging")
}

async fn raw_connection(server: &RedisServer) -> redis::aio::MultiplexedConnection {
    let client = redis::Client::open(server.url()).expect("a client");
    client
        .get_multiplexed_async_connection()
        .await
        .expect("a raw connection")
}

fn assert_unavailable(result: Result<impl std::fmt::Debug, StoreError>, url: &str) {
    match result {
        Err(error @ StoreError::Unavailable { .. }) => {
            assert!(error.is_unavailable());
            assert!(error.to_string().contains(url), "the message names the store: {error}");
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
}

#[tokio::test]
async fn keys_follow_the_documented_layout() {
    let server = RedisServer::start();
    let store = RedisStore::connect_with(&server.url(), "fraud-prod", PATIENT)
        .await
        .expect("connect");
    store
        .write(&table("user_activity@v1"), &[(user("u1"), record(5, 1))])
        .await
        .expect("write");
    store.put_meta("user_activity@v1/plan_hash", b"h").await.expect("meta");

    let mut raw = raw_connection(&server).await;
    let mut record_key = b"mlsys:fraud-prod:user_activity@v1:".to_vec();
    record_key.extend(user("u1").encode());
    let stored: Option<Vec<u8>> = redis::cmd("GET")
        .arg(&record_key)
        .query_async(&mut raw)
        .await
        .expect("GET");
    assert_eq!(stored, Some(record(5, 1).encode()));
    let meta: Option<Vec<u8>> = redis::cmd("GET")
        .arg("mlsys:fraud-prod:meta:user_activity@v1/plan_hash")
        .query_async(&mut raw)
        .await
        .expect("GET");
    assert_eq!(meta, Some(b"h".to_vec()));
}

#[tokio::test]
async fn namespaces_on_one_server_are_isolated() {
    let server = RedisServer::start();
    let first = open_store(&server.url().into(), "project-a").await.expect("connect a");
    let second = open_store(&server.url().into(), "project-b").await.expect("connect b");
    let table_id = table("user_activity@v1");

    first
        .write(&table_id, &[(user("u"), record(100, 1))])
        .await
        .expect("write a");
    // Not stale: the other namespace's newer record is a different record.
    let summary = second
        .write(&table_id, &[(user("u"), record(1, 2))])
        .await
        .expect("write b");
    assert_eq!(summary.written, 1);
    first.put_meta("plan_hash", b"a").await.expect("meta a");

    assert_eq!(
        first.read(&table_id, &[user("u")]).await.expect("read"),
        vec![Some(record(100, 1))]
    );
    assert_eq!(
        second.read(&table_id, &[user("u")]).await.expect("read"),
        vec![Some(record(1, 2))]
    );
    assert_eq!(second.get_meta("plan_hash").await.expect("meta"), None);
}

#[tokio::test]
async fn nothing_listening_is_unavailable() {
    let url = format!("redis://127.0.0.1:{}", free_port());
    let result = within_limit(RedisStore::connect_with(&url, "test", QUICK)).await;
    assert_unavailable(result.map(|_| ()), &url);
    let result = within_limit(open_store(&url.as_str().into(), "test")).await;
    assert_unavailable(result.map(|_| ()), &url);
}

#[tokio::test]
async fn a_server_that_never_answers_is_unavailable() {
    // Accepts connections (the kernel completes the handshake) but never reads or answers.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!(
        "redis://127.0.0.1:{}",
        listener.local_addr().expect("an address").port()
    );
    let result = within_limit(RedisStore::connect_with(&url, "test", QUICK)).await;
    assert_unavailable(result.map(|_| ()), &url);
    drop(listener);
}

#[tokio::test]
async fn a_killed_server_is_unavailable_and_a_restarted_one_is_used_again() {
    let mut server = RedisServer::start();
    let url = server.url();
    let port = server.port();
    // A killed server refuses connections at once: no timeout is needed to see it unavailable.
    let store = RedisStore::connect_with(&url, "test", PATIENT).await.expect("connect");
    let table_id = table("user_activity@v1");
    store
        .write(&table_id, &[(user("u"), record(1, 1))])
        .await
        .expect("write");

    server.kill();
    assert_unavailable(within_limit(store.read(&table_id, &[user("u")])).await, &url);
    assert_unavailable(
        within_limit(store.write(&table_id, &[(user("u"), record(2, 2))])).await,
        &url,
    );
    assert_unavailable(within_limit(store.get_meta("plan_hash")).await, &url);
    assert_unavailable(within_limit(store.put_meta("plan_hash", b"x")).await, &url);

    // The same address comes back (empty: it kept nothing) and the same store works again,
    // including writes, whose script the new server has never seen.
    let _restarted = RedisServer::start_on(port);
    assert_eq!(
        within_limit(store.read(&table_id, &[user("u")]))
            .await
            .expect("read after restart"),
        vec![None]
    );
    let summary = within_limit(store.write(&table_id, &[(user("u"), record(3, 3))]))
        .await
        .expect("write");
    assert_eq!(summary.written, 1);
    assert_eq!(
        store.read(&table_id, &[user("u")]).await.expect("read"),
        vec![Some(record(3, 3))]
    );
}

#[tokio::test]
async fn writes_reload_a_flushed_script() {
    let server = RedisServer::start();
    let store = RedisStore::connect_with(&server.url(), "test", PATIENT)
        .await
        .expect("connect");
    let table_id = table("user_activity@v1");
    store
        .write(&table_id, &[(user("u"), record(1, 1))])
        .await
        .expect("write");

    let mut raw = raw_connection(&server).await;
    redis::cmd("SCRIPT")
        .arg("FLUSH")
        .query_async::<()>(&mut raw)
        .await
        .expect("SCRIPT FLUSH");

    // 5000 rows: two round trips, each failing with NOSCRIPT once before the reload.
    let rows: Vec<_> = (0..5_000)
        .map(|index| (user(&format!("k{index}")), record(2, index)))
        .collect();
    let summary = store
        .write(&table_id, &rows)
        .await
        .expect("the write reloads the script");
    assert_eq!((summary.written, summary.stale_skipped), (5_000, 0));
    let summary = store
        .write(&table_id, &[(user("u"), record(0, 9))])
        .await
        .expect("write");
    assert_eq!((summary.written, summary.stale_skipped), (0, 1));
}

#[tokio::test]
async fn corrupt_values_are_an_error_not_a_panic() {
    let server = RedisServer::start();
    let store = RedisStore::connect_with(&server.url(), "test", PATIENT)
        .await
        .expect("connect");
    let table_id = table("user_activity@v1");
    store
        .write(&table_id, &[(user("good"), record(1, 1))])
        .await
        .expect("write");

    let mut key = Namespace::new("test")
        .expect("a namespace")
        .redis_table_prefix(&table_id);
    key.extend(user("bad").encode());
    let mut raw = raw_connection(&server).await;
    redis::cmd("SET")
        .arg(&key)
        .arg(b"\x01\x02")
        .query_async::<()>(&mut raw)
        .await
        .expect("SET");

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
    // The connection is still good.
    assert_eq!(
        store.read(&table_id, &[user("good")]).await.expect("read"),
        vec![Some(record(1, 1))]
    );
}
