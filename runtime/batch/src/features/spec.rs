//! What computing one feature group needs, read off the plan once: for an entity group, its keys,
//! every windowed aggregate its features read (its own and, through derived features, those of
//! other groups of the entity on the same source) and how far back a change reaches; for a
//! row-level group, the entity groups it looks up.

use std::collections::BTreeSet;

use datafusion::arrow::datatypes::Field;
use mlsys_compiler::builtins::AggregateFunction;
use mlsys_compiler::plan::walk::{feature_roots, nodes};
use mlsys_compiler::plan::{ColumnIndex, ExprId, ExprKind, FeatureId, FeatureKind, GroupId, Plan, SourceId};
use mlsys_compiler::types::{BaseType, Type};
use mlsys_kernels::aggregate::Accumulator;
use mlsys_kernels::interpret::{Inputs, evaluate_features};
use mlsys_kernels::value::Value;
use mlsys_kernels::window::Window;

use crate::convert::arrow_type;
use crate::error::BatchError;

/// One windowed aggregate to compute.
#[derive(Clone, Debug)]
pub struct AggregateSpec {
    pub feature: FeatureId,
    pub function: AggregateFunction,
    pub argument: Option<ExprId>,
    pub argument_type: Option<BaseType>,
    pub filter: Option<ExprId>,
    pub window: Window,
}

impl AggregateSpec {
    pub fn empty(&self) -> Result<Accumulator, BatchError> {
        Accumulator::new(self.function, self.argument_type).map_err(invalid(self.feature))
    }
}

/// An entity group, ready to compute.
pub struct EntityGroupSpec<'a> {
    pub plan: &'a Plan,
    pub group: GroupId,
    pub source: SourceId,
    /// Source columns of the entity keys, with the entity's key names and types.
    pub keys: Vec<(ColumnIndex, String, Type)>,
    pub aggregates: Vec<AggregateSpec>,
    /// The group's features, in declaration order (the output columns).
    pub outputs: Vec<FeatureId>,
    /// The longest `W + R` of the aggregates: how far after an event its effects reach.
    pub reach: i64,
    /// Every other group whose definition this one's values depend on.
    pub depends_on: BTreeSet<GroupId>,
}

fn invalid(feature: FeatureId) -> impl FnOnce(mlsys_kernels::aggregate::AggregateError) -> BatchError {
    move |source| BatchError::Aggregate { feature, source }
}

/// The features (of any group) that `roots` read, directly or through row-level and derived features.
pub fn features_read(plan: &Plan, roots: &[FeatureId]) -> BTreeSet<FeatureId> {
    let mut seen = BTreeSet::new();
    let mut stack = roots.to_vec();
    while let Some(id) = stack.pop() {
        if !seen.insert(id) {
            continue;
        }
        let Some(feature) = plan.features.get(id) else { continue };
        for root in feature_roots(feature) {
            for node in nodes(plan, root) {
                if let Some(ExprKind::Feature { feature }) = plan.exprs.get(node).map(|expr| &expr.kind) {
                    stack.push(*feature);
                }
            }
        }
    }
    seen
}

impl<'a> EntityGroupSpec<'a> {
    pub fn new(plan: &'a Plan, group_id: GroupId) -> Result<EntityGroupSpec<'a>, BatchError> {
        let group = &plan.groups[group_id];
        let entity = group
            .entity
            .and_then(|entity| plan.entities.get(entity))
            .ok_or_else(|| BatchError::NoEntity {
                group: group.name.clone(),
            })?;
        let keys = group
            .key_columns
            .iter()
            .zip(&entity.keys)
            .map(|(column, key)| (*column, key.name.clone(), key.ty))
            .collect();
        let mut spec = EntityGroupSpec {
            plan,
            group: group_id,
            source: group.source,
            keys,
            aggregates: Vec::new(),
            outputs: group.features.clone(),
            reach: 0,
            depends_on: BTreeSet::new(),
        };
        for id in features_read(plan, &group.features) {
            let feature = &plan.features[id];
            if feature.group != group_id {
                spec.depends_on.insert(feature.group);
            }
            let FeatureKind::Aggregate(aggregate) = &feature.kind else {
                continue;
            };
            let owner = &plan.groups[feature.group];
            if owner.source != group.source || owner.key_columns != group.key_columns {
                return Err(BatchError::ForeignAggregate {
                    group: group.name.clone(),
                    version: group.version,
                    owner: owner.name.clone(),
                    owner_version: owner.version,
                    feature: feature.name.clone(),
                });
            }
            let window = Window::new(aggregate.window_micros, aggregate.resolution_micros).map_err(invalid(id))?;
            let argument_type = match aggregate.argument {
                Some(argument) => Some(
                    plan.exprs
                        .get(argument)
                        .ok_or(BatchError::NoArgument { feature: id })?
                        .ty
                        .base,
                ),
                None => None,
            };
            spec.reach = spec.reach.max(window.length().saturating_add(window.resolution()));
            spec.aggregates.push(AggregateSpec {
                feature: id,
                function: aggregate.function,
                argument: aggregate.argument,
                argument_type,
                filter: aggregate.filter,
                window,
            });
        }
        Ok(spec)
    }

    /// The output columns of the features: named as the features, typed and nullable as the plan says.
    pub fn feature_fields(&self) -> Vec<Field> {
        feature_fields(self.plan, &self.outputs)
    }

    /// The values of the output features given every aggregate's value (derived features computed
    /// from them).
    pub fn outputs_from(&self, aggregates: &[Value]) -> Result<Vec<Value>, BatchError> {
        let inputs = AggregateValues {
            spec: self,
            values: aggregates,
        };
        evaluate_features(self.plan, &self.outputs, &inputs).map_err(BatchError::Derived)
    }

    /// The values read for an entity with no events in any window (or before its first change point).
    pub fn empty_outputs(&self) -> Result<Vec<Value>, BatchError> {
        let empty = self
            .aggregates
            .iter()
            .map(|aggregate| aggregate.empty().map(|accumulator| accumulator.finish()))
            .collect::<Result<Vec<_>, _>>()?;
        self.outputs_from(&empty)
    }
}

pub fn feature_fields(plan: &Plan, features: &[FeatureId]) -> Vec<Field> {
    features
        .iter()
        .map(|id| {
            let feature = &plan.features[*id];
            Field::new(&feature.name, arrow_type(feature.ty.base), feature.ty.nullable)
        })
        .collect()
}

/// Aggregate values as interpreter inputs: the derived features read them, nothing reads columns.
struct AggregateValues<'s, 'a> {
    spec: &'s EntityGroupSpec<'a>,
    values: &'s [Value],
}

impl Inputs for AggregateValues<'_, '_> {
    fn column(&self, _: SourceId, _: ColumnIndex) -> Value {
        Value::Null
    }

    fn feature(&self, feature: FeatureId) -> Value {
        self.spec
            .aggregates
            .iter()
            .position(|aggregate| aggregate.feature == feature)
            .and_then(|index| self.values.get(index).cloned())
            .unwrap_or(Value::Null)
    }
}
