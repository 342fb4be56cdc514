//! The behavioural suite every backend must pass: each check is a function over `&dyn OnlineStore`,
//! instantiated once per backend by `for_each_backend!`.

use mlsys_kernels::Value;
use mlsys_online::{EntityKey, OnlineStore, Record, StoreError, TableId, WriteSummary};

use crate::support::{Backend, StoreFixture};

pub fn table(text: &str) -> TableId {
    text.parse().expect("a valid table name")
}

pub fn user(name: &str) -> EntityKey {
    EntityKey::new(vec![Value::string(name)])
}

pub fn record(valid_at: i64, marker: i64) -> Record {
    Record::new(valid_at, vec![Value::Int(marker), Value::Float(marker as f64 / 2.0)])
}

async fn write(store: &dyn OnlineStore, table: &TableId, rows: &[(EntityKey, Record)]) -> WriteSummary {
    store.write(table, rows).await.expect("the write succeeds")
}

async fn read(store: &dyn OnlineStore, table: &TableId, keys: &[EntityKey]) -> Vec<Option<Record>> {
    store.read(table, keys).await.expect("the read succeeds")
}

async fn read_one(store: &dyn OnlineStore, table: &TableId, key: &EntityKey) -> Option<Record> {
    read(store, table, std::slice::from_ref(key))
        .await
        .pop()
        .expect("one answer per key")
}

/// Every value type and the float edge cases come back bit for bit, under keys of every type.
async fn round_trip_of_every_value_type(store: &dyn OnlineStore) {
    let table = table("edge_values@v1");
    let edge_floats = [
        0.0,
        -0.0,
        f64::NAN,
        -f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::MIN_POSITIVE,
        f64::from_bits(1),
        -f64::from_bits(0x000F_FFFF_FFFF_FFFF),
        f64::MAX,
        f64::MIN,
        f64::EPSILON,
        0.1 + 0.2,
    ];
    let mut values = vec![
        Value::Null,
        Value::Bool(false),
        Value::Bool(true),
        Value::Int(0),
        Value::Int(i64::MIN),
        Value::Int(i64::MAX),
        Value::Int(-1),
        Value::string(""),
        Value::string("naïve café 🧾 \u{0} nul inside"),
        Value::string("x".repeat(100_000)),
        Value::Date(i32::MIN),
        Value::Date(i32::MAX),
        Value::Date(20_000),
        Value::Timestamp(i64::MIN),
        Value::Timestamp(1_767_225_600_000_001),
        Value::Duration(-1),
        Value::Duration(i64::MAX),
    ];
    values.extend(edge_floats.iter().map(|float| Value::Float(*float)));
    let stored = Record::new(1_767_225_600_000_000, values);

    // One key per key type, plus a composite key; -0.0 and 0.0 are different keys.
    let keys = vec![
        EntityKey::new(vec![Value::string("u1")]),
        EntityKey::new(vec![Value::Int(-5)]),
        EntityKey::new(vec![Value::Float(-0.0)]),
        EntityKey::new(vec![Value::Float(0.0)]),
        EntityKey::new(vec![
            Value::Date(1),
            Value::Timestamp(2),
            Value::Duration(3),
            Value::Bool(true),
        ]),
        EntityKey::new(vec![Value::string("u1"), Value::Null]),
        EntityKey::new(vec![]),
    ];
    let rows: Vec<(EntityKey, Record)> = keys
        .iter()
        .enumerate()
        .map(|(index, key)| {
            let mut record = stored.clone();
            record.values.push(Value::Int(index as i64));
            (key.clone(), record)
        })
        .collect();
    assert_eq!(
        write(store, &table, &rows).await,
        WriteSummary {
            written: rows.len() as u64,
            stale_skipped: 0
        }
    );

    let records = read(store, &table, &keys).await;
    for ((key, expected), actual) in rows.iter().zip(&records) {
        let actual = actual.as_ref().unwrap_or_else(|| panic!("{key:?} was written"));
        assert_eq!(actual.valid_at, expected.valid_at);
        assert_eq!(actual.values.len(), expected.values.len());
        for (expected_value, actual_value) in expected.values.iter().zip(&actual.values) {
            assert!(
                expected_value.bits_equal(actual_value),
                "{expected_value:?} came back as {actual_value:?}"
            );
            if let (Value::Float(expected_float), Value::Float(actual_float)) = (expected_value, actual_value)
                && !expected_float.is_nan()
            {
                assert_eq!(expected_float.to_bits(), actual_float.to_bits());
            }
        }
    }
}

