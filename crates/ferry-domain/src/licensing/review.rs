//! The review before commit (SPEC §3.4): the draft as a diff against what was
//! committed, with the two consequences people must not miss listed apart:
//! users who lose access, and addresses taken off cards.

use serde::Serialize;
use utoipa::ToSchema;

use super::assignment::{Assignment, Assignments};
use super::roster::Roster;
use super::username::{AddressRemoval, address_removals};

/// One user whose assignment the draft changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ReviewChange {
    pub user_id: String,
    pub name: String,
    pub active: bool,
    /// The source licence, for context: "before" is the committed assignment,
    /// which is empty until the first commit.
    pub old_license: Option<String>,
    pub old_addons: Vec<String>,
    pub before: Assignment,
    pub after: Assignment,
}

/// An active user the draft leaves without a plan: they cannot log in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct NoLicenceUser {
    pub user_id: String,
    pub name: String,
    pub old_license: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Review {
    /// In roster order.
    pub changes: Vec<ReviewChange>,
    /// Every active user without a plan in the draft, changed or not.
    pub no_licence: Vec<NoLicenceUser>,
    pub address_removals: Vec<AddressRemoval>,
}

/// Compares `draft` with `committed` (a missing entry is no licence).
pub fn review(roster: &Roster, committed: &Assignments, draft: &Assignments) -> Review {
    let none = Assignment::default();
    let mut changes = Vec::new();
    let mut no_licence = Vec::new();
    for user in roster.users() {
        let before = committed.get(user.user_id()).unwrap_or(&none);
        let after = draft.get(user.user_id()).unwrap_or(&none);
        if before != after {
            changes.push(ReviewChange {
                user_id: user.user_id().to_owned(),
                name: user.full_name().to_string(),
                active: user.active(),
                old_license: user.old_license().map(str::to_owned),
                old_addons: user.old_addons().to_vec(),
                before: before.clone(),
                after: after.clone(),
            });
        }
        if user.active() && after.plan.is_none() {
            no_licence.push(NoLicenceUser {
                user_id: user.user_id().to_owned(),
                name: user.full_name().to_string(),
                old_license: user.old_license().map(str::to_owned),
            });
        }
    }
    Review {
        changes,
        no_licence,
        address_removals: address_removals(roster, draft),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::licensing::test_support::{assign, draft, roster};

    #[test]
    fn first_review_shows_every_assignment_as_a_change() {
        let r = review(&roster(), &Assignments::new(), &draft());
        let ids: Vec<_> = r.changes.iter().map(|c| c.user_id.as_str()).collect();
        assert_eq!(ids, ["u1", "u2", "u3"]);
        assert_eq!(r.changes[1].old_license.as_deref(), Some("Engage"));
        assert_eq!(r.changes[1].before, Assignment::default());
    }

    #[test]
    fn unchanged_users_are_not_listed_but_no_licence_users_always_are() {
        let r = review(&roster(), &draft(), &draft());
        assert!(r.changes.is_empty());
        let lost: Vec<_> = r
            .no_licence
            .iter()
            .map(|u| (u.user_id.as_str(), u.name.as_str()))
            .collect();
        assert_eq!(lost, [("u5", "=Eve")], "the inactive u4 is not listed");
    }

    #[test]
    fn a_revoked_licence_is_a_change_and_a_loss_of_access() {
        let mut d = draft();
        d.remove("u3");
        d.insert(
            "u2".into(),
            assign(Some("Engage"), &[], Some("shared@acme.example")),
        );
        let r = review(&roster(), &draft(), &d);
        assert_eq!(r.changes.len(), 2);
        assert_eq!(r.changes[1].after, Assignment::default());
        assert_eq!(
            r.no_licence
                .iter()
                .map(|u| u.user_id.as_str())
                .collect::<Vec<_>>(),
            ["u3", "u5"]
        );
        assert_eq!(r.address_removals.len(), 1, "shared@ leaves Cid's card");
    }
}
