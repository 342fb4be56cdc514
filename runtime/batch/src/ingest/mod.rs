//! Ingestion of one source into the processed zone: list the input partitions, re-read only those
//! whose files changed, validate every row (schema-on-read), and replace the changed partitions of
//! `processed/<source>` and `quarantine/<source>` in one commit each.

pub mod list;
pub mod read;
pub mod unique;
pub mod validate;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, RecordBatch, StringArray, TimestampMicrosecondArray, UInt64Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use mlsys_compiler::plan::{BadRows, ColumnIndex, Plan, SourceId, UnknownColumns};

use crate::error::{BatchError, InputProblem};
use crate::ingest::list::{SourceFiles, list_source};
use crate::ingest::read::{ROW_COLUMN, read_file};
use crate::ingest::unique::{Occurrences, UniqueChecks, Verdicts};
use crate::ingest::validate::{Rejection, RowRules, Skipped, Validated, add_skipped, validate_batch};
use crate::state::{PartitionState, SourceState};
use crate::store::{DATE_PARTITION, OfflineStore, Replace, Sink};
use crate::{BuildContext, Progress};

/// What ingesting one source did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SourceReport {
    pub source: String,
    pub partitions_ingested: usize,
    pub partitions_skipped: usize,
    pub files_read: usize,
    pub rows_read: u64,
    pub rows_accepted: u64,
    pub rows_quarantined: u64,
    /// Rows left out without being bad data (a null event time in a nullable event-time column),
    /// per reason; neither processed nor quarantined.
    pub rows_skipped: Skipped,
    /// Schema-on-read notes (unexpected columns, missing nullable columns), once per column.
    pub warnings: Vec<String>,
    /// The input days that were (re)ingested or removed.
    pub changed_partitions: Vec<String>,
}

/// The schema of a quarantine table.
pub fn quarantine_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("file", DataType::Utf8, false),
        Field::new("row", DataType::UInt64, false),
        Field::new("reason", DataType::Utf8, false),
        Field::new("record", DataType::Utf8, false),
        Field::new(DATE_PARTITION, DataType::Utf8, false),
    ]))
}

fn rejection_batch(partition: &str, rejections: &[Rejection]) -> Result<RecordBatch, BatchError> {
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(
            rejections.iter().map(|rejection| rejection.file.as_str()),
        )),
        Arc::new(UInt64Array::from_iter_values(
            rejections.iter().map(|rejection| rejection.row),
        )),
        Arc::new(StringArray::from_iter_values(
            rejections.iter().map(|rejection| rejection.reason.as_str()),
        )),
        Arc::new(StringArray::from_iter_values(
            rejections.iter().map(|rejection| rejection.record.as_str()),
        )),
        Arc::new(StringArray::from_iter_values(rejections.iter().map(|_| partition))),
    ];
    Ok(RecordBatch::try_new(quarantine_schema(), columns)?)
}

/// Bumped when ingestion reads or decides rows differently: every partition is re-ingested.
const FORMAT: &str = "ingest-2";

/// A digest of everything in the plan that decides a source's rows: the source's declaration (not
/// its doc comment) and the hashes of the contracts on it.
fn rules_digest(plan: &Plan, source_id: SourceId) -> String {
    let source = mlsys_compiler::plan::Source {
        doc: None,
        ..plan.sources[source_id].clone()
    };
    let mut text = format!("{FORMAT}:{}", serde_json::to_string(&source).unwrap_or_default());
    for contract in plan.contracts.values().filter(|contract| contract.source == source_id) {
        text.push(':');
        text.push_str(&contract.hash.0);
    }
    crate::training::spec::sha256_hex(&text)
}

/// What a partition's rows are read from: its files (names, sizes, times) and the rules.
fn input_fingerprint(files: &SourceFiles, partition: &str, rules: &str) -> String {
    short_digest(&format!("{rules}:{}", files.fingerprint(partition)))
}

fn short_digest(text: &str) -> String {
    crate::training::spec::sha256_hex(text).chars().take(32).collect()
}

/// The partitions to (re)ingest: changed or new inputs, vanished partitions, or all of them
/// on a full refresh; limited to `--from/--to` when given.
fn partitions_to_ingest(
    context: &BuildContext<'_>,
    files: &SourceFiles,
    previous: &SourceState,
    rules: &str,
) -> BTreeSet<String> {
    let in_range = |partition: &String| context.options.in_range(partition);
    let mut changed: BTreeSet<String> = files
        .partitions
        .keys()
        .filter(|partition| in_range(partition))
        .filter(|partition| {
            context.options.full_refresh
                || previous
                    .partitions
                    .get(*partition)
                    .is_none_or(|state| state.inputs != input_fingerprint(files, partition, rules))
        })
        .cloned()
        .collect();
    changed.extend(
        previous
            .partitions
            .keys()
            .filter(|partition| !files.partitions.contains_key(*partition) && in_range(partition))
            .cloned(),
    );
    changed
}