/// Keys never written, and tables never written, read as `None`; an empty batch reads nothing.
async fn missing_keys_read_as_none(store: &dyn OnlineStore) {
    let table = table("user_activity@v1");
    assert_eq!(read(store, &table, &[user("a"), user("b")]).await, vec![None, None]);
    assert_eq!(read(store, &table, &[]).await, vec![]);

    write(store, &table, &[(user("b"), record(10, 1))]).await;
    let records = read(store, &table, &[user("a"), user("b"), user("c"), user("b")]).await;
    assert_eq!(records, vec![None, Some(record(10, 1)), None, Some(record(10, 1))]);
    assert_eq!(write(store, &table, &[]).await, WriteSummary::default());
}

/// Newer replaces, older is refused (and counted), equal replaces: across the sign boundary too.
async fn newest_wins(store: &dyn OnlineStore) {
    let table = table("user_activity@v1");
    let key = user("u");
    let stale = WriteSummary {
        written: 0,
        stale_skipped: 1,
    };
    let written = WriteSummary {
        written: 1,
        stale_skipped: 0,
    };

    assert_eq!(write(store, &table, &[(key.clone(), record(100, 1))]).await, written);
    assert_eq!(write(store, &table, &[(key.clone(), record(50, 2))]).await, stale);
    assert_eq!(read_one(store, &table, &key).await, Some(record(100, 1)));

    // A corrected rebuild for the same time takes effect.
    assert_eq!(write(store, &table, &[(key.clone(), record(100, 3))]).await, written);
    assert_eq!(read_one(store, &table, &key).await, Some(record(100, 3)));

    assert_eq!(write(store, &table, &[(key.clone(), record(101, 4))]).await, written);
    assert_eq!(read_one(store, &table, &key).await, Some(record(101, 4)));

    // The order is the signed order of valid_at, extremes included.
    let other = user("signs");
    for (valid_at, marker) in [(i64::MIN, 1), (-1, 2), (0, 3), (1, 4), (i64::MAX, 5)] {
        assert_eq!(
            write(store, &table, &[(other.clone(), record(valid_at, marker))]).await,
            written
        );
    }
    for valid_at in [i64::MIN, -1, 0, 1 << 40, i64::MAX - 1] {
        assert_eq!(
            write(store, &table, &[(other.clone(), record(valid_at, 9))]).await,
            stale
        );
    }
    assert_eq!(read_one(store, &table, &other).await, Some(record(i64::MAX, 5)));

    let negative = user("negative");
    write(store, &table, &[(negative.clone(), record(-10, 1))]).await;
    assert_eq!(write(store, &table, &[(negative.clone(), record(-11, 2))]).await, stale);
    assert_eq!(
        write(store, &table, &[(negative.clone(), record(-9, 3))]).await,
        written
    );
    assert_eq!(read_one(store, &table, &negative).await, Some(record(-9, 3)));
}

/// One batch mixing new keys, newer rows, stale rows and repeated keys.
async fn batch_with_mixed_stale_and_new_rows(store: &dyn OnlineStore) {
    let table = table("user_activity@v1");
    let existing: Vec<(EntityKey, Record)> = (0..10)
        .map(|index| (user(&format!("old{index}")), record(100, index)))
        .collect();
    write(store, &table, &existing).await;

    let mut batch = Vec::new();
    for index in 0..10 {
        let valid_at = if index % 2 == 0 { 50 } else { 150 };
        batch.push((user(&format!("old{index}")), record(valid_at, 1000 + index)));
        batch.push((user(&format!("new{index}")), record(1, 2000 + index)));
    }
    // The same key twice in one batch: rows apply in order.
    batch.push((user("twice"), record(300, 1)));
    batch.push((user("twice"), record(200, 2)));
    batch.push((user("thrice"), record(5, 1)));
    batch.push((user("thrice"), record(5, 2)));
    batch.push((user("thrice"), record(6, 3)));

    let summary = write(store, &table, &batch).await;
    assert_eq!(
        summary,
        WriteSummary {
            written: 5 + 10 + 1 + 3,
            stale_skipped: 5 + 1
        }
    );

    for index in 0..10 {
        let expected = if index % 2 == 0 {
            record(100, index)
        } else {
            record(150, 1000 + index)
        };
        assert_eq!(
            read_one(store, &table, &user(&format!("old{index}"))).await,
            Some(expected)
        );
        assert_eq!(
            read_one(store, &table, &user(&format!("new{index}"))).await,
            Some(record(1, 2000 + index))
        );
    }
    assert_eq!(read_one(store, &table, &user("twice")).await, Some(record(300, 1)));
    assert_eq!(read_one(store, &table, &user("thrice")).await, Some(record(6, 3)));
}

