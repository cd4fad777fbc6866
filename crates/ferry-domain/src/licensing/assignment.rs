//! The licence assignment (SPEC §3.4) and the one rule engine that both the
//! manual bulk edit and the CSV import go through, so the two paths can never
//! disagree about what is allowed.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::catalogue::Catalogue;
use super::codes::{self, columns};
use super::roster::Roster;
use crate::newtypes::Email;

/// What one user gets in the cloud tenant. `plan: None` is "no licence": the
/// user cannot log in. Names are the catalogue's canonical spelling once they
/// went through an input path.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Assignment {
    #[serde(default)]
    #[schema(example = "Engage")]
    pub plan: Option<String>,
    #[serde(default)]
    #[schema(example = json!(["Marketing"]))]
    pub addons: Vec<String>,
    /// The login of the user in the tenant: an email address.
    #[serde(default)]
    #[schema(value_type = Option<String>, example = "ann@acme.example")]
    pub username: Option<Email>,
}

impl Assignment {
    /// No plan, no add-ons, no user name: the same as having no entry.
    pub fn is_empty(&self) -> bool {
        self.plan.is_none() && self.addons.is_empty() && self.username.is_none()
    }
}

/// Assignments by source user id. A user without an entry has no licence;
/// the input paths leave out empty entries so that equal drafts compare equal.
pub type Assignments = BTreeMap<String, Assignment>;

/// The draft being edited, with the version used for `If-Match`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Draft {
    #[schema(value_type = BTreeMap<String, Assignment>)]
    pub assignments: Assignments,
    pub version: i64,
}

/// One broken rule, located as precisely as the input allows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct RuleViolation {
    /// The source user concerned; `None` for rules about the whole draft
    /// (capacity) or the file (a missing column).
    pub user_id: Option<String>,
    /// Spreadsheet row (header = 1) in a CSV import; `None` elsewhere.
    pub row: Option<u64>,
    /// The CSV column, also used by the bulk edit (`New License`, …).
    #[schema(example = "New License")]
    pub column: String,
    pub value: String,
    /// Stable machine code, see [`codes`].
    #[schema(example = "unknown_plan")]
    pub code: &'static str,
    pub message: String,
}

impl RuleViolation {
    pub(crate) fn user(user_id: &str, column: &str, value: &str, code: &'static str, message: String) -> Self {
        Self {
            user_id: Some(user_id.to_owned()),
            row: None,
            column: column.to_owned(),
            value: value.to_owned(),
            code,
            message,
        }
    }

    pub(crate) fn global(column: &str, value: &str, code: &'static str, message: String) -> Self {
        Self {
            user_id: None,
            row: None,
            column: column.to_owned(),
            value: value.to_owned(),
            code,
            message,
        }
    }

    pub(crate) fn at_row(mut self, row: Option<u64>) -> Self {
        self.row = row;
        self
    }
}

