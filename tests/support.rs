//! Helpers shared by the CLI tests: temporary copies of the example project.

use std::path::{Path, PathBuf};

/// Copies examples/fraud's `.mlsys` files into `directory` (created if needed).
pub fn copy_fraud_spec(directory: &Path) {
    copy_spec("fraud", directory);
}

/// Copies examples/`example`'s `.mlsys` files into `directory` (created if needed).
fn copy_spec(example: &str, directory: &Path) {
    std::fs::create_dir_all(directory).expect("directory");
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples").join(example);
    for entry in std::fs::read_dir(example).expect("example") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|extension| extension == "mlsys") {
            std::fs::copy(&path, directory.join(path.file_name().expect("name"))).expect("copy");
        }
    }
}

/// A fresh, empty temporary project directory.
fn temporary_project(name: &str) -> PathBuf {
    let root = std::env::temp_dir().join(format!("mlsysc-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    root
}

/// A fresh temporary project: the fraud example's spec and its generated data (default seed).
pub fn fraud_project(name: &str) -> PathBuf {
    fraud_project_with(name, &mlsys_example_data::fraud::FraudConfig::default())
}

/// A fresh temporary project: the fraud example's spec and the data of `config`.
pub fn fraud_project_with(name: &str, config: &mlsys_example_data::fraud::FraudConfig) -> PathBuf {
    let root = temporary_project(name);
    copy_fraud_spec(&root);
    write_fraud_data(&root, config);
    root
}

/// (Re)writes the fraud data of `config` under `root`.
pub fn write_fraud_data(root: &Path, config: &mlsys_example_data::fraud::FraudConfig) {
    let data = mlsys_example_data::fraud::generate(config);
    mlsys_example_data::fraud::write(&data, root).expect("data");
}

/// An `mlsysc` server process (`serve-features`, `deploy`) started with `--port 0`: the address
/// is read from its first line of output. Killed when dropped.
pub struct Server {
    child: Option<std::process::Child>,
    pub address: String,
}

impl Server {
    pub fn spawn(arguments: &[&str]) -> Server {
        use std::io::{BufRead, BufReader};
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_mlsysc"))
            .args(arguments)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("the server starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("a first line");
        let address = line
            .split("http://")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("an address in {line:?}"))
            .to_string();
        Server {
            child: Some(child),
            address,
        }
    }

    /// A client of a server another `Server` started.
    pub fn attach(address: String) -> Server {
        Server { child: None, address }
    }

    /// Stops the server as an orchestrator does (SIGTERM) and waits for it to exit.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let child = self.child.as_mut().expect("a server this test started");
        let status = std::process::Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
        child.wait().expect("the server exits")
    }

    /// One HTTP/1.1 request on its own connection: the status code and the whole response text.
    pub fn request(&self, method: &str, path: &str, body: &str) -> (u16, String) {
        self.request_with(method, path, body, "")
    }

    /// [`Server::request`] with extra header lines (each ending in `\r\n`).
    pub fn request_with(&self, method: &str, path: &str, body: &str, headers: &str) -> (u16, String) {
        use std::io::Read;
        let mut stream = std::net::TcpStream::connect(&self.address).expect("connects");
        let message = format!(
            "{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{headers}Connection: close\r\n\r\n{body}",
            body.len()
        );
        std::io::Write::write_all(&mut stream, message.as_bytes()).expect("sent");
        let mut answer = String::new();
        stream.read_to_string(&mut answer).expect("answer");
        let status = answer
            .get(9..12)
            .and_then(|code| code.parse().ok())
            .unwrap_or_else(|| panic!("a status line in {answer:?}"));
        (status, answer)
    }

    /// The response body of a request, as JSON.
    pub fn json(&self, method: &str, path: &str, body: &str) -> (u16, serde_json::Value) {
        let (status, answer) = self.request(method, path, body);
        let body = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
        let json = serde_json::from_str(body).unwrap_or_else(|error| panic!("JSON body ({error}): {answer}"));
        (status, json)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Waits for `condition` to hold, checking every 10 ms; fails the test after `seconds`.
pub fn wait_until(what: &str, seconds: u64, mut condition: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(seconds);
    while !condition() {
        assert!(std::time::Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// A fresh temporary project: the forecast example's spec and its generated data (default seed).
pub fn forecast_project(name: &str) -> PathBuf {
    let root = temporary_project(name);
    copy_spec("forecast", &root);
    let data = mlsys_example_data::forecast::generate(&mlsys_example_data::forecast::ForecastConfig::default());
    mlsys_example_data::forecast::write(&data, &root).expect("data");
    root
}

/// Every row of the Delta table at `path` (a batch target's output, a prediction log, a training
/// split), read by the batch engine.
pub fn read_delta(path: &Path) -> Vec<datafusion::arrow::array::RecordBatch> {
    let table = mlsys_batch::store::TableLocation {
        name: "test".to_string(),
        path: path.to_path_buf(),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let provider = table.provider().await.expect("a Delta table");
        let frame = datafusion::prelude::SessionContext::new()
            .read_table(provider)
            .expect("readable");
        frame.collect().await.expect("its rows")
    })
}

/// A column of `batches` cast to `data_type`, batch after batch.
fn column_as(
    batches: &[datafusion::arrow::array::RecordBatch],
    name: &str,
    data_type: &datafusion::arrow::datatypes::DataType,
) -> Vec<datafusion::arrow::array::ArrayRef> {
    batches
        .iter()
        .map(|batch| {
            let array = batch
                .column_by_name(name)
                .unwrap_or_else(|| panic!("a column `{name}`"));
            datafusion::arrow::compute::cast(array, data_type).expect("castable")
        })
        .collect()
}

/// A text column of `batches` (null as `None`).
pub fn strings(batches: &[datafusion::arrow::array::RecordBatch], name: &str) -> Vec<Option<String>> {
    use datafusion::arrow::array::{Array, AsArray};
    column_as(batches, name, &datafusion::arrow::datatypes::DataType::Utf8)
        .iter()
        .flat_map(|array| {
            let array = array.as_string::<i32>();
            (0..array.len())
                .map(|row| array.is_valid(row).then(|| array.value(row).to_string()))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// A number column of `batches` as float64 (null as NaN).
pub fn floats(batches: &[datafusion::arrow::array::RecordBatch], name: &str) -> Vec<f64> {
    use datafusion::arrow::array::{Array, AsArray};
    use datafusion::arrow::datatypes::Float64Type;
    column_as(batches, name, &datafusion::arrow::datatypes::DataType::Float64)
        .iter()
        .flat_map(|array| {
            let array = array.as_primitive::<Float64Type>();
            (0..array.len())
                .map(|row| {
                    if array.is_valid(row) {
                        array.value(row)
                    } else {
                        f64::NAN
                    }
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// A timestamp column of `batches` as microseconds since the epoch.
pub fn micros(batches: &[datafusion::arrow::array::RecordBatch], name: &str) -> Vec<i64> {
    use datafusion::arrow::array::AsArray;
    use datafusion::arrow::datatypes::Int64Type;
    column_as(batches, name, &datafusion::arrow::datatypes::DataType::Int64)
        .iter()
        .flat_map(|array| array.as_primitive::<Int64Type>().values().to_vec())
        .collect()
}
