//! What a request can name: feature references (`group@vN:feature`) and feature services (model
//! names), resolved against the plan to feature ids, with 404 messages that say what exists.
//!
//! Accepted reference spellings, all naming feature `f` of feature group `g` version `N`:
//! - `g@vN:f` — Feast 0.67's versioned reference (`view@vN:feature`);
//! - `g_vN:f` — a Feast feature view named per version (tried first; if no group `g` has version
//!   `N`, the whole view name is looked up as a group name, so a group literally named `x_v2` is
//!   still reachable as `x_v2@v1:f`);
//! - `g@vN.f` — the language's own spelling.
//!
//! A reference without a version (`g:f`, Feast's "latest") is refused: versions are pinned, and a
//! server that silently followed the newest version would change its answers when one is added.

use std::collections::{BTreeMap, HashMap};

use mlsys_compiler::plan::{FeatureId, GroupId, Plan, SourceId};

use crate::error::ServeError;

/// Name lookups over one plan, built once.
#[derive(Debug)]
pub struct Catalog {
    groups: HashMap<(String, u32), GroupId>,
    /// Versions of each group name, for "did you mean" messages.
    versions: BTreeMap<String, Vec<u32>>,
    services: BTreeMap<String, Service>,
}

/// A feature service: a model's pinned features, read at its examples' time.
#[derive(Debug)]
pub struct Service {
    pub examples: SourceId,
    pub features: Vec<FeatureId>,
}

impl Catalog {
    pub fn new(plan: &Plan) -> Catalog {
        let mut groups = HashMap::new();
        let mut versions: BTreeMap<String, Vec<u32>> = BTreeMap::new();
        for (id, group) in plan.groups.iter() {
            groups.insert((group.name.clone(), group.version), id);
            versions.entry(group.name.clone()).or_default().push(group.version);
        }
        for list in versions.values_mut() {
            list.sort_unstable();
        }
        let services = plan
            .models
            .values()
            .map(|model| {
                let service = Service {
                    examples: model.examples,
                    features: model.features.clone(),
                };
                (model.name.clone(), service)
            })
            .collect();
        Catalog {
            groups,
            versions,
            services,
        }
    }

    /// A feature service (a model: its pinned features, in pin order).
    pub fn service(&self, name: &str) -> Result<&Service, ServeError> {
        self.services.get(name).ok_or_else(|| {
            let known: Vec<&str> = self.services.keys().map(String::as_str).collect();
            ServeError::not_found(format!(
                "unknown feature service `{name}`: a feature service is a model name; this plan has {}",
                list_or_none(&known)
            ))
        })
    }

    pub fn service_names(&self) -> impl Iterator<Item = &str> {
        self.services.keys().map(String::as_str)
    }

    /// The feature a reference names.
    pub fn resolve(&self, plan: &Plan, reference: &str) -> Result<FeatureId, ServeError> {
        let (view, feature) = split_reference(reference).ok_or_else(|| {
            ServeError::bad_request(format!(
                "malformed feature reference `{reference}`: expected `group@vN:feature`, e.g. `user_activity@v1:txn_count_7d`"
            ))
        })?;
        let group_id = self.resolve_view(view, reference)?;
        let group = &plan.groups[group_id];
        group
            .features
            .iter()
            .copied()
            .find(|id| plan.features[*id].name == feature)
            .ok_or_else(|| {
                let names: Vec<&str> = group
                    .features
                    .iter()
                    .map(|id| plan.features[*id].name.as_str())
                    .collect();
                ServeError::not_found(format!(
                    "unknown feature `{feature}` in feature group {}@v{} (reference `{reference}`); it has {}",
                    group.name,
                    group.version,
                    list_or_none(&names)
                ))
            })
    }

    fn resolve_view(&self, view: &str, reference: &str) -> Result<GroupId, ServeError> {
        if let Some((name, version)) = view.split_once("@v") {
            let Some(version) = parse_version(version) else {
                return Err(ServeError::bad_request(format!(
                    "malformed version in feature reference `{reference}`: expected `@v` and a number, e.g. `@v1`"
                )));
            };
            return self.group(name, version, reference);
        }
        if let Some((name, version)) = view.rsplit_once("_v")
            && let Some(version) = parse_version(version)
            && let Some(id) = self.groups.get(&(name.to_string(), version))
        {
            return Ok(*id);
        }
        match self.versions.get(view) {
            Some(versions) => {
                let spelled: Vec<String> = versions.iter().map(|version| format!("`{view}@v{version}`")).collect();
                Err(ServeError::not_found(format!(
                    "feature reference `{reference}` names no version of feature group `{view}`: versions are pinned, use {}",
                    spelled.join(" or ")
                )))
            }
            None => Err(self.unknown_group(view, reference)),
        }
    }

    fn group(&self, name: &str, version: u32, reference: &str) -> Result<GroupId, ServeError> {
        if let Some(id) = self.groups.get(&(name.to_string(), version)) {
            return Ok(*id);
        }
        match self.versions.get(name) {
            Some(versions) => {
                let known: Vec<String> = versions.iter().map(|version| format!("v{version}")).collect();
                Err(ServeError::not_found(format!(
                    "unknown version v{version} of feature group `{name}` (reference `{reference}`); it has {}",
                    known.join(", ")
                )))
            }
            None => Err(self.unknown_group(name, reference)),
        }
    }

    fn unknown_group(&self, name: &str, reference: &str) -> ServeError {
        let known: Vec<&str> = self.versions.keys().map(String::as_str).collect();
        ServeError::not_found(format!(
            "unknown feature group `{name}` (reference `{reference}`); this plan has {}",
            list_or_none(&known)
        ))
    }
}

/// `view:feature` (Feast) or `group@vN.feature` (the language).
fn split_reference(reference: &str) -> Option<(&str, &str)> {
    let (view, feature) = match reference.rsplit_once(':') {
        Some(split) => split,
        None => {
            let (view, feature) = reference.rsplit_once('.')?;
            if !view.contains("@v") {
                return None;
            }
            (view, feature)
        }
    };
    (!view.is_empty() && !feature.is_empty()).then_some((view, feature))
}

/// Digits without a leading zero (so each version has one spelling).
fn parse_version(text: &str) -> Option<u32> {
    let plain =
        !text.is_empty() && text.bytes().all(|byte| byte.is_ascii_digit()) && (text == "0" || !text.starts_with('0'));
    if plain { text.parse().ok() } else { None }
}

fn list_or_none(names: &[&str]) -> String {
    if names.is_empty() {
        return "none".to_string();
    }
    const SHOWN: usize = 20;
    let mut text = names
        .iter()
        .take(SHOWN)
        .map(|name| format!("`{name}`"))
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > SHOWN {
        text.push_str(&format!(" and {} more", names.len() - SHOWN));
    }
    text
}
