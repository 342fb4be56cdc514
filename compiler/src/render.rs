//! A plain, deterministic text rendering of diagnostics (no colour, no terminal width): used by
//! snapshot tests and by `--format human` when output is not a terminal. Terminals get miette.

use std::fmt::Write as _;

use crate::diagnostic::{Diagnostic, Severity};
use crate::source::{LineIndex, SourceFile};

/// Renders diagnostics like:
///
/// ```text
/// error[E0101]: unknown name `amout` in a feature
///   --> features.mlsys:4:18
///    |
///  4 |   x = ln(1 + amout)
///    |              ^^^^^ not found
///    = help: did you mean `amount`?
/// ```
pub fn plain(diagnostics: &[Diagnostic], files: &[SourceFile]) -> String {
    let indexes: Vec<LineIndex> = files.iter().map(|file| LineIndex::new(&file.text)).collect();
    let mut out = String::new();
    for diagnostic in diagnostics {
        let severity = match diagnostic.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        };
        let _ = writeln!(out, "{severity}[{}]: {}", diagnostic.code.as_str(), diagnostic.message);
        let mut labels: Vec<_> = diagnostic.labels.iter().collect();
        labels.sort_by_key(|label| (!label.primary, label.span));
        for label in labels {
            let Some(file) = files.get(label.span.file.0 as usize) else {
                continue;
            };
            let index = &indexes[label.span.file.0 as usize];
            let (line, column) = index.line_column(&file.text, label.span.start as usize);
            let arrow = if label.primary { "-->" } else { ":::" };
            let _ = writeln!(out, "  {arrow} {}:{line}:{column}", file.name);
            let line_text = index.line_text(&file.text, line);
            let (end_line, end_column) = index.line_column(&file.text, label.span.end as usize);
            let width = if end_line == line {
                end_column.saturating_sub(column).max(1)
            } else {
                line_text.chars().count().saturating_sub(column - 1).max(1)
            };
            let gutter = line.to_string();
            let pad = " ".repeat(gutter.len());
            let _ = writeln!(out, "  {pad} |");
            let _ = writeln!(out, "  {gutter} | {line_text}");
            let marker = if label.primary { "^" } else { "-" };
            let underline = format!("{}{} {}", " ".repeat(column - 1), marker.repeat(width), label.message);
            let _ = writeln!(out, "  {pad} | {}", underline.trim_end());
        }
        if let Some(help) = &diagnostic.help {
            let _ = writeln!(out, "  = help: {help}");
        }
    }
    out
}