/// Checks a complete set of assignments against every rule of SPEC §3.4 and
/// returns every violation (empty = valid). `acting` is the person making
/// the change: if they are a user of the source (an address on a card, or the
/// chosen user name of one), that user must keep a plan, or they would lock
/// themself out of the tenant mid-migration. An acting person who is not in the
/// roster (an external consultant) has nothing to keep.
pub fn validate_assignments(
    roster: &Roster,
    catalogue: &Catalogue,
    assignments: &Assignments,
    acting: &Email,
) -> Vec<RuleViolation> {
    let mut out = Vec::new();
    let mut plan_counts = vec![0u64; catalogue.plans().len()];
    let mut addon_counts = vec![0u64; catalogue.addons().len()];
    let mut usernames: HashMap<String, Vec<&str>> = HashMap::new();

    for (user_id, a) in assignments {
        if roster.user(user_id).is_none() {
            let msg = format!("user '{user_id}' is not in the roster");
            out.push(RuleViolation::user(user_id, columns::USER_ID, user_id, codes::UNKNOWN_USER, msg));
            continue;
        }
        let plan = a.plan.as_deref().and_then(|name| {
            let found = catalogue.plan_position(name);
            if found.is_none() {
                let msg = format!("'{name}' is not a plan of this tenant's catalogue");
                out.push(RuleViolation::user(user_id, columns::NEW_LICENSE, name, codes::UNKNOWN_PLAN, msg));
            }
            found.map(|i| {
                plan_counts[i] += 1;
                &catalogue.plans()[i]
            })
        });
        let mut counted: Vec<usize> = Vec::with_capacity(a.addons.len());
        for addon in &a.addons {
            match catalogue.addon_position(addon) {
                Some(i) if !counted.contains(&i) => {
                    counted.push(i);
                    addon_counts[i] += 1;
                }
                Some(_) => {}
                None => {
                    let msg = format!("'{addon}' is not an add-on of this tenant's catalogue");
                    out.push(RuleViolation::user(user_id, columns::NEW_ADDONS, addon, codes::UNKNOWN_ADDON, msg));
                }
            }
        }
        if !a.addons.is_empty() {
            let joined = a.addons.join(", ");
            if a.plan.is_none() {
                let msg = "add-ons need a plan: a user without a licence has none".to_owned();
                out.push(RuleViolation::user(user_id, columns::NEW_ADDONS, &joined, codes::ADDONS_WITHOUT_PLAN, msg));
            } else if let Some(p) = plan.filter(|p| !p.addons_allowed) {
                let msg = format!("plan '{}' cannot carry add-ons", p.name);
                out.push(RuleViolation::user(user_id, columns::NEW_ADDONS, &joined, codes::ADDONS_NOT_ALLOWED, msg));
            }
        }
        match (&a.plan, &a.username) {
            (None, Some(u)) => {
                let msg = "a user without a licence has no user name".to_owned();
                out.push(RuleViolation::user(user_id, columns::USERNAME, u.as_str(), codes::USERNAME_WITHOUT_PLAN, msg));
            }
            (Some(p), None) => {
                let msg = format!("a user with plan '{p}' needs a user name (an email address)");
                out.push(RuleViolation::user(user_id, columns::USERNAME, "", codes::USERNAME_REQUIRED, msg));
            }
            _ => {}
        }
        if let Some(u) = &a.username {
            usernames.entry(u.key()).or_default().push(user_id);
        }
    }

    // Second pass in key order, so the output order does not depend on hashing.
    for (user_id, a) in assignments {
        let Some(u) = &a.username else { continue };
        let Some(holders) = usernames.get(&u.key()).filter(|h| h.len() > 1) else {
            continue;
        };
        let others: Vec<&str> = holders.iter().copied().filter(|h| h != user_id).collect();
        let msg = format!("user name '{u}' is also chosen for {}", others.join(", "));
        out.push(RuleViolation::user(user_id, columns::USERNAME, u.as_str(), codes::DUPLICATE_USERNAME, msg));
    }

    for (plan, &count) in catalogue.plans().iter().zip(&plan_counts) {
        if count > u64::from(plan.capacity) {
            let msg = format!("plan '{}': {count} users assigned, the contract has {}", plan.name, plan.capacity);
            out.push(RuleViolation::global(columns::NEW_LICENSE, &plan.name, codes::CAPACITY_EXCEEDED, msg));
        }
    }
    for (addon, &count) in catalogue.addons().iter().zip(&addon_counts) {
        if count > u64::from(addon.capacity) {
            let msg = format!("add-on '{}': {count} users assigned, the contract has {}", addon.name, addon.capacity);
            out.push(RuleViolation::global(columns::NEW_ADDONS, &addon.name, codes::CAPACITY_EXCEEDED, msg));
        }
    }

    out.extend(acting_user_violations(roster, assignments, acting));
    out
}

