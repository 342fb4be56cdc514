//! Rendering diagnostics at the edge: miette for people, JSON for machines.
//!
//! Every renderer builds one `LineIndex` per file and reads spans through it: rendering is linear
//! in the number of diagnostics and the size of the files, whatever their number.

use miette::{
    GraphicalReportHandler, GraphicalTheme, LabeledSpan, MietteDiagnostic, MietteError, MietteSpanContents, SourceCode,
    SourceSpan, SpanContents,
};
use std::fmt;
use std::io::IsTerminal;
use std::path::Path;

use mlsys_compiler::diagnostic::{Code, Diagnostic, Severity};
use mlsys_compiler::source::{LineIndex, SourceFile, Span};
use serde_json::{Value, json};

#[cfg(test)]
mod tests;

/// Renders diagnostics for a terminal (colour only when stderr is one) or a log.
pub fn human(diagnostics: &[Diagnostic], files: &[SourceFile]) -> String {
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let theme = if colour {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    let handler = GraphicalReportHandler::new_themed(theme).with_width(100);
    let indexes = line_indexes(files);
    let mut out = String::new();
    for diagnostic in diagnostics {
        let primary = diagnostic.primary_span();
        let file_index = primary.file.0 as usize;
        let Some(file) = files.get(file_index) else {
            continue;
        };
        let report = WithSource {
            diagnostic: miette_diagnostic(diagnostic, files, &indexes),
            source: IndexedSource {
                name: &file.name,
                text: &file.text,
                lines: &indexes[file_index],
            },
        };
        if handler.render_report(&mut out, &report).is_err() {
            out.push_str(&format!("{}: {}\n", diagnostic.code.as_str(), diagnostic.message));
        }
        out.push('\n');
    }
    out
}

/// One `LineIndex` per file, in file order.
fn line_indexes(files: &[SourceFile]) -> Vec<LineIndex> {
    files.iter().map(|file| LineIndex::new(&file.text)).collect()
}

/// A diagnostic as miette sees it: labels in the primary span's file; labels in other files become
/// `file:line:column: message` notes after the help.
fn miette_diagnostic(diagnostic: &Diagnostic, files: &[SourceFile], indexes: &[LineIndex]) -> MietteDiagnostic {
    let primary = diagnostic.primary_span();
    let mut notes = Vec::new();
    let labels: Vec<LabeledSpan> = diagnostic
        .labels
        .iter()
        .filter_map(|label| {
            if label.span.file != primary.file {
                notes.push(format!("{}: {}", location(files, indexes, label.span), label.message));
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
            Severity::Info => miette::Severity::Advice,
        })
        .with_labels(labels);
    if !help.is_empty() {
        report = report.with_help(help);
    }
    report
}

/// A diagnostic with the file its labels point into, borrowed: miette's `Report` would need an
/// owned copy of the file's text for every diagnostic.
#[derive(Debug)]
struct WithSource<'a> {
    diagnostic: MietteDiagnostic,
    source: IndexedSource<'a>,
}

impl fmt::Display for WithSource<'_> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.diagnostic, formatter)
    }
}

impl std::error::Error for WithSource<'_> {}

impl miette::Diagnostic for WithSource<'_> {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.diagnostic.code()
    }

    fn severity(&self) -> Option<miette::Severity> {
        self.diagnostic.severity()
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.diagnostic.help()
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        self.diagnostic.labels()
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        Some(&self.source)
    }
}

/// A file's text read by miette through its prebuilt line index. miette's own `str` source scans
/// the text from its start for every span it reads, which made rendering quadratic (a file of
/// 16,000 warnings took 37 s). This one hands miette only the lines around the span (one more line
/// after, so miette stops exactly where it would on the whole text) and shifts the result back:
/// the same contents, found in time proportional to the lines shown.
#[derive(Debug)]
struct IndexedSource<'a> {
    name: &'a str,
    text: &'a str,
    lines: &'a LineIndex,
}

