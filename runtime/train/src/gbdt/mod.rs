//! Histogram gradient-boosted trees (`gbdt`): the boosting loop, subsampling and early stopping.
//!
//! Classification boosts the log loss from the log-odds of the mean label, regression the squared
//! error from the mean. Each tree is grown depth-wise on binned data (`grow.rs`), its leaves are
//! `-G / (H + l2) · learning_rate` rounded to float32, and every row's score is updated by adding the
//! leaf it reaches: exactly the native scorer's sum, in the same order, so training scores,
//! checkpoint resumption and `Model::predict` agree to the bit.

mod binning;
pub(crate) mod checkpoint;
mod grow;
mod histogram;
mod parallel;
#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};

use crate::dataset::{Dataset, Task};
use crate::error::TrainError;
use crate::metrics::logloss_term;
use crate::model::{Model, Tree, TreeEnsemble, sigmoid};
use crate::params::{GbdtParams, TrainOptions};
use crate::rng::Rng;
use binning::BinnedMatrix;
use grow::{Gradients, GrowScratch, TreeGrower};
use histogram::SplitRules;

pub(crate) use binning::float32_between;

/// Least hessian per row for classification, so that saturated rows still weigh something.
const MIN_ROW_HESSIAN: f64 = 1e-16;

/// Trains a `gbdt` model. Deterministic for a given data set and parameters, whatever `options`.
pub fn train_gbdt(dataset: &Dataset, params: &GbdtParams, options: &TrainOptions) -> Result<Model, TrainError> {
    let mut run = GbdtRun::start(dataset, params, options)?;
    run.run(&mut |_| Ok(()))?;
    Ok(run.finish())
}

/// Everything the boosting loop needs to continue from where it is: the checkpointed state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Progress {
    pub(crate) trees: Vec<Tree>,
    pub(crate) rng: Rng,
    /// Early stopping: the index of the best tree so far and its validation loss.
    pub(crate) best_iteration: Option<usize>,
    pub(crate) best_loss: Option<f64>,
}

pub(crate) struct GbdtRun<'a> {
    dataset: &'a Dataset,
    params: GbdtParams,
    threads: usize,
    /// Rows `0..train_rows` train; the rest (the last 10% with early stopping) validate.
    train_rows: usize,
    binned: BinnedMatrix,
    base_score: f64,
    scores: Vec<f64>,
    pub(crate) progress: Progress,
}

impl<'a> GbdtRun<'a> {
    pub(crate) fn start(dataset: &'a Dataset, params: &GbdtParams, options: &TrainOptions) -> Result<Self, TrainError> {
        params.validate()?;
        let rows = dataset.rows();
        let validation_rows = if params.early_stopping_rounds > 0 { rows / 10 } else { 0 };
        if params.early_stopping_rounds > 0 && validation_rows == 0 {
            return Err(TrainError::TooFewRowsForEarlyStopping { rows });
        }
        let train_rows = rows - validation_rows;
        let labels = &dataset.labels()[..train_rows];
        let mean = labels.iter().sum::<f64>() / train_rows as f64;
        let base_score = match dataset.task() {
            Task::Regression => mean,
            Task::Classification => {
                if mean == 0.0 || mean == 1.0 {
                    return Err(TrainError::SingleClass { label: mean });
                }
                (mean / (1.0 - mean)).ln()
            }
        };
        let threads = options.threads.max(1);
        let binned = BinnedMatrix::build(dataset, train_rows, threads);
        Ok(GbdtRun {
            dataset,
            params: *params,
            threads,
            train_rows,
            binned,
            base_score,
            scores: vec![base_score; rows],
            progress: Progress {
                trees: Vec::new(),
                rng: Rng::from_seed(params.seed),
                best_iteration: None,
                best_loss: None,
            },
        })
    }

    /// Continues from saved progress: the scores are recomputed from the trees, in tree order, so
    /// they are the bits an uninterrupted run would hold.
    pub(crate) fn restore(&mut self, progress: Progress) {
        let columns = self.dataset.columns();
        self.scores.fill(self.base_score);
        for tree in &progress.trees {
            for (row, score) in self.scores.iter_mut().enumerate() {
                *score += tree.leaf_value(|feature| columns[feature][row]);
            }
        }
        self.progress = progress;
    }

    fn finished(&self) -> bool {
        let trees = self.progress.trees.len();
        if trees >= self.params.trees as usize {
            return true;
        }
        match (self.params.early_stopping_rounds, self.progress.best_iteration) {
            (0, _) | (_, None) => false,
            (rounds, Some(best)) => trees.saturating_sub(best + 1) >= rounds as usize,
        }
    }

