//! The formatter: exact output on small inputs; and, on every example project and every test case,
//! idempotence, every comment kept, and the same meaning (diagnostic codes and plan hashes).

use std::collections::BTreeMap;
use std::path::Path;

use mlsys_compiler::compile;
use mlsys_compiler::diagnostic::Code;
use mlsys_compiler::format::format_source;
use mlsys_compiler::plan::print::feature_path;
use mlsys_compiler::source::{FileId, SourceFile};
use mlsys_compiler::syntax::parse_file;
use proptest::prelude::*;

use crate::support::{manifest_dir, read_project, repository_root};

// ---------------------------------------------------------------- the corpus

/// Every example project, and every ok and err case as a project of its own.
fn corpus() -> Vec<(String, Vec<SourceFile>)> {
    let mut projects = Vec::new();
    let examples = repository_root().join("examples");
    for entry in std::fs::read_dir(&examples).expect("examples/ exists") {
        let directory = entry.expect("readable entry").path();
        if directory.is_dir() {
            projects.push((directory.display().to_string(), read_project(&directory)));
        }
    }
    for kind in ["ok", "err"] {
        let directory = manifest_dir().join("tests/cases").join(kind);
        for file in read_project(&directory) {
            projects.push((format!("{kind}/{}", file.name), vec![file]));
        }
    }
    assert!(
        projects.len() > 40,
        "the corpus should hold the examples and every case"
    );
    projects
}

fn parses(file: &SourceFile) -> bool {
    file.invalid_utf8_at.is_none() && parse_file(FileId(0), &file.text).diagnostics.is_empty()
}

fn formatted(file: &SourceFile) -> SourceFile {
    let text = format_source(&file.text).unwrap_or_else(|errors| panic!("{} should format: {errors:#?}", file.name));
    SourceFile::new(file.name.clone(), text)
}

/// Feature path, `group@vN` and `contract NAME` → hash.
fn hashes(files: &[SourceFile]) -> Option<BTreeMap<String, String>> {
    let compilation = compile(files);
    let plan = compilation.plan.as_ref()?;
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
    Some(hashes)
}

fn codes(files: &[SourceFile]) -> Vec<Code> {
    let mut codes: Vec<Code> = compile(files)
        .diagnostics
        .iter()
        .map(|diagnostic| diagnostic.code)
        .collect();
    codes.sort();
    codes
}

/// Every comment's text, whitespace collapsed, sorted: scanned independently of the formatter.
fn comment_texts(text: &str) -> Vec<String> {
    let mut comments = Vec::new();
    let mut rest = text;
    while let Some(index) = rest.find(['"', '/']) {
        let tail = &rest[index..];
        let end = if let Some(string) = tail.strip_prefix('"') {
            string.find(['"', '\n']).map_or(tail.len(), |end| end + 2)
        } else if tail.starts_with("//") {
            tail.find('\n').unwrap_or(tail.len())
        } else if tail.starts_with("/*") {
            tail.find("*/").map_or(tail.len(), |end| end + 2)
        } else {
            1
        };
        let end = end.min(tail.len());
        if tail.starts_with("//") || tail.starts_with("/*") {
            comments.push(tail[..end].split_whitespace().collect::<Vec<_>>().join(" "));
        }
        rest = &tail[end..];
    }
    comments.sort();
    comments
}

/// The properties the formatter guarantees, checked on one project.
fn check_project(name: &str, files: &[SourceFile]) {
    let formatted: Vec<SourceFile> = files.iter().map(formatted).collect();
    for (original, once) in files.iter().zip(&formatted) {
        let twice = format_source(&once.text)
            .unwrap_or_else(|errors| panic!("{name}/{}: formatted text does not parse: {errors:#?}", once.name));
        assert_eq!(
            twice, once.text,
            "{name}/{}: formatting is not idempotent; first pass:\n{}",
            once.name, once.text
        );
        assert_eq!(
            comment_texts(&original.text),
            comment_texts(&once.text),
            "{name}/{}: comments changed",
            once.name
        );
    }
    assert_eq!(codes(files), codes(&formatted), "{name}: diagnostics changed");
    assert_eq!(hashes(files), hashes(&formatted), "{name}: plan hashes changed");
}

#[test]
fn formatting_is_idempotent_and_keeps_comments_diagnostics_and_hashes() {
    let mut checked = 0;
    for (name, files) in corpus() {
        if files.iter().all(parses) {
            check_project(&name, &files);
            checked += 1;
        }
    }
    assert!(checked > 30, "only {checked} projects parse");
}