/// What ingesting a source decided before writing: the partitions to write and the `unique`
/// verdicts with the occurrences behind them.
struct Decided {
    changed: BTreeSet<String>,
    verdicts: Verdicts,
    occurrences: Occurrences,
}

/// Decides the `unique(...)` verdicts over the whole source: the occurrences of the `changed`
/// partitions are read, the others' taken from the index; every unchanged partition whose verdicts
/// differ from the ones it was written with is added to the partitions to write.
async fn plan_partitions(
    context: &BuildContext<'_>,
    store: &OfflineStore,
    source_id: SourceId,
    files: &SourceFiles,
    state: &SourceState,
    mut changed: BTreeSet<String>,
) -> Result<Decided, BatchError> {
    let checks = UniqueChecks::new(context.plan, source_id);
    let mut occurrences = Occurrences::default();
    if checks.is_empty() {
        let verdicts = Verdicts::default();
        return Ok(Decided {
            changed,
            verdicts,
            occurrences,
        });
    }
    let rules = RowRules::for_source(context.plan, source_id);
    for partition in &changed {
        for (file, raw_batches) in partition_inputs(context, source_id, files, partition).await? {
            for raw in &raw_batches {
                let validated = validate_batch(&rules, raw, &file, partition)?;
                checks.collect(&validated.accepted, partition, &mut occurrences)?;
            }
        }
    }
    let source = &context.plan.sources[source_id];
    occurrences.load(&store.unique_index(&source.name), &changed).await?;
    let verdicts = checks.resolve(&occurrences);
    let affected: Vec<String> = state
        .partitions
        .iter()
        .filter(|(partition, held)| !changed.contains(*partition) && verdicts.digest(partition) != held.unique)
        .map(|(partition, _)| partition.clone())
        .collect();
    changed.extend(affected);
    Ok(Decided {
        changed,
        verdicts,
        occurrences,
    })
}

/// The files of one partition read as they are (a Delta source: its current snapshot).
async fn partition_inputs(
    context: &BuildContext<'_>,
    source_id: SourceId,
    files: &SourceFiles,
    partition: &str,
) -> Result<Vec<(String, Vec<RecordBatch>)>, BatchError> {
    let source = &context.plan.sources[source_id];
    if source.format == mlsys_compiler::plan::Format::Delta {
        let location = list::resolve_location(context.project, &source.location)?;
        return Ok(vec![(
            source.location.clone(),
            read_delta(&source.name, &location).await?,
        )]);
    }
    let mut inputs = Vec::new();
    for file in files.partitions.get(partition).into_iter().flatten() {
        inputs.push((file.display.clone(), read_file(&source.name, source.format, file)?));
    }
    Ok(inputs)
}

/// Ingests one source. Updates `state` for the partitions it rewrote.
pub async fn ingest_source(
    context: &BuildContext<'_>,
    store: &OfflineStore,
    source_id: SourceId,
    state: &mut SourceState,
    progress: &dyn Progress,
) -> Result<SourceReport, BatchError> {
    let plan = context.plan;
    let source = &plan.sources[source_id];
    let files = list_source(context.project, source)?;
    let rules = rules_digest(plan, source_id);
    let changed = partitions_to_ingest(context, &files, state, &rules);
    let decided = plan_partitions(context, store, source_id, &files, state, changed).await?;
    let changed = &decided.changed;
    let mut report = SourceReport {
        source: source.name.clone(),
        partitions_ingested: changed.len(),
        partitions_skipped: files.partitions.len().saturating_sub(changed.len()),
        changed_partitions: changed.iter().cloned().collect(),
        ..SourceReport::default()
    };
    if changed.is_empty() {
        return Ok(report);
    }
    let partitions: Vec<String> = changed.iter().cloned().collect();
    let processed = store
        .processed(&source.name)
        .writer(
            validate::processed_schema(source),
            Replace::Dates(&partitions),
            context.run,
            store.write_buffer(),
        )
        .await?;
    let quarantine = store
        .quarantine(&source.name)
        .writer(
            quarantine_schema(),
            Replace::Dates(&partitions),
            context.run,
            store.write_buffer(),
        )
        .await?;
    let sinks = (processed.sink(), quarantine.sink());
    let read = read_partitions(context, source_id, &files, &decided, &mut report, &sinks, progress).await;
    drop(sinks);
    let mut partition_states = match read {
        Ok(partition_states) => partition_states,
        Err(error) => return Err(processed.abandon(quarantine.abandon(error).await).await),
    };
    // The processed rows first, the unique index last: a build killed between the commits
    // re-ingests these partitions (their fingerprints are saved after all three), replacing the
    // rows again, and decides `unique(...)` against the state, never against a newer index.
    if let Err(error) = processed.finish(Ok(())).await {
        return Err(quarantine.abandon(error).await);
    }
    quarantine.finish(Ok(())).await?;
    write_index(context, store, source_id, &decided, &partitions).await?;
    for partition in changed {
        match partition_states.remove(partition) {
            Some(mut partition_state) => {
                partition_state.inputs = input_fingerprint(&files, partition, &rules);
                partition_state.unique = decided.verdicts.digest(partition);
                partition_state.fingerprint =
                    short_digest(&format!("{}:{}", partition_state.inputs, partition_state.unique));
                state.partitions.insert(partition.clone(), partition_state);
            }
            None => {
                state.partitions.remove(partition);
            }
        }
    }
    Ok(report)
}

