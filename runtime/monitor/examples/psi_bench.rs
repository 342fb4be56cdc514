//! The mlsys side of `benches/psi_vs_evidently.py`: PSI per column of two Parquet files of float64
//! columns (a reference and a current period), exactly as a monitor computes it — each column's
//! baseline binned with `Bins::quantiles(values, DEFAULT_BINS)` and counted with
//! `Distribution::of`, the current values counted into the same bins, then `psi`.
//!
//! `psi_bench REFERENCE.parquet CURRENT.parquet [REPETITIONS]` prints one JSON object: per column
//! the bin edges, both count vectors and the PSI (shortest round-trip decimal, so every bit), and
//! the seconds of each step for all columns, measured in this process after the files are read
//! (every repetition and their median):
//! - `baseline`: the reference's bins (quantiles) and its counts, what training records once;
//! - `current`: the current values counted into the baseline's bins and the PSI, what a monitor
//!   does per period against the stored baseline;
//! - `both_counted`: the reference and the current values counted into given bins and the PSI,
//!   the same work as a PSI function handed both samples and the bins.

use std::fs::File;
use std::hint::black_box;
use std::path::PathBuf;
use std::time::Instant;

use arrow::array::{Array, Float64Array};
use arrow::datatypes::DataType;
use mlsys_monitor::{Bins, DEFAULT_BINS, Distribution, psi};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde::Serialize;

/// Repetitions of each timed step unless asked otherwise.
const DEFAULT_REPETITIONS: usize = 7;

#[derive(Debug, thiserror::Error)]
enum BenchError {
    #[error("usage: psi_bench REFERENCE.parquet CURRENT.parquet [REPETITIONS]")]
    Usage,
    #[error("cannot open {path}")]
    Open {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read {path}")]
    Parquet {
        path: PathBuf,
        #[source]
        source: parquet::errors::ParquetError,
    },
    #[error("cannot read a batch of {path}")]
    Arrow {
        path: PathBuf,
        #[source]
        source: arrow::error::ArrowError,
    },
    #[error("column `{column}` of {path} is {found}, not float64")]
    NotFloat64 {
        path: PathBuf,
        column: String,
        found: DataType,
    },
    #[error("the files' columns differ: {reference:?} and {current:?}")]
    Columns {
        reference: Vec<String>,
        current: Vec<String>,
    },
    #[error("cannot write the result")]
    Json(#[source] serde_json::Error),
}

/// A file's columns, in file order, nulls read as NaN (missing, as the monitor reads them).
struct Columns {
    names: Vec<String>,
    values: Vec<Vec<f64>>,
}

fn read_columns(path: PathBuf) -> Result<Columns, BenchError> {
    let file = File::open(&path).map_err(|source| BenchError::Open {
        path: path.clone(),
        source,
    })?;
    let parquet_error = |source| BenchError::Parquet {
        path: path.clone(),
        source,
    };
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(parquet_error)?;
    let schema = builder.schema().clone();
    let names: Vec<String> = schema.fields().iter().map(|field| field.name().clone()).collect();
    let mut values = vec![Vec::new(); names.len()];
    for batch in builder.build().map_err(parquet_error)? {
        let batch = batch.map_err(|source| BenchError::Arrow {
            path: path.clone(),
            source,
        })?;
        for (index, column) in batch.columns().iter().enumerate() {
            let Some(floats) = column.as_any().downcast_ref::<Float64Array>() else {
                return Err(BenchError::NotFloat64 {
                    path,
                    column: names[index].clone(),
                    found: column.data_type().clone(),
                });
            };
            let read = (0..floats.len()).map(|row| {
                if floats.is_null(row) {
                    f64::NAN
                } else {
                    floats.value(row)
                }
            });
            values[index].extend(read);
        }
    }
    Ok(Columns { names, values })
}

/// Every repetition's seconds and their median.
#[derive(Serialize)]
struct Timing {
    median: f64,
    runs: Vec<f64>,
}

fn time_repeated(repetitions: usize, mut step: impl FnMut()) -> Timing {
    let runs: Vec<f64> = (0..repetitions.max(1))
        .map(|_| {
            let started = Instant::now();
            step();
            started.elapsed().as_secs_f64()
        })
        .collect();
    let mut sorted = runs.clone();
    sorted.sort_by(f64::total_cmp);
    Timing {
        median: sorted[sorted.len() / 2],
        runs,
    }
}

fn baseline_of(values: &[f64]) -> Distribution {
    Distribution::of(Bins::quantiles(values, DEFAULT_BINS), values.iter().copied())
}

fn current_of(baseline: &Distribution, values: &[f64]) -> (Distribution, Option<f64>) {
    let current = Distribution::of(baseline.bins.clone(), values.iter().copied());
    let index = psi(baseline, &current);
    (current, index)
}

#[derive(Serialize)]
struct ColumnResult<'a> {
    name: &'a str,
    edges: &'a [f64],
    reference_counts: &'a [u64],
    current_counts: &'a [u64],
    psi: Option<f64>,
}

#[derive(Serialize)]
struct Seconds {
    baseline: Timing,
    current: Timing,
    both_counted: Timing,
}

#[derive(Serialize)]
struct Output<'a> {
    reference_rows: usize,
    current_rows: usize,
    repetitions: usize,
    seconds: Seconds,
    columns: Vec<ColumnResult<'a>>,
}

