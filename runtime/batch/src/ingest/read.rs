//! Reading one input file as it is (schema-on-read): CSV as text columns, JSON lines and Parquet
//! with their own types. Every batch carries the 1-based row number of each row in its file, so a
//! rejected row can be found again.

use std::fs::File;
use std::io::{BufReader, Seek};
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, RecordBatch, UInt64Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::{csv, json};
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use mlsys_compiler::plan::Format;

use crate::error::{BatchError, InputProblem, ReadError, ReadStep};
use crate::ingest::list::InputFile;

/// The column holding each row's 1-based row number within its file.
pub const ROW_COLUMN: &str = "_row";
const BATCH_ROWS: usize = 8192;

/// Reads a whole file into batches (raw columns plus [`ROW_COLUMN`]).
pub fn read_file(source: &str, format: Format, file: &InputFile) -> Result<Vec<RecordBatch>, BatchError> {
    let failed = |step: ReadStep| {
        move |error: ReadError| BatchError::Read {
            source_name: source.to_string(),
            file: file.display.clone(),
            step,
            source: error,
        }
    };
    let opened = File::open(&file.path).map_err(|error| failed(ReadStep::Open)(error.into()))?;
    let raw: Vec<RecordBatch> = match format {
        Format::Csv => match read_csv(opened) {
            Ok(Some(batches)) => batches,
            Ok(None) => {
                return Err(BatchError::Input {
                    source_name: source.to_string(),
                    file: file.display.clone(),
                    problem: InputProblem::NoHeader,
                });
            }
            Err(error) => return Err(failed(ReadStep::Csv)(error)),
        },
        Format::Json => read_json(opened).map_err(failed(ReadStep::Json))?,
        Format::Parquet | Format::Delta => read_parquet(opened).map_err(failed(ReadStep::Parquet))?,
    };
    number_rows(raw).map_err(|error| failed(ReadStep::NumberRows)(error.into()))
}

/// Appends [`ROW_COLUMN`] (1-based, continuing across batches) to each batch.
pub fn number_rows(batches: Vec<RecordBatch>) -> Result<Vec<RecordBatch>, datafusion::arrow::error::ArrowError> {
    let mut next_row = 1u64;
    batches
        .into_iter()
        .map(|batch| {
            let rows = batch.num_rows() as u64;
            let numbers: ArrayRef = Arc::new(UInt64Array::from_iter_values(next_row..next_row + rows));
            next_row += rows;
            let mut fields: Vec<Arc<Field>> = batch.schema().fields().iter().cloned().collect();
            fields.push(Arc::new(Field::new(ROW_COLUMN, DataType::UInt64, false)));
            let mut columns = batch.columns().to_vec();
            columns.push(numbers);
            RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
        })
        .collect()
}

/// CSV with a header line; every column is read as text and typed later, so that a value that
/// does not parse is quarantined instead of failing the file.
/// `None` for a file without a header line.
fn read_csv(mut file: File) -> Result<Option<Vec<RecordBatch>>, ReadError> {
    let format = csv::reader::Format::default().with_header(true);
    let (inferred, _) = format.infer_schema(&mut file, Some(1))?;
    if inferred.fields().is_empty() {
        return Ok(None);
    }
    file.rewind()?;
    let text_schema = Arc::new(Schema::new(
        inferred
            .fields()
            .iter()
            .map(|field| Field::new(field.name(), DataType::Utf8, true))
            .collect::<Vec<_>>(),
    ));
    let reader = csv::ReaderBuilder::new(text_schema)
        .with_header(true)
        .with_batch_size(BATCH_ROWS)
        .build(file)?;
    Ok(Some(reader.collect::<Result<_, _>>()?))
}

fn read_json(file: File) -> Result<Vec<RecordBatch>, ReadError> {
    let mut buffered = BufReader::new(file);
    let (schema, _) = json::reader::infer_json_schema_from_seekable(&mut buffered, None)?;
    let reader = json::ReaderBuilder::new(Arc::new(schema))
        .with_batch_size(BATCH_ROWS)
        .build(buffered)?;
    Ok(reader.collect::<Result<_, _>>()?)
}

fn read_parquet(file: File) -> Result<Vec<RecordBatch>, ReadError> {
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)?
        .with_batch_size(BATCH_ROWS)
        .build()?;
    Ok(reader.collect::<Result<_, _>>()?)
}
