//! The manual path (SPEC §3.4): set plan, add-ons or user name for a chosen
//! list of users at once, then check the whole result with the shared engine.

use serde::{Deserialize, Deserializer};
use utoipa::ToSchema;

use super::assignment::{
    Assignments, RuleViolation, addons_from_input, plan_from_input, prune_to_roster,
};
use super::caseless::Caseless;
use super::catalogue::Catalogue;
use super::codes::{self, columns};
use super::roster::Roster;
use super::rules::validate_assignments;
use super::username::default_username;
use crate::newtypes::Email;
use crate::newtypes::schemas::EmailOrBlank;

/// Request body of a bulk edit. A field left out is left unchanged; `null`
/// (or `""`) for `set_plan` / `set_username` clears it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkEdit {
    #[schema(example = json!(["u1001", "u1002"]))]
    pub user_ids: Vec<String>,
    /// Absent: unchanged. `null`: no licence (also clears add-ons and user
    /// name unless they are set in the same edit). A name: that plan.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, nullable = true, example = "Engage")]
    pub set_plan: Option<Option<String>>,
    /// Absent: unchanged. A list (maybe empty): exactly these add-ons.
    #[serde(default)]
    pub set_addons: Option<Vec<String>>,
    /// Absent: unchanged (a user newly given a plan gets their first address).
    /// `null`: cleared. An address: that user name.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<EmailOrBlank>, nullable = true)]
    pub set_username: Option<Option<String>>,
}

