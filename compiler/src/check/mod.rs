//! The checker: resolves names across the project, types every expression, enforces the rules of
//! lang-spec, and lowers everything into the feature plan. It keeps going past errors (a failed
//! piece stands in as "unknown" and is not reported twice); the plan is only handed out when no
//! error was found.

mod builtin_call;
mod declarations;
pub mod expr;
mod features;
mod models;
mod monitors;
mod properties;

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::diagnostic::{Code, Diagnostic, suggestion};
use crate::index::{SymbolId, SymbolIndex};
use crate::plan::{ColumnIndex, EntityId, FeatureId, GroupId, ModelId, Plan, ServeId, SourceId};
use crate::source::Span;
use crate::syntax::ast::{Declaration, DeclarationKind, Ident, Value};
use crate::types::Type;

/// What the checker knows of a feature group version.
pub struct GroupInfo {
    pub name: String,
    pub version: u32,
    pub source: Option<SourceId>,
    pub entity: Option<EntityId>,
    /// Feature name → slot.
    pub features: HashMap<String, usize>,
    pub plan_id: Option<GroupId>,
}

/// One feature before and after checking.
pub struct FeatureSlot<'a> {
    pub group: usize,
    pub name: &'a Ident,
    pub value: &'a Value,
    pub docs: &'a [String],
    /// Set once the feature is checked and lowered.
    pub lowered: Option<(FeatureId, Type)>,
}

#[derive(Clone, Debug)]
pub struct DeprecationInfo {
    pub contract: String,
    pub contract_span: Span,
    pub since: i32,
    pub removable_from: i32,
}

pub struct Checker<'a> {
    pub plan: Plan,
    pub diagnostics: Vec<Diagnostic>,
    pub groups: Vec<GroupInfo>,
    pub feature_slots: Vec<FeatureSlot<'a>>,
    pub deprecations: HashMap<(SourceId, ColumnIndex), DeprecationInfo>,
    /// Name → (kind, span) of every declaration but feature groups, for duplicate and kind checks.
    declared: HashMap<String, (DeclarationKind, Span)>,
    /// Group name → version → the name's span, of every feature group version registered so far
    /// (`group_versions` is only filled once the groups are collected, after registration).
    declared_groups: HashMap<String, BTreeMap<u32, Span>>,
    /// Group name → its highest declared version, for "declare it as vN" help.
    latest_group_versions: HashMap<String, u32>,
    pub sources: HashMap<String, SourceId>,
    pub source_spans: HashMap<SourceId, Span>,
    pub entities: HashMap<String, EntityId>,
    /// Group name → version → index into `groups`.
    pub group_versions: HashMap<String, BTreeMap<u32, usize>>,
    /// Model name → its plan id (`None` if the model failed to check).
    pub models: HashMap<String, Option<ModelId>>,
    pub serves: HashMap<String, Option<ServeId>>,
    /// Declarations referenced by another one: (kind, name, version).
    pub used: HashSet<(DeclarationKind, String, u32)>,
    /// Names of declarations that failed to parse.
    unparsed: HashSet<String>,
    pub index: SymbolIndex,
    pub source_symbols: HashMap<SourceId, SymbolId>,
    pub column_symbols: HashMap<(SourceId, ColumnIndex), SymbolId>,
    pub entity_symbols: HashMap<String, SymbolId>,
    /// Parallel to `groups`.
    pub group_symbols: Vec<SymbolId>,
    /// Parallel to `feature_slots`.
    pub feature_symbols: Vec<SymbolId>,
    pub model_symbols: HashMap<String, SymbolId>,
    pub serve_symbols: HashMap<String, SymbolId>,
}

/// What checking produced.
pub struct Checked {
    /// Present only when there were no errors.
    pub plan: Option<Plan>,
    pub diagnostics: Vec<Diagnostic>,
    pub index: SymbolIndex,
}

