//! The stage rules: resolving stage references, approvals, promotions and rollbacks
//! (`lang-spec/grammar.md` §7.5 `approval`, §7.6 stages).
//!
//! Transitions a promotion may make (`from` → `to`):
//!
//! | to \ from    | candidate | approved | shadow | production | archived |
//! | ------------ | --------- | -------- | ------ | ---------- | -------- |
//! | `approved`   | yes       | —        | yes    | no         | no       |
//! | `shadow`     | yes       | yes      | —      | no         | yes      |
//! | `production` | yes       | yes      | yes    | —          | yes (manual restore) |
//! | `archived`   | yes       | yes      | yes    | yes (retires it; nothing is left in production) | — |
//!
//! Nothing becomes a `candidate` except by registration. The rules are the version's own, recorded
//! when it was registered ([`PromotionRules`]), never those of the spec at hand when it is promoted:
//! with `approval = required`, `approved`, `shadow` and `production` need at least one recorded
//! approval (one per approver: approving again is refused). Entering production archives the
//! previous production version and pushes the production history that [`Registry::rollback`] pops;
//! entering shadow archives the previous shadow version.

use rusqlite::{Connection, TransactionBehavior, params};

use crate::error::RegistryError;
use crate::lineage::{Which, load_versions};
use crate::registry::{NewEvent, Registry, not_registered, record_event};
use crate::types::{EventKind, ModelVersion, PromotionRules, Stage, StageRef, Transition};

impl Registry {
    /// The version a stage reference names, if any:
    /// - `production`: the version in production;
    /// - `candidate`: the newest version newer than production (or the newest version when nothing
    ///   is in production), archived versions excepted — an archived version was retired on purpose;
    /// - `approved`: the same, among versions with an approval (or moved to `approved` by hand);
    /// - `shadow`: the version in the shadow stage;
    /// - `vN`: version N, whatever its stage.
    pub fn resolve(&self, model: &str, stage: &StageRef) -> Result<Option<ModelVersion>, RegistryError> {
        let versions = self.versions(model)?;
        Ok(resolve_among(&versions, *stage).cloned())
    }

    /// Records an approval of `model` v`version` by `by`; a `candidate` becomes `approved`, other
    /// stages stay as they are. Returns the version as it is now.
    pub fn approve(
        &mut self,
        model: &str,
        version: u32,
        by: &str,
        note: Option<&str>,
    ) -> Result<ModelVersion, RegistryError> {
        let by = by.trim();
        if by.is_empty() {
            return Err(RegistryError::MissingApprover {
                model: model.to_string(),
                version,
            });
        }
        let transaction = self
            .connection
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let current = load_one(&transaction, model, version)?;
        if current.approvals.iter().any(|approval| approval.by == by) {
            return Err(RegistryError::AlreadyApproved {
                model: model.to_string(),
                version,
                by: by.to_string(),
            });
        }
        let at = crate::now_micros();
        transaction.execute(
            "INSERT INTO approvals (model, version, approved_by, approved_at, note) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![model, version, by, at, note],
        )?;
        let stage = if current.stage == Stage::Candidate {
            set_stage(&transaction, model, version, Stage::Approved)?;
            Stage::Approved
        } else {
            current.stage
        };
        let event = NewEvent {
            model,
            version,
            kind: EventKind::Approved,
            from: Some(current.stage),
            to: stage,
            by: Some(by),
            note,
            at,
        };
        record_event(&transaction, &event)?;
        let approved = load_one(&transaction, model, version)?;
        transaction.commit()?;
        Ok(approved)
    }

