//! A requested feature set planned for serving, once, then cached: the compiled native function,
//! the request fields it reads, the store tables it looks up (one batched read each per request)
//! and, for each compiled input slot, where its value comes from.
//!
//! The request time (lang-spec `windows.md`, "The request time"): every windowed value is read at
//! the time of the row it is computed for, exactly as the batch engine computes it:
//! - a feature service (a model) reads every windowed value at its examples source's timestamp
//!   column, as its training set did;
//! - a feature reference reads at its own group's source's timestamp column: a row-level group's
//!   derived features read other groups' aggregates at the time of the row-level group's own row,
//!   as its table does; an entity group's aggregates at its own source's time.
//!
//! A request time left out, or null where the column is nullable, is the wall clock.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use mlsys_compiler::plan::walk::{feature_roots, nodes};
use mlsys_compiler::plan::{ExprKind, FeatureId, FeatureKind, GroupId, Plan, SourceId};
use mlsys_compiler::types::{BaseType, Type};
use mlsys_jit::{CompiledFeatures, JitCache, Slot};
use mlsys_kernels::Value;
use mlsys_kernels::aggregate::Accumulator;
use mlsys_online::TableId;

use crate::error::ServeError;

/// Whose time a feature set's windowed values are read at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RequestTime {
    /// A feature service: the model's examples source's timestamp, for every value.
    Examples(SourceId),
    /// Feature references: each requested feature's own group's source's timestamp.
    OwnSource,
}

/// A request field: a column in `entities` (or `request_context`), one value per row.
#[derive(Debug)]
pub struct Field {
    pub name: String,
    pub ty: Type,
    /// A source's timestamp column: optional; when absent every row reads the wall clock.
    pub defaults_to_now: bool,
    /// A feature or table that reads the field, for error messages.
    pub read_by: String,
}

/// Where a compiled input slot's value comes from.
#[derive(Clone, Copy, Debug)]
pub enum InputSource {
    Field(usize),
    /// Aggregate `position` of the values looked up in `lookups[lookup]`.
    Aggregate {
        lookup: usize,
        position: usize,
    },
}

/// One materialized table read per request: an entity feature group's windowed aggregates.
#[derive(Debug)]
pub struct TableLookup {
    pub group: GroupId,
    pub table: TableId,
    pub group_hash: String,
    /// The group's windowed aggregates in group order: the values of each change point.
    pub aggregate_names: Vec<String>,
    /// Fields holding the entity key, in key order.
    pub key_fields: Vec<usize>,
    /// The field holding the time the values are read at (null: the wall clock).
    pub time_field: usize,
    /// The empty window's values (`count` 0, other aggregates null), per aggregate.
    pub empty_values: Vec<Value>,
}

/// One requested feature, a column of the response.
#[derive(Debug)]
pub struct Output {
    pub short_name: String,
    /// Feast's full name for a versioned reference: `group@vN__feature`.
    pub full_name: String,
    /// The lookups whose values this feature's value depends on (its status follows theirs).
    pub lookups: Vec<usize>,
}

/// A feature set ready to serve.
#[derive(Debug)]
pub struct FeatureSet {
    pub compiled: Arc<CompiledFeatures>,
    pub fields: Vec<Field>,
    /// One per compiled input slot.
    pub inputs: Vec<InputSource>,
    pub lookups: Vec<TableLookup>,
    pub outputs: Vec<Output>,
    /// Entity key fields, echoed first in the response as Feast does.
    pub entity_fields: Vec<usize>,
    /// A response name used twice with short names (Feast refuses those requests too).
    pub short_name_collision: Option<String>,
    pub full_name_collision: Option<String>,
}

