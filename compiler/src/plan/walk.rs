//! Walking plan expressions without recursion: children of a node, every node under a root, and the
//! columns a feature reads through the features it depends on.

use crate::plan::arena::*;
use crate::plan::ir::*;

/// The direct children of an expression node.
pub fn children(kind: &ExprKind) -> Vec<ExprId> {
    match kind {
        ExprKind::Literal { .. } | ExprKind::Column { .. } | ExprKind::Feature { .. } | ExprKind::Metric { .. } => {
            Vec::new()
        }
        ExprKind::ToFloat { operand } | ExprKind::Unary { operand, .. } | ExprKind::In { operand, .. } => {
            vec![*operand]
        }
        ExprKind::Binary { lhs, rhs, .. } => vec![*lhs, *rhs],
        ExprKind::Call { arguments, .. } => arguments.clone(),
        ExprKind::If { branches, otherwise } => branches
            .iter()
            .flat_map(|(condition, then)| [*condition, *then])
            .chain([*otherwise])
            .collect(),
    }
}

/// Every node under `root` (root included), depth first.
pub fn nodes(plan: &Plan, root: ExprId) -> Vec<ExprId> {
    let mut found = Vec::new();
    let mut stack = vec![root];
    while let Some(id) = stack.pop() {
        let Some(expr) = plan.exprs.get(id) else { continue };
        found.push(id);
        stack.extend(children(&expr.kind));
    }
    found
}

/// The expressions that define a feature (its row or derived expression, or an aggregate's
/// argument and filter).
pub fn feature_roots(feature: &Feature) -> Vec<ExprId> {
    match &feature.kind {
        FeatureKind::Row { expr } | FeatureKind::Derived { expr } => vec![*expr],
        FeatureKind::Aggregate(aggregate) => aggregate.argument.into_iter().chain(aggregate.filter).collect(),
    }
}

/// The source columns of the *current row* an expression reads, directly or through the row-level
/// and derived features it reads. Windowed aggregates are not followed: they only see earlier tiles.
pub fn row_columns_read(plan: &Plan, roots: &[ExprId]) -> Vec<(SourceId, ColumnIndex)> {
    let mut columns = Vec::new();
    let mut seen_features = std::collections::HashSet::new();
    let mut stack: Vec<ExprId> = roots.to_vec();
    while let Some(id) = stack.pop() {
        let Some(expr) = plan.exprs.get(id) else { continue };
        match &expr.kind {
            ExprKind::Column { source, column } => columns.push((*source, *column)),
            ExprKind::Feature { feature } => {
                if seen_features.insert(*feature)
                    && let Some(feature) = plan.features.get(*feature)
                    && !matches!(feature.kind, FeatureKind::Aggregate(_))
                {
                    stack.extend(feature_roots(feature));
                }
            }
            kind => stack.extend(children(kind)),
        }
    }
    columns
}
