//! A realtime serve target planned once at start: the model's feature service (compiled by the
//! feature server), the request fields a client sends, the fallback, the deadline and batching,
//! and the slots holding the loaded primary and shadow versions (swapped by the registry watch).

use std::sync::{Arc, RwLock};
use std::time::Duration;

use mlsys_compiler::plan::walk::row_columns_read;
use mlsys_compiler::plan::{
    Batching, ColumnIndex, ExprId, FeatureId, Model, ModelRef, Plan, ServeId, ServeMode, SourceId, Stage,
};
use mlsys_compiler::types::Type;
use mlsys_kernels::Value;
use mlsys_kernels::interpret::{Bindings, evaluate};
use mlsys_registry::StageRef;
use mlsys_serve::FeatureServer;
use mlsys_serve::feature_set::FeatureSet;
use tokio::sync::Semaphore;

use crate::error::{DeployError, FallbackError};
use crate::model::LoadedModel;

/// A field of a scoring request: a column of the model's `examples` source.
#[derive(Clone, Debug)]
pub struct RequestField {
    pub name: String,
    pub ty: Type,
    /// The examples source's timestamp: when left out (or null), the request is scored at now.
    pub optional: bool,
    /// Its position among the feature service's fields, when the features read it.
    pub feature_field: Option<usize>,
}

/// A serve target's `fallback`: an expression over request fields, evaluated by the reference
/// interpreter (the lang-spec's own semantics) when the model cannot answer.
#[derive(Debug)]
pub struct Fallback {
    expr: ExprId,
    /// (request field, examples column) for each column the expression reads.
    columns: Vec<(usize, SourceId, ColumnIndex)>,
}

/// The loaded version of one role (primary or shadow), or why there is none.
#[derive(Debug, Default)]
pub struct ModelSlot {
    state: RwLock<SlotState>,
}

#[derive(Debug, Default, Clone)]
struct SlotState {
    model: Option<Arc<LoadedModel>>,
    /// Why no model is loaded (or why the stage's newest version could not replace it).
    problem: Option<String>,
}

impl ModelSlot {
    /// The version requests start on now; they keep it to the end however the slot changes.
    pub fn current(&self) -> Option<Arc<LoadedModel>> {
        self.read().model
    }

    pub fn problem(&self) -> Option<String> {
        self.read().problem
    }

    /// Replaces the served version atomically.
    pub fn swap(&self, model: Option<Arc<LoadedModel>>, problem: Option<String>) {
        let mut state = self.state.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        *state = SlotState { model, problem };
    }

    /// Keeps the served version and records why the stage's version could not replace it.
    pub fn set_problem(&self, problem: Option<String>) {
        let mut state = self.state.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        state.problem = problem;
    }

