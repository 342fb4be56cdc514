//! Batch scoring targets (`serve NAME { mode = batch ... }`): the examples of some UTC days, their
//! model inputs computed point in time exactly as training sets get them ([`each_example`]),
//! converted as training converts them ([`model_input`]) and scored by the target's model, written
//! to the target's `output` Delta table partitioned by example day `dt`.
//!
//! Idempotent per day: a scoring of some days replaces exactly those days' partitions in one commit
//! (a day without examples is left empty), so re-running a day leaves one copy of its rows. A run
//! killed before its commit leaves the table as it was.
//!
//! The model itself is the caller's ([`Scorer`]): this crate links neither the registry nor the
//! trainers. [`schedule`] decides which runs are due; [`latest`] answers the latest stored score of
//! a key.

pub mod latest;
pub mod schedule;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray, new_null_array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use mlsys_compiler::plan::{ColumnIndex, DateRange, ModelId, Plan, ServeMode, Stage};
use mlsys_compiler::types::BaseType;

use crate::convert::{arrow_type, value_at};
use crate::error::BatchError;
use crate::features::asof::{LookupPasses, Lookups};
use crate::features::expected_table;
use crate::features::output::{ColumnBuilder, date_text, day_of, day_start};
use crate::ingest::list::{outside_project, resolve_location};
use crate::store::{DATE_PARTITION, OfflineStore, Replace, TableLocation};
use crate::training::inputs::{InputError, model_input};
use crate::training::spec::{TrainingSpec, sha256_hex};
use crate::training::split::{ExampleRows, each_example};

/// The columns batch scoring adds after the examples' own.
pub const SCORE_COLUMNS: [&str; 5] = ["score", "model", "version", "scored_at", "features"];

/// Bumped when the output's layout changes: a table of another layout is refused, not mixed.
const FORMAT: &str = "scores-2";

/// Errors of batch scoring.
#[derive(Debug, thiserror::Error)]
pub enum ScoreError {
    #[error("no serve target `{name}`{}", known_targets(.known))]
    UnknownTarget { name: String, known: Vec<String> },
    #[error("serve target `{name}` is a realtime target; `mlsysc score` runs batch targets (`mode = batch`)")]
    NotBatch { name: String },
    #[error("serve target `{name}` has no `{property}`")]
    Missing { name: String, property: &'static str },
    #[error("serve target `{name}`: output `{output}` leads out of the project through a symbolic link (to {})", .target.display())]
    OutputEscapes {
        name: String,
        output: String,
        target: PathBuf,
    },
    #[error(
        "table `{table}` is missing or was computed from another definition than the spec's; run `mlsysc build` first"
    )]
    NotBuilt { table: String },
    #[error("input `{column}` of an example of {date}")]
    Input {
        column: String,
        date: String,
        #[source]
        error: InputError,
    },
    #[error("the model of serve target `{target}` cannot be loaded")]
    LoadModel {
        target: String,
        #[source]
        error: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("the model of serve target `{target}` failed to score")]
    Model {
        target: String,
        #[source]
        error: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("the model of serve target `{target}` returned {found} scores for {expected} rows")]
    ScoreCount {
        target: String,
        expected: usize,
        found: usize,
    },
    #[error(transparent)]
    Schedule(#[from] schedule::ScheduleError),
    #[error(transparent)]
    Batch(#[from] BatchError),
}

fn known_targets(known: &[String]) -> String {
    if known.is_empty() {
        "; the project declares no batch serve target".to_string()
    } else {
        format!("; batch targets: {}", known.join(", "))
    }
}

/// A batch serve target of a plan, resolved: its model, stage, schedule and output table.
pub struct BatchTarget<'a> {
    pub plan: &'a Plan,
    pub name: String,
    pub model: ModelId,
    /// The stage as the spec names it (`production`, `v3`, ...); the caller resolves it.
    pub stage: Stage,
    pub schedule: String,
    /// The output as the spec writes it.
    pub output_text: String,
    pub output: TableLocation,
}