/// The corpus again with a comment at the end of every line, block comments inside items and
/// declaration headers, and every `=` squeezed: the comment placement and the fallback to printing
/// an item as written are exercised everywhere.
#[test]
fn heavily_commented_projects_format_safely() {
    for (name, files) in corpus() {
        if !files.iter().all(parses) {
            continue;
        }
        let commented: Vec<SourceFile> = files
            .iter()
            .map(|file| SourceFile::new(file.name.clone(), with_comments_everywhere(&file.text)))
            .collect();
        for file in &commented {
            assert!(parses(file), "{name}: the commented text should parse:\n{}", file.text);
        }
        check_project(&format!("{name} (commented)"), &commented);
    }
}

fn with_comments_everywhere(text: &str) -> String {
    let mut out = String::new();
    for (number, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        let mut line = line.replace(" = ", "=");
        if number % 3 == 1 {
            line = with_comment_before_assignment(&line);
        }
        if number % 5 == 2
            && ["source ", "features ", "model "]
                .iter()
                .any(|keyword| trimmed.starts_with(keyword))
        {
            line = line.replacen(' ', " /* header */ ", 1);
        }
        out.push_str(&line);
        if !trimmed.starts_with("///") {
            out.push_str(&format!("   // note {number}"));
        }
        out.push('\n');
    }
    out
}

/// `key /* inside */ = value` for the first `=` of the line that is an assignment (not `==`, `<=`, `=>`).
fn with_comment_before_assignment(line: &str) -> String {
    let bytes = line.as_bytes();
    let assignment = (0..bytes.len()).find(|&index| {
        bytes[index] == b'='
            && !matches!(bytes.get(index + 1), Some(b'=' | b'>'))
            && index > 0
            && !matches!(bytes[index - 1], b'=' | b'<' | b'>' | b'!')
    });
    match assignment {
        Some(index) => format!("{} /* inside */ {}", &line[..index], &line[index..]),
        None => line.to_string(),
    }
}

#[test]
fn files_that_do_not_parse_are_refused_with_the_parse_diagnostics() {
    for text in [
        "entity {",
        "source s { format = }",
        "features f v1 { x = 99999999999999999999 }",
    ] {
        let expected = parse_file(FileId(0), text).diagnostics;
        assert!(!expected.is_empty());
        assert_eq!(format_source(text), Err(expected), "{text}");
    }
}

#[test]
fn whitespace_and_comments_alone_are_kept() {
    assert_eq!(format_source("").as_deref(), Ok(""));
    assert_eq!(format_source("  \n\n").as_deref(), Ok(""));
    assert_eq!(
        format_source("// a\n\n\n/* b */  // c\n").as_deref(),
        Ok("// a\n\n/* b */\n// c\n")
    );
}

// ---------------------------------------------------------------- exact output

fn format(text: &str) -> String {
    format_source(text).unwrap_or_else(|errors| panic!("should format: {errors:#?}"))
}

/// Formats `expression` as the value of a feature and returns the value as printed.
fn format_expression(expression: &str) -> String {
    let text = format(&format!("features f v1 {{\n  x = {expression}\n}}\n"));
    text.lines()
        .find_map(|line| line.strip_prefix("  x = "))
        .unwrap_or_else(|| panic!("no value in:\n{text}"))
        .to_string()
}

#[test]
fn spacing_is_normalised() {
    let text = "source   s{format=csv\nlocation =  \"x\",schema{a:int64,b : string?}}\n\n\n\nentity e{key  a:int64}";
    assert_eq!(
        format(text),
        "source s {\n  format = csv\n  location = \"x\"\n  schema { a: int64, b: string? }\n}\n\nentity e { key a: int64 }\n"
    );
    assert_eq!(
        format_expression("f( a,b ,c=1 )+[1,2]*g@v1.x"),
        "f(a, b, c = 1) + [1, 2] * g@v1.x"
    );
    assert_eq!(
        format_expression("count( )over 7d every 1h where a!=\"US\""),
        "count() over 7d every 1h where a != \"US\""
    );
    assert_eq!(
        format_expression("if a then 1 else if b then 2 else 3"),
        "if a then 1 else if b then 2 else 3"
    );
    assert_eq!(format_expression("x not in[1,2]"), "x not in [1, 2]");
}