impl FeatureSet {
    /// The feature service of model `name` (its pinned features, read at its examples source's
    /// time) planned and compiled through `jit` without a server or a store: the set whose
    /// `fields` `FeatureServer::service` answers, for clients that must send exactly those.
    pub fn service(plan: &Plan, name: &str, jit: &JitCache) -> Result<FeatureSet, ServeError> {
        let catalog = crate::catalog::Catalog::new(plan);
        let service = catalog.service(name)?;
        FeatureSet::build(plan, &service.features, RequestTime::Examples(service.examples), jit)
    }

    /// Plans `features` of `plan` read at `time`, compiling them through `jit`.
    pub fn build(
        plan: &Plan,
        features: &[FeatureId],
        time: RequestTime,
        jit: &JitCache,
    ) -> Result<FeatureSet, ServeError> {
        let compiled = jit
            .get_or_compile(plan, features)
            .map_err(|error| ServeError::Internal(format!("the feature set cannot be compiled: {error}")))?;
        let read_at = read_times(plan, features, time)?;
        let mut planner = Planner {
            plan,
            fields: Vec::new(),
            lookups: Vec::new(),
            lookup_of_group: BTreeMap::new(),
        };
        let mut inputs = Vec::with_capacity(compiled.inputs().len());
        for slot in compiled.inputs() {
            inputs.push(planner.input(slot, &read_at)?);
        }
        let mut outputs = Vec::with_capacity(features.len());
        for feature in features {
            let reader = time_source(plan, *feature, time);
            let groups = aggregate_groups_read(plan, *feature);
            let mut lookups = Vec::with_capacity(groups.len());
            for group in groups {
                lookups.push(planner.lookup(group, reader)?);
            }
            let definition = &plan.features[*feature];
            let group = &plan.groups[definition.group];
            outputs.push(Output {
                short_name: definition.name.clone(),
                full_name: format!("{}@v{}__{}", group.name, group.version, definition.name),
                lookups,
            });
        }
        let mut entity_fields = Vec::new();
        for lookup in &planner.lookups {
            for field in &lookup.key_fields {
                if !entity_fields.contains(field) {
                    entity_fields.push(*field);
                }
            }
        }
        let entity_names = || entity_fields.iter().map(|field| planner.fields[*field].name.as_str());
        let short_name_collision = first_duplicate(entity_names().chain(outputs.iter().map(|o| o.short_name.as_str())));
        let full_name_collision = first_duplicate(entity_names().chain(outputs.iter().map(|o| o.full_name.as_str())));
        Ok(FeatureSet {
            compiled,
            fields: planner.fields,
            inputs,
            lookups: planner.lookups,
            outputs,
            entity_fields,
            short_name_collision,
            full_name_collision,
        })
    }
}

/// The source whose timestamp `feature`'s windowed inputs are read at.
fn time_source(plan: &Plan, feature: FeatureId, time: RequestTime) -> SourceId {
    match time {
        RequestTime::Examples(examples) => examples,
        RequestTime::OwnSource => plan.groups[plan.features[feature].group].source,
    }
}

/// For every windowed aggregate the requested features read, the source whose time it is read at.
/// One compiled input holds one value per row, so an aggregate needed at two different times (a
/// row-level group over one source reading it, and the aggregate requested directly with its own
/// source's time) is refused: the client requests them separately.
fn read_times(
    plan: &Plan,
    features: &[FeatureId],
    time: RequestTime,
) -> Result<BTreeMap<FeatureId, SourceId>, ServeError> {
    let mut read_at: BTreeMap<FeatureId, (SourceId, FeatureId)> = BTreeMap::new();
    for feature in features {
        let reader = time_source(plan, *feature, time);
        for aggregate in aggregates_read(plan, *feature) {
            let (earlier, by) = *read_at.entry(aggregate).or_insert((reader, *feature));
            if earlier != reader {
                let name = |id: FeatureId| plan.features[id].name.clone();
                let time_of = |source: SourceId| {
                    let source = &plan.sources[source];
                    let column = source.timestamp.and_then(|column| source.columns.get(column as usize));
                    format!(
                        "`{}.{}`",
                        source.name,
                        column.map_or("?", |column| column.name.as_str())
                    )
                };
                return Err(ServeError::bad_request(format!(
                    "windowed feature `{}` would be read at two request times: at {} for `{}` and at {} for `{}`; request them separately",
                    name(aggregate),
                    time_of(earlier),
                    name(by),
                    time_of(reader),
                    name(*feature)
                )));
            }
        }
    }
    Ok(read_at
        .into_iter()
        .map(|(aggregate, (source, _))| (aggregate, source))
        .collect())
}

