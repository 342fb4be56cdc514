//! The plan verifier: checks the invariants every consumer of a plan relies on. The checker's output
//! always passes (tests run it on every case); a plan read back from JSON or produced by a future pass
//! is verified before use. A failure is a compiler bug, reported with the entity at fault.

use crate::builtins::{AggregateFunction, Shape};
use crate::plan::arena::*;
use crate::plan::hash::{contract_hash, feature_hash, group_hash};
use crate::plan::ir::*;
use crate::types::{BaseType, Type};

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("plan invariant broken at {location}: {message}")]
pub struct VerifyError {
    pub location: String,
    pub message: String,
}

struct Verifier<'a> {
    plan: &'a Plan,
    errors: Vec<VerifyError>,
}

/// Verifies `plan`; an empty list means every invariant holds.
pub fn verify(plan: &Plan) -> Vec<VerifyError> {
    let mut verifier = Verifier {
        plan,
        errors: Vec::new(),
    };
    verifier.run();
    verifier.errors
}

/// Which references an expression may contain where it is used.
#[derive(Clone, Copy)]
struct ExprContext {
    /// Columns must belong to this source (`None`: no columns allowed).
    source: Option<SourceId>,
    /// Features must have smaller ids than this (`None`: no features allowed).
    features_below: Option<FeatureId>,
    metrics: bool,
}

