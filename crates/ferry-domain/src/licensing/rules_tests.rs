//! One unit test per rule of the engine, each failing without its rule.

use super::*;
use crate::licensing::assignment::Assignment;
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
    assert_eq!(
        check(&with("u9", Assignment::default())),
        vec!["u9:unknown_user"]
    );
}

#[test]
fn unknown_plan_and_addon() {
    let d = with(
        "u5",
        assign(Some("Premium"), &["Sorcery"], Some("eve@acme.example")),
    );
    assert_eq!(check(&d), vec!["u5:unknown_plan", "u5:unknown_addon"]);
}

#[test]
fn plan_lookup_ignores_case() {
    let d = with("u5", assign(Some("basic"), &[], Some("eve@acme.example")));
    assert!(check(&d).is_empty());
}

#[test]
fn addons_only_on_capable_plans() {
    let d = with(
        "u3",
        assign(Some("Standard"), &["Analytics"], Some("cid@acme.example")),
    );
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
    let mut d = with(
        "u5",
        assign(Some("Standard"), &[], Some("eve@acme.example")),
    );
    d.insert(
        "u4".into(),
        assign(Some("Standard"), &[], Some("dee@acme.example")),
    );
    let v = validate_assignments(&roster(), &catalogue(), &d, &acting());
    assert_eq!(v.len(), 1, "{v:?}");
    assert_eq!(
        (v[0].code, v[0].value.as_str(), v[0].user_id.as_deref()),
        (codes::CAPACITY_EXCEEDED, "Standard", None)
    );
    assert!(
        v[0].message.contains("3 users") && v[0].message.contains("has 2"),
        "{}",
        v[0].message
    );
}

#[test]
fn addon_capacity() {
    let d = with(
        "u1",
        assign(
            Some("Admin"),
            &["marketing", "Marketing"],
            Some("ann@acme.example"),
        ),
    );
    let v = validate_assignments(&roster(), &catalogue(), &d, &acting());
    assert_eq!(
        v.iter()
            .map(|v| (v.code, v.value.as_str()))
            .collect::<Vec<_>>(),
        vec![(codes::CAPACITY_EXCEEDED, "Marketing")]
    );
    assert!(
        v[0].message.contains("2 users"),
        "a user's repeated add-on counts once: {}",
        v[0].message
    );
}

#[test]
fn acting_user_must_keep_a_licence() {
    let mut d = draft();
    d.remove("u1");
    assert_eq!(check(&d), vec!["u1:acting_user_unlicensed"]);
    // Someone not in the roster has nothing to keep.
    assert!(
        validate_assignments(&roster(), &catalogue(), &d, &email("ext@partner.example")).is_empty()
    );
}

#[test]
fn acting_user_found_by_chosen_username_counts_as_licensed() {
    // Ann lost her plan but Eve now logs in as ann@: the acting person keeps access.
    let mut d = draft();
    d.remove("u1");
    d.insert(
        "u5".into(),
        assign(Some("Basic"), &[], Some("ann@acme.example")),
    );
    assert!(check(&d).is_empty());
}
