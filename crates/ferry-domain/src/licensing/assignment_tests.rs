//! Unit tests of `assignment`: input normalisation and the wire form.

use super::*;
use crate::licensing::test_support::{assign, catalogue, draft, roster};

#[test]
fn inputs_are_canonicalised() {
    let c = catalogue();
    assert_eq!(plan_from_input(&c, " engage "), Some("Engage".into()));
    assert_eq!(plan_from_input(&c, " "), None);
    assert_eq!(plan_from_input(&c, "Gold"), Some("Gold".into()));
    assert_eq!(
        addons_from_input(&c, ["analytics", " ", "ANALYTICS", "x"]),
        vec!["Analytics", "x"]
    );
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
