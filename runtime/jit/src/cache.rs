//! Compiled feature sets kept for reuse: [`FeatureSetKey`] says what a feature set computes,
//! [`JitCache`] compiles each key once and hands out shared references.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use mlsys_compiler::plan::{FeatureId, Hash, Plan};

use crate::compiled::{CompiledFeatures, compile};
use crate::error::JitError;
use crate::slots::{Analysis, Slot, analyze};

/// What a compiled feature set computes and how it is laid out: the requested features and every
/// feature it computes, each with its canonical hash (which covers its definition, the columns it
/// reads and the hashes of the features it reads), and its input slots. Two plans that agree on
/// all of it (the same plan reloaded, or a new plan version that left these features alone) share
/// one compiled function.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FeatureSetKey {
    requested: Vec<(FeatureId, Hash)>,
    computed: Vec<(FeatureId, Hash)>,
    inputs: Vec<Slot>,
}

impl FeatureSetKey {
    pub fn new(plan: &Plan, features: &[FeatureId]) -> Result<FeatureSetKey, JitError> {
        FeatureSetKey::of(plan, features, &analyze(plan, features)?)
    }

    pub(crate) fn of(plan: &Plan, features: &[FeatureId], analysis: &Analysis) -> Result<FeatureSetKey, JitError> {
        let hashed = |ids: &[FeatureId]| {
            ids.iter()
                .map(|id| {
                    let feature = plan.features.get(*id).ok_or(JitError::MissingFeature(*id))?;
                    Ok((*id, feature.hash.clone()))
                })
                .collect::<Result<Vec<_>, JitError>>()
        };
        Ok(FeatureSetKey {
            requested: hashed(features)?,
            computed: hashed(&analysis.computed)?,
            inputs: analysis.slots.clone(),
        })
    }
}

type Entry = Arc<OnceLock<Result<Arc<CompiledFeatures>, JitError>>>;

/// Compiled feature sets by [`FeatureSetKey`]. Each key is compiled once, by the first caller;
/// concurrent callers of the same key wait for that compilation, callers of other keys do not.
/// Failures are kept too (compilation is deterministic). Entries live until [`JitCache::clear`].
#[derive(Debug, Default)]
pub struct JitCache {
    entries: Mutex<HashMap<FeatureSetKey, Entry>>,
}

impl JitCache {
    pub fn new() -> JitCache {
        JitCache::default()
    }

    /// The compiled `features` of `plan`, compiling them on first use.
    pub fn get_or_compile(&self, plan: &Plan, features: &[FeatureId]) -> Result<Arc<CompiledFeatures>, JitError> {
        let key = FeatureSetKey::new(plan, features)?;
        let entry = {
            let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
            entries.entry(key).or_default().clone()
        };
        entry.get_or_init(|| compile(plan, features).map(Arc::new)).clone()
    }

    /// The number of feature sets compiled or being compiled.
    pub fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets every entry (feature sets in use stay alive until their last reference goes).
    pub fn clear(&self) {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner).clear();
    }
}
