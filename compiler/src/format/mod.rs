//! The canonical formatter behind `mlsysc fmt`: one layout for every `.mlsys` file.
//!
//! The text is parsed, then printed back from the syntax tree: two-space indentation, one item per
//! line, `key = value` with single spaces, canonical spacing and minimal parentheses in expressions.
//! Comments, which the tree does not keep, are recovered from the source text and put back next to
//! the item they belong to. A file that does not parse cleanly is never rewritten.
//!
//! Architecture invariants, checked by `compiler/tests/format.rs` on every example and test case:
//! formatting is idempotent, keeps every comment, and never changes what a file means (the same
//! diagnostics, the same plan hashes).
//!
//! ```
//! use mlsys_compiler::format::format_source;
//!
//! let text = "entity user{key user_id:string}\nfeatures f v1{from=events\n  x=(a+b)*c  // why\n}\n";
//! let formatted = format_source(text).expect("the text parses");
//! assert_eq!(
//!     formatted,
//!     "entity user { key user_id: string }\n\nfeatures f v1 {\n  from = events\n  x = (a + b) * c  // why\n}\n"
//! );
//! assert!(format_source("entity {").is_err());
//! ```

mod expr;
mod items;
mod layout;
mod trivia;

use crate::diagnostic::Diagnostic;
use crate::source::FileId;
use crate::syntax::parse_file;

/// Lines are kept within this many columns where the layout allows (long expressions may exceed it).
const MAX_WIDTH: usize = 100;
const INDENT: usize = 2;

/// Formats one file. Returns the diagnostics of `parse_file` instead when the text does not parse
/// cleanly: a formatter must not rewrite what it could not read.
pub fn format_source(text: &str) -> Result<String, Vec<Diagnostic>> {
    let parsed = parse_file(FileId(0), text);
    if !parsed.diagnostics.is_empty() {
        return Err(parsed.diagnostics);
    }
    let mut printer = layout::Printer::new(text);
    printer.file(&parsed.declarations);
    Ok(printer.finish())
}

/// Display width of a line, counted in characters.
fn width(line: &str) -> usize {
    line.chars().count()
}
