//! Lookup latency of the online stores: 100k entities with a 5-feature record in redb and in a
//! local `redis-server`, then single-key reads (one per call, like one request) and 16-key batched
//! reads. Prints p50 / p99 / mean in microseconds. Run with `cargo bench -p mlsys-online`.

// Shared with the tests, which also restart servers on a fixed port; the bench does not.
#[allow(dead_code)]
#[path = "../tests/support/redis_server.rs"]
mod redis_server;

use std::sync::Arc;
use std::time::{Duration, Instant};

use mlsys_kernels::Value;
use mlsys_online::{EntityKey, OnlineStore, Record, RedbStore, RedisStore, TableId};
use redis_server::RedisServer;

const ENTITIES: u64 = 100_000;
const SINGLE_READS: usize = 20_000;
const BATCH_READS: usize = 5_000;
const BATCH_SIZE: usize = 16;
const WRITE_BATCH: usize = 10_000;

fn key(index: u64) -> EntityKey {
    EntityKey::new(vec![Value::string(format!("user_{index:08}"))])
}

fn record(index: u64) -> Record {
    let values = vec![
        Value::Int(index as i64 % 97),
        Value::Float(index as f64 * 1.25),
        Value::Float(-(index as f64) / 3.0),
        Value::Int(index as i64),
        Value::string(if index.is_multiple_of(2) { "US" } else { "FR" }),
    ];
    Record::new(1_767_225_600_000_000, values)
}

/// A cheap deterministic sequence of entity indexes (xorshift), so every run reads the same keys.
struct KeyPicker(u64);

impl KeyPicker {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % ENTITIES
    }
}

struct Timings {
    load: Duration,
    single: Vec<Duration>,
    batched: Vec<Duration>,
}

async fn measure(store: &dyn OnlineStore) -> Timings {
    let table: TableId = "user_activity@v1".parse().expect("a table");
    let started = Instant::now();
    let indexes: Vec<u64> = (0..ENTITIES).collect();
    for chunk in indexes.chunks(WRITE_BATCH) {
        let rows: Vec<(EntityKey, Record)> = chunk.iter().map(|index| (key(*index), record(*index))).collect();
        store.write(&table, &rows).await.expect("load");
    }
    let load = started.elapsed();

    let mut picker = KeyPicker(0x9E37_79B9_7F4A_7C15);
    // Warm up caches and the connection.
    for _ in 0..1_000 {
        let keys = [key(picker.next())];
        store.read(&table, &keys).await.expect("read");
    }
    let mut single = Vec::with_capacity(SINGLE_READS);
    for _ in 0..SINGLE_READS {
        let index = picker.next();
        let keys = [key(index)];
        let started = Instant::now();
        let records = store.read(&table, &keys).await.expect("read");
        single.push(started.elapsed());
        assert!(
            records[0].as_ref().is_some_and(|found| *found == record(index)),
            "entity {index} reads back"
        );
    }
    let mut batched = Vec::with_capacity(BATCH_READS);
    for _ in 0..BATCH_READS {
        let keys: Vec<EntityKey> = (0..BATCH_SIZE).map(|_| key(picker.next())).collect();
        let started = Instant::now();
        let records = store.read(&table, &keys).await.expect("read");
        batched.push(started.elapsed());
        assert!(records.iter().all(Option::is_some));
    }
    Timings { load, single, batched }
}

fn micros(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e6
}

fn summarize(samples: &mut [Duration]) -> (f64, f64, f64) {
    samples.sort();
    let at = |quantile: f64| micros(samples[((samples.len() - 1) as f64 * quantile).round() as usize]);
    let mean = samples.iter().map(|sample| micros(*sample)).sum::<f64>() / samples.len() as f64;
    (at(0.50), at(0.99), mean)
}

fn print_row(backend: &str, timings: &mut Timings) {
    let (single_p50, single_p99, single_mean) = summarize(&mut timings.single);
    let (batch_p50, batch_p99, batch_mean) = summarize(&mut timings.batched);
    println!(
        "{backend:<6} | {:>8.2} | {single_p50:>8.1} {single_p99:>8.1} {single_mean:>8.1} | {batch_p50:>8.1} {batch_p99:>8.1} {batch_mean:>8.1}",
        timings.load.as_secs_f64()
    );
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument is accepted and ignored.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let directory = std::env::temp_dir().join(format!("mlsys-online-bench-{}", std::process::id()));
    std::fs::remove_dir_all(&directory).ok();
    let server = RedisServer::start();

    let (mut redb, mut redis) = runtime.block_on(async {
        let redb: Arc<dyn OnlineStore> = Arc::new(RedbStore::open(&directory.join("online.redb")).expect("open redb"));
        let redb_timings = measure(redb.as_ref()).await;
        let redis: Arc<dyn OnlineStore> = Arc::new(
            RedisStore::connect(&server.url(), "bench")
                .await
                .expect("connect redis"),
        );
        let redis_timings = measure(redis.as_ref()).await;
        (redb_timings, redis_timings)
    });

    println!();
    println!(
        "{ENTITIES} entities, 5 features; {SINGLE_READS} single-key reads, {BATCH_READS} reads of {BATCH_SIZE} keys (µs)"
    );
    println!("       |          | one key per read           | 16 keys per read");
    println!("store  | load (s) |      p50      p99     mean |      p50      p99     mean");
    println!("-------|----------|----------------------------|---------------------------");
    print_row("redb", &mut redb);
    print_row("redis", &mut redis);
    std::fs::remove_dir_all(&directory).ok();
}
