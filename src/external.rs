//! Models trained outside mlsys (`lang-spec/grammar.md` §7.5): `command("...")` runs the user's
//! program on the training set and the holdout and takes the ONNX model it writes; `onnx("PATH")`
//! takes a file as it is. Either way the model is then evaluated by mlsys, through ONNX Runtime, on
//! the same holdout as any built-in model.
//!
//! A spec is code: `command(...)` runs a shell program with the rights of whoever runs `mlsysc
//! build`. The program's contract: it runs under `sh -c` in the project directory, with an
//! environment holding only `PATH`, `HOME`, `LANG`, `LC_*`, `TMPDIR`, the variables named in
//! `MLSYS_TRAINER_ENV` (comma-separated) and
//! - `MLSYS_TRAINING_SET`, `MLSYS_HOLDOUT`: Parquet files, one float64 column per pinned input (named
//!   `group@vN.feature`, in the model's order; missing = NaN) and a float64 `label` (0/1 for
//!   classification), in time order;
//! - `MLSYS_HYPERPARAMETERS`: a JSON object of the named constants given to `command(...)`;
//! - `MLSYS_MODEL_OUTPUT`: where it must write the ONNX model;
//! - `MLSYS_METRICS_OUTPUT`: where it may write a JSON object of metric name → number;
//! - `MLSYS_MODEL`, `MLSYS_TASK` (`classification` / `regression`), `MLSYS_SEED`.
//!
//! Its stdout and stderr go to `stdout.log` and `stderr.log` beside those files; a failure shows the
//! end of stderr. A program still running at its `timeout` (default 1h) is stopped with every process
//! it started, detached ones included: SIGTERM, then SIGKILL 5 s later ([`crate::process_tree`]);
//! processes it leaves behind when it exits are stopped the same way. A Ctrl-C at the terminal is
//! passed on to it and stops the build.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use datafusion::arrow::array::{ArrayRef, Float64Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::ArrowWriter;
use mlsys_batch::ingest::list::{outside_project, resolve_location};
use mlsys_compiler::paths::{PathReach, reach};
use mlsys_compiler::plan::Literal;

use crate::process_tree::ProcessTree;

/// How long a trainer may run when its `command(...)` gives no `timeout`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3600);

/// Names a comma-separated list of further variables passed from mlsysc's environment to a
/// trainer (which otherwise sees only [`PASSED_VARIABLES`], `LC_*` and the contract's `MLSYS_*`).
pub const TRAINER_ENV: &str = "MLSYS_TRAINER_ENV";

/// What a trainer inherits from mlsysc's environment by default.
const PASSED_VARIABLES: &[&str] = &["PATH", "HOME", "LANG", "TMPDIR"];

/// Lines of stderr shown with a failure.
const STDERR_TAIL_LINES: usize = 20;

/// The label column of the files a trainer reads.
pub const LABEL_COLUMN: &str = "label";

/// A split as the trainers see it: column-major float64 inputs and the labels.
pub struct Matrix<'a> {
    pub columns: &'a [Vec<f64>],
    pub labels: &'a [f64],
}

/// One run of an external trainer.
pub struct CommandRun<'a> {
    pub model: &'a str,
    pub task: mlsys_train::Task,
    pub seed: i64,
    pub features: &'a [String],
    pub training: Matrix<'a>,
    pub holdout: Matrix<'a>,
    /// Where its inputs, outputs and logs go (emptied first).
    pub directory: PathBuf,
    /// Its working directory.
    pub project: &'a Path,
}

/// What a trainer produced.
pub struct CommandOutput {
    pub onnx: Vec<u8>,
    /// What it wrote to `MLSYS_METRICS_OUTPUT`, if anything.
    pub reported_metrics: BTreeMap<String, f64>,
}

/// The named constants of `command(...)` other than `timeout`, as the JSON the program reads.
pub fn hyperparameters_json(hyperparameters: &BTreeMap<String, Literal>) -> serde_json::Value {
    let object = hyperparameters
        .iter()
        .filter(|(name, _)| name.as_str() != "timeout")
        .map(|(name, literal)| {
            let value = match literal {
                Literal::Bool(value) => serde_json::Value::from(*value),
                Literal::Int(value) => serde_json::Value::from(*value),
                Literal::Float(value) => serde_json::Value::from(*value),
                Literal::String(value) => serde_json::Value::from(value.as_str()),
                // The checker admits only the four kinds above.
                other => serde_json::Value::from(format!("{other:?}")),
            };
            (name.clone(), value)
        })
        .collect();
    serde_json::Value::Object(object)
}

/// `timeout = D` of `command(...)`, or the default.
pub fn timeout_of(hyperparameters: &BTreeMap<String, Literal>) -> Duration {
    match hyperparameters.get("timeout") {
        Some(Literal::Duration(micros)) if *micros > 0 => Duration::from_micros(micros.unsigned_abs()),
        _ => DEFAULT_TIMEOUT,
    }
}