/// Tells a field sent as `null` (`Some(None)`) from one left out (`None`,
/// via `#[serde(default)]`).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// Applies `edit` to `assignments` and checks the complete result. All or
/// nothing: on any violation the caller keeps the old draft.
///
/// Clearing a plan also clears add-ons and user name (a user without a
/// licence has neither), unless the same edit sets them, in which case the
/// engine reports the contradiction. Giving a plan to a user without a user
/// name picks their first address, so "assign plans, then adjust user names"
/// works as two steps; an explicit `set_username: null` is respected and then
/// reported as `username_required`. `acting_user_unlicensed` is reported only
/// when the edit could lock the acting user out (it touches them, or they hold
/// a plan now), so a fresh draft can be filled in any order; the CSV import,
/// which states the whole draft, applies it unconditionally.
pub fn apply_bulk_edit(
    roster: &Roster,
    catalogue: &Catalogue,
    assignments: &Assignments,
    edit: &BulkEdit,
    acting: &Email,
) -> Result<Assignments, Vec<RuleViolation>> {
    let prior = prune_to_roster(roster, assignments);
    let mut next = prior.clone();
    let mut errors = Vec::new();
    let plan = edit
        .set_plan
        .as_ref()
        .map(|p| p.as_deref().and_then(|p| plan_from_input(catalogue, p)));
    let addons = edit
        .set_addons
        .as_ref()
        .map(|a| addons_from_input(catalogue, a.iter().map(String::as_str)));
    let username = match &edit.set_username {
        None => None,
        Some(raw) => match raw.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            None => Some(None),
            Some(s) => match Email::parse(s) {
                Ok(e) => Some(Some(e)),
                Err(e) => {
                    // Reported once for the edit, not once per selected user;
                    // the loop below still runs to report unknown users too.
                    errors.push(RuleViolation::global(
                        columns::USERNAME,
                        s,
                        codes::INVALID_USERNAME,
                        format!("'{s}' is not a valid user name: {}", e.message),
                    ));
                    None
                }
            },
        },
    };

    let mut seen = std::collections::HashSet::new();
    for user_id in &edit.user_ids {
        if !seen.insert(user_id.as_str()) {
            continue;
        }
        let Some(user) = roster.user(user_id) else {
            let msg = format!("user '{user_id}' is not in the roster");
            errors.push(RuleViolation::user(
                user_id,
                columns::USER_ID,
                user_id,
                codes::UNKNOWN_USER,
                msg,
            ));
            continue;
        };
        let mut a = next.remove(user_id).unwrap_or_default();
        let had_plan = a.plan.is_some();
        if let Some(plan) = &plan {
            a.plan.clone_from(plan);
            if plan.is_none() {
                if addons.is_none() {
                    a.addons.clear();
                }
                if username.is_none() {
                    a.username = None;
                }
            }
        }
        if let Some(addons) = &addons {
            a.addons.clone_from(addons);
        }
        match &username {
            Some(u) => a.username.clone_from(u),
            None if !had_plan && a.plan.is_some() && a.username.is_none() => {
                a.username = default_username(user)
            }
            None => {}
        }
        if !a.is_empty() {
            next.insert(user_id.clone(), a);
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let mut violations = validate_assignments(roster, catalogue, &next, acting);
    // The acting user's own licence is there to stop self-lockout: an edit
    // that neither touches them nor finds them licensed cannot lock them out,
    // and must not be refused while a fresh draft has no plans yet.
    let is_acting = |id: &String| {
        roster
            .user(id)
            .is_some_and(|u| u.has_address(acting.as_str()))
    };
    let names_acting =
        matches!(&username, Some(Some(u)) if Caseless(u.as_str()) == Caseless(acting.as_str()));
    let could_lock_out = edit.user_ids.iter().any(is_acting)
        || names_acting
        || prior_licence(roster, &prior, acting);
    if !could_lock_out {
        violations.retain(|v| v.code != codes::ACTING_USER_UNLICENSED);
    }
    if violations.is_empty() {
        Ok(next)
    } else {
        Err(violations)
    }
}

/// Whether one of the acting person's roster users holds a plan in `a`.
fn prior_licence(roster: &Roster, a: &Assignments, acting: &Email) -> bool {
    let by_card = roster
        .users_with_address(acting)
        .any(|u| a.get(u.user_id()).is_some_and(|x| x.plan.is_some()));
    by_card
        || a.values().any(|x| {
            x.plan.is_some()
                && x.username
                    .as_ref()
                    .is_some_and(|u| Caseless(u.as_str()) == Caseless(acting.as_str()))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::licensing::test_support::{acting, assign, catalogue, draft, roster};

    fn edit(ids: &[&str]) -> BulkEdit {
        BulkEdit {
            user_ids: ids.iter().map(|s| (*s).to_owned()).collect(),
            ..BulkEdit::default()
        }
    }

    fn apply(e: &BulkEdit) -> Result<Assignments, Vec<&'static str>> {
        apply_bulk_edit(&roster(), &catalogue(), &draft(), e, &acting())
            .map_err(|v| v.iter().map(|v| v.code).collect())
    }

    #[test]
    fn giving_a_plan_defaults_the_username_to_the_first_address() {
        let mut e = edit(&["u5"]);
        e.set_plan = Some(Some("basic".into()));
        let out = apply(&e).expect("valid");
        assert_eq!(
            out["u5"],
            assign(Some("Basic"), &[], Some("eve@acme.example"))
        );
    }

    #[test]
    fn clearing_the_plan_clears_addons_and_username() {
        let mut e = edit(&["u2"]);
        e.set_plan = Some(None);
        let out = apply(&e).expect("valid");
        assert!(!out.contains_key("u2"), "an empty assignment is dropped");
    }

    #[test]
    fn clearing_the_plan_while_setting_addons_is_reported() {
        let mut e = edit(&["u2"]);
        e.set_plan = Some(None);
        e.set_addons = Some(vec!["Marketing".into()]);
        assert_eq!(apply(&e), Err(vec![codes::ADDONS_WITHOUT_PLAN]));
    }

    #[test]
    fn explicit_null_username_is_respected_and_reported() {
        let mut e = edit(&["u3"]);
        e.set_username = Some(None);
        assert_eq!(apply(&e), Err(vec![codes::USERNAME_REQUIRED]));
    }

    #[test]
    fn unknown_user_is_an_error_and_nothing_applies() {
        let mut e = edit(&["u5", "nobody"]);
        e.set_plan = Some(Some("Basic".into()));
        assert_eq!(apply(&e), Err(vec![codes::UNKNOWN_USER]));
    }

    #[test]
    fn invalid_username_is_reported() {
        let mut e = edit(&["u3", "nobody"]);
        e.set_username = Some(Some("not an address".into()));
        assert_eq!(
            apply(&e),
            Err(vec![codes::INVALID_USERNAME, codes::UNKNOWN_USER])
        );
    }

    #[test]
    fn the_same_engine_checks_the_result() {
        let mut e = edit(&["u3", "u5"]);
        e.set_plan = Some(Some("Engage".into()));
        e.set_addons = Some(vec!["Marketing".into()]);
        // Engage 3 > 2 and Marketing 3 > 1.
        assert_eq!(
            apply(&e),
            Err(vec![codes::CAPACITY_EXCEEDED, codes::CAPACITY_EXCEEDED])
        );
        let mut e = edit(&["u1"]);
        e.set_plan = Some(None);
        assert_eq!(apply(&e), Err(vec![codes::ACTING_USER_UNLICENSED]));
        let mut e = edit(&["u1", "u2"]);
        e.set_username = Some(Some("team@acme.example".into()));
        assert_eq!(
            apply(&e),
            Err(vec![codes::DUPLICATE_USERNAME, codes::DUPLICATE_USERNAME])
        );
    }

    #[test]
    fn a_fresh_draft_can_be_filled_step_by_step_without_the_acting_user() {
        let mut e = edit(&["u2"]);
        e.set_plan = Some(Some("Engage".into()));
        let out = apply_bulk_edit(&roster(), &catalogue(), &Assignments::new(), &e, &acting())
            .expect("Ann (acting) has no plan yet, and this edit cannot take one away");
        assert_eq!(out.len(), 1);
        // Touching the acting user without giving her a plan is refused.
        let mut e = edit(&["u1"]);
        e.set_addons = Some(vec![]);
        let err = apply_bulk_edit(&roster(), &catalogue(), &Assignments::new(), &e, &acting());
        let codes: Vec<_> = err
            .err()
            .unwrap_or_default()
            .iter()
            .map(|v| v.code)
            .collect();
        assert_eq!(codes, [codes::ACTING_USER_UNLICENSED]);
    }

    #[test]
    fn json_tells_null_from_absent() {
        let e: BulkEdit =
            serde_json::from_str(r#"{"user_ids":["u1"],"set_plan":null}"#).expect("json");
        assert_eq!((e.set_plan, e.set_username), (Some(None), None));
        let e: BulkEdit =
            serde_json::from_str(r#"{"user_ids":["u1"],"set_username":"a@b.de"}"#).expect("json");
        assert_eq!(e.set_username, Some(Some("a@b.de".into())));
        assert!(serde_json::from_str::<BulkEdit>(r#"{"user_ids":[],"plan":"x"}"#).is_err());
    }
}
