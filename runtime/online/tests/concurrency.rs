//! Concurrent writers: whatever the interleaving, each key ends with its greatest `valid_at`.

use std::sync::Arc;

use mlsys_kernels::Value;
use mlsys_online::{OnlineStore, Record, WriteSummary};

use crate::behaviour::{table, user};
use crate::support::{Backend, PATIENT, StoreFixture};

const WRITERS: i64 = 4;
const ROUNDS: i64 = 25;
const KEYS: i64 = 40;

/// Writer `w` writes `valid_at = round * WRITERS + w` for every key, rounds in a scrambled order, one
/// small batch per round; readers run alongside. The maximum is `(ROUNDS - 1) * WRITERS + WRITERS - 1`.
async fn concurrent_writers_keep_the_maximum(store: Arc<dyn OnlineStore>) {
    let table = table("contended@v1");
    let mut tasks = Vec::new();
    for writer in 0..WRITERS {
        let store = Arc::clone(&store);
        let table = table.clone();
        tasks.push(tokio::spawn(async move {
            let mut total = WriteSummary::default();
            for step in 0..ROUNDS {
                // A different permutation of the rounds per writer (7 is coprime with 25).
                let round = (step * 7 + writer * 3) % ROUNDS;
                let valid_at = round * WRITERS + writer;
                let rows: Vec<_> = (0..KEYS)
                    .map(|key| {
                        let values = vec![Value::Int(valid_at), Value::Int(writer)];
                        (user(&format!("k{key}")), Record::new(valid_at, values))
                    })
                    .collect();
                let summary = store.write(&table, &rows).await.expect("a concurrent write");
                total.written += summary.written;
                total.stale_skipped += summary.stale_skipped;
            }
            total
        }));
    }
    let reader = {
        let store = Arc::clone(&store);
        let table = table.clone();
        tokio::spawn(async move {
            let keys: Vec<_> = (0..KEYS).map(|key| user(&format!("k{key}"))).collect();
            for _ in 0..50 {
                for record in store
                    .read(&table, &keys)
                    .await
                    .expect("a concurrent read")
                    .into_iter()
                    .flatten()
                {
                    // A record is always whole: its values belong to its valid_at.
                    assert_eq!(record.values[0], Value::Int(record.valid_at));
                    assert_eq!(record.values[1], Value::Int(record.valid_at % WRITERS));
                }
                tokio::task::yield_now().await;
            }
        })
    };

    let mut rows_accounted = 0;
    for task in tasks {
        let summary = task.await.expect("a writer task");
        rows_accounted += summary.written + summary.stale_skipped;
    }
    reader.await.expect("the reader task");
    assert_eq!(rows_accounted, (WRITERS * ROUNDS * KEYS) as u64);

    let maximum = (ROUNDS - 1) * WRITERS + WRITERS - 1;
    let keys: Vec<_> = (0..KEYS).map(|key| user(&format!("k{key}"))).collect();
    for record in store.read(&table, &keys).await.expect("the final read") {
        let expected = Record::new(maximum, vec![Value::Int(maximum), Value::Int(WRITERS - 1)]);
        assert_eq!(record, Some(expected));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redb_concurrent_writers_keep_the_maximum() {
    let fixture = StoreFixture::new(Backend::Redb).await;
    concurrent_writers_keep_the_maximum(Arc::clone(&fixture.store)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_concurrent_writers_keep_the_maximum() {
    let fixture = StoreFixture::new(Backend::Redis).await;
    concurrent_writers_keep_the_maximum(Arc::clone(&fixture.store)).await;
}

/// Two separate connections (two stores, as two server processes would have) racing on one Redis.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_writers_on_separate_connections_keep_the_maximum() {
    let fixture = StoreFixture::new(Backend::Redis).await;
    let server = fixture.redis_server.as_ref().expect("a redis fixture has a server");
    let second = mlsys_online::RedisStore::connect_with(&server.url(), "test", PATIENT)
        .await
        .expect("a second connection");
    let second: Arc<dyn OnlineStore> = Arc::new(second);
    let table = table("contended@v1");

    let mut tasks = Vec::new();
    for (writer, store) in [Arc::clone(&fixture.store), second].into_iter().enumerate() {
        let table = table.clone();
        tasks.push(tokio::spawn(async move {
            for step in 0..200i64 {
                let valid_at = if writer == 0 { step * 2 } else { 400 - step * 2 - 1 };
                let rows = vec![(user("hot"), Record::new(valid_at, vec![Value::Int(valid_at)]))];
                store.write(&table, &rows).await.expect("a racing write");
            }
        }));
    }
    for task in tasks {
        task.await.expect("a writer task");
    }
    let stored = fixture.store.read(&table, &[user("hot")]).await.expect("read");
    assert_eq!(stored, vec![Some(Record::new(399, vec![Value::Int(399)]))]);
}
