//! Trains `gbdt` on a binary matrix file and prints the holdout AUC and the training time as JSON
//! (used by `benches/gbdt_vs_lightgbm.py`).
//!
//! File layout (little-endian): the 8 bytes `MLSYSMAT`, `rows: u64`, `features: u64`, then the
//! features column-major as `f64` (NaN = missing), then the `rows` labels as `f64` (0/1).
//!
//! ```text
//! cargo run --release -p mlsys-train --example train_file -- FILE --train-rows 800000 \
//!     --trees 200 --depth 6 --learning-rate 0.05 --min-rows-per-leaf 20 --l2 0 --threads 2
//! ```

use std::error::Error;
use std::time::Instant;

use mlsys_train::{Dataset, GbdtParams, Metric, Task, TrainOptions, train_gbdt};

fn main() -> Result<(), Box<dyn Error>> {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    let path = arguments.first().ok_or("usage: train_file FILE [--option value]...")?;
    let mut params = GbdtParams::default();
    let mut options = TrainOptions::default();
    let mut train_rows: Option<usize> = None;
    let mut rest = arguments[1..].iter();
    while let Some(flag) = rest.next() {
        let value = rest.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--trees" => params.trees = value.parse()?,
            "--depth" => params.depth = value.parse()?,
            "--learning-rate" => params.learning_rate = value.parse()?,
            "--min-rows-per-leaf" => params.min_rows_per_leaf = value.parse()?,
            "--l2" => params.l2 = value.parse()?,
            "--subsample" => params.subsample = value.parse()?,
            "--early-stopping-rounds" => params.early_stopping_rounds = value.parse()?,
            "--seed" => params.seed = value.parse()?,
            "--threads" => options.threads = value.parse()?,
            "--train-rows" => train_rows = Some(value.parse()?),
            other => return Err(format!("unknown option {other}").into()),
        }
    }

    let (names, columns, labels) = read_matrix(path)?;
    let rows = labels.len();
    let train_rows = train_rows.unwrap_or(rows * 8 / 10).min(rows);
    let data = Dataset::new(Task::Classification, names, columns, labels)?;
    let training = data.slice_rows(0, train_rows)?;
    let holdout = data.slice_rows(train_rows, rows)?;
    drop(data);

    let started = Instant::now();
    let model = train_gbdt(&training, &params, &options)?;
    let seconds = started.elapsed().as_secs_f64();
    let predictions = model.predict_dataset(&holdout)?;
    let auc = mlsys_train::compute(Metric::Auc, holdout.labels(), &predictions)?;
    let trees = match &model {
        mlsys_train::Model::TreeEnsemble(ensemble) => ensemble.trees.len(),
        _ => 0,
    };
    println!(
        "{}",
        serde_json::json!({
            "auc": auc,
            "seconds": seconds,
            "trees": trees,
            "train_rows": train_rows,
            "holdout_rows": rows - train_rows,
            "threads": options.threads,
        })
    );
    Ok(())
}

type Matrix = (Vec<String>, Vec<Vec<f64>>, Vec<f64>);

fn read_matrix(path: &str) -> Result<Matrix, Box<dyn Error>> {
    let bytes = std::fs::read(path)?;
    if bytes.len() < 24 || &bytes[..8] != b"MLSYSMAT" {
        return Err("not an MLSYSMAT file".into());
    }
    let read_u64 = |offset: usize| -> Result<usize, Box<dyn Error>> {
        let word: [u8; 8] = bytes[offset..offset + 8].try_into()?;
        Ok(usize::try_from(u64::from_le_bytes(word))?)
    };
    let (rows, features) = (read_u64(8)?, read_u64(16)?);
    let expected = 24 + 8 * rows * (features + 1);
    if bytes.len() != expected {
        return Err(format!(
            "expected {expected} bytes for {rows} x {features}, found {}",
            bytes.len()
        )
        .into());
    }
    let values: Vec<f64> = bytes[24..]
        .chunks_exact(8)
        .map(|chunk| {
            f64::from_le_bytes([
                chunk[0], chunk[1], chunk[2], chunk[3], chunk[4], chunk[5], chunk[6], chunk[7],
            ])
        })
        .collect();
    let columns = values.chunks_exact(rows).take(features).map(<[f64]>::to_vec).collect();
    let labels = values[rows * features..].to_vec();
    let names = (0..features).map(|feature| format!("x{feature}")).collect();
    Ok((names, columns, labels))
}
