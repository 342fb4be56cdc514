//! The child processes of the crash and concurrency tests: this test binary, re-executed with
//! `MLSYS_REGISTRY_CHILD` naming a role, runs [`entry`] alone and plays that role against a real
//! registry file. Run normally (no variable), `entry` has nothing to do.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mlsys_registry::{Registry, Stage};

use crate::support::new_version;

const ROLE: &str = "MLSYS_REGISTRY_CHILD";
const DATABASE: &str = "MLSYS_REGISTRY_DATABASE";
const SIGNAL: &str = "MLSYS_REGISTRY_SIGNAL";
const SEED: &str = "MLSYS_REGISTRY_SEED";

/// Registrations and promotions per child of the concurrency test.
pub const ROUNDS: u32 = 5;

/// Starts this test binary as a child playing `role` on `database`. `signal` is a file path the
/// role uses to synchronise with the parent (see the roles below); `seed` varies its version.
pub fn spawn(role: &str, database: &Path, signal: &Path, seed: u32) -> Child {
    Command::new(std::env::current_exe().expect("test binary"))
        .args(["child::entry", "--exact", "--nocapture", "--test-threads=1"])
        .env(ROLE, role)
        .env(DATABASE, database)
        .env(SIGNAL, signal)
        .env(SEED, seed.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn child")
}

/// Waits until `path` exists; panics with the child's output if it exits first or takes a minute.
pub fn wait_for_file(path: &Path, child: &mut Child) {
    let started = Instant::now();
    while !path.exists() {
        if let Some(status) = child.try_wait().expect("child status") {
            panic!("the child exited ({status}) before signalling");
        }
        assert!(started.elapsed() < Duration::from_secs(60), "the child never signalled");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn entry() {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    let variable = |name: &str| std::env::var(name).expect(name);
    let database = PathBuf::from(variable(DATABASE));
    let signal = PathBuf::from(variable(SIGNAL));
    let seed: u32 = variable(SEED).parse().expect("seed");
    match role.as_str() {
        // Registers a version, and inside the open transaction (everything written, nothing
        // committed) creates the signal file and sleeps until the parent kills it.
        "register_then_hang" => {
            let mut registry = Registry::open(&database).expect("open");
            registry
                .register_before_commit(&new_version("fraud", seed), || {
                    std::fs::write(&signal, b"inside the transaction").expect("signal");
                    std::thread::sleep(Duration::from_secs(300));
                })
                .expect("register");
            panic!("the parent was expected to kill this process");
        }
        // Waits for the signal file (a start gate shared by all children), then opens the
        // registry (possibly creating it) and, ROUNDS times, registers a version and promotes it
        // to production.
        "register_and_promote" => {
            while !signal.exists() {
                std::thread::sleep(Duration::from_millis(1));
            }
            let mut registry = Registry::open(&database).expect("open");
            registry.set_actor(format!("child-{seed}"));
            for round in 0..ROUNDS {
                let registered = registry
                    .register(&new_version("fraud", seed * 100 + round))
                    .expect("register");
                registry
                    .promote("fraud", registered.version, Stage::Production, None)
                    .expect("promote");
                println!("registered and promoted v{}", registered.version);
            }
        }
        other => panic!("unknown child role `{other}`"),
    }
}
