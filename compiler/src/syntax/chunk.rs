//! Splits a file into declaration chunks before parsing, so that a broken declaration is reported
//! and skipped while every other one is still parsed (error recovery at the declaration level).
//! Also measures nesting so that pathological input is refused before the recursive parser sees it.

use crate::syntax::ast::DeclarationKind;

/// A byte range of the file holding (at most) one declaration and its leading doc comments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Chunk {
    pub start: usize,
    pub end: usize,
    /// The deepest nesting of brackets, `if`s and prefix operators seen in the chunk.
    pub max_nesting: usize,
}

/// Byte-level scanner state; strings and comments are skipped so their contents never split a chunk.
struct Scanner<'a> {
    bytes: &'a [u8],
    position: usize,
}

impl Scanner<'_> {
    fn peek(&self, offset: usize) -> Option<u8> {
        self.bytes.get(self.position + offset).copied()
    }

    fn skip_line(&mut self) {
        while let Some(byte) = self.peek(0) {
            if byte == b'\n' {
                break;
            }
            self.position += 1;
        }
    }

    /// Skips a `/* ... */` comment; returns false when it is never closed (the rest of the file
    /// is then consumed).
    fn skip_block_comment(&mut self) -> bool {
        self.position += 2;
        while self.position < self.bytes.len() {
            if self.peek(0) == Some(b'*') && self.peek(1) == Some(b'/') {
                self.position += 2;
                return true;
            }
            self.position += 1;
        }
        false
    }

    fn skip_string(&mut self) {
        self.position += 1;
        while let Some(byte) = self.peek(0) {
            match byte {
                b'\\' => self.position += 2,
                b'"' | b'\n' => {
                    self.position += 1;
                    return;
                }
                _ => self.position += 1,
            }
        }
    }

    fn word(&self) -> &[u8] {
        let start = self.position;
        let mut end = start;
        while end < self.bytes.len() && (self.bytes[end].is_ascii_alphanumeric() || self.bytes[end] == b'_') {
            end += 1;
        }
        &self.bytes[start..end]
    }
}

/// Whether the line starting at `line_start` opens a declaration: `KIND NAME` (a keyword followed by
/// a name rather than `=` or `:`). Used to recover when a previous declaration lacks its `}`.
fn line_opens_declaration(bytes: &[u8], line_start: usize) -> bool {
    let mut position = line_start;
    while position < bytes.len() && (bytes[position] == b' ' || bytes[position] == b'\t') {
        position += 1;
    }
    let word_start = position;
    while position < bytes.len() && bytes[position].is_ascii_alphabetic() {
        position += 1;
    }
    let Ok(word) = std::str::from_utf8(&bytes[word_start..position]) else {
        return false;
    };
    if DeclarationKind::from_keyword(word).is_none() {
        return false;
    }
    let after_keyword = position;
    while position < bytes.len() && (bytes[position] == b' ' || bytes[position] == b'\t') {
        position += 1;
    }
    position > after_keyword
        && position < bytes.len()
        && (bytes[position].is_ascii_alphabetic() || bytes[position] == b'_')
}

/// A file split into chunks.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Chunks {
    pub chunks: Vec<Chunk>,
    /// Byte offset of a `/*` that is never closed: it comments out the rest of the file, which is
    /// an error rather than silently losing the declarations after it.
    pub unclosed_comment: Option<usize>,
}

/// Splits `text` into declaration chunks. Text between declarations that is only whitespace and
/// comments belongs to no chunk; anything else becomes a chunk of its own (and a syntax error).
pub fn split(text: &str) -> Chunks {
    let bytes = text.as_bytes();
    let mut scanner = Scanner { bytes, position: 0 };
    let mut chunks = Vec::new();
    let mut unclosed_comment = None;
    let mut current: Option<Chunk> = None;
    let mut brace_depth = 0usize;
    let mut nesting = 0usize;
    let mut open_ifs = 0usize;
    let mut prefix_run = 0usize;
    // Start of the run of doc comments directly above the current position, if any.
    let mut doc_run_start: Option<usize> = None;
    let mut at_line_start = true;

    while let Some(byte) = scanner.peek(0) {
        let position = scanner.position;
        if at_line_start && current.is_some() && brace_depth > 0 && line_opens_declaration(bytes, position) {
            // A new declaration begins while the previous one is still open: close it here.
            if let Some(mut chunk) = current.take() {
                chunk.end = doc_run_start.unwrap_or(position);
                chunks.push(chunk);
            }
            brace_depth = 0;
            nesting = 0;
            open_ifs = 0;
        }
        at_line_start = false;
        match byte {
            b'\n' => {
                scanner.position += 1;
                at_line_start = true;
                continue;
            }
            b' ' | b'\t' | b'\r' => {
                scanner.position += 1;
                continue;
            }
            b'/' if scanner.peek(1) == Some(b'/') => {
                let is_doc = scanner.peek(2) == Some(b'/') && scanner.peek(3) != Some(b'/');
                if is_doc && doc_run_start.is_none() {
                    doc_run_start = Some(position);
                }
                scanner.skip_line();
                continue;
            }
            b'/' if scanner.peek(1) == Some(b'*') => {
                if !scanner.skip_block_comment() {
                    unclosed_comment = Some(position);
                }
                continue;
            }
            _ => {}
        }
        // A token starts here.
        let token_start = doc_run_start.take().unwrap_or(position);
        if current.is_none() {
            current = Some(Chunk {
                start: token_start,
                end: token_start,
                max_nesting: 0,
            });
        }
        let mut is_prefix = false;
        match byte {
            b'"' => scanner.skip_string(),
            b'{' => {
                brace_depth += 1;
                nesting += 1;
                scanner.position += 1;
            }
            b'(' | b'[' => {
                nesting += 1;
                scanner.position += 1;
            }
            b')' | b']' => {
                nesting = nesting.saturating_sub(1);
                scanner.position += 1;
            }
            b'}' => {
                nesting = nesting.saturating_sub(1);
                scanner.position += 1;
                if brace_depth <= 1 {
                    brace_depth = 0;
                    nesting = 0;
                    open_ifs = 0;
                    if let Some(mut chunk) = current.take() {
                        chunk.end = scanner.position;
                        chunks.push(chunk);
                    }
                } else {
                    brace_depth -= 1;
                }
            }
            b'-' => {
                is_prefix = true;
                scanner.position += 1;
            }
            byte if byte.is_ascii_alphabetic() || byte == b'_' => {
                let word = scanner.word();
                match word {
                    b"if" => open_ifs += 1,
                    b"else" => open_ifs = open_ifs.saturating_sub(1),
                    b"not" => is_prefix = true,
                    _ => {}
                }
                scanner.position += word.len();
            }
            _ => {
                // Multi-byte UTF-8 sequences and punctuation advance by one byte; chunk boundaries
                // only ever fall on ASCII bytes, so slicing stays on char boundaries.
                scanner.position += 1;
            }
        }
        prefix_run = if is_prefix { prefix_run + 1 } else { 0 };
        if let Some(chunk) = current.as_mut() {
            chunk.max_nesting = chunk.max_nesting.max(nesting + open_ifs + prefix_run);
        }
    }
    if let Some(mut chunk) = current.take() {
        chunk.end = text.len();
        chunks.push(chunk);
    }
    Chunks {
        chunks,
        unclosed_comment,
    }
}
