//! Scoring ONNX models with ONNX Runtime: models trained outside mlsys (`command(...)`, `onnx(...)`)
//! and production versions that only exist as ONNX are evaluated on the holdout through this.
//!
//! ONNX Runtime is loaded at run time (`ort`'s `load-dynamic`): from `ORT_DYLIB_PATH`, else from the
//! `onnxruntime` Python package if `python3` can import it. Nothing is loaded until a model needs it,
//! so projects with only built-in models never need the library.
//!
//! The contract a model must meet (`lang-spec/grammar.md` §7.5): one input, a float32 or float64
//! tensor `[N, F]`, F the model's pinned inputs in order; the score is the first float tensor output
//! of shape `[N]` or `[N, 1]`, or, for classification, `[N, 2]` whose second column is the
//! probability of `true` (the `probabilities` output of common converters). Map and sequence
//! outputs (a `ZipMap`) are skipped.

use std::fmt::Debug;
use std::path::PathBuf;
use std::sync::OnceLock;

use ndarray::Array2;
use ort::environment::Environment;
use ort::session::{Session, SessionOutputs};
use ort::value::{DynValue, PrimitiveTensorElementType, TensorElementType, TensorRef, ValueType};

use crate::dataset::Task;
use crate::error::OnnxRuntimeError;

/// The ONNX Runtime release the `ort` bindings are built for (API 31).
pub const ONNX_RUNTIME_VERSION: &str = "1.31.1";

/// Rows scored per run: bounds the input and output buffers whatever the holdout's size.
const CHUNK_ROWS: usize = 65_536;

/// Where the ONNX Runtime library is: `ORT_DYLIB_PATH`, else the `onnxruntime` Python package.
pub fn onnx_runtime_library() -> Result<PathBuf, OnnxRuntimeError> {
    if let Some(path) = std::env::var_os("ORT_DYLIB_PATH") {
        let path = PathBuf::from(path);
        if !path.is_file() {
            return Err(OnnxRuntimeError::NotFound(format!(
                "ORT_DYLIB_PATH is {}, which is not a file",
                path.display()
            )));
        }
        return Ok(path);
    }
    let located = std::process::Command::new("python3")
        .args([
            "-c",
            "import onnxruntime, os; print(os.path.join(os.path.dirname(onnxruntime.__file__), 'capi'))",
        ])
        .stderr(std::process::Stdio::null())
        .output();
    if let Ok(output) = located
        && output.status.success()
    {
        let directory = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
        let mut candidates: Vec<PathBuf> = std::fs::read_dir(&directory)
            .into_iter()
            .flatten()
            .filter_map(|entry| entry.ok().map(|entry| entry.path()))
            .filter(|path| {
                path.file_name()
                    .and_then(|name| name.to_str())
                    .is_some_and(|name| name.starts_with("libonnxruntime.so") || name == "libonnxruntime.dylib")
            })
            .collect();
        // The most specific name (`libonnxruntime.so.1.31.1`) first.
        candidates.sort_by_key(|path| std::cmp::Reverse(path.as_os_str().len()));
        if let Some(path) = candidates.into_iter().next() {
            return Ok(path);
        }
    }
    Err(OnnxRuntimeError::NotFound(
        "neither ORT_DYLIB_PATH nor the `onnxruntime` Python package is set up".to_string(),
    ))
}