/// The acting person's roster users (by address on the card or by chosen user
/// name). If there are any, one of them must end with a plan.
fn acting_user_violations(roster: &Roster, assignments: &Assignments, acting: &Email) -> Vec<RuleViolation> {
    let key = acting.key();
    let mut acting_ids: Vec<&str> = roster.users_with_address(acting).map(|u| u.user_id()).collect();
    for (user_id, a) in assignments {
        if a.username.as_ref().is_some_and(|u| u.key() == key) && !acting_ids.contains(&user_id.as_str()) {
            acting_ids.push(user_id);
        }
    }
    let licensed = |id: &&str| assignments.get(*id).is_some_and(|a| a.plan.is_some());
    if acting_ids.is_empty() || acting_ids.iter().any(licensed) {
        return Vec::new();
    }
    acting_ids
        .into_iter()
        .filter(|id| roster.user(id).is_some())
        .map(|id| {
            let msg = format!("you ({acting}) are user '{id}' and must keep a licence to finish the migration");
            RuleViolation::user(id, columns::NEW_LICENSE, "", codes::ACTING_USER_UNLICENSED, msg)
        })
        .collect()
}

/// A plan cell or field as typed: empty means no licence; a known name becomes
/// the catalogue's spelling; an unknown one is kept for the engine to report.
pub(crate) fn plan_from_input(catalogue: &Catalogue, raw: &str) -> Option<String> {
    let s = raw.trim();
    if s.is_empty() {
        return None;
    }
    Some(catalogue.plan(s).map_or_else(|| s.to_owned(), |p| p.name.clone()))
}

/// Add-ons as typed: trimmed, empties dropped, known names canonical, each
/// once (ignoring case).
pub(crate) fn addons_from_input<'a>(catalogue: &Catalogue, raw: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for item in raw.into_iter().map(str::trim).filter(|s| !s.is_empty()) {
        let name = catalogue.addon(item).map_or_else(|| item.to_owned(), |a| a.name.clone());
        if !out.iter().any(|o| o.to_lowercase() == name.to_lowercase()) {
            out.push(name);
        }
    }
    out
}

