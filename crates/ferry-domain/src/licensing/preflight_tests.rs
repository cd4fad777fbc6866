//! One test per pre-flight check, each failing without its rule.

use super::*;
use crate::licensing::roster::{RosterUserInput, SatelliteInput};
use crate::licensing::test_support::{assign, catalogue, draft, email, roster, roster_inputs};

fn version(s: &str) -> SourceVersion {
    SourceVersion::parse(s).unwrap_or_else(|e| panic!("{e:?}"))
}

/// The fixture draft with Bob logging in as the address he shares with Cid,
/// so that every check passes (Eve without a plan is a warning).
fn good_draft() -> Assignments {
    let mut d = draft();
    d.insert(
        "u2".into(),
        assign(Some("Engage"), &["Marketing"], Some("shared@acme.example")),
    );
    d
}

struct Case {
    version: &'static str,
    roster: Roster,
    draft: Assignments,
    migrator: &'static str,
    sources: Vec<(String, Result<(), String>)>,
}

impl Case {
    fn new() -> Self {
        Self {
            version: "8.3 R05",
            roster: roster(),
            draft: good_draft(),
            migrator: "ann@acme.example",
            sources: vec![
                ("s3://b/db.dump".into(), Ok(())),
                ("s3://b/docs/".into(), Ok(())),
            ],
        }
    }

    fn with_roster(
        mut self,
        edit: impl FnOnce(&mut Vec<RosterUserInput>, &mut Vec<SatelliteInput>),
    ) -> Self {
        let (mut users, mut sats) = roster_inputs();
        edit(&mut users, &mut sats);
        self.roster = Roster::from_inputs(&users, &sats).unwrap_or_else(|e| panic!("{e:?}"));
        self
    }

    fn run(&self) -> PreflightReport {
        let (v, min, cat, migrator) = (
            version(self.version),
            version("7.1"),
            catalogue(),
            email(self.migrator),
        );
        run_preflight(&PreflightInput {
            source_version: &v,
            min_version: &min,
            roster: &self.roster,
            catalogue: &cat,
            assignments: &self.draft,
            migrator_email: &migrator,
            sources_reachable: self.sources.clone(),
        })
    }
}

fn get<'a>(r: &'a PreflightReport, id: &str) -> &'a Check {
    r.checks
        .iter()
        .find(|c| c.id == id)
        .unwrap_or_else(|| panic!("{id}"))
}

#[test]
fn a_good_draft_passes_all_eight_checks_with_one_warning() {
    let r = Case::new().run();
    assert!(r.passed, "{r:#?}");
    let statuses: Vec<_> = r.checks.iter().map(|c| (c.id, c.status)).collect();
    assert_eq!(
        statuses,
        [
            (ids::SOURCE_VERSION, CheckStatus::Pass),
            (ids::UNIQUE_EMAILS, CheckStatus::Pass),
            (ids::LICENSED_USERS_HAVE_USERNAMES, CheckStatus::Warn),
            (ids::NO_USERS_ON_TRAVEL, CheckStatus::Pass),
            (ids::NO_ACTIVE_SATELLITES, CheckStatus::Pass),
            (ids::ADMIN_AND_MIGRATOR_LICENSED, CheckStatus::Pass),
            (ids::WITHIN_CONTRACT, CheckStatus::Pass),
            (ids::SOURCES_REACHABLE, CheckStatus::Pass),
        ]
    );
    assert_eq!(
        get(&r, ids::LICENSED_USERS_HAVE_USERNAMES).offenders,
        ["u5: active but no plan: will lose access"]
    );
}

#[test]
fn old_source_version_says_upgrade_first() {
    let mut case = Case::new();
    case.version = "7.0";
    let r = case.run();
    let c = get(&r, ids::SOURCE_VERSION);
    assert_eq!(c.status, CheckStatus::Fail);
    assert!(
        c.message.contains("upgrade") && c.message.contains("7.1"),
        "{}",
        c.message
    );
    assert!(!r.passed);
}

#[test]
fn shared_addresses_fail_unless_chosen_as_a_user_name() {
    let mut case = Case::new();
    case.draft = draft();
    let r = case.run();
    let c = get(&r, ids::UNIQUE_EMAILS);
    assert_eq!(c.status, CheckStatus::Fail);
    assert_eq!(c.offenders, ["shared@acme.example: on the cards of u2, u3"]);
}

#[test]
fn licensed_users_need_user_names_and_inactive_plans_warn() {
    let mut case = Case::new();
    case.draft
        .insert("u5".into(), assign(Some("Basic"), &[], None));
    let c = get(&case.run(), ids::LICENSED_USERS_HAVE_USERNAMES).clone();
    assert_eq!(c.status, CheckStatus::Fail);
    assert!(c.offenders[0].starts_with("u5:"), "{:?}", c.offenders);

    let mut case = Case::new();
    case.draft.insert(
        "u4".into(),
        assign(Some("Basic"), &[], Some("dee@acme.example")),
    );
    let c = get(&case.run(), ids::LICENSED_USERS_HAVE_USERNAMES).clone();
    assert_eq!(c.status, CheckStatus::Warn);
    assert!(
        c.offenders
            .contains(&"u4: inactive but holds plan Basic".to_owned()),
        "{:?}",
        c.offenders
    );
}

