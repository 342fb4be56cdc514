//! Layout: declarations, bodies and items on lines, with every comment put back where it was.
//!
//! Between two tokens of the tree there are gaps of whitespace and comments. A comment in a gap that
//! starts on the line where the previous item (or the opening `{`) ends trails that line; any other
//! comment leads the next item on a line of its own, or, after the last item, stays above the `}`. A
//! comment inside an item (within an expression) cannot be placed: that item is printed as written;
//! a comment inside a header keeps just the header as written. Blank lines between items are kept
//! (at most one); declarations get exactly one.

use crate::syntax::ast::{Declaration, Item, ItemKind};

use super::expr::ExprPrinter;
use super::items::{leaf_text, short_text};
use super::trivia::{Comment, Trivia};
use super::{INDENT, MAX_WIDTH, width};

/// Whether a blank line goes before the next thing printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Blank {
    Never,
    /// When the source has one (or more) there.
    Preserve,
    Always,
}

pub(super) struct Printer<'a> {
    trivia: Trivia<'a>,
    exprs: ExprPrinter<'a>,
    out: String,
}

impl<'a> Printer<'a> {
    pub fn new(text: &'a str) -> Self {
        Printer {
            trivia: Trivia::new(text),
            exprs: ExprPrinter::new(text),
            out: String::new(),
        }
    }

    pub fn finish(self) -> String {
        self.out
    }

    pub fn file(&mut self, declarations: &[Declaration]) {
        let mut position = 0;
        let mut has_previous = false;
        for declaration in declarations {
            let start = self.trivia.skip_trivia(declaration.span.start as usize);
            let first = if has_previous { Blank::Always } else { Blank::Never };
            let (after, blank) = self.gap(position, has_previous, start, 0, first);
            self.blank_line(blank, after, start);
            position = self.declaration(declaration, start);
            has_previous = true;
        }
        let first = if has_previous { Blank::Preserve } else { Blank::Never };
        self.gap(position, has_previous, self.trivia.len(), 0, first);
    }

    /// Prints a declaration starting at `start`; returns where it ends.
    fn declaration(&mut self, declaration: &Declaration, start: usize) -> usize {
        let end = self.trivia.trim_trivia_back(declaration.span.end as usize);
        let header_end = [
            Some(declaration.name.span.end),
            declaration.version.map(|version| version.span.end),
            declaration.target.as_ref().map(|target| target.span.end),
        ]
        .into_iter()
        .flatten()
        .max()
        .unwrap_or(declaration.name.span.end);
        let mut header = format!("{} {}", declaration.kind.keyword(), declaration.name.name);
        if let Some(version) = declaration.version {
            header.push_str(&format!(" v{}", version.number));
        }
        if let Some(target) = &declaration.target {
            header.push_str(&format!(" on {}", target.name));
        }
        match self.braces(header_end as usize, end) {
            Some((open, close)) => {
                let header = self.header(header, start, open);
                self.braced(&header, &declaration.items, open, close, 0);
            }
            None => self.verbatim(start, end, 0),
        }
        end
    }

    /// The `{` after a header ending at `header_end` and the `}` just before `end`, if both are where
    /// they should be.
    fn braces(&self, header_end: usize, end: usize) -> Option<(usize, usize)> {
        let open = self.trivia.skip_trivia(header_end);
        let close = end.checked_sub(1)?;
        let found = self.trivia.byte(open) == Some(b'{') && self.trivia.byte(close) == Some(b'}') && open < close;
        found.then_some((open, close))
    }

    /// The header as printed, or as written (trimmed, re-indented) when a comment sits inside it.
    fn header(&self, printed: String, start: usize, open: usize) -> Header {
        let comments = self.trivia.comments_in(start, open);
        let Some(last) = comments.last() else {
            return Header {
                text: printed,
                as_written: false,
                brace_on_next_line: false,
            };
        };
        let text = self.trivia.slice(start, open).trim_end();
        let ends_in_line_comment = self.trivia.comment_text(*last).starts_with("//") && last.end >= start + text.len();
        Header {
            text: reindent(text, self.trivia.column(start)),
            as_written: true,
            // `{` after a line comment would be commented out.
            brace_on_next_line: ends_in_line_comment,
        }
    }

    /// `header { items }`: on one line when that is allowed, else one item per line.
    fn braced(&mut self, header: &Header, items: &[Item], open: usize, close: usize, indent: usize) {
        if let Some(line) = self.one_line(header, items, open, close, indent) {
            self.line(indent, &line);
            return;
        }
        if header.brace_on_next_line {
            self.line(indent, &header.text);
            self.line(indent, "{");
        } else {
            self.line(indent, &format!("{} {{", header.text));
        }
        let inner = indent + INDENT;
        let mut position = open + 1;
        let mut first = Blank::Never;
        for item in items {
            let start = self.trivia.skip_trivia(item.span.start as usize);
            let end = self.trivia.item_end(item.span.end as usize).max(start);
            let (after, blank) = self.gap(position, true, start, inner, first);
            self.blank_line(blank, after, start);
            self.item(item, start, end, inner);
            position = end;
            first = Blank::Preserve;
        }
        self.gap(position, true, close, inner, first);
        self.line(indent, "}");
    }

