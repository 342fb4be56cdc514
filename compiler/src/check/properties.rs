//! Reading a declaration's items as named properties: duplicates, unknown keys with "did you mean",
//! and typed accessors that report `E0111` for values of the wrong shape.

use crate::diagnostic::{Code, Diagnostic, suggestion};
use crate::paths::PathReach;
use crate::source::Span;
use crate::syntax::ast::*;
use crate::syntax::literal::format_duration;

/// A property or block of a declaration, looked up by key.
pub struct Properties<'a> {
    entries: Vec<Entry<'a>>,
}

struct Entry<'a> {
    key: &'a Ident,
    docs: &'a [String],
    content: Content<'a>,
    used: bool,
}

enum Content<'a> {
    Value(&'a Value),
    Block(&'a [Item]),
}

/// Something a property can be read as.
pub struct PropertyValue<'a> {
    pub key: &'a Ident,
    pub value: &'a Value,
    pub docs: &'a [String],
}

impl<'a> Properties<'a> {
    /// Collects the `key = value` and `name { }` items; reports keys given twice.
    pub fn collect(items: &'a [Item], diagnostics: &mut Vec<Diagnostic>) -> Self {
        Self::collect_members(items, &[], diagnostics)
    }

    /// Like [`Properties::collect`], for declarations whose other keys are members (a feature
    /// group's features): a key outside `properties` given twice is a duplicate member (`E0106`).
    pub fn collect_members(items: &'a [Item], properties: &[&str], diagnostics: &mut Vec<Diagnostic>) -> Self {
        let members = !properties.is_empty();
        let mut entries: Vec<Entry<'a>> = Vec::new();
        for item in items {
            let (key, content) = match &item.kind {
                ItemKind::Property { key, value } => (key, Content::Value(value)),
                ItemKind::Block { name, items } => (name, Content::Block(items)),
                _ => continue,
            };
            if let Some(first) = entries.iter().find(|entry| entry.key.name == key.name) {
                let diagnostic = if members && !properties.contains(&key.name.as_str()) {
                    Diagnostic::new(
                        Code::DuplicateMember,
                        key.span,
                        format!("feature `{}` is defined twice", key.name),
                    )
                    .with_label_text("defined again here")
                    .with_secondary(first.key.span, "first defined here")
                    .with_help("rename one of them; to change a feature, declare a new version of the group")
                } else {
                    Diagnostic::new(
                        Code::DuplicateProperty,
                        key.span,
                        format!("`{}` is given twice", key.name),
                    )
                    .with_label_text("given again here")
                    .with_secondary(first.key.span, "first given here")
                    .with_help("remove one of them")
                };
                diagnostics.push(diagnostic);
                continue;
            }
            entries.push(Entry {
                key,
                docs: &item.docs,
                content,
                used: false,
            });
        }
        Properties { entries }
    }

    /// Takes a `key = value` property.
    pub fn value(&mut self, key: &str, diagnostics: &mut Vec<Diagnostic>) -> Option<PropertyValue<'a>> {
        let entry = self.entries.iter_mut().find(|entry| entry.key.name == key)?;
        entry.used = true;
        match entry.content {
            Content::Value(value) => Some(PropertyValue {
                key: entry.key,
                value,
                docs: entry.docs,
            }),
            Content::Block(_) => {
                diagnostics.push(
                    Diagnostic::new(
                        Code::InvalidValue,
                        entry.key.span,
                        format!("`{key}` takes a value, not a block"),
                    )
                    .with_help(format!("write `{key} = ...`")),
                );
                None
            }
        }
    }

    /// Takes a required `key = value` property, reporting `E0109` at `declaration` if absent.
    pub fn required(
        &mut self,
        key: &str,
        declaration: &Declaration,
        example: &str,
        diagnostics: &mut Vec<Diagnostic>,
    ) -> Option<PropertyValue<'a>> {
        let present = self.entries.iter().any(|entry| entry.key.name == key);
        if !present {
            diagnostics.push(missing(declaration, key, example));
            return None;
        }
        self.value(key, diagnostics)
    }

    /// Takes a `name { ... }` block.
    pub fn block(&mut self, key: &str, diagnostics: &mut Vec<Diagnostic>) -> Option<(&'a Ident, &'a [Item])> {
        let entry = self.entries.iter_mut().find(|entry| entry.key.name == key)?;
        entry.used = true;
        match entry.content {
            Content::Block(items) => Some((entry.key, items)),
            Content::Value(_) => {
                diagnostics.push(
                    Diagnostic::new(Code::InvalidValue, entry.key.span, format!("`{key}` is a block"))
                        .with_help(format!("write `{key} {{ ... }}`")),
                );
                None
            }
        }
    }

    pub fn has(&self, key: &str) -> bool {
        self.entries.iter().any(|entry| entry.key.name == key)
    }

    /// The span of a property's key, if present (whether used or not).
    pub fn key_span(&self, key: &str) -> Option<Span> {
        self.entries
            .iter()
            .find(|entry| entry.key.name == key)
            .map(|entry| entry.key.span)
    }

    /// The entries nobody took, in order (feature groups read their features this way).
    pub fn remaining_values(&mut self) -> Vec<PropertyValue<'a>> {
        let mut remaining = Vec::new();
        for entry in &mut self.entries {
            if entry.used {
                continue;
            }
            if let Content::Value(value) = entry.content {
                entry.used = true;
                remaining.push(PropertyValue {
                    key: entry.key,
                    value,
                    docs: entry.docs,
                });
            }
        }
        remaining
    }

    /// Reports every entry not taken as unknown (`E0108`), suggesting the closest allowed key.
    pub fn finish(self, context: &str, allowed: &[&str], diagnostics: &mut Vec<Diagnostic>) {
        for entry in self.entries.iter().filter(|entry| !entry.used) {
            let mut diagnostic = Diagnostic::new(
                Code::UnknownProperty,
                entry.key.span,
                format!("{context} has no property `{}`", entry.key.name),
            )
            .with_label_text("unknown property");
            diagnostic = match suggestion(&entry.key.name, allowed.iter().copied()) {
                Some(help) => diagnostic.with_help(help),
                None => diagnostic.with_help(format!("allowed here: {}", allowed.join(", "))),
            };
            diagnostics.push(diagnostic);
        }
    }
}

