//! Data-driven cases: `cases/ok/*.mlsys` must check clean (their plan text is snapshotted);
//! `cases/err/CODE_*.mlsys` must report `CODE` (their rendered diagnostics are snapshotted).

use std::path::PathBuf;

use mlsys_compiler::compile;
use mlsys_compiler::diagnostic::Code;
use mlsys_compiler::plan::print::plan_text;
use mlsys_compiler::render::plain;

use crate::support::{assert_plan_sound, manifest_dir, read_project};

fn case_files(kind: &str) -> Vec<PathBuf> {
    let directory = manifest_dir().join("tests/cases").join(kind);
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&directory)
        .unwrap_or_else(|error| panic!("reading {}: {error}", directory.display()))
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.extension().is_some_and(|extension| extension == "mlsys"))
        .collect();
    paths.sort();
    assert!(!paths.is_empty(), "no cases in {}", directory.display());
    paths
}

fn stem(path: &std::path::Path) -> String {
    path.file_stem()
        .map(|stem| stem.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Snapshots `output` below the case's source, so a reviewer reads both together.
fn snapshot(kind: &str, name: &str, source: &str, output: &str) {
    let body = format!("{source}\n----- {kind} -----\n{output}");
    insta::with_settings!({
        snapshot_path => manifest_dir().join("tests/snapshots").join(kind),
        prepend_module_to_snapshot => false,
        omit_expression => true,
    }, {
        insta::assert_snapshot!(name.to_string(), body);
    });
}

fn single_file(path: &std::path::Path) -> Vec<mlsys_compiler::source::SourceFile> {
    let directory = path.parent().expect("case files live in a directory");
    read_project(directory)
        .into_iter()
        .filter(|file| Some(file.name.as_str()) == path.file_name().and_then(|name| name.to_str()))
        .collect()
}

#[test]
fn ok_cases_check_clean() {
    for path in case_files("ok") {
        let files = single_file(&path);
        let compilation = compile(&files);
        assert!(
            compilation.diagnostics.is_empty(),
            "{} should check clean:\n{}",
            path.display(),
            plain(&compilation.diagnostics, &files)
        );
        assert_plan_sound(&compilation);
        let plan = compilation.plan.as_ref().expect("clean cases have a plan");
        snapshot("ok", &stem(&path), &files[0].text, &plan_text(plan));
    }
}

#[test]
fn err_cases_report_their_code() {
    let mut missing = Vec::new();
    for path in case_files("err") {
        let files = single_file(&path);
        let compilation = compile(&files);
        let name = stem(&path);
        let code = name.split('_').next().unwrap_or_default();
        if !compilation
            .diagnostics
            .iter()
            .any(|diagnostic| diagnostic.code.as_str() == code)
        {
            missing.push(format!(
                "{} should report {code}, got:\n{}",
                path.display(),
                plain(&compilation.diagnostics, &files)
            ));
            continue;
        }
        if code.starts_with('E') {
            assert!(
                compilation.plan.is_none(),
                "{}: a project with errors must not get a plan",
                path.display()
            );
        }
        snapshot("err", &name, &files[0].text, &plain(&compilation.diagnostics, &files));
    }
    assert!(missing.is_empty(), "{}", missing.join("\n"));
}

#[test]
fn every_code_has_an_err_case_and_a_spec_entry() {
    let mut cases: Vec<String> = case_files("err").iter().map(|path| stem(path)).collect();
    cases.extend(crate::evolution::case_directories().iter().map(|path| stem(path)));
    let spec = std::fs::read_to_string(manifest_dir().join("../lang-spec/diagnostics.md"))
        .expect("lang-spec/diagnostics.md exists");
    for code in Code::ALL {
        let text = code.as_str();
        // `09xx` codes report drift in live data (`check --data`): tests/data.rs in the CLI covers them.
        let needs_data = text[1..].starts_with("09");
        assert!(
            needs_data || cases.iter().any(|case| case.starts_with(&format!("{text}_"))),
            "no err or evolution case for {text}"
        );
        assert!(
            spec.contains(&format!("## {text}")),
            "lang-spec/diagnostics.md has no entry for {text}"
        );
    }
}
