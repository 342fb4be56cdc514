//! Logged rows of the fraud model for the monitor's tests and its scale benchmark
//! (`benches/monitor_scale.rs`): a day of rows spread like the training baseline, or drifted.

use std::sync::Arc;

use mlsys_batch::prediction_log::{Features, PredictionRecord, label_key};
use mlsys_compiler::syntax::literal::MICROS_PER_DAY;
use mlsys_kernels::Value;
use mlsys_monitor::{Baseline, Bins, Distribution};

/// A value in bin `bin` of `bins`.
fn value_in(bins: &Bins, bin: usize) -> f64 {
    match bins {
        Bins::Numeric { edges } if bin < edges.len() => edges[bin],
        Bins::Numeric { edges } if bin == edges.len() => edges.last().map_or(0.0, |edge| edge + 1.0),
        Bins::Categorical { categories } if bin < categories.len() => categories[bin],
        Bins::Categorical { .. } if bin == bins.len() - 2 => 7.0,
        _ => f64::NAN,
    }
}

/// `rows` values spread over the bins as `distribution` spreads its own.
fn like(distribution: &Distribution, rows: usize) -> Vec<f64> {
    let shares = distribution.shares();
    (0..rows)
        .map(|row| {
            let target = (row as f64 + 0.5) / rows as f64;
            let mut cumulative = 0.0;
            let bin = shares
                .iter()
                .position(|share| {
                    cumulative += share;
                    cumulative > target
                })
                .unwrap_or(shares.len() - 2);
            value_in(&distribution.bins, bin)
        })
        .collect()
}

/// A day of logged rows, one a second from midnight: like the baseline, or (`drifted`) every input in its top bin.
pub fn day_of_rows(
    baseline: &Baseline,
    names: &Arc<[String]>,
    day: i64,
    drifted: bool,
    rows: usize,
) -> Vec<PredictionRecord> {
    let columns: Vec<Vec<f64>> = baseline
        .inputs
        .iter()
        .map(|input| match drifted {
            false => like(&input.distribution, rows),
            true => vec![value_in(&input.distribution.bins, input.distribution.bins.len() - 2); rows],
        })
        .collect();
    (0..rows)
        .map(|row| {
            let time = day * MICROS_PER_DAY + row as i64 * 1_000_000;
            PredictionRecord {
                request_id: format!("r-{day}-{row}"),
                time,
                example_time: time,
                label_key: Some(label_key(&[Value::String(format!("t-{day}-{row}").into())])),
                model: "fraud_detector".into(),
                version: Some(1),
                features: Features::new(names.clone(), columns.iter().map(|column| column[row]).collect())
                    .expect("features"),
                score: (row % 10) as f64 / 10.0,
                shadow_version: None,
                shadow_score: None,
                fallback: None,
                latency_seconds: 0.001,
            }
        })
        .collect()
}