    /// A body stays on one line if it was written on one line, holds only short items and no
    /// comments, and fits the width; an empty body is always `{}`.
    fn one_line(&self, header: &Header, items: &[Item], open: usize, close: usize, indent: usize) -> Option<String> {
        if header.as_written || self.trivia.has_comment_in(open, close) {
            return None;
        }
        let header = &header.text;
        if items.is_empty() {
            return Some(format!("{header} {{}}"));
        }
        if self.trivia.has_newline(open, close) {
            return None;
        }
        let texts: Option<Vec<String>> = items.iter().map(|item| short_text(&self.exprs, &item.kind)).collect();
        let line = format!("{header} {{ {} }}", texts?.join(", "));
        (indent + width(&line) <= MAX_WIDTH).then_some(line)
    }

    fn item(&mut self, item: &Item, start: usize, end: usize, indent: usize) {
        if let ItemKind::Block { name, items } = &item.kind {
            match self.braces(name.span.end as usize, end) {
                Some((open, close)) => {
                    let header = self.header(name.name.clone(), start, open);
                    self.braced(&header, items, open, close, indent);
                }
                None => self.verbatim(start, end, indent),
            }
            return;
        }
        let text = if self.trivia.has_comment_in(start, end) {
            None
        } else {
            leaf_text(&self.exprs, &item.kind, indent)
        };
        match text {
            Some(text) => self.line(indent, &text),
            None => self.verbatim(start, end, indent),
        }
    }

    /// Prints the comments between the previous element (ending at `previous_end`) and the next one
    /// (starting at `next_start`). Returns where the last printed comment ends and the blank-line
    /// rule for the next element.
    fn gap(
        &mut self,
        previous_end: usize,
        has_previous: bool,
        next_start: usize,
        indent: usize,
        first: Blank,
    ) -> (usize, Blank) {
        let comments: Vec<Comment> = self.trivia.comments_in(previous_end, next_start).to_vec();
        let mut position = previous_end;
        let mut rest = comments.as_slice();
        while let Some((comment, tail)) = rest.split_first() {
            if !has_previous || self.trivia.has_newline(position, comment.start) {
                break;
            }
            self.trailing(self.trivia.comment_text(*comment));
            position = comment.end;
            rest = tail;
        }
        let mut blank = first;
        for comment in rest {
            self.blank_line(blank, position, comment.start);
            self.verbatim(comment.start, comment.end, indent);
            position = comment.end;
            blank = Blank::Preserve;
        }
        (position, blank)
    }

    fn blank_line(&mut self, rule: Blank, previous_end: usize, next_start: usize) {
        let wanted = match rule {
            Blank::Never => false,
            Blank::Always => true,
            Blank::Preserve => self.trivia.newlines(previous_end, next_start) >= 2,
        };
        if wanted && !self.out.is_empty() {
            self.out.push('\n');
        }
    }

    /// The source text in `start..end` as written, moved to `indent`: later lines keep their
    /// indentation relative to the first.
    fn verbatim(&mut self, start: usize, end: usize, indent: usize) {
        let text = reindent(self.trivia.slice(start, end), self.trivia.column(start));
        self.line(indent, &text);
    }

    /// Writes `text` at `indent`; its later lines are indented relative to the first.
    fn line(&mut self, indent: usize, text: &str) {
        for line in text.split('\n') {
            let line = line.trim_end();
            if !line.is_empty() {
                self.out.push_str(&" ".repeat(indent));
                self.out.push_str(line);
            }
            self.out.push('\n');
        }
    }

    /// Appends a comment to the last line printed.
    fn trailing(&mut self, comment: &str) {
        if self.out.ends_with('\n') {
            self.out.pop();
        }
        self.out.push_str("  ");
        self.out.push_str(comment);
        self.out.push('\n');
    }
}

/// A declaration or block header.
struct Header {
    text: String,
    /// Kept as written because a comment sits inside it.
    as_written: bool,
    brace_on_next_line: bool,
}

/// Text that started at `column` of its line, with its later lines' indentation made relative to
/// that column.
fn reindent(text: &str, column: usize) -> String {
    let lines: Vec<&str> = text
        .trim_end()
        .split('\n')
        .enumerate()
        .map(|(index, line)| if index == 0 { line } else { strip_indent(line, column) })
        .collect();
    lines.join("\n")
}

/// `line` without up to `column` characters of leading whitespace.
fn strip_indent(line: &str, column: usize) -> &str {
    let mut rest = line;
    for _ in 0..column {
        match rest.strip_prefix([' ', '\t']) {
            Some(shorter) => rest = shorter,
            None => break,
        }
    }
    rest
}
