//! Syntax: splitting a file into declaration chunks, the pest grammar, and the syntax tree.

pub mod ast;
mod chunk;
mod errors;
pub mod literal;
mod parser;

pub use parser::{MAX_EXPRESSION_DEPTH, MAX_NESTING, ParsedFile, parse_file};
