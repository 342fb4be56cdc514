//! [`Registry`]: the handle on one registry database; registration and the read side (versions,
//! models, lookups by inputs, the event log, integrity checks).

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use crate::error::RegistryError;
use crate::lineage::{Which, insert_version, load_versions};
use crate::schema::open_database;
use crate::types::{Event, EventKind, ModelVersion, NewVersion, Stage};

/// A model registry stored in one SQLite file (default `.mlsys/registry.db` in the project).
///
/// Every change is one `BEGIN IMMEDIATE` transaction: concurrent processes queue on the write lock
/// (up to a 10 s busy timeout) and each sees the others' committed work, so no update is lost; a
/// process killed mid-change leaves nothing of it behind. Every read of several rows is one
/// snapshot.
pub struct Registry {
    pub(crate) connection: Connection,
    path: PathBuf,
    pub(crate) actor: Option<String>,
}

impl Registry {
    /// Opens the registry at `path`. Only a missing file is created (with its directories and the
    /// schema); an existing file must be a registry: an empty file, another program's SQLite
    /// database, a registry missing tables, a corrupt one and one written by a newer schema are
    /// refused, naming the file, and left as they were.
    pub fn open(path: &Path) -> Result<Registry, RegistryError> {
        Ok(Registry {
            connection: open_database(path)?,
            path: path.to_path_buf(),
            actor: None,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Who the following registrations, promotions and rollbacks are recorded as (in
    /// [`Registry::events`]); approvals name their approver themselves.
    pub fn set_actor(&mut self, actor: impl Into<String>) {
        self.actor = Some(actor.into());
    }

    /// Stores the version and its lineage in one transaction, assigning the model's next version
    /// number (1, 2, ...) atomically even with concurrent processes. The new version is a
    /// `candidate`.
    pub fn register(&mut self, new: &NewVersion) -> Result<ModelVersion, RegistryError> {
        self.register_before_commit(new, || {})
    }

    /// [`Registry::register`], calling `before_commit` once everything is written but not yet
    /// committed: the crash tests kill the process there.
    #[doc(hidden)]
    pub fn register_before_commit(
        &mut self,
        new: &NewVersion,
        before_commit: impl FnOnce(),
    ) -> Result<ModelVersion, RegistryError> {
        let invalid = |reason: String| RegistryError::InvalidRegistration {
            model: new.model.clone(),
            reason,
        };
        if new.model.trim().is_empty() {
            return Err(invalid("the model name is empty".to_string()));
        }
        if new.promotion_rules.is_none() {
            return Err(invalid(
                "its promotion rules are missing (every version records the rules it is promoted under)".to_string(),
            ));
        }
        let transaction = self
            .connection
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let latest = latest_version(&transaction, &new.model)?;
        if let Some(compared) = new.production_version
            && (compared == 0 || compared > latest)
        {
            return Err(invalid(format!(
                "it was compared with production v{compared}, which is not a registered version"
            )));
        }
        let version = latest
            .checked_add(1)
            .ok_or_else(|| invalid("the model has no version numbers left".to_string()))?;
        let registered_at = crate::now_micros();
        insert_version(&transaction, new, version, Stage::Candidate, registered_at)?;
        let event = NewEvent {
            model: &new.model,
            version,
            kind: EventKind::Registered,
            from: None,
            to: Stage::Candidate,
            by: self.actor.as_deref(),
            note: None,
            at: registered_at,
        };
        record_event(&transaction, &event)?;
        before_commit();
        transaction.commit()?;
        Ok(ModelVersion {
            model: new.model.clone(),
            version,
            stage: Stage::Candidate,
            approvals: Vec::new(),
            lineage: new.clone(),
            registered_at,
        })
    }

    /// Every version of `model`, ascending (empty for an unknown model).
    pub fn versions(&self, model: &str) -> Result<Vec<ModelVersion>, RegistryError> {
        let snapshot = self.connection.unchecked_transaction()?;
        let versions = load_versions(&snapshot, model, Which::All)?;
        snapshot.finish()?;
        Ok(versions)
    }

    /// The registered model names, sorted.
    pub fn models(&self) -> Result<Vec<String>, RegistryError> {
        model_names(&self.connection)
    }

    /// Version `version` of `model`, if registered.
    pub fn version(&self, model: &str, version: u32) -> Result<Option<ModelVersion>, RegistryError> {
        let snapshot = self.connection.unchecked_transaction()?;
        let found = load_versions(&snapshot, model, Which::One(version))?.pop();
        snapshot.finish()?;
        Ok(found)
    }

    /// The newest version of `model` whose `inputs_fingerprint` is this one, whatever its stage:
    /// training it again would give the same bytes.
    pub fn find_by_inputs(&self, model: &str, inputs_fingerprint: &str) -> Result<Option<ModelVersion>, RegistryError> {
        let snapshot = self.connection.unchecked_transaction()?;
        let newest: Option<u32> = snapshot
            .query_row(
                "SELECT MAX(version) FROM model_versions WHERE model = ?1 AND inputs_fingerprint = ?2",
                params![model, inputs_fingerprint],
                |row| row.get(0),
            )
            .optional()?
            .flatten();
        let found = match newest {
            Some(version) => load_versions(&snapshot, model, Which::One(version))?.pop(),
            None => None,
        };
        snapshot.finish()?;
        Ok(found)
    }

    /// The audit log of `model`: every registration, approval and stage change, in commit order.
    pub fn events(&self, model: &str) -> Result<Vec<Event>, RegistryError> {
        let mut statement = self.connection.prepare_cached(
            "SELECT id, model, version, kind, from_stage, to_stage, actor, note, at
             FROM events WHERE model = ?1 ORDER BY id",
        )?;
        let rows = statement
            .query_map([model], |row| {
                Ok((
                    row.get::<_, i64>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, u32>(2)?,
                    row.get::<_, String>(3)?,
                    row.get::<_, Option<String>>(4)?,
                    row.get::<_, String>(5)?,
                    row.get::<_, Option<String>>(6)?,
                    row.get::<_, Option<String>>(7)?,
                    row.get::<_, i64>(8)?,
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        rows.into_iter()
            .map(|(id, model, version, kind, from, to, by, note, at)| {
                let corrupt = |what: &str| RegistryError::Corrupt {
                    path: Some(self.path.clone()),
                    message: format!("event {id} has an unknown {what}"),
                };
                Ok(Event {
                    id,
                    model,
                    version,
                    kind: EventKind::ALL
                        .into_iter()
                        .find(|candidate| candidate.as_str() == kind)
                        .ok_or_else(|| corrupt("kind"))?,
                    from: from
                        .map(|stage| stage.parse())
                        .transpose()
                        .map_err(|_| corrupt("stage"))?,
                    to: to.parse().map_err(|_| corrupt("stage"))?,
                    by,
                    note,
                    at,
                })
            })
            .collect()
    }

    /// SQLite's `integrity_check` and `foreign_key_check`, plus the registry's own invariant that a
    /// production version is the newest entry of its model's production history.
    pub fn integrity_check(&self) -> Result<(), RegistryError> {
        let corrupt = |message: String| RegistryError::Corrupt {
            path: Some(self.path.clone()),
            message,
        };
        let mut statement = self.connection.prepare("PRAGMA integrity_check")?;
        let problems = statement
            .query_map([], |row| row.get::<_, String>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        if problems != ["ok"] {
            return Err(corrupt(problems.join("; ")));
        }
        let dangling: i64 = self
            .connection
            .query_row("SELECT COUNT(*) FROM pragma_foreign_key_check", [], |row| row.get(0))?;
        if dangling > 0 {
            return Err(corrupt(format!(
                "{dangling} row(s) refer to versions that do not exist"
            )));
        }
        let inconsistent: Option<String> = self
            .connection
            .query_row(
                "SELECT v.model FROM model_versions v
                 WHERE v.stage = 'production' AND v.version IS NOT (
                     SELECT h.version FROM production_history h WHERE h.model = v.model ORDER BY h.id DESC LIMIT 1)
                 LIMIT 1",
                [],
                |row| row.get(0),
            )
            .optional()?;
        if let Some(model) = inconsistent {
            return Err(corrupt(format!(
                "{model}'s production version is not the newest entry of its production history"
            )));
        }
        Ok(())
    }
}

/// The newest version number of `model`, 0 when it has none.
pub(crate) fn latest_version(connection: &Connection, model: &str) -> Result<u32, RegistryError> {
    Ok(connection.query_row(
        "SELECT COALESCE(MAX(version), 0) FROM model_versions WHERE model = ?1",
        [model],
        |row| row.get(0),
    )?)
}

pub(crate) fn model_names(connection: &Connection) -> Result<Vec<String>, RegistryError> {
    let mut statement = connection.prepare_cached("SELECT DISTINCT model FROM model_versions ORDER BY model")?;
    let names = statement
        .query_map([], |row| row.get(0))?
        .collect::<Result<Vec<String>, _>>()?;
    Ok(names)
}

/// The error for a version that is not registered: the model is unknown, or only the version.
pub(crate) fn not_registered(connection: &Connection, model: &str, version: u32) -> RegistryError {
    match latest_version(connection, model) {
        Ok(0) => RegistryError::UnknownModel {
            model: model.to_string(),
            known: model_names(connection).unwrap_or_default(),
        },
        Ok(latest) => RegistryError::UnknownVersion {
            model: model.to_string(),
            version,
            latest,
        },
        Err(error) => error,
    }
}

/// An event about to be recorded.
pub(crate) struct NewEvent<'a> {
    pub model: &'a str,
    pub version: u32,
    pub kind: EventKind,
    pub from: Option<Stage>,
    pub to: Stage,
    pub by: Option<&'a str>,
    pub note: Option<&'a str>,
    pub at: i64,
}

pub(crate) fn record_event(connection: &Connection, event: &NewEvent<'_>) -> Result<(), RegistryError> {
    connection.execute(
        "INSERT INTO events (model, version, kind, from_stage, to_stage, actor, note, at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            event.model,
            event.version,
            event.kind.as_str(),
            event.from.map(Stage::as_str),
            event.to.as_str(),
            event.by,
            event.note,
            event.at
        ],
    )?;
    Ok(())
}
