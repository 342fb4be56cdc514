//! A password in the online store's URL never appears in any output: the build summary, the
//! server's banner, `verify`, `--help` with `MLSYS_ONLINE` set, and the errors of a store that is
//! unreachable, mistyped or unsupported.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::redis_server::{RedisServer, free_port};

fn mlsysc(arguments: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mlsysc"))
        .args(arguments)
        .env_remove("MLSYS_ONLINE")
        .output()
        .expect("mlsysc runs")
}

/// stdout and stderr, checked to hold no trace of the password `secret` (nor its tail, for the
/// URLs that split it).
fn without_password(output: &Output, context: &str) -> String {
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        !all.contains("secret") && !all.contains("ret@"),
        "{context} printed the password:\n{all}"
    );
    all
}

/// `verify.rs`'s project with a day of clicks.
fn small_project(name: &str) -> PathBuf {
    let project = std::env::temp_dir().join(format!("mlsysc-redaction-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&project);
    let day = project.join("data/clicks/dt=2026-03-01");
    std::fs::create_dir_all(&day).expect("project");
    std::fs::write(project.join("spec.mlsys"), crate::verify::SPEC).expect("spec");
    std::fs::write(
        day.join("part-0.csv"),
        "user,value,weight,at\nu1,0.7,3,2026-03-01T10:00:00Z\nu2,,5,2026-03-01T11:30:00Z\n",
    )
    .expect("clicks");
    project
}

/// The first line `serve-features` prints (its banner), then the server is stopped.
fn serve_banner(project: &Path, url: &str) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mlsysc"))
        .args([
            "serve-features",
            &project.display().to_string(),
            "--port",
            "0",
            "--online",
            url,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("serve-features starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("a first line");
    let _ = child.kill();
    let _ = child.wait();
    line
}

#[test]
fn a_reachable_store_is_named_without_its_password() {
    let server = RedisServer::start();
    let project = small_project("live");
    let path = project.display().to_string();
    // Redis accepts any password for its `default` user when none is configured.
    let url = format!("redis://default:secret@127.0.0.1:{}/0", server.port());
    let shown = format!("redis://default:***@127.0.0.1:{}/0", server.port());

    let build = mlsysc(&["build", &path, "--online", &url]);
    let printed = without_password(&build, "build");
    assert_eq!(build.status.code(), Some(0), "{printed}");
    assert!(printed.contains(&format!("online store: {shown}")), "{printed}");

    let verify = mlsysc(&["verify", &path, "--online", &url]);
    let printed = without_password(&verify, "verify");
    assert_eq!(verify.status.code(), Some(0), "{printed}");

    let banner = serve_banner(&project, &url);
    assert!(banner.contains(&format!("(online store: {shown})")), "{banner}");
    assert!(!banner.contains("secret"), "{banner}");
    let _ = std::fs::remove_dir_all(&project);
}

#[test]
fn unreachable_and_unsupported_stores_are_named_without_their_password() {
    let project = small_project("refused");
    let path = project.display().to_string();
    let closed = free_port();
    let locations = [
        format!("redis://:secret@127.0.0.1:{closed}/0"),
        format!("redis://user:secret@127.0.0.1:{closed}"),
        format!("redis://:sec/ret@127.0.0.1:{closed}"),
        "rediss://:secret@cache:6379".to_string(),
        "http://admin:secret@example.com/store".to_string(),
        "redis:/:secret@cache".to_string(),
    ];
    // The build runs its batch stages before it opens the store: two builds are enough.
    for url in &locations[..3] {
        let build = mlsysc(&["build", &path, "--online", url]);
        let printed = without_password(&build, &format!("build --online {url}"));
        assert_eq!(build.status.code(), Some(1), "{printed}");
        assert!(printed.contains("***"), "the error names the store: {printed}");
    }
    for url in &locations {
        for command in ["serve-features", "verify"] {
            let output = mlsysc(&[command, &path, "--online", url]);
            let printed = without_password(&output, &format!("{command} --online {url}"));
            assert_ne!(output.status.code(), Some(0), "{printed}");
            assert!(
                printed.contains("***"),
                "{command}: the error names the store: {printed}"
            );
        }
    }
    let _ = std::fs::remove_dir_all(&project);
}

/// clap shows an environment variable's value in `--help` unless told not to.
#[test]
fn help_never_shows_the_location_from_the_environment() {
    for command in ["build", "verify", "serve-features"] {
        let output = Command::new(env!("CARGO_BIN_EXE_mlsysc"))
            .args([command, "--help"])
            .env("MLSYS_ONLINE", "redis://:secret@cache:6379")
            .output()
            .expect("mlsysc runs");
        let printed = without_password(&output, &format!("{command} --help"));
        assert!(printed.contains("MLSYS_ONLINE"), "{printed}");
    }
}
