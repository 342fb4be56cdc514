//! Completion: what may be typed at the cursor, from the cursor's context (`context.rs`), the tables
//! of lang-spec/grammar.md and the symbol index of the latest compilation.

use lsp_types::{CompletionItem, CompletionItemKind, InsertTextFormat};
use mlsys_compiler::builtins::{AggregateFunction, Builtin};
use mlsys_compiler::index::{Symbol, SymbolKind};
use mlsys_compiler::plan::Metric;
use mlsys_compiler::source::FileId;

use super::context::{self, Context, DECLARATION_KEYWORDS};
use super::workspace::Analysis;

/// How an item begins: `KEY = `, `NAME { }` or a keyword followed by its operands.
#[derive(Clone, Copy)]
enum Form {
    Property,
    Block,
    Keyword,
}

/// The items each body accepts (lang-spec/grammar.md, section 7).
fn items_of(block: &str) -> &'static [(&'static str, Form)] {
    use Form::{Block, Keyword, Property};
    match block {
        "source" => &[
            ("format", Property),
            ("location", Property),
            ("timestamp", Property),
            ("partition", Property),
            ("schema", Block),
            ("unknown_columns", Property),
            ("bad_rows", Property),
        ],
        "contract" => &[
            ("owner", Property),
            ("notice", Property),
            ("require", Keyword),
            ("expect", Keyword),
            ("deprecate", Keyword),
        ],
        "entity" => &[("key", Keyword)],
        "features" => &[("entity", Property), ("from", Property)],
        "model" => &[
            ("examples", Property),
            ("label", Property),
            ("features", Property),
            ("algorithm", Property),
            ("train", Block),
        ],
        "train" => &[
            ("snapshot", Property),
            ("holdout", Property),
            ("metric", Property),
            ("promote_if", Property),
            ("approval", Property),
            ("seed", Property),
        ],
        "serve" => &[
            ("model", Property),
            ("mode", Property),
            ("batching", Block),
            ("timeout", Property),
            ("fallback", Property),
            ("shadow", Property),
            ("schedule", Property),
            ("output", Property),
        ],
        "batching" => &[("max_size", Property), ("max_wait", Property)],
        "monitor" => &[("drift", Keyword), ("metric", Keyword), ("channels", Property)],
        _ => &[],
    }
}

/// The metric names, from the plan's one list.
const METRICS: [&str; Metric::ALL.len()] = {
    let mut names = [""; Metric::ALL.len()];
    let mut index = 0;
    while index < names.len() {
        names[index] = Metric::ALL[index].name();
        index += 1;
    }
    names
};
const STAGES: [&str; 4] = ["production", "candidate", "approved", "shadow"];
const TYPES: [&str; 7] = ["bool", "int64", "float64", "string", "date", "timestamp", "duration"];
const EXPRESSION_KEYWORDS: [&str; 9] = ["if", "then", "else", "and", "or", "not", "in", "true", "false"];

/// The fixed choices of enumerated properties.
fn enumerated(block: &str, key: &str) -> Option<&'static [&'static str]> {
    Some(match (block, key) {
        ("source", "format") => &["parquet", "csv", "json", "delta"],
        ("source", "partition") => &["daily", "hourly", "none"],
        ("source", "unknown_columns") => &["ignore", "warn", "error"],
        ("source", "bad_rows") => &["quarantine", "fail"],
        ("model", "algorithm") => &["gbdt", "logistic_regression", "linear_regression", "onnx", "command"],
        ("train", "metric") => &METRICS,
        ("train", "approval") => &["required", "none"],
        ("serve", "mode") => &["realtime", "batch"],
        _ => return None,
    })
}

struct Items {
    items: Vec<CompletionItem>,
    snippets: bool,
}

impl Items {
    fn push(&mut self, label: &str, kind: CompletionItemKind, detail: Option<String>, rank: u8) {
        self.items.push(CompletionItem {
            label: label.to_string(),
            kind: Some(kind),
            detail,
            sort_text: Some(format!("{rank}{label}")),
            ..CompletionItem::default()
        });
    }

