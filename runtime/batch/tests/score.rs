//! Batch scoring targets: the schedule's due runs and catch-up rule (pure, fixed times), scoring
//! days into the output table (idempotent per day, nothing committed by a failed run), scheduled
//! runs with their state, and the latest-score lookup.

use mlsys_batch::BuildOptions;
use mlsys_batch::score::latest::{LatestError, LatestScores};
use mlsys_batch::score::schedule::{DueRun, Schedule, ScheduleState, due_run, run_due_batch_target, state_file};
use mlsys_batch::score::{BatchTarget, ScoreError, ScoredBy, Scorer, score_days};
use mlsys_batch::store::OfflineStore;
use mlsys_compiler::compile;
use mlsys_compiler::plan::DateRange;
use mlsys_compiler::source::SourceFile;
use mlsys_compiler::syntax::literal::parse_date;

use crate::support::Project;
use crate::training::{DISPUTES, PAYMENTS_DAY_1, PAYMENTS_DAY_2, PAYMENTS_EARLIER, SPEC};

const HOUR: i64 = 3_600_000_000;

/// Microseconds of `YYYY-MM-DDTHH:MM` UTC.
fn at(text: &str) -> i64 {
    let (date, time) = text.split_once('T').expect("date and time");
    let (hour, minute) = time.split_once(':').expect("hour and minute");
    let day = i64::from(parse_date(date).expect("date"));
    day * 24 * HOUR + hour.parse::<i64>().expect("hour") * HOUR + minute.parse::<i64>().expect("minute") * 60_000_000
}

fn days(from: &str, to: &str) -> Option<DateRange> {
    Some(DateRange {
        start: parse_date(from).expect("from"),
        end: parse_date(to).expect("to"),
    })
}

fn due(schedule: &str, last: Option<&str>, now: &str) -> Option<DueRun> {
    let schedule = Schedule::parse(schedule).expect("schedule");
    due_run(&schedule, last.map(at), at(now)).expect("due run")
}

#[test]
fn a_nightly_run_scores_the_day_completed_since_the_previous_run() {
    // Never ran: the run of 02:00 today, standing after yesterday's 02:00.
    assert_eq!(
        due("0 2 * * *", None, "2026-03-05T03:00"),
        Some(DueRun {
            scheduled: at("2026-03-05T02:00"),
            previous: at("2026-03-04T02:00"),
            covers: 1,
            days: days("2026-03-04", "2026-03-04"),
        })
    );
    // Already made; and before the first scheduled time of the day, yesterday's is the latest.
    assert_eq!(due("0 2 * * *", Some("2026-03-05T02:00"), "2026-03-05T23:59"), None);
    assert_eq!(due("0 2 * * *", Some("2026-03-04T02:00"), "2026-03-05T01:59"), None);
    // Exactly at the scheduled time, it is due.
    assert_eq!(
        due("0 2 * * *", Some("2026-03-04T02:00"), "2026-03-05T02:00").map(|run| run.scheduled),
        Some(at("2026-03-05T02:00"))
    );
}

#[test]
fn missed_runs_are_caught_up_once_covering_every_missed_day() {
    // Down from the 1st's run to the 5th at 03:00: four scheduled times missed, one run.
    assert_eq!(
        due("0 2 * * *", Some("2026-03-01T02:00"), "2026-03-05T03:00"),
        Some(DueRun {
            scheduled: at("2026-03-05T02:00"),
            previous: at("2026-03-01T02:00"),
            covers: 4,
            days: days("2026-03-01", "2026-03-04"),
        })
    );
    // Weekly on Thursdays at 06:00 (2026-03-05 is a Thursday), three weeks down.
    assert_eq!(
        due("0 6 * * 4", Some("2026-02-12T06:00"), "2026-03-06T00:00"),
        Some(DueRun {
            scheduled: at("2026-03-05T06:00"),
            previous: at("2026-02-12T06:00"),
            covers: 3,
            days: days("2026-02-12", "2026-03-04"),
        })
    );
}

