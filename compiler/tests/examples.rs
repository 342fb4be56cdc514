//! The example projects check without a single diagnostic, and their plans are sound.

use mlsys_compiler::compile;
use mlsys_compiler::render::plain;

use crate::support::{assert_plan_sound, read_project, repository_root};

#[test]
fn examples_check_clean() {
    let examples = repository_root().join("examples");
    let mut checked = 0;
    for entry in std::fs::read_dir(&examples).expect("examples/ exists") {
        let directory = entry.expect("readable entry").path();
        if !directory.is_dir() {
            continue;
        }
        let files = read_project(&directory);
        if files.is_empty() {
            continue;
        }
        let compilation = compile(&files);
        assert!(
            compilation.diagnostics.is_empty(),
            "{} should check clean:\n{}",
            directory.display(),
            plain(&compilation.diagnostics, &files)
        );
        assert_plan_sound(&compilation);
        checked += 1;
    }
    assert!(checked >= 1, "no example project found");
}
