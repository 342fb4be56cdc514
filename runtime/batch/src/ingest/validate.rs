//! Schema-on-read validation of one batch: declared columns are cast to their types, and every row
//! that fails a cast, a non-null type, a contract `not_null` or `expect` is set aside with the
//! reason. Nothing is dropped silently: a row is either accepted or rejected with a reason.

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, BooleanArray, RecordBatch, StringArray, TimestampMicrosecondArray, UInt64Array, new_null_array,
};
use datafusion::arrow::compute::{CastOptions, cast_with_options, filter_record_batch};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use mlsys_compiler::plan::print::expr_infix;
use mlsys_compiler::plan::{ColumnIndex, Expectation, Plan, Source, SourceId};
use mlsys_compiler::syntax::literal::{format_date, parse_date};
use mlsys_kernels::time::date_of;
use serde::{Deserialize, Serialize};

use mlsys_kernels::interpret::evaluate;
use mlsys_kernels::value::Value;

use crate::convert::{arrow_type, value_at};
use crate::error::BatchError;
use crate::ingest::read::ROW_COLUMN;

/// The lineage columns every processed row carries.
pub const FILE_COLUMN: &str = "_file";

/// Why a row was set aside, as data (the reason text says it for people).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RejectionKind {
    /// A value that does not read as the column's declared type.
    Cast { column: ColumnIndex },
    /// Null in a non-nullable column (or a declared column missing from the file).
    Null { column: ColumnIndex },
    /// The event time lies outside [`EVENT_TIME_START`, `EVENT_TIME_END`).
    EventTimeOutOfRange,
    /// The event time is not in the day of the row's `dt=` partition.
    OutsidePartition,
    /// A contract `not_null(col)`.
    NotNull { column: ColumnIndex, contract: String },
    /// A contract `expect` that is false or null.
    Expect {
        expr: mlsys_compiler::plan::ExprId,
        contract: String,
    },
    /// A contract `unique(col)` seen again (`check`: the source's `unique` expectations, numbered
    /// in contract order).
    Unique {
        check: u32,
        column: ColumnIndex,
        contract: String,
    },
}

/// Why a row that is not bad data was left out of the processed zone (it is counted, not
/// quarantined).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    /// The event-time column is nullable and null: the row has no time to be placed at.
    NoEventTime,
}

impl SkipReason {
    pub fn describe(self) -> &'static str {
        match self {
            SkipReason::NoEventTime => "no event time",
        }
    }
}

/// Skipped rows, counted per reason.
pub type Skipped = BTreeMap<SkipReason, u64>;

/// Adds the counts of `more` to `counts`.
pub fn add_skipped(counts: &mut Skipped, more: &Skipped) {
    for (reason, count) in more {
        *counts.entry(*reason).or_default() += count;
    }
}

/// The first event time a row may have: 1970-01-01T00:00:00Z. With [`EVENT_TIME_END`] it bounds the
/// days any row can reach, so no single row can make a build's work grow without bound.
pub const EVENT_TIME_START: i64 = 0;
/// The end (exclusive) of event times: 2262-04-11T00:00:00Z, within what nanosecond timestamps
/// (the widest common interchange) can hold.
pub const EVENT_TIME_END: i64 = 106_751 * mlsys_kernels::time::MICROS_PER_DAY;

/// One validated batch: the accepted rows (processed schema), the rejected ones, the skipped counts.
pub struct Validated {
    pub accepted: RecordBatch,
    pub rejected: Vec<Rejection>,
    pub skipped: Skipped,
}

/// A row set aside, with why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    pub file: String,
    pub row: u64,
    pub kind: RejectionKind,
    pub reason: String,
    /// The row as read, `column=value` pairs.
    pub record: String,
}

/// What a source's contracts require of each row.
pub struct RowRules<'a> {
    pub plan: &'a Plan,
    pub source_id: SourceId,
    /// `not_null(col)` columns, with the contract that demands it.
    pub not_null: Vec<(ColumnIndex, String)>,
    /// `expect` expressions, with the contract that demands each.
    pub expectations: Vec<(mlsys_compiler::plan::ExprId, String)>,
}

impl<'a> RowRules<'a> {
    pub fn for_source(plan: &'a Plan, source_id: SourceId) -> Self {
        let mut rules = RowRules {
            plan,
            source_id,
            not_null: Vec::new(),
            expectations: Vec::new(),
        };
        for contract in plan.contracts.values().filter(|contract| contract.source == source_id) {
            for expectation in &contract.expectations {
                match expectation {
                    Expectation::NotNull { column } => rules.not_null.push((*column, contract.name.clone())),
                    Expectation::Holds { expr } => rules.expectations.push((*expr, contract.name.clone())),
                    Expectation::Unique { .. } => {}
                }
            }
        }
        rules
    }

    fn source(&self) -> &Source {
        &self.plan.sources[self.source_id]
    }
}

