//! The audit log: every registration, approval and stage change, with who and when.

use mlsys_registry::{EventKind, Registry, Stage};

use crate::support::{TempDir, new_version, register_many, requiring_approval};

/// (version, kind, from, to, by) of an event.
type Summary<'a> = (u32, EventKind, Option<Stage>, Stage, Option<&'a str>);

#[test]
fn every_change_is_logged_in_commit_order() {
    let directory = TempDir::new("events");
    let mut registry = Registry::open(&directory.database()).expect("open");
    registry.set_actor("build");
    register_many(&mut registry, "fraud", 2);
    register_many(&mut registry, "churn", 1);
    registry.approve("fraud", 1, "alice", Some("ok")).expect("approve");
    registry.set_actor("bob");
    registry.promote("fraud", 1, Stage::Production, None).expect("v1");
    registry.promote("fraud", 2, Stage::Production, None).expect("v2");
    registry.rollback("fraud").expect("rollback");

    let events = registry.events("fraud").expect("events");
    let summary: Vec<Summary<'_>> = events
        .iter()
        .map(|event| (event.version, event.kind, event.from, event.to, event.by.as_deref()))
        .collect();
    use EventKind::*;
    use Stage::*;
    assert_eq!(
        summary,
        [
            (1, Registered, None, Candidate, Some("build")),
            (2, Registered, None, Candidate, Some("build")),
            (1, EventKind::Approved, Some(Candidate), Stage::Approved, Some("alice")),
            (1, Promoted, Some(Stage::Approved), Production, Some("bob")),
            (1, Replaced, Some(Production), Archived, Some("bob")),
            (2, Promoted, Some(Candidate), Production, Some("bob")),
            (2, RolledBack, Some(Production), Archived, Some("bob")),
            (1, RolledBack, Some(Archived), Production, Some("bob")),
        ]
    );
    assert_eq!(events[2].note.as_deref(), Some("ok"));
    assert_eq!(events[4].note.as_deref(), Some("replaced by v2"));
    assert_eq!(events[7].note.as_deref(), Some("rollback from v2 to v1"));
    assert!(
        events
            .windows(2)
            .all(|pair| pair[0].id < pair[1].id && pair[0].at <= pair[1].at)
    );
    assert!(events.iter().all(|event| event.model == "fraud"));

    let churn = registry.events("churn").expect("events");
    assert_eq!(churn.len(), 1);
    assert!(registry.events("unknown").expect("events").is_empty());
}

#[test]
fn refused_changes_are_not_logged() {
    let directory = TempDir::new("events-refused");
    let mut registry = Registry::open(&directory.database()).expect("open");
    registry
        .register(&requiring_approval(new_version("fraud", 1)))
        .expect("register");
    assert!(registry.promote("fraud", 1, Stage::Production, None).is_err());
    assert!(registry.rollback("fraud").is_err());
    assert!(registry.promote("fraud", 1, Stage::Candidate, None).is_err());
    assert_eq!(registry.events("fraud").expect("events").len(), 1);
}
