//! `mlsysc check --data`: reads a bounded sample of every source's live files with the same
//! schema-on-read rules as `mlsysc build`, and reports drift against the declared schema and the
//! contracts — missing or retyped columns, unexpected ones, violation rates — at the declaration
//! each finding is about. Nothing is written.

use std::collections::BTreeMap;
use std::path::Path;

use mlsys_batch::BatchError;
use mlsys_batch::ingest::list::list_source;
use mlsys_batch::ingest::read::{ROW_COLUMN, read_file};
use mlsys_batch::ingest::reject_duplicates;
use mlsys_batch::ingest::validate::{Rejection, RejectionKind, RowRules, validate_batch};
use mlsys_compiler::diagnostic::{Code, Diagnostic};
use mlsys_compiler::index::SymbolIndex;
use mlsys_compiler::plan::print::expr_infix;
use mlsys_compiler::plan::{ColumnIndex, Plan, SourceId};
use mlsys_compiler::source::Span;
use mlsys_deploy::deployment::error_chain;

/// What the sample of one source showed.
#[derive(Default)]
struct Sample {
    files: usize,
    rows: u64,
    /// Declared columns missing from files: column → (files missing it, first such file).
    missing: BTreeMap<ColumnIndex, (usize, String)>,
    /// Unexpected columns → first file.
    unexpected: BTreeMap<String, String>,
    /// Non-null raw values per declared column.
    present: BTreeMap<ColumnIndex, u64>,
    /// Non-null raw values that do not read as the declared type: column → (count, first example).
    unreadable: BTreeMap<ColumnIndex, (u64, String)>,
    rejections: Vec<Rejection>,
}

fn percent(count: u64, total: u64) -> String {
    let share = if total == 0 {
        0.0
    } else {
        100.0 * count as f64 / total as f64
    };
    if share > 0.0 && share < 0.01 {
        return format!("<0.01% ({count} of {total})");
    }
    format!("{share:.2}% ({count} of {total})")
}

/// Data drift findings for every source of a clean plan, reading at most `sample` rows per source
/// (newest input days first).
pub fn check(plan: &Plan, index: &SymbolIndex, project: &Path, sample: usize) -> Vec<Diagnostic> {
    let mut findings = Vec::new();
    for (source_id, source) in plan.sources.iter() {
        let span = |name: &str| index.named(name).map(|symbol| symbol.span);
        let Some(source_span) = span(&source.name) else {
            continue;
        };
        match sample_source(plan, source_id, project, sample) {
            Ok(sampled) if sampled.files == 0 => findings.push(
                Diagnostic::new(
                    Code::DataMissing,
                    source_span,
                    format!("source `{}` has no data files", source.name),
                )
                .with_help(format!("nothing matches `{}` under its location", source.format_name())),
            ),
            Ok(sampled) => findings.extend(findings_for(plan, source_id, &sampled, source_span, &span)),
            Err(error) => findings.push(
                Diagnostic::new(
                    Code::DataMissing,
                    source_span,
                    format!("cannot sample source `{}`: {}", source.name, error_chain(&error)),
                )
                .with_help("check `location`; paths are relative to the project directory"),
            ),
        }
    }
    findings
}

trait FormatName {
    fn format_name(&self) -> &'static str;
}

impl FormatName for mlsys_compiler::plan::Source {
    fn format_name(&self) -> &'static str {
        match self.format {
            mlsys_compiler::plan::Format::Parquet => "*.parquet",
            mlsys_compiler::plan::Format::Csv => "*.csv",
            mlsys_compiler::plan::Format::Json => "*.json / *.jsonl",
            mlsys_compiler::plan::Format::Delta => "a Delta table",
        }
    }
}

