//! What a feature set reads and computes: the features the native function computes (the requested
//! row-level and derived features and every such feature they read) and its input slots (the
//! source columns and the windowed aggregate features those read), exactly the values the
//! reference interpreter asks its `Inputs` for.

use std::collections::{BTreeMap, BTreeSet};

use mlsys_compiler::plan::walk::{feature_roots, nodes};
use mlsys_compiler::plan::{ColumnIndex, ExprKind, FeatureId, FeatureKind, Plan, SourceId};
use mlsys_compiler::types::Type;
use mlsys_kernels::Value;
use mlsys_kernels::interpret::Inputs;

use crate::error::JitError;

/// One input of a compiled feature set: a column of the current row, or a feature value the
/// caller supplies (a windowed aggregate, looked up in the online store for the row's keys).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Slot {
    Column {
        source: SourceId,
        column: ColumnIndex,
        ty: Type,
    },
    Feature {
        feature: FeatureId,
        ty: Type,
    },
}

impl Slot {
    /// The declared type of the values the slot holds (null is accepted whatever the type says,
    /// as the interpreter accepts it).
    pub fn ty(&self) -> Type {
        match self {
            Slot::Column { ty, .. } | Slot::Feature { ty, .. } => *ty,
        }
    }

    /// The slot's value in `inputs`.
    pub fn read(&self, inputs: &dyn Inputs) -> Value {
        match self {
            Slot::Column { source, column, .. } => inputs.column(*source, *column),
            Slot::Feature { feature, .. } => inputs.feature(*feature),
        }
    }

    pub(crate) fn key(&self) -> SlotKey {
        match self {
            Slot::Column { source, column, .. } => SlotKey::Column(*source, *column),
            Slot::Feature { feature, .. } => SlotKey::Feature(*feature),
        }
    }
}

/// A slot without its type. Columns order before features, so slots list columns first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum SlotKey {
    Column(SourceId, ColumnIndex),
    Feature(FeatureId),
}

pub(crate) struct Analysis {
    /// Row-level and derived features to compute, in id order (the plan's dependency order).
    pub computed: Vec<FeatureId>,
    /// Input slots, columns first, each list sorted by id.
    pub slots: Vec<Slot>,
}

impl Analysis {
    /// Whether feature `read` is computed before feature `reader` (otherwise it is an input, as
    /// the interpreter falls back to its inputs for a feature it has not computed yet).
    pub fn computed_before(&self, read: FeatureId, reader: FeatureId) -> bool {
        read < reader && self.computed.binary_search(&read).is_ok()
    }
}

pub(crate) fn analyze(plan: &Plan, features: &[FeatureId]) -> Result<Analysis, JitError> {
    // The same closure as `mlsys_kernels::interpret::evaluate_features`.
    let mut needed = BTreeSet::new();
    let mut stack = features.to_vec();
    while let Some(id) = stack.pop() {
        let feature = plan.features.get(id).ok_or(JitError::MissingFeature(id))?;
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
    let mut analysis = Analysis {
        computed: needed.into_iter().collect(),
        slots: Vec::new(),
    };
    let mut slots = BTreeMap::new();
    let mut feature_slot = |feature: FeatureId| -> Result<(), JitError> {
        let ty = plan.features.get(feature).ok_or(JitError::MissingFeature(feature))?.ty;
        slots.insert(SlotKey::Feature(feature), Slot::Feature { feature, ty });
        Ok(())
    };
    let mut column_slots = BTreeMap::new();
    for reader in &analysis.computed {
        let definition = plan.features.get(*reader).ok_or(JitError::MissingFeature(*reader))?;
        for root in feature_roots(definition) {
            for node in nodes(plan, root) {
                let Some(expr) = plan.exprs.get(node) else { continue };
                match &expr.kind {
                    ExprKind::Column { source, column } => {
                        let ty = plan
                            .sources
                            .get(*source)
                            .and_then(|source| source.columns.get(*column as usize))
                            .map(|column| column.ty)
                            .ok_or_else(|| {
                                JitError::unsupported(node, format!("column {column} of {source} is not in the plan"))
                            })?;
                        let slot = Slot::Column {
                            source: *source,
                            column: *column,
                            ty,
                        };
                        column_slots.insert(slot.key(), slot);
                    }
                    ExprKind::Feature { feature } if !analysis.computed_before(*feature, *reader) => {
                        feature_slot(*feature)?;
                    }
                    _ => {}
                }
            }
        }
    }
    for feature in features {
        if analysis.computed.binary_search(feature).is_err() {
            feature_slot(*feature)?;
        }
    }
    analysis.slots = column_slots.into_values().chain(slots.into_values()).collect();
    Ok(analysis)
}
