//! Feature groups: collecting features, ordering them by dependency (reporting cycles), and
//! checking row-level, derived and windowed aggregate features.

use std::collections::HashMap;

use crate::builtins::AggregateFunction;
use crate::check::declarations::doc_of;
use crate::check::expr::{Env, RefPolicy, Resolution};
use crate::check::properties::*;
use crate::check::{Checker, FeatureSlot, GroupInfo};
use crate::diagnostic::{Code, Diagnostic, suggestion};
use crate::index::SymbolKind;
use crate::plan::{self, Aggregate, FeatureGroup, FeatureKind, Hash};
use crate::syntax::ast::{self, ClauseKind, Declaration, DeclarationKind, DurationLiteral};
use crate::syntax::literal::format_duration;
use crate::types::BaseType;

/// Why a reference did not resolve: a diagnostic to report, or `None` when the problem was already
/// reported (the referenced declaration failed to parse).
pub type Unresolved = Option<Box<Diagnostic>>;

impl<'a> Checker<'a> {
    /// Reports what a failed resolution carries, if anything.
    pub fn report(&mut self, unresolved: Unresolved) {
        if let Some(diagnostic) = unresolved {
            self.diagnostics.push(*diagnostic);
        }
    }

    pub fn feature_groups(&mut self, declarations: Vec<&'a Declaration>) {
        for declaration in declarations {
            self.collect_group(declaration);
        }
        let order = self.dependency_order();
        for slot in order {
            self.check_feature(slot);
        }
        // Group feature lists follow declaration order (the order of output columns).
        for group in &self.groups {
            let Some(plan_id) = group.plan_id else { continue };
            let mut slots: Vec<usize> = group.features.values().copied().collect();
            slots.sort_unstable();
            self.plan.groups[plan_id].features = slots
                .into_iter()
                .filter_map(|slot| self.feature_slots[slot].lowered.map(|(id, _)| id))
                .collect();
        }
    }

