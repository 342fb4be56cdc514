//! The stage rules: resolution of stage references, approvals, promotions and rollbacks.

use mlsys_registry::{NewVersion, PromotionRules, Registry, RegistryError, Stage, StageRef, Transition};

use crate::support::{TempDir, in_stage, new_version, register_many, requiring_approval};

fn resolved(registry: &Registry, stage: StageRef) -> Option<u32> {
    registry
        .resolve("fraud", &stage)
        .expect("resolve")
        .map(|version| version.version)
}

#[test]
fn stage_references_resolve_relative_to_production() {
    let directory = TempDir::new("resolve");
    let mut registry = Registry::open(&directory.database()).expect("open");
    assert_eq!(resolved(&registry, StageRef::Candidate), None);
    register_many(&mut registry, "fraud", 2);
    // Nothing in production: every version is newer than production.
    assert_eq!(resolved(&registry, StageRef::Production), None);
    assert_eq!(resolved(&registry, StageRef::Candidate), Some(2));
    assert_eq!(resolved(&registry, StageRef::Approved), None);

    registry
        .promote("fraud", 2, Stage::Production, None)
        .expect("promote v2");
    assert_eq!(resolved(&registry, StageRef::Production), Some(2));
    // v1 is older than production: not a candidate any more.
    assert_eq!(resolved(&registry, StageRef::Candidate), None);

    register_many(&mut registry, "fraud", 2); // v3, v4
    assert_eq!(resolved(&registry, StageRef::Candidate), Some(4));
    registry.approve("fraud", 3, "alice", None).expect("approve v3");
    registry.approve("fraud", 1, "bob", None).expect("approve v1");
    // v1 is approved but older than production.
    assert_eq!(resolved(&registry, StageRef::Approved), Some(3));
    registry.approve("fraud", 4, "alice", None).expect("approve v4");
    assert_eq!(resolved(&registry, StageRef::Approved), Some(4));

    // An archived version is retired on purpose: neither candidate nor approved.
    registry.promote("fraud", 4, Stage::Archived, None).expect("archive v4");
    assert_eq!(resolved(&registry, StageRef::Candidate), Some(3));
    assert_eq!(resolved(&registry, StageRef::Approved), Some(3));

    assert_eq!(resolved(&registry, StageRef::Shadow), None);
    registry.promote("fraud", 3, Stage::Shadow, None).expect("shadow v3");
    assert_eq!(resolved(&registry, StageRef::Shadow), Some(3));
    // A shadow version newer than production is still the candidate.
    assert_eq!(resolved(&registry, StageRef::Candidate), Some(3));

    assert_eq!(resolved(&registry, StageRef::Version(4)), Some(4));
    assert_eq!(resolved(&registry, StageRef::Version(5)), None);
    assert_eq!(registry.resolve("churn", &StageRef::Production).expect("resolve"), None);
}

#[test]
fn stage_names_parse_and_print_lowercase() {
    for stage in Stage::ALL {
        assert_eq!(stage.to_string().parse::<Stage>().expect("parse"), stage);
    }
    assert_eq!("v12".parse::<StageRef>().expect("parse"), StageRef::Version(12));
    assert_eq!("candidate".parse::<StageRef>().expect("parse"), StageRef::Candidate);
    for invalid in ["Production", "v0", "v", "v+1", "v-1", "12", "live"] {
        assert!(invalid.parse::<StageRef>().is_err(), "{invalid}");
    }
    assert!("v1".parse::<Stage>().is_err());
}