    /// A call: `name($1)` as a snippet when the client takes snippets.
    fn function(&mut self, name: &str, signature: String) {
        let snippet = self.snippets.then(|| format!("{name}($1)"));
        self.items.push(CompletionItem {
            label: name.to_string(),
            kind: Some(CompletionItemKind::FUNCTION),
            detail: Some(signature),
            sort_text: Some(format!("3{name}")),
            insert_text_format: snippet.as_ref().map(|_| InsertTextFormat::SNIPPET),
            insert_text: snippet,
            ..CompletionItem::default()
        });
    }

    fn item_keyword(&mut self, name: &str, form: Form) {
        let (insert, kind) = match form {
            Form::Property => (format!("{name} = "), CompletionItemKind::PROPERTY),
            Form::Block if self.snippets => (format!("{name} {{\n\t$0\n}}"), CompletionItemKind::MODULE),
            Form::Block => (format!("{name} {{ }}"), CompletionItemKind::MODULE),
            Form::Keyword => (format!("{name} "), CompletionItemKind::KEYWORD),
        };
        let snippet = self.snippets && matches!(form, Form::Block);
        self.items.push(CompletionItem {
            label: name.to_string(),
            kind: Some(kind),
            sort_text: Some(format!("0{name}")),
            insert_text: Some(insert),
            insert_text_format: snippet.then_some(InsertTextFormat::SNIPPET),
            ..CompletionItem::default()
        });
    }

    /// Symbols of one kind whose qualified name starts with `qualifier` + `separator`, labelled by the
    /// rest of the name.
    fn members(&mut self, symbols: &[Symbol], kind: SymbolKind, qualifier: &str, separator: char, rank: u8) {
        let prefix = format!("{qualifier}{separator}");
        for symbol in symbols.iter().filter(|symbol| symbol.kind == kind) {
            if let Some(member) = symbol.name.strip_prefix(&prefix) {
                self.push(member, completion_kind(kind), Some(symbol.detail.clone()), rank);
            }
        }
    }

    fn all_of(&mut self, symbols: &[Symbol], kind: SymbolKind, rank: u8) {
        for symbol in symbols.iter().filter(|symbol| symbol.kind == kind) {
            self.push(&symbol.name, completion_kind(kind), Some(symbol.detail.clone()), rank);
        }
    }

    fn words(&mut self, words: &[&str], kind: CompletionItemKind) {
        for word in words {
            self.push(word, kind, None, 4);
        }
    }
}

fn completion_kind(kind: SymbolKind) -> CompletionItemKind {
    match kind {
        SymbolKind::Column | SymbolKind::EntityKey => CompletionItemKind::FIELD,
        SymbolKind::Feature => CompletionItemKind::VARIABLE,
        SymbolKind::FeatureGroup => CompletionItemKind::MODULE,
        SymbolKind::Source | SymbolKind::Contract => CompletionItemKind::STRUCT,
        SymbolKind::Entity => CompletionItemKind::CLASS,
        SymbolKind::Model | SymbolKind::Serve | SymbolKind::Monitor => CompletionItemKind::REFERENCE,
    }
}

/// The completions at a byte offset of a file.
pub fn completion(analysis: &Analysis, file: FileId, offset: usize, snippets: bool) -> Vec<CompletionItem> {
    let text = analysis.text(file);
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let context = context::at(text, offset);
    let symbols = &analysis.compilation.index.symbols;
    let mut items = Items {
        items: Vec::new(),
        snippets,
    };
    if context.in_literal {
        return items.items;
    }
    match context.trigger {
        Some('.') => after_dot(&context, symbols, &mut items),
        Some('@') => after_at(&context, symbols, &mut items),
        _ => match (context.kind(), context.block()) {
            (Some(kind), Some(block)) => inside(&context, kind, block, symbols, &mut items),
            _ => items.words(&DECLARATION_KEYWORDS, CompletionItemKind::KEYWORD),
        },
    }
    items.items
}