#[test]
fn runs_score_whole_utc_days_only() {
    // A weekly run scores the seven days that ended since the previous one.
    assert_eq!(
        due("0 6 * * 4", None, "2026-03-05T07:00").and_then(|run| run.days),
        days("2026-02-26", "2026-03-04")
    );
    // At midnight, the day that just ended.
    assert_eq!(
        due("0 0 * * *", Some("2026-03-04T00:00"), "2026-03-05T00:00").and_then(|run| run.days),
        days("2026-03-04", "2026-03-04")
    );
    // An hourly run in the middle of the day completes no day; the first after midnight does.
    let run = due("0 * * * *", Some("2026-03-05T09:00"), "2026-03-05T10:30").expect("due");
    assert_eq!((run.scheduled, run.days), (at("2026-03-05T10:00"), None));
    assert_eq!(
        due("0 * * * *", Some("2026-03-05T23:00"), "2026-03-06T00:10").and_then(|run| run.days),
        days("2026-03-05", "2026-03-05")
    );
    // Day of month or day of week (POSIX): the 1st, or a Monday.
    let run = due("0 0 1 * 1", Some("2026-03-01T00:00"), "2026-03-03T00:00").expect("due");
    assert_eq!(run.scheduled, at("2026-03-02T00:00"));
}

#[test]
fn schedules_the_checker_accepts_are_the_ones_the_runtime_reads() {
    let accepted = [
        "0 2 * * *",
        "*/15 * * * *",
        "0 6 * * 4",
        "0 0 1-7/2 * mon-fri",
        "30 1 * * 0,7",
        "0 0 * 1-12/3 SUN",
        "5,10-20/5 0-23/6 1,15 * *",
    ];
    let refused = [
        "0 2 * * * *",
        "5/15 * * * *",
        "0 25 * * *",
        "0 2-1 * * *",
        "0 0 * jan *",
        "0 0 L * *",
    ];
    let spec = |schedule: &str| {
        format!(
            "{SPEC}\nserve nightly {{\n  model = disputes_model@production\n  mode = batch\n  schedule = \"{schedule}\"\n  output = \"scores\"\n}}\n"
        )
    };
    for schedule in accepted {
        let compilation = compile(&[SourceFile::new("spec.mlsys", spec(schedule))]);
        assert!(
            compilation.diagnostics.is_empty(),
            "{schedule}: {:?}",
            compilation.diagnostics
        );
        Schedule::parse(schedule).unwrap_or_else(|error| panic!("{schedule}: {error}"));
    }
    for schedule in refused {
        let compilation = compile(&[SourceFile::new("spec.mlsys", spec(schedule))]);
        assert!(
            compilation
                .diagnostics
                .iter()
                .any(|diagnostic| diagnostic.code.as_str() == "E0505"),
            "{schedule} should be E0505: {:?}",
            compilation.diagnostics
        );
    }
}

/// The training tests' small project with a nightly batch target.
fn scoring_project(name: &str) -> Project {
    let spec = format!(
        "{SPEC}\n/// Nightly scores.\nserve nightly {{\n  model = disputes_model@production\n  mode = batch\n  schedule = \"0 2 * * *\"\n  output = \"data/scores/nightly\"\n}}\n"
    );
    Project::with_files(
        name,
        &[
            ("spec.mlsys", &spec),
            ("data/payments/dt=2026-03-02/part-0.csv", PAYMENTS_DAY_1),
            ("data/payments/dt=2026-03-03/part-0.csv", PAYMENTS_DAY_2),
            ("data/payments/undated.csv", PAYMENTS_EARLIER),
            ("data/disputes/part-0.csv", DISPUTES),
        ],
    )
}

/// Scores a row by the sum of its present inputs plus `offset`; fails on `fail_at_call`.
struct Sum {
    offset: f64,
    calls: usize,
    fail_at_call: Option<usize>,
}