    fn read(&self) -> SlotState {
        self.state
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

/// A realtime target ready to serve.
#[derive(Debug)]
pub struct Target {
    pub name: String,
    pub serve: ServeId,
    pub model: String,
    pub stage: StageRef,
    /// The shadow model's name and stage.
    pub shadow: Option<(String, StageRef)>,
    pub shadow_inputs: Vec<FeatureId>,
    /// The model's pinned features: its input vector.
    pub inputs: Vec<FeatureId>,
    /// The inputs' names as the training set calls them (`group@vN.feature`).
    pub input_names: Arc<[String]>,
    pub features: Arc<FeatureSet>,
    pub fields: Vec<RequestField>,
    /// The request field holding the examples source's timestamp, if the request carries it.
    pub time_field: Option<usize>,
    /// The request fields whose values make a row's label key (lang-spec §7.7): the label's join
    /// column, or for a label on the example's own columns every field.
    pub label_key_fields: Vec<usize>,
    pub fallback: Option<Fallback>,
    pub timeout: Option<Duration>,
    pub batching: Option<Batching>,
    pub primary: ModelSlot,
    pub shadow_slot: ModelSlot,
    /// Requests being scored: bounded, overload is answered 503 with `Retry-After`.
    pub in_flight: Arc<Semaphore>,
    max_in_flight: usize,
}

impl Target {
    /// Plans every realtime target of `plan` (`only`: just these names).
    pub fn plan_all(
        plan: &Plan,
        features: &FeatureServer,
        only: &[String],
        max_in_flight: usize,
    ) -> Result<Vec<Target>, DeployError> {
        for name in only {
            if !plan.serves.values().any(|serve| &serve.name == name) {
                return Err(DeployError::UnknownTarget { name: name.clone() });
            }
        }
        plan.serves
            .iter()
            .filter(|(_, serve)| serve.mode == ServeMode::Realtime)
            .filter(|(_, serve)| only.is_empty() || only.contains(&serve.name))
            .map(|(id, _)| Target::plan(plan, features, id, max_in_flight))
            .collect()
    }

    fn plan(plan: &Plan, server: &FeatureServer, id: ServeId, max_in_flight: usize) -> Result<Target, DeployError> {
        let serve = &plan.serves[id];
        let model = &plan.models[serve.model.model];
        let set = server.service(&model.name).map_err(|source| DeployError::Features {
            target: serve.name.clone(),
            source,
        })?;
        let input_names: Arc<[String]> = model
            .features
            .iter()
            .map(|feature| mlsys_compiler::plan::print::feature_path(plan, *feature))
            .collect();
        let shadow = serve.shadow.map(|shadow| model_stage(plan, shadow));
        let shadow_set = match &shadow {
            Some((name, _)) => Some(server.service(name).map_err(|source| DeployError::Features {
                target: serve.name.clone(),
                source,
            })?),
            None => None,
        };
        let RequestFields {
            fields,
            fallback,
            time_field,
            label_key_fields,
        } = request_fields(plan, id, &set, shadow_set.as_deref());
        let shadow_inputs = serve
            .shadow
            .map(|shadow| plan.models[shadow.model].features.clone())
            .unwrap_or_default();
        Ok(Target {
            name: serve.name.clone(),
            serve: id,
            model: model.name.clone(),
            stage: model_stage(plan, serve.model).1,
            shadow,
            shadow_inputs,
            inputs: model.features.clone(),
            input_names,
            features: set,
            fields,
            time_field,
            label_key_fields,
            fallback,
            timeout: serve
                .timeout_micros
                .map(|micros| Duration::from_micros(micros.max(0) as u64)),
            batching: serve.batching,
            primary: ModelSlot::default(),
            shadow_slot: ModelSlot::default(),
            in_flight: Arc::new(Semaphore::new(max_in_flight)),
            max_in_flight,
        })
    }

    /// The time request row `row` is scored at: its timestamp field, or `now`.
    pub fn example_time(&self, columns: &[Vec<Value>], row: usize, now: i64) -> i64 {
        match self.time_field.and_then(|field| columns.get(field)?.get(row)) {
            Some(Value::Timestamp(micros)) => *micros,
            _ => now,
        }
    }

    /// The label key of request row `row`; `None` when a key value is missing (null).
    pub fn label_key(&self, columns: &[Vec<Value>], row: usize) -> Option<String> {
        let values: Option<Vec<Value>> = self
            .label_key_fields
            .iter()
            .map(|field| columns.get(*field)?.get(row).filter(|value| !value.is_null()).cloned())
            .collect();
        values.map(|values| mlsys_batch::prediction_log::label_key(&values))
    }

    /// The most requests scored at once.
    pub fn in_flight_limit(&self) -> usize {
        self.max_in_flight
    }

    /// Whether the target can answer: a loaded model, or a fallback.
    pub fn is_ready(&self) -> bool {
        self.fallback.is_some() || self.primary.current().is_some()
    }
}

/// A realtime target's request fields and its fallback, from the feature sets of its model
/// (`set`) and of its shadow: the model's feature service's fields, then the columns of the
/// examples source the fallback reads, then the shadow's fields (the shadow reads the same
/// requests), then the timestamp and the label key's columns when none of those read them.
/// `deploy` decodes requests by them; `mlsysc replay` sends rows with them.
pub fn request_fields(plan: &Plan, id: ServeId, set: &FeatureSet, shadow_set: Option<&FeatureSet>) -> RequestFields {
    let serve = &plan.serves[id];
    let source = &plan.sources[plan.models[serve.model.model].examples];
    let mut fields: Vec<RequestField> = set
        .fields
        .iter()
        .enumerate()
        .map(|(index, field)| RequestField {
            name: field.name.clone(),
            ty: field.ty,
            optional: field.defaults_to_now,
            feature_field: Some(index),
        })
        .collect();
    let fallback = serve.fallback.map(|expr| {
        let mut columns = Vec::new();
        for (source_id, column) in row_columns_read(plan, &[expr]) {
            let definition = &plan.sources[source_id].columns[column as usize];
            let field = match fields.iter().position(|field| field.name == definition.name) {
                Some(field) => field,
                None => {
                    fields.push(RequestField {
                        name: definition.name.clone(),
                        ty: definition.ty,
                        optional: source.timestamp == Some(column),
                        feature_field: None,
                    });
                    fields.len() - 1
                }
            };
            columns.push((field, source_id, column));
        }
        Fallback { expr, columns }
    });
    for field in shadow_set.map_or(&[][..], |shadow| &shadow.fields) {
        if !fields.iter().any(|own| own.name == field.name) {
            fields.push(RequestField {
                name: field.name.clone(),
                ty: field.ty,
                optional: field.defaults_to_now,
                feature_field: None,
            });
        }
    }
    let (time_field, label_key_fields) = label_fields(plan, &plan.models[serve.model.model], &mut fields);
    RequestFields {
        fields,
        fallback,
        time_field,
        label_key_fields,
    }
}

/// A realtime target's request fields ([`request_fields`]).
pub struct RequestFields {
    pub fields: Vec<RequestField>,
    pub fallback: Option<Fallback>,
    /// The field holding the examples source's timestamp.
    pub time_field: Option<usize>,
    /// The fields whose values make a row's label key.
    pub label_key_fields: Vec<usize>,
}

/// The request fields a prediction's label is found by ([`Model::label_key_columns`]), and the
/// timestamp's field. Those the features do not read are added as optional fields: a client may
/// send them (a row without its key is logged without a label key).
fn label_fields(plan: &Plan, model: &Model, fields: &mut Vec<RequestField>) -> (Option<usize>, Vec<usize>) {
    let source = &plan.sources[model.examples];
    let mut field_of = |column: ColumnIndex| {
        let definition = &source.columns[column as usize];
        if let Some(index) = fields.iter().position(|field| field.name == definition.name) {
            return index;
        }
        fields.push(RequestField {
            name: definition.name.clone(),
            ty: definition.ty,
            optional: true,
            feature_field: None,
        });
        fields.len() - 1
    };
    let time_field = source.timestamp.map(&mut field_of);
    let key = model.label_key_columns(plan).into_iter().map(field_of).collect();
    (time_field, key)
}

/// A plan's model reference as the registry's (name, stage).
pub fn model_stage(plan: &Plan, reference: ModelRef) -> (String, StageRef) {
    let stage = match reference.stage {
        Stage::Production => StageRef::Production,
        Stage::Candidate => StageRef::Candidate,
        Stage::Approved => StageRef::Approved,
        Stage::Shadow => StageRef::Shadow,
        Stage::Version(version) => StageRef::Version(version),
    };
    (plan.models[reference.model].name.clone(), stage)
}

impl Fallback {
    /// The fallback's answer for request row `row` (`columns` per request field).
    pub fn evaluate(&self, plan: &Plan, columns: &[Vec<Value>], row: usize) -> Result<f64, FallbackError> {
        let mut bindings = Bindings::new();
        for (field, source, column) in &self.columns {
            bindings = bindings.with_column(*source, *column, columns[*field][row].clone());
        }
        match evaluate(plan, self.expr, &bindings)? {
            Value::Float(value) => Ok(value),
            Value::Int(value) => Ok(value as f64),
            other => Err(FallbackError::NotANumber {
                value: other.to_string(),
            }),
        }
    }
}
