//! `mlsysc retrain` and a monitor's `retrain` action: `snapshot` and `holdout` moved forward to the
//! last complete UTC day whose labels are final, the moved ranges' training set built and the new
//! version compared with production on the new holdout, registered once with what triggered it.

use std::path::Path;
use std::sync::Arc;

use mlsys_compiler::syntax::literal::{MICROS_PER_DAY, days_from_civil, format_date};
use mlsys_registry::Stage;

use crate::train::{mlsysc, text, versions};

fn build(project: &Path) {
    let output = mlsysc(project, &["build", "."]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
}

/// `mlsysc retrain MODEL . --at AT --format json`: its JSON outcome.
fn retrain(project: &Path, model: &str, at: &str) -> serde_json::Value {
    let output = mlsysc(project, &["retrain", model, ".", "--at", at, "--format", "json"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    serde_json::from_slice(&output.stdout).unwrap_or_else(|error| panic!("{error}: {}", text(&output)))
}

fn range(from: &str, to: &str) -> serde_json::Value {
    serde_json::json!({"from": from, "to": to})
}

fn edit(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).expect("spec");
    assert!(text.contains(from), "{from} in {}", path.display());
    std::fs::write(path, text.replace(from, to)).expect("edit");
}

#[test]
fn retrain_moves_both_ranges_to_the_last_final_day_and_registers_once() {
    let project = crate::support::forecast_project("retrain-forecast");
    build(&project);
    let first = versions(&project, "demand_forecast");
    assert_eq!(first.len(), 1);
    assert_eq!(
        first[0].stage,
        Stage::Production,
        "promote_if with nothing in production"
    );

    // Labels (the examples' own `demand`) are final through 2026-08-14: the holdout already ends
    // later, on 2026-08-31.
    let early = mlsysc(
        &project,
        &["retrain", "demand_forecast", ".", "--at", "2026-08-15T12:00:00Z"],
    );
    let output = text(&early);
    assert_eq!(early.status.code(), Some(0), "{output}");
    assert!(
        output.contains("nothing newer to learn from: labels are final through 2026-08-14"),
        "{output}"
    );
    assert_eq!(versions(&project, "demand_forecast").len(), 1);

    // The data ends on 2026-09-30: both ranges move 30 days, the holdout ending on that day.
    let outcome = retrain(&project, "demand_forecast", "2026-10-01");
    assert_eq!(outcome["outcome"], "registered", "{outcome}");
    assert_eq!(outcome["version"], 2, "{outcome}");
    assert_eq!(outcome["moved_days"], 30, "{outcome}");
    assert_eq!(outcome["snapshot"], range("2026-03-03", "2026-08-30"), "{outcome}");
    assert_eq!(outcome["holdout"], range("2026-08-31", "2026-09-30"), "{outcome}");
    assert_eq!(outcome["production"]["version"], 1, "{outcome}");
    let all = versions(&project, "demand_forecast");
    assert_eq!(all.len(), 2);
    let (v1, v2) = (&all[0], &all[1]);
    assert_eq!(
        v2.lineage.trigger,
        Some(serde_json::json!({
            "by": "mlsysc retrain",
            "at": "2026-10-01T00:00:00.000000Z",
            "moved_days": 30,
            "snapshot": range("2026-03-03", "2026-08-30"),
            "holdout": range("2026-08-31", "2026-09-30"),
        }))
    );
    assert_eq!(v1.lineage.trigger, None, "a build's version has no trigger");
    assert_ne!(v2.lineage.training_set, v1.lineage.training_set);
    let manifest: serde_json::Value = serde_json::from_str(&v2.lineage.training_manifest).expect("manifest");
    assert_eq!(manifest["snapshot"]["from"], "2026-03-03");
    assert_eq!(manifest["holdout"]["from"], "2026-08-31");
    assert_eq!(manifest["holdout"]["to"], "2026-09-30");
    assert!(
        manifest["holdout"]["rows"].as_u64().is_some_and(|rows| rows > 0),
        "{manifest}"
    );
    // Production was scored on the new holdout, not the one v1 was evaluated on.
    assert_eq!(v2.lineage.production_version, Some(1));
    let production = v2
        .lineage
        .production_metrics
        .as_ref()
        .expect("compared with production");
    assert_ne!(production["mape"], v1.lineage.metrics["mape"]);
    // `promote_if = mape < production.mape` decides, as in a build.
    let better = v2.lineage.metrics["mape"] < production["mape"];
    assert_eq!(v2.lineage.promotable, better);
    assert_eq!(v2.stage == Stage::Production, better, "{outcome}");
    assert_eq!(outcome["promoted"], better, "{outcome}");

    // The same moved ranges on the same data: nothing new, whoever asks.
    let again = retrain(&project, "demand_forecast", "2026-10-01T18:00:00Z");
    assert_eq!(again["outcome"], "unchanged", "{again}");
    assert_eq!(again["version"], 2, "{again}");
    // A build still knows the spec's own training set and version.
    let rebuilt = mlsysc(&project, &["build", "."]);
    assert!(
        text(&rebuilt).contains("unchanged: trained from the same inputs"),
        "{}",
        text(&rebuilt)
    );
    assert_eq!(versions(&project, "demand_forecast").len(), 2);
    let _ = std::fs::remove_dir_all(project);
}

/// The last day whose chargebacks are all in: its end plus `label_delay` (45 days) is no later
/// than the newest chargeback of the example data (its deliberately bad rows are quarantined).
fn last_final_fraud_day() -> i32 {
    let data = mlsys_example_data::fraud::generate(&mlsys_example_data::fraud::FraudConfig::default());
    let newest = data
        .chargebacks
        .iter()
        .filter(|chargeback| {
            matches!(chargeback.is_fraud.as_str(), "true" | "false") && chargeback.reported_at.ends_with('Z')
        })
        .map(|chargeback| chargeback.reported_micros)
        .max()
        .expect("chargebacks");
    let day = (newest - 45 * MICROS_PER_DAY).div_euclid(MICROS_PER_DAY) - 1;
    i32::try_from(day).expect("a day")
}

#[test]
fn a_monitor_retrains_when_its_rule_fires_as_far_as_the_labels_are_final() {
    let project = crate::support::fraud_project("retrain-fraud");
    let spec = project.join("model.mlsys");
    edit(
        &spec,
        "snapshot = 2026-01-01 .. 2026-04-30",
        "snapshot = 2026-01-01 .. 2026-03-31",
    );
    edit(
        &spec,
        "holdout = 2026-05-01 .. 2026-05-31",
        "holdout = 2026-04-01 .. 2026-04-30",
    );
    edit(&spec, "every 1d => alert", "every 1d => retrain");
    build(&project);
    let v1 = versions(&project, "fraud_detector").remove(0);
    let baseline: mlsys_monitor::Baseline =
        serde_json::from_value(v1.lineage.baseline.clone().expect("baseline")).expect("baseline");
    let names: Arc<[String]> = v1.lineage.features.iter().map(|input| input.column.clone()).collect();
    let day = i64::from(days_from_civil(2026, 6, 10));
    let mut records = crate::monitor::day_of_rows(&baseline, &names, day, false, 600);
    records.extend(crate::monitor::day_of_rows(&baseline, &names, day + 1, true, 600));
    crate::monitor::write_log(&project, records);

    // Chargebacks come within 45 days and the data's newest is from 2026-06-30: however late the
    // run, the moved holdout ends on the last day whose chargebacks are all in.
    let last = last_final_fraud_day();
    assert!(last > days_from_civil(2026, 4, 30) && last < days_from_civil(2026, 5, 31));
    let days = last - days_from_civil(2026, 4, 30);
    let snapshot = range("2026-01-01", "2026-03-31");
    let moved = |range: &serde_json::Value| {
        let shift = |key: &str| {
            let date = range[key].as_str().expect("date");
            format_date(mlsys_compiler::syntax::literal::parse_date(date).expect("date") + days)
        };
        serde_json::json!({"from": shift("from"), "to": shift("to")})
    };
    let holdout = moved(&range("2026-04-01", "2026-04-30"));
    assert_eq!(holdout["to"], format_date(last));

    // The drift rule (`=> retrain`, no alert) fires on 2026-06-11: the model is retrained once.
    let monitored = mlsysc(&project, &["monitor", "--at", "2027-01-01", "--format", "json"]);
    assert_eq!(monitored.status.code(), Some(0), "{}", text(&monitored));
    let run: serde_json::Value = serde_json::from_slice(&monitored.stdout).expect("json");
    let fraud = &run["monitors"][0];
    assert_eq!(fraud["alerts"], serde_json::json!([]), "no alert action: {fraud}");
    let actions: Vec<&str> = fraud["actions"]
        .as_array()
        .expect("actions")
        .iter()
        .filter_map(serde_json::Value::as_str)
        .collect();
    assert_eq!(actions.len(), 1, "{actions:?}");
    assert!(
        actions[0].starts_with("drift#0: retrain: fraud_detector: v2 registered"),
        "{actions:?}"
    );
    // `approval = required`: a promotable version still waits for an approval.
    assert!(actions[0].contains("needs approval"), "{actions:?}");
    let all = versions(&project, "fraud_detector");
    assert_eq!(all.len(), 2);
    let v2 = &all[1];
    assert_eq!(v2.stage, Stage::Candidate);
    let trigger = v2.lineage.trigger.as_ref().expect("trigger");
    assert_eq!(trigger["monitor"], "fraud_health", "{trigger}");
    assert_eq!(trigger["rule"], "drift#0", "{trigger}");
    assert!(
        trigger["summary"]
            .as_str()
            .is_some_and(|summary| summary.contains("psi")),
        "{trigger}"
    );
    assert_eq!(trigger["at"], "2027-01-01T00:00:00.000000Z", "{trigger}");
    assert_eq!(trigger["moved_days"], days, "{trigger}");
    assert_eq!(trigger["snapshot"], moved(&snapshot), "{trigger}");
    assert_eq!(trigger["holdout"], holdout, "{trigger}");

    // A re-run sends nothing and retrains nothing; by hand, years later, the labels are no more
    // final than they were: the same ranges, the same version.
    let again = mlsysc(&project, &["monitor", "--at", "2027-01-01", "--format", "json"]);
    let run: serde_json::Value = serde_json::from_slice(&again.stdout).expect("json");
    assert_eq!(run["monitors"][0]["actions"], serde_json::json!([]), "{run}");
    let outcome = retrain(&project, "fraud_detector", "2030-01-01");
    assert_eq!(outcome["outcome"], "unchanged", "{outcome}");
    assert_eq!(outcome["version"], 2, "{outcome}");
    assert_eq!(outcome["holdout"], holdout, "{outcome}");
    assert_eq!(versions(&project, "fraud_detector").len(), 2);
    let _ = std::fs::remove_dir_all(project);
}