#[test]
fn required_approval_blocks_production_and_shadow() {
    let directory = TempDir::new("approval");
    let mut registry = Registry::open(&directory.database()).expect("open");
    register_many(&mut registry, "fraud_detector", 2);
    registry
        .register(&requiring_approval(new_version("fraud_detector", 3)))
        .expect("v3");
    for stage in [Stage::Production, Stage::Shadow, Stage::Approved] {
        let error = registry
            .promote("fraud_detector", 3, stage, None)
            .expect_err("no approval yet");
        assert_eq!(
            error.to_string(),
            "fraud_detector v3 needs an approval: mlsysc approve fraud_detector 3 --by NAME"
        );
    }
    assert_eq!(in_stage(&registry, "fraud_detector", Stage::Candidate), [1, 2, 3]);

    let approved = registry
        .approve("fraud_detector", 3, "alice", Some("checked the holdout"))
        .expect("approve");
    assert_eq!(approved.stage, Stage::Approved);
    assert_eq!(approved.approvals.len(), 1);
    assert_eq!(approved.approvals[0].by, "alice");
    assert_eq!(approved.approvals[0].note.as_deref(), Some("checked the holdout"));
    let second = registry
        .approve("fraud_detector", 3, "bob", None)
        .expect("approve again");
    let approvers: Vec<&str> = second.approvals.iter().map(|approval| approval.by.as_str()).collect();
    assert_eq!(approvers, ["alice", "bob"]);

    let transition = registry
        .promote("fraud_detector", 3, Stage::Production, None)
        .expect("promote");
    assert_eq!(
        transition,
        Transition {
            model: "fraud_detector".to_string(),
            version: 3,
            from: Stage::Approved,
            to: Stage::Production,
            archived: None
        }
    );
    // A version registered without the policy needs no approval.
    registry
        .promote("fraud_detector", 2, Stage::Shadow, None)
        .expect("shadow without policy");

    // Approving a version outside `candidate` records the approval and keeps the stage.
    let production = registry
        .approve("fraud_detector", 3, "carol", None)
        .expect("approve production");
    assert_eq!((production.stage, production.approvals.len()), (Stage::Production, 3));
    let error = registry
        .approve("fraud_detector", 1, " ", None)
        .expect_err("blank approver");
    assert!(matches!(error, RegistryError::MissingApprover { .. }), "{error}");
}

#[test]
fn promotion_to_production_archives_the_previous_one() {
    let directory = TempDir::new("promote");
    let mut registry = Registry::open(&directory.database()).expect("open");
    register_many(&mut registry, "fraud", 3);
    let first = registry.promote("fraud", 1, Stage::Production, None).expect("v1");
    assert_eq!((first.from, first.archived), (Stage::Candidate, None));
    let second = registry.promote("fraud", 2, Stage::Production, None).expect("v2");
    assert_eq!(
        (second.from, second.to, second.archived),
        (Stage::Candidate, Stage::Production, Some(1))
    );
    assert_eq!(in_stage(&registry, "fraud", Stage::Production), [2]);
    assert_eq!(in_stage(&registry, "fraud", Stage::Archived), [1]);

    // Shadow: at most one; the replaced shadow version is archived. Moving the shadow version to
    // production empties the shadow stage.
    registry
        .promote("fraud", 1, Stage::Shadow, None)
        .expect("restore v1 to shadow");
    let replaced = registry.promote("fraud", 3, Stage::Shadow, None).expect("v3 shadow");
    assert_eq!(replaced.archived, Some(1));
    let promoted = registry.promote("fraud", 3, Stage::Production, None).expect("v3");
    assert_eq!((promoted.from, promoted.archived), (Stage::Shadow, Some(2)));
    assert_eq!(in_stage(&registry, "fraud", Stage::Shadow), Vec::<u32>::new());
    assert_eq!(in_stage(&registry, "fraud", Stage::Archived), [1, 2]);

    // An archived version may return to production by hand; it needs its approval like any other.
    registry
        .register(&requiring_approval(new_version("fraud", 4)))
        .expect("v4");
    registry.promote("fraud", 4, Stage::Archived, None).expect("archive v4");
    let error = registry
        .promote("fraud", 4, Stage::Production, None)
        .expect_err("no approval");
    assert!(
        matches!(error, RegistryError::ApprovalRequired { version: 4, .. }),
        "{error}"
    );
    registry.approve("fraud", 4, "alice", None).expect("approve v4");
    let restored = registry
        .promote("fraud", 4, Stage::Production, None)
        .expect("restore v4");
    assert_eq!((restored.from, restored.archived), (Stage::Archived, Some(3)));
    let restored = registry
        .promote("fraud", 1, Stage::Production, None)
        .expect("restore v1");
    assert_eq!((restored.from, restored.archived), (Stage::Archived, Some(4)));
    registry.integrity_check().expect("integrity");
}

