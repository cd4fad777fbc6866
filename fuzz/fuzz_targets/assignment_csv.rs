//! The assignment CSV import (`POST …/assignments.csv`): any bytes against a
//! small tenant. It must never panic, a refusal must list at least one error,
//! and an accepted file must only assign users of the roster.
#![no_main]

use std::collections::BTreeMap;

use ferry_domain::Email;
use ferry_domain::licensing::{
    AddOnInput, Assignment, Catalogue, CatalogueInput, CsvFailure, CsvLimits, PlanInput, Roster,
    RosterUserInput, import_assignment_csv,
};
use libfuzzer_sys::fuzz_target;

fn email(s: &str) -> Email {
    Email::parse(s).expect("fixture address")
}

fn user(id: &str, name: &str, emails: &[&str], active: bool) -> RosterUserInput {
    RosterUserInput {
        user_id: id.into(),
        full_name: name.into(),
        emails: emails.iter().map(|e| (*e).to_owned()).collect(),
        active,
        ..RosterUserInput::default()
    }
}

struct Tenant {
    roster: Roster,
    catalogue: Catalogue,
    base: BTreeMap<String, Assignment>,
    acting: Email,
}

fn tenant() -> Tenant {
    let mut ann = user("u1", "Ann Admin", &["ann@acme.example"], true);
    ann.is_admin = true;
    ann.old_license = Some("Admin".into());
    let users = vec![
        ann,
        user(
            "u2",
            "Bob",
            &["bob@acme.example", "shared@acme.example"],
            true,
        ),
        user(
            "u3",
            "Cid",
            &["cid@acme.example", "Shared@acme.example"],
            true,
        ),
        user("u4", "Dee", &["dee@acme.example"], false),
        user("u5", "=Eve", &["eve@acme.example"], true),
    ];
    let roster = Roster::from_inputs(&users, &[]).expect("fixture roster");
    let plan = |name: &str, capacity, addons_allowed| PlanInput {
        name: name.into(),
        capacity,
        addons_allowed,
    };
    let catalogue = Catalogue::parse(&CatalogueInput {
        plans: vec![
            plan("Admin", 1, true),
            plan("Engage", 2, true),
            plan("Standard", 2, false),
            plan("Basic", 1, false),
        ],
        addons: vec![
            AddOnInput {
                name: "Marketing".into(),
                capacity: 1,
            },
            AddOnInput {
                name: "Analytics".into(),
                capacity: 2,
            },
        ],
    })
    .expect("fixture catalogue");
    let base = BTreeMap::from([(
        "u1".to_owned(),
        Assignment {
            plan: Some("Admin".into()),
            addons: vec![],
            username: Some(email("ann@acme.example")),
        },
    )]);
    Tenant {
        roster,
        catalogue,
        base,
        acting: email("ann@acme.example"),
    }
}

fuzz_target!(|data: &[u8]| {
    thread_local! {
        static TENANT: Tenant = tenant();
    }
    // Small limits, so the limit paths are reachable from small inputs.
    let limits = CsvLimits {
        max_rows: 64,
        max_bytes: 64 * 1024,
        max_field_len: 256,
    };
    TENANT.with(|t| {
        match import_assignment_csv(data, &t.roster, &t.catalogue, &t.base, &t.acting, limits) {
            Ok(outcome) => {
                for id in outcome.assignments.keys() {
                    assert!(t.roster.user(id).is_some(), "assigned unknown user {id}");
                }
                assert!(outcome.changed <= outcome.rows.max(t.roster.users().len() as u64));
            }
            Err(CsvFailure::Invalid(errors)) => assert!(!errors.is_empty()),
            Err(CsvFailure::TooLarge { .. }) => {}
        }
    });
});
