//! Table, namespace and metadata names: parsing, display, and the rules that keep Redis keys apart.

use mlsys_online::{MetaName, Namespace, StoreError, TableId};

#[test]
fn table_names_round_trip_through_text() {
    let table: TableId = "user_activity@v1".parse().expect("valid");
    assert_eq!((table.group(), table.version()), ("user_activity", 1));
    assert_eq!(table.to_string(), "user_activity@v1");
    assert_eq!(
        TableId::new("_x9", 4_000_000_000).expect("valid").to_string(),
        "_x9@v4000000000"
    );
}

#[test]
fn malformed_table_names_are_refused() {
    for text in [
        "user_activity",
        "user_activity@1",
        "@v1",
        "9lives@v1",
        "a:b@v1",
        "a@v",
        "a@v01",
        "a@v+1",
        "a@v-1",
        "a@v1x",
        "a b@v1",
    ] {
        let error = text.parse::<TableId>().expect_err(text);
        assert!(matches!(error, StoreError::InvalidName { .. }), "{text}: {error}");
    }
}

#[test]
fn namespaces_and_meta_names_are_checked() {
    assert!(Namespace::new("fraud-prod.eu_1").is_ok());
    for bad in ["", "a:b", "a b", "ä", "{tag}"] {
        assert!(Namespace::new(bad).is_err(), "{bad:?}");
    }
    assert!(MetaName::new("user_activity@v1/plan_hash").is_ok());
    for bad in ["", "a b", "tab\there"] {
        assert!(MetaName::new(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn redis_prefixes_of_different_tables_never_nest() {
    let namespace = Namespace::new("ns").expect("valid");
    let tables = ["a@v1", "a@v10", "a_b@v1", "ab@v1"].map(|text| text.parse::<TableId>().expect("valid"));
    let prefixes: Vec<Vec<u8>> = tables.iter().map(|table| namespace.redis_table_prefix(table)).collect();
    assert_eq!(prefixes[0], b"mlsys:ns:a@v1:");
    for (index, prefix) in prefixes.iter().enumerate() {
        for (other_index, other) in prefixes.iter().enumerate() {
            if index != other_index {
                assert!(!other.starts_with(prefix), "{prefix:?} is a prefix of {other:?}");
            }
        }
    }
    let meta = namespace.redis_meta_key(&MetaName::new("x").expect("valid"));
    assert_eq!(meta, b"mlsys:ns:meta:x");
    assert!(prefixes.iter().all(|prefix| !meta.starts_with(prefix)));
    assert_eq!(namespace.redb_table_name(&tables[0]), "mlsys:ns:a@v1");
}