    fn collect_group(&mut self, declaration: &'a Declaration) {
        let name = &declaration.name;
        let version = declaration.version.map_or(0, |version| version.number);
        let context = format!("feature group `{} v{version}`", name.name);
        reject_statements(&declaration.items, &context, &mut self.diagnostics);
        let mut properties =
            Properties::collect_members(&declaration.items, &["entity", "from"], &mut self.diagnostics);
        let from = properties.required("from", declaration, "from = SOURCE", &mut self.diagnostics);
        let entity_property = properties.value("entity", &mut self.diagnostics);
        let features = properties.remaining_values();
        properties.finish(&context, &["entity", "from"], &mut self.diagnostics);

        let source = from
            .and_then(|property| name_value(&property, "a source name", &mut self.diagnostics).cloned())
            .and_then(|ident| self.source_named(&ident));
        let entity = entity_property
            .and_then(|property| name_value(&property, "an entity name", &mut self.diagnostics).cloned())
            .and_then(|ident| match self.entities.get(&ident.name).copied() {
                Some(entity) => {
                    self.mark_used(DeclarationKind::Entity, &ident.name, 0);
                    if let Some(symbol) = self.entity_symbols.get(&ident.name) {
                        self.index.refer(ident.span, *symbol);
                    }
                    Some((entity, ident))
                }
                None => {
                    self.unknown_declaration(&ident, DeclarationKind::Entity);
                    None
                }
            });
        let mut key_columns = Vec::new();
        let mut keys_ok = true;
        if let (Some(source), Some((entity, ident))) = (source, &entity) {
            let source_plan = &self.plan.sources[source];
            for key in &self.plan.entities[*entity].keys {
                match source_plan.column_index(&key.name) {
                    Some(index) if source_plan.columns[index as usize].ty.base == key.ty.base => {
                        key_columns.push(index)
                    }
                    found => {
                        let message = match found {
                            Some(index) => format!(
                                "entity `{}` is keyed by `{}: {}`, but `{}.{}` is {}",
                                ident.name,
                                key.name,
                                key.ty,
                                source_plan.name,
                                key.name,
                                source_plan.columns[index as usize].ty
                            ),
                            None => format!(
                                "entity `{}` is keyed by `{}`, which source `{}` does not have",
                                ident.name, key.name, source_plan.name
                            ),
                        };
                        self.diagnostics
                            .push(
                                Diagnostic::new(Code::EntityKeyMissing, ident.span, message).with_help(format!(
                                    "aggregates are grouped by the entity's keys: add `{}: {}` to the source",
                                    key.name, key.ty
                                )),
                            );
                        keys_ok = false;
                    }
                }
            }
        }
        let group_index = self.groups.len();
        let plan_id = match source {
            Some(source) if keys_ok => Some(self.plan.groups.push(FeatureGroup {
                name: name.name.clone(),
                version,
                doc: doc_of(&declaration.docs),
                entity: entity.as_ref().map(|(entity, _)| *entity),
                source,
                key_columns,
                features: Vec::new(),
                hash: Hash::default(),
            })),
            _ => None,
        };
        let group_label = format!("{}@v{version}", name.name);
        let mut detail = String::from("feature group");
        if let Some((entity, _)) = &entity {
            detail.push_str(&format!(" · entity `{}`", self.plan.entities[*entity].name));
        }
        if let Some(source) = source {
            detail.push_str(&format!(" · from `{}`", self.plan.sources[source].name));
        }
        let group_symbol = self.index.define(
            SymbolKind::FeatureGroup,
            &group_label,
            name.span,
            doc_of(&declaration.docs),
            detail,
        );
        self.group_symbols.push(group_symbol);
        let mut slots = HashMap::new();
        for feature in features {
            if let Some(source) = source
                && self.plan.sources[source].column_index(&feature.key.name).is_some()
            {
                self.diagnostics.push(
                    Diagnostic::new(
                        Code::DuplicateMember,
                        feature.key.span,
                        format!(
                            "feature `{}` has the name of a column of `{}`",
                            feature.key.name, self.plan.sources[source].name
                        ),
                    )
                    .with_help("rename the feature (for example with a suffix); features and request fields share one namespace"),
                );
                continue;
            }
            slots.insert(feature.key.name.clone(), self.feature_slots.len());
            let symbol = self.index.define(
                SymbolKind::Feature,
                format!("{group_label}.{}", feature.key.name),
                feature.key.span,
                doc_of(feature.docs),
                "feature (not checked)",
            );
            self.feature_symbols.push(symbol);
            self.feature_slots.push(FeatureSlot {
                group: group_index,
                name: feature.key,
                value: feature.value,
                docs: feature.docs,
                lowered: None,
            });
        }
        if slots.is_empty() && plan_id.is_some() {
            self.diagnostics.push(
                Diagnostic::new(
                    Code::MissingProperty,
                    name.span,
                    format!("{context} defines no features"),
                )
                .with_help("add a feature: `name = expression`"),
            );
        }
        self.group_versions
            .entry(name.name.clone())
            .or_default()
            .insert(version, group_index);
        self.groups.push(GroupInfo {
            name: name.name.clone(),
            version,
            source,
            entity: entity.map(|(entity, _)| entity),
            features: slots,
            plan_id,
        });
    }

    /// Resolves `group@vN.feature` to a feature slot.
    pub fn resolve_feature_reference(
        &mut self,
        target: &ast::Ident,
        version: &ast::Ident,
        member: &ast::Ident,
    ) -> Result<usize, Unresolved> {
        let group = self.resolve_group_version(target, version)?;
        let info = &self.groups[group];
        match info.features.get(&member.name) {
            Some(slot) => Ok(*slot),
            None => {
                let mut diagnostic = Diagnostic::new(
                    Code::UnknownFeature,
                    member.span,
                    format!(
                        "feature group `{}@v{}` has no feature `{}`",
                        info.name, info.version, member.name
                    ),
                )
                .with_label_text("unknown feature");
                if let Some(help) = suggestion(&member.name, info.features.keys().map(String::as_str)) {
                    diagnostic = diagnostic.with_help(help);
                }
                Err(Some(Box::new(diagnostic)))
            }
        }
    }

