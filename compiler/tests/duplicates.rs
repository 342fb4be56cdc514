//! Duplicate declarations across files: every declaration kind, copied into another file of the
//! fraud example, is `E0105` at the later copy with the first one as secondary label; the first
//! declaration is the one that counts.

use mlsys_compiler::compile;
use mlsys_compiler::diagnostic::{Code, Diagnostic};
use mlsys_compiler::source::{FileId, SourceFile, Span};
use mlsys_compiler::syntax::ast::DeclarationKind;
use mlsys_compiler::syntax::parse_file;

use crate::support::{read_project, repository_root};

/// One declaration of the example: its kind, its text and where its name is.
struct Original {
    kind: DeclarationKind,
    text: String,
    name: Span,
}

fn fraud() -> Vec<SourceFile> {
    read_project(&repository_root().join("examples/fraud"))
}

fn originals(files: &[SourceFile]) -> Vec<Original> {
    let mut originals = Vec::new();
    for (index, file) in files.iter().enumerate() {
        let parsed = parse_file(FileId(index as u32), &file.text);
        assert!(parsed.diagnostics.is_empty(), "{:?}", parsed.diagnostics);
        for declaration in parsed.declarations {
            originals.push(Original {
                kind: declaration.kind,
                text: file.text[declaration.span.range()].to_string(),
                name: declaration.name.span,
            });
        }
    }
    originals
}

fn duplicates(diagnostics: &[Diagnostic]) -> Vec<&Diagnostic> {
    diagnostics
        .iter()
        .filter(|diagnostic| diagnostic.code == Code::DuplicateDeclaration)
        .collect()
}

fn secondary(diagnostic: &Diagnostic) -> Option<Span> {
    diagnostic
        .labels
        .iter()
        .find(|label| !label.primary)
        .map(|label| label.span)
}

#[test]
fn every_kind_copied_into_a_later_file_is_a_duplicate() {
    let files = fraud();
    let originals = originals(&files);
    for kind in DeclarationKind::ALL {
        assert!(
            originals.iter().any(|original| original.kind == kind),
            "the fraud example has no {}",
            kind.noun()
        );
    }
    for original in &originals {
        let mut project = files.clone();
        // `zz_` sorts after every file of the example: the copy is the later declaration.
        project.push(SourceFile::new("zz_copy.mlsys", original.text.clone()));
        let compilation = compile(&project);
        let found = duplicates(&compilation.diagnostics);
        assert_eq!(
            found.len(),
            1,
            "{} copied: {:#?}",
            original.kind.noun(),
            compilation.diagnostics
        );
        assert_eq!(
            found[0].primary_span().file,
            FileId(files.len() as u32),
            "the copy is reported"
        );
        assert_eq!(secondary(found[0]), Some(original.name), "the original is the first");
        assert!(compilation.plan.is_none());
    }
}

#[test]
fn a_feature_group_version_in_two_files_is_reported_at_the_later_file() {
    let files = fraud();
    let group = originals(&files)
        .into_iter()
        .find(|original| original.kind == DeclarationKind::Features && original.text.contains("user_activity v1"))
        .expect("the example declares user_activity v1");
    // `aa_` sorts before every file of the example: the copy is the first declaration.
    let mut project = vec![SourceFile::new(
        "aa_copy.mlsys",
        group.text.replace("7d every", "14d every"),
    )];
    project.extend(files.iter().cloned());
    let compilation = compile(&project);
    let found = duplicates(&compilation.diagnostics);
    assert_eq!(found.len(), 1, "{:#?}", compilation.diagnostics);
    let shifted = |span: Span| Span {
        file: FileId(span.file.0 + 1),
        ..span
    };
    assert_eq!(found[0].primary_span(), shifted(group.name));
    assert_eq!(
        secondary(found[0]).map(|span| span.file),
        Some(FileId(0)),
        "the copy in aa_copy.mlsys is the first declaration"
    );
    assert!(found[0].message.contains("`user_activity` v1"), "{}", found[0].message);
    assert!(compilation.plan.is_none());
}