#[test]
fn parentheses_stay_only_where_precedence_needs_them() {
    assert_eq!(format_expression("(a + b) * c"), "(a + b) * c");
    assert_eq!(format_expression("a + (b * c)"), "a + b * c");
    assert_eq!(format_expression("a - (b - c)"), "a - (b - c)");
    assert_eq!(format_expression("(a - b) - c"), "a - b - c");
    assert_eq!(
        format_expression("not (a and b) or (c == d)"),
        "not (a and b) or c == d"
    );
    assert_eq!(format_expression("-(a * b) + (-a) * b"), "-(a * b) + -a * b");
    assert_eq!(
        format_expression("(if a then 1 else 2) + 1"),
        "(if a then 1 else 2) + 1"
    );
    assert_eq!(
        format_expression("if a then 1 else (if b then 2 else 3)"),
        "if a then 1 else (if b then 2 else 3)"
    );
    assert_eq!(format_expression("(a + b) in [1]"), "a + b in [1]");
    assert_eq!(format_expression("(not a) in [true]"), "(not a) in [true]");
    assert_eq!(format_expression("((((1))))"), "1");
}

#[test]
fn literals_are_printed_canonically() {
    assert_eq!(format_expression("1_000 + 007"), "1000 + 7");
    assert_eq!(format_expression("[0.50, 1e3, 2.5E-7]"), "[0.5, 1000.0, 2.5e-7]");
    assert_eq!(format_expression("\"tab\\tq\\\"\\u{41}\""), "\"tab\\tq\\\"A\"");
    assert_eq!(format_expression("2026-01-01..2026-02-01"), "2026-01-01 .. 2026-02-01");
    assert_eq!(
        format_expression("count() over 1w every 90m"),
        "count() over 1w every 90m"
    );
}

#[test]
fn a_trailing_comment_stays_on_its_line() {
    let text = "features f v1 {\n  from     = s      // the source\n  x = 1 /* one */ // two\n}  // end\n";
    assert_eq!(
        format(text),
        "features f v1 {\n  from = s  // the source\n  x = 1  /* one */  // two\n}  // end\n"
    );
}

/// Found by proptest: a line comment ending in spaces once made its item look unplaceable.
#[test]
fn a_line_comment_ending_in_spaces_still_trails_its_item() {
    let text = "serve s {\n  timeout  = 20ms   // slow   \n}\n";
    assert_eq!(format(text), "serve s {\n  timeout = 20ms  // slow\n}\n");
}

#[test]
fn doc_comments_and_leading_comments_stay_above_their_item() {
    let text = "// header\n\n/// The group.\nfeatures f v1 {\n  from = s\n\n\n  // about x\n  /// Docs of x.\n  x = 1\n  /// dangling\n}\n// end of file\n";
    assert_eq!(
        format(text),
        "// header\n\n/// The group.\nfeatures f v1 {\n  from = s\n\n  // about x\n  /// Docs of x.\n  x = 1\n  /// dangling\n}\n// end of file\n"
    );
}

#[test]
fn a_comment_inside_an_expression_keeps_the_item_as_written() {
    let text = "features f v1 {\n  from=s\n      x = a +   // why\n          b\n}\n";
    assert_eq!(
        format(text),
        "features f v1 {\n  from = s\n  x = a +   // why\n      b\n}\n"
    );
}

#[test]
fn a_long_schema_is_broken_into_lines() {
    let columns: Vec<String> = (0..12).map(|index| format!("column_{index}: string")).collect();
    let text = format!("source s {{ schema {{ {} }} }}", columns.join(", "));
    let expected: String = columns.iter().map(|column| format!("    {column}\n")).collect();
    assert_eq!(format(&text), format!("source s {{\n  schema {{\n{expected}  }}\n}}\n"));
}

#[test]
fn a_block_written_over_lines_stays_over_lines() {
    let text = "serve api {\n  batching {\n    max_size = 32, max_wait = 2ms }\n}\n";
    assert_eq!(
        format(text),
        "serve api {\n  batching {\n    max_size = 32\n    max_wait = 2ms\n  }\n}\n"
    );
}

#[test]
fn long_lists_calls_and_if_chains_are_spread_over_lines() {
    let names: Vec<String> = (0..8).map(|index| format!("group_number_{index}@v1")).collect();
    let text = format!("model m {{ features = [{}] }}", names.join(", "));
    let expected: String = names.iter().map(|name| format!("    {name},\n")).collect();
    assert_eq!(
        format(&text),
        format!("model m {{\n  features = [\n{expected}  ]\n}}\n")
    );

    let chain = "if amount > 1000000 then 3 else if amount > 1000 then 2 else if amount > 100 then 1 else 0";
    assert_eq!(
        format_expression(&format!("({chain}) + 0")),
        format!("({chain}) + 0"),
        "an operand is never spread"
    );
    let text = format(&format!("features f v1 {{\n  a_long_feature_name = {chain}\n}}\n"));
    assert_eq!(
        text,
        "features f v1 {\n  a_long_feature_name = if amount > 1000000 then 3\n    else if amount > 1000 then 2\n    else if amount > 100 then 1\n    else 0\n}\n"
    );
}

