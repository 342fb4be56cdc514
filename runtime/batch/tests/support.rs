//! Test helpers: a temporary project with the fraud example's spec and generated data.

use std::path::{Path, PathBuf};

use datafusion::arrow::array::RecordBatch;
use datafusion::prelude::SessionContext;
use mlsys_batch::convert::{arrow_type, value_at};
use mlsys_batch::store::TableLocation;
use mlsys_batch::{BuildOptions, BuildReport, Silent};
use mlsys_compiler::compile;
use mlsys_compiler::plan::Plan;
use mlsys_compiler::source::SourceFile;
use mlsys_compiler::types::BaseType;
use mlsys_kernels::value::Value;

pub struct Project {
    pub root: PathBuf,
}

impl Project {
    /// A fresh directory with examples/fraud's `.mlsys` files and the default generated data.
    pub fn fraud(name: &str) -> Project {
        let root = std::env::temp_dir().join(format!("mlsys-batch-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).expect("temp dir");
        let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/fraud");
        for entry in std::fs::read_dir(example).expect("example") {
            let path = entry.expect("entry").path();
            if path.extension().is_some_and(|extension| extension == "mlsys") {
                std::fs::copy(&path, root.join(path.file_name().expect("name"))).expect("copy");
            }
        }
        let data = mlsys_example_data::fraud::generate(&mlsys_example_data::fraud::FraudConfig::default());
        mlsys_example_data::fraud::write(&data, &root).expect("data written");
        Project { root }
    }

    /// A fresh directory holding `files` (paths relative to the project, contents).
    pub fn with_files(name: &str, files: &[(&str, &str)]) -> Project {
        let root = std::env::temp_dir().join(format!("mlsys-batch-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        for (path, text) in files {
            let path = root.join(path);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("dirs");
            std::fs::write(path, text).expect("write");
        }
        Project { root }
    }

    /// Every row of a table, the named columns cast to the Arrow types of `types`.
    pub async fn typed_rows(&self, name: &str, columns: &[(&str, BaseType)]) -> Vec<Vec<Value>> {
        let provider = self.table(name).provider().await.expect("table opens");
        let batches = SessionContext::new()
            .read_table(provider)
            .expect("scan")
            .collect()
            .await
            .expect("collect");
        let mut rows = Vec::new();
        for batch in &batches {
            let arrays: Vec<_> = columns
                .iter()
                .map(|(column, base)| {
                    let array = batch
                        .column_by_name(column)
                        .unwrap_or_else(|| panic!("{name} has `{column}`"));
                    datafusion::arrow::compute::cast(array, &arrow_type(*base)).expect("cast")
                })
                .collect();
            for row in 0..batch.num_rows() {
                rows.push(
                    arrays
                        .iter()
                        .zip(columns)
                        .map(|(array, (_, base))| value_at(array, row, *base))
                        .collect(),
                );
            }
        }
        rows
    }

    pub fn plan(&self) -> Plan {
        let mut files = Vec::new();
        let mut paths: Vec<PathBuf> = std::fs::read_dir(&self.root)
            .expect("project")
            .filter_map(|entry| entry.ok().map(|entry| entry.path()))
            .filter(|path| path.extension().is_some_and(|extension| extension == "mlsys"))
            .collect();
        paths.sort();
        for path in paths {
            let text = std::fs::read_to_string(&path).expect("read");
            files.push(SourceFile::new(path.file_name().expect("name").to_string_lossy(), text));
        }
        let compilation = compile(&files);
        compilation
            .plan
            .unwrap_or_else(|| panic!("the project compiles: {:#?}", compilation.diagnostics))
    }

    pub fn store(&self) -> PathBuf {
        self.root.join(".mlsys/offline")
    }

    pub async fn build(&self, options: &BuildOptions) -> Result<BuildReport, mlsys_batch::BatchError> {
        self.build_into(&self.store(), options).await
    }

    /// A build of the project into the offline store at `store`.
    pub async fn build_into(
        &self,
        store: &Path,
        options: &BuildOptions,
    ) -> Result<BuildReport, mlsys_batch::BatchError> {
        mlsys_batch::build(&self.plan(), &self.root, store, options, &Silent).await
    }

    /// The Delta log of a table: how many commits it has, and the text of the last one.
    pub fn last_commit(&self, table: &str) -> (usize, String) {
        let log = self.store().join(table).join("_delta_log");
        let mut commits: Vec<_> = std::fs::read_dir(&log)
            .expect("log")
            .filter_map(|entry| entry.ok().map(|entry| entry.path()))
            .filter(|path| path.extension().is_some_and(|extension| extension == "json"))
            .collect();
        commits.sort();
        let text = std::fs::read_to_string(commits.last().expect("a commit")).expect("commit");
        (commits.len(), text)
    }

    pub fn table(&self, name: &str) -> TableLocation {
        TableLocation {
            name: name.to_string(),
            path: self.store().join(name),
        }
    }

    /// Every row of a table, sorted, as text lines (for comparing tables).
    pub async fn rows(&self, name: &str) -> Vec<String> {
        self.rows_in(&self.store(), name).await
    }

    /// Every row of a table of the offline store at `store`, sorted, as text lines; none for no table.
    pub async fn rows_in(&self, store: &Path, name: &str) -> Vec<String> {
        let table = TableLocation {
            name: name.to_string(),
            path: store.join(name),
        };
        if !table.exists() {
            return Vec::new();
        }
        let provider = table.provider().await.expect("table opens");
        let context = SessionContext::new();
        let batches: Vec<RecordBatch> = context
            .read_table(provider)
            .expect("scan")
            .collect()
            .await
            .expect("collect");
        // Each row on its own (a batch-wide table would pad cells to the batch's widest value,
        // so the same row would read differently in different files).
        let options = datafusion::arrow::util::display::FormatOptions::default().with_null("NULL");
        let mut lines = Vec::new();
        for batch in &batches {
            let formatters = batch
                .columns()
                .iter()
                .map(|column| datafusion::arrow::util::display::ArrayFormatter::try_new(column.as_ref(), &options))
                .collect::<Result<Vec<_>, _>>()
                .expect("formatters");
            for row in 0..batch.num_rows() {
                let cells: Vec<String> = formatters.iter().map(|cell| cell.value(row).to_string()).collect();
                lines.push(format!("| {} |", cells.join(" | ")));
            }
        }
        lines.sort();
        lines
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}
