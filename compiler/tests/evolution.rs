//! Data-driven evolution cases: `cases/evolution/CODE_name/{base,current}.mlsys`. The lock is
//! written from the base, then the current side is checked against that lock and compared with the
//! base; `CODE` must be among the findings (rendered diagnostics are snapshotted).

use std::path::PathBuf;

use mlsys_compiler::compile;
use mlsys_compiler::evolution::{Side, compare};
use mlsys_compiler::lock::{Lock, check as check_lock};
use mlsys_compiler::render::plain;
use mlsys_compiler::source::SourceFile;
use mlsys_compiler::syntax::literal::parse_date;

use crate::support::manifest_dir;

/// The date the cases are judged on.
const TODAY: &str = "2026-12-01";

pub fn case_directories() -> Vec<PathBuf> {
    let root = manifest_dir().join("tests/cases/evolution");
    let mut directories: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("evolution cases exist")
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.is_dir())
        .collect();
    directories.sort();
    directories
}

fn read(path: PathBuf, name: &str) -> SourceFile {
    SourceFile::new(
        name,
        std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display())),
    )
}

#[test]
fn evolution_cases_report_their_code() {
    let today = parse_date(TODAY).expect("valid date");
    let mut failures = Vec::new();
    for directory in case_directories() {
        let name = directory
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default();
        let code = name.split('_').next().unwrap_or_default().to_string();
        let current = vec![read(directory.join("current.mlsys"), "current.mlsys")];
        let base = vec![read(directory.join("base.mlsys"), "base.mlsys")];
        let current_compilation = compile(&current);
        let base_compilation = compile(&base);
        let (Some(current_plan), Some(base_plan)) = (&current_compilation.plan, &base_compilation.plan) else {
            failures.push(format!(
                "{name}: both sides must check clean:\n{}{}",
                plain(&current_compilation.diagnostics, &current),
                plain(&base_compilation.diagnostics, &base)
            ));
            continue;
        };
        let mut findings = check_lock(current_plan, &current_compilation.index, &Lock::of(base_plan));
        findings.extend(compare(
            Side {
                plan: base_plan,
                index: &base_compilation.index,
            },
            Side {
                plan: current_plan,
                index: &current_compilation.index,
            },
            1,
            today,
        ));
        let files = [current.clone(), base.clone()].concat();
        let rendered = plain(&findings, &files);
        if !findings.iter().any(|finding| finding.code.as_str() == code) {
            failures.push(format!("{name} should report {code}, got:\n{rendered}"));
            continue;
        }
        insta::with_settings!({
            snapshot_path => manifest_dir().join("tests/snapshots/evolution"),
            prepend_module_to_snapshot => false,
            omit_expression => true,
        }, {
            insta::assert_snapshot!(name.clone(), rendered);
        });
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn an_unchanged_project_has_no_findings() {
    let directory = case_directories().into_iter().next().expect("a case");
    let base = vec![read(directory.join("base.mlsys"), "base.mlsys")];
    let compilation = compile(&base);
    let plan = compilation.plan.as_ref().expect("clean");
    let side = || Side {
        plan,
        index: &compilation.index,
    };
    assert!(compare(side(), side(), 1, 0).is_empty());
    assert!(check_lock(plan, &compilation.index, &Lock::of(plan)).is_empty());
}

#[test]
fn lock_files_round_trip_and_reject_corruption() {
    let directory = case_directories().into_iter().next().expect("a case");
    let compilation = compile(&[read(directory.join("base.mlsys"), "base.mlsys")]);
    let lock = Lock::of(compilation.plan.as_ref().expect("clean"));
    let text = lock.render();
    assert_eq!(Lock::parse(&text).expect("parses"), lock);
    let corrupt = [
        (text.replacen("lock-version = 1", "lock-version = 7", 1), 3),
        (text.replacen("[features]", "[feature]", 1), 5),
        (format!("{text}\ngarbage line\n"), text.lines().count() + 2),
        (
            text.replacen("@v1 = ", "@v1 = zz", 1),
            text.lines()
                .position(|line| line.contains("@v1 = "))
                .map_or(0, |index| index + 1),
        ),
        ("[features]\n".to_string(), 1),
    ];
    for (bad, line) in corrupt {
        let error = Lock::parse(&bad).expect_err("corrupt lock must not parse");
        assert_eq!(error.line, line, "{error}");
    }
}
