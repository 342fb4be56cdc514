//! Front-end benchmarks: parsing and checking a generated project of about 10,000 lines.

#[path = "generate.rs"]
mod generate;

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mlsys_compiler::diagnostic::Diagnostic;
use mlsys_compiler::source::{FileId, SourceFile};
use mlsys_compiler::syntax::parse_file;

const TARGET_LINES: usize = 10_000;

/// The generated project, after making sure it checks without errors: timing a project that fails
/// early would measure the wrong thing.
fn checked_project() -> Vec<SourceFile> {
    let files: Vec<SourceFile> = generate::generate_project(TARGET_LINES)
        .into_iter()
        .map(|(name, text)| SourceFile::new(name, text))
        .collect();
    let compilation = mlsys_compiler::compile(&files);
    let (errors, warnings): (Vec<&Diagnostic>, Vec<&Diagnostic>) = compilation
        .diagnostics
        .iter()
        .partition(|diagnostic| diagnostic.is_error());
    for diagnostic in errors.iter().chain(&warnings).take(5) {
        eprintln!("{}", describe(diagnostic, &files));
    }
    assert!(
        errors.is_empty(),
        "the generated project has {} errors (first ones above); fix benches/generate.rs",
        errors.len()
    );
    println!(
        "generated project: {} files, {} lines, {} warnings",
        files.len(),
        line_count(&files),
        warnings.len()
    );
    files
}

fn line_count(files: &[SourceFile]) -> usize {
    files.iter().map(|file| file.text.lines().count()).sum()
}

/// `file:line: CODE message`, enough to find the generator bug without a renderer.
fn describe(diagnostic: &Diagnostic, files: &[SourceFile]) -> String {
    let span = diagnostic.primary_span();
    let (name, line) = match files.get(span.file.0 as usize) {
        Some(file) => {
            let before = file.text.get(..span.start as usize).unwrap_or_default();
            (file.name.as_str(), before.matches('\n').count() + 1)
        }
        None => ("?", 0),
    };
    format!("{name}:{line}: {} {}", diagnostic.code.as_str(), diagnostic.message)
}

fn bench_front_end(criterion: &mut Criterion) {
    let files = checked_project();
    let lines = u64::try_from(line_count(&files)).expect("line count fits in u64");
    let file_ids: Vec<FileId> = (0..files.len())
        .map(|index| FileId(u32::try_from(index).expect("fewer than 2^32 files")))
        .collect();

    let mut check = criterion.benchmark_group("check");
    check.throughput(Throughput::Elements(lines));
    check.bench_function("10k_lines", |bencher| {
        bencher.iter(|| mlsys_compiler::compile(black_box(&files)));
    });
    check.finish();

    let mut parse = criterion.benchmark_group("parse");
    parse.throughput(Throughput::Elements(lines));
    parse.bench_function("10k_lines", |bencher| {
        bencher.iter(|| {
            for (file, id) in files.iter().zip(&file_ids) {
                black_box(parse_file(*id, black_box(&file.text)));
            }
        });
    });
    parse.finish();
}

criterion_group!(benches, bench_front_end);
criterion_main!(benches);