pub fn missing(declaration: &Declaration, key: &str, example: &str) -> Diagnostic {
    Diagnostic::new(
        Code::MissingProperty,
        declaration.name.span,
        format!("{} `{}` has no `{key}`", declaration.kind.noun(), declaration.name.name),
    )
    .with_label_text(format!("`{key}` is required"))
    .with_help(format!("add `{example}`"))
}

/// Reports clauses (`over`, `on`, ...) on a value that takes none.
pub fn reject_clauses(value: &Value, key: &str, diagnostics: &mut Vec<Diagnostic>) {
    for clause in &value.clauses {
        diagnostics.push(Diagnostic::new(
            Code::InvalidValue,
            clause.span,
            format!("`{}` is not allowed in `{key}`", clause.kind.keyword()),
        ));
    }
}

/// A bare name (`format = parquet`).
pub fn name_value<'a>(
    property: &PropertyValue<'a>,
    what: &str,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<&'a Ident> {
    reject_clauses(property.value, &property.key.name, diagnostics);
    match &property.value.expr.kind {
        ExprKind::Name(ident) => Some(ident),
        ExprKind::Error => None,
        _ => {
            diagnostics.push(
                Diagnostic::new(
                    Code::InvalidValue,
                    property.value.expr.span,
                    format!("`{}` must be {what}", property.key.name),
                )
                .with_label_text(format!("expected {what}")),
            );
            None
        }
    }
}