impl Verifier<'_> {
    fn fail(&mut self, location: impl Into<String>, message: impl Into<String>) {
        self.errors.push(VerifyError {
            location: location.into(),
            message: message.into(),
        });
    }

    fn run(&mut self) {
        let plan = self.plan;
        for (id, source) in plan.sources.iter() {
            if let Some(timestamp) = source.timestamp {
                match source.columns.get(timestamp as usize) {
                    Some(column) if column.ty.base == BaseType::Timestamp => {}
                    _ => self.fail(id.to_string(), "timestamp is not a timestamp column"),
                }
            }
        }
        for (id, contract) in plan.contracts.iter() {
            let Some(source) = plan.sources.get(contract.source) else {
                self.fail(id.to_string(), "contract on a missing source");
                continue;
            };
            let columns = source.columns.len();
            let mut indexes: Vec<ColumnIndex> = contract.required.clone();
            indexes.extend(contract.deprecations.iter().map(|deprecation| deprecation.column));
            for expectation in &contract.expectations {
                match expectation {
                    Expectation::Holds { expr } => {
                        let context = ExprContext {
                            source: Some(contract.source),
                            features_below: None,
                            metrics: false,
                        };
                        self.expect_type(id.to_string(), *expr, context, BaseType::Bool);
                    }
                    Expectation::Unique { column } | Expectation::NotNull { column } => indexes.push(*column),
                }
            }
            if indexes.iter().any(|index| *index as usize >= columns) {
                self.fail(id.to_string(), "contract names a column index out of range");
            }
            if contract.hash != contract_hash(plan, id) {
                self.fail(id.to_string(), "stale contract hash");
            }
        }
        for (id, group) in plan.groups.iter() {
            self.group(id, group);
        }
        for (id, feature) in plan.features.iter() {
            self.feature(id, feature);
        }
        for (id, model) in plan.models.iter() {
            self.model(id, model);
        }
        for (id, serve) in plan.serves.iter() {
            let location = id.to_string();
            let Some(model) = plan.models.get(serve.model.model) else {
                self.fail(location, "serve target of a missing model");
                continue;
            };
            if serve.shadow.is_some_and(|shadow| !plan.models.contains(shadow.model)) {
                self.fail(location.clone(), "shadow of a missing model");
            }
            if let Some(fallback) = serve.fallback {
                let context = ExprContext {
                    source: Some(model.examples),
                    features_below: None,
                    metrics: false,
                };
                if let Some(ty) = self.expr(location.clone(), fallback, context)
                    && ty.base != BaseType::Float64
                {
                    self.fail(location, "fallback is not float64");
                }
            }
        }
        for (id, monitor) in plan.monitors.iter() {
            if !plan.serves.contains(monitor.target) {
                self.fail(id.to_string(), "monitor of a missing serve target");
            }
            for rule in &monitor.drift {
                if rule.features.iter().any(|feature| !plan.features.contains(*feature)) {
                    self.fail(id.to_string(), "drift rule over a missing feature");
                }
            }
        }
    }

    fn group(&mut self, id: GroupId, group: &FeatureGroup) {
        let plan = self.plan;
        let location = format!("{id} ({}@v{})", group.name, group.version);
        let Some(source) = plan.sources.get(group.source) else {
            self.fail(location, "feature group on a missing source");
            return;
        };
        for feature in &group.features {
            if plan.features.get(*feature).is_none_or(|feature| feature.group != id) {
                self.fail(
                    location.clone(),
                    format!("lists {feature}, which is not one of its features"),
                );
            }
        }
        match group.entity.map(|entity| plan.entities.get(entity)) {
            None => {
                if !group.key_columns.is_empty() {
                    self.fail(location, "key columns without an entity");
                }
            }
            Some(None) => self.fail(location, "missing entity"),
            Some(Some(entity)) => {
                let matches = entity.keys.len() == group.key_columns.len()
                    && entity.keys.iter().zip(&group.key_columns).all(|(key, column)| {
                        source
                            .columns
                            .get(*column as usize)
                            .is_some_and(|column| column.ty.base == key.ty.base)
                    });
                if !matches {
                    self.fail(location.clone(), "key columns do not match the entity's keys");
                }
                if group.hash != group_hash(plan, id) {
                    self.fail(location, "stale group hash");
                }
                return;
            }
        }
        if group.hash != group_hash(plan, id) {
            self.fail(format!("{id}"), "stale group hash");
        }
    }

    fn feature(&mut self, id: FeatureId, feature: &Feature) {
        let plan = self.plan;
        let location = format!("{id} ({})", feature.name);
        let Some(group) = plan.groups.get(feature.group) else {
            self.fail(location, "feature of a missing group");
            return;
        };
        if !group.features.contains(&id) {
            self.fail(location.clone(), "not listed by its group");
        }
        let row_context = ExprContext {
            source: Some(group.source),
            features_below: Some(id),
            metrics: false,
        };
        match &feature.kind {
            FeatureKind::Row { expr } => {
                if group.entity.is_some() {
                    self.fail(location.clone(), "row-level feature in an entity group");
                }
                self.expect_exact(location.clone(), *expr, row_context, feature.ty);
            }
            FeatureKind::Derived { expr } => {
                let context = ExprContext {
                    source: None,
                    features_below: Some(id),
                    metrics: false,
                };
                self.expect_exact(location.clone(), *expr, context, feature.ty);
            }
            FeatureKind::Aggregate(aggregate) => {
                if group.entity.is_none() {
                    self.fail(location.clone(), "aggregate in a group without an entity");
                }
                let has_timestamp = plan
                    .sources
                    .get(group.source)
                    .is_some_and(|source| source.timestamp.is_some());
                if !has_timestamp {
                    self.fail(location.clone(), "aggregate over a source without a timestamp");
                }
                if aggregate.resolution_micros <= 0
                    || aggregate.window_micros <= 0
                    || aggregate.window_micros % aggregate.resolution_micros != 0
                {
                    self.fail(location.clone(), "window is not a positive multiple of its resolution");
                }
                let column_context = ExprContext {
                    source: Some(group.source),
                    features_below: None,
                    metrics: false,
                };
                let argument = aggregate
                    .argument
                    .and_then(|argument| self.expr(location.clone(), argument, column_context));
                if aggregate.argument.is_none() && aggregate.function != AggregateFunction::Count {
                    self.fail(location.clone(), "aggregate without an argument");
                }
                if let Some(filter) = aggregate.filter {
                    self.expect_type(location.clone(), filter, column_context, BaseType::Bool);
                }
                if aggregate.function.result_type(argument) != feature.ty
                    && !(aggregate.function == AggregateFunction::Avg
                        && feature.ty == Type::nullable(BaseType::Float64))
                {
                    self.fail(location.clone(), "aggregate result type differs from the feature type");
                }
            }
        }
        if feature.hash != feature_hash(plan, id) {
            self.fail(location, "stale feature hash");
        }
    }

    fn model(&mut self, id: ModelId, model: &Model) {
        let plan = self.plan;
        let location = format!("{id} ({})", model.name);
        if !plan.sources.contains(model.examples) || !plan.sources.contains(model.label.source) {
            self.fail(location.clone(), "missing examples or label source");
        }
        if let Some(expr) = model.label.expr {
            let fits = plan
                .exprs
                .get(expr)
                .is_some_and(|expr| matches!(expr.ty.base, BaseType::Bool | BaseType::Int64 | BaseType::Float64));
            if !fits || model.label.source != model.examples || model.label.join.is_some() {
                self.fail(
                    location.clone(),
                    "a label expression must be bool or numeric over the examples, unjoined",
                );
            }
        }
        for pin in &model.pins {
            if !plan.groups.contains(pin.group) {
                self.fail(location.clone(), "pins a missing group");
            }
        }
        if model.features.iter().any(|feature| !plan.features.contains(*feature)) {
            self.fail(location.clone(), "uses a missing feature");
        }
        if model.train.metric.task() != model.task {
            self.fail(location.clone(), "metric does not fit the task");
        }
        if model.train.holdout.start <= model.train.snapshot.end {
            self.fail(location.clone(), "holdout does not follow the snapshot");
        }
        if let Some(promote_if) = model.train.promote_if {
            let context = ExprContext {
                source: None,
                features_below: None,
                metrics: true,
            };
            self.expect_type(location, promote_if, context, BaseType::Bool);
        }
    }

    fn expect_exact(&mut self, location: String, expr: ExprId, context: ExprContext, expected: Type) {
        if let Some(ty) = self.expr(location.clone(), expr, context)
            && ty != expected
        {
            self.fail(
                location,
                format!("expression has type {ty}, feature declares {expected}"),
            );
        }
    }

    fn expect_type(&mut self, location: String, expr: ExprId, context: ExprContext, expected: BaseType) {
        if let Some(ty) = self.expr(location.clone(), expr, context)
            && ty.base != expected
        {
            self.fail(location, format!("expected {}, found {ty}", expected.name()));
        }
    }

    /// Checks one expression tree; returns its type if the node exists.
    fn expr(&mut self, location: String, id: ExprId, context: ExprContext) -> Option<Type> {
        let plan = self.plan;
        let Some(expr) = plan.exprs.get(id) else {
            self.fail(location, format!("missing expression {id}"));
            return None;
        };
        let ty = expr.ty;
        let mut operand_types = Vec::new();
        let mut child = |this: &mut Self, child: ExprId| {
            let child_type = this.expr(location.clone(), child, context);
            if let Some(child_type) = child_type {
                operand_types.push(child_type);
            }
            child_type
        };
        match &expr.kind {
            ExprKind::Literal { .. } => {}
            ExprKind::Column { source, column } => {
                let column_type = plan
                    .sources
                    .get(*source)
                    .and_then(|source| source.columns.get(*column as usize))
                    .map(|column| column.ty);
                if context.source != Some(*source) {
                    self.fail(location.clone(), format!("{id} reads a column it may not read here"));
                }
                if column_type != Some(ty) {
                    self.fail(location.clone(), format!("{id} column type differs from the source's"));
                }
            }
            ExprKind::Feature { feature } => {
                let allowed = context.features_below.is_some_and(|below| *feature < below);
                if !allowed {
                    self.fail(
                        location.clone(),
                        format!("{id} refers to {feature}, out of dependency order"),
                    );
                }
                if plan.features.get(*feature).map(|feature| feature.ty) != Some(ty) {
                    self.fail(location.clone(), format!("{id} has a type different from {feature}"));
                }
            }
            ExprKind::ToFloat { operand } => {
                let operand = child(self, *operand);
                if operand.is_some_and(|operand| operand.base != BaseType::Int64) || ty.base != BaseType::Float64 {
                    self.fail(
                        location.clone(),
                        format!("{id} converts a non-int64 or yields a non-float64"),
                    );
                }
            }
            ExprKind::Unary { operand, .. } => {
                child(self, *operand);
            }
            ExprKind::Binary { binary, lhs, rhs } => {
                let lhs = child(self, *lhs);
                let rhs = child(self, *rhs);
                if let (Some(lhs), Some(rhs)) = (lhs, rhs) {
                    let mixed_time = matches!(
                        (lhs.base, rhs.base),
                        (BaseType::Timestamp, BaseType::Duration) | (BaseType::Duration, BaseType::Timestamp)
                    );
                    if lhs.base != rhs.base && !mixed_time {
                        self.fail(location.clone(), format!("{id} {} on {lhs} and {rhs}", binary.name()));
                    }
                }
            }
            ExprKind::Call { function, arguments } => {
                for argument in arguments {
                    child(self, *argument);
                }
                let constant_arguments = match function.shape() {
                    Shape::HashBucket => &arguments[1.min(arguments.len())..],
                    _ => &[],
                };
                let all_literal = constant_arguments.iter().all(|argument| {
                    plan.exprs
                        .get(*argument)
                        .is_some_and(|argument| matches!(argument.kind, ExprKind::Literal { .. }))
                });
                if !all_literal {
                    self.fail(
                        location.clone(),
                        format!("{id} {} needs literal arguments", function.name()),
                    );
                }
            }
            ExprKind::In { operand, .. } => {
                child(self, *operand);
            }
            ExprKind::If { branches, otherwise } => {
                for (condition, then) in branches {
                    if let Some(condition) = child(self, *condition)
                        && condition.base != BaseType::Bool
                    {
                        self.fail(location.clone(), format!("{id} has a non-bool condition"));
                    }
                    child(self, *then);
                }
                child(self, *otherwise);
            }
            ExprKind::Metric { .. } => {
                if !context.metrics {
                    self.fail(
                        location.clone(),
                        format!("{id} reads a training metric outside promote_if"),
                    );
                }
            }
        }
        let propagates = match &expr.kind {
            ExprKind::Call { function, .. } => function.propagates_null(),
            ExprKind::If { .. } => false,
            ExprKind::Binary { binary, .. } => !matches!(binary, BinaryOp::And | BinaryOp::Or),
            _ => true,
        };
        if propagates && !ty.nullable && operand_types.iter().any(|operand| operand.nullable) {
            self.fail(location, format!("{id} is typed non-null but has a nullable operand"));
        }
        Some(ty)
    }
}