/// Replaces the `unique(...)` index rows of the written partitions (nothing without a `unique`).
async fn write_index(
    context: &BuildContext<'_>,
    store: &OfflineStore,
    source_id: SourceId,
    decided: &Decided,
    partitions: &[String],
) -> Result<(), BatchError> {
    if UniqueChecks::new(context.plan, source_id).is_empty() {
        return Ok(());
    }
    let source = &context.plan.sources[source_id];
    let index = store
        .unique_index(&source.name)
        .writer(
            unique::index_schema(),
            Replace::Dates(partitions),
            context.run,
            store.write_buffer(),
        )
        .await?;
    let sent = index
        .sink()
        .send(decided.occurrences.index_batch(&decided.changed)?)
        .await;
    index.finish(sent).await?;
    Ok(())
}

/// Reads and validates every row of the partitions to write, in partition, file and row order,
/// applying the `unique(...)` verdicts, sending accepted rows to `sinks.0` and rejected ones to
/// `sinks.1`; the counts go to `report`, and each partition's to the returned states.
async fn read_partitions(
    context: &BuildContext<'_>,
    source_id: SourceId,
    files: &SourceFiles,
    decided: &Decided,
    report: &mut SourceReport,
    (processed, quarantine): &(Sink, Sink),
    progress: &dyn Progress,
) -> Result<BTreeMap<String, PartitionState>, BatchError> {
    let plan = context.plan;
    let source = &plan.sources[source_id];
    let rules = RowRules::for_source(plan, source_id);
    let mut first_rejection: Option<Rejection> = None;
    let mut warned: BTreeSet<String> = BTreeSet::new();
    let mut partition_states: BTreeMap<String, PartitionState> = BTreeMap::new();
    let total_files: usize = decided
        .changed
        .iter()
        .filter_map(|partition| files.partitions.get(partition))
        .map(Vec::len)
        .sum();
    progress.start(&format!("ingest {}", source.name), total_files as u64);
    for partition in decided
        .changed
        .iter()
        .filter(|partition| files.partitions.contains_key(*partition))
    {
        let mut partition_state = PartitionState::default();
        for (file, raw_batches) in partition_inputs(context, source_id, files, partition).await? {
            report.files_read += 1;
            check_columns(plan, source_id, &raw_batches, &file, &mut warned, &mut report.warnings)?;
            for raw in &raw_batches {
                report.rows_read += raw.num_rows() as u64;
                let Validated {
                    accepted: mut batch,
                    rejected: mut rejections,
                    skipped,
                } = validate_batch(&rules, raw, &file, partition)?;
                rejections.extend(decided.verdicts.apply(partition, &mut batch)?);
                add_skipped(&mut partition_state.rows_skipped, &skipped);
                add_skipped(&mut report.rows_skipped, &skipped);
                partition_state.rows_accepted += batch.num_rows() as u64;
                partition_state.rows_quarantined += rejections.len() as u64;
                report.rows_accepted += batch.num_rows() as u64;
                report.rows_quarantined += rejections.len() as u64;
                extend_event_range(&mut partition_state.events, &batch, source.timestamp);
                processed.send(batch).await?;
                if !rejections.is_empty() {
                    quarantine.send(rejection_batch(partition, &rejections)?).await?;
                }
                if first_rejection.is_none() {
                    first_rejection = rejections.into_iter().next();
                }
            }
            progress.advance(1);
        }
        partition_states.insert(partition.clone(), partition_state);
    }
    progress.finish();
    if source.bad_rows == BadRows::Fail
        && let Some(first) = first_rejection
    {
        return Err(BatchError::BadRows {
            source_name: source.name.clone(),
            count: report.rows_quarantined as usize,
            first: format!("{} row {}: {}", first.file, first.row, first.reason),
        });
    }
    Ok(partition_states)
}