/// Checks a parsed project; returns the plan (if there were no errors) and every diagnostic.
/// `unparsed` names declarations that failed to parse: references to them are not reported again.
pub fn check(declarations: &[Declaration], unparsed: &[(DeclarationKind, String)]) -> Checked {
    let mut checker = Checker {
        index: SymbolIndex::default(),
        source_symbols: HashMap::new(),
        column_symbols: HashMap::new(),
        entity_symbols: HashMap::new(),
        group_symbols: Vec::new(),
        feature_symbols: Vec::new(),
        model_symbols: HashMap::new(),
        serve_symbols: HashMap::new(),
        unparsed: unparsed.iter().map(|(_, name)| name.clone()).collect(),
        plan: Plan::default(),
        diagnostics: Vec::new(),
        groups: Vec::new(),
        feature_slots: Vec::new(),
        deprecations: HashMap::new(),
        declared: HashMap::new(),
        declared_groups: HashMap::new(),
        latest_group_versions: latest_group_versions(declarations),
        sources: HashMap::new(),
        source_spans: HashMap::new(),
        entities: HashMap::new(),
        group_versions: HashMap::new(),
        models: HashMap::new(),
        serves: HashMap::new(),
        used: HashSet::new(),
    };
    // Canonical order: the plan does not depend on how declarations are spread over files.
    let mut ordered: Vec<&Declaration> = declarations.iter().collect();
    ordered.sort_by(|a, b| {
        let key = |declaration: &Declaration| {
            (
                DeclarationKind::ALL.iter().position(|kind| *kind == declaration.kind),
                declaration.name.name.clone(),
                declaration.version.map(|version| version.number),
            )
        };
        key(a).cmp(&key(b)).then(a.span.cmp(&b.span))
    });
    let ordered: Vec<&Declaration> = ordered
        .into_iter()
        .filter(|declaration| checker.register(declaration))
        .collect();
    let of_kind = |kind: DeclarationKind| {
        ordered
            .iter()
            .copied()
            .filter(move |declaration| declaration.kind == kind)
    };
    for declaration in of_kind(DeclarationKind::Source) {
        checker.source(declaration);
    }
    for declaration in of_kind(DeclarationKind::Contract) {
        checker.contract(declaration);
    }
    for declaration in of_kind(DeclarationKind::Entity) {
        checker.entity(declaration);
    }
    checker.feature_groups(of_kind(DeclarationKind::Features).collect());
    for declaration in of_kind(DeclarationKind::Model) {
        checker.model(declaration);
    }
    for declaration in of_kind(DeclarationKind::Serve) {
        checker.serve(declaration);
    }
    for declaration in of_kind(DeclarationKind::Monitor) {
        checker.monitor(declaration);
    }
    checker.report_unused(&ordered);
    let has_errors = checker.diagnostics.iter().any(Diagnostic::is_error);
    let mut plan = checker.plan;
    if !has_errors {
        crate::plan::hash::assign_hashes(&mut plan);
    }
    Checked {
        plan: (!has_errors).then_some(plan),
        diagnostics: checker.diagnostics,
        index: checker.index,
    }
}

impl<'a> Checker<'a> {
    /// Records a declaration's name; reports duplicates and header shape errors. Returns whether
    /// the declaration should be checked further.
    fn register(&mut self, declaration: &'a Declaration) -> bool {
        let kind = declaration.kind;
        let name = &declaration.name;
        if name.name.is_empty() {
            return false;
        }
        match (kind, declaration.version) {
            (DeclarationKind::Features, None) => {
                self.error(
                    Diagnostic::new(
                        Code::MisplacedHeader,
                        name.span,
                        format!("feature group `{}` has no version", name.name),
                    )
                    .with_label_text("expected a version after the name")
                    .with_help(format!(
                        "declare `features {} v1 {{ ... }}`; versions are never edited once locked",
                        name.name
                    )),
                );
                return false;
            }
            (DeclarationKind::Features, Some(_)) => {}
            (_, Some(version)) => {
                self.error(
                    Diagnostic::new(
                        Code::MisplacedHeader,
                        version.span,
                        format!("{} has no version", with_article(kind.noun())),
                    )
                    .with_help("only feature groups are versioned"),
                );
            }
            (_, None) => {}
        }
        let takes_target = matches!(kind, DeclarationKind::Contract | DeclarationKind::Monitor);
        match (&declaration.target, takes_target) {
            (Some(target), false) => self.error(
                Diagnostic::new(
                    Code::MisplacedHeader,
                    target.span,
                    format!("{} is not declared `on` anything", with_article(kind.noun())),
                )
                .with_help("only contracts (`on SOURCE`) and monitors (`on SERVE`) take an `on` target"),
            ),
            (None, true) => {
                let (what, example) = if kind == DeclarationKind::Contract {
                    ("source", "SOURCE")
                } else {
                    ("serve target", "SERVE")
                };
                self.error(
                    Diagnostic::new(
                        Code::MissingProperty,
                        name.span,
                        format!("{} `{}` does not say which {what} it is on", kind.noun(), name.name),
                    )
                    .with_help(format!(
                        "write `{} {} on {example} {{ ... }}`",
                        kind.keyword(),
                        name.name
                    )),
                );
                return false;
            }
            _ => {}
        }
        if kind == DeclarationKind::Features {
            return self.register_group(declaration);
        }
        let group_clash = self
            .declared_groups
            .get(&name.name)
            .and_then(|versions| versions.values().next())
            .map(|span| (DeclarationKind::Features, *span));
        if let Some((other_kind, span)) = self.declared.get(&name.name).copied().or(group_clash) {
            self.duplicate(declaration, other_kind, span);
            return false;
        }
        self.declared.insert(name.name.clone(), (kind, name.span));
        true
    }

