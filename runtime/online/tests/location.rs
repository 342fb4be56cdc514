//! Store locations never print a password: the one redaction on every shape of location, and the
//! errors of every way a store fails to open.

use std::time::Duration;

use mlsys_online::{RedisOptions, RedisStore, StoreError, StoreLocation, open_store, redact_location};

use crate::support::redis_server::free_port;

#[test]
fn passwords_are_redacted_from_every_shape_of_location() {
    for (location, printed) in [
        ("redis://:secret@cache:6379/2", "redis://:***@cache:6379/2"),
        ("redis://user:secret@cache", "redis://user:***@cache"),
        (
            "redis://default:s%40cr%2Fet@cache:6379",
            "redis://default:***@cache:6379",
        ),
        // A bare token in the user information is hidden whole.
        ("redis://secret@cache", "redis://***@cache"),
        // Unencoded `@`, `/`, `?` and `#` in a password: the URL does not parse, the secret still goes.
        ("redis://:sec@ret@cache", "redis://:***@cache"),
        ("redis://:sec/ret@cache:6379/0", "redis://:***@cache:6379/0"),
        ("redis://user:se?cr#et@cache", "redis://user:***@cache"),
        ("rediss://:secret@cache", "rediss://:***@cache"),
        (
            "http://admin:secret@example.com/store",
            "http://admin:***@example.com/store",
        ),
        ("redis://:secret@", "redis://:***@"),
        // Mistyped schemes.
        ("redis:/:secret@cache", "redis:***@cache"),
        ("redis//:secret@cache", "redis//:***@cache"),
        (":secret@cache", ":***@cache"),
        // Nothing to hide.
        ("redis://cache:6379", "redis://cache:6379"),
        (
            "redis://cache:6379/0?protocol=resp3",
            "redis://cache:6379/0?protocol=resp3",
        ),
        (".mlsys/online.redb", ".mlsys/online.redb"),
        ("/data/team@corp/online.redb", "/data/team@corp/online.redb"),
        ("", ""),
    ] {
        assert_eq!(redact_location(location), printed, "{location}");
        let typed = StoreLocation::new(location);
        assert_eq!(typed.to_string(), printed, "{location}");
        assert!(!format!("{typed:?}").contains("sec"), "{typed:?}");
        assert_eq!(typed.as_given(), location);
    }
}

/// Every way opening a store with a password in its URL can fail names the store without it.
#[tokio::test]
async fn failed_opens_never_show_the_password() {
    let closed = free_port();
    let quick = RedisOptions {
        connect_timeout: Duration::from_millis(300),
        response_timeout: Duration::from_millis(300),
    };
    for location in [
        format!("redis://:secret@127.0.0.1:{closed}/0"),
        format!("redis://user:secret@127.0.0.1:{closed}"),
        format!("redis://:sec/ret@127.0.0.1:{closed}"),
        "redis://:secret@127.0.0.1:notaport".to_string(),
        "rediss://:secret@cache:6379".to_string(),
        "http://admin:secret@example.com/store".to_string(),
        "redis:/:secret@cache".to_string(),
    ] {
        let error = open_store(&location.as_str().into(), "test")
            .await
            .err()
            .expect("refused or unavailable");
        assert!(
            matches!(
                error,
                StoreError::Unavailable { .. } | StoreError::UnsupportedLocation { .. }
            ),
            "{location}: {error}"
        );
        let message = format!("{error} {error:?}");
        assert!(!message.contains("secret") && !message.contains("ret@"), "{message}");
        assert!(message.contains("***"), "the message names the store: {message}");
    }
    let error = RedisStore::connect_with(&format!("redis://:secret@127.0.0.1:{closed}"), "test", quick)
        .await
        .err()
        .expect("unavailable");
    assert!(!format!("{error} {error:?}").contains("secret"), "{error}");
}