#[test]
fn forbidden_transitions_name_the_version_and_the_reason() {
    let directory = TempDir::new("transitions");
    let mut registry = Registry::open(&directory.database()).expect("open");
    register_many(&mut registry, "fraud", 2);
    registry.promote("fraud", 1, Stage::Production, None).expect("v1");
    registry.promote("fraud", 2, Stage::Archived, None).expect("archive v2");
    let cases = [
        (
            1,
            Stage::Candidate,
            "fraud v1 cannot go from production to candidate: a version becomes a candidate only when it is registered",
        ),
        (
            1,
            Stage::Production,
            "fraud v1 cannot go from production to production: it is already production",
        ),
        (
            1,
            Stage::Shadow,
            "fraud v1 cannot go from production to shadow: it is in production: promote another version to production or roll back first",
        ),
        (
            2,
            Stage::Approved,
            "fraud v2 cannot go from archived to approved: an archived version comes back through shadow or production (a manual restore)",
        ),
    ];
    for (version, to, message) in cases {
        let error = registry.promote("fraud", version, to, None).expect_err(message);
        assert_eq!(error.to_string(), message);
        assert!(error.is_refusal());
    }
    let error = registry
        .promote("fraud", 7, Stage::Production, None)
        .expect_err("unknown version");
    assert_eq!(error.to_string(), "fraud has no version 7 (registered: v1..v2)");
    let error = registry
        .promote("churn", 1, Stage::Production, None)
        .expect_err("unknown model");
    assert_eq!(
        error.to_string(),
        "no model named `churn` in the registry (registered: fraud)"
    );
    let error = registry.approve("churn", 1, "alice", None).expect_err("unknown model");
    assert!(matches!(error, RegistryError::UnknownModel { .. }), "{error}");
    // Nothing changed.
    assert_eq!(in_stage(&registry, "fraud", Stage::Production), [1]);
    assert_eq!(in_stage(&registry, "fraud", Stage::Archived), [2]);
}

#[test]
fn rollback_walks_back_through_production_history() {
    let directory = TempDir::new("rollback");
    let mut registry = Registry::open(&directory.database()).expect("open");
    register_many(&mut registry, "fraud", 4);
    let error = registry.rollback("fraud").expect_err("nothing in production");
    assert_eq!(
        error.to_string(),
        "fraud has no version in production: nothing to roll back"
    );
    for version in 1..=3 {
        registry
            .promote("fraud", version, Stage::Production, None)
            .expect("promote");
    }
    let back = registry.rollback("fraud").expect("rollback to v2");
    assert_eq!(
        (back.version, back.from, back.to, back.archived),
        (2, Stage::Archived, Stage::Production, Some(3))
    );
    let back = registry.rollback("fraud").expect("rollback to v1");
    assert_eq!((back.version, back.archived), (1, Some(2)));
    assert_eq!(in_stage(&registry, "fraud", Stage::Production), [1]);
    assert_eq!(in_stage(&registry, "fraud", Stage::Archived), [2, 3]);
    let error = registry.rollback("fraud").expect_err("first production");
    assert_eq!(
        error.to_string(),
        "fraud v1 is the first production version of fraud: there is no previous one to roll back to"
    );

    // A manual restore counts as an entry: rolling back undoes it.
    registry
        .promote("fraud", 3, Stage::Production, None)
        .expect("restore v3");
    assert_eq!(registry.rollback("fraud").expect("undo restore").version, 1);

    // A production version retired by hand leaves the history.
    registry.promote("fraud", 4, Stage::Production, None).expect("v4");
    registry.promote("fraud", 4, Stage::Archived, None).expect("retire v4");
    assert!(matches!(
        registry.rollback("fraud"),
        Err(RegistryError::NothingInProduction { .. })
    ));
    registry.promote("fraud", 2, Stage::Production, None).expect("v2");
    assert_eq!(registry.rollback("fraud").expect("rollback").version, 1);
    registry.integrity_check().expect("integrity");

    let error = registry.rollback("churn").expect_err("unknown model");
    assert!(matches!(error, RegistryError::UnknownModel { .. }), "{error}");
}

#[test]
fn rollback_needs_no_approval_and_leaves_shadow_alone() {
    let directory = TempDir::new("rollback-shadow");
    let mut registry = Registry::open(&directory.database()).expect("open");
    register_many(&mut registry, "fraud", 3);
    registry.promote("fraud", 1, Stage::Production, None).expect("v1");
    registry.promote("fraud", 2, Stage::Production, None).expect("v2");
    registry.promote("fraud", 3, Stage::Shadow, None).expect("v3 shadow");
    registry.rollback("fraud").expect("rollback");
    assert_eq!(in_stage(&registry, "fraud", Stage::Production), [1]);
    assert_eq!(in_stage(&registry, "fraud", Stage::Shadow), [3]);
}

