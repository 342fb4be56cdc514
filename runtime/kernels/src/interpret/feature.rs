//! Whole features: row-level and derived features computed with the features they read, and
//! windowed aggregates computed from their source's events by the reference window definition.

use std::collections::{BTreeSet, HashMap};

use mlsys_compiler::plan::walk::{feature_roots, nodes};
use mlsys_compiler::plan::{ColumnIndex, ExprKind, FeatureId, FeatureKind, Metric, MetricSide, Plan, SourceId};

use crate::interpret::{EvalError, Inputs, evaluate};
use crate::value::Value;
use crate::window::window_value;

/// The value of one feature on the row (or, for a derived feature, the entity) that `inputs`
/// describes. See [`evaluate_features`].
pub fn evaluate_feature(plan: &Plan, feature: FeatureId, inputs: &dyn Inputs) -> Result<Value, EvalError> {
    let mut values = evaluate_features(plan, &[feature], inputs)?;
    Ok(values.pop().unwrap_or(Value::Null))
}

/// The values of `features`, in order. Row-level and derived features are computed, together with
/// every row-level or derived feature they read (in id order, which the plan guarantees is
/// dependency order); windowed aggregates are read from `inputs` (the caller looks them up at the
/// row's keys and time, e.g. with [`evaluate_aggregate`]).
pub fn evaluate_features(plan: &Plan, features: &[FeatureId], inputs: &dyn Inputs) -> Result<Vec<Value>, EvalError> {
    let mut needed = BTreeSet::new();
    let mut stack = features.to_vec();
    while let Some(id) = stack.pop() {
        let feature = plan.features.get(id).ok_or(EvalError::MissingFeature(id))?;
        if matches!(feature.kind, FeatureKind::Aggregate(_)) || !needed.insert(id) {
            continue;
        }
        for root in feature_roots(feature) {
            for node in nodes(plan, root) {
                if let Some(ExprKind::Feature { feature }) = plan.exprs.get(node).map(|expr| &expr.kind) {
                    stack.push(*feature);
                }
            }
        }
    }
    let mut computed = Computed {
        inputs,
        values: HashMap::new(),
    };
    for id in needed {
        let root = match plan.features.get(id).map(|feature| &feature.kind) {
            Some(FeatureKind::Row { expr } | FeatureKind::Derived { expr }) => *expr,
            _ => continue,
        };
        let value = evaluate(plan, root, &computed)?;
        computed.values.insert(id, value);
    }
    Ok(features.iter().map(|id| computed.feature(*id)).collect())
}

/// Features computed so far, falling back to the caller's inputs (aggregates, and in a plan that
/// breaks dependency order, features not computed yet).
struct Computed<'a> {
    inputs: &'a dyn Inputs,
    values: HashMap<FeatureId, Value>,
}

impl Inputs for Computed<'_> {
    fn column(&self, source: SourceId, column: ColumnIndex) -> Value {
        self.inputs.column(source, column)
    }

    fn feature(&self, feature: FeatureId) -> Value {
        match self.values.get(&feature) {
            Some(value) => value.clone(),
            None => self.inputs.feature(feature),
        }
    }

    fn metric(&self, side: MetricSide, metric: Metric) -> Value {
        self.inputs.metric(side, metric)
    }
}

/// The value at `t` of the windowed aggregate `feature` over `events`, rows of its group's source
/// for one entity (the caller selects the entity's events). Events with a null timestamp (bad rows)
/// or a null key column (no entity) are left out, as lang-spec/windows.md section 3 says; the `where`
/// condition must evaluate to `true`.
pub fn evaluate_aggregate<E: Inputs>(
    plan: &Plan,
    feature: FeatureId,
    events: &[E],
    t: i64,
) -> Result<Value, EvalError> {
    let bad = |message: &str| EvalError::BadFeature {
        feature,
        message: message.to_string(),
    };
    let definition = plan.features.get(feature).ok_or(EvalError::MissingFeature(feature))?;
    let FeatureKind::Aggregate(aggregate) = &definition.kind else {
        return Err(bad("not a windowed aggregate"));
    };
    let group = plan
        .groups
        .get(definition.group)
        .ok_or_else(|| bad("its group is missing"))?;
    let source = group.source;
    let timestamp_column = plan
        .sources
        .get(source)
        .and_then(|source| source.timestamp)
        .ok_or_else(|| bad("its source has no timestamp"))?;
    let argument_type = match aggregate.argument {
        Some(argument) => Some(
            plan.exprs
                .get(argument)
                .ok_or(EvalError::MissingExpr(argument))?
                .ty
                .base,
        ),
        None => None,
    };
    let mut selected = Vec::new();
    for event in events {
        let timestamp = match event.column(source, timestamp_column) {
            Value::Timestamp(timestamp) => timestamp,
            Value::Null => continue,
            _ => return Err(bad("an event's timestamp column holds a non-timestamp")),
        };
        if group.key_columns.iter().any(|key| event.column(source, *key).is_null()) {
            continue;
        }
        if let Some(filter) = aggregate.filter {
            match evaluate(plan, filter, event)? {
                Value::Bool(true) => {}
                Value::Bool(false) | Value::Null => continue,
                _ => return Err(bad("its `where` condition is not a bool")),
            }
        }
        let value = match aggregate.argument {
            Some(argument) => evaluate(plan, argument, event)?,
            None => Value::Null,
        };
        selected.push((timestamp, value));
    }
    window_value(
        &selected,
        aggregate.function,
        argument_type,
        t,
        aggregate.window_micros,
        aggregate.resolution_micros,
    )
    .map_err(|source| EvalError::Aggregate { feature, source })
}
