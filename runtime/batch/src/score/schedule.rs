//! When batch targets run: their cron `schedule` (5 fields, UTC, read by `croner` with the
//! POSIX/Vixie rules: a day matches when its day of month *or* its day of week matches, unless one
//! of them is `*`), the last run each target completed (persisted under `.mlsys/schedules/`), and
//! the days a run scores.
//!
//! The rules ([`due_run`]):
//! - A run is due when a scheduled time has come (`<= now`) after the last completed run's
//!   scheduled time. However many scheduled times were missed (the process was down), **one** run
//!   is due, standing for the latest of them, and it scores everything the missed runs would have.
//! - A run scores the **UTC days completed in its interval**: the days whose end (the next
//!   midnight) falls after the previous run's scheduled time and at or before its own. Each such day
//!   is scored whole and replaces that day's partition, so a day is scored once, complete, by the
//!   first run after it ends; a sub-daily schedule's other runs have no day to score.
//! - A target that never ran takes the scheduled time before its first due one as its previous run.
//! - The last run is recorded only after its scores are committed: a failed or killed run is due
//!   again, and re-scoring its days replaces them.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use chrono::{DateTime, TimeZone, Utc};
use croner::Cron;
use mlsys_compiler::plan::DateRange;
use serde::{Deserialize, Serialize};

use crate::features::output::day_of;
use crate::score::{BatchTarget, ScoreError, ScoreReport, ScoredBy, Scorer, score_days};
use crate::store::OfflineStore;

/// Errors reading a schedule or its state.
#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    #[error("schedule `{schedule}` is not a cron schedule")]
    Cron {
        schedule: String,
        #[source]
        error: croner::errors::CronError,
    },
    #[error("schedule `{schedule}` has no run at {at}")]
    NoRun {
        schedule: String,
        at: i64,
        #[source]
        error: croner::errors::CronError,
    },
    #[error("{}: the schedule state", .path.display())]
    StateIo {
        path: PathBuf,
        #[source]
        error: std::io::Error,
    },
    #[error("{}: the schedule state is not valid", .path.display())]
    StateFormat {
        path: PathBuf,
        #[source]
        error: serde_json::Error,
    },
    #[error("{micros} µs is not a time the schedule can represent")]
    Time { micros: i64 },
}

/// A parsed 5-field cron schedule, UTC.
#[derive(Clone, Debug)]
pub struct Schedule {
    text: String,
    cron: Cron,
}

impl Schedule {
    pub fn parse(text: &str) -> Result<Schedule, ScheduleError> {
        let cron = Cron::from_str(text).map_err(|error| ScheduleError::Cron {
            schedule: text.to_string(),
            error,
        })?;
        Ok(Schedule {
            text: text.to_string(),
            cron,
        })
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    /// The first scheduled time strictly after `micros`.
    pub fn next_after(&self, micros: i64) -> Result<i64, ScheduleError> {
        let time = utc(micros)?;
        let next = self
            .cron
            .find_next_occurrence(&time, false)
            .map_err(|error| self.no_run(micros, error))?;
        Ok(next.timestamp_micros())
    }

    /// The last scheduled time at or before `micros`.
    pub fn last_at_or_before(&self, micros: i64) -> Result<i64, ScheduleError> {
        let time = utc(micros)?;
        let previous = self
            .cron
            .find_previous_occurrence(&time, true)
            .map_err(|error| self.no_run(micros, error))?;
        Ok(previous.timestamp_micros())
    }

    fn no_run(&self, at: i64, error: croner::errors::CronError) -> ScheduleError {
        ScheduleError::NoRun {
            schedule: self.text.clone(),
            at,
            error,
        }
    }
}

fn utc(micros: i64) -> Result<DateTime<Utc>, ScheduleError> {
    Utc.timestamp_micros(micros)
        .single()
        .ok_or(ScheduleError::Time { micros })
}

/// A run that is due: the scheduled time it stands for, the previous run's, and the days it scores.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DueRun {
    /// The latest scheduled time that has come (µs since the epoch); recorded as the last run
    /// once the run has committed.
    pub scheduled: i64,
    /// The previous run's scheduled time: the last completed run's, or for a target that never
    /// ran, the scheduled time before `scheduled`.
    pub previous: i64,
    /// Scheduled times in `(previous, scheduled]`: 1 on time, more after downtime (counted up to
    /// [`MAX_COUNTED`]).
    pub covers: u32,
    /// The UTC days completed in `(previous, scheduled]`; `None` when no day ended in it.
    pub days: Option<DateRange>,
}

/// Scheduled times counted in [`DueRun::covers`] at most (a minutely schedule after a long
/// downtime is not walked minute by minute).
pub const MAX_COUNTED: u32 = 10_000;

