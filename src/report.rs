//! Rendering diagnostics at the edge: miette for people, JSON for machines.

use std::io::IsTerminal;

use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, MietteDiagnostic, NamedSource, Report};
use mlsys_compiler::diagnostic::{Diagnostic, Severity};
use mlsys_compiler::source::{LineIndex, SourceFile, Span};
use serde_json::{Value, json};

/// Renders diagnostics for a terminal (colour only when stderr is one) or a log.
pub fn human(diagnostics: &[Diagnostic], files: &[SourceFile]) -> String {
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let theme = if colour {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    let handler = GraphicalReportHandler::new_themed(theme).with_width(100);
    let mut out = String::new();
    for diagnostic in diagnostics {
        let primary = diagnostic.primary_span();
        let Some(file) = files.get(primary.file.0 as usize) else {
            continue;
        };
        let mut notes = Vec::new();
        let labels: Vec<LabeledSpan> = diagnostic
            .labels
            .iter()
            .filter_map(|label| {
                if label.span.file != primary.file {
                    notes.push(format!("{}: {}", location(files, label.span), label.message));
                    return None;
                }
                let text = (!label.message.is_empty()).then(|| label.message.clone());
                let length = label.span.end.saturating_sub(label.span.start) as usize;
                Some(if label.primary {
                    LabeledSpan::new_primary_with_span(text, (label.span.start as usize, length))
                } else {
                    LabeledSpan::new_with_span(text, (label.span.start as usize, length))
                })
            })
            .collect();
        let mut help = diagnostic.help.clone().unwrap_or_default();
        for note in notes {
            if !help.is_empty() {
                help.push('\n');
            }
            help.push_str(&note);
        }
        let mut report = MietteDiagnostic::new(diagnostic.message.clone())
            .with_code(diagnostic.code.as_str())
            .with_severity(match diagnostic.severity {
                Severity::Error => miette::Severity::Error,
                Severity::Warning => miette::Severity::Warning,
            })
            .with_labels(labels);
        if !help.is_empty() {
            report = report.with_help(help);
        }
        let report = Report::new(report).with_source_code(NamedSource::new(file.name.clone(), file.text.clone()));
        if handler.render_report(&mut out, report.as_ref()).is_err() {
            out.push_str(&format!("{}: {}\n", diagnostic.code.as_str(), diagnostic.message));
        }
        out.push('\n');
    }
    out
}

/// `file:line:column` of a span's start.
pub fn location(files: &[SourceFile], span: Span) -> String {
    let Some(file) = files.get(span.file.0 as usize) else {
        return "?".to_string();
    };
    let (line, column) = LineIndex::new(&file.text).line_column(&file.text, span.start as usize);
    format!("{}:{line}:{column}", file.name)
}

fn span_json(files: &[SourceFile], indexes: &[LineIndex], span: Span) -> Value {
    let Some(file) = files.get(span.file.0 as usize) else {
        return Value::Null;
    };
    let index = &indexes[span.file.0 as usize];
    let (line, column) = index.line_column(&file.text, span.start as usize);
    let (end_line, end_column) = index.line_column(&file.text, span.end as usize);
    json!({
        "file": file.name,
        "line": line,
        "column": column,
        "end_line": end_line,
        "end_column": end_column,
        "byte_start": span.start,
        "byte_end": span.end,
    })
}

/// Diagnostics as JSON: one object per diagnostic with 1-based lines and columns.
pub fn json(diagnostics: &[Diagnostic], files: &[SourceFile]) -> Value {
    let indexes: Vec<LineIndex> = files.iter().map(|file| LineIndex::new(&file.text)).collect();
    let entries: Vec<Value> = diagnostics
        .iter()
        .map(|diagnostic| {
            let labels: Vec<Value> = diagnostic
                .labels
                .iter()
                .map(|label| {
                    json!({
                        "span": span_json(files, &indexes, label.span),
                        "message": label.message,
                        "primary": label.primary,
                    })
                })
                .collect();
            json!({
                "code": diagnostic.code.as_str(),
                "severity": diagnostic.severity,
                "message": diagnostic.message,
                "span": span_json(files, &indexes, diagnostic.primary_span()),
                "labels": labels,
                "help": diagnostic.help,
            })
        })
        .collect();
    let errors = diagnostics.iter().filter(|diagnostic| diagnostic.is_error()).count();
    json!({
        "diagnostics": entries,
        "errors": errors,
        "warnings": diagnostics.len() - errors,
        "files": files.len(),
    })
}

/// "2 errors, 1 warning" style counts.
pub fn summary(diagnostics: &[Diagnostic]) -> String {
    let errors = diagnostics.iter().filter(|diagnostic| diagnostic.is_error()).count();
    let warnings = diagnostics.len() - errors;
    let plural = |count: usize, word: &str| format!("{count} {word}{}", if count == 1 { "" } else { "s" });
    format!("{}, {}", plural(errors, "error"), plural(warnings, "warning"))
}
