//! `unique(col)` across a whole source and every build, incremental or not.
//!
//! The rule (lang-spec, `expect unique(COL)`): of the rows that pass every other rule and share a
//! non-null value of `COL`, the first in (event time, partition, file, row) order is kept and every
//! later one is rejected, its reason naming the first. Whether a row is first depends on every
//! partition, so ingestion keeps each value's occurrences in an index table
//! (`unique/<source>`, by `dt`): an incremental build reads its changed partitions' occurrences,
//! takes the others' from the index, decides every row again ([`Verdicts`]), and re-ingests each
//! unchanged partition whose verdicts differ from those it was written with ([`Verdicts::digest`]
//! against the build state). So an incremental build writes exactly the rows a clean build would.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, BooleanArray, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray, UInt32Array,
    UInt64Array,
};
use datafusion::arrow::compute::filter_record_batch;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use mlsys_compiler::plan::{ColumnIndex, Expectation, Plan, SourceId};
use sha2::{Digest, Sha256};

use crate::error::BatchError;
use crate::ingest::list::short_hex;
use crate::ingest::read::ROW_COLUMN;
use crate::ingest::validate::{FILE_COLUMN, Rejection, RejectionKind};
use crate::store::{DATE_PARTITION, TableLocation};

/// The `unique(col)` expectations of a source, in contract order.
pub struct UniqueChecks {
    checks: Vec<UniqueCheck>,
    timestamp: Option<ColumnIndex>,
}

struct UniqueCheck {
    column: ColumnIndex,
    name: String,
    contract: String,
}

/// One non-null value of a unique column, and where its row is in the order.
struct Occurrence {
    check: u32,
    value: Box<str>,
    event: Option<i64>,
    partition: u32,
    file: u32,
    row: u64,
}

/// The occurrences of unique values in a set of partitions (partition and file names interned).
#[derive(Default)]
pub struct Occurrences {
    items: Vec<Occurrence>,
    names: Vec<Arc<str>>,
    ids: HashMap<Arc<str>, u32>,
}

/// Every row `unique(...)` rejects, per partition, keyed by (file, row).
#[derive(Default)]
pub struct Verdicts {
    rejected: BTreeMap<String, BTreeMap<(String, u64), Rejection>>,
}

/// The schema of a unique index table: one row per occurrence.
pub fn index_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("check", DataType::UInt32, false),
        Field::new("value", DataType::Utf8, false),
        Field::new("event", DataType::Int64, true),
        Field::new("file", DataType::Utf8, false),
        Field::new("row", DataType::UInt64, false),
        Field::new(DATE_PARTITION, DataType::Utf8, false),
    ]))
}