/// The qualifier before the trigger character: `user_activity@v1` in `user_activity@v1.`.
fn qualifier<'a>(context: &Context<'a>) -> &'a str {
    let before = context
        .before
        .get(..context.before.len().saturating_sub(1))
        .unwrap_or_default();
    let start = before
        .trim_end_matches(|character: char| context::is_word_char(character) || character == '@')
        .len();
    &before[start..]
}

/// `group@vN.` lists the version's features, `source.` its columns, `production.` the metrics.
fn after_dot(context: &Context<'_>, symbols: &[Symbol], items: &mut Items) {
    let qualifier = qualifier(context);
    if qualifier.contains('@') {
        items.members(symbols, SymbolKind::Feature, qualifier, '.', 0);
    } else if qualifier == "production" {
        items.words(&METRICS, CompletionItemKind::VALUE);
    } else {
        items.members(symbols, SymbolKind::Column, qualifier, '.', 0);
        items.members(symbols, SymbolKind::EntityKey, qualifier, '.', 0);
    }
}

/// `group@` lists the group's versions, `model@` the registry stages.
fn after_at(context: &Context<'_>, symbols: &[Symbol], items: &mut Items) {
    let name = qualifier(context);
    items.members(symbols, SymbolKind::FeatureGroup, name, '@', 0);
    let is_model = symbols
        .iter()
        .any(|symbol| symbol.kind == SymbolKind::Model && symbol.name == name);
    if is_model {
        items.words(&STAGES, CompletionItemKind::ENUM_MEMBER);
        items.push(
            "v1",
            CompletionItemKind::ENUM_MEMBER,
            Some("a registered version".to_string()),
            5,
        );
    }
}

fn inside(context: &Context<'_>, kind: &str, block: &str, symbols: &[Symbol], items: &mut Items) {
    if context.after_colon && matches!(block, "schema" | "entity") {
        return items.words(&TYPES, CompletionItemKind::TYPE_PARAMETER);
    }
    if context.item_start {
        for (name, form) in items_of(block) {
            items.item_keyword(name, *form);
        }
        return;
    }
    let key = context.key.unwrap_or_default();
    if let Some(values) = enumerated(block, key) {
        return items.words(values, CompletionItemKind::ENUM_MEMBER);
    }
    let (name, version) = context.header();
    match (block, key) {
        ("features", "entity") => items.all_of(symbols, SymbolKind::Entity, 0),
        ("features", "from") | ("model", "examples") => items.all_of(symbols, SymbolKind::Source, 0),
        ("model", "features") => items.all_of(symbols, SymbolKind::FeatureGroup, 0),
        ("serve", "model" | "shadow") => items.all_of(symbols, SymbolKind::Model, 0),
        ("source", "timestamp") => items.members(symbols, SymbolKind::Column, name.unwrap_or_default(), '.', 0),
        ("train", "promote_if") => {
            items.words(&METRICS, CompletionItemKind::VALUE);
            items.push("production", CompletionItemKind::MODULE, None, 1);
        }
        _ => {
            // An expression: columns of the source in scope, the group's own features, other
            // groups, functions and keywords.
            let source = match kind {
                "features" => context.property("from"),
                "model" => context.property("examples"),
                "contract" => context.header_target(),
                _ => None,
            };
            if let Some(source) = source {
                items.members(symbols, SymbolKind::Column, source, '.', 0);
            }
            if let (Some(name), Some(version)) = (name, version) {
                items.members(symbols, SymbolKind::Feature, &format!("{name}@{version}"), '.', 1);
            }
            items.all_of(symbols, SymbolKind::FeatureGroup, 2);
            for builtin in Builtin::ALL {
                items.function(builtin.name(), builtin.signature());
            }
            for aggregate in AggregateFunction::ALL {
                items.function(aggregate.name(), aggregate.signature().to_string());
            }
            if kind == "model" {
                items.all_of(symbols, SymbolKind::Source, 2);
            }
            items.words(&EXPRESSION_KEYWORDS, CompletionItemKind::KEYWORD);
        }
    }
}