    /// Boosts until done, calling `after_tree` after every tree (checkpointing hooks in here).
    pub(crate) fn run(
        &mut self,
        after_tree: &mut dyn FnMut(&GbdtRun<'_>) -> Result<(), TrainError>,
    ) -> Result<(), TrainError> {
        let rules = SplitRules {
            l2: self.params.l2,
            min_rows_per_leaf: u64::from(self.params.min_rows_per_leaf),
        };
        let grower = TreeGrower::new(
            &self.binned,
            rules,
            self.params.depth as usize,
            self.params.learning_rate,
            self.threads,
        );
        let mut scratch = GrowScratch::default();
        let mut gradients = vec![0.0; self.train_rows];
        let mut hessians = vec![0.0; self.train_rows];
        let mut in_bag: Vec<u32> = Vec::with_capacity(self.train_rows);
        let mut out_of_bag: Vec<u32> = Vec::new();
        while !self.finished() {
            self.compute_gradients(&mut gradients, &mut hessians);
            in_bag.clear();
            out_of_bag.clear();
            let contiguous = self.params.subsample >= 1.0;
            for row in 0..self.train_rows as u32 {
                if contiguous || self.progress.rng.next_unit() < self.params.subsample {
                    in_bag.push(row);
                } else {
                    out_of_bag.push(row);
                }
            }
            let grown = grower.grow(
                &mut in_bag,
                contiguous,
                &Gradients {
                    gradients: &gradients,
                    hessians: &hessians,
                },
                &mut scratch,
            );
            for &(value, begin, end) in &grown.leaf_ranges {
                for &row in &in_bag[begin..end] {
                    self.scores[row as usize] += value;
                }
            }
            for &row in &out_of_bag {
                self.scores[row as usize] += grown.binned.leaf_value(grower.binned, row as usize);
            }
            for row in self.train_rows..self.dataset.rows() {
                self.scores[row] += grown.binned.leaf_value(grower.binned, row);
            }
            self.progress.trees.push(grown.tree);
            if self.params.early_stopping_rounds > 0 {
                let loss = self.validation_loss();
                if self.progress.best_loss.is_none_or(|best| loss < best) {
                    self.progress.best_loss = Some(loss);
                    self.progress.best_iteration = Some(self.progress.trees.len() - 1);
                }
            }
            after_tree(self)?;
        }
        Ok(())
    }

    fn compute_gradients(&self, gradients: &mut [f64], hessians: &mut [f64]) {
        let labels = &self.dataset.labels()[..self.train_rows];
        let scores = &self.scores[..self.train_rows];
        match self.dataset.task() {
            Task::Classification => {
                for (((gradient, hessian), &score), &label) in
                    gradients.iter_mut().zip(hessians.iter_mut()).zip(scores).zip(labels)
                {
                    let probability = sigmoid(score);
                    *gradient = probability - label;
                    *hessian = (probability * (1.0 - probability)).max(MIN_ROW_HESSIAN);
                }
            }
            Task::Regression => {
                for (((gradient, hessian), &score), &label) in
                    gradients.iter_mut().zip(hessians.iter_mut()).zip(scores).zip(labels)
                {
                    *gradient = score - label;
                    *hessian = 1.0;
                }
            }
        }
    }

    /// Mean log loss (classification) or mean squared error (regression) on the validation rows.
    fn validation_loss(&self) -> f64 {
        let labels = &self.dataset.labels()[self.train_rows..];
        let scores = &self.scores[self.train_rows..];
        let total: f64 = match self.dataset.task() {
            Task::Classification => labels
                .iter()
                .zip(scores)
                .map(|(&label, &score)| logloss_term(label, sigmoid(score)))
                .sum(),
            Task::Regression => labels
                .iter()
                .zip(scores)
                .map(|(&label, &score)| (label - score).powi(2))
                .sum(),
        };
        total / labels.len() as f64
    }

    /// The model: with early stopping, the trees up to the best iteration.
    pub(crate) fn finish(self) -> Model {
        let mut trees = self.progress.trees;
        if let (true, Some(best)) = (self.params.early_stopping_rounds > 0, self.progress.best_iteration) {
            trees.truncate(best + 1);
        }
        Model::TreeEnsemble(TreeEnsemble {
            task: self.dataset.task(),
            feature_names: self.dataset.feature_names().to_vec(),
            base_score: self.base_score,
            trees,
        })
    }
}
