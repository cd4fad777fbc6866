//! User names (SPEC §3.4): every licensed user logs in with an email address,
//! picked from their own addresses or typed new. An address can only belong
//! to one login, so where the chosen name is on another person's card, that
//! address is taken off the other card at migration.

use std::collections::HashMap;

use serde::Serialize;
use utoipa::ToSchema;

use super::assignment::Assignments;
use super::caseless::Caseless;
use super::roster::{Roster, SourceUser};
use crate::newtypes::Email;

/// An address that migration removes from one card because another user
/// logs in with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct AddressRemoval {
    /// As written on the card it is removed from.
    pub address: String,
    /// The user whose card loses the address.
    pub from_user_id: String,
    /// The user who chose it as user name.
    pub for_user_id: String,
}

/// The user name a user gets when given a plan without one: their first
/// address, the one the source lists as primary.
pub fn default_username(user: &SourceUser) -> Option<Email> {
    user.emails().first().cloned()
}

/// The addresses a user can pick from without typing: their own.
pub fn username_choices(user: &SourceUser) -> &[Email] {
    user.emails()
}

/// Every address removal the draft implies, ordered by the chosen user, then
/// by the card losing the address. Users not in the roster are ignored.
pub fn address_removals(roster: &Roster, assignments: &Assignments) -> Vec<AddressRemoval> {
    // One pass over the roster builds the address index, so this stays linear
    // in the number of users rather than users × usernames.
    let mut cards: HashMap<Caseless<'_>, Vec<(&str, &str)>> = HashMap::new();
    for user in roster.users() {
        for e in user.emails() {
            cards
                .entry(Caseless(e.as_str()))
                .or_default()
                .push((user.user_id(), e.as_str()));
        }
    }
    let mut out = Vec::new();
    for (user_id, a) in assignments {
        let Some(name) = &a.username else { continue };
        if roster.user(user_id).is_none() {
            continue;
        }
        for &(holder, written) in cards.get(&Caseless(name.as_str())).into_iter().flatten() {
            if holder != user_id {
                out.push(AddressRemoval {
                    address: written.to_owned(),
                    from_user_id: holder.to_owned(),
                    for_user_id: user_id.clone(),
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::licensing::test_support::{assign, draft, roster};

    #[test]
    fn no_removal_when_names_are_own_unshared_addresses() {
        assert!(address_removals(&roster(), &draft()).is_empty());
    }

    #[test]
    fn choosing_an_address_on_another_card_removes_it_there() {
        let mut d = draft();
        // Bob picks the address he shares with Cid (written differently on Cid's card).
        d.insert(
            "u2".into(),
            assign(Some("Engage"), &[], Some("SHARED@acme.example")),
        );
        assert_eq!(
            address_removals(&roster(), &d),
            vec![AddressRemoval {
                address: "Shared@acme.example".into(),
                from_user_id: "u3".into(),
                for_user_id: "u2".into(),
            }]
        );
    }

    #[test]
    fn a_new_address_of_another_person_is_removed_from_their_card() {
        let mut d = draft();
        d.insert(
            "u5".into(),
            assign(Some("Basic"), &[], Some("dee@acme.example")),
        );
        let r = address_removals(&roster(), &d);
        assert_eq!(r.len(), 1);
        assert_eq!(
            (r[0].from_user_id.as_str(), r[0].for_user_id.as_str()),
            ("u4", "u5")
        );
    }

    #[test]
    fn defaults_and_choices_come_from_the_card() {
        let r = roster();
        let bob = r.user("u2").expect("bob");
        assert_eq!(
            default_username(bob).map(|e| e.to_string()),
            Some("bob@acme.example".into())
        );
        assert_eq!(username_choices(bob).len(), 2);
    }
}
