//! Hover and go-to-definition, answered from the symbol index of the latest compilation, and
//! whole-document formatting with the compiler's canonical formatter.

use lsp_types::{GotoDefinitionResponse, Hover, HoverContents, MarkupContent, MarkupKind, Position, Range, TextEdit};
use mlsys_compiler::format::format_source;
use mlsys_compiler::index::{Symbol, SymbolKind};
use mlsys_compiler::source::{FileId, Span};

use super::convert::{Encoding, LineMap};
use super::workspace::Analysis;

/// The symbol defined or referred to under the cursor, and the span of that name. Same choice as
/// `SymbolIndex::at` (the narrowest match), which does not return the span.
fn symbol_at(analysis: &Analysis, file: FileId, position: Position) -> Option<(Span, &Symbol)> {
    let offset = u32::try_from(analysis.offset(file, position)?).ok()?;
    let index = &analysis.compilation.index;
    let covers = |span: &Span| span.file == file && span.start <= offset && offset <= span.end;
    let definitions = index.symbols.iter().enumerate().map(|(id, symbol)| (symbol.span, id));
    let references = index.references.iter().copied();
    let (span, id) = definitions
        .chain(references)
        .filter(|(span, _)| covers(span))
        .min_by_key(|(span, _)| span.end - span.start)?;
    Some((span, index.symbols.get(id)?))
}

/// Markdown: the kind and qualified name, the detail line, the doc comment and, for a feature of a
/// clean project, its canonical hash.
pub fn hover(analysis: &Analysis, file: FileId, position: Position) -> Option<Hover> {
    let (span, symbol) = symbol_at(analysis, file, position)?;
    let mut text = format!("```mlsys\n{} {}\n```\n", symbol.kind.noun(), symbol.name);
    if !symbol.detail.is_empty() {
        text.push_str(&format!("\n{}\n", symbol.detail));
    }
    if let Some(doc) = &symbol.doc {
        text.push_str(&format!("\n---\n\n{}\n", doc.trim_end()));
    }
    if symbol.kind == SymbolKind::Feature {
        let hash = symbol.feature.and_then(|id| {
            let plan = analysis.compilation.plan.as_ref()?;
            plan.features.get(id).map(|feature| feature.hash.0.clone())
        });
        match hash {
            Some(hash) => text.push_str(&format!("\nhash `{hash}`\n")),
            None => text.push_str("\n*hash: available once the project has no errors*\n"),
        }
    }
    Some(Hover {
        contents: HoverContents::Markup(MarkupContent {
            kind: MarkupKind::Markdown,
            value: text,
        }),
        range: analysis.range(span),
    })
}

/// The definition of the symbol under the cursor, in whichever file of the project it is.
pub fn definition(analysis: &Analysis, file: FileId, position: Position) -> Option<GotoDefinitionResponse> {
    let (_, symbol) = symbol_at(analysis, file, position)?;
    analysis.location(symbol.span).map(GotoDefinitionResponse::Scalar)
}

/// One edit replacing the whole document with its canonical form; no edit when it already is.
/// A file that does not parse is not formatted: the error names the first syntax problem.
pub fn formatting(text: &str, encoding: Encoding) -> Result<Option<Vec<TextEdit>>, String> {
    let formatted = format_source(text).map_err(|diagnostics| {
        let line_map = LineMap::new(text);
        let first = diagnostics.first().map(|diagnostic| {
            let position = line_map.position(text, diagnostic.primary_span().start as usize, encoding);
            format!(
                ": line {}: {} {}",
                position.line + 1,
                diagnostic.code.as_str(),
                diagnostic.message
            )
        });
        format!("cannot format a file that does not parse{}", first.unwrap_or_default())
    })?;
    if formatted == text {
        return Ok(None);
    }
    let end = LineMap::new(text).position(text, text.len(), encoding);
    Ok(Some(vec![TextEdit::new(
        Range::new(Position::new(0, 0), end),
        formatted,
    )]))
}