/// Runs the trainer and returns the model it wrote.
pub fn run_command(
    command: &str,
    hyperparameters: &serde_json::Value,
    timeout: Duration,
    run: &CommandRun<'_>,
) -> anyhow::Result<CommandOutput> {
    let directory = &run.directory;
    if directory.exists() {
        std::fs::remove_dir_all(directory).with_context(|| format!("emptying {}", directory.display()))?;
    }
    std::fs::create_dir_all(directory).with_context(|| format!("creating {}", directory.display()))?;
    let directory = directory
        .canonicalize()
        .with_context(|| format!("resolving {}", directory.display()))?;
    let training_set = directory.join("training.parquet");
    let holdout = directory.join("holdout.parquet");
    let parameters = directory.join("hyperparameters.json");
    let model_output = directory.join("model.onnx");
    let metrics_output = directory.join("metrics.json");
    let stdout_log = directory.join("stdout.log");
    let stderr_log = directory.join("stderr.log");
    write_split(&training_set, run.features, &run.training)?;
    write_split(&holdout, run.features, &run.holdout)?;
    std::fs::write(&parameters, serde_json::to_vec_pretty(hyperparameters)?)
        .with_context(|| format!("writing {}", parameters.display()))?;

    let open_log = |path: &Path| std::fs::File::create(path).with_context(|| format!("creating {}", path.display()));
    let task = run.task.name();
    let mut trainer = Command::new("sh");
    trainer
        .arg("-c")
        .arg(command)
        .current_dir(run.project)
        .env_clear()
        .envs(passed_environment())
        .env("MLSYS_TRAINING_SET", &training_set)
        .env("MLSYS_HOLDOUT", &holdout)
        .env("MLSYS_HYPERPARAMETERS", &parameters)
        .env("MLSYS_MODEL_OUTPUT", &model_output)
        .env("MLSYS_METRICS_OUTPUT", &metrics_output)
        .env("MLSYS_MODEL", run.model)
        .env("MLSYS_TASK", task)
        .env("MLSYS_SEED", run.seed.to_string())
        .stdin(Stdio::null())
        .stdout(open_log(&stdout_log)?)
        .stderr(open_log(&stderr_log)?);
    // Dropped on every way out of this function: what the trainer left running is stopped.
    let mut child = ProcessTree::spawn(&mut trainer).with_context(|| format!("starting `sh -c {command:?}`"))?;
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().context("waiting for the trainer")? {
            break status;
        }
        if started.elapsed() >= timeout {
            child.stop();
            bail!(
                "`{command}` did not finish within {}; it was stopped (raise `timeout` in `command(...)`)\
                 {}",
                human_duration(timeout),
                stderr_tail(&stderr_log, &directory)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    child.stop();
    if !status.success() {
        bail!(
            "`{command}` {}{}",
            describe_failure(status),
            stderr_tail(&stderr_log, &directory)
        );
    }
    let onnx = match std::fs::read(&model_output) {
        Ok(bytes) if !bytes.is_empty() => bytes,
        Ok(_) => bail!(
            "`{command}` succeeded but the model it wrote to MLSYS_MODEL_OUTPUT ({}) is empty",
            model_output.display()
        ),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => bail!(
            "`{command}` succeeded but wrote no model: it must write ONNX to the path in MLSYS_MODEL_OUTPUT \
             ({}){}",
            model_output.display(),
            stderr_tail(&stderr_log, &directory)
        ),
        Err(error) => return Err(error).with_context(|| format!("reading {}", model_output.display())),
    };
    let reported_metrics = read_metrics(&metrics_output)?;
    // The inputs were copies: only the logs, the hyperparameters and the outputs stay.
    let _ = std::fs::remove_file(&training_set);
    let _ = std::fs::remove_file(&holdout);
    Ok(CommandOutput { onnx, reported_metrics })
}

/// The largest model `onnx("PATH")` reads: an ONNX file is one protobuf message, at most 2 GiB.
pub const MAX_ONNX_BYTES: u64 = 2 << 30;

/// The imported model of `onnx("PATH")`, PATH relative to the project directory (or absolute, or
/// a `file://` URL). Only a regular file of at most [`MAX_ONNX_BYTES`] is read, and a relative
/// path must not lead out of the project through a symbolic link.
pub fn read_onnx(project: &Path, path: &str) -> anyhow::Result<Vec<u8>> {
    let what = format!("`onnx(\"{path}\")`");
    let full = resolve_location(project, path).with_context(|| what.clone())?;
    let metadata = match std::fs::metadata(&full) {
        Ok(metadata) => metadata,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => bail!(
            "{what}: no such file {} (the path is relative to the project directory)",
            full.display()
        ),
        Err(error) => return Err(anyhow!("{what}: reading {}: {error}", full.display())),
    };
    if !metadata.is_file() {
        bail!("{what}: {} is not a regular file", full.display());
    }
    if reach(path) == PathReach::Inside
        && let Some(target) = outside_project(project, &full)
    {
        bail!(
            "{what}: {} leads out of the project directory through a symbolic link (to {}); write an \
             absolute path to import a model from outside the project",
            full.display(),
            target.display()
        );
    }
    let too_large = |size: u64| {
        anyhow!(
            "{what}: {} holds {size} bytes; an ONNX model is at most {MAX_ONNX_BYTES}",
            full.display()
        )
    };
    if metadata.len() > MAX_ONNX_BYTES {
        return Err(too_large(metadata.len()));
    }
    let mut bytes = Vec::new();
    std::fs::File::open(&full)
        .and_then(|file| file.take(MAX_ONNX_BYTES + 1).read_to_end(&mut bytes))
        .map_err(|error| anyhow!("{what}: reading {}: {error}", full.display()))?;
    if bytes.len() as u64 > MAX_ONNX_BYTES {
        // It grew while being read.
        return Err(too_large(bytes.len() as u64));
    }
    if bytes.is_empty() {
        bail!("{what}: {} is empty", full.display());
    }
    Ok(bytes)
}

fn write_split(path: &Path, features: &[String], matrix: &Matrix<'_>) -> anyhow::Result<()> {
    let mut fields: Vec<Field> = features
        .iter()
        .map(|name| Field::new(name, DataType::Float64, false))
        .collect();
    fields.push(Field::new(LABEL_COLUMN, DataType::Float64, false));
    let schema = Arc::new(Schema::new(fields));
    let mut arrays: Vec<ArrayRef> = matrix
        .columns
        .iter()
        .map(|column| Arc::new(Float64Array::from(column.clone())) as ArrayRef)
        .collect();
    arrays.push(Arc::new(Float64Array::from(matrix.labels.to_vec())));
    let batch = RecordBatch::try_new(schema.clone(), arrays)?;
    let file = std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut writer = ArrowWriter::try_new(file, schema, None)?;
    writer.write(&batch)?;
    writer.close()?;
    Ok(())
}

fn read_metrics(path: &Path) -> anyhow::Result<BTreeMap<String, f64>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(error) => return Err(error).with_context(|| format!("reading {}", path.display())),
    };
    let shape = || {
        format!(
            "the trainer's metrics file {} must hold a JSON object of metric name to number, e.g. \
             {{\"train_auc\": 0.97}}",
            path.display()
        )
    };
    let value: serde_json::Value = serde_json::from_str(&text).with_context(shape)?;
    let serde_json::Value::Object(object) = value else {
        bail!(shape());
    };
    object
        .into_iter()
        .map(|(name, value)| match value.as_f64() {
            Some(number) => Ok((name, number)),
            None => Err(anyhow!("{}: `{name}` is {value}", shape())),
        })
        .collect()
}

