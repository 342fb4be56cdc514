//! Canonical hashes. A feature's hash covers what it computes — its name, type, definition, the
//! source columns (with types) it reads and the hashes of the features it reads — and nothing else:
//! formatting, comments, declaration order and file layout never change it. A group's hash covers
//! its identity, entity keys, source and the sorted (name, hash) pairs of its features.

use std::fmt::Write as _;

use sha2::{Digest, Sha256};

use crate::plan::arena::*;
use crate::plan::ir::*;
use crate::plan::print::{RefStyle, aggregate_text, expr_text};
use crate::syntax::literal::{format_date, format_duration, quote};

fn digest(text: &str) -> Hash {
    let bytes = Sha256::digest(text.as_bytes());
    let mut hex = String::with_capacity(32);
    for byte in &bytes[..16] {
        let _ = write!(hex, "{byte:02x}");
    }
    Hash(hex)
}

/// The text hashed for a feature. Referenced features appear by hash, so the plan's features must
/// be hashed in id order (dependencies first).
pub fn feature_definition(plan: &Plan, id: FeatureId) -> String {
    let feature = &plan.features[id];
    let group = &plan.groups[feature.group];
    let source = &plan.sources[group.source];
    let mut text = format!("feature {}: {}\nsource {}\n", feature.name, feature.ty, source.name);
    match &feature.kind {
        FeatureKind::Row { expr } => {
            let _ = writeln!(text, "row {}", expr_text(plan, *expr, RefStyle::Hash));
        }
        FeatureKind::Derived { expr } => {
            let _ = writeln!(text, "derived {}", expr_text(plan, *expr, RefStyle::Hash));
        }
        FeatureKind::Aggregate(aggregate) => {
            let _ = writeln!(text, "aggregate {}", aggregate_text(plan, aggregate, RefStyle::Hash));
            let timestamp = source
                .timestamp
                .and_then(|index| source.columns.get(index as usize))
                .map_or("none", |column| column.name.as_str());
            let _ = writeln!(text, "timestamp {timestamp}");
            let _ = writeln!(text, "keys {}", key_text(plan, group));
        }
    }
    text
}

fn key_text(plan: &Plan, group: &FeatureGroup) -> String {
    let source = &plan.sources[group.source];
    group
        .key_columns
        .iter()
        .filter_map(|index| source.columns.get(*index as usize))
        .map(|column| format!("{}:{}", column.name, column.ty))
        .collect::<Vec<_>>()
        .join(",")
}

pub fn group_definition(plan: &Plan, id: GroupId) -> String {
    let group = &plan.groups[id];
    let source = &plan.sources[group.source];
    let mut text = format!("group {} v{}\nsource {}\n", group.name, group.version, source.name);
    if let Some(entity) = group.entity.and_then(|entity| plan.entities.get(entity)) {
        let _ = writeln!(text, "entity {} keys {}", entity.name, key_text(plan, group));
    }
    let mut features: Vec<(&str, &str)> = group
        .features
        .iter()
        .map(|feature| {
            let feature = &plan.features[*feature];
            (feature.name.as_str(), feature.hash.0.as_str())
        })
        .collect();
    features.sort_unstable();
    for (name, hash) in features {
        let _ = writeln!(text, "feature {name} {hash}");
    }
    text
}

/// The text hashed for a contract: the guarantees it makes, by column name and type.
pub fn contract_definition(plan: &Plan, id: ContractId) -> String {
    let contract = &plan.contracts[id];
    let source = &plan.sources[contract.source];
    let column = |index: &ColumnIndex| {
        source.columns.get(*index as usize).map_or_else(
            || "<missing>".to_string(),
            |column| format!("{}:{}", column.name, column.ty),
        )
    };
    let mut text = format!(
        "contract {} on {}\nowner {}\nnotice {}\n",
        contract.name,
        source.name,
        quote(&contract.owner),
        format_duration(contract.notice_micros)
    );
    let mut required: Vec<String> = contract.required.iter().map(column).collect();
    required.sort_unstable();
    let _ = writeln!(text, "require {}", required.join(","));
    let mut expectations: Vec<String> = contract
        .expectations
        .iter()
        .map(|expectation| match expectation {
            Expectation::Holds { expr } => format!("holds {}", expr_text(plan, *expr, RefStyle::Hash)),
            Expectation::Unique { column: index } => format!("unique {}", column(index)),
            Expectation::NotNull { column: index } => format!("not_null {}", column(index)),
        })
        .collect();
    expectations.sort_unstable();
    for expectation in expectations {
        let _ = writeln!(text, "expect {expectation}");
    }
    let mut deprecations: Vec<String> = contract
        .deprecations
        .iter()
        .map(|deprecation| format!("{} {}", column(&deprecation.column), format_date(deprecation.since)))
        .collect();
    deprecations.sort_unstable();
    for deprecation in deprecations {
        let _ = writeln!(text, "deprecate {deprecation}");
    }
    text
}

/// Fills in every feature, group and contract hash.
pub fn assign_hashes(plan: &mut Plan) {
    for id in plan.features.ids() {
        let hash = digest(&feature_definition(plan, id));
        plan.features[id].hash = hash;
    }
    for id in plan.groups.ids() {
        let hash = digest(&group_definition(plan, id));
        plan.groups[id].hash = hash;
    }
    for id in plan.contracts.ids() {
        let hash = digest(&contract_definition(plan, id));
        plan.contracts[id].hash = hash;
    }
}

/// Recomputes a feature's hash from the plan (used by the verifier).
pub fn feature_hash(plan: &Plan, id: FeatureId) -> Hash {
    digest(&feature_definition(plan, id))
}

pub fn group_hash(plan: &Plan, id: GroupId) -> Hash {
    digest(&group_definition(plan, id))
}

pub fn contract_hash(plan: &Plan, id: ContractId) -> Hash {
    digest(&contract_definition(plan, id))
}
