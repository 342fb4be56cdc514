//! Ingestion of one source into the processed zone: list the input partitions, re-read only those
//! whose files changed, validate every row (schema-on-read), and replace the changed partitions of
//! `processed/<source>` and `quarantine/<source>` in one commit each.

pub mod list;
pub mod read;
pub mod validate;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, BooleanArray, RecordBatch, StringArray, TimestampMicrosecondArray, UInt64Array,
};
use datafusion::arrow::compute::filter_record_batch;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use mlsys_compiler::plan::{BadRows, ColumnIndex, Expectation, Plan, SourceId, UnknownColumns};

use crate::error::BatchError;
use crate::ingest::list::{SourceFiles, list_source};
use crate::ingest::read::{ROW_COLUMN, read_file};
use crate::ingest::validate::{Rejection, RowRules, validate_batch};
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

/// The partitions to (re)ingest: changed or new fingerprints, vanished partitions, or all of them
/// on a full refresh; limited to `--from/--to` when given.
fn partitions_to_ingest(context: &BuildContext<'_>, files: &SourceFiles, previous: &SourceState) -> BTreeSet<String> {
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
                    .is_none_or(|state| state.fingerprint != files.fingerprint(partition))
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
    let changed = partitions_to_ingest(context, &files, state);
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
    let read = read_partitions(context, source_id, &files, &changed, &mut report, &sinks, progress).await;
    drop(sinks);
    let mut partition_states = match read {
        Ok(partition_states) => partition_states,
        Err(error) => return Err(processed.abandon(quarantine.abandon(error).await).await),
    };
    // The processed rows first: a build killed between the two commits re-ingests these
    // partitions (their fingerprints are saved after both), replacing both tables' rows again.
    if let Err(error) = processed.finish(Ok(())).await {
        return Err(quarantine.abandon(error).await);
    }
    quarantine.finish(Ok(())).await?;
    for partition in &changed {
        match partition_states.remove(partition) {
            Some(partition_state) => {
                state.partitions.insert(partition.clone(), partition_state);
            }
            None => {
                state.partitions.remove(partition);
            }
        }
    }
    Ok(report)
}

