//! The one rule engine of SPEC §3.4, shared by the bulk edit, the CSV import
//! and the pre-flight report, so the paths can never disagree about what is
//! allowed.
//!
//! Internally it works on roster positions rather than user ids: a large
//! import already knows each row's position, and every id lookup in a
//! million-entry hash table is a cache miss.

use std::collections::HashMap;
use std::hash::BuildHasher;

use super::assignment::{Assignment, Assignments, RuleViolation};
use super::caseless::Caseless;
use super::catalogue::Catalogue;
use super::codes::{self, columns};
use super::roster::Roster;
use crate::newtypes::Email;

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
    let mut items = Vec::with_capacity(assignments.len());
    for (user_id, a) in assignments {
        match roster.position(user_id) {
            Some(pos) => items.push((pos, a)),
            None => {
                let msg = format!("user '{user_id}' is not in the roster");
                let code = codes::UNKNOWN_USER;
                out.push(RuleViolation::user(
                    user_id,
                    columns::USER_ID,
                    user_id,
                    code,
                    msg,
                ));
            }
        }
    }
    out.extend(check_rules(roster, catalogue, &items, acting));
    out
}

/// The rules over the assignments of roster users, given by roster position.
/// A user appears at most once in `items`.
pub(crate) fn check_rules(
    roster: &Roster,
    catalogue: &Catalogue,
    items: &[(usize, &Assignment)],
    acting: &Email,
) -> Vec<RuleViolation> {
    let on_card = (0..roster.users().len())
        .filter(|&p| roster.users()[p].has_address(acting.as_str()))
        .collect();
    check_rules_with_cards(roster, catalogue, items, acting, on_card)
}

/// [`check_rules`], given the positions of the roster users with the acting
/// person's address on their card (each once, any order). A large import
/// finds them while it compares each row with its user anyway, instead of
/// walking every roster entry again.
pub(crate) fn check_rules_with_cards(
    roster: &Roster,
    catalogue: &Catalogue,
    items: &[(usize, &Assignment)],
    acting: &Email,
    on_card: Vec<usize>,
) -> Vec<RuleViolation> {
    let mut out = Vec::new();
    let mut counts = Counts::new(catalogue);
    // One pass over the items reads each user name once: hashed for the
    // duplicate check, compared with the acting person's.
    let me = Caseless(acting.as_str());
    let state = foldhash::fast::RandomState::default();
    let mut hashed: Vec<(u64, usize)> = Vec::with_capacity(items.len());
    let mut named_acting: Vec<usize> = Vec::new();
    for (k, &(pos, a)) in items.iter().enumerate() {
        // The user id only for messages: fetching it for every item would
        // touch every roster entry again.
        let user_id = || roster.users()[pos].user_id();
        check_one(catalogue, user_id, a, &mut counts, &mut out);
        if let Some(u) = &a.username {
            let name = Caseless(u.as_str());
            hashed.push((state.hash_one(name), k));
            if name == me {
                named_acting.push(pos);
            }
        }
    }
    let usernames = repeated_usernames(items, hashed);
    if usernames.values().any(|&n| n > 1) {
        duplicate_usernames(roster, items, &usernames, &mut out);
    }
    capacity(catalogue, &counts, &mut out);
    acting_user(roster, items, on_card, &named_acting, acting, &mut out);
    out
}

/// Users per plan and per add-on, by catalogue position.
pub(crate) struct Counts {
    plans: Vec<u64>,
    addons: Vec<u64>,
}

impl Counts {
    pub(crate) fn new(catalogue: &Catalogue) -> Self {
        Self {
            plans: vec![0; catalogue.plans().len()],
            addons: vec![0; catalogue.addons().len()],
        }
    }
}

/// The rules about one user's own assignment; counts their plan and add-ons.
pub(crate) fn check_one<'r>(
    catalogue: &Catalogue,
    user_id: impl Fn() -> &'r str,
    a: &Assignment,
    counts: &mut Counts,
    out: &mut Vec<RuleViolation>,
) {
    let mut push = |column: &str, value: &str, code, msg: String| {
        out.push(RuleViolation::user(user_id(), column, value, code, msg));
    };
    let plan = a.plan.as_deref().and_then(|name| {
        let found = catalogue.plan_position(name);
        if found.is_none() {
            let msg = format!("'{name}' is not a plan of this tenant's catalogue");
            push(columns::NEW_LICENSE, name, codes::UNKNOWN_PLAN, msg);
        }
        found.map(|i| {
            counts.plans[i] += 1;
            &catalogue.plans()[i]
        })
    });
    for (k, addon) in a.addons.iter().enumerate() {
        let Some(i) = catalogue.addon_position(addon) else {
            let msg = format!("'{addon}' is not an add-on of this tenant's catalogue");
            push(columns::NEW_ADDONS, addon, codes::UNKNOWN_ADDON, msg);
            continue;
        };
        // A user listing an add-on twice holds it once. Lists are a handful
        // long, so looking back beats allocating a set per user.
        if !a.addons[..k]
            .iter()
            .any(|x| catalogue.addon_position(x) == Some(i))
        {
            counts.addons[i] += 1;
        }
    }
    if !a.addons.is_empty() {
        if a.plan.is_none() {
            let msg = "add-ons need a plan: a user without a licence has none".to_owned();
            push(
                columns::NEW_ADDONS,
                &a.addons.join(", "),
                codes::ADDONS_WITHOUT_PLAN,
                msg,
            );
        } else if let Some(p) = plan.filter(|p| !p.addons_allowed) {
            let msg = format!("plan '{}' cannot carry add-ons", p.name);
            push(
                columns::NEW_ADDONS,
                &a.addons.join(", "),
                codes::ADDONS_NOT_ALLOWED,
                msg,
            );
        }
    }
    match (&a.plan, &a.username) {
        (None, Some(u)) => {
            let msg = "a user without a licence has no user name".to_owned();
            push(
                columns::USERNAME,
                u.as_str(),
                codes::USERNAME_WITHOUT_PLAN,
                msg,
            );
        }
        (Some(p), None) => {
            let msg = format!(
                "a user with plan '{p}' needs a user name: select one of the user's \
                 existing addresses or write a new address"
            );
            push(columns::USERNAME, "", codes::USERNAME_REQUIRED, msg);
        }
        _ => {}
    }
}