/// Why a source's files cannot be sampled.
#[derive(Debug, thiserror::Error)]
enum SampleError {
    #[error("sampling Delta sources is not supported yet; `mlsysc build` reads them")]
    Delta,
    #[error(transparent)]
    Batch(#[from] BatchError),
    #[error("reading values as their column's type")]
    Values(#[source] datafusion::arrow::error::ArrowError),
}

fn sample_source(plan: &Plan, source_id: SourceId, project: &Path, limit: usize) -> Result<Sample, SampleError> {
    let source = &plan.sources[source_id];
    if source.format == mlsys_compiler::plan::Format::Delta {
        return Err(SampleError::Delta);
    }
    let listed = list_source(project, source)?;
    let rules = RowRules::for_source(plan, source_id);
    let mut sample = Sample::default();
    let mut accepted = Vec::new();
    'files: for (partition, files) in listed.partitions.iter().rev() {
        for file in files {
            if sample.rows >= limit as u64 {
                break 'files;
            }
            let batches = read_file(&source.name, source.format, file)?;
            sample.files += 1;
            if let Some(first) = batches.first() {
                let schema = first.schema();
                for (column_index, column) in source.columns.iter().enumerate() {
                    if schema.field_with_name(&column.name).is_err() {
                        let entry = sample
                            .missing
                            .entry(column_index as ColumnIndex)
                            .or_insert((0, file.display.clone()));
                        entry.0 += 1;
                    }
                }
                for field in schema.fields() {
                    if field.name() != ROW_COLUMN && source.column_index(field.name()).is_none() {
                        sample
                            .unexpected
                            .entry(field.name().clone())
                            .or_insert(file.display.clone());
                    }
                }
            }
            for batch in batches {
                let remaining = (limit as u64).saturating_sub(sample.rows) as usize;
                let batch = batch.slice(0, batch.num_rows().min(remaining));
                sample.rows += batch.num_rows() as u64;
                for (column_index, column) in source.columns.iter().enumerate() {
                    let Some(values) = batch.column_by_name(&column.name) else {
                        continue;
                    };
                    let column_index = column_index as ColumnIndex;
                    *sample.present.entry(column_index).or_default() += (values.len() - values.null_count()) as u64;
                    let (count, example) = unreadable_values(values, column.ty.base).map_err(SampleError::Values)?;
                    if count > 0 {
                        let entry = sample.unreadable.entry(column_index).or_insert((0, example));
                        entry.0 += count;
                    }
                }
                let validated = validate_batch(&rules, &batch, &file.display, partition)?;
                accepted.push(validated.accepted);
                sample.rejections.extend(validated.rejected);
            }
        }
    }
    let duplicates = reject_duplicates(plan, source_id, &mut accepted)?;
    sample
        .rejections
        .extend(duplicates.into_iter().map(|(_, rejection)| rejection));
    Ok(sample)
}

fn findings_for(
    plan: &Plan,
    source_id: SourceId,
    sample: &Sample,
    source_span: Span,
    span: &dyn Fn(&str) -> Option<Span>,
) -> Vec<Diagnostic> {
    let source = &plan.sources[source_id];
    let column_span = |column: ColumnIndex| {
        span(&format!("{}.{}", source.name, source.columns[column as usize].name)).unwrap_or(source_span)
    };
    let required = plan.required_columns(source_id);
    let mut findings = Vec::new();
    let about = format!("{} sampled files of `{}`", sample.files, source.name);
    for (column, (files, first)) in &sample.missing {
        let declared = &source.columns[*column as usize];
        let (code, consequence) = if declared.ty.nullable && !required.contains(column) {
            (Code::DataNullableColumnMissing, "it reads as null")
        } else {
            (Code::DataColumnMissing, "a build will fail on these files")
        };
        findings.push(
            Diagnostic::new(
                code,
                column_span(*column),
                format!(
                    "declared column `{}` is missing from {files} of {about}; {consequence}",
                    declared.name
                ),
            )
            .with_help(format!("first file without it: {first}")),
        );
    }
    for (column, (count, example)) in &sample.unreadable {
        let declared = &source.columns[*column as usize];
        let present = sample.present.get(column).copied().unwrap_or(0);
        let diagnostic = if *count >= present {
            Diagnostic::new(
                Code::DataColumnRetyped,
                column_span(*column),
                format!(
                    "column `{}` is declared {} but no sampled value reads as one: the data has another type",
                    declared.name,
                    declared.ty.base.name()
                ),
            )
        } else {
            Diagnostic::new(
                Code::DataValuesUnreadable,
                column_span(*column),
                format!(
                    "{} of sampled `{}` values do not read as {}; they would be quarantined",
                    percent(*count, present),
                    declared.name,
                    declared.ty.base.name()
                ),
            )
        };
        findings.push(diagnostic.with_help(format!("for example `{example}`")));
    }
    let mut by_kind: BTreeMap<&RejectionKind, (u64, &Rejection)> = BTreeMap::new();
    for rejection in &sample.rejections {
        let reported_above = match &rejection.kind {
            RejectionKind::Cast { .. } => true,
            RejectionKind::Null { column } => sample.missing.contains_key(column),
            _ => false,
        };
        if !reported_above {
            by_kind.entry(&rejection.kind).or_insert((0, rejection)).0 += 1;
        }
    }
    for (kind, (count, example)) in by_kind {
        let example_note = format!("first: {} row {}: {}", example.file, example.row, example.reason);
        let diagnostic = match kind {
            RejectionKind::Cast { column } => Diagnostic::new(
                Code::DataValuesUnreadable,
                column_span(*column),
                format!("{} of sampled rows hold unreadable values", percent(count, sample.rows)),
            ),
            RejectionKind::Null { column } => Diagnostic::new(
                Code::DataRowsViolate,
                column_span(*column),
                format!(
                    "{} of sampled rows have no `{}`, a non-nullable column; they would be quarantined",
                    percent(count, sample.rows),
                    source.columns[*column as usize].name
                ),
            ),
            RejectionKind::EventTimeOutOfRange | RejectionKind::OutsidePartition => Diagnostic::new(
                Code::DataRowsViolate,
                source_span,
                format!(
                    "{} of sampled rows have an event time outside {}; they would be quarantined",
                    percent(count, sample.rows),
                    if *kind == RejectionKind::OutsidePartition {
                        "their `dt=` partition's day"
                    } else {
                        "the range of event times"
                    }
                ),
            ),
            RejectionKind::NotNull { contract, .. }
            | RejectionKind::Expect { contract, .. }
            | RejectionKind::Unique { contract, .. } => {
                let rule = match kind {
                    RejectionKind::NotNull { column, .. } => {
                        format!("not_null({})", source.columns[*column as usize].name)
                    }
                    RejectionKind::Unique { column, .. } => {
                        format!("unique({})", source.columns[*column as usize].name)
                    }
                    RejectionKind::Expect { expr, .. } => expr_infix(plan, *expr),
                    _ => String::new(),
                };
                Diagnostic::new(
                    Code::DataRowsViolate,
                    span(contract).unwrap_or(source_span),
                    format!(
                        "`expect {rule}` fails on {} of sampled rows",
                        percent(count, sample.rows)
                    ),
                )
            }
        };
        findings.push(diagnostic.with_help(example_note));
    }
    for (name, first) in &sample.unexpected {
        findings.push(
            Diagnostic::new(
                Code::DataUnexpectedColumn,
                source_span,
                format!(
                    "the data of `{}` has a column `{name}` the schema does not declare",
                    source.name
                ),
            )
            .with_help(format!(
                "first seen in {first}; {}",
                match source.unknown_columns {
                    mlsys_compiler::plan::UnknownColumns::Error => "with `unknown_columns = error` a build fails",
                    mlsys_compiler::plan::UnknownColumns::Warn =>
                        "with `unknown_columns = warn` a build warns and ignores it",
                    mlsys_compiler::plan::UnknownColumns::Ignore =>
                        "with `unknown_columns = ignore` a build ignores it",
                }
            )),
        );
    }
    findings
}

/// How many non-null values of `values` do not read as `base`, and the first of them.
fn unreadable_values(
    values: &datafusion::arrow::array::ArrayRef,
    base: mlsys_compiler::types::BaseType,
) -> Result<(u64, String), datafusion::arrow::error::ArrowError> {
    use datafusion::arrow::array::Array;
    use datafusion::arrow::compute::{CastOptions, cast_with_options};
    use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
    let cast = cast_with_options(
        values,
        &mlsys_batch::convert::arrow_type(base),
        &CastOptions {
            safe: true,
            format_options: FormatOptions::default(),
        },
    )?;
    let formatter = ArrayFormatter::try_new(values.as_ref(), &FormatOptions::default())?;
    let mut count = 0;
    let mut example = String::new();
    for row in 0..values.len() {
        if values.is_valid(row) && cast.is_null(row) {
            if count == 0 {
                example = formatter.value(row).to_string();
            }
            count += 1;
        }
    }
    Ok((count, example))
}
