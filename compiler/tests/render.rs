//! The plain renderer and the line index it reads lines through.

use mlsys_compiler::compile;
use mlsys_compiler::render::plain;
use mlsys_compiler::source::{LineIndex, SourceFile};

#[test]
fn line_text_is_the_line_str_lines_gives() {
    let texts = [
        "",
        "one line",
        "ends with a newline\n",
        "crlf\r\nlines\r\n\r\nend",
        "a bare\rcarriage return\n\tand unicode — ✓\n\n",
        "trailing carriage return\r",
    ];
    for text in texts {
        let index = LineIndex::new(text);
        let lines: Vec<&str> = text.lines().collect();
        for line in 1..=lines.len() + 2 {
            let expected = lines.get(line - 1).copied().unwrap_or("");
            assert_eq!(index.line_text(text, line), expected, "line {line} of {text:?}");
        }
        assert_eq!(index.line_text(text, 0), "");
    }
}

#[test]
fn every_diagnostic_of_a_large_file_is_rendered() {
    const COUNT: usize = 20_000;
    let text: String = (0..COUNT)
        .map(|index| format!("entity e{index} {{ key k: string }}\n"))
        .collect();
    let files = vec![SourceFile::new("many.mlsys", text)];
    let compilation = compile(&files);
    assert_eq!(compilation.diagnostics.len(), COUNT);
    let rendered = plain(&compilation.diagnostics, &files);
    assert_eq!(rendered.matches("warning[W0001]").count(), COUNT);
    let last = format!("--> many.mlsys:{COUNT}:8\n");
    assert!(rendered.contains(&last), "the last declaration is located");
    assert!(rendered.contains(&format!("{COUNT} | entity e{} {{ key k: string }}", COUNT - 1)));
}
