//! A small tenant shared by the unit tests: five users (one inactive, two
//! sharing an address), a tight contract, and a valid draft.

use std::collections::BTreeMap;

use super::assignment::Assignment;
use super::catalogue::{AddOnInput, Catalogue, CatalogueInput, PlanInput};
use super::roster::{Roster, RosterUserInput, SatelliteInput};
use crate::newtypes::Email;

pub(crate) fn input(id: &str, name: &str, emails: &[&str]) -> RosterUserInput {
    RosterUserInput {
        user_id: id.into(),
        full_name: name.into(),
        emails: emails.iter().map(|e| (*e).to_owned()).collect(),
        active: true,
        ..RosterUserInput::default()
    }
}

pub(crate) fn email(s: &str) -> Email {
    Email::parse(s).unwrap_or_else(|e| panic!("{s}: {e:?}"))
}

/// u1 Ann (admin, the acting migrator), u2 Bob and u3 Cid (both carry
/// shared@), u4 Dee (inactive), u5 Eve.
pub(crate) fn roster() -> Roster {
    let (users, sats) = roster_inputs();
    Roster::from_inputs(&users, &sats).unwrap_or_else(|e| panic!("{e:?}"))
}

/// The inputs behind [`roster`], for tests that need a variation.
pub(crate) fn roster_inputs() -> (Vec<RosterUserInput>, Vec<SatelliteInput>) {
    let mut ann = input("u1", "Ann Admin", &["ann@acme.example"]);
    ann.is_admin = true;
    ann.old_license = Some("Admin".into());
    ann.group = "IT".into();
    let mut bob = input(
        "u2",
        "Bob Sales",
        &["bob@acme.example", "shared@acme.example"],
    );
    bob.old_license = Some("Engage".into());
    bob.old_addons = vec!["Marketing".into()];
    bob.position = "-Lead".into();
    let mut cid = input("u3", "Cid", &["cid@acme.example", "Shared@acme.example"]);
    cid.old_license = Some("Standard".into());
    let mut dee = input("u4", "Dee Gone", &["dee@acme.example"]);
    dee.active = false;
    dee.old_license = Some("Standard".into());
    let mut eve = input("u5", "=Eve", &["eve@acme.example"]);
    eve.old_license = Some("Basic".into());
    let sats = vec![SatelliteInput {
        name: "Hamburg".into(),
        active: false,
        source_row: None,
    }];
    (vec![ann, bob, cid, dee, eve], sats)
}

/// Admin 1 (add-ons), Engage 2 (add-ons), Standard 2, Basic 1; Marketing 1, Analytics 2.
pub(crate) fn catalogue() -> Catalogue {
    let plan = |name: &str, capacity, addons_allowed| PlanInput {
        name: name.into(),
        capacity,
        addons_allowed,
    };
    let addon = |name: &str, capacity| AddOnInput {
        name: name.into(),
        capacity,
    };
    Catalogue::parse(&CatalogueInput {
        plans: vec![
            plan("Admin", 1, true),
            plan("Engage", 2, true),
            plan("Standard", 2, false),
            plan("Basic", 1, false),
        ],
        addons: vec![addon("Marketing", 1), addon("Analytics", 2)],
    })
    .unwrap_or_else(|e| panic!("{e:?}"))
}

pub(crate) fn assign(plan: Option<&str>, addons: &[&str], username: Option<&str>) -> Assignment {
    Assignment {
        plan: plan.map(str::to_owned),
        addons: addons.iter().map(|a| (*a).to_owned()).collect(),
        username: username.map(email),
    }
}

pub(crate) fn acting() -> Email {
    email("ann@acme.example")
}

/// A valid draft: Ann Admin, Bob Engage+Marketing, Cid Standard, Eve none.
pub(crate) fn draft() -> BTreeMap<String, Assignment> {
    BTreeMap::from([
        (
            "u1".to_owned(),
            assign(Some("Admin"), &[], Some("ann@acme.example")),
        ),
        (
            "u2".to_owned(),
            assign(Some("Engage"), &["Marketing"], Some("bob@acme.example")),
        ),
        (
            "u3".to_owned(),
            assign(Some("Standard"), &[], Some("cid@acme.example")),
        ),
    ])
}
