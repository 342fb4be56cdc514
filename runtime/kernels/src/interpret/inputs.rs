//! What an expression reads from outside the plan: the current row's columns, feature values (the
//! windowed aggregates looked up for the row's keys and time), and training metrics; plus lookups of
//! plan entities by name for tests and tools.

use std::collections::HashMap;

use mlsys_compiler::plan::{ColumnIndex, FeatureId, Metric, MetricSide, Plan, SourceId};

use crate::value::Value;

/// The values an expression reads. Anything not supplied reads as null.
pub trait Inputs {
    /// The current row's value of a source column.
    fn column(&self, source: SourceId, column: ColumnIndex) -> Value;
    /// The value of a feature the expression refers to. [`crate::interpret::evaluate_feature`]
    /// computes row-level and derived features itself and asks only for windowed aggregates.
    fn feature(&self, feature: FeatureId) -> Value;
    /// A training metric of `promote_if`.
    fn metric(&self, _side: MetricSide, _metric: Metric) -> Value {
        Value::Null
    }
}

/// A pair of closures is inputs: `(|source, column| ..., |feature| ...)`.
impl<Columns, Features> Inputs for (Columns, Features)
where
    Columns: Fn(SourceId, ColumnIndex) -> Value,
    Features: Fn(FeatureId) -> Value,
{
    fn column(&self, source: SourceId, column: ColumnIndex) -> Value {
        (self.0)(source, column)
    }

    fn feature(&self, feature: FeatureId) -> Value {
        (self.1)(feature)
    }
}

/// Inputs held in maps, built with `with_*` calls.
#[derive(Clone, Debug, Default)]
pub struct Bindings {
    columns: HashMap<(SourceId, ColumnIndex), Value>,
    features: HashMap<FeatureId, Value>,
    metrics: Vec<(MetricSide, Metric, Value)>,
}

impl Bindings {
    pub fn new() -> Bindings {
        Bindings::default()
    }

    pub fn with_column(mut self, source: SourceId, column: ColumnIndex, value: impl Into<Value>) -> Bindings {
        self.columns.insert((source, column), value.into());
        self
    }

    pub fn with_feature(mut self, feature: FeatureId, value: impl Into<Value>) -> Bindings {
        self.features.insert(feature, value.into());
        self
    }

    pub fn with_metric(mut self, side: MetricSide, metric: Metric, value: impl Into<Value>) -> Bindings {
        self.metrics
            .retain(|(bound_side, bound_metric, _)| (*bound_side, *bound_metric) != (side, metric));
        self.metrics.push((side, metric, value.into()));
        self
    }

    /// A whole row of `source`, one value per column in schema order.
    pub fn with_row(mut self, source: SourceId, values: impl IntoIterator<Item = Value>) -> Bindings {
        for (index, value) in values.into_iter().enumerate() {
            let Ok(index) = ColumnIndex::try_from(index) else { break };
            self.columns.insert((source, index), value);
        }
        self
    }
}

impl Inputs for Bindings {
    fn column(&self, source: SourceId, column: ColumnIndex) -> Value {
        self.columns.get(&(source, column)).cloned().unwrap_or(Value::Null)
    }

    fn feature(&self, feature: FeatureId) -> Value {
        self.features.get(&feature).cloned().unwrap_or(Value::Null)
    }

    fn metric(&self, side: MetricSide, metric: Metric) -> Value {
        self.metrics
            .iter()
            .find(|(bound_side, bound_metric, _)| (*bound_side, *bound_metric) == (side, metric))
            .map_or(Value::Null, |(_, _, value)| value.clone())
    }
}

/// The column `column` of source `source`, by name.
pub fn find_column(plan: &Plan, source: &str, column: &str) -> Option<(SourceId, ColumnIndex)> {
    plan.sources
        .iter()
        .find(|(_, candidate)| candidate.name == source)
        .and_then(|(id, source)| Some((id, source.column_index(column)?)))
}

/// The feature `group@v{version}.feature`, by name.
pub fn find_feature(plan: &Plan, group: &str, version: u32, feature: &str) -> Option<FeatureId> {
    let (_, group) = plan
        .groups
        .iter()
        .find(|(_, candidate)| candidate.name == group && candidate.version == version)?;
    group.features.iter().copied().find(|id| {
        plan.features
            .get(*id)
            .is_some_and(|candidate| candidate.name == feature)
    })
}