/// Users per user name, for the names that may repeat; a name missing from
/// the map is held by one user only. `hashed` has the hash of each item's
/// user name (ignoring case) with the item's index.
///
/// Most names are unique, and a million-entry hash table of all of them costs
/// a cache miss per insert (a quarter of a large import). So the hashes are
/// sorted instead, which walks memory in order; only names whose hash repeats
/// (true repeats plus rare collisions) are then counted exactly, in a map that
/// stays small. The hasher is seeded per call, so a crafted file cannot force
/// every name into that map.
fn repeated_usernames<'a>(
    items: &[(usize, &'a Assignment)],
    mut hashed: Vec<(u64, usize)>,
) -> HashMap<Caseless<'a>, u32> {
    hashed.sort_unstable_by_key(|&(h, _)| h);
    let mut counts: HashMap<Caseless<'a>, u32> = HashMap::new();
    for run in hashed.chunk_by(|x, y| x.0 == y.0).filter(|r| r.len() > 1) {
        for &(_, k) in run {
            if let Some(u) = &items[k].1.username {
                *counts.entry(Caseless(u.as_str())).or_default() += 1;
            }
        }
    }
    counts
}

/// One violation per holder of a user name that several users chose.
fn duplicate_usernames(
    roster: &Roster,
    items: &[(usize, &Assignment)],
    usernames: &HashMap<Caseless<'_>, u32>,
    out: &mut Vec<RuleViolation>,
) {
    let id = |pos: usize| roster.users()[pos].user_id();
    let mut holders: HashMap<Caseless<'_>, Vec<&str>> = HashMap::new();
    for &(pos, a) in items {
        if let Some(u) = &a.username
            && usernames.get(&Caseless(u.as_str())).is_some_and(|&n| n > 1)
        {
            holders
                .entry(Caseless(u.as_str()))
                .or_default()
                .push(id(pos));
        }
    }
    // In `items` order, so the output does not depend on hashing.
    for &(pos, a) in items {
        let Some(u) = &a.username else { continue };
        let Some(all) = holders.get(&Caseless(u.as_str())) else {
            continue;
        };
        let others: Vec<&str> = all.iter().copied().filter(|h| *h != id(pos)).collect();
        let msg = format!("user name '{u}' is also chosen for {}", others.join(", "));
        let code = codes::DUPLICATE_USERNAME;
        out.push(RuleViolation::user(
            id(pos),
            columns::USERNAME,
            u.as_str(),
            code,
            msg,
        ));
    }
}

/// Plans and add-ons over their contract capacity, one violation each.
pub(crate) fn capacity(catalogue: &Catalogue, counts: &Counts, out: &mut Vec<RuleViolation>) {
    for (plan, &n) in catalogue.plans().iter().zip(&counts.plans) {
        if n > u64::from(plan.capacity) {
            let cap = plan.capacity;
            let msg = format!(
                "plan '{}': {n} users assigned, the contract has {cap}",
                plan.name
            );
            let code = codes::CAPACITY_EXCEEDED;
            out.push(RuleViolation::global(
                columns::NEW_LICENSE,
                &plan.name,
                code,
                msg,
            ));
        }
    }
    for (addon, &n) in catalogue.addons().iter().zip(&counts.addons) {
        if n > u64::from(addon.capacity) {
            let cap = addon.capacity;
            let msg = format!(
                "add-on '{}': {n} users assigned, the contract has {cap}",
                addon.name
            );
            let code = codes::CAPACITY_EXCEEDED;
            out.push(RuleViolation::global(
                columns::NEW_ADDONS,
                &addon.name,
                code,
                msg,
            ));
        }
    }
}

/// The acting person's roster users (by address on the card or by chosen user
/// name). If there are any, one of them must end with a plan.
/// `on_card` holds the positions of the users with the acting person's address
/// on their card, `named` those of the items whose user name is theirs.
fn acting_user(
    roster: &Roster,
    items: &[(usize, &Assignment)],
    on_card: Vec<usize>,
    named: &[usize],
    acting: &Email,
    out: &mut Vec<RuleViolation>,
) {
    let mut acting_pos = on_card;
    for &pos in named {
        if !acting_pos.contains(&pos) {
            acting_pos.push(pos);
        }
    }
    // Nobody to keep licensed (an external consultant), or someone is.
    if acting_pos.is_empty()
        || items
            .iter()
            .any(|(pos, a)| a.plan.is_some() && acting_pos.contains(pos))
    {
        return;
    }
    acting_pos.sort_unstable();
    for pos in acting_pos {
        let id = roster.users()[pos].user_id();
        let msg = format!(
            "you ({acting}) are user '{id}' and must keep a licence to finish the migration"
        );
        let code = codes::ACTING_USER_UNLICENSED;
        out.push(RuleViolation::user(id, columns::NEW_LICENSE, "", code, msg));
    }
}

#[cfg(test)]
#[path = "rules_tests.rs"]
mod tests;