fn describe_failure(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with status {code}"),
        (None, Some(signal)) => format!("was killed by signal {signal}"),
        (None, None) => format!("failed ({status})"),
    }
}

/// The end of the trainer's stderr, indented, and where the full logs are.
fn stderr_tail(path: &Path, directory: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let mut out = String::new();
    if lines.is_empty() {
        let _ = write!(out, "; it wrote nothing to stderr");
    } else {
        let shown = &lines[lines.len().saturating_sub(STDERR_TAIL_LINES)..];
        let _ = write!(out, "; the end of its stderr:");
        for line in shown {
            let _ = write!(out, "\n    {line}");
        }
    }
    let _ = write!(out, "\n  its inputs and full logs are in {}", directory.display());
    out
}

/// The variables of mlsysc's environment a trainer sees: [`PASSED_VARIABLES`], `LC_*`, and those
/// named in [`TRAINER_ENV`].
fn passed_environment() -> Vec<(std::ffi::OsString, std::ffi::OsString)> {
    let extra = std::env::var(TRAINER_ENV).unwrap_or_default();
    let extra: Vec<&str> = extra
        .split(',')
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .collect();
    std::env::vars_os()
        .filter(|(name, _)| {
            name.to_str().is_some_and(|name| {
                PASSED_VARIABLES.contains(&name) || name.starts_with("LC_") || extra.contains(&name)
            })
        })
        .collect()
}

fn human_duration(duration: Duration) -> String {
    let seconds = duration.as_secs();
    match seconds {
        0 => format!("{} ms", duration.as_millis()),
        _ if seconds.is_multiple_of(3600) => format!("{}h", seconds / 3600),
        _ if seconds.is_multiple_of(60) => format!("{}m", seconds / 60),
        _ => format!("{seconds}s"),
    }
}