impl SourceCode for IndexedSource<'_> {
    fn read_span<'a>(
        &'a self,
        span: &SourceSpan,
        context_lines_before: usize,
        context_lines_after: usize,
    ) -> Result<Box<dyn SpanContents<'a> + 'a>, MietteError> {
        let length = self.text.len();
        if span.offset() > length {
            return Err(MietteError::OutOfBounds);
        }
        let last_byte = (span.offset() + span.len().saturating_sub(1)).min(length);
        let first_line = self.lines.line_of(span.offset()).saturating_sub(context_lines_before);
        let end_line = self.lines.line_of(last_byte) + context_lines_after + 2;
        let start = self.lines.line_start(first_line, length);
        let end = self.lines.line_start(end_line, length);
        let window = &self.text[start..end];
        let local = SourceSpan::new((span.offset() - start).into(), span.len());
        let contents = window.read_span(&local, context_lines_before, context_lines_after)?;
        Ok(Box::new(MietteSpanContents::new_named(
            self.name.to_string(),
            contents.data(),
            SourceSpan::new((contents.span().offset() + start).into(), contents.span().len()),
            contents.line() + first_line,
            contents.column(),
            contents.line_count() + first_line,
        )))
    }
}

/// `file:line:column` of a span's start.
fn location(files: &[SourceFile], indexes: &[LineIndex], span: Span) -> String {
    let index = span.file.0 as usize;
    let (Some(file), Some(lines)) = (files.get(index), indexes.get(index)) else {
        return "?".to_string();
    };
    let (line, column) = lines.line_column(&file.text, span.start as usize);
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
    let indexes = line_indexes(files);
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

/// "2 errors, 1 warning" style counts (and notes, when there are any).
pub fn summary(diagnostics: &[Diagnostic]) -> String {
    let count = |severity: Severity| {
        diagnostics
            .iter()
            .filter(|diagnostic| diagnostic.severity == severity)
            .count()
    };
    let plural = |count: usize, word: &str| format!("{count} {word}{}", if count == 1 { "" } else { "s" });
    let mut text = format!(
        "{}, {}",
        plural(count(Severity::Error), "error"),
        plural(count(Severity::Warning), "warning")
    );
    let notes = count(Severity::Info);
    if notes > 0 {
        text.push_str(&format!(", {}", plural(notes, "note")));
    }
    text
}

/// A location as CI sees it: the project file (base-side spans move to the current file of the
/// same name, line 1) and 1-based line/column range.
struct CiLocation {
    path: String,
    line: usize,
    column: usize,
    end_line: usize,
    end_column: usize,
}

/// The files a CI renderer reads, with their line indexes (built once).
struct CiFiles<'a> {
    files: &'a [SourceFile],
    indexes: Vec<LineIndex>,
    /// Files from this index on are the base side of `check --base`.
    project_files: usize,
    prefix: &'a Path,
}

impl<'a> CiFiles<'a> {
    fn new(files: &'a [SourceFile], project_files: usize, prefix: &'a Path) -> Self {
        CiFiles {
            files,
            indexes: line_indexes(files),
            project_files,
            prefix,
        }
    }

    /// Where CI shows a span.
    fn location(&self, span: Span) -> Option<CiLocation> {
        let (files, project_files, prefix) = (self.files, self.project_files, self.prefix);
        let index = span.file.0 as usize;
        let file = files.get(index)?;
        let join = |name: &str| {
            let path = prefix.join(name);
            path.to_string_lossy().trim_start_matches("./").replace('\\', "/")
        };
        if index >= project_files {
            // A finding about something that only exists in the base: point at the file it lived in.
            let name = file.name.split_once(':').map_or(file.name.as_str(), |(_, name)| name);
            return Some(CiLocation {
                path: join(name),
                line: 1,
                column: 1,
                end_line: 1,
                end_column: 1,
            });
        }
        let line_index = self.indexes.get(index)?;
        let (line, column) = line_index.line_column(&file.text, span.start as usize);
        let (end_line, end_column) = line_index.line_column(&file.text, span.end as usize);
        Some(CiLocation {
            path: join(&file.name),
            line,
            column,
            end_line,
            end_column,
        })
    }
}