    /// Moves `model` v`version` to stage `to` under the rules in this module's table and the
    /// version's recorded [`PromotionRules`]. `unrecorded` applies only to a version registered
    /// before the registry recorded rules; such a version is refused when it is `None`.
    pub fn promote(
        &mut self,
        model: &str,
        version: u32,
        to: Stage,
        unrecorded: Option<PromotionRules>,
    ) -> Result<Transition, RegistryError> {
        let actor = self.actor.clone();
        let transaction = self
            .connection
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let versions = load_versions(&transaction, model, Which::All)?;
        let target = versions
            .iter()
            .find(|candidate| candidate.version == version)
            .ok_or_else(|| not_registered(&transaction, model, version))?;
        let from = target.stage;
        check_transition(model, version, from, to)?;
        let rules = target
            .lineage
            .promotion_rules
            .or(unrecorded)
            .ok_or_else(|| RegistryError::RulesNotRecorded {
                model: model.to_string(),
                version,
            })?;
        if rules.approval_required
            && matches!(to, Stage::Approved | Stage::Shadow | Stage::Production)
            && target.approvals.is_empty()
        {
            return Err(RegistryError::ApprovalRequired {
                model: model.to_string(),
                version,
            });
        }
        let at = crate::now_micros();
        let mut archived = None;
        // The replaced version leaves its stage first: the unique indexes allow one at a time.
        let replaced_stage = match to {
            Stage::Production | Stage::Shadow => Some(to),
            _ => None,
        };
        if let Some(stage) = replaced_stage
            && let Some(replaced) = versions.iter().find(|candidate| candidate.stage == stage)
        {
            set_stage(&transaction, model, replaced.version, Stage::Archived)?;
            let event = NewEvent {
                model,
                version: replaced.version,
                kind: EventKind::Replaced,
                from: Some(stage),
                to: Stage::Archived,
                by: actor.as_deref(),
                note: Some(&format!("replaced by v{version}")),
                at,
            };
            record_event(&transaction, &event)?;
            archived = Some(replaced.version);
        }
        set_stage(&transaction, model, version, to)?;
        if to == Stage::Production {
            transaction.execute(
                "INSERT INTO production_history (model, version, entered_at) VALUES (?1, ?2, ?3)",
                params![model, version, at],
            )?;
        }
        if from == Stage::Production {
            // Retired by hand: it leaves the history, so a later rollback skips it.
            pop_production_history(&transaction, model, version)?;
        }
        let event = NewEvent {
            model,
            version,
            kind: EventKind::Promoted,
            from: Some(from),
            to,
            by: actor.as_deref(),
            note: None,
            at,
        };
        record_event(&transaction, &event)?;
        transaction.commit()?;
        Ok(Transition {
            model: model.to_string(),
            version,
            from,
            to,
            archived,
        })
    }

    /// Puts the previous production version of `model` back in production; the current one is
    /// archived. Repeated rollbacks walk further back through the production history.
    pub fn rollback(&mut self, model: &str) -> Result<Transition, RegistryError> {
        let actor = self.actor.clone();
        let transaction = self
            .connection
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let versions = load_versions(&transaction, model, Which::All)?;
        if versions.is_empty() {
            return Err(not_registered(&transaction, model, 1));
        }
        let current = versions
            .iter()
            .find(|candidate| candidate.stage == Stage::Production)
            .ok_or_else(|| RegistryError::NothingInProduction {
                model: model.to_string(),
            })?;
        let history = production_history(&transaction, model)?;
        // The current version is the newest history entry; the one before it is the target.
        let top = history
            .iter()
            .rposition(|(_, entered)| *entered == current.version)
            .unwrap_or(history.len());
        let previous_version = history[..top]
            .iter()
            .rev()
            .map(|(_, entered)| *entered)
            .find(|entered| *entered != current.version)
            .ok_or_else(|| RegistryError::NoPreviousProduction {
                model: model.to_string(),
                current: current.version,
            })?;
        let previous = versions
            .iter()
            .find(|candidate| candidate.version == previous_version)
            .ok_or_else(|| not_registered(&transaction, model, previous_version))?;
        if let Some((id, _)) = history.get(top) {
            transaction.execute(
                "DELETE FROM production_history WHERE model = ?1 AND id >= ?2",
                params![model, id],
            )?;
        }
        let at = crate::now_micros();
        set_stage(&transaction, model, current.version, Stage::Archived)?;
        set_stage(&transaction, model, previous.version, Stage::Production)?;
        let note = format!("rollback from v{} to v{}", current.version, previous.version);
        for (version, from, to) in [
            (current.version, Stage::Production, Stage::Archived),
            (previous.version, previous.stage, Stage::Production),
        ] {
            let event = NewEvent {
                model,
                version,
                kind: EventKind::RolledBack,
                from: Some(from),
                to,
                by: actor.as_deref(),
                note: Some(&note),
                at,
            };
            record_event(&transaction, &event)?;
        }
        transaction.commit()?;
        Ok(Transition {
            model: model.to_string(),
            version: previous.version,
            from: previous.stage,
            to: Stage::Production,
            archived: Some(current.version),
        })
    }
}

