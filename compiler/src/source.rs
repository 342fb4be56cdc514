//! Source text handed to the compiler, byte spans into it, and line/column look-up.
//! The compiler never opens files: callers pass names and contents.

use serde::{Deserialize, Serialize};

use crate::diagnostic::{Code, Diagnostic};

/// Index of a file in the project's file list.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct FileId(pub u32);

/// A byte range `[start, end)` in one file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Span {
    pub file: FileId,
    pub start: u32,
    pub end: u32,
}

impl Span {
    pub fn new(file: FileId, start: usize, end: usize) -> Self {
        Span {
            file,
            start: u32::try_from(start).unwrap_or(u32::MAX),
            end: u32::try_from(end).unwrap_or(u32::MAX),
        }
    }

    /// The smallest span covering both.
    pub fn to(self, other: Span) -> Span {
        Span {
            file: self.file,
            start: self.start.min(other.start),
            end: self.end.max(other.end),
        }
    }

    pub fn range(self) -> std::ops::Range<usize> {
        self.start as usize..self.end as usize
    }
}

/// One `.mlsys` file: a display name (usually a path relative to the project) and its text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceFile {
    pub name: String,
    pub text: String,
    /// Set when the bytes were not UTF-8: `text` is then a lossy view for rendering only and the
    /// file is not parsed (its `E0004` diagnostic stands for it).
    pub invalid_utf8_at: Option<usize>,
}

impl SourceFile {
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> Self {
        SourceFile {
            name: name.into(),
            text: text.into(),
            invalid_utf8_at: None,
        }
    }

    /// Decodes raw bytes. Invalid UTF-8 keeps a lossy view of the text (for rendering) and marks the
    /// file so the compiler reports `E0004` at the first bad byte instead of parsing it; the rest of
    /// the project still checks.
    pub fn from_bytes(name: impl Into<String>, bytes: Vec<u8>) -> Self {
        let name = name.into();
        match String::from_utf8(bytes) {
            Ok(text) => SourceFile::new(name, text),
            Err(error) => {
                let valid_up_to = error.utf8_error().valid_up_to();
                let text = String::from_utf8_lossy(error.as_bytes()).into_owned();
                SourceFile {
                    name,
                    text,
                    invalid_utf8_at: Some(valid_up_to),
                }
            }
        }
    }

    /// The `E0004` diagnostic for a file that was not UTF-8.
    pub fn utf8_diagnostic(&self, file: FileId) -> Option<Diagnostic> {
        let offset = self.invalid_utf8_at?;
        Some(
            Diagnostic::new(
                Code::InvalidUtf8,
                Span::new(file, offset, offset),
                format!("`{}` is not valid UTF-8 (first bad byte at offset {offset})", self.name),
            )
            .with_help("save the file as UTF-8; .mlsys files are always UTF-8 text"),
        )
    }
}

/// Maps byte offsets to 1-based line and column (columns count Unicode scalar values). Built once
/// per file: every look-up is a binary search, so rendering many diagnostics stays linear.
#[derive(Clone, Debug)]
pub struct LineIndex {
    /// Byte offset where each line starts; the first is 0, one more after every `\n`.
    line_starts: Vec<usize>,
}

impl LineIndex {
    pub fn new(text: &str) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(offset, _)| offset + 1));
        LineIndex { line_starts }
    }

    /// 1-based (line, column) of a byte offset; offsets past the end clamp to the end.
    pub fn line_column(&self, text: &str, offset: usize) -> (usize, usize) {
        let offset = offset.min(text.len());
        let line = self.line_of(offset);
        let start = self.line_starts[line];
        let column = text
            .get(start..offset)
            .map_or(offset - start, |prefix| prefix.chars().count());
        (line + 1, column + 1)
    }

    /// 0-based line holding a byte offset (the last line for offsets past the end).
    pub fn line_of(&self, offset: usize) -> usize {
        self.line_starts
            .partition_point(|start| *start <= offset)
            .saturating_sub(1)
    }

    /// Byte offset where the 0-based `line` starts; `text_length` for lines past the last.
    pub fn line_start(&self, line: usize, text_length: usize) -> usize {
        self.line_starts
            .get(line)
            .copied()
            .unwrap_or(text_length)
            .min(text_length)
    }

    /// The text of the 1-based `line` without its line ending (as `str::lines` gives it), or `""`
    /// past the end.
    pub fn line_text<'t>(&self, text: &'t str, line: usize) -> &'t str {
        let Some(index) = line.checked_sub(1) else { return "" };
        let start = self.line_start(index, text.len());
        let end = self.line_start(index + 1, text.len());
        let line = text.get(start..end).unwrap_or_default();
        match line.strip_suffix('\n') {
            Some(line) => line.strip_suffix('\r').unwrap_or(line),
            None => line,
        }
    }
}