impl Sum {
    fn new(offset: f64) -> Sum {
        Sum {
            offset,
            calls: 0,
            fail_at_call: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("the model broke")]
struct Broke;

impl Scorer for Sum {
    fn score(&mut self, columns: &[Vec<f64>]) -> Result<Vec<f64>, Box<dyn std::error::Error + Send + Sync>> {
        self.calls += 1;
        if self.fail_at_call == Some(self.calls) {
            return Err(Box::new(Broke));
        }
        let rows = columns.first().map_or(0, Vec::len);
        Ok((0..rows)
            .map(|row| {
                columns
                    .iter()
                    .map(|column| column[row])
                    .filter(|value| !value.is_nan())
                    .sum::<f64>()
                    + self.offset
            })
            .collect())
    }
}

fn by(version: u32) -> ScoredBy {
    ScoredBy {
        model: "disputes_model".to_string(),
        version,
    }
}

/// The output's rows as text lines, sorted.
async fn output_rows(project: &Project) -> Vec<String> {
    project.rows_in(&project.root.join("data/scores"), "nightly").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scoring_a_day_again_replaces_it_in_one_commit_and_a_failed_run_commits_nothing() {
    let project = scoring_project("score-days");
    project.build(&BuildOptions::default()).await.expect("build");
    let plan = project.plan();
    let store = OfflineStore::new(project.store());
    let target = BatchTarget::new(&plan, &project.root, "nightly").expect("target");
    let both = days("2026-03-02", "2026-03-03").expect("days");
    let report = score_days(
        &target,
        &store,
        both,
        &by(1),
        at("2026-03-04T02:00"),
        &mut Sum::new(0.0),
    )
    .await
    .expect("scored");
    assert_eq!(report.days, ["2026-03-02", "2026-03-03"]);
    assert_eq!(report.rows, 11, "every payment of both days, labelled or not");
    let first = output_rows(&project).await;
    assert_eq!(first.len(), 11);
    assert!(
        first.iter().all(|row| !row.contains("lost")),
        "the label is not written"
    );
    let schema = target.schema();
    let names: Vec<&str> = schema.fields().iter().map(|field| field.name().as_str()).collect();
    assert_eq!(
        names,
        [
            "payment_id",
            "user_id",
            "amount",
            "paid_at",
            "score",
            "model",
            "version",
            "scored_at",
            "features",
            "dt"
        ]
    );

    // The same day again, same scores: one more commit, the same rows.
    let day = days("2026-03-03", "2026-03-03").expect("day");
    let again = score_days(&target, &store, day, &by(1), at("2026-03-04T02:00"), &mut Sum::new(0.0))
        .await
        .expect("scored again");
    assert_eq!(again.table_version, report.table_version.map(|version| version + 1));
    assert_eq!(output_rows(&project).await, first);

    // A run whose model fails after its first batch leaves the table as it was.
    let mut failing = Sum::new(1.0);
    failing.fail_at_call = Some(1);
    let failed = score_days(&target, &store, both, &by(2), at("2026-03-05T02:00"), &mut failing).await;
    assert!(matches!(failed, Err(ScoreError::Model { .. })), "{failed:?}");
    assert_eq!(
        mlsys_batch::score::latest::log_version(&target.output),
        again.table_version
    );
    assert_eq!(output_rows(&project).await, first);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latest_scores_answer_by_key_and_reload_when_the_table_moves() {
    let project = scoring_project("score-latest");
    project.build(&BuildOptions::default()).await.expect("build");
    let plan = project.plan();
    let store = OfflineStore::new(project.store());
    let target = BatchTarget::new(&plan, &project.root, "nightly").expect("target");
    let keys = target.key_columns().expect("keys");
    assert_eq!(keys, ["user_id", "payment_id"], "the entity key, then the row key");
    let mut latest = LatestScores::load(&store, target.output.clone(), target.timestamp_column(), keys.clone())
        .await
        .expect("no table yet");
    assert_eq!(latest.table_version(), None);
    assert_eq!(latest.get("payment_id", "p7").expect("key"), None);

    let both = days("2026-03-02", "2026-03-03").expect("days");
    score_days(
        &target,
        &store,
        both,
        &by(1),
        at("2026-03-04T02:00"),
        &mut Sum::new(0.0),
    )
    .await
    .expect("scored");
    assert!(latest.refresh(&store).await.expect("refresh"));
    assert!(
        !latest.refresh(&store).await.expect("unchanged"),
        "same version: no reload"
    );
    let p7 = latest.get("payment_id", "p7").expect("key").expect("p7 scored").clone();
    assert_eq!((p7.date.as_str(), p7.version), ("2026-03-03", 1));
    // u1's latest example is p7 (2026-03-03 00:00); u2's two on 2026-03-02/03 → the later one.
    let u1 = latest.get("user_id", "u1").expect("key").expect("u1");
    assert_eq!(u1.timestamp, Some(at("2026-03-03T00:00")));
    assert_eq!(u1.score, p7.score);

    // Re-scored later by v2 on day 2 only: day 2's keys answer v2, day 1's still v1.
    let day = days("2026-03-03", "2026-03-03").expect("day");
    score_days(
        &target,
        &store,
        day,
        &by(2),
        at("2026-03-05T02:00"),
        &mut Sum::new(100.0),
    )
    .await
    .expect("re-scored");
    assert!(latest.refresh(&store).await.expect("refresh"));
    let p7 = latest.get("payment_id", "p7").expect("key").expect("p7");
    assert_eq!(p7.version, 2);
    assert!(p7.score >= 100.0);
    assert_eq!(latest.get("payment_id", "p1").expect("key").expect("p1").version, 1);
    assert!(matches!(
        latest.get("amount", "10"),
        Err(LatestError::UnknownKey { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduled_runs_score_their_days_once_and_record_the_run() {
    let project = scoring_project("score-due");
    project.build(&BuildOptions::default()).await.expect("build");
    let plan = project.plan();
    let store = OfflineStore::new(project.store());
    let target = BatchTarget::new(&plan, &project.root, "nightly").expect("target");
    let state = project.root.join(".mlsys");
    let loads = std::cell::Cell::new(0);
    let load = || {
        loads.set(loads.get() + 1);
        Ok((Box::new(Sum::new(0.0)) as Box<dyn Scorer>, by(1)))
    };
    // First run at 02:30 on the 4th: the 3rd.
    let ran = run_due_batch_target(&target, &store, &state, at("2026-03-04T02:30"), load)
        .await
        .expect("ran")
        .expect("due");
    let (_, report) = ran.scored.expect("scored");
    assert_eq!(
        (report.days.as_slice(), report.rows),
        (&["2026-03-03".to_string()][..], 5)
    );
    let saved = ScheduleState::load(&state_file(&state, "nightly")).expect("state");
    assert_eq!(saved.and_then(|state| state.last_run), Some(at("2026-03-04T02:00")));
    // Nothing more is due that day, and no model is loaded for it.
    let none = run_due_batch_target(&target, &store, &state, at("2026-03-04T23:00"), || {
        panic!("no model is loaded when nothing is due")
    })
    .await
    .expect("nothing due");
    assert_eq!(none, None);
    // Down two nights: one run covering both, scoring the 4th (p11) and the 5th (no payments).
    let ran = run_due_batch_target(&target, &store, &state, at("2026-03-06T09:00"), load)
        .await
        .expect("ran")
        .expect("due");
    assert_eq!((ran.run.covers, ran.run.previous), (2, at("2026-03-04T02:00")));
    let (_, report) = ran.scored.expect("scored");
    assert_eq!(report.days, ["2026-03-04", "2026-03-05"]);
    assert_eq!(loads.get(), 2);
    assert_eq!(report.rows, 1);
    assert_eq!(output_rows(&project).await.len(), 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scoring_before_a_build_is_refused_and_writes_nothing() {
    let project = scoring_project("score-unbuilt");
    let plan = project.plan();
    let store = OfflineStore::new(project.store());
    let target = BatchTarget::new(&plan, &project.root, "nightly").expect("target");
    let day = days("2026-03-03", "2026-03-03").expect("day");
    let result = score_days(&target, &store, day, &by(1), at("2026-03-04T02:00"), &mut Sum::new(0.0)).await;
    assert!(matches!(result, Err(ScoreError::NotBuilt { .. })), "{result:?}");
    assert!(!target.output.exists());
}

#[test]
fn an_unknown_or_realtime_target_is_refused_by_name() {
    let project = scoring_project("score-unknown");
    let plan = project.plan();
    let unknown = BatchTarget::new(&plan, &project.root, "weekly").err().expect("unknown");
    assert_eq!(unknown.to_string(), "no serve target `weekly`; batch targets: nightly");
    let realtime = BatchTarget::new(&plan, &project.root, "disputes_api")
        .err()
        .expect("realtime");
    assert!(matches!(realtime, ScoreError::NotBatch { .. }), "{realtime}");
}