/// File-level schema-on-read rules: a declared non-nullable or contract-required column missing
/// from the file fails the run; unexpected columns follow the source's `unknown_columns`.
fn check_columns(
    plan: &Plan,
    source_id: SourceId,
    batches: &[RecordBatch],
    file: &str,
    warned: &mut BTreeSet<String>,
    warnings: &mut Vec<String>,
) -> Result<(), BatchError> {
    let source = &plan.sources[source_id];
    let Some(first) = batches.first() else { return Ok(()) };
    let schema = first.schema();
    let required = plan.required_columns(source_id);
    for (index, column) in source.columns.iter().enumerate() {
        if schema.field_with_name(&column.name).is_ok() {
            continue;
        }
        if !column.ty.nullable || required.contains(&(index as ColumnIndex)) {
            return Err(BatchError::Input {
                source_name: source.name.clone(),
                file: file.to_string(),
                problem: InputProblem::MissingColumn {
                    column: column.name.clone(),
                },
            });
        }
        if warned.insert(format!("missing:{}", column.name)) {
            warnings.push(format!(
                "{file}: nullable column `{}` is missing; read as null",
                column.name
            ));
        }
    }
    for field in schema.fields() {
        let name = field.name();
        if name == ROW_COLUMN || source.column_index(name).is_some() {
            continue;
        }
        match source.unknown_columns {
            UnknownColumns::Ignore => {}
            UnknownColumns::Warn => {
                if warned.insert(format!("unknown:{name}")) {
                    warnings.push(format!(
                        "{file}: unexpected column `{name}` is not in the schema of `{}`; ignored",
                        source.name
                    ));
                }
            }
            UnknownColumns::Error => {
                return Err(BatchError::Input {
                    source_name: source.name.clone(),
                    file: file.to_string(),
                    problem: InputProblem::UnexpectedColumn { column: name.clone() },
                });
            }
        }
    }
    Ok(())
}

fn extend_event_range(range: &mut Option<(i64, i64)>, batch: &RecordBatch, timestamp: Option<ColumnIndex>) {
    let Some(timestamp) = timestamp else { return };
    let Some(values) = batch
        .column(timestamp as usize)
        .as_any()
        .downcast_ref::<TimestampMicrosecondArray>()
    else {
        return;
    };
    for value in values.iter().flatten() {
        *range = Some(match *range {
            Some((low, high)) => (low.min(value), high.max(value)),
            None => (value, value),
        });
    }
}

/// `unique(col)` over `batches` alone (a sample, as `check --data` reads), by the rule of
/// [`unique`]; each rejection with its row's `dt`.
pub fn reject_duplicates(
    plan: &Plan,
    source_id: SourceId,
    batches: &mut [RecordBatch],
) -> Result<Vec<(String, Rejection)>, BatchError> {
    let checks = UniqueChecks::new(plan, source_id);
    let partition_of = |batch: &RecordBatch| {
        batch
            .column_by_name(DATE_PARTITION)
            .and_then(|array| array.as_any().downcast_ref::<StringArray>())
            .filter(|array| !array.is_empty() && array.is_valid(0))
            .map(|array| array.value(0).to_string())
            .unwrap_or_default()
    };
    let mut occurrences = Occurrences::default();
    for batch in batches.iter() {
        checks.collect(batch, &partition_of(batch), &mut occurrences)?;
    }
    let verdicts = checks.resolve(&occurrences);
    let mut rejected = Vec::new();
    for batch in batches.iter_mut() {
        let partition = partition_of(batch);
        let found = verdicts.apply(&partition, batch)?;
        rejected.extend(found.into_iter().map(|rejection| (partition.clone(), rejection)));
    }
    Ok(rejected)
}

/// A Delta source is read through its current snapshot (never its raw files, which include
/// removed ones); rows are numbered in scan order.
async fn read_delta(source: &str, location: &std::path::Path) -> Result<Vec<RecordBatch>, BatchError> {
    let table = crate::store::TableLocation {
        name: source.to_string(),
        path: location.to_path_buf(),
    };
    let provider = table.provider().await?;
    let context = datafusion::prelude::SessionContext::new();
    let batches = context.read_table(provider)?.collect().await?;
    Ok(read::number_rows(batches)?)
}