impl UniqueChecks {
    pub fn new(plan: &Plan, source_id: SourceId) -> UniqueChecks {
        let source = &plan.sources[source_id];
        let mut checks = Vec::new();
        for contract in plan.contracts.values().filter(|contract| contract.source == source_id) {
            for expectation in &contract.expectations {
                if let Expectation::Unique { column } = expectation {
                    checks.push(UniqueCheck {
                        column: *column,
                        name: source.columns[*column as usize].name.clone(),
                        contract: contract.name.clone(),
                    });
                }
            }
        }
        UniqueChecks {
            checks,
            timestamp: source.timestamp,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.checks.is_empty()
    }

    /// Adds the occurrences of the accepted rows of one validated `batch` of `partition`.
    pub fn collect(&self, batch: &RecordBatch, partition: &str, into: &mut Occurrences) -> Result<(), BatchError> {
        let (files, rows) = lineage(batch)?;
        let events = self.timestamp.and_then(|column| {
            batch
                .column(column as usize)
                .as_any()
                .downcast_ref::<TimestampMicrosecondArray>()
                .cloned()
        });
        let partition = into.intern(partition);
        for (check, unique) in self.checks.iter().enumerate() {
            let values = batch.column(unique.column as usize);
            let formatter = ArrayFormatter::try_new(values.as_ref(), &FormatOptions::default())?;
            for row in (0..batch.num_rows()).filter(|row| values.is_valid(*row)) {
                let file = into.intern(files.value(row));
                into.items.push(Occurrence {
                    check: check as u32,
                    value: formatter.value(row).to_string().into_boxed_str(),
                    event: events
                        .as_ref()
                        .filter(|events| events.is_valid(row))
                        .map(|events| events.value(row)),
                    partition,
                    file,
                    row: rows.value(row),
                });
            }
        }
        Ok(())
    }

    /// Decides every occurrence: the first of each value is kept, the later ones rejected.
    pub fn resolve(&self, occurrences: &Occurrences) -> Verdicts {
        let mut first: HashMap<(u32, &str), usize> = HashMap::new();
        for (index, item) in occurrences.items.iter().enumerate() {
            let slot = first.entry((item.check, &item.value)).or_insert(index);
            if occurrences.order(item, &occurrences.items[*slot]) == Ordering::Less {
                *slot = index;
            }
        }
        let mut verdicts = Verdicts::default();
        for (index, item) in occurrences.items.iter().enumerate() {
            let kept = first[&(item.check, &*item.value)];
            if kept == index {
                continue;
            }
            let rejection = self.rejection(occurrences, item, &occurrences.items[kept]);
            let partition = occurrences.name(item.partition).to_string();
            let key = (rejection.file.clone(), rejection.row);
            let rows = verdicts.rejected.entry(partition).or_default();
            // A row breaking several `unique(...)` is rejected once, for the first of them.
            if rows.get(&key).is_none_or(|other| Self::check_of(other) > item.check) {
                rows.insert(key, rejection);
            }
        }
        verdicts
    }

    fn check_of(rejection: &Rejection) -> u32 {
        match rejection.kind {
            RejectionKind::Unique { check, .. } => check,
            _ => u32::MAX,
        }
    }

    fn rejection(&self, occurrences: &Occurrences, item: &Occurrence, first: &Occurrence) -> Rejection {
        let check = &self.checks[item.check as usize];
        Rejection {
            file: occurrences.name(item.file).to_string(),
            row: item.row,
            kind: RejectionKind::Unique {
                check: item.check,
                column: check.column,
                contract: check.contract.clone(),
            },
            reason: format!(
                "violates `unique({})` of contract `{}`: `{}` first seen in {} row {}",
                check.name,
                check.contract,
                item.value,
                occurrences.name(first.file),
                first.row
            ),
            record: format!("{}={}", check.name, item.value),
        }
    }
}

/// The `_file` and `_row` columns of a validated batch.
fn lineage(batch: &RecordBatch) -> Result<(&StringArray, &UInt64Array), BatchError> {
    let files = batch
        .column_by_name(FILE_COLUMN)
        .and_then(|array| array.as_any().downcast_ref::<StringArray>());
    let rows = batch
        .column_by_name(ROW_COLUMN)
        .and_then(|array| array.as_any().downcast_ref::<UInt64Array>());
    files.zip(rows).ok_or(BatchError::Internal(
        "a validated batch lacks its `_file` or `_row` column",
    ))
}

impl Occurrences {
    fn intern(&mut self, name: &str) -> u32 {
        if let Some(id) = self.ids.get(name) {
            return *id;
        }
        let id = self.names.len() as u32;
        let name: Arc<str> = Arc::from(name);
        self.names.push(name.clone());
        self.ids.insert(name, id);
        id
    }

    fn name(&self, id: u32) -> &str {
        &self.names[id as usize]
    }

    /// The rule's order: event time (none first), partition, file, row.
    fn order(&self, a: &Occurrence, b: &Occurrence) -> Ordering {
        a.event
            .cmp(&b.event)
            .then_with(|| self.name(a.partition).cmp(self.name(b.partition)))
            .then_with(|| self.name(a.file).cmp(self.name(b.file)))
            .then_with(|| a.row.cmp(&b.row))
    }

    /// Adds the occurrences the index table holds for the partitions outside `skip`.
    pub async fn load(&mut self, index: &TableLocation, skip: &BTreeSet<String>) -> Result<(), BatchError> {
        if !index.exists() {
            return Ok(());
        }
        let provider = index.provider().await?;
        let batches = datafusion::prelude::SessionContext::new()
            .read_table(provider)?
            .collect()
            .await?;
        for batch in &batches {
            self.load_batch(batch, skip)?;
        }
        Ok(())
    }