fn github_escape(text: &str, property: bool) -> String {
    let mut out = text.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A");
    if property {
        out = out.replace(':', "%3A").replace(',', "%2C");
    }
    out
}

/// GitHub Actions workflow commands: one `::error` / `::warning` / `::notice` line per diagnostic.
pub fn github(diagnostics: &[Diagnostic], files: &[SourceFile], project_files: usize, prefix: &Path) -> String {
    let ci = CiFiles::new(files, project_files, prefix);
    let mut out = String::new();
    for diagnostic in diagnostics {
        let command = match diagnostic.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "notice",
        };
        let mut message = diagnostic.message.clone();
        if let Some(help) = &diagnostic.help {
            message.push_str("\nhelp: ");
            message.push_str(help);
        }
        let title = github_escape(
            &format!("{} {}", diagnostic.code.as_str(), diagnostic.code.title()),
            true,
        );
        match ci.location(diagnostic.primary_span()) {
            Some(location) => out.push_str(&format!(
                "::{command} file={},line={},col={},endLine={},endColumn={},title={title}::{}\n",
                github_escape(&location.path, true),
                location.line,
                location.column,
                location.end_line,
                location.end_column,
                github_escape(&message, false)
            )),
            None => out.push_str(&format!(
                "::{command} title={title}::{}\n",
                github_escape(&message, false)
            )),
        }
    }
    out
}

fn sarif_location(location: &CiLocation, message: Option<&str>) -> Value {
    let mut value = json!({
        "physicalLocation": {
            "artifactLocation": { "uri": location.path },
            "region": {
                "startLine": location.line,
                "startColumn": location.column,
                "endLine": location.end_line,
                "endColumn": location.end_column,
            }
        }
    });
    if let Some(message) = message.filter(|message| !message.is_empty()) {
        value["message"] = json!({ "text": message });
    }
    value
}

/// SARIF 2.1.0: one run, every code as a rule, one result per diagnostic.
pub fn sarif(diagnostics: &[Diagnostic], files: &[SourceFile], project_files: usize, prefix: &Path) -> Value {
    let ci = CiFiles::new(files, project_files, prefix);
    let level = |severity: Severity| match severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "note",
    };
    let rules: Vec<Value> = Code::ALL
        .iter()
        .map(|code| {
            json!({
                "id": code.as_str(),
                "name": code.title(),
                "shortDescription": { "text": code.title() },
                "defaultConfiguration": { "level": level(code.severity()) },
            })
        })
        .collect();
    let results: Vec<Value> = diagnostics
        .iter()
        .map(|diagnostic| {
            let mut text = diagnostic.message.clone();
            if let Some(help) = &diagnostic.help {
                text.push_str("\nhelp: ");
                text.push_str(help);
            }
            let rule_index = Code::ALL.iter().position(|code| *code == diagnostic.code).unwrap_or(0);
            let mut result = json!({
                "ruleId": diagnostic.code.as_str(),
                "ruleIndex": rule_index,
                "level": level(diagnostic.severity),
                "message": { "text": text },
            });
            if let Some(location) = ci.location(diagnostic.primary_span()) {
                result["locations"] = json!([sarif_location(&location, None)]);
            }
            let related: Vec<Value> = diagnostic
                .labels
                .iter()
                .filter(|label| !label.primary)
                .filter_map(|label| {
                    ci.location(label.span)
                        .map(|location| sarif_location(&location, Some(&label.message)))
                })
                .enumerate()
                .map(|(id, mut location)| {
                    location["id"] = json!(id);
                    location
                })
                .collect();
            if !related.is_empty() {
                result["relatedLocations"] = json!(related);
            }
            result
        })
        .collect();
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": "mlsysc",
                    "version": env!("CARGO_PKG_VERSION"),
                    "rules": rules,
                }
            },
            "columnKind": "unicodeCodePoints",
            "results": results,
        }]
    })
}