    /// Resolves `group@vN` to an index into `groups`, marking the version used.
    pub fn resolve_group_version(&mut self, target: &ast::Ident, version: &ast::Ident) -> Result<usize, Unresolved> {
        let Some(versions) = self.group_versions.get(&target.name) else {
            let before = self.diagnostics.len();
            self.unknown_declaration(target, DeclarationKind::Features);
            return Err(self.diagnostics.drain(before..).next().map(Box::new));
        };
        let available: Vec<String> = versions.keys().map(|number| format!("v{number}")).collect();
        let number = version
            .name
            .strip_prefix('v')
            .and_then(|digits| digits.parse::<u32>().ok());
        let Some(number) = number else {
            return Err(Some(Box::new(
                Diagnostic::new(
                    Code::UnknownVersion,
                    version.span,
                    format!("`@{}` is not a feature group version", version.name),
                )
                .with_help(format!(
                    "feature groups are pinned by version: {}",
                    available.join(", ")
                )),
            )));
        };
        match versions.get(&number) {
            Some(group) => {
                let group = *group;
                self.mark_used(DeclarationKind::Features, &target.name, number);
                self.index
                    .refer(target.span.to(version.span), self.group_symbols[group]);
                Ok(group)
            }
            None => Err(Some(Box::new(
                Diagnostic::new(
                    Code::UnknownVersion,
                    version.span,
                    format!("feature group `{}` has no version v{number}", target.name),
                )
                .with_label_text("no such version")
                .with_help(format!("`{}` has {}", target.name, available.join(", "))),
            ))),
        }
    }

    /// The environment a feature of group `group` is checked in (outside any aggregate).
    fn feature_env(&self, group: usize) -> Env {
        let info = &self.groups[group];
        Env {
            columns: info.source,
            local_group: Some(group),
            refs: match info.entity {
                Some(entity) => RefPolicy::Entity {
                    entity: Some(entity),
                    source: info.source,
                },
                None => match info.source {
                    Some(source) => RefPolicy::Row { source },
                    None => RefPolicy::None,
                },
            },
            metrics: false,
            warn_deprecated: info.entity.is_none(),
            columns_need_aggregate: info.entity.is_some(),
            what: "a feature",
            unknown_code: Code::UnknownName,
        }
    }

    /// Feature slots in an order where every feature comes after those it reads. Cycles are
    /// reported (`E0107`) and their features left out.
    fn dependency_order(&mut self) -> Vec<usize> {
        let count = self.feature_slots.len();
        let mut dependencies: Vec<Vec<(usize, crate::source::Span)>> = Vec::with_capacity(count);
        for slot in 0..count {
            let env = self.feature_env(self.feature_slots[slot].group);
            let value = self.feature_slots[slot].value;
            let mut found = Vec::new();
            if !is_windowed(value) {
                self.collect_references(&env, &value.expr, &mut found);
            }
            dependencies.push(found);
        }
        const UNVISITED: u8 = 0;
        const ACTIVE: u8 = 1;
        const DONE: u8 = 2;
        let mut state = vec![UNVISITED; count];
        let mut in_cycle = vec![false; count];
        let mut order = Vec::with_capacity(count);
        for start in 0..count {
            if state[start] != UNVISITED {
                continue;
            }
            state[start] = ACTIVE;
            let mut stack: Vec<(usize, usize)> = vec![(start, 0)];
            while let Some(top) = stack.last_mut() {
                let node = top.0;
                if top.1 < dependencies[node].len() {
                    let (dependency, span) = dependencies[node][top.1];
                    top.1 += 1;
                    match state[dependency] {
                        UNVISITED => {
                            state[dependency] = ACTIVE;
                            stack.push((dependency, 0));
                        }
                        ACTIVE => {
                            let position = stack.iter().position(|(slot, _)| *slot == dependency).unwrap_or(0);
                            let cycle: Vec<usize> = stack[position..].iter().map(|(slot, _)| *slot).collect();
                            for slot in &cycle {
                                in_cycle[*slot] = true;
                            }
                            self.report_cycle(&cycle, span);
                        }
                        _ => {}
                    }
                } else {
                    state[node] = DONE;
                    order.push(node);
                    stack.pop();
                }
            }
        }
        order.retain(|slot| !in_cycle[*slot]);
        order
    }

