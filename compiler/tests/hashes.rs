//! Canonical hashes: formatting, comments and declaration order never change them; changing one
//! expression changes exactly the features whose meaning changed.

use std::collections::BTreeMap;

use mlsys_compiler::compile;
use mlsys_compiler::plan::Plan;
use mlsys_compiler::plan::print::feature_path;
use mlsys_compiler::source::{FileId, SourceFile};
use mlsys_compiler::syntax::parse_file;

use crate::support::{read_project, repository_root};

fn fraud() -> Vec<SourceFile> {
    read_project(&repository_root().join("examples/fraud"))
}

/// Feature path → hash, plus `group@vN` → group hash.
fn hashes(files: &[SourceFile]) -> BTreeMap<String, String> {
    let compilation = compile(files);
    let plan: &Plan = compilation
        .plan
        .as_ref()
        .unwrap_or_else(|| panic!("project should compile: {:#?}", compilation.diagnostics));
    let mut hashes = BTreeMap::new();
    for (id, feature) in plan.features.iter() {
        hashes.insert(feature_path(plan, id), feature.hash.0.clone());
    }
    for (_, group) in plan.groups.iter() {
        hashes.insert(format!("{}@v{}", group.name, group.version), group.hash.0.clone());
    }
    for (_, contract) in plan.contracts.iter() {
        hashes.insert(format!("contract {}", contract.name), contract.hash.0.clone());
    }
    hashes
}

/// The same project with different spacing, extra comments, and every declaration in reverse order
/// in one file.
fn reformatted(files: &[SourceFile]) -> Vec<SourceFile> {
    let mut declarations = Vec::new();
    for (index, file) in files.iter().enumerate() {
        let parsed = parse_file(FileId(index as u32), &file.text);
        assert!(parsed.diagnostics.is_empty());
        for declaration in parsed.declarations {
            declarations.push(file.text[declaration.span.range()].to_string());
        }
    }
    declarations.reverse();
    let respaced: Vec<String> = declarations
        .iter()
        .map(|declaration| {
            let mut out = String::from("/* moved */\n");
            for line in declaration.lines() {
                let trimmed = line.trim();
                if trimmed.starts_with("///") {
                    out.push_str(trimmed);
                } else {
                    out.push_str("      ");
                    out.push_str(&trimmed.replace(" = ", "=").replace(", ", " ,  "));
                    if !trimmed.is_empty() && !trimmed.ends_with('{') {
                        out.push_str("   // note");
                    }
                }
                out.push('\n');
            }
            out
        })
        .collect();
    vec![SourceFile::new("all.mlsys", respaced.join("\n\n"))]
}

fn differing(before: &BTreeMap<String, String>, after: &BTreeMap<String, String>) -> Vec<String> {
    assert_eq!(
        before.keys().collect::<Vec<_>>(),
        after.keys().collect::<Vec<_>>(),
        "the same features should exist"
    );
    before
        .iter()
        .filter(|(key, hash)| after.get(*key) != Some(hash))
        .map(|(key, _)| key.clone())
        .collect()
}

fn edit(files: &[SourceFile], from: &str, to: &str) -> Vec<SourceFile> {
    let mut found = false;
    let edited = files
        .iter()
        .map(|file| {
            if file.text.contains(from) {
                found = true;
            }
            SourceFile::new(file.name.clone(), file.text.replacen(from, to, 1))
        })
        .collect();
    assert!(found, "`{from}` is not in the example");
    edited
}

#[test]
fn formatting_comments_and_order_keep_every_hash() {
    let files = fraud();
    let original = hashes(&files);
    let moved = hashes(&reformatted(&files));
    assert_eq!(differing(&original, &moved), Vec::<String>::new());
}

#[test]
fn changing_one_expression_changes_exactly_that_feature() {
    let files = fraud();
    let original = hashes(&files);
    let edited = hashes(&edit(&files, "ln(1 + amount)", "ln(2 + amount)"));
    assert_eq!(
        differing(&original, &edited),
        vec!["txn_signals@v2".to_string(), "txn_signals@v2.amount_log".to_string()]
    );
}

#[test]
fn changing_a_window_changes_the_feature_and_its_dependents() {
    let files = fraud();
    let original = hashes(&files);
    let edited = hashes(&edit(
        &files,
        "avg(amount) over 30d every 1d",
        "avg(amount) over 28d every 1d",
    ));
    assert_eq!(
        differing(&original, &edited),
        vec![
            "txn_signals@v2".to_string(),
            "txn_signals@v2.amount_vs_avg".to_string(),
            "user_activity@v1".to_string(),
            "user_activity@v1.avg_amount_30d".to_string(),
        ]
    );
}

#[test]
fn changing_a_column_type_changes_the_features_reading_it() {
    let files = fraud();
    let original = hashes(&files);
    let edited = hashes(&edit(&files, "country: string\n", "country: string?\n"));
    let changed = differing(&original, &edited);
    assert!(changed.contains(&"txn_signals@v2.foreign".to_string()), "{changed:?}");
    assert!(
        changed.contains(&"user_activity@v1.countries_30d".to_string()),
        "{changed:?}"
    );
    assert!(
        !changed.contains(&"user_activity@v1.txn_count_7d".to_string()),
        "{changed:?}"
    );
}

#[test]
fn renaming_a_feature_changes_its_hash_but_not_unrelated_ones() {
    let files = fraud();
    let original = hashes(&files);
    let edited = hashes(&edit(&files, "night =", "late_night ="));
    let changed: Vec<String> = edited
        .keys()
        .filter(|key| !original.contains_key(*key))
        .cloned()
        .collect();
    assert_eq!(changed, vec!["txn_signals@v2.late_night".to_string()]);
    assert_eq!(original["user_activity@v1"], edited["user_activity@v1"]);
}