const NO_APPROVAL: PromotionRules = PromotionRules {
    approval_required: false,
};

/// A spec copied without `approval = required` changes nothing: the version's recorded rules
/// decide, whatever rules the caller has at hand.
#[test]
fn promotion_enforces_the_rules_recorded_at_registration() {
    let directory = TempDir::new("recorded-rules");
    let mut registry = Registry::open(&directory.database()).expect("open");
    registry
        .register(&requiring_approval(new_version("fraud", 1)))
        .expect("v1");
    for to in [Stage::Production, Stage::Shadow, Stage::Approved] {
        for given in [None, Some(NO_APPROVAL)] {
            let error = registry
                .promote("fraud", 1, to, given)
                .expect_err("the recorded rule requires an approval");
            assert!(matches!(error, RegistryError::ApprovalRequired { .. }), "{error}");
        }
    }
    registry.approve("fraud", 1, "alice", None).expect("approve");
    registry
        .promote("fraud", 1, Stage::Production, Some(NO_APPROVAL))
        .expect("approved");
}

/// A version registered before rules were recorded is promoted under the rules its caller
/// supplies (the project's), and refused without them.
#[test]
fn a_version_without_recorded_rules_needs_the_callers_rules() {
    let directory = TempDir::new("unrecorded-rules");
    let database = directory.database();
    let mut registry = Registry::open(&database).expect("open");
    register_many(&mut registry, "fraud", 1);
    rusqlite::Connection::open(&database)
        .expect("raw")
        .execute("UPDATE model_versions SET approval_required = NULL", [])
        .expect("forget the rules");
    let error = registry
        .promote("fraud", 1, Stage::Production, None)
        .expect_err("no rules at all");
    assert!(
        matches!(error, RegistryError::RulesNotRecorded { version: 1, .. }),
        "{error}"
    );
    assert!(error.is_refusal());
    let required = PromotionRules {
        approval_required: true,
    };
    let error = registry
        .promote("fraud", 1, Stage::Production, Some(required))
        .expect_err("the project requires an approval");
    assert!(matches!(error, RegistryError::ApprovalRequired { .. }), "{error}");
    registry
        .promote("fraud", 1, Stage::Production, Some(NO_APPROVAL))
        .expect("the project requires none");
}

#[test]
fn registration_without_rules_is_refused() {
    let directory = TempDir::new("no-rules");
    let mut registry = Registry::open(&directory.database()).expect("open");
    let version = NewVersion {
        promotion_rules: None,
        ..new_version("fraud", 1)
    };
    let error = registry.register(&version).expect_err("refused");
    assert!(matches!(error, RegistryError::InvalidRegistration { .. }), "{error}");
    assert!(registry.versions("fraud").expect("versions").is_empty());
}

/// One person approving the same version again adds no approval (nor an event).
#[test]
fn an_approver_counts_once_per_version() {
    let directory = TempDir::new("approve-twice");
    let mut registry = Registry::open(&directory.database()).expect("open");
    register_many(&mut registry, "fraud", 2);
    registry.approve("fraud", 1, "alice", None).expect("first");
    for again in ["alice", " alice "] {
        let error = registry.approve("fraud", 1, again, None).expect_err("again");
        assert!(matches!(error, RegistryError::AlreadyApproved { .. }), "{error}");
        assert!(error.is_refusal());
        assert_eq!(
            error.to_string(),
            "fraud v1 is already approved by alice: an approver counts once"
        );
    }
    registry.approve("fraud", 1, "bob", None).expect("another approver");
    registry.approve("fraud", 2, "alice", None).expect("another version");
    let approvers: Vec<String> = registry
        .version("fraud", 1)
        .expect("read")
        .expect("v1")
        .approvals
        .into_iter()
        .map(|approval| approval.by)
        .collect();
    assert_eq!(approvers, ["alice", "bob"]);
    let approvals = registry
        .events("fraud")
        .expect("events")
        .into_iter()
        .filter(|event| event.kind == mlsys_registry::EventKind::Approved)
        .count();
    assert_eq!(approvals, 3);
}