/// Ten thousand keys in one write (several Redis round trips), read back in big batches.
async fn many_keys(store: &dyn OnlineStore) {
    let table = table("many@v3");
    let rows: Vec<(EntityKey, Record)> = (0..10_000)
        .map(|index| {
            (
                EntityKey::new(vec![Value::Int(index), Value::string("k")]),
                record(index, index * 3),
            )
        })
        .collect();
    assert_eq!(
        write(store, &table, &rows).await,
        WriteSummary {
            written: 10_000,
            stale_skipped: 0
        }
    );

    for chunk in rows.chunks(2_500) {
        let keys: Vec<EntityKey> = chunk.iter().rev().map(|(key, _)| key.clone()).collect();
        let records = read(store, &table, &keys).await;
        let expected: Vec<Option<Record>> = chunk.iter().rev().map(|(_, record)| Some(record.clone())).collect();
        assert_eq!(records, expected);
    }

    // Rewriting everything one tick older changes nothing.
    let older: Vec<(EntityKey, Record)> = rows
        .iter()
        .map(|(key, record)| (key.clone(), Record::new(record.valid_at - 1, vec![])))
        .collect();
    assert_eq!(
        write(store, &table, &older).await,
        WriteSummary {
            written: 0,
            stale_skipped: 10_000
        }
    );
}

/// The same key in different tables (other group, other version) holds different records.
async fn tables_are_isolated(store: &dyn OnlineStore) {
    let tables = [
        table("user_activity@v1"),
        table("user_activity@v2"),
        table("user_risk@v1"),
    ];
    for (index, table) in tables.iter().enumerate() {
        write(store, table, &[(user("shared"), record(10, index as i64))]).await;
    }
    for (index, table) in tables.iter().enumerate() {
        assert_eq!(
            read_one(store, table, &user("shared")).await,
            Some(record(10, index as i64))
        );
    }
    // A newer write in one table does not make another table's older write stale.
    write(store, &tables[0], &[(user("other"), record(500, 1))]).await;
    let summary = write(store, &tables[1], &[(user("other"), record(1, 2))]).await;
    assert_eq!(
        summary,
        WriteSummary {
            written: 1,
            stale_skipped: 0
        }
    );
}

/// Metadata: missing is `None`, bytes come back exactly, a put replaces, names are checked.
async fn metadata_round_trip(store: &dyn OnlineStore) {
    assert_eq!(store.get_meta("user_activity@v1/plan_hash").await.expect("get"), None);
    let bytes: Vec<u8> = (0..=255).collect();
    store.put_meta("user_activity@v1/plan_hash", &bytes).await.expect("put");
    store
        .put_meta("user_activity@v1/features", b"")
        .await
        .expect("put empty");
    assert_eq!(
        store.get_meta("user_activity@v1/plan_hash").await.expect("get"),
        Some(bytes)
    );
    assert_eq!(
        store.get_meta("user_activity@v1/features").await.expect("get"),
        Some(vec![])
    );

    store
        .put_meta("user_activity@v1/plan_hash", b"second")
        .await
        .expect("put again");
    assert_eq!(
        store.get_meta("user_activity@v1/plan_hash").await.expect("get"),
        Some(b"second".to_vec())
    );

    // Metadata does not leak into tables.
    assert_eq!(
        read(store, &table("user_activity@v1"), &[user("plan_hash")]).await,
        vec![None]
    );

    for bad_name in ["", "has space", "line\nbreak"] {
        let error = store.put_meta(bad_name, b"x").await.expect_err("an invalid name");
        assert!(matches!(error, StoreError::InvalidName { .. }), "{error}");
    }
}

macro_rules! for_each_backend {
    ($($check:ident),* $(,)?) => {
        mod redb_backend {
            $(
                #[tokio::test]
                async fn $check() {
                    let fixture = super::StoreFixture::new(super::Backend::Redb).await;
                    super::$check(fixture.store.as_ref()).await;
                }
            )*
        }
        mod redis_backend {
            $(
                #[tokio::test]
                async fn $check() {
                    let fixture = super::StoreFixture::new(super::Backend::Redis).await;
                    super::$check(fixture.store.as_ref()).await;
                }
            )*
        }
    };
}

for_each_backend!(
    round_trip_of_every_value_type,
    missing_keys_read_as_none,
    newest_wins,
    batch_with_mixed_stale_and_new_rows,
    many_keys,
    tables_are_isolated,
    metadata_round_trip,
);