    fn report_cycle(&mut self, cycle: &[usize], span: crate::source::Span) {
        let path_name = |this: &Self, slot: usize| {
            let feature = &this.feature_slots[slot];
            let group = &this.groups[feature.group];
            format!("{}@v{}.{}", group.name, group.version, feature.name.name)
        };
        let mut path: Vec<String> = cycle.iter().map(|slot| path_name(self, *slot)).collect();
        path.push(path_name(self, cycle[0]));
        let first = &self.feature_slots[cycle[0]];
        let mut diagnostic = Diagnostic::new(
            Code::FeatureCycle,
            span,
            if cycle.len() == 1 {
                format!("feature `{}` refers to itself", first.name.name)
            } else {
                format!("features refer to each other in a cycle: {}", path.join(" -> "))
            },
        )
        .with_label_text("this reference closes the cycle")
        .with_help("a feature cannot depend on its own value; break the cycle");
        for slot in cycle {
            diagnostic = diagnostic.with_secondary(self.feature_slots[*slot].name.span, "part of the cycle");
        }
        self.diagnostics.push(diagnostic);
    }

    /// Feature slots an expression reads, with the span of each reference. Unresolved names are
    /// ignored here; checking reports them.
    fn collect_references(&mut self, env: &Env, expr: &ast::Expr, found: &mut Vec<(usize, crate::source::Span)>) {
        let mut stack = vec![expr];
        while let Some(expr) = stack.pop() {
            match &expr.kind {
                ast::ExprKind::Name(ident) => {
                    if let Resolution::LocalFeature(slot) = self.resolve_name(env, &ident.name) {
                        found.push((slot, ident.span));
                    }
                }
                ast::ExprKind::VersionRef {
                    target,
                    version,
                    member: Some(member),
                } => {
                    if let Ok(slot) = self.resolve_feature_reference(target, version, member) {
                        found.push((slot, expr.span));
                    }
                }
                ast::ExprKind::Call { arguments, .. } => stack.extend(arguments.iter().map(|argument| &argument.value)),
                ast::ExprKind::List(items) => stack.extend(items),
                ast::ExprKind::Unary { operand, .. } => stack.push(operand),
                ast::ExprKind::Binary { lhs, rhs, .. } => {
                    stack.push(lhs);
                    stack.push(rhs);
                }
                ast::ExprKind::In { operand, list, .. } => {
                    stack.push(operand);
                    stack.extend(list);
                }
                ast::ExprKind::If { branches, otherwise } => {
                    for (condition, then) in branches {
                        stack.push(condition);
                        stack.push(then);
                    }
                    stack.push(otherwise);
                }
                _ => {}
            }
        }
    }

    fn check_feature(&mut self, slot: usize) {
        let group = self.feature_slots[slot].group;
        let Some(plan_group) = self.groups[group].plan_id else {
            return;
        };
        let value = self.feature_slots[slot].value;
        let name = self.feature_slots[slot].name;
        let lowered = if is_windowed(value) {
            self.aggregate(group, name, value)
        } else {
            self.row_or_derived(group, value)
        };
        let Some((kind, ty)) = lowered else { return };
        let id = self.plan.features.push(plan::Feature {
            group: plan_group,
            name: name.name.clone(),
            doc: doc_of(self.feature_slots[slot].docs),
            ty,
            kind,
            hash: Hash::default(),
        });
        self.feature_slots[slot].lowered = Some((id, ty));
        let summary = match &self.plan.features[id].kind {
            FeatureKind::Row { .. } => "row-level".to_string(),
            FeatureKind::Derived { .. } => "derived from the group's aggregates".to_string(),
            FeatureKind::Aggregate(aggregate) => format!(
                "{} over {} every {}",
                aggregate.function.name(),
                format_duration(aggregate.window_micros),
                format_duration(aggregate.resolution_micros)
            ),
        };
        if let Some(symbol) = self.index.symbols.get_mut(self.feature_symbols[slot]) {
            symbol.detail = format!("{ty} · {summary}");
            symbol.feature = Some(id);
        }
    }

    fn row_or_derived(&mut self, group: usize, value: &ast::Value) -> Option<(FeatureKind, crate::types::Type)> {
        for clause in &value.clauses {
            let message = match clause.kind {
                ClauseKind::Where(_) => {
                    "`where` filters the rows of an aggregate; this feature has no `over ... every ...` window"
                }
                _ => "this clause is not allowed on a feature",
            };
            self.error(Diagnostic::new(Code::InvalidValue, clause.span, message));
        }
        let env = self.feature_env(group);
        let typed = self.expr(&env, &value.expr)?;
        let (expr, ty) = self.known(typed, value.expr.span, "this feature")?;
        let kind = if self.groups[group].entity.is_some() {
            FeatureKind::Derived { expr }
        } else {
            FeatureKind::Row { expr }
        };
        Some((kind, ty))
    }

