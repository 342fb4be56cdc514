//! Sources, contracts and entities.

use std::collections::HashMap;

use crate::check::expr::Env;
use crate::check::properties::*;
use crate::check::{Checker, DeprecationInfo};
use crate::diagnostic::{Code, Diagnostic, suggestion};
use crate::index::SymbolKind;
use crate::plan::*;
use crate::source::Span;
use crate::syntax::ast::{self, Declaration, DeclarationKind, ItemKind, TypeExpr};
use crate::syntax::literal::MICROS_PER_DAY;
use crate::types::{BaseType, Type};

const SOURCE_PROPERTIES: &[&str] = &[
    "format",
    "location",
    "timestamp",
    "partition",
    "schema",
    "unknown_columns",
    "bad_rows",
];
const CONTRACT_PROPERTIES: &[&str] = &["owner", "notice"];
const DEFAULT_NOTICE_MICROS: i64 = 14 * MICROS_PER_DAY;

pub fn doc_of(docs: &[String]) -> Option<String> {
    (!docs.is_empty()).then(|| docs.join("\n"))
}

impl Checker<'_> {
    /// Resolves a type name (`float64?`).
    pub fn type_of(&mut self, ty: &TypeExpr) -> Option<Type> {
        match BaseType::from_name(&ty.name.name) {
            Some(base) => Some(Type {
                base,
                nullable: ty.nullable,
            }),
            None => {
                let diagnostic = Diagnostic::new(
                    Code::UnknownType,
                    ty.name.span,
                    format!("unknown type `{}`", ty.name.name),
                )
                .with_label_text("not a type");
                let aliases = [
                    ("int", "int64"),
                    ("integer", "int64"),
                    ("long", "int64"),
                    ("float", "float64"),
                    ("double", "float64"),
                    ("str", "string"),
                    ("text", "string"),
                    ("boolean", "bool"),
                    ("datetime", "timestamp"),
                ];
                let help = aliases
                    .iter()
                    .find(|(alias, _)| *alias == ty.name.name)
                    .map(|(_, real)| format!("did you mean `{real}`?"))
                    .or_else(|| suggestion(&ty.name.name, BaseType::ALL.iter().map(|base| base.name())))
                    .unwrap_or_else(|| "types are bool, int64, float64, string, date, timestamp, duration".to_string());
                self.error(diagnostic.with_help(help));
                None
            }
        }
    }

    pub fn source(&mut self, declaration: &Declaration) {
        let name = &declaration.name;
        reject_statements(
            &declaration.items,
            &format!("source `{}`", name.name),
            &mut self.diagnostics,
        );
        let mut properties = Properties::collect(&declaration.items, &mut self.diagnostics);
        let diagnostics = &mut self.diagnostics;
        let format = properties
            .required("format", declaration, "format = parquet", diagnostics)
            .and_then(|property| {
                choice(
                    &property,
                    &[
                        ("parquet", Format::Parquet),
                        ("csv", Format::Csv),
                        ("json", Format::Json),
                        ("delta", Format::Delta),
                    ],
                    diagnostics,
                )
            });
        let location = properties
            .required("location", declaration, "location = \"data/raw/NAME\"", diagnostics)
            .and_then(|property| {
                let path = string_value(&property, diagnostics)?;
                project_path("location", path, property.value.expr.span, diagnostics)
            });
        let partitioning = properties.value("partition", diagnostics).and_then(|property| {
            choice(
                &property,
                &[
                    ("daily", Partitioning::Daily),
                    ("hourly", Partitioning::Hourly),
                    ("none", Partitioning::None),
                ],
                diagnostics,
            )
        });
        let unknown_columns = properties.value("unknown_columns", diagnostics).and_then(|property| {
            choice(
                &property,
                &[
                    ("ignore", UnknownColumns::Ignore),
                    ("warn", UnknownColumns::Warn),
                    ("error", UnknownColumns::Error),
                ],
                diagnostics,
            )
        });
        let bad_rows = properties.value("bad_rows", diagnostics).and_then(|property| {
            choice(
                &property,
                &[("quarantine", BadRows::Quarantine), ("fail", BadRows::Fail)],
                diagnostics,
            )
        });
        let timestamp_property = properties.value("timestamp", diagnostics);
        let properties_had_timestamp = timestamp_property.is_some();
        let partition_span = properties.key_span("partition");
        let timestamp_ident = timestamp_property
            .as_ref()
            .and_then(|property| name_value(property, "a column name", diagnostics))
            .cloned();
        let schema = properties.block("schema", diagnostics);
        if schema.is_none() && !properties.has("schema") {
            diagnostics.push(missing(declaration, "schema", "schema { id: string, ... }"));
        }
        properties.finish(&format!("source `{}`", name.name), SOURCE_PROPERTIES, diagnostics);

        let mut columns: Vec<Column> = Vec::new();
        let mut column_spans: HashMap<String, Span> = HashMap::new();
        let mut column_docs: Vec<Option<String>> = Vec::new();
        if let Some((_, items)) = schema {
            for item in items {
                let ItemKind::Field { name: column, ty } = &item.kind else {
                    self.error(
                        Diagnostic::new(Code::InvalidValue, item.span, "a schema lists columns as `name: type`")
                            .with_label_text("not a column"),
                    );
                    continue;
                };
                let Some(ty) = self.type_of(ty) else { continue };
                if let Some(first) = column_spans.get(&column.name) {
                    self.error(
                        Diagnostic::new(
                            Code::DuplicateMember,
                            column.span,
                            format!("column `{}` is declared twice", column.name),
                        )
                        .with_secondary(*first, "first declared here"),
                    );
                    continue;
                }
                column_spans.insert(column.name.clone(), column.span);
                column_docs.push(doc_of(&item.docs));
                columns.push(Column {
                    name: column.name.clone(),
                    ty,
                });
            }
        }
        let timestamp = timestamp_ident.and_then(|ident| {
            let index = columns.iter().position(|column| column.name == ident.name);
            match index {
                Some(index) if columns[index].ty.base == BaseType::Timestamp => u32::try_from(index).ok(),
                Some(index) => {
                    let found = columns[index].ty;
                    self.error(
                        Diagnostic::new(
                            Code::TypeMismatch,
                            ident.span,
                            format!("the timestamp column must be timestamp, `{}` is {found}", ident.name),
                        )
                        .with_secondary(column_spans[&ident.name], format!("declared {found} here")),
                    );
                    None
                }
                None => {
                    let mut diagnostic = Diagnostic::new(
                        Code::UnknownName,
                        ident.span,
                        format!("source `{}` has no column `{}`", name.name, ident.name),
                    )
                    .with_label_text("not in the schema");
                    if let Some(help) = suggestion(&ident.name, columns.iter().map(|column| column.name.as_str())) {
                        diagnostic = diagnostic.with_help(help);
                    }
                    self.error(diagnostic);
                    None
                }
            }
        });
        if timestamp.is_none()
            && !properties_had_timestamp
            && let (Some(partitioning), Some(span)) = (partitioning, partition_span)
            && partitioning != Partitioning::None
        {
            self.error(
                Diagnostic::new(
                    Code::MissingProperty,
                    span,
                    format!(
                        "source `{}` is partitioned by time but declares no `timestamp`",
                        name.name
                    ),
                )
                .with_help("declare the event-time column: `timestamp = COLUMN`"),
            );
        }
        let id = self.plan.sources.push(Source {
            name: name.name.clone(),
            doc: doc_of(&declaration.docs),
            format: format.unwrap_or(Format::Parquet),
            location: location.unwrap_or_default(),
            timestamp,
            partitioning: partitioning.unwrap_or(Partitioning::None),
            columns,
            unknown_columns: unknown_columns.unwrap_or(UnknownColumns::Warn),
            bad_rows: bad_rows.unwrap_or(BadRows::Quarantine),
        });
        self.sources.insert(name.name.clone(), id);
        self.source_spans.insert(id, name.span);
        let source = &self.plan.sources[id];
        let detail = format!("source · {:?} · {}", source.format, source.location).to_lowercase();
        let symbol = self.index.define(
            SymbolKind::Source,
            &name.name,
            name.span,
            doc_of(&declaration.docs),
            detail,
        );
        self.source_symbols.insert(id, symbol);
        let columns: Vec<(String, String)> = source
            .columns
            .iter()
            .map(|column| (column.name.clone(), column.ty.to_string()))
            .collect();
        for (index, ((column, ty), doc)) in columns.into_iter().zip(column_docs).enumerate() {
            let span = column_spans.get(&column).copied().unwrap_or(name.span);
            let detail = format!("{ty} · column of `{}`", name.name);
            let symbol = self
                .index
                .define(SymbolKind::Column, format!("{}.{column}", name.name), span, doc, detail);
            self.column_symbols.insert((id, index as ColumnIndex), symbol);
        }
    }

    /// Looks up a source by name, reporting `E0102` and marking it used.
    pub fn source_named(&mut self, ident: &ast::Ident) -> Option<SourceId> {
        match self.sources.get(&ident.name) {
            Some(id) => {
                let id = *id;
                self.mark_used(DeclarationKind::Source, &ident.name, 0);
                if let Some(symbol) = self.source_symbols.get(&id) {
                    self.index.refer(ident.span, *symbol);
                }
                Some(id)
            }
            None => {
                self.unknown_declaration(ident, DeclarationKind::Source);
                None
            }
        }
    }

    /// A column of `source` named in a contract or label; `E0601` or `E0101` when it is missing.
    pub fn column_of(
        &mut self,
        source: SourceId,
        column: &ast::Ident,
        code: Code,
        context: &str,
    ) -> Option<ColumnIndex> {
        let source_plan = &self.plan.sources[source];
        if let Some(index) = source_plan.column_index(&column.name) {
            if let Some(symbol) = self.column_symbols.get(&(source, index)) {
                self.index.refer(column.span, *symbol);
            }
            return Some(index);
        }
        let mut diagnostic = Diagnostic::new(
            code,
            column.span,
            format!(
                "{context}: source `{}` has no column `{}`",
                source_plan.name, column.name
            ),
        )
        .with_label_text("not in the schema");
        if let Some(help) = suggestion(
            &column.name,
            source_plan.columns.iter().map(|column| column.name.as_str()),
        ) {
            diagnostic = diagnostic.with_help(help);
        }
        if let Some(span) = self.source_spans.get(&source) {
            diagnostic = diagnostic.with_secondary(*span, "source declared here");
        }
        self.error(diagnostic);
        None
    }

    pub fn contract(&mut self, declaration: &Declaration) {
        let Some(target) = &declaration.target else { return };
        let source = self.source_named(target);
        let mut properties = Properties::collect(&declaration.items, &mut self.diagnostics);
        let diagnostics = &mut self.diagnostics;
        let owner = properties
            .required("owner", declaration, "owner = \"team@example.com\"", diagnostics)
            .and_then(|property| string_value(&property, diagnostics));
        let notice = properties
            .value("notice", diagnostics)
            .and_then(|property| duration_value(&property, diagnostics));
        properties.finish(
            &format!("contract `{}`", declaration.name.name),
            CONTRACT_PROPERTIES,
            diagnostics,
        );
        let Some(source) = source else { return };
        let context = format!("contract `{}`", declaration.name.name);
        let mut required = Vec::new();
        let mut expectations = Vec::new();
        let mut deprecations = Vec::new();
        let notice_micros = notice.unwrap_or(DEFAULT_NOTICE_MICROS);
        for item in &declaration.items {
            match &item.kind {
                ItemKind::Require { columns } => {
                    for column in columns {
                        if let Some(index) = self.column_of(source, column, Code::ContractColumn, &context) {
                            required.push(index);
                        }
                    }
                }
                ItemKind::Deprecate { column, since } => {
                    if let Some(index) = self.column_of(source, column, Code::ContractColumn, &context) {
                        deprecations.push(Deprecation {
                            column: index,
                            since: since.days,
                        });
                        let notice_days = i32::try_from(notice_micros / MICROS_PER_DAY).unwrap_or(i32::MAX);
                        self.deprecations.insert(
                            (source, index),
                            DeprecationInfo {
                                contract: declaration.name.name.clone(),
                                contract_span: item.span,
                                since: since.days,
                                removable_from: since.days.saturating_add(notice_days),
                            },
                        );
                    }
                }
                ItemKind::Expect { expr } => {
                    if let Some(expectation) = self.expectation(source, expr, &context) {
                        expectations.push(expectation);
                    }
                }
                ItemKind::Property { .. } | ItemKind::Block { .. } => {}
                _ => self.error(
                    Diagnostic::new(
                        Code::UnknownProperty,
                        item.span,
                        format!("this is not allowed in {context}"),
                    )
                    .with_help("a contract holds `owner`, `notice`, `require`, `expect` and `deprecate`"),
                ),
            }
        }
        let contract_name = &declaration.name.name;
        for column in &required {
            self.annotate_column(source, *column, format!("required by contract `{contract_name}`"));
        }
        for deprecation in &deprecations {
            let since = crate::syntax::literal::format_date(deprecation.since);
            self.annotate_column(
                source,
                deprecation.column,
                format!("deprecated since {since} by contract `{contract_name}`"),
            );
        }
        self.index.define(
            SymbolKind::Contract,
            contract_name,
            declaration.name.span,
            doc_of(&declaration.docs),
            format!(
                "contract on `{}` · owner {}",
                self.plan.sources[source].name,
                owner.as_deref().unwrap_or("?")
            ),
        );
        self.plan.contracts.push(Contract {
            name: declaration.name.name.clone(),
            doc: doc_of(&declaration.docs),
            source,
            owner: owner.unwrap_or_default(),
            notice_micros,
            required,
            expectations,
            deprecations,
            hash: Hash::default(),
        });
    }

    fn expectation(&mut self, source: SourceId, expr: &ast::Expr, context: &str) -> Option<Expectation> {
        if let ast::ExprKind::Call { function, arguments } = &expr.kind
            && matches!(function.name.as_str(), "unique" | "not_null")
        {
            let column = match arguments.as_slice() {
                [ast::Argument { name: None, value }] => match &value.kind {
                    ast::ExprKind::Name(column) => Some(column),
                    _ => None,
                },
                _ => None,
            };
            let Some(column) = column else {
                self.error(
                    Diagnostic::new(
                        Code::ArgumentCount,
                        expr.span,
                        format!("`{}` takes one column name", function.name),
                    )
                    .with_help(format!("write `expect {}(column)`", function.name)),
                );
                return None;
            };
            let index = self.column_of(source, column, Code::ContractColumn, context)?;
            return Some(if function.name == "unique" {
                Expectation::Unique { column: index }
            } else {
                Expectation::NotNull { column: index }
            });
        }
        let env = Env::columns_of(source, "a contract expectation");
        let (expr, _) = self.expr_of(&env, expr, BaseType::Bool)?;
        Some(Expectation::Holds { expr })
    }

    pub fn entity(&mut self, declaration: &Declaration) {
        let mut keys: Vec<Column> = Vec::new();
        let mut spans: HashMap<String, Span> = HashMap::new();
        for item in &declaration.items {
            let ItemKind::Key { name, ty } = &item.kind else {
                self.error(
                    Diagnostic::new(
                        Code::UnknownProperty,
                        item.span,
                        format!("entity `{}` only lists keys", declaration.name.name),
                    )
                    .with_help("write `key user_id: string`"),
                );
                continue;
            };
            let Some(key_type) = self.type_of(ty) else { continue };
            if key_type.nullable || !matches!(key_type.base, BaseType::String | BaseType::Int64 | BaseType::Date) {
                self.error(
                    Diagnostic::new(
                        Code::TypeMismatch,
                        ty.span,
                        format!("entity keys must be string, int64 or date and never null, not {key_type}"),
                    )
                    .with_label_text("not a key type"),
                );
                continue;
            }
            if let Some(first) = spans.get(&name.name) {
                self.error(
                    Diagnostic::new(
                        Code::DuplicateMember,
                        name.span,
                        format!("key `{}` is declared twice", name.name),
                    )
                    .with_secondary(*first, "first declared here"),
                );
                continue;
            }
            spans.insert(name.name.clone(), name.span);
            self.index.define(
                SymbolKind::EntityKey,
                format!("{}.{}", declaration.name.name, name.name),
                name.span,
                doc_of(&item.docs),
                format!("{key_type} · key of entity `{}`", declaration.name.name),
            );
            keys.push(Column {
                name: name.name.clone(),
                ty: key_type,
            });
        }
        if keys.is_empty() && spans.is_empty() {
            self.error(
                Diagnostic::new(
                    Code::MissingProperty,
                    declaration.name.span,
                    format!("entity `{}` has no key", declaration.name.name),
                )
                .with_help("add `key user_id: string`"),
            );
        }
        let id = self.plan.entities.push(Entity {
            name: declaration.name.name.clone(),
            doc: doc_of(&declaration.docs),
            keys,
        });
        self.entities.insert(declaration.name.name.clone(), id);
        let keys: Vec<String> = self.plan.entities[id]
            .keys
            .iter()
            .map(|key| format!("{}: {}", key.name, key.ty))
            .collect();
        let symbol = self.index.define(
            SymbolKind::Entity,
            &declaration.name.name,
            declaration.name.span,
            doc_of(&declaration.docs),
            format!("entity keyed by {}", keys.join(", ")),
        );
        self.entity_symbols.insert(declaration.name.name.clone(), symbol);
    }

    /// Adds a contract note to a column's hover text.
    fn annotate_column(&mut self, source: SourceId, column: ColumnIndex, note: String) {
        if let Some(symbol) = self.column_symbols.get(&(source, column))
            && let Some(symbol) = self.index.symbols.get_mut(*symbol)
        {
            symbol.detail.push_str(" · ");
            symbol.detail.push_str(&note);
        }
    }
}
