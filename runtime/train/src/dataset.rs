//! `Dataset`: the validated in-memory training matrix (column-major float64 features, labels, time order).

use std::collections::HashSet;

use crate::error::DatasetError;

/// What a model predicts: the plan's task, one definition for the compiler and the trainers.
pub use mlsys_compiler::plan::Task;

/// A training or evaluation set, validated once so that every trainer and metric can trust it.
///
/// Invariants (checked by [`Dataset::new`]):
/// - at least one row and one feature column, every column as long as the labels, at most `u32::MAX` rows;
/// - feature names are distinct;
/// - feature values are finite or NaN (NaN = missing). ±infinity is refused: a linear model cannot
///   standardise it and a tree cannot tell two infinities apart from large finite values in a way the
///   float32 thresholds of an exported model reproduce; the feature pipeline should produce null instead;
/// - labels are finite; for classification they are exactly 0.0 or 1.0.
///
/// Rows are in time order: early stopping validates on the last rows.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    task: Task,
    feature_names: Vec<String>,
    columns: Vec<Vec<f64>>,
    labels: Vec<f64>,
}

impl Dataset {
    /// Validates and wraps a column-major matrix.
    pub fn new(
        task: Task,
        feature_names: Vec<String>,
        columns: Vec<Vec<f64>>,
        labels: Vec<f64>,
    ) -> Result<Self, DatasetError> {
        if labels.is_empty() {
            return Err(DatasetError::NoRows);
        }
        if u32::try_from(labels.len()).is_err() {
            return Err(DatasetError::TooManyRows(labels.len()));
        }
        if columns.is_empty() {
            return Err(DatasetError::NoFeatures);
        }
        if feature_names.len() != columns.len() {
            return Err(DatasetError::NameCountMismatch {
                names: feature_names.len(),
                columns: columns.len(),
            });
        }
        let mut seen = HashSet::new();
        for name in &feature_names {
            if !seen.insert(name.as_str()) {
                return Err(DatasetError::DuplicateFeatureName(name.clone()));
            }
        }
        for (name, column) in feature_names.iter().zip(&columns) {
            if column.len() != labels.len() {
                return Err(DatasetError::ColumnLength {
                    feature: name.clone(),
                    expected: labels.len(),
                    found: column.len(),
                });
            }
            if let Some(row) = column.iter().position(|value| value.is_infinite()) {
                return Err(DatasetError::InfiniteFeature {
                    feature: name.clone(),
                    row,
                    value: column[row],
                });
            }
        }
        for (row, &label) in labels.iter().enumerate() {
            if !label.is_finite() {
                return Err(DatasetError::LabelNotFinite { row, value: label });
            }
            if task == Task::Classification && label != 0.0 && label != 1.0 {
                return Err(DatasetError::LabelNotBinary { row, value: label });
            }
        }
        Ok(Dataset {
            task,
            feature_names,
            columns,
            labels,
        })
    }

    pub fn task(&self) -> Task {
        self.task
    }

    pub fn feature_names(&self) -> &[String] {
        &self.feature_names
    }

    /// One slice per feature, each `rows()` long.
    pub fn columns(&self) -> &[Vec<f64>] {
        &self.columns
    }

    pub fn labels(&self) -> &[f64] {
        &self.labels
    }

    pub fn rows(&self) -> usize {
        self.labels.len()
    }

    pub fn features(&self) -> usize {
        self.columns.len()
    }

    /// The feature values of one row, in feature order (allocates; for tests and small jobs).
    pub fn row(&self, row: usize) -> Vec<f64> {
        self.columns
            .iter()
            .map(|column| column.get(row).copied().unwrap_or(f64::NAN))
            .collect()
    }

    /// The rows `begin..end` as a new data set (used to split off a holdout in time order).
    pub fn slice_rows(&self, begin: usize, end: usize) -> Result<Dataset, DatasetError> {
        let end = end.min(self.rows());
        let begin = begin.min(end);
        Dataset::new(
            self.task,
            self.feature_names.clone(),
            self.columns.iter().map(|column| column[begin..end].to_vec()).collect(),
            self.labels[begin..end].to_vec(),
        )
    }
}