    fn load_batch(&mut self, batch: &RecordBatch, skip: &BTreeSet<String>) -> Result<(), BatchError> {
        // Delta stores unsigned integers as signed ones: every column is cast back.
        let column = |name: &str, ty: DataType| -> Result<ArrayRef, BatchError> {
            let array = batch.column_by_name(name).ok_or_else(|| BatchError::MissingColumn {
                rows: "the unique index".to_string(),
                column: name.to_string(),
            })?;
            Ok(datafusion::arrow::compute::cast(array, &ty)?)
        };
        let (checks, values, events) = (
            column("check", DataType::UInt32)?,
            column("value", DataType::Utf8)?,
            column("event", DataType::Int64)?,
        );
        let (files, rows, dates) = (
            column("file", DataType::Utf8)?,
            column("row", DataType::UInt64)?,
            column(DATE_PARTITION, DataType::Utf8)?,
        );
        let wrong = || BatchError::Internal("a unique index column does not cast to its type");
        let checks = checks.as_any().downcast_ref::<UInt32Array>().ok_or_else(wrong)?;
        let values = values.as_any().downcast_ref::<StringArray>().ok_or_else(wrong)?;
        let events = events.as_any().downcast_ref::<Int64Array>().ok_or_else(wrong)?;
        let files = files.as_any().downcast_ref::<StringArray>().ok_or_else(wrong)?;
        let rows = rows.as_any().downcast_ref::<UInt64Array>().ok_or_else(wrong)?;
        let dates = dates.as_any().downcast_ref::<StringArray>().ok_or_else(wrong)?;
        for row in 0..batch.num_rows() {
            if skip.contains(dates.value(row)) {
                continue;
            }
            let partition = self.intern(dates.value(row));
            let file = self.intern(files.value(row));
            self.items.push(Occurrence {
                check: checks.value(row),
                value: values.value(row).into(),
                event: events.is_valid(row).then(|| events.value(row)),
                partition,
                file,
                row: rows.value(row),
            });
        }
        Ok(())
    }

    /// The index rows of the occurrences in `partitions`.
    pub fn index_batch(&self, partitions: &BTreeSet<String>) -> Result<RecordBatch, BatchError> {
        let items: Vec<&Occurrence> = self
            .items
            .iter()
            .filter(|item| partitions.contains(self.name(item.partition)))
            .collect();
        let columns: Vec<ArrayRef> = vec![
            Arc::new(UInt32Array::from_iter_values(items.iter().map(|item| item.check))),
            Arc::new(StringArray::from_iter_values(items.iter().map(|item| &*item.value))),
            Arc::new(Int64Array::from_iter(items.iter().map(|item| item.event))),
            Arc::new(StringArray::from_iter_values(
                items.iter().map(|item| self.name(item.file)),
            )),
            Arc::new(UInt64Array::from_iter_values(items.iter().map(|item| item.row))),
            Arc::new(StringArray::from_iter_values(
                items.iter().map(|item| self.name(item.partition)),
            )),
        ];
        Ok(RecordBatch::try_new(index_schema(), columns)?)
    }
}

impl Verdicts {
    /// A digest of a partition's `unique` rejections (empty for none): a partition whose digest
    /// differs from the one it was written with holds other rows now.
    pub fn digest(&self, partition: &str) -> String {
        let Some(rows) = self.rejected.get(partition) else {
            return String::new();
        };
        let mut hasher = Sha256::new();
        for rejection in rows.values() {
            hasher.update(rejection.file.as_bytes());
            hasher.update(rejection.row.to_le_bytes());
            hasher.update(rejection.reason.as_bytes());
            hasher.update([0]);
        }
        short_hex(hasher)
    }

    /// Removes the rejected rows from a validated `batch` of `partition`; returns their rejections.
    pub fn apply(&self, partition: &str, batch: &mut RecordBatch) -> Result<Vec<Rejection>, BatchError> {
        let Some(rejected) = self.rejected.get(partition) else {
            return Ok(Vec::new());
        };
        let (files, rows) = lineage(batch)?;
        let mut found = Vec::new();
        let keep: BooleanArray = (0..batch.num_rows())
            .map(|row| {
                let rejection = rejected.get(&(files.value(row).to_string(), rows.value(row)));
                found.extend(rejection.cloned());
                Some(rejection.is_none())
            })
            .collect();
        if !found.is_empty() {
            *batch = filter_record_batch(batch, &keep)?;
        }
        Ok(found)
    }
}
