//! Comments and token positions recovered from the source text: what the syntax tree does not keep.
//!
//! Every comment (`//`, `///`, `/* */`) is found by one scan that skips string literals the way
//! `syntax/chunk.rs` does, so the formatter and the parser agree on where comments are. Doc comments
//! are scanned too: treating them like any other comment keeps their order relative to plain comments.

/// A comment as a byte range of the source; line comments end before their newline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Comment {
    pub start: usize,
    pub end: usize,
}

/// The source text, its comments in order, and the position queries the printer needs.
pub(super) struct Trivia<'a> {
    text: &'a str,
    comments: Vec<Comment>,
}

impl<'a> Trivia<'a> {
    pub fn new(text: &'a str) -> Self {
        Trivia {
            text,
            comments: scan_comments(text.as_bytes()),
        }
    }

    pub fn len(&self) -> usize {
        self.text.len()
    }

    /// The source text in `start..end`, or nothing if the range is not valid.
    pub fn slice(&self, start: usize, end: usize) -> &'a str {
        self.text.get(start..end).unwrap_or("")
    }

    pub fn byte(&self, position: usize) -> Option<u8> {
        self.text.as_bytes().get(position).copied()
    }

    /// The comment's text without trailing whitespace.
    pub fn comment_text(&self, comment: Comment) -> &'a str {
        self.slice(comment.start, comment.end).trim_end()
    }

    /// Comments that start in `start..end`, in source order.
    pub fn comments_in(&self, start: usize, end: usize) -> &[Comment] {
        let from = self.comments.partition_point(|comment| comment.start < start);
        let to = self.comments.partition_point(|comment| comment.start < end).max(from);
        &self.comments[from..to]
    }

    pub fn has_comment_in(&self, start: usize, end: usize) -> bool {
        !self.comments_in(start, end).is_empty()
    }

    /// The first position at or after `position` that is neither whitespace nor part of a comment.
    pub fn skip_trivia(&self, mut position: usize) -> usize {
        loop {
            while self.byte(position).is_some_and(is_space) {
                position += 1;
            }
            match self.comment_starting_at(position) {
                Some(comment) => position = comment.end,
                None => return position,
            }
        }
    }

    /// The end of the last token before `position`, skipping whitespace and comments backwards.
    pub fn trim_trivia_back(&self, mut position: usize) -> usize {
        loop {
            // Checked at every step: a line comment may itself end in spaces.
            if let Some(comment) = self.comment_ending_at(position) {
                position = comment.start;
            } else if position > 0 && self.byte(position - 1).is_some_and(is_space) {
                position -= 1;
            } else {
                return position;
            }
        }
    }

    /// The end of an item's last token: its span may run on over whitespace, comments and the
    /// optional `,` that separates it from the next item.
    pub fn item_end(&self, span_end: usize) -> usize {
        let end = self.trim_trivia_back(span_end);
        if end > 0 && self.byte(end - 1) == Some(b',') {
            self.trim_trivia_back(end - 1)
        } else {
            end
        }
    }

    pub fn newlines(&self, start: usize, end: usize) -> usize {
        self.slice(start, end).bytes().filter(|byte| *byte == b'\n').count()
    }

    pub fn has_newline(&self, start: usize, end: usize) -> bool {
        self.newlines(start, end) > 0
    }

    /// How many characters precede `position` on its line.
    pub fn column(&self, position: usize) -> usize {
        let before = self.slice(0, position);
        let line_start = before.rfind('\n').map_or(0, |newline| newline + 1);
        before[line_start..].chars().count()
    }

    fn comment_starting_at(&self, position: usize) -> Option<Comment> {
        let index = self.comments.partition_point(|comment| comment.start < position);
        self.comments
            .get(index)
            .copied()
            .filter(|comment| comment.start == position)
    }

    fn comment_ending_at(&self, position: usize) -> Option<Comment> {
        // Comments never overlap, so they are ordered by end as well as by start.
        let index = self.comments.partition_point(|comment| comment.end < position);
        self.comments
            .get(index)
            .copied()
            .filter(|comment| comment.end == position && comment.start < position)
    }
}

/// Whitespace as the grammar defines it.
fn is_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\r' | b'\n')
}

fn scan_comments(bytes: &[u8]) -> Vec<Comment> {
    let mut comments = Vec::new();
    let mut position = 0;
    while let Some(&byte) = bytes.get(position) {
        let next = bytes.get(position + 1).copied();
        match (byte, next) {
            (b'"', _) => position = string_end(bytes, position),
            (b'/', Some(b'/')) => {
                let end = find(bytes, position, b"\n").unwrap_or(bytes.len());
                comments.push(Comment { start: position, end });
                position = end;
            }
            (b'/', Some(b'*')) => {
                // Block comments do not nest; an unterminated one runs to the end of the file.
                let end = find(bytes, position + 2, b"*/").map_or(bytes.len(), |close| close + 2);
                comments.push(Comment { start: position, end });
                position = end;
            }
            _ => position += 1,
        }
    }
    comments
}

/// The position after a string literal opening at `start` (strings cannot span lines).
fn string_end(bytes: &[u8], start: usize) -> usize {
    let mut position = start + 1;
    while let Some(&byte) = bytes.get(position) {
        match byte {
            b'\\' => position += 2,
            b'"' | b'\n' => return position + 1,
            _ => position += 1,
        }
    }
    bytes.len()
}

fn find(bytes: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    bytes
        .get(from..)?
        .windows(needle.len())
        .position(|window| window == needle)
        .map(|offset| from + offset)
}