    fn aggregate(
        &mut self,
        group: usize,
        name: &ast::Ident,
        value: &ast::Value,
    ) -> Option<(FeatureKind, crate::types::Type)> {
        let info = &self.groups[group];
        let source = info.source?;
        let mut failed = false;
        if info.entity.is_none() {
            self.error(
                Diagnostic::new(
                    Code::AggregateWithoutEntity,
                    value.expr.span,
                    format!("aggregate `{}` is in a feature group without an entity", name.name),
                )
                .with_help("windowed aggregates are computed per entity: add `entity = ENTITY` to the group"),
            );
            failed = true;
        }
        if self.plan.sources[source].timestamp.is_none() {
            let source_name = self.plan.sources[source].name.clone();
            self.error(
                Diagnostic::new(
                    Code::AggregateWithoutTimestamp,
                    value.expr.span,
                    format!(
                        "aggregate `{}` needs event times, but source `{source_name}` has no `timestamp`",
                        name.name
                    ),
                )
                .with_help(format!(
                    "declare the event-time column of `{source_name}` with `timestamp = COLUMN`"
                )),
            );
            failed = true;
        }
        let mut window: Option<DurationLiteral> = None;
        let mut resolution: Option<DurationLiteral> = None;
        let mut filter = None;
        if let Some(repeated) = repeated_clause(&value.clauses) {
            self.error(
                Diagnostic::new(
                    Code::InvalidValue,
                    repeated.span,
                    format!("`{}` is given twice", repeated.kind.keyword()),
                )
                .with_help("combine `where` conditions with `and`; give one window"),
            );
            return None;
        }
        for clause in &value.clauses {
            match &clause.kind {
                ClauseKind::Over(duration) => window = Some(*duration),
                ClauseKind::Every(duration) => resolution = Some(*duration),
                ClauseKind::Where(expr) => filter = Some(expr),
                _ => {
                    self.error(Diagnostic::new(
                        Code::InvalidValue,
                        clause.span,
                        format!("`{}` is not allowed on an aggregate", clause.kind.keyword()),
                    ));
                    failed = true;
                }
            }
        }
        let (Some(window), Some(resolution)) = (window, resolution) else {
            self.error(
                Diagnostic::new(
                    Code::AggregateContext,
                    value.span,
                    "an aggregate needs both a window and a resolution",
                )
                .with_help("write `... over 7d every 1h`: the value at t covers [floor(t, 1h) - 7d, floor(t, 1h))"),
            );
            return None;
        };
        for duration in [window, resolution] {
            if duration.micros <= 0 {
                self.error(Diagnostic::new(
                    Code::InvalidWindow,
                    duration.span,
                    "windows and resolutions must be longer than zero",
                ));
                failed = true;
            }
        }
        if resolution.micros > 0 && window.micros > 0 && window.micros % resolution.micros != 0 {
            self.error(
                Diagnostic::new(
                    Code::ResolutionDoesNotDivide,
                    resolution.span,
                    format!(
                        "resolution {} does not divide window {}",
                        format_duration(resolution.micros),
                        format_duration(window.micros)
                    ),
                )
                .with_secondary(window.span, "window")
                .with_help("windows are made of whole tiles: pick a resolution that divides the window (e.g. `over 7d every 1h`)"),
            );
            failed = true;
        }
        let ast::ExprKind::Call { function, arguments } = &value.expr.kind else {
            self.error(
                Diagnostic::new(
                    Code::AggregateContext,
                    value.expr.span,
                    "a windowed feature is exactly one aggregate call",
                )
                .with_help("compute further values in a separate feature that reads this one"),
            );
            return None;
        };
        let Some(aggregate_function) = AggregateFunction::from_name(&function.name) else {
            let mut diagnostic = Diagnostic::new(
                Code::UnknownFunction,
                function.span,
                format!("`{}` is not an aggregate", function.name),
            )
            .with_label_text("not an aggregate");
            diagnostic = match suggestion(&function.name, AggregateFunction::ALL.iter().map(|f| f.name())) {
                Some(help) => diagnostic.with_help(help),
                None => diagnostic.with_help("aggregates: count, sum, avg, min, max, last, count_distinct"),
            };
            self.error(diagnostic);
            return None;
        };
        let expected_arguments = if aggregate_function == AggregateFunction::Count {
            0..=1
        } else {
            1..=1
        };
        if !expected_arguments.contains(&arguments.len()) || arguments.iter().any(|argument| argument.name.is_some()) {
            self.error(
                Diagnostic::new(
                    Code::ArgumentCount,
                    value.expr.span,
                    format!(
                        "`{}` takes {} argument",
                        function.name,
                        if aggregate_function == AggregateFunction::Count {
                            "zero or one"
                        } else {
                            "one"
                        }
                    ),
                )
                .with_help(aggregate_function.signature()),
            );
            return None;
        }
        let mut env = Env::columns_of(source, "an aggregate");
        env.warn_deprecated = true;
        let argument = match arguments.first() {
            Some(argument) => {
                let typed = self.expr(&env, &argument.value)?;
                let (id, ty) = self.known(typed, argument.value.span, "the aggregated value")?;
                let allowed = match aggregate_function {
                    AggregateFunction::Sum | AggregateFunction::Avg => ty.base.is_numeric(),
                    AggregateFunction::Min | AggregateFunction::Max => ty.base.is_orderable(),
                    _ => true,
                };
                if !allowed {
                    let expected = if ty.base.is_orderable() {
                        "a number"
                    } else {
                        "an orderable value"
                    };
                    self.error(
                        Diagnostic::new(
                            Code::TypeMismatch,
                            argument.value.span,
                            format!("`{}` expects {expected}, found {ty}", function.name),
                        )
                        .with_label_text(format!("this is {ty}"))
                        .with_help(aggregate_function.signature()),
                    );
                    return None;
                }
                Some((id, ty))
            }
            None => None,
        };
        let filter = match filter {
            Some(expr) => {
                let env = Env {
                    what: "an aggregate's `where` filter",
                    ..env
                };
                Some(self.expr_of(&env, expr, BaseType::Bool)?.0)
            }
            None => None,
        };
        if failed {
            return None;
        }
        let ty = aggregate_function.result_type(argument.map(|(_, ty)| ty));
        let argument = match (aggregate_function, argument) {
            // avg is computed on float64 values; the conversion is explicit in the plan.
            (AggregateFunction::Avg, Some((id, ty))) if ty.base == BaseType::Int64 => Some(self.push_expr(
                plan::ExprKind::ToFloat { operand: id },
                ty.with_nullable(ty.nullable).promoted(),
            )),
            (_, argument) => argument.map(|(id, _)| id),
        };
        Some((
            FeatureKind::Aggregate(Aggregate {
                function: aggregate_function,
                argument,
                filter,
                window_micros: window.micros,
                resolution_micros: resolution.micros,
            }),
            ty,
        ))
    }
}

/// Whether a feature value is a windowed aggregate (it has a window clause or is an aggregate call).
fn is_windowed(value: &ast::Value) -> bool {
    let has_window = value
        .clauses
        .iter()
        .any(|clause| matches!(clause.kind, ClauseKind::Over(_) | ClauseKind::Every(_)));
    let is_aggregate_call = matches!(
        &value.expr.kind,
        ast::ExprKind::Call { function, .. } if AggregateFunction::from_name(&function.name).is_some()
    );
    has_window || is_aggregate_call
}

trait Promoted {
    fn promoted(self) -> Self;
}

impl Promoted for crate::types::Type {
    fn promoted(self) -> Self {
        crate::types::Type {
            base: BaseType::Float64,
            nullable: self.nullable,
        }
    }
}

/// The second occurrence of a clause kind, if any clause is given twice.
pub fn repeated_clause(clauses: &[ast::Clause]) -> Option<&ast::Clause> {
    clauses.iter().enumerate().find_map(|(index, clause)| {
        clauses[..index]
            .iter()
            .any(|earlier| std::mem::discriminant(&earlier.kind) == std::mem::discriminant(&clause.kind))
            .then_some(clause)
    })
}