impl<'a> BatchTarget<'a> {
    /// The batch target `name` of `plan`; relative outputs are resolved against `project`.
    pub fn new(plan: &'a Plan, project: &Path, name: &str) -> Result<BatchTarget<'a>, ScoreError> {
        let Some((_, serve)) = plan.serves.iter().find(|(_, serve)| serve.name == name) else {
            return Err(ScoreError::UnknownTarget {
                name: name.to_string(),
                known: batch_targets(plan),
            });
        };
        if serve.mode != ServeMode::Batch {
            return Err(ScoreError::NotBatch { name: name.to_string() });
        }
        let missing = |property| ScoreError::Missing {
            name: name.to_string(),
            property,
        };
        let schedule = serve.schedule.clone().ok_or_else(|| missing("schedule"))?;
        let output_text = serve.output.clone().ok_or_else(|| missing("output"))?;
        let path = resolve_location(project, &output_text)?;
        let relative = !output_text.contains("://") && !Path::new(&output_text).is_absolute();
        if relative && let Some(target) = outside_project(project, &path) {
            return Err(ScoreError::OutputEscapes {
                name: name.to_string(),
                output: output_text,
                target,
            });
        }
        Ok(BatchTarget {
            plan,
            name: name.to_string(),
            model: serve.model.model,
            stage: serve.model.stage,
            schedule,
            output_text,
            output: TableLocation {
                name: format!("scores/{name}"),
                path,
            },
        })
    }

    /// The model's name.
    pub fn model_name(&self) -> &str {
        &self.plan.models[self.model].name
    }

    /// The model's inputs in the order a [`Scorer`] receives them: each input's column name in
    /// training sets and its feature's canonical hash (a registered version must have been trained
    /// on exactly these).
    pub fn inputs(&self) -> Vec<(String, String)> {
        self.plan.models[self.model]
            .features
            .iter()
            .map(|id| {
                (
                    crate::training::spec::input_column(self.plan, *id),
                    self.plan.features[*id].hash.0.clone(),
                )
            })
            .collect()
    }

    /// The examples columns written to the output: every column of the examples source but the
    /// label.
    fn example_columns(&self) -> Vec<ColumnIndex> {
        let model = &self.plan.models[self.model];
        let own_label =
            (model.label.source == model.examples && model.label.expr.is_none()).then_some(model.label.column);
        let source = &self.plan.sources[model.examples];
        (0..source.columns.len() as ColumnIndex)
            .filter(|index| Some(*index) != own_label)
            .collect()
    }

    /// The output table's columns: the examples' columns but the label, `score`, `model`,
    /// `version`, `scored_at`, `features` (the model's inputs as the prediction log writes them:
    /// monitors read them), then `dt`.
    pub fn schema(&self) -> SchemaRef {
        let source = &self.plan.sources[self.plan.models[self.model].examples];
        let mut fields: Vec<Field> = self
            .example_columns()
            .into_iter()
            .map(|index| {
                let column = &source.columns[index as usize];
                Field::new(&column.name, arrow_type(column.ty.base), true)
            })
            .collect();
        fields.push(Field::new("score", DataType::Float64, false));
        fields.push(Field::new("model", DataType::Utf8, false));
        fields.push(Field::new("version", DataType::Int64, false));
        fields.push(Field::new("scored_at", arrow_type(BaseType::Timestamp), false));
        fields.push(Field::new("features", DataType::Utf8, false));
        fields.push(Field::new(DATE_PARTITION, DataType::Utf8, false));
        Arc::new(Schema::new(fields))
    }

    /// The examples source's timestamp column name.
    pub fn timestamp_column(&self) -> Option<String> {
        let source = &self.plan.sources[self.plan.models[self.model].examples];
        source
            .timestamp
            .map(|index| source.columns[index as usize].name.clone())
    }

    /// The columns the latest-score lookup indexes by default: the entity keys the model's
    /// features are looked up by and, for a label joined from another source, the examples' join
    /// key (the row's own key).
    pub fn key_columns(&self) -> Result<Vec<String>, ScoreError> {
        let spec = TrainingSpec::new(self.plan, self.model)?;
        let source = &self.plan.sources[spec.examples];
        let mut indexes: Vec<ColumnIndex> = spec.lookups.iter().flat_map(|(_, keys)| keys.iter().copied()).collect();
        if let Some((example_key, _)) = self.plan.models[self.model].label.join {
            indexes.push(example_key);
        }
        let mut names: Vec<String> = Vec::new();
        for index in indexes {
            let name = &source.columns[index as usize].name;
            if !names.contains(name) {
                names.push(name.clone());
            }
        }
        Ok(names)
    }
}

/// The names of a plan's batch serve targets.
pub fn batch_targets(plan: &Plan) -> Vec<String> {
    plan.serves
        .iter()
        .filter(|(_, serve)| serve.mode == ServeMode::Batch)
        .map(|(_, serve)| serve.name.clone())
        .collect()
}

/// A model ready to score rows.
pub trait Scorer: Send {
    /// Scores rows given column-major inputs: `columns[i][row]` is input `i` of
    /// [`BatchTarget::inputs`] (float64, NaN = missing); one score per row.
    fn score(&mut self, columns: &[Vec<f64>]) -> Result<Vec<f64>, Box<dyn std::error::Error + Send + Sync>>;
}

/// Which registered version scores, recorded on every row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScoredBy {
    pub model: String,
    pub version: u32,
}

