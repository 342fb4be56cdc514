//! Dense linear algebra for the linear trainers: input standardisation and a Cholesky solve that
//! tolerates collinear columns.

use crate::dataset::Dataset;

/// Rows are standardised in blocks of this many, so no full standardised copy of the data is made.
pub(crate) const ROW_BLOCK: usize = 512;

/// Per-feature mean and scale of the inputs, with missing values read as 0.0 (as the models read them).
pub(crate) struct Standardizer {
    pub(crate) means: Vec<f64>,
    /// Standard deviation, or 1.0 for a constant column (whose standardised values are all 0).
    pub(crate) scales: Vec<f64>,
}

impl Standardizer {
    pub(crate) fn fit(dataset: &Dataset) -> Standardizer {
        let rows = dataset.rows() as f64;
        let mut means = Vec::with_capacity(dataset.features());
        let mut scales = Vec::with_capacity(dataset.features());
        for column in dataset.columns() {
            let mean = column.iter().map(|&x| zero_if_missing(x)).sum::<f64>() / rows;
            let variance = column.iter().map(|&x| (zero_if_missing(x) - mean).powi(2)).sum::<f64>() / rows;
            let scale = variance.sqrt();
            means.push(mean);
            scales.push(if scale > 0.0 && scale.is_finite() { scale } else { 1.0 });
        }
        Standardizer { means, scales }
    }

    /// Writes the standardised rows `begin..end` row-major into `block` (`features` values per row).
    pub(crate) fn block(&self, dataset: &Dataset, begin: usize, end: usize, block: &mut Vec<f64>) {
        let features = dataset.features();
        block.clear();
        block.resize((end - begin) * features, 0.0);
        for (feature, column) in dataset.columns().iter().enumerate() {
            let (mean, scale) = (self.means[feature], self.scales[feature]);
            for (offset, &x) in column[begin..end].iter().enumerate() {
                block[offset * features + feature] = (zero_if_missing(x) - mean) / scale;
            }
        }
    }

    /// Turns weights on standardised inputs into weights on raw inputs: returns (intercept, weights).
    pub(crate) fn unstandardize(&self, standardized_intercept: f64, standardized_weights: &[f64]) -> (f64, Vec<f64>) {
        let weights: Vec<f64> = standardized_weights
            .iter()
            .zip(&self.scales)
            .map(|(weight, scale)| weight / scale)
            .collect();
        let shift: f64 = weights
            .iter()
            .zip(&self.means)
            .map(|(weight, mean)| weight * mean)
            .sum();
        (standardized_intercept - shift, weights)
    }
}

pub(crate) fn zero_if_missing(x: f64) -> f64 {
    if x.is_nan() { 0.0 } else { x }
}

/// A pivot smaller than this share of its diagonal entry marks a column that (numerically) is a
/// combination of the earlier ones.
const DEPENDENT_PIVOT: f64 = 1e-10;

/// Solves `matrix · x = rhs` for a symmetric positive semi-definite `matrix` (row-major, `size`²).
///
/// A Cholesky factorisation that skips dependent columns: their unknowns are fixed at 0 and the
/// others solve the reduced system, which is a least-squares solution of the full one. So a
/// collinear or constant input gets weight 0 instead of an error or an explosion.
pub(crate) fn solve_semidefinite(matrix: &[f64], rhs: &[f64], size: usize) -> Vec<f64> {
    let mut lower = vec![0.0; size * size];
    let mut active = vec![false; size];
    for j in 0..size {
        let diagonal = matrix[j * size + j];
        let pivot = diagonal - (0..j).map(|k| lower[j * size + k] * lower[j * size + k]).sum::<f64>();
        if !(diagonal > 0.0 && pivot > DEPENDENT_PIVOT * diagonal) {
            continue;
        }
        active[j] = true;
        let root = pivot.sqrt();
        lower[j * size + j] = root;
        for i in j + 1..size {
            let dot: f64 = (0..j).map(|k| lower[i * size + k] * lower[j * size + k]).sum();
            lower[i * size + j] = (matrix[i * size + j] - dot) / root;
        }
    }
    // Forward substitution L·y = rhs, then back substitution Lᵀ·x = y, over the active columns.
    let mut forward = vec![0.0; size];
    for i in 0..size {
        if active[i] {
            let dot: f64 = (0..i).map(|k| lower[i * size + k] * forward[k]).sum();
            forward[i] = (rhs[i] - dot) / lower[i * size + i];
        }
    }
    let mut solution = vec![0.0; size];
    for i in (0..size).rev() {
        if active[i] {
            let dot: f64 = (i + 1..size).map(|k| lower[k * size + i] * solution[k]).sum();
            solution[i] = (forward[i] - dot) / lower[i * size + i];
        }
    }
    solution
}
