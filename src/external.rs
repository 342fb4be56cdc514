//! Models trained outside mlsys (`lang-spec/grammar.md` §7.5): `command("...")` runs the user's
//! program on the training set and the holdout and takes the ONNX model it writes; `onnx("PATH")`
//! takes a file as it is. Either way the model is then evaluated by mlsys, through ONNX Runtime, on
//! the same holdout as any built-in model.
//!
//! The program's contract: it runs under `sh -c` in the project directory, with
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
//! it started: SIGTERM, then SIGKILL 5 s later. It stays in mlsysc's process group, so a Ctrl-C at the
//! terminal stops it together with the build.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use datafusion::arrow::array::{ArrayRef, Float64Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::ArrowWriter;
use mlsys_compiler::plan::Literal;

/// How long a trainer may run when its `command(...)` gives no `timeout`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3600);

/// Between SIGTERM and SIGKILL when a trainer is stopped.
const GRACE: Duration = Duration::from_secs(5);

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
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(command)
        .current_dir(run.project)
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
        .stderr(open_log(&stderr_log)?)
        .spawn()
        .with_context(|| format!("starting `sh -c {command:?}`"))?;
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().context("waiting for the trainer")? {
            break status;
        }
        if started.elapsed() >= timeout {
            stop_tree(&mut child);
            bail!(
                "`{command}` did not finish within {}; it was stopped (raise `timeout` in `command(...)`)\
                 {}",
                human_duration(timeout),
                stderr_tail(&stderr_log, &directory)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
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

/// The imported model of `onnx("PATH")`, PATH relative to the project directory.
pub fn read_onnx(project: &Path, path: &str) -> anyhow::Result<Vec<u8>> {
    let full = project.join(path);
    match std::fs::read(&full) {
        Ok(bytes) if bytes.is_empty() => bail!("`onnx(\"{path}\")`: {} is empty", full.display()),
        Ok(bytes) => Ok(bytes),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => bail!(
            "`onnx(\"{path}\")`: no such file {} (the path is relative to the project directory)",
            full.display()
        ),
        Err(error) => Err(anyhow!("`onnx(\"{path}\")`: reading {}: {error}", full.display())),
    }
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

/// SIGTERM to the trainer and every process it started, then SIGKILL to the same after the grace
/// period (processes its shell started may have been re-parented by then, so the first list is kept).
fn stop_tree(child: &mut std::process::Child) {
    let mut pids = descendants(child.id());
    pids.push(child.id());
    signal(&pids, "-TERM");
    let deadline = Instant::now() + GRACE;
    while Instant::now() < deadline {
        if matches!(child.try_wait(), Ok(Some(_))) {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    for pid in descendants(child.id()) {
        if !pids.contains(&pid) {
            pids.push(pid);
        }
    }
    signal(&pids, "-KILL");
    let _ = child.wait();
}

fn signal(pids: &[u32], name: &str) {
    let _ = Command::new("kill")
        .arg(name)
        .arg("--")
        .args(pids.iter().map(u32::to_string))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Every process below `root`, from `/proc` (parent of each process: the field after its name).
fn descendants(root: u32) -> Vec<u32> {
    let mut parents: Vec<(u32, u32)> = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|name| name.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // `pid (name) state ppid ...`; the name may hold spaces and parentheses.
        let parent = stat
            .rfind(')')
            .and_then(|end| stat[end + 1..].split_whitespace().nth(1))
            .and_then(|field| field.parse::<u32>().ok());
        if let Some(parent) = parent {
            parents.push((pid, parent));
        }
    }
    let mut found = Vec::new();
    let mut frontier = vec![root];
    while let Some(parent) = frontier.pop() {
        for (pid, _) in parents.iter().filter(|(_, of)| *of == parent) {
            if !found.contains(pid) {
                found.push(*pid);
                frontier.push(*pid);
            }
        }
    }
    found
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
