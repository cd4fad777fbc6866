//! Unit tests of `roster`.

use super::*;
use crate::licensing::test_support::input;

fn codes_of(errs: &[RowError]) -> Vec<(&str, &str)> {
    errs.iter().map(|e| (e.field.as_str(), e.code)).collect()
}

#[test]
fn valid_inputs_build_a_roster() {
    let mut u = input("u1", "Ann", &["ann@x.de", "ANN@x.de", "a2@x.de"]);
    u.old_license = Some("  ".into());
    u.old_addons = vec![" Marketing ".into(), "".into()];
    u.group = " Sales ".into();
    let sats = [SatelliteInput {
        name: "HH".into(),
        active: false,
        source_row: None,
    }];
    let r = Roster::from_inputs(&[u, input("u2", "Bob", &["bob@x.de"])], &sats).expect("valid");
    let ann = r.user("u1").expect("u1");
    assert_eq!(
        ann.emails().len(),
        2,
        "case-duplicate address on one card is kept once"
    );
    assert_eq!(ann.old_license(), None);
    assert_eq!(ann.old_addons(), ["Marketing"]);
    assert_eq!(ann.group(), "Sales");
    assert_eq!(r.position("u2"), Some(1));
    assert_eq!(r.satellites().len(), 1);
    let (users, _) = r.to_inputs();
    let again = Roster::from_inputs(&users, &sats).expect("round trip");
    assert_eq!(again.users(), r.users());
}

#[test]
fn every_bad_row_is_reported() {
    let mut bad_id = input("", "Ann", &["a@x.de"]);
    bad_id.user_id = "x\u{1}".into();
    let bad_name = input("u3", " ", &["c@x.de"]);
    let mut bad_text = input("u4", "Dee", &["d@x.de"]);
    bad_text.group = "a\nb".into();
    let long_id = input(&"x".repeat(65), "Eve", &["e@x.de"]);
    let mut bad_mail = input("u5", "Fay", &["f@x.de", "x\u{7}y", &"z".repeat(201)]);
    bad_mail.group = "ok".into();
    let errs = Roster::from_inputs(&[bad_id, bad_name, bad_text, long_id, bad_mail], &[])
        .expect_err("invalid");
    assert_eq!(
        codes_of(&errs),
        vec![
            ("users[0].user_id", codes::INVALID_USER_ID),
            ("users[1].full_name", codes::INVALID_NAME),
            ("users[2].group", codes::INVALID_TEXT),
            ("users[3].user_id", codes::INVALID_USER_ID),
            // Text no card could hold (control characters, 201 characters).
            ("users[4].emails", codes::INVALID_EMAIL),
            ("users[4].emails", codes::INVALID_EMAIL),
        ]
    );
}

#[test]
fn cards_without_a_usable_address_load() {
    let none = input("u1", "Ann", &[]);
    let blank = input("u2", "Bob", &[" ", ""]);
    let bad = input(
        "u3",
        "Cid",
        &["nope", "\"cid\"@x.de", "cid@x.de; cid at home"],
    );
    let r = Roster::from_inputs(&[none, blank, bad], &[]).expect("a source fact, not an error");
    assert!(r.user("u1").is_some_and(|u| u.emails().is_empty()));
    assert!(r.user("u2").is_some_and(|u| u.unusable_emails().is_empty()));
    let cid = r.user("u3").expect("u3");
    assert_eq!(
        cid.emails().iter().map(|e| e.as_str()).collect::<Vec<_>>(),
        ["cid@x.de"]
    );
    assert_eq!(
        cid.unusable_emails(),
        ["nope", "\"cid\"@x.de", "cid at home"]
    );
    assert_eq!(
        cid.addresses_as_written().collect::<Vec<_>>(),
        ["cid@x.de", "nope", "\"cid\"@x.de", "cid at home"]
    );
    let (users, _) = r.to_inputs();
    let again = Roster::from_inputs(&users, &[]).expect("round trip");
    assert_eq!(again.users(), r.users());
}

#[test]
fn duplicate_user_id_is_an_error_duplicate_email_is_not() {
    let a = input("u1", "Ann", &["same@x.de"]);
    let b = input("u2", "Bob", &["SAME@x.de"]);
    assert!(Roster::from_inputs(&[a.clone(), b], &[]).is_ok());
    let mut dup = input("u1", "Ann Again", &["other@x.de"]);
    dup.source_row = Some(7);
    let errs = Roster::from_inputs(&[a, dup], &[]).expect_err("dup id");
    assert_eq!(errs.len(), 1);
    assert_eq!(
        (errs[0].row, errs[0].field.as_str(), errs[0].code),
        (Some(7), "user_id", codes::DUPLICATE_USER_ID)
    );
    assert!(errs[0].message.contains("users[0]"), "{}", errs[0].message);
}

#[test]
fn satellites_are_checked() {
    let s = |n: &str| SatelliteInput {
        name: n.into(),
        active: true,
        source_row: None,
    };
    let errs = Roster::from_inputs(&[], &[s("HH"), s("hh"), s(" ")]).expect_err("bad");
    assert_eq!(
        codes_of(&errs),
        vec![
            ("satellites[1].name", codes::DUPLICATE_SATELLITE),
            ("satellites[2].name", codes::INVALID_SATELLITE)
        ]
    );
}

#[test]
fn lookups_by_address_ignore_case() {
    let r = Roster::from_inputs(&[input("u1", "Ann", &["Ann@X.de"])], &[]).expect("valid");
    let probe = Email::parse("ann@x.DE").expect("email");
    assert_eq!(r.users_with_address(&probe).count(), 1);
    assert!(r.users()[0].has_address(probe.as_str()));
}

#[test]
fn json_defaults() {
    let u: RosterUserInput =
        serde_json::from_str(r#"{"user_id":"u1","full_name":"Ann","emails":["a@x.de"]}"#)
            .expect("json");
    assert!(u.active && !u.is_admin && !u.on_travel);
    assert!(
        serde_json::from_str::<RosterUserInput>(
            r#"{"user_id":"u1","full_name":"A","emails":[],"x":1}"#
        )
        .is_err()
    );
}
