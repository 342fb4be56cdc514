//! `mlsys.lock`: the canonical hash of every feature group version (and of each of its features) and
//! of every contract. Readable, sorted, diff-friendly. A locked feature version may never change
//! meaning: `mlsysc check` compares the plan with the lock (`E0801`).
//!
//! ```text
//! # mlsys.lock — written by `mlsysc lock`, checked by `mlsysc check`. Do not edit by hand.
//! lock-version = 1
//!
//! [features]
//! user_activity@v1 = 3f0c...
//! user_activity@v1.avg_amount_30d = 91ab...
//!
//! [contracts]
//! transactions_v1 = 77de...
//! ```

use std::collections::BTreeMap;

use crate::diagnostic::{Code, Diagnostic};
use crate::index::SymbolIndex;
use crate::plan::Plan;
use crate::plan::print::feature_path;

pub const LOCK_FILE: &str = "mlsys.lock";
const LOCK_VERSION: &str = "1";

/// The parsed lock: qualified name → hash, per section.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Lock {
    /// `group@vN` and `group@vN.feature`.
    pub features: BTreeMap<String, String>,
    pub contracts: BTreeMap<String, String>,
}

/// Why a lock file cannot be read; always a usage problem (exit 2), never "no changes".
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("mlsys.lock line {line}: {message}")]
pub struct LockError {
    pub line: usize,
    pub message: String,
}

impl Lock {
    /// The lock describing a plan.
    pub fn of(plan: &Plan) -> Lock {
        let mut lock = Lock::default();
        for (_, group) in plan.groups.iter() {
            lock.features
                .insert(format!("{}@v{}", group.name, group.version), group.hash.0.clone());
        }
        for (id, feature) in plan.features.iter() {
            lock.features.insert(feature_path(plan, id), feature.hash.0.clone());
        }
        for (_, contract) in plan.contracts.iter() {
            lock.contracts.insert(contract.name.clone(), contract.hash.0.clone());
        }
        lock
    }

    pub fn render(&self) -> String {
        let mut out = String::from(
            "# mlsys.lock — canonical hashes of feature group versions and contracts.\n\
             # Written by `mlsysc lock`, checked by `mlsysc check`. Do not edit by hand.\n",
        );
        out.push_str(&format!("lock-version = {LOCK_VERSION}\n"));
        for (section, entries) in [("features", &self.features), ("contracts", &self.contracts)] {
            out.push_str(&format!("\n[{section}]\n"));
            for (name, hash) in entries {
                out.push_str(&format!("{name} = {hash}\n"));
            }
        }
        out
    }

    pub fn parse(text: &str) -> Result<Lock, LockError> {
        let mut lock = Lock::default();
        let mut section: Option<&str> = None;
        let mut saw_version = false;
        for (index, raw) in text.lines().enumerate() {
            let line = index + 1;
            let fail = |message: String| Err(LockError { line, message });
            let content = raw.trim();
            if content.is_empty() || content.starts_with('#') {
                continue;
            }
            if let Some(name) = content.strip_prefix('[').and_then(|rest| rest.strip_suffix(']')) {
                if !saw_version {
                    return fail("expected `lock-version = 1` before any section".to_string());
                }
                section = match name {
                    "features" => Some("features"),
                    "contracts" => Some("contracts"),
                    other => return fail(format!("unknown section `[{other}]`")),
                };
                continue;
            }
            let Some((key, value)) = content.split_once('=') else {
                return fail(format!("expected `name = hash`, found `{content}`"));
            };
            let (key, value) = (key.trim(), value.trim());
            if key == "lock-version" {
                if value != LOCK_VERSION {
                    return fail(format!(
                        "unsupported lock-version `{value}` (this mlsysc writes {LOCK_VERSION})"
                    ));
                }
                saw_version = true;
                continue;
            }
            if value.len() != 32 || !value.bytes().all(|byte| byte.is_ascii_hexdigit()) {
                return fail(format!("`{value}` is not a hash (32 hex digits)"));
            }
            if key.is_empty() || key.contains(char::is_whitespace) {
                return fail(format!("`{key}` is not a name"));
            }
            let entries = match section {
                Some("features") => &mut lock.features,
                Some(_) => &mut lock.contracts,
                None => return fail("entry outside a section".to_string()),
            };
            if entries.insert(key.to_string(), value.to_string()).is_some() {
                return fail(format!("`{key}` is listed twice"));
            }
        }
        if !saw_version {
            return Err(LockError {
                line: 1,
                message: "missing `lock-version = 1`".to_string(),
            });
        }
        Ok(lock)
    }

    /// Feature group versions (`group@vN`) whose locked hash differs from the plan's.
    pub fn changed_groups(&self, plan: &Plan) -> Vec<String> {
        let current = Lock::of(plan);
        group_names(&self.features)
            .filter(|name| {
                current
                    .features
                    .get(*name)
                    .is_some_and(|hash| Some(hash) != self.features.get(*name))
            })
            .map(str::to_string)
            .collect()
    }
}

fn group_names(features: &BTreeMap<String, String>) -> impl Iterator<Item = &str> {
    features.keys().map(String::as_str).filter(|name| !name.contains('.'))
}

/// `E0801` for every locked feature group version whose meaning changed, at its declaration, with
/// the changed features as secondary labels.
pub fn check(plan: &Plan, index: &SymbolIndex, lock: &Lock) -> Vec<Diagnostic> {
    let current = Lock::of(plan);
    let mut diagnostics = Vec::new();
    for group in lock.changed_groups(plan) {
        let Some(symbol) = index.named(&group) else { continue };
        let (name, version) = group.split_once("@v").unwrap_or((group.as_str(), "1"));
        let next = version.parse::<u32>().map_or(2, |version| version + 1);
        let mut diagnostic = Diagnostic::new(
            Code::LockedVersionChanged,
            symbol.span,
            format!("feature group `{group}` is locked, but its definition changed"),
        )
        .with_label_text("changed since `mlsys.lock` was written")
        .with_help(format!(
            "a locked version never changes meaning: restore it and declare v{next} alongside (`features {name} v{next} {{ ... }}`), then pin v{next} where you want the change"
        ));
        let prefix = format!("{group}.");
        for (feature, hash) in current.features.range(prefix.clone()..) {
            if !feature.starts_with(&prefix) {
                break;
            }
            let changed = lock.features.get(feature).is_none_or(|locked| locked != hash);
            if changed && let Some(symbol) = index.named(feature) {
                let what = if lock.features.contains_key(feature) {
                    "changed"
                } else {
                    "added"
                };
                diagnostic = diagnostic.with_secondary(symbol.span, what);
            }
        }
        diagnostics.push(diagnostic);
    }
    diagnostics
}