struct Planner<'a> {
    plan: &'a Plan,
    fields: Vec<Field>,
    lookups: Vec<TableLookup>,
    /// (group, the source whose time it is read at) → lookup.
    lookup_of_group: BTreeMap<(GroupId, SourceId), usize>,
}

impl Planner<'_> {
    fn input(&mut self, slot: &Slot, read_at: &BTreeMap<FeatureId, SourceId>) -> Result<InputSource, ServeError> {
        let plan = self.plan;
        match *slot {
            Slot::Column { source, column, ty } => {
                let source_definition = plan
                    .sources
                    .get(source)
                    .ok_or_else(|| ServeError::Internal(format!("source {source} is not in the plan")))?;
                let name = source_definition
                    .columns
                    .get(column as usize)
                    .map(|column| column.name.clone())
                    .ok_or_else(|| ServeError::Internal(format!("column {column} of {source} is not in the plan")))?;
                let is_timestamp = source_definition.timestamp == Some(column);
                let read_by = format!("source {}", source_definition.name);
                self.field(name, ty, is_timestamp, read_by).map(InputSource::Field)
            }
            Slot::Feature { feature, .. } => {
                let definition = plan
                    .features
                    .get(feature)
                    .ok_or_else(|| ServeError::Internal(format!("feature {feature} is not in the plan")))?;
                if !matches!(definition.kind, FeatureKind::Aggregate(_)) {
                    return Err(ServeError::Internal(format!(
                        "feature {} is an input of its feature set but not a windowed aggregate",
                        definition.name
                    )));
                }
                let reader = read_at.get(&feature).copied().ok_or_else(|| {
                    ServeError::Internal(format!(
                        "aggregate {} is an input but no requested feature reads it",
                        definition.name
                    ))
                })?;
                let lookup = self.lookup(definition.group, reader)?;
                let position = self.lookups[lookup]
                    .aggregate_names
                    .iter()
                    .position(|name| *name == definition.name)
                    .ok_or_else(|| ServeError::Internal(format!("aggregate {} not in its group", definition.name)))?;
                Ok(InputSource::Aggregate { lookup, position })
            }
        }
    }

    /// The field named `name`, added or merged with an earlier use: one request column serves
    /// every reader, so the readers must agree on its type (the strictest nullability wins).
    fn field(&mut self, name: String, ty: Type, defaults_to_now: bool, read_by: String) -> Result<usize, ServeError> {
        if let Some(index) = self.fields.iter().position(|field| field.name == name) {
            let field = &mut self.fields[index];
            if field.ty.base != ty.base {
                return Err(ServeError::bad_request(format!(
                    "the requested features read request field `{name}` as {} ({}) and as {} ({}); request them separately",
                    field.ty.base.name(),
                    field.read_by,
                    ty.base.name(),
                    read_by
                )));
            }
            field.ty.nullable &= ty.nullable;
            field.defaults_to_now &= defaults_to_now;
            return Ok(index);
        }
        self.fields.push(Field {
            name,
            ty,
            defaults_to_now,
            read_by,
        });
        Ok(self.fields.len() - 1)
    }

    /// The lookup of an entity group's table read at `reader`'s time, added on first use.
    fn lookup(&mut self, group_id: GroupId, reader: SourceId) -> Result<usize, ServeError> {
        if let Some(index) = self.lookup_of_group.get(&(group_id, reader)) {
            return Ok(*index);
        }
        let plan = self.plan;
        let group = &plan.groups[group_id];
        let table = TableId::new(&group.name, group.version)
            .map_err(|error| ServeError::Internal(format!("feature group {}: {error}", group.name)))?;
        let internal = |message: &str| ServeError::Internal(format!("feature group {table}: {message}"));
        let entity = group
            .entity
            .and_then(|entity| plan.entities.get(entity))
            .ok_or_else(|| internal("windowed aggregates without an entity"))?;
        let read_by = format!("the entity key of {table}");
        let mut key_fields = Vec::with_capacity(entity.keys.len());
        for key in &entity.keys {
            // A null key belongs to no entity: the empty window, as the batch engine reads it.
            let ty = Type {
                base: key.ty.base,
                nullable: true,
            };
            key_fields.push(self.field(key.name.clone(), ty, false, read_by.clone())?);
        }
        let source = &plan.sources[reader];
        let time_column = source
            .timestamp
            .and_then(|column| source.columns.get(column as usize))
            .ok_or_else(|| {
                internal(&format!(
                    "read at the time of `{}`, which has no timestamp",
                    source.name
                ))
            })?;
        let time_field = self.field(
            time_column.name.clone(),
            Type {
                base: BaseType::Timestamp,
                nullable: time_column.ty.nullable,
            },
            true,
            format!("the request time of {table}"),
        )?;
        let mut aggregate_names = Vec::new();
        let mut empty_values = Vec::new();
        for feature_id in &group.features {
            let feature = &plan.features[*feature_id];
            let FeatureKind::Aggregate(aggregate) = &feature.kind else {
                continue;
            };
            let argument = aggregate
                .argument
                .and_then(|argument| plan.exprs.get(argument))
                .map(|argument| argument.ty.base);
            let empty = Accumulator::new(aggregate.function, argument)
                .map_err(|error| internal(&format!("aggregate {}: {error}", feature.name)))?
                .finish();
            aggregate_names.push(feature.name.clone());
            empty_values.push(empty);
        }
        self.lookups.push(TableLookup {
            group: group_id,
            group_hash: group.hash.0.clone(),
            table,
            aggregate_names,
            key_fields,
            time_field,
            empty_values,
        });
        let index = self.lookups.len() - 1;
        self.lookup_of_group.insert((group_id, reader), index);
        Ok(index)
    }
}

