//! Pre-flight checks (SPEC §3.5): one report, every check, each with its
//! offenders. Starting an upload needs `passed`, which only `fail` blocks.
//!
//! `fail` is for what would break the migration or lose data; `warn` for what
//! is allowed but someone should see before the point of no return:
//! - active users without a plan (a valid choice, but they lose access);
//! - inactive users holding a plan (allowed, but it spends contract capacity);
//! - inactive users on travel (their offline copy can no longer sync anyway);
//! - a migrator who is not in the roster (often an external consultant: there
//!   is no card to license, so there is nothing to enforce);
//! - reachability not reported by the caller (nothing to judge).

use std::collections::{BTreeMap, HashSet};

use serde::Serialize;
use utoipa::ToSchema;

use super::assignment::{Assignments, RuleViolation};
use super::catalogue::Catalogue;
use super::codes;
use super::roster::Roster;
use super::rules::validate_assignments;
use crate::newtypes::{Email, SourceVersion};

/// Check ids, stable for clients.
pub mod check_ids {
    pub const SOURCE_VERSION: &str = "source_version";
    pub const UNIQUE_EMAILS: &str = "unique_emails";
    pub const LICENSED_USERS_HAVE_USERNAMES: &str = "licensed_users_have_usernames";
    pub const NO_USERS_ON_TRAVEL: &str = "no_users_on_travel";
    pub const NO_ACTIVE_SATELLITES: &str = "no_active_satellites";
    pub const ADMIN_AND_MIGRATOR_LICENSED: &str = "admin_and_migrator_licensed";
    pub const WITHIN_CONTRACT: &str = "within_contract";
    pub const SOURCES_REACHABLE: &str = "sources_reachable";
}
use check_ids as ids;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum CheckStatus {
    Pass,
    Warn,
    Fail,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Check {
    #[schema(example = "source_version")]
    pub id: &'static str,
    pub status: CheckStatus,
    pub message: String,
    /// The users, addresses, satellites or URLs concerned, each with a reason.
    pub offenders: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct PreflightReport {
    /// True when no check failed (warnings do not block).
    pub passed: bool,
    pub checks: Vec<Check>,
}

/// Everything the checks judge. Reachability is I/O, so the caller probes the
/// database dump and archive URLs and passes the outcomes in.
#[derive(Debug, Clone)]
pub struct PreflightInput<'a> {
    pub source_version: &'a SourceVersion,
    pub min_version: &'a SourceVersion,
    pub roster: &'a Roster,
    pub catalogue: &'a Catalogue,
    pub assignments: &'a Assignments,
    pub migrator_email: &'a Email,
    /// `(url, Ok(()) | Err(reason))` per probed source URL.
    pub sources_reachable: Vec<(String, Result<(), String>)>,
}

pub fn run_preflight(input: &PreflightInput<'_>) -> PreflightReport {
    let violations = validate_assignments(
        input.roster,
        input.catalogue,
        input.assignments,
        input.migrator_email,
    );
    let checks = vec![
        source_version(input),
        unique_emails(input),
        licensed_users_have_usernames(input, &violations),
        no_users_on_travel(input),
        no_active_satellites(input),
        admin_and_migrator_licensed(input),
        within_contract(&violations),
        sources_reachable(input),
    ];
    PreflightReport {
        passed: checks.iter().all(|c| c.status != CheckStatus::Fail),
        checks,
    }
}

fn check(
    id: &'static str,
    status: CheckStatus,
    message: impl Into<String>,
    offenders: Vec<String>,
) -> Check {
    Check {
        id,
        status,
        message: message.into(),
        offenders,
    }
}

fn source_version(input: &PreflightInput<'_>) -> Check {
    let (v, min) = (input.source_version, input.min_version);
    if v >= min {
        check(
            ids::SOURCE_VERSION,
            CheckStatus::Pass,
            format!("source version {v} is at least {min}"),
            vec![],
        )
    } else {
        let msg = format!(
            "source version {v} is older than the minimum {min}: upgrade the source installation to {min} or later first, then run the checks again"
        );
        check(
            ids::SOURCE_VERSION,
            CheckStatus::Fail,
            msg,
            vec![v.to_string()],
        )
    }
}

/// An address shared by several cards is fine once one of them — or anyone —
/// logs in with it: migration then removes it from the other cards.
fn unique_emails(input: &PreflightInput<'_>) -> Check {
    let mut holders: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for user in input.roster.users() {
        for e in user.emails() {
            holders.entry(e.key()).or_default().push(user.user_id());
        }
    }
    let chosen: HashSet<String> = input
        .assignments
        .iter()
        .filter(|(id, _)| input.roster.user(id).is_some())
        .filter_map(|(_, a)| a.username.as_ref().map(Email::key))
        .collect();
    let (mut offenders, mut resolved) = (Vec::new(), 0);
    for (address, users) in holders.iter().filter(|(_, u)| u.len() > 1) {
        if chosen.contains(address) {
            resolved += 1;
        } else {
            offenders.push(format!("{address}: on the cards of {}", users.join(", ")));
        }
    }
    if offenders.is_empty() {
        let msg = match resolved {
            0 => "no two users share an email address".to_owned(),
            n => format!(
                "{n} shared address(es) are chosen as user names and will be removed from the other cards"
            ),
        };
        check(ids::UNIQUE_EMAILS, CheckStatus::Pass, msg, vec![])
    } else {
        let msg = format!(
            "{} address(es) are on several cards: remove them in the source, or choose each as one user's user name",
            offenders.len()
        );
        check(ids::UNIQUE_EMAILS, CheckStatus::Fail, msg, offenders)
    }
}

fn licensed_users_have_usernames(
    input: &PreflightInput<'_>,
    violations: &[RuleViolation],
) -> Check {
    const CODES: [&str; 5] = [
        codes::USERNAME_REQUIRED,
        codes::INVALID_USERNAME,
        codes::DUPLICATE_USERNAME,
        codes::USERNAME_WITHOUT_PLAN,
        codes::UNKNOWN_USER,
    ];
    let mut offenders = described(violations, &CODES);
    let failing = offenders.len();
    for user in input.roster.users() {
        let plan = input
            .assignments
            .get(user.user_id())
            .and_then(|a| a.plan.as_deref());
        let named = input
            .assignments
            .get(user.user_id())
            .is_some_and(|a| a.username.is_some());
        if user.active() && user.emails().is_empty() && !named {
            let written = match user.unusable_emails() {
                [] => "no address".to_owned(),
                some => format!("only unusable addresses ({})", some.join(", ")),
            };
            offenders.push(format!(
                "{}: the card has {written}: give them a user name (write a new address)",
                user.user_id()
            ));
        }
        match (user.active(), plan) {
            (true, None) => offenders.push(format!(
                "{}: active but no plan: will lose access",
                user.user_id()
            )),
            (false, Some(p)) => {
                offenders.push(format!("{}: inactive but holds plan {p}", user.user_id()))
            }
            _ => {}
        }
    }
    let warnings = offenders.len() - failing;
    let (status, msg) = if failing > 0 {
        (
            CheckStatus::Fail,
            format!("{failing} user name problem(s); {warnings} warning(s)"),
        )
    } else if warnings > 0 {
        let msg =
            format!("every licensed user has a valid, unique user name; {warnings} warning(s)");
        (CheckStatus::Warn, msg)
    } else {
        let msg = "every active user has a plan and a valid, unique user name";
        (CheckStatus::Pass, msg.to_owned())
    };
    check(ids::LICENSED_USERS_HAVE_USERNAMES, status, msg, offenders)
}

fn no_users_on_travel(input: &PreflightInput<'_>) -> Check {
    let travelling: Vec<_> = input
        .roster
        .users()
        .iter()
        .filter(|u| u.on_travel())
        .collect();
    let offenders = travelling
        .iter()
        .map(|u| {
            let state = if u.active() { "active" } else { "inactive" };
            format!("{} ({}, {state})", u.user_id(), u.full_name())
        })
        .collect();
    if travelling.iter().any(|u| u.active()) {
        let msg = "users on travel must synchronise their offline copy and return first, or their changes are lost";
        check(ids::NO_USERS_ON_TRAVEL, CheckStatus::Fail, msg, offenders)
    } else if !travelling.is_empty() {
        let msg = "only inactive users are on travel; their offline changes cannot be synchronised";
        check(ids::NO_USERS_ON_TRAVEL, CheckStatus::Warn, msg, offenders)
    } else {
        check(
            ids::NO_USERS_ON_TRAVEL,
            CheckStatus::Pass,
            "no user is on travel",
            vec![],
        )
    }
}

fn no_active_satellites(input: &PreflightInput<'_>) -> Check {
    let active: Vec<String> = input
        .roster
        .satellites()
        .iter()
        .filter(|s| s.active())
        .map(|s| s.name().to_owned())
        .collect();
    if active.is_empty() {
        check(
            ids::NO_ACTIVE_SATELLITES,
            CheckStatus::Pass,
            "no satellite is active",
            vec![],
        )
    } else {
        let msg = "active satellites must synchronise and be deactivated first";
        check(ids::NO_ACTIVE_SATELLITES, CheckStatus::Fail, msg, active)
    }
}

fn admin_and_migrator_licensed(input: &PreflightInput<'_>) -> Check {
    let licensed = |id: &str| {
        input
            .assignments
            .get(id)
            .and_then(|a| a.plan.as_deref())
            .is_some_and(|p| input.catalogue.plan(p).is_some())
    };
    let admins: Vec<_> = input
        .roster
        .active_users()
        .filter(|u| u.is_admin())
        .collect();
    let mut offenders = Vec::new();
    let mut status = CheckStatus::Pass;
    let mut notes = Vec::new();
    if !admins.iter().any(|u| licensed(u.user_id())) {
        status = CheckStatus::Fail;
        notes.push("no active administrator holds a valid plan".to_owned());
        offenders.extend(
            admins
                .iter()
                .map(|u| format!("{}: administrator without a plan", u.user_id())),
        );
    }
    let key = input.migrator_email.key();
    let mut migrator: Vec<&str> = input
        .roster
        .users_with_address(input.migrator_email)
        .map(|u| u.user_id())
        .collect();
    for (id, a) in input.assignments {
        if a.username.as_ref().is_some_and(|u| u.key() == key) && input.roster.user(id).is_some() {
            migrator.push(id);
        }
    }
    if migrator.is_empty() {
        status = status.max(CheckStatus::Warn);
        notes.push(format!(
            "the migrator {} is not a user of the source and gets no login",
            input.migrator_email
        ));
    } else if !migrator.iter().any(|id| licensed(id)) {
        status = CheckStatus::Fail;
        notes.push(format!(
            "the migrator {} holds no plan",
            input.migrator_email
        ));
        offenders.extend(
            migrator
                .iter()
                .map(|id| format!("{id}: migrator without a plan")),
        );
    }
    let msg = if notes.is_empty() {
        "an administrator and the migrator hold plans".to_owned()
    } else {
        notes.join("; ")
    };
    check(ids::ADMIN_AND_MIGRATOR_LICENSED, status, msg, offenders)
}

fn within_contract(violations: &[RuleViolation]) -> Check {
    const CODES: [&str; 5] = [
        codes::CAPACITY_EXCEEDED,
        codes::UNKNOWN_PLAN,
        codes::UNKNOWN_ADDON,
        codes::ADDONS_NOT_ALLOWED,
        codes::ADDONS_WITHOUT_PLAN,
    ];
    let offenders = described(violations, &CODES);
    if offenders.is_empty() {
        check(
            ids::WITHIN_CONTRACT,
            CheckStatus::Pass,
            "plan and add-on counts are within the contract",
            vec![],
        )
    } else {
        let msg = "the draft does not fit the contract: change assignments or the contract";
        check(ids::WITHIN_CONTRACT, CheckStatus::Fail, msg, offenders)
    }
}

fn sources_reachable(input: &PreflightInput<'_>) -> Check {
    if input.sources_reachable.is_empty() {
        let msg = "reachability was not checked";
        return check(ids::SOURCES_REACHABLE, CheckStatus::Warn, msg, vec![]);
    }
    let offenders: Vec<String> = input
        .sources_reachable
        .iter()
        .filter_map(|(url, r)| r.as_ref().err().map(|e| format!("{url}: {e}")))
        .collect();
    if offenders.is_empty() {
        check(
            ids::SOURCES_REACHABLE,
            CheckStatus::Pass,
            "the database dump and document archive are reachable",
            vec![],
        )
    } else {
        check(
            ids::SOURCES_REACHABLE,
            CheckStatus::Fail,
            "source URLs are not reachable",
            offenders,
        )
    }
}

fn described(violations: &[RuleViolation], codes: &[&str]) -> Vec<String> {
    violations
        .iter()
        .filter(|v| codes.contains(&v.code))
        .map(|v| match &v.user_id {
            Some(id) => format!("{id}: {}", v.message),
            None => v.message.clone(),
        })
        .collect()
}

#[cfg(test)]
#[path = "preflight_tests.rs"]
mod tests;
