//! Expression checking: name resolution, typing, null propagation and explicit numeric promotion,
//! lowering each well-typed expression into the plan's expression arena.

use crate::builtins::{AggregateFunction, Builtin, Shape};
use crate::check::Checker;
use crate::diagnostic::{Code, Diagnostic, suggestion};
use crate::plan::{self, ExprId, ExprKind, Literal, MetricSide, SourceId};
use crate::source::Span;
use crate::syntax::ast::{self, BinaryOp, UnaryOp};
use crate::types::{BaseType, Type};

/// A checked expression's type: a real type, or the type of a bare `null` still to be fixed by
/// its context.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ty {
    Known(Type),
    Null,
}

impl Ty {
    fn nullable(self) -> bool {
        match self {
            Ty::Known(ty) => ty.nullable,
            Ty::Null => true,
        }
    }

    pub fn base(self) -> Option<BaseType> {
        match self {
            Ty::Known(ty) => Some(ty.base),
            Ty::Null => None,
        }
    }

    fn describe(self) -> String {
        match self {
            Ty::Known(ty) => ty.to_string(),
            Ty::Null => "null".to_string(),
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub struct Typed {
    pub id: ExprId,
    pub ty: Ty,
}

/// Which feature references an expression may make.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefPolicy {
    None,
    /// Row-level features on `source`: row-level groups on the same source, entity groups whose
    /// keys are columns of it.
    Row {
        source: SourceId,
    },
    /// Derived features of an entity group on `source`: other entity groups of the same entity on
    /// the same source (their change points are the group's own).
    Entity {
        entity: Option<plan::EntityId>,
        source: Option<SourceId>,
    },
}

/// Where an expression is checked: what its bare names mean and what it may reference.
#[derive(Clone, Copy, Debug)]
pub struct Env {
    /// Bare names may be columns of this source.
    pub columns: Option<SourceId>,
    /// Bare names may be features of this group (index into `Checker::groups`).
    pub local_group: Option<usize>,
    pub refs: RefPolicy,
    /// Bare metric names and `production.METRIC` (in `promote_if`).
    pub metrics: bool,
    /// Warn when a deprecated column is read.
    pub warn_deprecated: bool,
    /// In an entity group's derived feature, raw columns are an aggregate-context error.
    pub columns_need_aggregate: bool,
    /// What this expression is, for messages ("a fallback").
    pub what: &'static str,
    /// Code for a name that does not resolve (`E0503` in a fallback, `E0101` elsewhere).
    pub unknown_code: Code,
}

impl Env {
    pub fn columns_of(source: SourceId, what: &'static str) -> Self {
        Env {
            columns: Some(source),
            local_group: None,
            refs: RefPolicy::None,
            metrics: false,
            warn_deprecated: false,
            columns_need_aggregate: false,
            what,
            unknown_code: Code::UnknownName,
        }
    }
}

/// What a bare name means in an environment.
pub enum Resolution {
    Column(plan::ColumnIndex, Type),
    LocalFeature(usize),
    Unknown,
}

impl Checker<'_> {
    /// Resolves a bare name: columns first, then features of the local group.
    pub fn resolve_name(&self, env: &Env, name: &str) -> Resolution {
        if let Some(source) = env.columns
            && let Some(source_plan) = self.plan.sources.get(source)
            && let Some(index) = source_plan.column_index(name)
        {
            return Resolution::Column(index, source_plan.columns[index as usize].ty);
        }
        if let Some(group) = env.local_group
            && let Some(slot) = self.groups[group].features.get(name)
        {
            return Resolution::LocalFeature(*slot);
        }
        Resolution::Unknown
    }

    pub fn push_expr(&mut self, kind: ExprKind, ty: Type) -> ExprId {
        self.plan.exprs.push(plan::Expr { kind, ty })
    }

    fn literal(&mut self, value: Literal, ty: Type) -> Option<Typed> {
        let id = self.push_expr(ExprKind::Literal { value }, ty);
        Some(Typed { id, ty: Ty::Known(ty) })
    }

    /// Fixes the type of `typed` to `target` (same base, or int64 → float64 promotion, or a bare
    /// `null` taking the target type) and returns the id to use.
    pub fn coerce(&mut self, typed: Typed, target: BaseType) -> ExprId {
        match typed.ty {
            Ty::Null => {
                self.plan.exprs[typed.id].ty = Type::nullable(target);
                typed.id
            }
            Ty::Known(ty) if ty.base == BaseType::Int64 && target == BaseType::Float64 => self.push_expr(
                ExprKind::ToFloat { operand: typed.id },
                Type {
                    base: BaseType::Float64,
                    nullable: ty.nullable,
                },
            ),
            Ty::Known(_) => typed.id,
        }
    }

    /// The type of a checked expression as a plan type (a bare `null` is an error the caller reports).
    pub fn known(&mut self, typed: Typed, span: Span, what: &str) -> Option<(ExprId, Type)> {
        match typed.ty {
            Ty::Known(ty) => Some((typed.id, ty)),
            Ty::Null => {
                self.error(
                    Diagnostic::new(
                        Code::TypeMismatch,
                        span,
                        format!("cannot tell the type of {what}: it is only `null`"),
                    )
                    .with_help("give the value a type, e.g. `if c then 1.0 else null`"),
                );
                None
            }
        }
    }

    pub fn error(&mut self, diagnostic: Diagnostic) {
        self.diagnostics.push(diagnostic);
    }

    /// Checks an expression that must be of `expected` base type (nullable allowed).
    pub fn expr_of(&mut self, env: &Env, expr: &ast::Expr, expected: BaseType) -> Option<(ExprId, Type)> {
        let typed = self.expr(env, expr)?;
        match typed.ty {
            Ty::Null => {
                let id = self.coerce(typed, expected);
                Some((id, Type::nullable(expected)))
            }
            Ty::Known(ty) if ty.base == expected => Some((typed.id, ty)),
            Ty::Known(ty) if ty.base == BaseType::Int64 && expected == BaseType::Float64 => {
                let id = self.coerce(typed, expected);
                Some((id, ty.with_nullable(ty.nullable).with_base(BaseType::Float64)))
            }
            Ty::Known(ty) => {
                self.error(
                    Diagnostic::new(
                        Code::TypeMismatch,
                        expr.span,
                        format!("{} must be {}, found {ty}", env.what, expected.name()),
                    )
                    .with_label_text(format!("this is {ty}")),
                );
                None
            }
        }
    }

    /// Checks and lowers one expression. `None` means an error was reported (or an error node
    /// from the parser stands here).
    pub fn expr(&mut self, env: &Env, expr: &ast::Expr) -> Option<Typed> {
        let span = expr.span;
        match &expr.kind {
            ast::ExprKind::Int(value) => self.literal(Literal::Int(*value), Type::new(BaseType::Int64)),
            ast::ExprKind::Float(value) => self.literal(Literal::Float(*value), Type::new(BaseType::Float64)),
            ast::ExprKind::String(value) => self.literal(Literal::String(value.clone()), Type::new(BaseType::String)),
            ast::ExprKind::Bool(value) => self.literal(Literal::Bool(*value), Type::new(BaseType::Bool)),
            ast::ExprKind::Date(days) => self.literal(Literal::Date(*days), Type::new(BaseType::Date)),
            ast::ExprKind::Duration(micros) => self.literal(Literal::Duration(*micros), Type::new(BaseType::Duration)),
            ast::ExprKind::Null => {
                let id = self.push_expr(
                    ExprKind::Literal { value: Literal::Null },
                    Type::nullable(BaseType::Bool),
                );
                Some(Typed { id, ty: Ty::Null })
            }
            ast::ExprKind::DateRange(..) => {
                self.error(Diagnostic::new(
                    Code::TypeMismatch,
                    span,
                    format!("a date range cannot be used in {}", env.what),
                ));
                None
            }
            ast::ExprKind::List(_) => {
                self.error(
                    Diagnostic::new(
                        Code::TypeMismatch,
                        span,
                        format!("a list cannot be used as a value in {}", env.what),
                    )
                    .with_help("lists appear after `in` and as `bucketize` edges"),
                );
                None
            }
            ast::ExprKind::Name(ident) => self.name(env, ident),
            ast::ExprKind::Path(parts) => self.path(env, parts, span),
            ast::ExprKind::VersionRef {
                target,
                version,
                member,
            } => self.feature_reference(env, target, version, member.as_ref(), span),
            ast::ExprKind::Call { function, arguments } => self.call(env, function, arguments, span),
            ast::ExprKind::Unary { op, operand } => self.unary(env, *op, operand, span),
            ast::ExprKind::Binary { op, lhs, rhs } => self.binary(env, *op, lhs, rhs, span),
            ast::ExprKind::In { negated, operand, list } => self.in_list(env, *negated, operand, list, span),
            ast::ExprKind::If { branches, otherwise } => self.if_expr(env, branches, otherwise, span),
            ast::ExprKind::Error => None,
        }
    }

    fn name(&mut self, env: &Env, ident: &ast::Ident) -> Option<Typed> {
        if env.metrics
            && let Some(metric) = plan::Metric::from_name(&ident.name)
        {
            let id = self.push_expr(
                ExprKind::Metric {
                    side: MetricSide::Candidate,
                    metric,
                },
                Type::new(BaseType::Float64),
            );
            return Some(Typed {
                id,
                ty: Ty::Known(Type::new(BaseType::Float64)),
            });
        }
        match self.resolve_name(env, &ident.name) {
            Resolution::Column(column, ty) => {
                let source = env.columns?;
                if env.columns_need_aggregate {
                    self.error(
                        Diagnostic::new(
                            Code::AggregateContext,
                            ident.span,
                            format!("column `{}` is read outside an aggregate in an entity feature group", ident.name),
                        )
                        .with_label_text("raw column")
                        .with_help("entity groups hold windowed aggregates; compute row-level values in a group without `entity`"),
                    );
                    return None;
                }
                if env.warn_deprecated {
                    self.warn_if_deprecated(source, column, ident);
                }
                if let Some(symbol) = self.column_symbols.get(&(source, column)) {
                    self.index.refer(ident.span, *symbol);
                }
                let id = self.push_expr(ExprKind::Column { source, column }, ty);
                Some(Typed { id, ty: Ty::Known(ty) })
            }
            Resolution::LocalFeature(slot) => {
                self.index.refer(ident.span, self.feature_symbols[slot]);
                self.feature_value(slot, ident.span)
            }
            Resolution::Unknown => {
                self.unknown_name(env, ident);
                None
            }
        }
    }

    fn unknown_name(&mut self, env: &Env, ident: &ast::Ident) {
        let mut candidates: Vec<String> = Vec::new();
        if let Some(source) = env.columns.and_then(|source| self.plan.sources.get(source)) {
            candidates.extend(source.columns.iter().map(|column| column.name.clone()));
        }
        if let Some(group) = env.local_group {
            candidates.extend(self.groups[group].features.keys().cloned());
        }
        if env.metrics {
            candidates.extend(plan::Metric::ALL.iter().map(|metric| metric.name().to_string()));
        }
        let message = if env.unknown_code == Code::FallbackReadsUnavailable {
            format!("{} reads `{}`, which the request does not carry", env.what, ident.name)
        } else {
            format!("unknown name `{}` in {}", ident.name, env.what)
        };
        let mut diagnostic = Diagnostic::new(env.unknown_code, ident.span, message).with_label_text("not found");
        if let Some(help) = suggestion(&ident.name, candidates.iter().map(String::as_str)) {
            diagnostic = diagnostic.with_help(help);
        } else if env.unknown_code == Code::FallbackReadsUnavailable {
            diagnostic = diagnostic.with_help(
                "a fallback runs when the model cannot: it may read only the request's fields (the columns of the model's `examples` source)",
            );
        }
        self.error(diagnostic);
    }

    fn path(&mut self, env: &Env, parts: &[ast::Ident], span: Span) -> Option<Typed> {
        if env.metrics
            && let [side, metric] = parts
            && side.name == "production"
        {
            let Some(metric_value) = plan::Metric::from_name(&metric.name) else {
                let mut diagnostic = Diagnostic::new(
                    Code::UnknownName,
                    metric.span,
                    format!("unknown metric `{}`", metric.name),
                );
                if let Some(help) = suggestion(&metric.name, plan::Metric::ALL.iter().map(|m| m.name())) {
                    diagnostic = diagnostic.with_help(help);
                }
                self.error(diagnostic);
                return None;
            };
            let id = self.push_expr(
                ExprKind::Metric {
                    side: MetricSide::Production,
                    metric: metric_value,
                },
                Type::new(BaseType::Float64),
            );
            return Some(Typed {
                id,
                ty: Ty::Known(Type::new(BaseType::Float64)),
            });
        }
        let text: Vec<&str> = parts.iter().map(|part| part.name.as_str()).collect();
        if let Some(versions) = self.group_versions.get(&parts[0].name) {
            let latest = versions.keys().next_back().map_or(1, |version| *version);
            self.error(
                Diagnostic::new(
                    Code::MissingVersion,
                    span,
                    format!("feature group `{}` is referenced without a version", parts[0].name),
                )
                .with_label_text("no version")
                .with_help(format!(
                    "pin the version you mean: `{}@v{latest}.{}`",
                    parts[0].name,
                    text.get(1).copied().unwrap_or("feature")
                )),
            );
            return None;
        }
        let mut diagnostic = Diagnostic::new(
            env.unknown_code,
            span,
            format!("`{}` does not name anything in {}", text.join("."), env.what),
        );
        if env.refs != RefPolicy::None {
            diagnostic = diagnostic.with_help(format!(
                "features of other groups are referenced with their version: `{}@v1.{}`",
                text[0],
                text.get(1).copied().unwrap_or("feature")
            ));
        }
        self.error(diagnostic);
        None
    }

    /// The value of an already-checked feature slot (no value if it failed or is in a cycle).
    fn feature_value(&mut self, slot: usize, _span: Span) -> Option<Typed> {
        let (feature, ty) = self.feature_slots[slot].lowered?;
        let id = self.push_expr(ExprKind::Feature { feature }, ty);
        Some(Typed { id, ty: Ty::Known(ty) })
    }

    fn feature_reference(
        &mut self,
        env: &Env,
        target: &ast::Ident,
        version: &ast::Ident,
        member: Option<&ast::Ident>,
        span: Span,
    ) -> Option<Typed> {
        if env.refs == RefPolicy::None {
            let diagnostic = if env.unknown_code == Code::FallbackReadsUnavailable {
                Diagnostic::new(
                    Code::FallbackReadsUnavailable,
                    span,
                    "the fallback reads a feature value, which the request does not carry",
                )
                .with_help("a fallback runs when the model cannot, from the request's fields alone (the columns of the model's `examples` source)")
            } else {
                Diagnostic::new(
                    Code::UnknownName,
                    span,
                    format!("{} cannot read feature values", env.what),
                )
            };
            self.error(diagnostic.with_label_text("feature reference"));
            return None;
        }
        let Some(member) = member else {
            self.error(
                Diagnostic::new(
                    Code::UnknownFeature,
                    span,
                    format!(
                        "`{}@{}` is a feature group; name one of its features",
                        target.name, version.name
                    ),
                )
                .with_help(format!("write `{}@{}.FEATURE`", target.name, version.name)),
            );
            return None;
        };
        let slot = match self.resolve_feature_reference(target, version, member) {
            Ok(slot) => slot,
            Err(diagnostic) => {
                self.report(diagnostic);
                return None;
            }
        };
        self.index.refer(member.span, self.feature_symbols[slot]);
        let group = self.feature_slots[slot].group;
        if let Err(diagnostic) = self.reference_allowed(env, group, span) {
            self.error(*diagnostic);
            return None;
        }
        self.feature_value(slot, span)
    }

    /// Whether a reference from `env` to a feature of group `group` is allowed.
    fn reference_allowed(&self, env: &Env, group: usize, span: Span) -> Result<(), Box<Diagnostic>> {
        let target = &self.groups[group];
        let label = format!("{}@v{}", target.name, target.version);
        match env.refs {
            RefPolicy::None => Ok(()),
            RefPolicy::Row { source } => {
                if target.entity.is_none() {
                    if target.source == Some(source) {
                        return Ok(());
                    }
                    let source_name = |id: Option<SourceId>| {
                        id.and_then(|id| self.plan.sources.get(id))
                            .map_or("?".to_string(), |source| source.name.clone())
                    };
                    return Err(Box::new(
                        Diagnostic::new(
                            Code::IncompatibleFeatureSource,
                            span,
                            format!(
                                "`{label}` is computed on rows of `{}`, not of `{}`",
                                source_name(target.source),
                                source_name(Some(source))
                            ),
                        )
                        .with_help("row-level features can only be combined on the same source"),
                    ));
                }
                if self
                    .plan
                    .sources
                    .get(source)
                    .is_some_and(|source| source.timestamp.is_none())
                {
                    let source_name = self.plan.sources[source].name.clone();
                    return Err(Box::new(
                        Diagnostic::new(
                            Code::AggregateWithoutTimestamp,
                            span,
                            format!(
                                "`{label}` is looked up at each row's time, but `{source_name}` has no `timestamp`"
                            ),
                        )
                        .with_help(format!(
                            "declare the event-time column of `{source_name}` with `timestamp = COLUMN`"
                        )),
                    ));
                }
                self.keys_available(group, source, span, &label)
            }
            RefPolicy::Entity { entity, source } => {
                if target.entity.is_none() || target.entity != entity {
                    return Err(Box::new(
                        Diagnostic::new(
                            Code::IncompatibleFeatureSource,
                            span,
                            format!("`{label}` is not a feature group of the same entity"),
                        )
                        .with_help("derived features combine aggregates of the same entity"),
                    ));
                }
                match (source, target.source) {
                    (Some(source), Some(target_source)) if source != target_source => Err(Box::new(
                        self.other_source_aggregates(&label, source, target_source, span),
                    )),
                    _ => Ok(()),
                }
            }
        }
    }

    /// A derived feature of an entity group on `source` reading a group over `target_source`: its
    /// change points would be those of both sources' events, which no engine computes.
    fn other_source_aggregates(
        &self,
        label: &str,
        source: SourceId,
        target_source: SourceId,
        span: Span,
    ) -> Diagnostic {
        let name = |id: SourceId| self.plan.sources.get(id).map_or("?", |source| source.name.as_str());
        Diagnostic::new(
            Code::OtherSourceAggregates,
            span,
            format!(
                "`{label}` aggregates rows of `{}`, but this group aggregates rows of `{}`",
                name(target_source),
                name(source)
            ),
        )
        .with_help(format!(
            "combine them in a row-level group: `features NAME v1 {{ from = {} ... }}` reads both groups \
             as of each row's time",
            name(source)
        ))
    }

    /// An entity group's keys must be columns (of the same types) of `source` to be looked up.
    pub fn keys_available(
        &self,
        group: usize,
        source: SourceId,
        span: Span,
        label: &str,
    ) -> Result<(), Box<Diagnostic>> {
        let Some(entity) = self.groups[group]
            .entity
            .and_then(|entity| self.plan.entities.get(entity))
        else {
            return Ok(());
        };
        let Some(source_plan) = self.plan.sources.get(source) else {
            return Ok(());
        };
        for key in &entity.keys {
            let column = source_plan
                .column_index(&key.name)
                .map(|index| source_plan.columns[index as usize].ty);
            match column {
                Some(ty) if ty.base == key.ty.base => {}
                Some(ty) => {
                    return Err(Box::new(Diagnostic::new(
                        Code::EntityKeyMissing,
                        span,
                        format!(
                            "`{label}` is looked up by `{}: {}`, but `{}.{}` is {ty}",
                            key.name, key.ty, source_plan.name, key.name
                        ),
                    )));
                }
                None => {
                    return Err(Box::new(
                        Diagnostic::new(
                            Code::EntityKeyMissing,
                            span,
                            format!(
                                "`{label}` is looked up by entity key `{}`, which `{}` does not have",
                                key.name, source_plan.name
                            ),
                        )
                        .with_help(format!(
                            "add `{}: {}` to the schema of `{}`",
                            key.name, key.ty, source_plan.name
                        )),
                    ));
                }
            }
        }
        Ok(())
    }

    fn call(&mut self, env: &Env, function: &ast::Ident, arguments: &[ast::Argument], span: Span) -> Option<Typed> {
        let Some(builtin) = Builtin::from_name(&function.name) else {
            if AggregateFunction::from_name(&function.name).is_some() {
                let help = match function.name.as_str() {
                    "min" => "for the smaller of two values use `least(a, b)`",
                    "max" => "for the larger of two values use `greatest(a, b)`",
                    _ => "aggregates are whole features: `name = sum(x) over 7d every 1h` in a group with an `entity`",
                };
                self.error(
                    Diagnostic::new(
                        Code::AggregateContext,
                        function.span,
                        format!("aggregate `{}` cannot be used inside {}", function.name, env.what),
                    )
                    .with_help(help),
                );
                return None;
            }
            if matches!(function.name.as_str(), "unique" | "not_null") {
                self.error(
                    Diagnostic::new(
                        Code::UnknownFunction,
                        function.span,
                        format!("`{}` is a contract check, not a function", function.name),
                    )
                    .with_help(format!(
                        "write `expect {}(column)` on its own in a contract",
                        function.name
                    )),
                );
                return None;
            }
            let names = Builtin::ALL.iter().map(|builtin| builtin.name());
            let mut diagnostic = Diagnostic::new(
                Code::UnknownFunction,
                function.span,
                format!("unknown function `{}`", function.name),
            )
            .with_label_text("not a builtin");
            if let Some(help) = suggestion(&function.name, names) {
                diagnostic = diagnostic.with_help(help);
            }
            self.error(diagnostic);
            return None;
        };
        if let Some(named) = arguments.iter().find_map(|argument| argument.name.as_ref()) {
            self.error(
                Diagnostic::new(
                    Code::ArgumentCount,
                    named.span,
                    format!("`{}` takes positional arguments", builtin.name()),
                )
                .with_help(builtin.signature()),
            );
            return None;
        }
        let (minimum, maximum) = match builtin.shape() {
            Shape::FloatMath | Shape::Abs | Shape::StringToString | Shape::StringLength => (1, 1),
            Shape::TimestampPart | Shape::DatePart | Shape::DateOf | Shape::IsNull => (1, 1),
            Shape::Pow | Shape::StringPredicate | Shape::HashBucket | Shape::Bucketize => (2, 2),
            Shape::Clamp => (3, 3),
            Shape::LeastGreatest => (2, usize::MAX),
            Shape::Concat | Shape::Coalesce => (1, usize::MAX),
        };
        if arguments.len() < minimum || arguments.len() > maximum {
            let expected = match (minimum, maximum) {
                (minimum, maximum) if minimum == maximum => {
                    format!("{minimum} argument{}", if minimum == 1 { "" } else { "s" })
                }
                (minimum, _) => format!("at least {minimum} arguments"),
            };
            self.error(
                Diagnostic::new(
                    Code::ArgumentCount,
                    span,
                    format!("`{}` takes {expected}, found {}", builtin.name(), arguments.len()),
                )
                .with_help(builtin.signature()),
            );
            return None;
        }
        crate::check::builtin_call::check_call(self, env, builtin, arguments, span)
    }

    fn unary(&mut self, env: &Env, op: UnaryOp, operand: &ast::Expr, span: Span) -> Option<Typed> {
        let typed = self.expr(env, operand)?;
        let (expected, unary): (&[BaseType], _) = match op {
            UnaryOp::Negate => (
                &[BaseType::Int64, BaseType::Float64, BaseType::Duration],
                plan::UnaryOp::Negate,
            ),
            UnaryOp::Not => (&[BaseType::Bool], plan::UnaryOp::Not),
        };
        let ty = match typed.ty {
            Ty::Null => {
                let base = expected[0];
                self.coerce(typed, base);
                Type::nullable(base)
            }
            Ty::Known(ty) if expected.contains(&ty.base) => ty,
            Ty::Known(ty) => {
                let symbol = if op == UnaryOp::Negate { "-" } else { "not" };
                self.error(
                    Diagnostic::new(Code::OperatorTypes, span, format!("`{symbol}` is not defined for {ty}"))
                        .with_label_text(format!("this is {ty}")),
                );
                return None;
            }
        };
        let id = self.push_expr(
            ExprKind::Unary {
                unary,
                operand: typed.id,
            },
            ty,
        );
        Some(Typed { id, ty: Ty::Known(ty) })
    }

    fn binary(&mut self, env: &Env, op: BinaryOp, lhs: &ast::Expr, rhs: &ast::Expr, span: Span) -> Option<Typed> {
        let left = self.expr(env, lhs);
        let right = self.expr(env, rhs);
        let (left, right) = (left?, right?);
        let nullable = left.ty.nullable() || right.ty.nullable();
        let mismatch = |this: &mut Self, help: Option<&str>| {
            let mut diagnostic = Diagnostic::new(
                Code::OperatorTypes,
                span,
                format!(
                    "`{}` is not defined for {} and {}",
                    op.symbol(),
                    left.ty.describe(),
                    right.ty.describe()
                ),
            )
            .with_secondary(lhs.span, format!("this is {}", left.ty.describe()))
            .with_secondary(rhs.span, format!("this is {}", right.ty.describe()));
            if let Some(help) = help {
                diagnostic = diagnostic.with_help(help);
            }
            this.error(diagnostic);
        };
        let binary = lower_binary(op);
        use BaseType::*;
        let (operand_base, result_base) = match op {
            BinaryOp::And | BinaryOp::Or => match (left.ty.base(), right.ty.base()) {
                (Some(Bool) | None, Some(Bool) | None) => (Some(Bool), Bool),
                _ => {
                    mismatch(self, None);
                    return None;
                }
            },
            BinaryOp::Equal
            | BinaryOp::NotEqual
            | BinaryOp::Less
            | BinaryOp::LessEqual
            | BinaryOp::Greater
            | BinaryOp::GreaterEqual => {
                if left.ty == Ty::Null || right.ty == Ty::Null {
                    self.error(
                        Diagnostic::new(
                            Code::OperatorTypes,
                            span,
                            format!("comparing with `null` with `{}` is always null", op.symbol()),
                        )
                        .with_help("use `is_null(x)` or `not is_null(x)`"),
                    );
                    return None;
                }
                match (left.ty.base(), right.ty.base()) {
                    (Some(a), Some(b))
                        if a == b && (a.is_orderable() || matches!(op, BinaryOp::Equal | BinaryOp::NotEqual)) =>
                    {
                        (Some(a), Bool)
                    }
                    (Some(a), Some(b)) if a.is_numeric() && b.is_numeric() => (Some(Float64), Bool),
                    (Some(Date), Some(Timestamp)) | (Some(Timestamp), Some(Date)) => {
                        mismatch(
                            self,
                            Some("convert the timestamp with `date_of(t)` to compare it with a date"),
                        );
                        return None;
                    }
                    _ => {
                        mismatch(self, None);
                        return None;
                    }
                }
            }
            BinaryOp::Add | BinaryOp::Subtract => match (left.ty.base(), right.ty.base()) {
                (Some(Int64), Some(Int64)) => (Some(Int64), Int64),
                (Some(a), Some(b)) if a.is_numeric() && b.is_numeric() => (Some(Float64), Float64),
                (Some(a), None) | (None, Some(a)) if a.is_numeric() || a == Duration => (Some(a), a),
                (Some(Timestamp), Some(Duration)) => (None, Timestamp),
                (Some(Duration), Some(Timestamp)) if op == BinaryOp::Add => (None, Timestamp),
                (Some(Timestamp), Some(Timestamp)) if op == BinaryOp::Subtract => (None, Duration),
                (Some(Duration), Some(Duration)) => (Some(Duration), Duration),
                (Some(String), Some(String)) if op == BinaryOp::Add => {
                    mismatch(self, Some("join strings with `concat(a, b)`"));
                    return None;
                }
                _ => {
                    mismatch(self, None);
                    return None;
                }
            },
            BinaryOp::Multiply => match (left.ty.base(), right.ty.base()) {
                (Some(Int64), Some(Int64)) => (Some(Int64), Int64),
                (Some(a), Some(b)) if a.is_numeric() && b.is_numeric() => (Some(Float64), Float64),
                (Some(a), None) | (None, Some(a)) if a.is_numeric() => (Some(a), a),
                _ => {
                    mismatch(self, None);
                    return None;
                }
            },
            BinaryOp::Divide => match (left.ty.base(), right.ty.base()) {
                (a, b) if a.is_none_or(BaseType::is_numeric) && b.is_none_or(BaseType::is_numeric) => {
                    (Some(Float64), Float64)
                }
                _ => {
                    mismatch(self, None);
                    return None;
                }
            },
        };
        if left.ty == Ty::Null && right.ty == Ty::Null {
            self.error(Diagnostic::new(
                Code::TypeMismatch,
                span,
                format!("cannot tell the type of `null {} null`", op.symbol()),
            ));
            return None;
        }
        let (lhs_id, rhs_id) = match operand_base {
            Some(base) => (self.coerce(left, base), self.coerce(right, base)),
            None => (left.id, right.id),
        };
        let ty = Type {
            base: result_base,
            nullable,
        };
        let id = self.push_expr(
            ExprKind::Binary {
                binary,
                lhs: lhs_id,
                rhs: rhs_id,
            },
            ty,
        );
        Some(Typed { id, ty: Ty::Known(ty) })
    }

    fn in_list(
        &mut self,
        env: &Env,
        negated: bool,
        operand: &ast::Expr,
        list: &[ast::Expr],
        span: Span,
    ) -> Option<Typed> {
        let typed = self.expr(env, operand)?;
        let Ty::Known(operand_type) = typed.ty else {
            self.error(Diagnostic::new(
                Code::OperatorTypes,
                operand.span,
                "`null in [...]` is always null",
            ));
            return None;
        };
        let mut literals = Vec::new();
        let mut target = operand_type.base;
        for item in list {
            let Some(literal) = constant_literal(item) else {
                self.error(
                    Diagnostic::new(
                        Code::ConstantRequired,
                        item.span,
                        "the items after `in` must be literals",
                    )
                    .with_label_text("not a literal"),
                );
                return None;
            };
            let item_base = literal_base(&literal);
            let compatible =
                item_base == target || (item_base.is_numeric() && target.is_numeric()) || literal == Literal::Null;
            if !compatible {
                self.error(
                    Diagnostic::new(
                        Code::TypeMismatch,
                        item.span,
                        format!("`in` compares {operand_type} with {}", item_base.name()),
                    )
                    .with_secondary(operand.span, format!("this is {operand_type}")),
                );
                return None;
            }
            if item_base == BaseType::Float64 && target == BaseType::Int64 {
                target = BaseType::Float64;
            }
            literals.push(literal);
        }
        let literals: Vec<Literal> = literals
            .into_iter()
            .map(|literal| match (literal, target) {
                (Literal::Int(value), BaseType::Float64) => Literal::Float(value as f64),
                (literal, _) => literal,
            })
            .collect();
        let operand_id = self.coerce(typed, target);
        // SQL semantics: `x in [1, null]` is null when x is not 1.
        let ty = Type {
            base: BaseType::Bool,
            nullable: operand_type.nullable || literals.contains(&Literal::Null),
        };
        let id = self.push_expr(
            ExprKind::In {
                operand: operand_id,
                list: literals,
                negated,
            },
            ty,
        );
        let _ = span;
        Some(Typed { id, ty: Ty::Known(ty) })
    }

    fn if_expr(
        &mut self,
        env: &Env,
        branches: &[(ast::Expr, ast::Expr)],
        otherwise: &ast::Expr,
        span: Span,
    ) -> Option<Typed> {
        let mut conditions = Vec::new();
        let mut values = Vec::new();
        let mut failed = false;
        for (condition, then) in branches {
            match self.expr_of(
                &Env {
                    what: "an `if` condition",
                    ..*env
                },
                condition,
                BaseType::Bool,
            ) {
                Some((id, _)) => conditions.push(id),
                None => failed = true,
            }
            match self.expr(env, then) {
                Some(typed) => values.push((typed, then.span)),
                None => failed = true,
            }
        }
        match self.expr(env, otherwise) {
            Some(typed) => values.push((typed, otherwise.span)),
            None => failed = true,
        }
        if failed {
            return None;
        }
        let unified = self.unify(&values, "the branches of `if`")?;
        let Some(base) = unified.base() else {
            self.error(Diagnostic::new(
                Code::TypeMismatch,
                span,
                "every branch of this `if` is `null`",
            ));
            return None;
        };
        let nullable = values.iter().any(|(typed, _)| typed.ty.nullable());
        let ids: Vec<ExprId> = values.iter().map(|(typed, _)| self.coerce(*typed, base)).collect();
        let (otherwise_id, then_ids) = ids.split_last()?;
        let ty = Type { base, nullable };
        let id = self.push_expr(
            ExprKind::If {
                branches: conditions.into_iter().zip(then_ids.iter().copied()).collect(),
                otherwise: *otherwise_id,
            },
            ty,
        );
        Some(Typed { id, ty: Ty::Known(ty) })
    }

    /// The common type of several values (numeric mix → float64), or a diagnostic naming both types.
    pub fn unify(&mut self, values: &[(Typed, Span)], what: &str) -> Option<Ty> {
        let mut result = Ty::Null;
        let mut first_span: Option<(Span, Ty)> = None;
        for (typed, span) in values {
            let Ty::Known(ty) = typed.ty else { continue };
            match result {
                Ty::Null => {
                    result = Ty::Known(ty);
                    first_span = Some((*span, typed.ty));
                }
                Ty::Known(current) => {
                    let base = if current.base == ty.base {
                        current.base
                    } else if current.base.is_numeric() && ty.base.is_numeric() {
                        BaseType::Float64
                    } else {
                        let mut diagnostic = Diagnostic::new(
                            Code::TypeMismatch,
                            *span,
                            format!("{what} have different types: {current} and {ty}"),
                        )
                        .with_label_text(format!("this is {ty}"));
                        if let Some((first, first_ty)) = first_span {
                            diagnostic = diagnostic.with_secondary(first, format!("this is {}", first_ty.describe()));
                        }
                        self.error(diagnostic);
                        return None;
                    };
                    result = Ty::Known(Type {
                        base,
                        nullable: current.nullable || ty.nullable,
                    });
                }
            }
        }
        Some(result)
    }

    fn warn_if_deprecated(&mut self, source: SourceId, column: plan::ColumnIndex, ident: &ast::Ident) {
        let Some(deprecation) = self.deprecations.get(&(source, column)).cloned() else {
            return;
        };
        let since = crate::syntax::literal::format_date(deprecation.since);
        let removable = crate::syntax::literal::format_date(deprecation.removable_from);
        self.diagnostics.push(
            Diagnostic::new(
                Code::DeprecatedColumn,
                ident.span,
                format!(
                    "column `{}` is deprecated since {since} by contract `{}`; it may disappear from {removable}",
                    ident.name, deprecation.contract
                ),
            )
            .with_label_text("deprecated column")
            .with_secondary(deprecation.contract_span, "deprecated here")
            .with_help("move this feature off the column before it goes, in a new feature version"),
        );
    }
}

fn lower_binary(op: BinaryOp) -> plan::BinaryOp {
    match op {
        BinaryOp::Or => plan::BinaryOp::Or,
        BinaryOp::And => plan::BinaryOp::And,
        BinaryOp::Equal => plan::BinaryOp::Equal,
        BinaryOp::NotEqual => plan::BinaryOp::NotEqual,
        BinaryOp::Less => plan::BinaryOp::Less,
        BinaryOp::LessEqual => plan::BinaryOp::LessEqual,
        BinaryOp::Greater => plan::BinaryOp::Greater,
        BinaryOp::GreaterEqual => plan::BinaryOp::GreaterEqual,
        BinaryOp::Add => plan::BinaryOp::Add,
        BinaryOp::Subtract => plan::BinaryOp::Subtract,
        BinaryOp::Multiply => plan::BinaryOp::Multiply,
        BinaryOp::Divide => plan::BinaryOp::Divide,
    }
}

/// A literal written directly (a negated number counts).
pub fn constant_literal(expr: &ast::Expr) -> Option<Literal> {
    match &expr.kind {
        ast::ExprKind::Int(value) => Some(Literal::Int(*value)),
        ast::ExprKind::Float(value) => Some(Literal::Float(*value)),
        ast::ExprKind::String(value) => Some(Literal::String(value.clone())),
        ast::ExprKind::Bool(value) => Some(Literal::Bool(*value)),
        ast::ExprKind::Date(days) => Some(Literal::Date(*days)),
        ast::ExprKind::Duration(micros) => Some(Literal::Duration(*micros)),
        ast::ExprKind::Null => Some(Literal::Null),
        ast::ExprKind::Unary {
            op: UnaryOp::Negate,
            operand,
        } => match constant_literal(operand)? {
            Literal::Int(value) => Some(Literal::Int(value.wrapping_neg())),
            Literal::Float(value) => Some(Literal::Float(-value)),
            Literal::Duration(value) => Some(Literal::Duration(value.wrapping_neg())),
            _ => None,
        },
        _ => None,
    }
}

pub fn literal_base(literal: &Literal) -> BaseType {
    match literal {
        Literal::Null | Literal::Bool(_) => BaseType::Bool,
        Literal::Int(_) => BaseType::Int64,
        Literal::Float(_) => BaseType::Float64,
        Literal::String(_) => BaseType::String,
        Literal::Date(_) => BaseType::Date,
        Literal::Timestamp(_) => BaseType::Timestamp,
        Literal::Duration(_) => BaseType::Duration,
    }
}

trait WithBase {
    fn with_base(self, base: BaseType) -> Self;
}

impl WithBase for Type {
    fn with_base(self, base: BaseType) -> Self {
        Type {
            base,
            nullable: self.nullable,
        }
    }
}
