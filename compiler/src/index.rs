//! The symbol index: every named thing a project defines (with its span, doc comment and a short
//! description) and every place a name refers to one. The checker fills it while resolving names;
//! editors use it for hover and go-to-definition, CI output for pointing at the declaration at fault.

use serde::Serialize;

use crate::plan::FeatureId;
use crate::source::{FileId, Span};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SymbolKind {
    Source,
    Column,
    Contract,
    Entity,
    EntityKey,
    FeatureGroup,
    Feature,
    Model,
    Serve,
    Monitor,
}

impl SymbolKind {
    pub fn noun(self) -> &'static str {
        match self {
            SymbolKind::Source => "source",
            SymbolKind::Column => "column",
            SymbolKind::Contract => "contract",
            SymbolKind::Entity => "entity",
            SymbolKind::EntityKey => "entity key",
            SymbolKind::FeatureGroup => "feature group",
            SymbolKind::Feature => "feature",
            SymbolKind::Model => "model",
            SymbolKind::Serve => "serve target",
            SymbolKind::Monitor => "monitor",
        }
    }
}

/// Index of a symbol in [`SymbolIndex::symbols`].
pub type SymbolId = usize;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Symbol {
    pub kind: SymbolKind,
    /// Qualified name: `transactions`, `transactions.amount`, `user_activity@v1`,
    /// `user_activity@v1.avg_amount_30d`.
    pub name: String,
    /// Where the name is defined.
    pub span: Span,
    pub doc: Option<String>,
    /// A one-line description for hover: a type, a format, a contract note.
    pub detail: String,
    /// For features that were lowered into the plan.
    pub feature: Option<FeatureId>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct SymbolIndex {
    pub symbols: Vec<Symbol>,
    /// (where a name is used, what it refers to)
    pub references: Vec<(Span, SymbolId)>,
}

impl SymbolIndex {
    pub fn define(
        &mut self,
        kind: SymbolKind,
        name: impl Into<String>,
        span: Span,
        doc: Option<String>,
        detail: impl Into<String>,
    ) -> SymbolId {
        self.symbols.push(Symbol {
            kind,
            name: name.into(),
            span,
            doc,
            detail: detail.into(),
            feature: None,
        });
        self.symbols.len() - 1
    }

    pub fn refer(&mut self, span: Span, symbol: SymbolId) {
        self.references.push((span, symbol));
    }

    /// The symbol defined or referred to at a byte offset of a file (the narrowest match).
    pub fn at(&self, file: FileId, offset: u32) -> Option<&Symbol> {
        let covers = |span: &Span| span.file == file && span.start <= offset && offset <= span.end;
        let definitions = self
            .symbols
            .iter()
            .enumerate()
            .filter(|(_, symbol)| covers(&symbol.span))
            .map(|(id, symbol)| (symbol.span, id));
        let references = self.references.iter().filter(|(span, _)| covers(span)).copied();
        definitions
            .chain(references)
            .min_by_key(|(span, _)| span.end - span.start)
            .and_then(|(_, id)| self.symbols.get(id))
    }

    /// The first symbol with this qualified name.
    pub fn named(&self, name: &str) -> Option<&Symbol> {
        self.symbols.iter().find(|symbol| symbol.name == name)
    }
}
