//! Several processes registering and promoting at the same moment, on a registry none of them has
//! created yet: every version is kept, numbers are 1..N with no gap, exactly one is in production.

use mlsys_registry::{EventKind, Registry, Stage};

use crate::child::{ROUNDS, spawn};
use crate::support::{TempDir, in_stage};

const PROCESSES: u32 = 8;

#[test]
fn concurrent_processes_never_lose_or_corrupt_a_write() {
    let directory = TempDir::new("concurrency");
    let database = directory.database();
    let gate = directory.path().join("start");
    let children: Vec<_> = (1..=PROCESSES)
        .map(|seed| spawn("register_and_promote", &database, &gate, seed))
        .collect();
    std::fs::write(&gate, b"go").expect("open the gate");
    for child in children {
        let output = child.wait_with_output().expect("child output");
        assert!(
            output.status.success(),
            "a child failed ({}):\n{}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    let mut registry = Registry::open(&database).expect("open");
    registry.integrity_check().expect("integrity");
    let versions = registry.versions("fraud").expect("versions");
    let total = PROCESSES * ROUNDS;
    let numbers: Vec<u32> = versions.iter().map(|version| version.version).collect();
    assert_eq!(numbers, (1..=total).collect::<Vec<_>>());
    // Every process registered its own seeds: every lineage is present exactly once.
    let mut seeds: Vec<String> = versions
        .iter()
        .map(|version| version.lineage.training_set.clone())
        .collect();
    seeds.sort();
    let mut expected: Vec<String> = (1..=PROCESSES)
        .flat_map(|seed| (0..ROUNDS).map(move |round| format!("ts-{:04}", seed * 100 + round)))
        .collect();
    expected.sort();
    assert_eq!(seeds, expected);
    assert_eq!(in_stage(&registry, "fraud", Stage::Production).len(), 1);
    assert_eq!(in_stage(&registry, "fraud", Stage::Archived).len(), total as usize - 1);

    let events = registry.events("fraud").expect("events");
    let count = |kind: EventKind| events.iter().filter(|event| event.kind == kind).count();
    assert_eq!(count(EventKind::Registered), total as usize);
    assert_eq!(count(EventKind::Promoted), total as usize);
    assert_eq!(count(EventKind::Replaced), total as usize - 1);

    // Every promotion entered the production history: rollbacks walk back through all of them.
    for _ in 1..total {
        registry.rollback("fraud").expect("rollback");
    }
    assert!(registry.rollback("fraud").is_err());
    registry.integrity_check().expect("integrity after rollbacks");
}
