//! Schema-on-read validation of one batch: declared columns are cast to their types, and every row
//! that fails a cast, a non-null type, a contract `not_null` or `expect` is set aside with the
//! reason. Nothing is dropped silently: a row is either accepted or rejected with a reason.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, BooleanArray, RecordBatch, StringArray, UInt64Array, new_null_array};
use datafusion::arrow::compute::{CastOptions, cast_with_options, filter_record_batch};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use mlsys_compiler::plan::print::expr_infix;
use mlsys_compiler::plan::{ColumnIndex, Expectation, Plan, Source, SourceId};

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
    /// The event-time column is null.
    NoEventTime,
    /// A contract `not_null(col)`.
    NotNull { column: ColumnIndex, contract: String },
    /// A contract `expect` that is false or null.
    Expect {
        expr: mlsys_compiler::plan::ExprId,
        contract: String,
    },
    /// A contract `unique(col)` seen again.
    Unique { column: ColumnIndex, contract: String },
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
) -> Result<(RecordBatch, Vec<Rejection>), BatchError> {
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
        let cast = cast_with_options(raw_column, &target, &options)?;
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
    if let Some(timestamp) = source.timestamp {
        let events = &typed[timestamp as usize];
        for (row, reason) in reasons.iter_mut().enumerate() {
            if reason.is_none() && events.is_null(row) {
                *reason = Some((
                    RejectionKind::NoEventTime,
                    "no event time: the timestamp column is null".to_string(),
                ));
            }
        }
    }
    for (column, contract) in &rules.not_null {
        let values = &typed[*column as usize];
        for (row, reason) in reasons.iter_mut().enumerate() {
            if reason.is_none() && values.is_null(row) {
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
            if reason.is_some() {
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
            let value = evaluate(rules.plan, *expr, &(column_value, no_feature))
                .map_err(|error| BatchError::Invalid(format!("evaluating a contract expectation: {error}")))?;
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
    let keep = BooleanArray::from(reasons.iter().map(Option::is_none).collect::<Vec<bool>>());
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
    Ok((accepted, rejected))
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
