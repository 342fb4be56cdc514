//! The examples' data drifts after the models' holdout months, as their monitors must catch
//! (`monitor ... { drift psi > 0.2 ...; metric auc|mape ... baseline }`): measured with the built
//! example and the version the registry trained. The fraud measures run inside the replay test of
//! `deploy.rs` (they need its served inputs); the forecast's here.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use mlsys_monitor::distribution::{Bins, Distribution, psi};

use crate::support::{floats, forecast_project, read_delta, strings};
use crate::train::{mlsysc, text};

/// The registry's holdout value of the production version's headline metric.
pub fn holdout_metric(project: &Path, model: &str) -> f64 {
    let registry = mlsys_registry::Registry::open(&project.join(".mlsys/registry.db")).expect("registry");
    registry
        .resolve(model, &mlsys_registry::StageRef::Production)
        .expect("resolve")
        .expect("a production version")
        .headline()
}

/// The area under the ROC curve of `scores` for `labels` (tied scores share their mean rank).
pub fn auc(labels: &[bool], scores: &[f64]) -> f64 {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|a, b| scores[*a].total_cmp(&scores[*b]));
    let mut ranks = vec![0.0; scores.len()];
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && scores[order[end]] == scores[order[start]] {
            end += 1;
        }
        for index in &order[start..end] {
            ranks[*index] = (start + end + 1) as f64 / 2.0;
        }
        start = end;
    }
    let positives = labels.iter().filter(|label| **label).count() as f64;
    let negatives = labels.len() as f64 - positives;
    let rank_sum: f64 = labels
        .iter()
        .zip(&ranks)
        .filter(|(label, _)| **label)
        .map(|(_, rank)| rank)
        .sum();
    (rank_sum - positives * (positives + 1.0) / 2.0) / (positives * negatives)
}

/// The AUC of the batch target `fraud_nightly`'s stored scores per month (`YYYY-MM`), against
/// the data set's ground truth (every fraud, reported or not yet).
pub fn fraud_auc_by_month(project: &Path) -> BTreeMap<String, f64> {
    let data = mlsys_example_data::fraud::generate(&mlsys_example_data::fraud::FraudConfig::default());
    let truth: HashMap<&str, bool> = data
        .transactions
        .iter()
        .map(|transaction| (transaction.txn_id.as_str(), transaction.fraud))
        .collect();
    let scores = read_delta(&project.join("data/scores/fraud"));
    let mut months: BTreeMap<String, (Vec<bool>, Vec<f64>)> = BTreeMap::new();
    let rows = strings(&scores, "txn_id")
        .into_iter()
        .zip(strings(&scores, "dt"))
        .zip(floats(&scores, "score"));
    for ((txn, day), score) in rows {
        let (txn, day) = (txn.expect("txn_id"), day.expect("dt"));
        let month = months.entry(day[..7].to_string()).or_default();
        month.0.push(truth[txn.as_str()]);
        month.1.push(score);
    }
    months
        .into_iter()
        .map(|(month, (labels, scores))| (month, auc(&labels, &scores)))
        .collect()
}

/// The PSI of `served` values against the baseline of `trained` ones, over the monitor's bins
/// (deciles of the training values, missing values apart).
pub fn psi_against_training(trained: &[f64], served: &[f64]) -> f64 {
    let bins = Bins::quantiles(trained, 10);
    let baseline = Distribution::of(bins.clone(), trained.iter().copied());
    psi(&baseline, &Distribution::of(bins, served.iter().copied())).expect("both sides have values")
}

/// A model input's values in the training snapshot of the model's only training set.
pub fn snapshot_values(project: &Path, model: &str, input: &str) -> Vec<f64> {
    let sets = project.join(".mlsys/offline/training").join(model);
    let set = std::fs::read_dir(&sets)
        .expect("a training set")
        .next()
        .expect("one training set")
        .expect("entry")
        .path();
    floats(&read_delta(&set.join("snapshot")), input)
}

/// The forecast example's September regime change: MAPE of the trained version on September's
/// days is far above its August holdout MAPE (the monitor's `mape over 28d > 1.2 * baseline`).
#[test]
fn forecast_mape_rises_in_september_after_the_regime_change() {
    let project = forecast_project("drift-forecast");
    let output = mlsysc(&project, &["build", "."]);
    assert!(output.status.success(), "{}", text(&output));
    let output = mlsysc(
        &project,
        &[
            "score",
            "demand_weekly",
            ".",
            "--from",
            "2026-08-01",
            "--to",
            "2026-09-30",
        ],
    );
    assert!(output.status.success(), "{}", text(&output));
    let data = mlsys_example_data::forecast::generate(&mlsys_example_data::forecast::ForecastConfig::default());
    let actual: HashMap<(String, String), i64> = data
        .demand
        .iter()
        .filter_map(|row| {
            let site = row.site_id.clone()?;
            Some((
                (site, mlsys_compiler::syntax::literal::format_date(row.day)),
                row.demand,
            ))
        })
        .collect();
    let scores = read_delta(&project.join("data/scores/demand"));
    let mut errors: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let rows = strings(&scores, "site_id")
        .into_iter()
        .zip(strings(&scores, "dt"))
        .zip(floats(&scores, "score"));
    for ((site, day), score) in rows {
        let (site, day) = (site.expect("site_id"), day.expect("dt"));
        let demand = actual[&(site, day.clone())] as f64;
        errors
            .entry(day[..7].to_string())
            .or_default()
            .push(((demand - score) / demand).abs());
    }
    let mape = |month: &str| errors[month].iter().sum::<f64>() / errors[month].len() as f64;
    let (august, september) = (mape("2026-08"), mape("2026-09"));
    let holdout = holdout_metric(&project, "demand_forecast");
    assert!(
        (august - holdout).abs() < 0.005,
        "August is the holdout: {august} vs {holdout}"
    );
    assert!(
        september > 1.3 * holdout,
        "September MAPE {september}, holdout {holdout}"
    );
    std::fs::remove_dir_all(&project).ok();
}