    /// Registers a feature group version: the same name and version twice is `E0105` (the first
    /// declaration counts), as is a group named like a declaration of another kind.
    fn register_group(&mut self, declaration: &'a Declaration) -> bool {
        let name = &declaration.name;
        let version = declaration.version.map_or(0, |version| version.number);
        if let Some(first) = self
            .declared_groups
            .get(&name.name)
            .and_then(|versions| versions.get(&version))
            .copied()
        {
            self.error(
                Diagnostic::new(
                    Code::DuplicateDeclaration,
                    name.span,
                    format!("feature group `{}` v{version} is declared twice", name.name),
                )
                .with_secondary(first, "first declared here")
                .with_help(format!(
                    "versions are never edited in place: give the new definition a new version, e.g. v{}",
                    self.next_group_version(&name.name)
                )),
            );
            return false;
        }
        if let Some((other_kind, span)) = self.declared.get(&name.name).copied() {
            self.duplicate(declaration, other_kind, span);
            return false;
        }
        self.declared_groups
            .entry(name.name.clone())
            .or_default()
            .insert(version, name.span);
        true
    }

    /// One more than the highest declared version of a feature group.
    fn next_group_version(&self, name: &str) -> u32 {
        self.latest_group_versions
            .get(name)
            .map_or(1, |highest| highest.saturating_add(1))
    }

    fn duplicate(&mut self, declaration: &Declaration, other_kind: DeclarationKind, first: Span) {
        self.error(
            Diagnostic::new(
                Code::DuplicateDeclaration,
                declaration.name.span,
                format!("`{}` is declared twice", declaration.name.name),
            )
            .with_secondary(
                first,
                format!("first declared here as {}", with_article(other_kind.noun())),
            )
            .with_help("every declaration of a project shares one namespace; rename one of them"),
        );
    }

    /// Reports an unknown reference to a declaration of `kind`, naming a same-named declaration
    /// of another kind or suggesting a close name.
    pub fn unknown_declaration(&mut self, ident: &Ident, kind: DeclarationKind) {
        if self.unparsed.contains(&ident.name) {
            // Already reported as a syntax error; calling it unknown would only add noise.
            return;
        }
        let message = match self.declared.get(&ident.name) {
            Some((other, _)) => format!(
                "`{}` is {}, not {}",
                ident.name,
                with_article(other.noun()),
                with_article(kind.noun())
            ),
            None if kind != DeclarationKind::Features && self.group_versions.contains_key(&ident.name) => {
                format!("`{}` is a feature group, not {}", ident.name, with_article(kind.noun()))
            }
            None => format!("unknown {} `{}`", kind.noun(), ident.name),
        };
        let candidates: Vec<&str> = match kind {
            DeclarationKind::Features => self.group_versions.keys().map(String::as_str).collect(),
            _ => self
                .declared
                .iter()
                .filter(|(_, (other, _))| *other == kind)
                .map(|(name, _)| name.as_str())
                .collect(),
        };
        let mut diagnostic = Diagnostic::new(Code::UnknownDeclaration, ident.span, message)
            .with_label_text(format!("not {}", with_article(kind.noun())));
        if let Some(help) = suggestion(&ident.name, candidates) {
            diagnostic = diagnostic.with_help(help);
        }
        self.error(diagnostic);
    }

    pub fn mark_used(&mut self, kind: DeclarationKind, name: &str, version: u32) {
        self.used.insert((kind, name.to_string(), version));
    }

    fn report_unused(&mut self, declarations: &[&Declaration]) {
        for declaration in declarations {
            let kind = declaration.kind;
            if !matches!(
                kind,
                DeclarationKind::Source | DeclarationKind::Entity | DeclarationKind::Features | DeclarationKind::Model
            ) {
                continue;
            }
            let version = match kind {
                DeclarationKind::Features => declaration.version.map_or(0, |version| version.number),
                _ => 0,
            };
            if self.used.contains(&(kind, declaration.name.name.clone(), version)) {
                continue;
            }
            let (what, help) = match kind {
                DeclarationKind::Source => ("source", "use it in a feature group or model, or delete it"),
                DeclarationKind::Entity => ("entity", "use it as a feature group's `entity`, or delete it"),
                DeclarationKind::Features => (
                    "feature group version",
                    "pin it in a model (`features = [...]`) or reference it from another group; delete it once no model needs it",
                ),
                _ => ("model", "serve it with a `serve` target, or delete it"),
            };
            let label = match kind {
                DeclarationKind::Features => format!("{} v{version}", declaration.name.name),
                _ => declaration.name.name.clone(),
            };
            self.diagnostics.push(
                Diagnostic::new(
                    Code::UnusedDeclaration,
                    declaration.name.span,
                    format!("{what} `{label}` is never used"),
                )
                .with_help(help),
            );
        }
    }
}

/// Group name → the highest version declared for it.
fn latest_group_versions(declarations: &[Declaration]) -> HashMap<String, u32> {
    let mut latest: HashMap<String, u32> = HashMap::new();
    for declaration in declarations {
        if let (DeclarationKind::Features, Some(version)) = (declaration.kind, declaration.version) {
            let highest = latest.entry(declaration.name.name.clone()).or_default();
            *highest = (*highest).max(version.number);
        }
    }
    latest
}

/// "a source", "an entity".
pub fn with_article(noun: &str) -> String {
    let article = if noun.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    };
    format!("{article} {noun}")
}