/// The run due at `now` for `schedule`, given the scheduled time of the last completed run
/// (`None`: never ran); `None` when no scheduled time has come since.
pub fn due_run(schedule: &Schedule, last: Option<i64>, now: i64) -> Result<Option<DueRun>, ScheduleError> {
    let Ok(scheduled) = schedule.last_at_or_before(now) else {
        return Ok(None);
    };
    let previous = match last {
        Some(last) if last >= scheduled => return Ok(None),
        Some(last) => last,
        None => match scheduled.checked_sub(1) {
            Some(before) => schedule.last_at_or_before(before)?,
            None => return Ok(None),
        },
    };
    let mut covers = 0u32;
    let mut at = previous;
    while covers < MAX_COUNTED {
        at = schedule.next_after(at)?;
        if at > scheduled {
            break;
        }
        covers += 1;
    }
    Ok(Some(DueRun {
        scheduled,
        previous,
        covers,
        days: completed_days(previous, scheduled),
    }))
}

/// The UTC days whose end falls in `(from, to]`.
pub fn completed_days(from: i64, to: i64) -> Option<DateRange> {
    // Day d ends at (d + 1) * MICROS_PER_DAY: after `from` from the day holding `from` on, at or
    // before `to` up to the day before the one holding `to`.
    let (first, last) = (day_of(from), day_of(to) - 1);
    (first <= last).then_some(DateRange {
        start: first,
        end: last,
    })
}

/// What the schedule state file of a target holds.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleState {
    pub target: String,
    /// The schedule the last run was made under.
    pub schedule: String,
    /// The scheduled time (µs since the epoch) of the last run whose scores are committed.
    pub last_run: Option<i64>,
}

/// Where a target's schedule state lives under the project's state directory (`.mlsys`).
pub fn state_file(state_directory: &Path, target: &str) -> PathBuf {
    state_directory.join("schedules").join(format!("{target}.json"))
}

impl ScheduleState {
    /// The state in `path`; `None` when there is none yet.
    pub fn load(path: &Path) -> Result<Option<ScheduleState>, ScheduleError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(state_io(path, error)),
        };
        let state = serde_json::from_str(&text).map_err(|error| ScheduleError::StateFormat {
            path: path.to_path_buf(),
            error,
        })?;
        Ok(Some(state))
    }

    /// Saves atomically: a temporary file renamed over the old one.
    pub fn save(&self, path: &Path) -> Result<(), ScheduleError> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|error| state_io(parent, error))?;
        }
        let text = serde_json::to_string_pretty(self).map_err(|error| ScheduleError::StateFormat {
            path: path.to_path_buf(),
            error,
        })?;
        let temporary = path.with_extension("json.tmp");
        std::fs::write(&temporary, text).map_err(|error| state_io(&temporary, error))?;
        std::fs::rename(&temporary, path).map_err(|error| state_io(path, error))
    }
}

fn state_io(path: &Path, error: std::io::Error) -> ScheduleError {
    ScheduleError::StateIo {
        path: path.to_path_buf(),
        error,
    }
}

/// What [`run_due_batch_target`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RanRun {
    pub run: DueRun,
    /// Who scored and what was written; `None` when the run had no completed day to score.
    pub scored: Option<(ScoredBy, ScoreReport)>,
}

/// Runs `target`'s due run at `now`, if one is due: loads the model (`load_model`, called only
/// when there are days to score), scores the run's days into the output, then records the run in
/// the target's state file under `state_directory`. Returns `None` when nothing was due.
pub async fn run_due_batch_target<L>(
    target: &BatchTarget<'_>,
    store: &OfflineStore,
    state_directory: &Path,
    now: i64,
    load_model: L,
) -> Result<Option<RanRun>, ScoreError>
where
    L: FnOnce() -> Result<(Box<dyn Scorer>, ScoredBy), ScoreError>,
{
    let schedule = Schedule::parse(&target.schedule)?;
    let path = state_file(state_directory, &target.name);
    let last = ScheduleState::load(&path)?.and_then(|state| state.last_run);
    let Some(run) = due_run(&schedule, last, now)? else {
        return Ok(None);
    };
    let scored = match run.days {
        Some(days) => {
            let (mut scorer, by) = load_model()?;
            let report = score_days(target, store, days, &by, now, scorer.as_mut()).await?;
            Some((by, report))
        }
        None => None,
    };
    ScheduleState {
        target: target.name.clone(),
        schedule: target.schedule.clone(),
        last_run: Some(run.scheduled),
    }
    .save(&path)?;
    Ok(Some(RanRun { run, scored }))
}
