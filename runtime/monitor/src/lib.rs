//! Monitoring (`lang-spec/grammar.md` §7.7): what a served model's inputs and scores looked like
//! when it was trained, how far the traffic has moved from that, and how good its predictions are
//! once their labels have arrived.
//!
//! The crate is pure computation and state: it reads no tables (the CLI hands it the prediction
//! log's and the label source's rows, read by the batch engine) and links no query engine.
//!
//! Code map:
//! - `baseline.rs` — [`Baseline`]: the histograms recorded with a version when it is trained
//!   (each input over the training snapshot, the score over the holdout), stored in the registry.
//! - `evaluate.rs` — a monitor's rules over a target's predictions: drift per period against the
//!   served version's baseline, the metric per window once its labels are final.
//! - `state.rs` — the results evaluated so far, so that a re-run neither recomputes nor re-alerts.
//! - `extent.rs` — what a run reads: the table's example times in spans (the first due period, the
//!   windows without rows) and the merged time ranges of the periods and windows still to evaluate.
//! - `inputs.rs` — a logged row's `features` JSON read straight into the watched inputs' numbers.
//! - `distribution.rs` — [`Distribution`]: a baseline histogram (quantile bins of a number, the
//!   categories of a bool, missing values in a bin of their own), counting values into its bins,
//!   and [`psi`].
//! - `report/` — the monitor's self-contained HTML report: a view model ([`report::Report`]) in,
//!   one page of inline CSS and SVG out ([`report::render`]).

pub mod baseline;
pub mod distribution;
pub mod evaluate;
pub mod extent;
pub mod inputs;
pub mod report;
pub mod state;

pub use baseline::{Baseline, DEFAULT_BINS, InputBaseline, TrainingInput};

pub use distribution::{Bins, Distribution, EMPTY_BIN_SHARE, psi};
