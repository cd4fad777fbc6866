//! The licence assignment (SPEC §3.4): what each user gets, the draft, the
//! violations the rule engine (`rules`) reports, and the normalisation that
//! every input path applies before the rules run.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::caseless::Caseless;
use super::catalogue::Catalogue;
use super::csv_common::trim;
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
    pub(crate) fn user(
        user_id: &str,
        column: &str,
        value: &str,
        code: &'static str,
        message: String,
    ) -> Self {
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

/// A plan cell or field as typed: empty means no licence; a known name becomes
/// the catalogue's spelling; an unknown one is kept for the engine to report.
pub(crate) fn plan_from_input(catalogue: &Catalogue, raw: &str) -> Option<String> {
    let s = trim(raw);
    if s.is_empty() {
        return None;
    }
    Some(
        catalogue
            .plan(s)
            .map_or_else(|| s.to_owned(), |p| p.name.clone()),
    )
}

/// Add-ons as typed: trimmed, empties dropped, known names canonical, each
/// once (ignoring case).
pub(crate) fn addons_from_input<'a>(
    catalogue: &Catalogue,
    raw: impl IntoIterator<Item = &'a str>,
) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for item in raw.into_iter().map(trim).filter(|s| !s.is_empty()) {
        let name = catalogue
            .addon(item)
            .map_or_else(|| item.to_owned(), |a| a.name.clone());
        if !out.iter().any(|o| Caseless(o) == Caseless(&name)) {
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
#[path = "assignment_tests.rs"]
mod tests;
