//! Writing data sets: Parquet and CSV files with fixed, reproducible settings, into a staging directory
//! that replaces the old data only once everything is written (a killed run leaves no half data set).

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use arrow::array::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::metadata::SortingColumn;
use parquet::file::properties::{EnabledStatistics, WriterProperties, WriterVersion};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{}: {source}", path.display())]
    Parquet {
        path: PathBuf,
        source: parquet::errors::ParquetError,
    },
    #[error("building a record batch: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes a Parquet file of one batch, one row group, Snappy-compressed, with the settings fixed so
/// the same batch always gives the same bytes. `sorted_by` names the column the rows are sorted on.
/// Returns the file's size.
pub fn write_parquet(path: &Path, batch: &RecordBatch, sorted_by: Option<usize>) -> Result<u64, Error> {
    let parquet = |source| Error::Parquet {
        path: path.to_path_buf(),
        source,
    };
    let sorting = sorted_by
        .and_then(|column| i32::try_from(column).ok())
        .map(|column_idx| {
            vec![SortingColumn {
                column_idx,
                descending: false,
                nulls_first: false,
            }]
        });
    let properties = WriterProperties::builder()
        .set_writer_version(WriterVersion::PARQUET_1_0)
        .set_compression(Compression::SNAPPY)
        .set_dictionary_enabled(true)
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_max_row_group_row_count(Some(1 << 20))
        .set_sorting_columns(sorting)
        .build();
    ensure_parent(path)?;
    let file = File::create(path).map_err(io(path))?;
    let mut writer = ArrowWriter::try_new(file, batch.schema(), Some(properties)).map_err(parquet)?;
    writer.write(batch).map_err(parquet)?;
    writer.close().map_err(parquet)?;
    size(path)
}

/// Writes a CSV file with a header; fields are quoted only when they need it. Returns the file's size.
pub fn write_csv(path: &Path, header: &[&str], rows: &[Vec<&str>]) -> Result<u64, Error> {
    ensure_parent(path)?;
    let file = File::create(path).map_err(io(path))?;
    let mut out = BufWriter::new(file);
    let mut line = String::new();
    for row in std::iter::once(header).chain(rows.iter().map(Vec::as_slice)) {
        line.clear();
        for (position, field) in row.iter().enumerate() {
            if position > 0 {
                line.push(',');
            }
            if field.contains([',', '"', '\n', '\r']) {
                line.push('"');
                line.push_str(&field.replace('"', "\"\""));
                line.push('"');
            } else {
                line.push_str(field);
            }
        }
        line.push('\n');
        out.write_all(line.as_bytes()).map_err(io(path))?;
    }
    out.flush().map_err(io(path))?;
    size(path)
}

fn ensure_parent(path: &Path) -> Result<(), Error> {
    match path.parent() {
        Some(parent) => fs::create_dir_all(parent).map_err(io(parent)),
        None => Ok(()),
    }
}

fn size(path: &Path) -> Result<u64, Error> {
    Ok(fs::metadata(path).map_err(io(path))?.len())
}

/// A directory next to the data (`DIR/data/.example-data.tmp`) that receives the new files; `publish`
/// then swaps each location in by renaming. A run killed before `publish` leaves the old data as it
/// was, and the next run removes the leftover staging directory.
pub struct Staging {
    project: PathBuf,
    root: PathBuf,
}

impl Staging {
    pub fn create(project: &Path) -> Result<Staging, Error> {
        let root = project.join("data").join(".example-data.tmp");
        if root.exists() {
            fs::remove_dir_all(&root).map_err(io(&root))?;
        }
        fs::create_dir_all(&root).map_err(io(&root))?;
        Ok(Staging {
            project: project.to_path_buf(),
            root,
        })
    }

    /// Where to write the files of a location (relative to the project, like `data/raw/transactions`).
    pub fn dir(&self, location: &str) -> PathBuf {
        self.root.join("new").join(location)
    }

    /// Moves each staged location to its place, replacing what was there, then removes the staging
    /// directory.
    pub fn publish(self, locations: &[&str]) -> Result<(), Error> {
        for location in locations {
            let staged = self.dir(location);
            let target = self.project.join(location);
            ensure_parent(&target)?;
            if target.exists() {
                let old = self.root.join("old").join(location);
                ensure_parent(&old)?;
                fs::rename(&target, &old).map_err(io(&target))?;
            }
            fs::rename(&staged, &target).map_err(io(&staged))?;
        }
        fs::remove_dir_all(&self.root).map_err(io(&self.root))
    }
}
