//! The baseline a model version is monitored against, recorded when it is trained: a histogram
//! of each input over the training snapshot and of the scores it gave its holdout.

use serde::{Deserialize, Serialize};

use crate::distribution::{Bins, Distribution};

/// Bins of a number's histogram: deciles.
pub const DEFAULT_BINS: usize = 10;

/// One model input's histogram.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InputBaseline {
    /// The input's name (the training set's column).
    pub name: String,
    pub distribution: Distribution,
}

/// What a version's traffic is compared with.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    /// One per model input, in input order, over the training snapshot's rows.
    pub inputs: Vec<InputBaseline>,
    /// The version's scores on its holdout.
    pub score: Distribution,
}

/// A model input as training saw it.
pub struct TrainingInput<'a> {
    pub name: &'a str,
    /// The feature's type as the plan prints it (`bool?`, `float64`, ...).
    pub ty: &'a str,
    /// Its values in the training snapshot (NaN for missing).
    pub values: &'a [f64],
}

impl Baseline {
    /// The baseline of a version trained on `inputs` that scored its holdout `holdout_scores`.
    pub fn of(inputs: &[TrainingInput<'_>], holdout_scores: &[f64]) -> Baseline {
        let inputs = inputs
            .iter()
            .map(|input| {
                let bins = if input.ty.trim_end_matches('?') == "bool" {
                    Bins::bool()
                } else {
                    Bins::quantiles(input.values, DEFAULT_BINS)
                };
                InputBaseline {
                    name: input.name.to_string(),
                    distribution: Distribution::of(bins, input.values.iter().copied()),
                }
            })
            .collect();
        let score = Distribution::of(
            Bins::quantiles(holdout_scores, DEFAULT_BINS),
            holdout_scores.iter().copied(),
        );
        Baseline { inputs, score }
    }

    /// The histogram of the input `name`.
    pub fn input(&self, name: &str) -> Option<&Distribution> {
        self.inputs
            .iter()
            .find(|input| input.name == name)
            .map(|input| &input.distribution)
    }
}