/// Reads, validates and checks the uniqueness of every row of the partitions `changed`, in
/// partition, file and row order, sending accepted rows to `sinks.0` and rejected ones to
/// `sinks.1`; the counts go to `report`, and each partition's to the returned states.
async fn read_partitions(
    context: &BuildContext<'_>,
    source_id: SourceId,
    files: &SourceFiles,
    changed: &BTreeSet<String>,
    report: &mut SourceReport,
    (processed, quarantine): &(Sink, Sink),
    progress: &dyn Progress,
) -> Result<BTreeMap<String, PartitionState>, BatchError> {
    let plan = context.plan;
    let source = &plan.sources[source_id];
    let rules = RowRules::for_source(plan, source_id);
    let mut unique = Uniqueness::new(plan, source_id);
    let mut first_rejection: Option<Rejection> = None;
    let mut warned: BTreeSet<String> = BTreeSet::new();
    let mut partition_states: BTreeMap<String, PartitionState> = BTreeMap::new();
    let total_files: usize = changed
        .iter()
        .filter_map(|partition| files.partitions.get(partition))
        .map(Vec::len)
        .sum();
    progress.start(&format!("ingest {}", source.name), total_files as u64);
    for partition in changed {
        let mut partition_state = PartitionState {
            fingerprint: files.fingerprint(partition),
            ..PartitionState::default()
        };
        let inputs: Vec<(String, Vec<RecordBatch>)> = if source.format == mlsys_compiler::plan::Format::Delta {
            let location = list::resolve_location(context.project, &source.location)?;
            vec![(source.location.clone(), read_delta(&source.name, &location).await?)]
        } else {
            let mut inputs = Vec::new();
            for file in files.partitions.get(partition).into_iter().flatten() {
                inputs.push((file.display.clone(), read_file(&source.name, source.format, file)?));
            }
            inputs
        };
        for (display, raw_batches) in inputs {
            let file = &display;
            report.files_read += 1;
            check_columns(plan, source_id, &raw_batches, file, &mut warned, &mut report.warnings)?;
            for raw in &raw_batches {
                report.rows_read += raw.num_rows() as u64;
                let (mut batch, mut rejections) = validate_batch(&rules, raw, file, partition)?;
                rejections.extend(unique.check(&mut batch)?);
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
                message: format!("required column `{}` is missing", column.name),
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
                    message: format!("unexpected column `{name}` (unknown_columns = error)"),
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

/// `unique(col)` over the rows of one ingestion: the first occurrence (in partition, file and row
/// order) is kept, later ones are rejected. Holds each distinct value once, with where it was
/// first seen (the file as an index into the files seen).
pub struct Uniqueness {
    checks: Vec<UniqueCheck>,
    files: Vec<String>,
    file_ids: HashMap<String, u32>,
}

struct UniqueCheck {
    column: ColumnIndex,
    name: String,
    contract: String,
    seen: HashMap<Box<str>, (u32, u64)>,
}

impl Uniqueness {
    pub fn new(plan: &Plan, source_id: SourceId) -> Uniqueness {
        let source = &plan.sources[source_id];
        let mut checks = Vec::new();
        for contract in plan.contracts.values().filter(|contract| contract.source == source_id) {
            for expectation in &contract.expectations {
                if let Expectation::Unique { column } = expectation {
                    checks.push(UniqueCheck {
                        column: *column,
                        name: source.columns[*column as usize].name.clone(),
                        contract: contract.name.clone(),
                        seen: HashMap::new(),
                    });
                }
            }
        }
        Uniqueness {
            checks,
            files: Vec::new(),
            file_ids: HashMap::new(),
        }
    }

    fn file_id(&mut self, file: &str) -> u32 {
        if let Some(id) = self.file_ids.get(file) {
            return *id;
        }
        let id = self.files.len() as u32;
        self.files.push(file.to_string());
        self.file_ids.insert(file.to_string(), id);
        id
    }

    /// Rejects the rows of a validated `batch` whose value was seen before, removing them.
    pub fn check(&mut self, batch: &mut RecordBatch) -> Result<Vec<Rejection>, BatchError> {
        let mut rejected = Vec::new();
        for index in 0..self.checks.len() {
            let column = self.checks[index].column;
            let values = batch.column(column as usize).clone();
            let formatter = datafusion::arrow::util::display::ArrayFormatter::try_new(
                values.as_ref(),
                &datafusion::arrow::util::display::FormatOptions::default(),
            )?;
            let files = batch
                .column_by_name(validate::FILE_COLUMN)
                .and_then(|array| array.as_any().downcast_ref::<StringArray>().cloned());
            let rows = batch
                .column_by_name(ROW_COLUMN)
                .and_then(|array| array.as_any().downcast_ref::<UInt64Array>().cloned());
            let (Some(files), Some(rows)) = (files, rows) else {
                continue;
            };
            let mut keep = Vec::with_capacity(batch.num_rows());
            for row in 0..batch.num_rows() {
                if values.is_null(row) {
                    keep.push(true);
                    continue;
                }
                let key = formatter.value(row).to_string();
                let file = self.file_id(files.value(row));
                let check = &mut self.checks[index];
                match check.seen.get(key.as_str()) {
                    Some((first_file, first_row)) => {
                        keep.push(false);
                        rejected.push(Rejection {
                            file: files.value(row).to_string(),
                            row: rows.value(row),
                            kind: validate::RejectionKind::Unique {
                                column,
                                contract: check.contract.clone(),
                            },
                            reason: format!(
                                "violates `unique({})` of contract `{}`: `{key}` first seen in {} row {first_row}",
                                check.name, check.contract, self.files[*first_file as usize]
                            ),
                            record: format!("{}={key}", check.name),
                        });
                    }
                    None => {
                        check.seen.insert(key.into_boxed_str(), (file, rows.value(row)));
                        keep.push(true);
                    }
                }
            }
            if keep.iter().any(|keep| !keep) {
                *batch = filter_record_batch(batch, &BooleanArray::from(keep))?;
            }
        }
        Ok(rejected)
    }
}

/// `unique(col)` over `batches` in order ([`Uniqueness`]), each rejection with its row's `dt`.
pub fn reject_duplicates(
    plan: &Plan,
    source_id: SourceId,
    batches: &mut [RecordBatch],
) -> Result<Vec<(String, Rejection)>, BatchError> {
    let mut unique = Uniqueness::new(plan, source_id);
    let mut rejected = Vec::new();
    for batch in batches.iter_mut() {
        let partition = batch
            .column_by_name(DATE_PARTITION)
            .and_then(|array| array.as_any().downcast_ref::<StringArray>())
            .filter(|array| !array.is_empty() && array.is_valid(0))
            .map(|array| array.value(0).to_string())
            .unwrap_or_default();
        rejected.extend(
            unique
                .check(batch)?
                .into_iter()
                .map(|rejection| (partition.clone(), rejection)),
        );
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