fn run() -> Result<(), BenchError> {
    let mut arguments = std::env::args_os().skip(1);
    let (Some(reference), Some(current)) = (arguments.next(), arguments.next()) else {
        return Err(BenchError::Usage);
    };
    let repetitions = match arguments.next() {
        None => DEFAULT_REPETITIONS,
        Some(text) => text
            .to_str()
            .and_then(|text| text.parse().ok())
            .ok_or(BenchError::Usage)?,
    };
    let reference = read_columns(reference.into())?;
    let current = read_columns(current.into())?;
    if reference.names != current.names {
        return Err(BenchError::Columns {
            reference: reference.names,
            current: current.names,
        });
    }
    let columns = || reference.values.iter().zip(&current.values);

    let baseline_seconds = time_repeated(repetitions, || {
        reference.values.iter().for_each(|values| {
            black_box(baseline_of(black_box(values)));
        })
    });
    let baselines: Vec<Distribution> = reference.values.iter().map(|values| baseline_of(values)).collect();
    let current_seconds = time_repeated(repetitions, || {
        baselines.iter().zip(&current.values).for_each(|(baseline, values)| {
            black_box(current_of(baseline, black_box(values)));
        })
    });
    let both_seconds = time_repeated(repetitions, || {
        baselines
            .iter()
            .zip(columns())
            .for_each(|(baseline, (reference, values))| {
                let counted = Distribution::of(baseline.bins.clone(), black_box(reference).iter().copied());
                black_box(current_of(&counted, black_box(values)));
            })
    });

    let currents: Vec<(Distribution, Option<f64>)> = baselines
        .iter()
        .zip(&current.values)
        .map(|(baseline, values)| current_of(baseline, values))
        .collect();
    let results = reference
        .names
        .iter()
        .zip(baselines.iter().zip(&currents))
        .map(|(name, (baseline, (counted, index)))| ColumnResult {
            name,
            edges: match &baseline.bins {
                Bins::Numeric { edges } => edges,
                Bins::Categorical { categories } => categories,
            },
            reference_counts: &baseline.counts,
            current_counts: &counted.counts,
            psi: *index,
        })
        .collect();
    let output = Output {
        reference_rows: reference.values.first().map_or(0, Vec::len),
        current_rows: current.values.first().map_or(0, Vec::len),
        repetitions,
        seconds: Seconds {
            baseline: baseline_seconds,
            current: current_seconds,
            both_counted: both_seconds,
        },
        columns: results,
    };
    let text = serde_json::to_string(&output).map_err(BenchError::Json)?;
    println!("{text}");
    Ok(())
}

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            let mut message = error.to_string();
            let mut source = std::error::Error::source(&error);
            while let Some(cause) = source {
                message.push_str(&format!(": {cause}"));
                source = cause.source();
            }
            eprintln!("psi_bench: {message}");
            std::process::ExitCode::FAILURE
        }
    }
}