/// What a scoring wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScoreReport {
    /// Every day replaced, `YYYY-MM-DD`, in order (days without examples included: left empty).
    pub days: Vec<String>,
    pub rows: u64,
    /// The output table's Delta version after the commit.
    pub table_version: Option<u64>,
}

/// The UTC days of `days`, as partition values.
pub fn day_list(days: DateRange) -> Vec<String> {
    (days.start..=days.end).map(date_text).collect()
}

/// Scores the examples of the UTC days `days` into `target`'s output table, replacing those days'
/// partitions in one commit; every row carries `by` and `scored_at` (microseconds since the epoch).
pub async fn score_days(
    target: &BatchTarget<'_>,
    store: &OfflineStore,
    days: DateRange,
    by: &ScoredBy,
    scored_at: i64,
    scorer: &mut dyn Scorer,
) -> Result<ScoreReport, ScoreError> {
    let plan = target.plan;
    let spec = TrainingSpec::new(plan, target.model)?;
    check_built(&spec, store).await?;
    let schema = target.schema();
    let day_names = day_list(days);
    let definition = sha256_hex(&format!("{FORMAT}:{:?}", schema.fields()));
    let run = target.output.next_run().await?;
    let writer = target
        .output
        .defined_writer(
            Some(&definition),
            schema.clone(),
            Replace::Dates(&day_names),
            run,
            store.write_buffer(),
        )
        .await?;
    let sink = writer.sink();
    let produced: Result<u64, ScoreError> = async {
        let times = Some((day_start(days.start), day_start(days.end.saturating_add(1))));
        let passes = LookupPasses::plan(plan, store, &spec.lookups, times).await?;
        let mut rows = 0u64;
        for pass in 0..passes.passes {
            let lookups = Lookups::load(plan, store, &spec.lookups, times, passes, pass).await?;
            each_example(&spec, store, &lookups, days, async |examples| {
                let batch = scored_batch(target, &spec, &schema, examples, by, scored_at, scorer)?;
                rows += batch.num_rows() as u64;
                sink.send(batch).await.map_err(ScoreError::from)
            })
            .await?;
        }
        Ok(rows)
    }
    .await;
    let rows = match produced {
        Ok(rows) => rows,
        // The writer's own error when the rows could not be sent because it had failed.
        Err(ScoreError::Batch(error)) => return Err(writer.abandon(error).await.into()),
        Err(error) => {
            // The scoring error is the cause, whatever the abandoned writer reports.
            drop(writer.abandon(BatchError::Abandoned).await);
            return Err(error);
        }
    };
    writer.finish(Ok(())).await?;
    let table_version = target.output.open().await?.version();
    Ok(ScoreReport {
        days: day_names,
        rows,
        table_version,
    })
}

