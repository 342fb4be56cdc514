//! Helpers shared by the compiler tests: compiling text, rendering, locating test data.

use std::path::{Path, PathBuf};

use mlsys_compiler::source::SourceFile;
use mlsys_compiler::{Compilation, compile};

pub fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn repository_root() -> PathBuf {
    manifest_dir()
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(manifest_dir)
}

/// Reads every `.mlsys` file of a directory, sorted by name.
pub fn read_project(directory: &Path) -> Vec<SourceFile> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(directory)
        .unwrap_or_else(|error| panic!("reading {}: {error}", directory.display()))
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.extension().is_some_and(|extension| extension == "mlsys"))
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|path| {
            let bytes = std::fs::read(path).unwrap_or_else(|error| panic!("reading {}: {error}", path.display()));
            let name = path
                .file_name()
                .map(|name| name.to_string_lossy().into_owned())
                .unwrap_or_default();
            SourceFile::from_bytes(name, bytes)
        })
        .collect()
}

pub fn compile_text(text: &str) -> Compilation {
    compile(&[SourceFile::new("test.mlsys", text)])
}

/// Asserts the plan of a clean compilation verifies and survives a JSON round trip.
pub fn assert_plan_sound(compilation: &Compilation) {
    let plan = compilation.plan.as_ref().expect("a clean compilation has a plan");
    let errors = mlsys_compiler::plan::verify::verify(plan);
    assert!(errors.is_empty(), "plan does not verify: {errors:#?}");
    let json = serde_json::to_string(plan).expect("plans serialise");
    let back: mlsys_compiler::plan::Plan = serde_json::from_str(&json).expect("plans deserialise");
    assert_eq!(&back, plan, "JSON round trip changed the plan");
}