/// The assignments of users still in the roster, empty entries dropped: what
/// an edit starts from after the roster was uploaded again.
pub fn prune_to_roster(roster: &Roster, assignments: &Assignments) -> Assignments {
    assignments
        .iter()
        .filter(|(id, a)| roster.user(id).is_some() && !a.is_empty())
        .map(|(id, a)| (id.clone(), a.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::licensing::test_support::{acting, assign, catalogue, draft, email, roster};

    /// `user:code` per violation (`-` for rules about the whole draft).
    fn check(d: &Assignments) -> Vec<String> {
        validate_assignments(&roster(), &catalogue(), d, &acting())
            .into_iter()
            .map(|v| format!("{}:{}", v.user_id.as_deref().unwrap_or("-"), v.code))
            .collect()
    }

    fn with(user: &str, a: Assignment) -> Assignments {
        let mut d = draft();
        d.insert(user.to_owned(), a);
        d
    }

    #[test]
    fn the_fixture_draft_is_valid() {
        assert!(check(&draft()).is_empty());
    }

    #[test]
    fn unknown_user() {
        assert_eq!(check(&with("u9", Assignment::default())), vec!["u9:unknown_user"]);
    }

    #[test]
    fn unknown_plan_and_addon() {
        let d = with("u5", assign(Some("Premium"), &["Sorcery"], Some("eve@acme.example")));
        assert_eq!(check(&d), vec!["u5:unknown_plan", "u5:unknown_addon"]);
    }

    #[test]
    fn plan_lookup_ignores_case() {
        let d = with("u5", assign(Some("basic"), &[], Some("eve@acme.example")));
        assert!(check(&d).is_empty());
    }

    #[test]
    fn addons_only_on_capable_plans() {
        let d = with("u3", assign(Some("Standard"), &["Analytics"], Some("cid@acme.example")));
        assert_eq!(check(&d), vec!["u3:addons_not_allowed"]);
    }

    #[test]
    fn addons_and_username_need_a_plan() {
        let d = with("u5", assign(None, &["Analytics"], Some("eve@acme.example")));
        assert_eq!(
            check(&d),
            vec!["u5:addons_without_plan", "u5:username_without_plan"]
        );
    }

    #[test]
    fn a_plan_needs_a_username() {
        let d = with("u5", assign(Some("Basic"), &[], None));
        assert_eq!(check(&d), vec!["u5:username_required"]);
    }

    #[test]
    fn usernames_are_unique_ignoring_case() {
        let d = with("u5", assign(Some("Basic"), &[], Some("BOB@acme.example")));
        assert_eq!(
            check(&d),
            vec!["u2:duplicate_username", "u5:duplicate_username"]
        );
    }

    #[test]
    fn plan_capacity_names_the_plan() {
        let mut d = with("u5", assign(Some("Standard"), &[], Some("eve@acme.example")));
        d.insert("u4".into(), assign(Some("Standard"), &[], Some("dee@acme.example")));
        let v = validate_assignments(&roster(), &catalogue(), &d, &acting());
        assert_eq!(v.len(), 1, "{v:?}");
        assert_eq!((v[0].code, v[0].value.as_str(), v[0].user_id.as_deref()), (codes::CAPACITY_EXCEEDED, "Standard", None));
        assert!(v[0].message.contains("3 users") && v[0].message.contains("has 2"), "{}", v[0].message);
    }

    #[test]
    fn addon_capacity() {
        let d = with("u1", assign(Some("Admin"), &["marketing", "Marketing"], Some("ann@acme.example")));
        let v = validate_assignments(&roster(), &catalogue(), &d, &acting());
        assert_eq!(v.iter().map(|v| (v.code, v.value.as_str())).collect::<Vec<_>>(), vec![(codes::CAPACITY_EXCEEDED, "Marketing")]);
        assert!(v[0].message.contains("2 users"), "a user's repeated add-on counts once: {}", v[0].message);
    }

    #[test]
    fn acting_user_must_keep_a_licence() {
        let mut d = draft();
        d.remove("u1");
        assert_eq!(check(&d), vec!["u1:acting_user_unlicensed"]);
        // Someone not in the roster has nothing to keep.
        assert!(validate_assignments(&roster(), &catalogue(), &d, &email("ext@partner.example")).is_empty());
    }

    #[test]
    fn acting_user_found_by_chosen_username_counts_as_licensed() {
        // Ann lost her plan but Eve now logs in as ann@: the acting person keeps access.
        let mut d = draft();
        d.remove("u1");
        d.insert("u5".into(), assign(Some("Basic"), &[], Some("ann@acme.example")));
        assert!(check(&d).is_empty());
    }

    #[test]
    fn inputs_are_canonicalised() {
        let c = catalogue();
        assert_eq!(plan_from_input(&c, " engage "), Some("Engage".into()));
        assert_eq!(plan_from_input(&c, " "), None);
        assert_eq!(plan_from_input(&c, "Gold"), Some("Gold".into()));
        assert_eq!(addons_from_input(&c, ["analytics", " ", "ANALYTICS", "x"]), vec!["Analytics", "x"]);
    }

    #[test]
    fn pruning_drops_departed_users_and_empty_entries() {
        let mut d = draft();
        d.insert("gone".into(), assign(Some("Basic"), &[], None));
        d.insert("u5".into(), Assignment::default());
        assert_eq!(prune_to_roster(&roster(), &d), draft());
    }

    #[test]
    fn assignment_json_round_trips_and_checks_the_username() {
        let a = assign(Some("Engage"), &["Marketing"], Some("bob@acme.example"));
        let json = serde_json::to_string(&a).expect("ser");
        assert_eq!(serde_json::from_str::<Assignment>(&json).expect("de"), a);
        assert!(serde_json::from_str::<Assignment>(r#"{"plan":"Basic","username":"nope"}"#).is_err());
    }
}