/// One of a fixed set of words; reports the allowed words otherwise.
pub fn choice<T: Copy>(
    property: &PropertyValue<'_>,
    options: &[(&str, T)],
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<T> {
    let names: Vec<&str> = options.iter().map(|(name, _)| *name).collect();
    let what = format!("one of {}", names.join(", "));
    let ident = name_value(property, &what, diagnostics)?;
    if let Some((_, value)) = options.iter().find(|(name, _)| *name == ident.name) {
        return Some(*value);
    }
    let mut diagnostic = Diagnostic::new(
        Code::InvalidValue,
        ident.span,
        format!("`{}` is not a valid `{}`", ident.name, property.key.name),
    )
    .with_label_text(format!("expected {what}"));
    if let Some(help) = suggestion(&ident.name, names.iter().copied()) {
        diagnostic = diagnostic.with_help(help);
    }
    diagnostics.push(diagnostic);
    None
}

pub fn string_value(property: &PropertyValue<'_>, diagnostics: &mut Vec<Diagnostic>) -> Option<String> {
    reject_clauses(property.value, &property.key.name, diagnostics);
    match &property.value.expr.kind {
        ExprKind::String(text) => Some(text.clone()),
        ExprKind::Error => None,
        _ => {
            diagnostics.push(
                Diagnostic::new(
                    Code::InvalidValue,
                    property.value.expr.span,
                    format!("`{}` must be a string", property.key.name),
                )
                .with_label_text("expected a \"quoted string\""),
            );
            None
        }
    }
}

/// A path of the spec (`location`, `onnx("PATH")`) checked by where its text points: climbing out
/// of the project with `..` is an error (E0113, `None`); an absolute path or `file://` URL is
/// allowed and noted (I0101), so that review sees a build reading the machine beyond the project.
pub fn project_path(what: &str, path: String, span: Span, diagnostics: &mut Vec<Diagnostic>) -> Option<String> {
    match crate::paths::reach(&path) {
        PathReach::Inside | PathReach::Remote => Some(path),
        PathReach::Machine => {
            diagnostics.push(
                Diagnostic::new(
                    Code::PathOnMachine,
                    span,
                    format!("{what} `{path}` is outside the project directory"),
                )
                .with_label_text("read from wherever the build runs")
                .with_help(
                    "fine if meant (shared data on every build machine); a path inside the project travels with it",
                ),
            );
            Some(path)
        }
        PathReach::Escapes => {
            diagnostics.push(
                Diagnostic::new(
                    Code::PathEscapesProject,
                    span,
                    format!("{what} `{path}` leads out of the project directory"),
                )
                .with_label_text("`..` climbs above the project")
                .with_help("keep relative paths inside the project; to read elsewhere on purpose, write an absolute path or a URL"),
            );
            None
        }
    }
}

/// A positive duration literal.
pub fn duration_value(property: &PropertyValue<'_>, diagnostics: &mut Vec<Diagnostic>) -> Option<i64> {
    reject_clauses(property.value, &property.key.name, diagnostics);
    match &property.value.expr.kind {
        ExprKind::Duration(micros) if *micros > 0 => Some(*micros),
        ExprKind::Duration(micros) => {
            diagnostics.push(Diagnostic::new(
                Code::InvalidValue,
                property.value.expr.span,
                format!(
                    "`{}` must be positive, not {}",
                    property.key.name,
                    format_duration(*micros)
                ),
            ));
            None
        }
        ExprKind::Error => None,
        _ => {
            diagnostics.push(
                Diagnostic::new(
                    Code::InvalidValue,
                    property.value.expr.span,
                    format!("`{}` must be a duration", property.key.name),
                )
                .with_label_text("expected a duration like `20ms` or `14d`"),
            );
            None
        }
    }
}

pub fn int_value(property: &PropertyValue<'_>, diagnostics: &mut Vec<Diagnostic>) -> Option<i64> {
    reject_clauses(property.value, &property.key.name, diagnostics);
    match &property.value.expr.kind {
        ExprKind::Int(value) => Some(*value),
        ExprKind::Error => None,
        _ => {
            diagnostics.push(
                Diagnostic::new(
                    Code::InvalidValue,
                    property.value.expr.span,
                    format!("`{}` must be an integer", property.key.name),
                )
                .with_label_text("expected an integer"),
            );
            None
        }
    }
}

/// `YYYY-MM-DD .. YYYY-MM-DD`; reports `E0406` when it ends before it starts.
pub fn date_range_value(
    property: &PropertyValue<'_>,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<(DateLiteral, DateLiteral)> {
    reject_clauses(property.value, &property.key.name, diagnostics);
    match &property.value.expr.kind {
        ExprKind::DateRange(start, end) => {
            if end.days < start.days {
                diagnostics.push(
                    Diagnostic::new(
                        Code::EmptyRange,
                        property.value.expr.span,
                        format!("`{}` ends before it starts", property.key.name),
                    )
                    .with_help("date ranges are `FIRST .. LAST`, both days included"),
                );
                return None;
            }
            Some((*start, *end))
        }
        ExprKind::Error => None,
        _ => {
            diagnostics.push(
                Diagnostic::new(
                    Code::InvalidValue,
                    property.value.expr.span,
                    format!("`{}` must be a date range", property.key.name),
                )
                .with_label_text("expected `YYYY-MM-DD .. YYYY-MM-DD`"),
            );
            None
        }
    }
}

/// Reports items that are not properties or blocks (fields, `require`, rules, ...) in a context that
/// accepts none of them.
pub fn reject_statements(items: &[Item], context: &str, diagnostics: &mut Vec<Diagnostic>) {
    for item in items {
        let what = match &item.kind {
            ItemKind::Property { .. } | ItemKind::Block { .. } => continue,
            ItemKind::Field { .. } => "a `name: type` field",
            ItemKind::Key { .. } => "a `key`",
            ItemKind::Require { .. } => "`require`",
            ItemKind::Expect { .. } => "`expect`",
            ItemKind::Deprecate { .. } => "`deprecate`",
            ItemKind::Drift(_) => "a `drift` rule",
            ItemKind::Metric(_) => "a `metric` rule",
        };
        diagnostics.push(
            Diagnostic::new(
                Code::UnknownProperty,
                item.span,
                format!("{what} is not allowed in {context}"),
            )
            .with_label_text("not allowed here"),
        );
    }
}