#[test]
fn users_without_a_usable_address_are_named_until_they_have_a_user_name() {
    // Eve's card holds only an address no login takes; she has no plan yet.
    let case = Case::new().with_roster(|u, _| u[4].emails = vec!["eve at home".into()]);
    let c = get(&case.run(), ids::LICENSED_USERS_HAVE_USERNAMES).clone();
    assert_eq!(c.status, CheckStatus::Warn);
    assert!(
        c.offenders.contains(
            &"u5: the card has only unusable addresses (eve at home): give them a user name \
              (write a new address)"
                .to_owned()
        ),
        "{:?}",
        c.offenders
    );
    // A plan without a user name fails, as for anyone.
    let mut case = Case::new().with_roster(|u, _| u[4].emails.clear());
    case.draft
        .insert("u5".into(), assign(Some("Basic"), &[], None));
    let c = get(&case.run(), ids::LICENSED_USERS_HAVE_USERNAMES).clone();
    assert_eq!(c.status, CheckStatus::Fail);
    assert!(
        c.offenders
            .iter()
            .any(|o| o.contains("u5: the card has no address")),
        "{:?}",
        c.offenders
    );
    // Given one, she is no longer named.
    case.draft.insert(
        "u5".into(),
        assign(Some("Basic"), &[], Some("eve@new.example")),
    );
    let c = get(&case.run(), ids::LICENSED_USERS_HAVE_USERNAMES).clone();
    assert!(
        !c.offenders.iter().any(|o| o.starts_with("u5")),
        "{:?}",
        c.offenders
    );
}

#[test]
fn users_on_travel_fail_when_active_and_warn_when_inactive() {
    let r = Case::new().with_roster(|u, _| u[1].on_travel = true).run();
    let c = get(&r, ids::NO_USERS_ON_TRAVEL);
    assert_eq!(
        (c.status, c.offenders.as_slice()),
        (
            CheckStatus::Fail,
            ["u2 (Bob Sales, active)".to_owned()].as_slice()
        )
    );
    let r = Case::new().with_roster(|u, _| u[3].on_travel = true).run();
    assert_eq!(get(&r, ids::NO_USERS_ON_TRAVEL).status, CheckStatus::Warn);
}

#[test]
fn active_satellites_fail() {
    let r = Case::new().with_roster(|_, s| s[0].active = true).run();
    let c = get(&r, ids::NO_ACTIVE_SATELLITES);
    assert_eq!(
        (c.status, c.offenders.as_slice()),
        (CheckStatus::Fail, ["Hamburg".to_owned()].as_slice())
    );
}

#[test]
fn an_administrator_must_hold_a_plan() {
    let mut case = Case::new();
    case.draft.remove("u1");
    case.migrator = "bob@acme.example";
    let c = get(&case.run(), ids::ADMIN_AND_MIGRATOR_LICENSED).clone();
    assert_eq!(c.status, CheckStatus::Fail);
    assert_eq!(c.offenders, ["u1: administrator without a plan"]);
}

#[test]
fn the_migrator_must_hold_a_plan_if_they_are_a_user() {
    let mut case = Case::new();
    case.migrator = "eve@acme.example";
    let c = get(&case.run(), ids::ADMIN_AND_MIGRATOR_LICENSED).clone();
    assert_eq!(
        (c.status, c.offenders.as_slice()),
        (
            CheckStatus::Fail,
            ["u5: migrator without a plan".to_owned()].as_slice()
        )
    );

    case.migrator = "mia@partner.example";
    let c = get(&case.run(), ids::ADMIN_AND_MIGRATOR_LICENSED).clone();
    assert_eq!(c.status, CheckStatus::Warn, "{}", c.message);
}

#[test]
fn counts_over_the_contract_fail() {
    let mut case = Case::new();
    case.draft.insert(
        "u5".into(),
        assign(Some("Admin"), &[], Some("eve@acme.example")),
    );
    let c = get(&case.run(), ids::WITHIN_CONTRACT).clone();
    assert_eq!(c.status, CheckStatus::Fail);
    assert!(c.offenders[0].contains("'Admin'"), "{:?}", c.offenders);
}

#[test]
fn unreachable_sources_fail_and_unchecked_ones_warn() {
    let mut case = Case::new();
    case.sources[1].1 = Err("404 Not Found".into());
    let c = get(&case.run(), ids::SOURCES_REACHABLE).clone();
    assert_eq!(
        (c.status, c.offenders.as_slice()),
        (
            CheckStatus::Fail,
            ["s3://b/docs/: 404 Not Found".to_owned()].as_slice()
        )
    );
    case.sources.clear();
    assert_eq!(
        get(&case.run(), ids::SOURCES_REACHABLE).status,
        CheckStatus::Warn
    );
}

#[test]
fn statuses_serialise_lowercase() {
    assert_eq!(
        serde_json::to_string(&CheckStatus::Warn).expect("json"),
        "\"warn\""
    );
}