/// The entity groups whose windowed aggregates `feature`'s value depends on: its own group for an
/// aggregate, else the groups of every aggregate it reads through row-level and derived features.
fn aggregate_groups_read(plan: &Plan, feature: FeatureId) -> BTreeSet<GroupId> {
    aggregates_read(plan, feature)
        .into_iter()
        .map(|aggregate| plan.features[aggregate].group)
        .collect()
}

/// The windowed aggregates `feature`'s value depends on: itself for an aggregate, else every
/// aggregate it reads through row-level and derived features.
fn aggregates_read(plan: &Plan, feature: FeatureId) -> BTreeSet<FeatureId> {
    let mut aggregates = BTreeSet::new();
    let mut seen = BTreeSet::new();
    let mut stack = vec![feature];
    while let Some(id) = stack.pop() {
        let Some(definition) = plan.features.get(id) else {
            continue;
        };
        if !seen.insert(id) {
            continue;
        }
        if matches!(definition.kind, FeatureKind::Aggregate(_)) {
            aggregates.insert(id);
            continue;
        }
        for root in feature_roots(definition) {
            for node in nodes(plan, root) {
                if let Some(ExprKind::Feature { feature }) = plan.exprs.get(node).map(|expr| &expr.kind) {
                    stack.push(*feature);
                }
            }
        }
    }
    aggregates
}

fn first_duplicate<'a>(names: impl Iterator<Item = &'a str>) -> Option<String> {
    let mut seen = BTreeSet::new();
    for name in names {
        if !seen.insert(name) {
            return Some(name.to_string());
        }
    }
    None
}
