//! Conversions at the protocol edge: byte offsets to LSP positions (UTF-8 or UTF-16 columns) and
//! back, and compiler diagnostics to LSP diagnostics.

use lsp_types::{
    DiagnosticRelatedInformation, DiagnosticSeverity, Location, NumberOrString, Position, PositionEncodingKind, Range,
};
use mlsys_compiler::diagnostic::{Diagnostic, Severity};
use mlsys_compiler::source::Span;

/// How the client counts columns. UTF-16 code units is the protocol default; UTF-8 bytes when the
/// client offers it (then columns are plain byte offsets within the line).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    Utf8,
    Utf16,
}

impl Encoding {
    /// Picks UTF-8 when the client lists it among `general.positionEncodings`, else UTF-16.
    pub fn negotiate(offered: Option<&[PositionEncodingKind]>) -> Encoding {
        let offers_utf8 = offered.is_some_and(|kinds| kinds.contains(&PositionEncodingKind::UTF8));
        if offers_utf8 { Encoding::Utf8 } else { Encoding::Utf16 }
    }

    pub fn kind(self) -> PositionEncodingKind {
        match self {
            Encoding::Utf8 => PositionEncodingKind::UTF8,
            Encoding::Utf16 => PositionEncodingKind::UTF16,
        }
    }
}

/// Start offsets of every line of one text, for position look-ups in both directions.
#[derive(Clone, Debug)]
pub struct LineMap {
    line_starts: Vec<usize>,
}

impl LineMap {
    pub fn new(text: &str) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(offset, _)| offset + 1));
        LineMap { line_starts }
    }

    /// The LSP position of a byte offset; offsets past the end or inside a character snap back.
    pub fn position(&self, text: &str, offset: usize, encoding: Encoding) -> Position {
        let mut offset = offset.min(text.len());
        while !text.is_char_boundary(offset) {
            offset -= 1;
        }
        let line = self
            .line_starts
            .partition_point(|start| *start <= offset)
            .saturating_sub(1);
        let start = self.line_starts.get(line).copied().unwrap_or(0);
        let prefix = text.get(start..offset).unwrap_or_default();
        let character = match encoding {
            Encoding::Utf8 => prefix.len(),
            Encoding::Utf16 => prefix.encode_utf16().count(),
        };
        Position::new(saturate(line), saturate(character))
    }

    /// The byte offset of an LSP position. A line past the end gives the end of the text; a column
    /// past the end of its line gives the end of the line (as the protocol asks), and a column inside
    /// a character gives that character's start.
    pub fn offset(&self, text: &str, position: Position, encoding: Encoding) -> usize {
        let Some(&start) = self.line_starts.get(position.line as usize) else {
            return text.len();
        };
        let end = self
            .line_starts
            .get(position.line as usize + 1)
            .map_or(text.len(), |next| next - 1);
        let line = text.get(start..end).unwrap_or_default();
        let line = line.strip_suffix('\r').unwrap_or(line);
        let wanted = position.character as usize;
        let mut units = 0;
        for (index, character) in line.char_indices() {
            if units >= wanted {
                return start + index;
            }
            units += match encoding {
                Encoding::Utf8 => character.len_utf8(),
                Encoding::Utf16 => character.len_utf16(),
            };
            if units > wanted {
                return start + index;
            }
        }
        start + line.len()
    }

    pub fn range(&self, text: &str, span: Span, encoding: Encoding) -> Range {
        Range::new(
            self.position(text, span.start as usize, encoding),
            self.position(text, span.end as usize, encoding),
        )
    }
}

fn saturate(value: usize) -> u32 {
    u32::try_from(value).unwrap_or(u32::MAX)
}

/// Turns a compiler diagnostic into an LSP one. `locate` maps any span of the project to a
/// location (secondary labels may sit in other files); `None` drops that label.
pub fn diagnostic(
    diagnostic: &Diagnostic,
    range: Range,
    locate: impl Fn(Span) -> Option<Location>,
) -> lsp_types::Diagnostic {
    let mut message = diagnostic.message.clone();
    let primary_text = diagnostic
        .labels
        .iter()
        .find(|label| label.primary)
        .map(|label| label.message.as_str())
        .unwrap_or_default();
    if !primary_text.is_empty() {
        message.push_str(&format!(" ({primary_text})"));
    }
    if let Some(help) = &diagnostic.help {
        message.push_str(&format!("\n\nhelp: {help}"));
    }
    let related: Vec<DiagnosticRelatedInformation> = diagnostic
        .labels
        .iter()
        .filter(|label| !label.primary)
        .filter_map(|label| {
            let message = if label.message.is_empty() {
                "related".to_string()
            } else {
                label.message.clone()
            };
            locate(label.span).map(|location| DiagnosticRelatedInformation { location, message })
        })
        .collect();
    lsp_types::Diagnostic {
        range,
        severity: Some(match diagnostic.severity {
            Severity::Error => DiagnosticSeverity::ERROR,
            Severity::Warning => DiagnosticSeverity::WARNING,
            Severity::Info => DiagnosticSeverity::INFORMATION,
        }),
        code: Some(NumberOrString::String(diagnostic.code.as_str().to_string())),
        source: Some("mlsys".to_string()),
        message,
        related_information: (!related.is_empty()).then_some(related),
        ..lsp_types::Diagnostic::default()
    }
}