/// The stage reference rules of [`Registry::resolve`] over a model's versions (ascending).
pub fn resolve_among(versions: &[ModelVersion], stage: StageRef) -> Option<&ModelVersion> {
    let production = versions.iter().find(|version| version.stage == Stage::Production);
    let newer_than_production = |version: &&ModelVersion| {
        version.version > production.map_or(0, |production| production.version) && version.stage != Stage::Archived
    };
    match stage {
        StageRef::Production => production,
        StageRef::Shadow => versions.iter().find(|version| version.stage == Stage::Shadow),
        StageRef::Candidate => versions.iter().rev().find(newer_than_production),
        StageRef::Approved => versions
            .iter()
            .rev()
            .filter(newer_than_production)
            .find(|version| version.is_approved()),
        StageRef::Version(number) => versions.iter().find(|version| version.version == number),
    }
}

fn check_transition(model: &str, version: u32, from: Stage, to: Stage) -> Result<(), RegistryError> {
    let refuse = |reason: &str| {
        Err(RegistryError::InvalidTransition {
            model: model.to_string(),
            version,
            from,
            to,
            reason: reason.to_string(),
        })
    };
    match (from, to) {
        _ if from == to => refuse(&format!("it is already {to}")),
        (_, Stage::Candidate) => refuse("a version becomes a candidate only when it is registered"),
        (Stage::Production, Stage::Approved | Stage::Shadow) => {
            refuse("it is in production: promote another version to production or roll back first")
        }
        (Stage::Archived, Stage::Approved) => {
            refuse("an archived version comes back through shadow or production (a manual restore)")
        }
        _ => Ok(()),
    }
}

fn load_one(connection: &Connection, model: &str, version: u32) -> Result<ModelVersion, RegistryError> {
    load_versions(connection, model, Which::One(version))?
        .pop()
        .ok_or_else(|| not_registered(connection, model, version))
}

fn set_stage(connection: &Connection, model: &str, version: u32, stage: Stage) -> Result<(), RegistryError> {
    connection.execute(
        "UPDATE model_versions SET stage = ?3 WHERE model = ?1 AND version = ?2",
        params![model, version, stage.as_str()],
    )?;
    Ok(())
}

/// (id, version) of every entry into production, oldest first.
fn production_history(connection: &Connection, model: &str) -> Result<Vec<(i64, u32)>, RegistryError> {
    let mut statement =
        connection.prepare_cached("SELECT id, version FROM production_history WHERE model = ?1 ORDER BY id")?;
    let history = statement
        .query_map([model], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(history)
}

/// Removes the newest history entry of `version` (the production version being retired by hand).
fn pop_production_history(connection: &Connection, model: &str, version: u32) -> Result<(), RegistryError> {
    connection.execute(
        "DELETE FROM production_history WHERE id = (
             SELECT id FROM production_history WHERE model = ?1 AND version = ?2 ORDER BY id DESC LIMIT 1)",
        params![model, version],
    )?;
    Ok(())
}
