//! The front end never panics and never hangs, whatever it is given.

use mlsys_compiler::compile;
use mlsys_compiler::diagnostic::Code;
use mlsys_compiler::source::SourceFile;
use proptest::prelude::*;

use crate::support::{compile_text, read_project, repository_root};

/// Runs `body` on a thread with a small (2 MiB) stack, like a test or server worker thread.
fn on_small_stack(body: impl FnOnce() + Send + 'static) {
    std::thread::Builder::new()
        .stack_size(2 * 1024 * 1024)
        .spawn(body)
        .expect("spawn")
        .join()
        .expect("the front end must not overflow a 2 MiB stack");
}

fn codes(text: &str) -> Vec<Code> {
    compile_text(text)
        .diagnostics
        .iter()
        .map(|diagnostic| diagnostic.code)
        .collect()
}

fn in_feature(expression: &str) -> String {
    format!(
        "source s {{ format = csv location = \"x\" schema {{ a: int64 }} }}\nfeatures g v1 {{ from = s\n x = {expression}\n}}\n"
    )
}

#[test]
fn deep_parentheses_are_refused_not_overflowed() {
    on_small_stack(|| {
        let text = in_feature(&format!("{}1{}", "(".repeat(5_000), ")".repeat(5_000)));
        assert!(codes(&text).contains(&Code::TooDeep));
    });
}

#[test]
fn long_operator_chains_are_refused_not_overflowed() {
    on_small_stack(|| {
        let chain = vec!["a"; 50_000].join(" + ");
        assert!(codes(&in_feature(&chain)).contains(&Code::TooDeep));
    });
}

#[test]
fn long_prefix_runs_are_refused_not_overflowed() {
    on_small_stack(|| {
        let text = in_feature(&format!("{}a", "- ".repeat(20_000)));
        assert!(codes(&text).contains(&Code::TooDeep));
        let text = in_feature(&format!("{}true", "not ".repeat(20_000)));
        assert!(codes(&text).contains(&Code::TooDeep));
    });
}

#[test]
fn long_else_if_chains_are_fine() {
    on_small_stack(|| {
        let mut expression = String::new();
        for index in 0..2_000 {
            expression.push_str(&format!("if a == {index} then {index} else "));
        }
        expression.push('0');
        let compilation = compile_text(&in_feature(&expression));
        assert!(!compilation.has_errors(), "{:?}", compilation.diagnostics);
    });
}

#[test]
fn huge_literals_are_errors() {
    assert!(codes(&in_feature("99999999999999999999999")).contains(&Code::InvalidLiteral));
    assert!(codes(&in_feature("1e999")).contains(&Code::InvalidLiteral));
    assert!(codes(&in_feature("99999999999999999999d")).contains(&Code::InvalidLiteral));
    let long_string = format!("\"{}\"", "x".repeat(1_000_000));
    compile_text(&in_feature(&long_string));
}

#[test]
fn invalid_utf8_is_reported_with_its_offset() {
    let file = SourceFile::from_bytes("bad.mlsys", b"source s {\xff\xfe }".to_vec());
    let compilation = compile(&[file]);
    assert_eq!(compilation.diagnostics.len(), 1);
    assert_eq!(compilation.diagnostics[0].code, Code::InvalidUtf8);
    assert_eq!(compilation.diagnostics[0].primary_span().start, 10);
}

#[test]
fn parse_errors_recover_at_the_next_declaration() {
    let text = "source a { format = }\nsource b { format = csv location = \"x\" schema { k: string } }\nentity e { key k: string\nentity f { key q: string }\nfeatures g v1 { from = b\n  x = k +\n}\n";
    let compilation = compile_text(text);
    let syntax_errors = compilation
        .diagnostics
        .iter()
        .filter(|diagnostic| diagnostic.code == Code::Syntax)
        .count();
    assert_eq!(syntax_errors, 3, "{:#?}", compilation.diagnostics);
}

fn fraud_text() -> String {
    read_project(&repository_root().join("examples/fraud"))
        .into_iter()
        .map(|file| file.text)
        .collect::<Vec<_>>()
        .join("\n")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        compile(&[SourceFile::from_bytes("random.mlsys", bytes)]);
    }

    #[test]
    fn random_text_from_the_alphabet_never_panics(text in "[a-z0-9_ {}()\\[\\]=<>!+*/.,:?@\"\\n-]{0,300}") {
        compile_text(&text);
    }

    #[test]
    fn mutated_examples_never_panic(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), 0usize..4, any::<char>()), 1..8)
    ) {
        let mut bytes = fraud_text().into_bytes();
        for (index, operation, character) in edits {
            if bytes.is_empty() {
                break;
            }
            let position = index.index(bytes.len());
            let mut encoded = [0u8; 4];
            let inserted = character.encode_utf8(&mut encoded).as_bytes().to_vec();
            match operation {
                0 => {
                    bytes.remove(position);
                }
                1 => {
                    bytes.splice(position..position, inserted);
                }
                2 => bytes.truncate(position),
                _ => {
                    let end = (position + 40).min(bytes.len());
                    let copy = bytes[position..end].to_vec();
                    bytes.splice(position..position, copy);
                }
            }
        }
        compile(&[SourceFile::from_bytes("mutated.mlsys", bytes)]);
    }
}
