//! Paths in a spec at build: a location must be a folder and stay inside the project once symbolic
//! links are resolved; `onnx("PATH")` reads only a regular file, inside the project unless the path
//! is absolute. (`..` above the project is refused by the checker: `E0113`.)

use std::path::Path;

use crate::train::{external_project, mlsysc, small_project, text, versions};

/// Builds `project`, expecting failure with every fragment in the output.
fn build_fails(project: &Path, fragments: &[&str]) {
    let build = mlsysc(project, &["build"]);
    let output = text(&build);
    assert_eq!(build.status.code(), Some(1), "{output}");
    for fragment in fragments {
        assert!(output.contains(fragment), "`{fragment}` in {output}");
    }
}

/// A directory beside the test's projects, removed first.
fn outside(name: &str) -> std::path::PathBuf {
    let directory = std::env::temp_dir().join(format!("mlsysc-outside-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&directory);
    std::fs::create_dir_all(&directory).expect("a directory outside the project");
    directory
}

#[test]
fn a_location_that_is_a_file_fails_the_build() {
    let project = small_project("location-file", "2026-03-02 .. 2026-03-02", "", true);
    let payments = project.join("data/payments");
    let file = std::fs::read_to_string(payments.join("dt=2026-03-02/part-0.csv")).expect("the data");
    std::fs::remove_dir_all(&payments).expect("remove the folder");
    std::fs::write(&payments, file).expect("a file where the folder was");
    build_fails(&project, &["payments", "is a file, not a folder"]);
    let _ = std::fs::remove_dir_all(project);
}

#[test]
fn a_relative_location_leaving_the_project_through_a_symlink_fails_the_build() {
    let project = small_project("location-symlink", "2026-03-02 .. 2026-03-02", "", true);
    let elsewhere = outside("location-symlink");
    let payments = project.join("data/payments");
    std::fs::rename(&payments, elsewhere.join("payments")).expect("move the data out");
    std::os::unix::fs::symlink(elsewhere.join("payments"), &payments).expect("link it back");
    build_fails(
        &project,
        &["leads out of the project directory through a symbolic link"],
    );
    let _ = std::fs::remove_dir_all(project);
    let _ = std::fs::remove_dir_all(elsewhere);
}

#[test]
fn onnx_reads_only_regular_files_inside_the_project() {
    // A device would be read until memory runs out: refused before reading.
    let project = external_project("onnx-device", r#"onnx("/dev/zero")"#);
    build_fails(&project, &["/dev/zero", "is not a regular file"]);
    assert!(versions(&project, "disputes_model").is_empty());
    let _ = std::fs::remove_dir_all(project);

    let project = external_project("onnx-symlink", r#"onnx("models/scorer.onnx")"#);
    let elsewhere = outside("onnx-symlink");
    std::fs::write(elsewhere.join("secret.txt"), "not a model").expect("a file outside");
    std::fs::create_dir_all(project.join("models")).expect("models");
    std::os::unix::fs::symlink(elsewhere.join("secret.txt"), project.join("models/scorer.onnx")).expect("a link");
    build_fails(
        &project,
        &["leads out of the project directory through a symbolic link"],
    );
    let _ = std::fs::remove_dir_all(project);
    let _ = std::fs::remove_dir_all(elsewhere);
}
