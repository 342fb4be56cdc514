//! Content-addressed artifacts: naming, atomic writes, reuse, verification.

use mlsys_registry::{RegistryError, read_artifact, sha256_hex, store_artifact};

use crate::support::TempDir;

#[test]
fn sha256_matches_the_standard_vectors() {
    assert_eq!(
        sha256_hex(b""),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    assert_eq!(
        sha256_hex(b"abc"),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
}

fn file_names(directory: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(directory)
        .expect("list")
        .map(|entry| entry.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn artifacts_are_named_by_content_and_reused() {
    let directory = TempDir::new("artifacts");
    let store = directory.path().join("nested").join("artifacts");
    let artifact = store_artifact(&store, b"model bytes").expect("store");
    assert_eq!(artifact.sha256, sha256_hex(b"model bytes"));
    assert_eq!(artifact.bytes, 11);
    let path = std::path::Path::new(&artifact.path);
    assert!(path.is_absolute());
    assert_eq!(
        path.file_name().and_then(|name| name.to_str()),
        Some(artifact.sha256.as_str())
    );
    assert_eq!(std::fs::read(path).expect("read"), b"model bytes");

    let modified = std::fs::metadata(path).expect("metadata").modified().expect("time");
    let again = store_artifact(&store, b"model bytes").expect("store again");
    assert_eq!(again, artifact);
    assert_eq!(
        std::fs::metadata(path).expect("metadata").modified().expect("time"),
        modified
    );

    let other = store_artifact(&store, b"other model").expect("store other");
    assert_ne!(other.path, artifact.path);
    // No temporary files are left behind.
    let mut expected = vec![artifact.sha256.clone(), other.sha256.clone()];
    expected.sort();
    assert_eq!(file_names(&store), expected);
    assert_eq!(read_artifact(&other).expect("read other"), b"other model");
}

#[test]
fn damaged_artifacts_are_detected_and_replaced() {
    let directory = TempDir::new("artifacts-damaged");
    let artifact = store_artifact(directory.path(), b"model bytes").expect("store");
    std::fs::write(&artifact.path, b"model bytez").expect("damage");
    let error = read_artifact(&artifact).expect_err("damaged");
    assert!(matches!(error, RegistryError::ArtifactMismatch { .. }), "{error}");
    assert!(error.to_string().contains(&artifact.sha256));

    // Storing the same content again repairs the file.
    store_artifact(directory.path(), b"model bytes").expect("store again");
    assert_eq!(read_artifact(&artifact).expect("read"), b"model bytes");

    std::fs::remove_file(&artifact.path).expect("remove");
    assert!(matches!(read_artifact(&artifact), Err(RegistryError::Io { .. })));
}
