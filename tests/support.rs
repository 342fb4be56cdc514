//! Helpers shared by the CLI tests: temporary copies of the example project.

use std::path::{Path, PathBuf};

/// Copies examples/fraud's `.mlsys` files into `directory` (created if needed).
pub fn copy_fraud_spec(directory: &Path) {
    copy_spec("fraud", directory);
}

/// Copies examples/`example`'s `.mlsys` files into `directory` (created if needed).
fn copy_spec(example: &str, directory: &Path) {
    std::fs::create_dir_all(directory).expect("directory");
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples").join(example);
    for entry in std::fs::read_dir(example).expect("example") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|extension| extension == "mlsys") {
            std::fs::copy(&path, directory.join(path.file_name().expect("name"))).expect("copy");
        }
    }
}

/// A fresh, empty temporary project directory.
fn temporary_project(name: &str) -> PathBuf {
    let root = std::env::temp_dir().join(format!("mlsysc-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    root
}

/// A fresh temporary project: the fraud example's spec and its generated data (default seed).
pub fn fraud_project(name: &str) -> PathBuf {
    let root = temporary_project(name);
    copy_fraud_spec(&root);
    let data = mlsys_example_data::fraud::generate(&mlsys_example_data::fraud::FraudConfig::default());
    mlsys_example_data::fraud::write(&data, &root).expect("data");
    root
}

/// A fresh temporary project: the forecast example's spec and its generated data (default seed).
pub fn forecast_project(name: &str) -> PathBuf {
    let root = temporary_project(name);
    copy_spec("forecast", &root);
    let data = mlsys_example_data::forecast::generate(&mlsys_example_data::forecast::ForecastConfig::default());
    mlsys_example_data::forecast::write(&data, &root).expect("data");
    root
}