/// The schema of processed rows: declared columns with their types, then `_file`, `_row`, `dt`.
pub fn processed_schema(source: &Source) -> SchemaRef {
    let mut fields: Vec<Field> = source
        .columns
        .iter()
        .map(|column| Field::new(&column.name, arrow_type(column.ty.base), column.ty.nullable))
        .collect();
    fields.push(Field::new(FILE_COLUMN, DataType::Utf8, false));
    fields.push(Field::new(ROW_COLUMN, DataType::UInt64, false));
    fields.push(Field::new(crate::store::DATE_PARTITION, DataType::Utf8, false));
    Arc::new(Schema::new(fields))
}

/// Validates one raw batch of `file`. Declared columns missing from the file must have been
/// handled by the caller (a nullable one is filled with nulls here).
pub fn validate_batch(
    rules: &RowRules<'_>,
    raw: &RecordBatch,
    file: &str,
    partition: &str,
) -> Result<Validated, BatchError> {
    let source = rules.source();
    let rows = raw.num_rows();
    let options = CastOptions {
        safe: true,
        format_options: FormatOptions::default(),
    };
    let mut reasons: Vec<Option<(RejectionKind, String)>> = vec![None; rows];
    let mut typed: Vec<ArrayRef> = Vec::with_capacity(source.columns.len() + 3);
    for (index, column) in source.columns.iter().enumerate() {
        let index = index as ColumnIndex;
        let target = arrow_type(column.ty.base);
        let Some(raw_column) = raw.column_by_name(&column.name) else {
            typed.push(new_null_array(&target, rows));
            if !column.ty.nullable {
                for reason in reasons.iter_mut().filter(|reason| reason.is_none()) {
                    *reason = Some((
                        RejectionKind::Null { column: index },
                        format!("column `{}` is missing and may not be null", column.name),
                    ));
                }
            }
            continue;
        };
        let cast = read_as(raw_column, &target, &options)?;
        for (row, reason) in reasons.iter_mut().enumerate() {
            if reason.is_some() || !cast.is_null(row) {
                continue;
            }
            if raw_column.is_valid(row) {
                let text = ArrayFormatter::try_new(raw_column.as_ref(), &FormatOptions::default())
                    .map(|formatter| formatter.value(row).to_string())
                    .unwrap_or_default();
                *reason = Some((
                    RejectionKind::Cast { column: index },
                    format!(
                        "column `{}`: cannot read `{text}` as {}",
                        column.name,
                        column.ty.base.name()
                    ),
                ));
            } else if !column.ty.nullable {
                *reason = Some((
                    RejectionKind::Null { column: index },
                    format!("column `{}`: null in a non-nullable column", column.name),
                ));
            }
        }
        typed.push(cast);
    }
    let mut skip = vec![false; rows];
    if let Some(timestamp) = source.timestamp {
        check_event_times(&typed[timestamp as usize], partition, &mut reasons, &mut skip)?;
    }
    check_contracts(rules, &typed, &mut reasons, &skip)?;
    typed.push(Arc::new(StringArray::from(vec![file; rows])));
    let row_numbers = raw
        .column_by_name(ROW_COLUMN)
        .cloned()
        .unwrap_or_else(|| Arc::new(UInt64Array::from_iter_values(1..=rows as u64)));
    typed.push(row_numbers.clone());
    typed.push(Arc::new(StringArray::from(vec![partition; rows])));
    // Before filtering, rejected rows may hold nulls in non-nullable columns.
    let schema = processed_schema(source);
    let lenient = Arc::new(Schema::new(
        schema
            .fields()
            .iter()
            .map(|field| field.as_ref().clone().with_nullable(true))
            .collect::<Vec<_>>(),
    ));
    let batch = RecordBatch::try_new(lenient, typed)?;
    let keep = BooleanArray::from(
        reasons
            .iter()
            .zip(&skip)
            .map(|(reason, skip)| reason.is_none() && !skip)
            .collect::<Vec<bool>>(),
    );
    let mut skipped = Skipped::new();
    let without_time = skip.iter().filter(|skip| **skip).count();
    if without_time > 0 {
        skipped.insert(SkipReason::NoEventTime, without_time as u64);
    }
    let accepted = RecordBatch::try_new(schema, filter_record_batch(&batch, &keep)?.columns().to_vec())?;
    let numbers = row_numbers.as_any().downcast_ref::<UInt64Array>();
    let rejected = reasons
        .into_iter()
        .enumerate()
        .filter_map(|(row, reason)| {
            reason.map(|(kind, reason)| Rejection {
                file: file.to_string(),
                row: numbers.map_or(row as u64 + 1, |numbers| numbers.value(row)),
                kind,
                reason,
                record: record_text(raw, row),
            })
        })
        .collect();
    Ok(Validated {
        accepted,
        rejected,
        skipped,
    })
}