fn environment() -> Result<&'static Environment, OnnxRuntimeError> {
    static ENVIRONMENT: OnceLock<Result<Environment, OnnxRuntimeError>> = OnceLock::new();
    ENVIRONMENT
        .get_or_init(|| {
            let path = onnx_runtime_library()?;
            let builder = ort::init_from(&path).map_err(|error| OnnxRuntimeError::Load {
                path: path.clone(),
                message: error.to_string(),
            })?;
            builder
                .with_name("mlsys")
                .build()
                .map_err(|error| OnnxRuntimeError::Load {
                    path,
                    message: error.to_string(),
                })
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// How the score is read from the chosen output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Read {
    /// `[N]` or `[N, 1]`: the value.
    Value,
    /// `[N, 2]`: the second column, the probability of `true`.
    SecondColumn,
}

/// An ONNX model loaded into ONNX Runtime, checked against the scoring contract.
pub struct OnnxScorer {
    session: Session,
    input: String,
    input_type: TensorElementType,
    features: usize,
    output: String,
    output_type: TensorElementType,
    read: Read,
}

impl OnnxScorer {
    /// Loads the model and checks it takes `features` inputs and gives a score for `task`; one
    /// scoring call uses every core.
    pub fn load(bytes: &[u8], features: usize, task: Task) -> Result<OnnxScorer, OnnxRuntimeError> {
        let threads = std::thread::available_parallelism().map_or(1, usize::from);
        OnnxScorer::load_with_threads(bytes, features, task, threads)
    }

    /// [`OnnxScorer::load`] with ONNX Runtime's intra-op threads for one scoring call (a server
    /// scoring many small batches at once is often fastest with 1).
    pub fn load_with_threads(
        bytes: &[u8],
        features: usize,
        task: Task,
        threads: usize,
    ) -> Result<OnnxScorer, OnnxRuntimeError> {
        let environment = environment()?;
        let threads = threads.max(1);
        let builder = Session::builder(environment).map_err(|error| OnnxRuntimeError::Invalid(error.to_string()))?;
        let mut builder = builder
            .with_intra_threads(threads)
            .map_err(|error| OnnxRuntimeError::Invalid(error.to_string()))?;
        let session = builder
            .commit_from_memory(bytes)
            .map_err(|error| OnnxRuntimeError::Invalid(error.to_string()))?;

        let [input] = session.inputs() else {
            return Err(OnnxRuntimeError::Contract(format!(
                "the model has {} inputs; it must take one, a float tensor [N, {features}]",
                session.inputs().len()
            )));
        };
        let (input_type, input_shape) = match input.dtype() {
            ValueType::Tensor { ty, shape, .. }
                if matches!(ty, TensorElementType::Float32 | TensorElementType::Float64) =>
            {
                (*ty, shape.to_vec())
            }
            other => {
                return Err(OnnxRuntimeError::Contract(format!(
                    "input `{}` is {other}; it must be a float32 or float64 tensor [N, {features}]",
                    input.name()
                )));
            }
        };
        match input_shape.as_slice() {
            [_, width] if *width < 0 || usize::try_from(*width).is_ok_and(|width| width == features) => {}
            _ => {
                return Err(OnnxRuntimeError::Contract(format!(
                    "input `{}` has shape {input_shape:?}; it must be [N, {features}], one column per pinned \
                     feature in the model's order",
                    input.name()
                )));
            }
        }

        let mut chosen = None;
        let mut seen = Vec::new();
        for output in session.outputs() {
            seen.push(format!("`{}`: {}", output.name(), output.dtype()));
            let ValueType::Tensor { ty, shape, .. } = output.dtype() else {
                continue;
            };
            if !matches!(ty, TensorElementType::Float32 | TensorElementType::Float64) {
                continue;
            }
            let read = match (shape.as_ref(), task) {
                ([_], _) | ([_, 1], _) => Read::Value,
                ([_, 2], Task::Classification) => Read::SecondColumn,
                // An unknown width: a single-score model is the common case for both tasks.
                ([_, -1], _) => Read::Value,
                _ => continue,
            };
            chosen = Some((output.name().to_string(), *ty, read));
            break;
        }
        let Some((output, output_type, read)) = chosen else {
            return Err(OnnxRuntimeError::Contract(format!(
                "no output is a float tensor of shape [N], [N, 1]{} (outputs: {}); a converter's `ZipMap` \
                 output is not read: export without it (skl2onnx: options={{'zipmap': False}})",
                if task == Task::Classification { " or [N, 2]" } else { "" },
                seen.join(", ")
            )));
        };
        Ok(OnnxScorer {
            input: input.name().to_string(),
            session,
            input_type,
            features,
            output,
            output_type,
            read,
        })
    }

    /// The score of every row of the column-major matrix (NaN = missing).
    pub fn predict(&mut self, columns: &[Vec<f64>]) -> Result<Vec<f64>, OnnxRuntimeError> {
        if columns.len() != self.features {
            return Err(OnnxRuntimeError::Contract(format!(
                "{} feature columns for a model of {} inputs",
                columns.len(),
                self.features
            )));
        }
        let rows = columns.first().map_or(0, Vec::len);
        let mut scores = Vec::with_capacity(rows);
        let mut start = 0;
        while start < rows {
            let end = (start + CHUNK_ROWS).min(rows);
            let chunk = self.run_chunk(columns, start, end)?;
            scores.extend(chunk);
            start = end;
        }
        Ok(scores)
    }

    fn run_chunk(&mut self, columns: &[Vec<f64>], start: usize, end: usize) -> Result<Vec<f64>, OnnxRuntimeError> {
        let rows = end - start;
        let outputs = match self.input_type {
            // Precision the model asked for: the float64 inputs are rounded to float32.
            #[allow(clippy::cast_possible_truncation)]
            TensorElementType::Float32 => run_typed(&mut self.session, &self.input, columns, start..end, |value| {
                value as f32
            })?,
            _ => run_typed(&mut self.session, &self.input, columns, start..end, |value| value)?,
        };
        let value = &outputs[self.output.as_str()];
        let (shape, values) = match self.output_type {
            TensorElementType::Float32 => scores_of::<f32>(value)?,
            _ => scores_of::<f64>(value)?,
        };
        let scores: Vec<f64> = match (self.read, shape.as_slice()) {
            (Read::Value, [n]) | (Read::Value, [n, 1]) if *n == rows => values,
            (Read::SecondColumn, [n, 2]) if *n == rows => values.chunks_exact(2).map(|pair| pair[1]).collect(),
            _ => {
                return Err(OnnxRuntimeError::Contract(format!(
                    "output `{}` has shape {shape:?} for {rows} rows",
                    self.output
                )));
            }
        };
        if let Some((row, score)) = scores.iter().enumerate().find(|(_, score)| !score.is_finite()) {
            return Err(OnnxRuntimeError::Contract(format!(
                "output `{}` is {score} for row {}: scores must be finite",
                self.output,
                start + row
            )));
        }
        Ok(scores)
    }
}

/// Runs the session on the rows `rows` of the column-major matrix, as a `[rows, columns]` tensor of
/// the model's input type.
fn run_typed<'s, T: PrimitiveTensorElementType + Debug + Clone + 'static>(
    session: &'s mut Session,
    input: &str,
    columns: &[Vec<f64>],
    rows: std::ops::Range<usize>,
    convert: impl Fn(f64) -> T,
) -> Result<SessionOutputs<'s>, OnnxRuntimeError> {
    let shape = (rows.len(), columns.len());
    let flat: Vec<T> = rows
        .flat_map(|row| columns.iter().map(move |column| column[row]))
        .map(convert)
        .collect();
    let array = Array2::from_shape_vec(shape, flat).map_err(|error| OnnxRuntimeError::Run(error.to_string()))?;
    let tensor = TensorRef::from_array_view(&array).map_err(run_error)?;
    session.run(ort::inputs![input => tensor]).map_err(run_error)
}

/// An output tensor's shape and its values as float64.
fn scores_of<T: PrimitiveTensorElementType + Copy + Into<f64>>(
    value: &DynValue,
) -> Result<(Vec<usize>, Vec<f64>), OnnxRuntimeError> {
    let array = value.try_extract_array::<T>().map_err(run_error)?;
    Ok((
        array.shape().to_vec(),
        array.iter().map(|&score| score.into()).collect(),
    ))
}

fn run_error(error: ort::Error) -> OnnxRuntimeError {
    OnnxRuntimeError::Run(error.to_string())
}
