//! The symbol index answers "what is this name?" at any position, for hover and go-to-definition.

use mlsys_compiler::compile;
use mlsys_compiler::index::SymbolKind;
use mlsys_compiler::source::FileId;

use crate::support::{read_project, repository_root};

/// Byte offset of the `occurrence`-th `needle` in file `name` of the fraud example (plus `shift`).
fn position(
    files: &[mlsys_compiler::source::SourceFile],
    name: &str,
    needle: &str,
    occurrence: usize,
) -> (FileId, u32) {
    let index = files.iter().position(|file| file.name == name).expect("file exists");
    let offset = files[index]
        .text
        .match_indices(needle)
        .nth(occurrence)
        .map(|(offset, _)| offset)
        .unwrap_or_else(|| panic!("`{needle}` occurrence {occurrence} not in {name}"));
    (FileId(index as u32), offset as u32 + 1)
}

#[test]
fn references_resolve_to_their_definitions() {
    let files = read_project(&repository_root().join("examples/fraud"));
    let compilation = compile(&files);
    let index = &compilation.index;

    let (file, offset) = position(&files, "features.mlsys", "user_activity@v1.avg_amount_30d", 0);
    let group = index.at(file, offset).expect("a symbol at the group reference");
    assert_eq!(group.kind, SymbolKind::FeatureGroup);
    assert_eq!(group.name, "user_activity@v1");

    let (file, offset) = position(&files, "features.mlsys", "avg_amount_30d, 0.0", 0);
    let feature = index.at(file, offset).expect("a symbol at the feature reference");
    assert_eq!(feature.kind, SymbolKind::Feature);
    assert_eq!(feature.name, "user_activity@v1.avg_amount_30d");
    assert!(
        feature.detail.starts_with("float64? · avg over 30d every 1d"),
        "{}",
        feature.detail
    );
    assert!(feature.feature.is_some());
    let definition = &files[feature.span.file.0 as usize].text[feature.span.range()];
    assert_eq!(definition, "avg_amount_30d");

    let (file, offset) = position(&files, "features.mlsys", "amount)", 0);
    let column = index.at(file, offset).expect("a symbol at the column");
    assert_eq!(column.kind, SymbolKind::Column);
    assert_eq!(column.name, "transactions.amount");
    assert!(
        column.detail.contains("required by contract `transactions_v1`"),
        "{}",
        column.detail
    );

    let merchant = index.named("transactions.merchant").expect("merchant column");
    assert!(
        merchant.detail.contains("deprecated since 2026-11-01"),
        "{}",
        merchant.detail
    );

    let (file, offset) = position(&files, "model.mlsys", "fraud_detector@production", 0);
    let model = index.at(file, offset).expect("a symbol at the model reference");
    assert_eq!(model.kind, SymbolKind::Model);
    assert_eq!(
        model.doc.as_deref(),
        Some("Scores a payment's probability of being reported as fraud.")
    );
}

#[test]
fn the_index_survives_errors() {
    let text = "source s { format = csv location = \"x\" schema { a: int64 } }\nfeatures g v1 { from = s\n x = a + nope\n y = a * 2 }\n";
    let compilation = mlsys_compiler::compile(&[mlsys_compiler::source::SourceFile::new("t.mlsys", text)]);
    assert!(compilation.has_errors());
    let offset = text.find("a * 2").expect("present") as u32;
    let symbol = compilation
        .index
        .at(FileId(0), offset)
        .expect("column symbol despite the error");
    assert_eq!(symbol.name, "s.a");
}