/// A source's contract rules (`not_null`, `expect`) over the typed columns of a batch, for the rows
/// neither rejected nor skipped yet.
fn check_contracts(
    rules: &RowRules<'_>,
    typed: &[ArrayRef],
    reasons: &mut [Option<(RejectionKind, String)>],
    skip: &[bool],
) -> Result<(), BatchError> {
    let source = rules.source();
    for (column, contract) in &rules.not_null {
        let values = &typed[*column as usize];
        for (row, reason) in reasons.iter_mut().enumerate() {
            if reason.is_none() && !skip[row] && values.is_null(row) {
                let name = &source.columns[*column as usize].name;
                *reason = Some((
                    RejectionKind::NotNull {
                        column: *column,
                        contract: contract.clone(),
                    },
                    format!("violates `not_null({name})` of contract `{contract}`"),
                ));
            }
        }
    }
    for (expr, contract) in &rules.expectations {
        for (row, reason) in reasons.iter_mut().enumerate() {
            if reason.is_some() || skip[row] {
                continue;
            }
            let column_value = |source_id: SourceId, column: ColumnIndex| {
                if source_id != rules.source_id {
                    return Value::Null;
                }
                let ty = source.columns[column as usize].ty.base;
                value_at(&typed[column as usize], row, ty)
            };
            let no_feature = |_| Value::Null;
            let value = evaluate(rules.plan, *expr, &(column_value, no_feature)).map_err(BatchError::Expectation)?;
            if value != Value::Bool(true) {
                let text = expr_infix(rules.plan, *expr);
                let outcome = if value.is_null() { "is null" } else { "is false" };
                *reason = Some((
                    RejectionKind::Expect {
                        expr: *expr,
                        contract: contract.clone(),
                    },
                    format!("`expect {text}` of contract `{contract}` {outcome}"),
                ));
            }
        }
    }
    Ok(())
}

/// Event-time rules: a null event time skips the row; one outside [`EVENT_TIME_START`,
/// `EVENT_TIME_END`) or, in a `dt=` partition, outside that day is rejected.
fn check_event_times(
    events: &ArrayRef,
    partition: &str,
    reasons: &mut [Option<(RejectionKind, String)>],
    skip: &mut [bool],
) -> Result<(), BatchError> {
    let events = events
        .as_any()
        .downcast_ref::<TimestampMicrosecondArray>()
        .ok_or(BatchError::Internal("the event-time column is not a timestamp"))?;
    let day = parse_date(partition).ok();
    for (row, reason) in reasons.iter_mut().enumerate() {
        if reason.is_some() {
            continue;
        }
        let Some(event) = events.is_valid(row).then(|| events.value(row)) else {
            skip[row] = true;
            continue;
        };
        let event_day = format_date(date_of(event));
        if !(EVENT_TIME_START..EVENT_TIME_END).contains(&event) {
            *reason = Some((
                RejectionKind::EventTimeOutOfRange,
                format!(
                    "event time on {event_day} is outside [{}, {}), the range of event times",
                    format_date(date_of(EVENT_TIME_START)),
                    format_date(date_of(EVENT_TIME_END))
                ),
            ));
        } else if day.is_some_and(|day| day != date_of(event)) {
            *reason = Some((
                RejectionKind::OutsidePartition,
                format!("event time on {event_day} is outside its partition dt={partition}"),
            ));
        }
    }
    Ok(())
}

/// A raw column read as the declared type `target`. A `bool` is read from booleans and from the
/// exact texts `true` and `false` only, in every format: Arrow's cast would also take `yes`, `1`,
/// `on` or any non-zero number. Values that do not read become null (the caller rejects them).
fn read_as(raw: &ArrayRef, target: &DataType, options: &CastOptions<'_>) -> Result<ArrayRef, BatchError> {
    if *target != DataType::Boolean || *raw.data_type() == DataType::Boolean {
        return Ok(cast_with_options(raw, target, options)?);
    }
    if !matches!(
        raw.data_type(),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
    ) {
        return Ok(new_null_array(target, raw.len()));
    }
    let text = cast_with_options(raw, &DataType::Utf8, options)?;
    let text = text
        .as_any()
        .downcast_ref::<StringArray>()
        .ok_or(BatchError::Internal("a text cast did not give text"))?;
    Ok(Arc::new(
        text.iter()
            .map(|value| match value? {
                "true" => Some(true),
                "false" => Some(false),
                _ => None,
            })
            .collect::<BooleanArray>(),
    ))
}

/// `name=value, ...` of the raw columns of one row (nulls as `null`).
fn record_text(raw: &RecordBatch, row: usize) -> String {
    let schema = raw.schema();
    let mut parts = Vec::new();
    for (field, column) in schema.fields().iter().zip(raw.columns()) {
        if field.name() == ROW_COLUMN {
            continue;
        }
        let value = if column.is_null(row) {
            "null".to_string()
        } else {
            ArrayFormatter::try_new(column.as_ref(), &FormatOptions::default())
                .map(|formatter| formatter.value(row).to_string())
                .unwrap_or_default()
        };
        parts.push(format!("{}={value}", field.name()));
    }
    parts.join(", ")
}