#[test]
fn monitor_rules_keep_their_numbers() {
    let text = "monitor m on api {\n  drift psi>0.20 on [a@v1.x,b@v2] every 1d=>alert\n  metric auc over 7d<=1_0*baseline=>alert,retrain\n}\n";
    assert_eq!(
        format(text),
        "monitor m on api {\n  drift psi > 0.2 on [a@v1.x, b@v2] every 1d => alert\n  metric auc over 7d <= 10 * baseline => alert, retrain\n}\n"
    );
}

#[test]
fn clauses_are_written_in_the_canonical_order_without_changing_the_plan() {
    let text = fraud_text();
    let from = "count() over 30d every 1d where country != \"US\"";
    assert!(text.contains(from));
    let shuffled = text.replacen(from, "count()\n    where country!=\"US\" every 1d over 30d", 1);
    assert_eq!(format(&shuffled), format(&text));
    check_meaning_kept(&shuffled);
    assert_eq!(
        format_expression("x on k default false"),
        "x on k default false",
        "`on` before `default`"
    );
    assert_eq!(format_expression("x default false on k"), "x on k default false");
}

// ---------------------------------------------------------------- robustness

/// The deepest expressions the parser accepts format on a small (2 MiB) stack.
#[test]
fn deep_expressions_format_on_a_small_stack() {
    std::thread::Builder::new()
        .stack_size(2 * 1024 * 1024)
        .spawn(|| {
            let chain = vec!["a"; 190].join(" - ");
            let parentheses = format!("{}a{}", "(-".repeat(20), ")".repeat(20));
            for expression in [chain, parentheses] {
                let once = format_expression(&expression);
                assert_eq!(format_expression(&once), once);
            }
        })
        .expect("spawn")
        .join()
        .expect("formatting must not overflow a 2 MiB stack");
}

fn fraud_text() -> String {
    read_project(Path::new(&repository_root().join("examples/fraud")))
        .into_iter()
        .map(|file| file.text)
        .collect::<Vec<_>>()
        .join("\n")
}

/// What `format_source` promises for any text: no panic, and output that parses to itself.
fn check_any_text(text: &str) {
    if let Ok(once) = format_source(text) {
        assert_eq!(
            format_source(&once).as_deref(),
            Ok(once.as_str()),
            "not idempotent on:\n{text}"
        );
    }
}

/// Formatting `text`, if it parses, keeps its meaning, its comments, and is idempotent.
fn check_meaning_kept(text: &str) {
    let file = SourceFile::new("project.mlsys", text);
    if parses(&file) {
        check_project("mutated", &[file]);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_text_never_panics(text in "[a-z0-9_ {}()\\[\\]=<>!+*/.,:?@\"\\n-]{0,300}") {
        check_any_text(&text);
    }

    #[test]
    fn mutated_examples_format_idempotently(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), 0usize..3, "[ a-z0-9_{}()\\[\\]=,/*\"\\n-]"), 1..6)
    ) {
        let mut text = fraud_text();
        for (index, operation, inserted) in edits {
            let mut position = index.index(text.len() + 1);
            while !text.is_char_boundary(position) {
                position -= 1;
            }
            match operation {
                0 => {
                    let end = text[position..].chars().next().map_or(position, |c| position + c.len_utf8());
                    text.replace_range(position..end, "");
                }
                1 => text.insert_str(position, &inserted),
                _ => text.insert_str(position, &inserted.repeat(2)),
            }
        }
        check_any_text(&text);
    }

    #[test]
    fn comments_and_line_breaks_anywhere_keep_the_meaning(
        edits in proptest::collection::vec(
            (any::<prop::sample::Index>(), prop::sample::select(&["/* c */", "// c\n", "/*\n  c\n*/", "\n", "\n\n", "/// d\n"][..])),
            1..6,
        )
    ) {
        let mut text = fraud_text();
        for (index, inserted) in edits {
            let mut position = index.index(text.len() + 1);
            while !text.is_char_boundary(position) {
                position -= 1;
            }
            text.insert_str(position, inserted);
        }
        check_meaning_kept(&text);
    }
}