/// Refuses to score from tables a build has not made for this plan: the examples' processed
/// rows must exist and every looked-up feature table must record the plan's definition.
/// `mlsysc retrain` refuses to build a training set from other tables the same way.
pub async fn check_built(spec: &TrainingSpec<'_>, store: &OfflineStore) -> Result<(), ScoreError> {
    let plan = spec.plan;
    let processed = store.processed(&plan.sources[spec.examples].name);
    if !processed.exists() {
        return Err(ScoreError::NotBuilt { table: processed.name });
    }
    for (group, _) in &spec.lookups {
        let location = store.features(&plan.groups[*group].name, plan.groups[*group].version);
        let expected = expected_table(plan, *group)?.definition;
        let recorded = location.metadata().await?.and_then(|metadata| metadata.definition);
        if recorded.as_deref() != Some(expected.as_str()) {
            return Err(ScoreError::NotBuilt { table: location.name });
        }
    }
    Ok(())
}

/// The output rows of one batch of examples: their columns, scored.
fn scored_batch(
    target: &BatchTarget<'_>,
    spec: &TrainingSpec<'_>,
    schema: &SchemaRef,
    examples: ExampleRows,
    by: &ScoredBy,
    scored_at: i64,
    scorer: &mut dyn Scorer,
) -> Result<RecordBatch, ScoreError> {
    let plan = target.plan;
    let rows = examples.times.len();
    let dates: Vec<String> = examples
        .times
        .iter()
        .map(|time| time.map_or_else(String::new, |time| date_text(day_of(time))))
        .collect();
    let mut columns = Vec::with_capacity(examples.inputs.len());
    for ((id, name), array) in spec.features.iter().zip(&examples.inputs) {
        let base = plan.features[*id].ty.base;
        let column = (0..rows)
            .map(|row| {
                model_input(&value_at(array, row, base)).map_err(|error| ScoreError::Input {
                    column: name.clone(),
                    date: dates[row].clone(),
                    error,
                })
            })
            .collect::<Result<Vec<f64>, ScoreError>>()?;
        columns.push(column);
    }
    let scores = scorer.score(&columns).map_err(|error| ScoreError::Model {
        target: target.name.clone(),
        error,
    })?;
    if scores.len() != rows {
        return Err(ScoreError::ScoreCount {
            target: target.name.clone(),
            expected: rows,
            found: scores.len(),
        });
    }
    let source = &plan.sources[spec.examples];
    let mut arrays: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
    for index in target.example_columns() {
        let column = &source.columns[index as usize];
        let data_type = arrow_type(column.ty.base);
        arrays.push(match examples.batch.column_by_name(&column.name) {
            Some(array) => cast(array, &data_type).map_err(BatchError::from)?,
            None => new_null_array(&data_type, rows),
        });
    }
    arrays.push(Arc::new(Float64Array::from(scores)));
    arrays.push(Arc::new(StringArray::from(vec![by.model.as_str(); rows])));
    arrays.push(Arc::new(Int64Array::from(vec![i64::from(by.version); rows])));
    let mut times = ColumnBuilder::new(BaseType::Timestamp);
    for _ in 0..rows {
        times.push(&mlsys_kernels::value::Value::Timestamp(scored_at))?;
    }
    arrays.push(times.finish());
    arrays.push(features_column(spec, &columns, rows));
    arrays.push(Arc::new(StringArray::from(dates)));
    Ok(RecordBatch::try_new(schema.clone(), arrays).map_err(BatchError::from)?)
}

/// Each row's model inputs as the prediction log's `features` text (name → number).
fn features_column(spec: &TrainingSpec<'_>, columns: &[Vec<f64>], rows: usize) -> ArrayRef {
    let names: Arc<[String]> = spec.features.iter().map(|(_, name)| name.clone()).collect();
    let texts = (0..rows).map(|row| {
        let values = columns.iter().map(|column| column[row]).collect();
        crate::prediction_log::Features::new(names.clone(), values)
            .map(|features| features.to_json())
            .unwrap_or_default()
    });
    Arc::new(StringArray::from_iter_values(texts))
}
