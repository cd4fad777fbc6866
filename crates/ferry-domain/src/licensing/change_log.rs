//! The compact diff of a draft change, as the audit trail records it: only
//! the users whose assignment changed, capped at [`MAX_LISTED_USERS`]. The
//! whole-draft form ([`draft_change`]) serves a manual edit; the streamed
//! form ([`DraftChangeLog`]) serves the CSV import, which meets changed users
//! in file order and never holds either draft whole.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{Assignment, Assignments};

/// Users listed in one draft-change record at most; beyond, the record
/// counts them (`omitted`) so a million-user import stays one bounded row.
pub const MAX_LISTED_USERS: usize = 10_000;

/// The compact before/after of a draft change: only the users whose
/// assignment changed, each with plan, add-ons and user name (`null`: no
/// entry, i.e. no licence). Returns `(before, after)` JSON objects
/// `{"draft_version": …, "users": {id: assignment|null}}`; `after` also has
/// `changed` (how many users) and, past [`MAX_LISTED_USERS`], `omitted`.
pub fn draft_change(
    before: &Assignments,
    before_version: i64,
    after: &Assignments,
    after_version: i64,
) -> (Value, Value) {
    let none = Assignment::default();
    let mut log = DraftChangeLog::default();
    // One walk over both sorted maps: a million-user import is audited
    // without a set of every id or a lookup per user.
    let mut old_it = before.iter().peekable();
    let mut new_it = after.iter().peekable();
    loop {
        use std::cmp::Ordering;
        let order = match (old_it.peek(), new_it.peek()) {
            (None, None) => break,
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (Some((o, _)), Some((n, _))) => o.cmp(n),
        };
        let (id, old, new) = match order {
            Ordering::Less => match old_it.next() {
                Some((id, old)) => (id, old, &none),
                None => break,
            },
            Ordering::Greater => match new_it.next() {
                Some((id, new)) => (id, &none, new),
                None => break,
            },
            Ordering::Equal => match (old_it.next(), new_it.next()) {
                (Some((id, old)), Some((_, new))) => (id, old, new),
                _ => break,
            },
        };
        log.push(id, old, new);
    }
    log.finish(before_version, after_version)
}

/// The users a draft change touched, gathered in any order (a streamed
/// import meets them in file order): all are counted, and the
/// [`MAX_LISTED_USERS`] smallest user ids are kept with their before and
/// after, so memory stays bounded however many users changed and the record
/// lists the same users [`draft_change`] would.
#[derive(Debug, Default)]
pub struct DraftChangeLog {
    /// Kept as entries, made JSON only by [`DraftChangeLog::finish`]: an
    /// in-memory import never asks for the record.
    listed: BTreeMap<String, (Assignment, Assignment)>,
    changed: usize,
    /// Once `listed` is full: its largest id, which an id must be below to
    /// be listed, with [`id_prefix`] of it. A million-row import asks once
    /// per row, and the prefix answers most of them with one comparison of
    /// integers.
    bound: Option<(u64, String)>,
}

/// The first eight bytes of `id` as a big-endian number (zero-padded): when
/// two prefixes differ, they order the ids as the ids' bytes do.
fn id_prefix(id: &str) -> u64 {
    let mut b = [0u8; 8];
    let n = id.len().min(8);
    b[..n].copy_from_slice(&id.as_bytes()[..n]);
    u64::from_be_bytes(b)
}

impl DraftChangeLog {
    /// Notes one user's entry before and after (empty = no licence); equal
    /// ones are no change and ignored. Each user at most once.
    pub fn push(&mut self, user_id: &str, old: &Assignment, new: &Assignment) {
        if old == new || (old.is_empty() && new.is_empty()) {
            return;
        }
        self.changed += 1;
        if let Some((prefix, last)) = &self.bound {
            let p = id_prefix(user_id);
            if p > *prefix || (p == *prefix && user_id >= last.as_str()) {
                return;
            }
            self.listed.pop_last();
        }
        self.listed
            .insert(user_id.to_owned(), (old.clone(), new.clone()));
        if self.listed.len() >= MAX_LISTED_USERS {
            self.bound = self
                .listed
                .last_key_value()
                .map(|(last, _)| (id_prefix(last), last.clone()));
        }
    }

    /// Users whose entry changed.
    pub fn changed(&self) -> usize {
        self.changed
    }

    /// The `(before, after)` JSON objects of the audit record.
    pub fn finish(self, before_version: i64, after_version: i64) -> (Value, Value) {
        let mut b = serde_json::Map::new();
        let mut a = serde_json::Map::new();
        for (id, (old, new)) in self.listed {
            b.insert(id.clone(), assignment_json(&old));
            a.insert(id, assignment_json(&new));
        }
        let changed = self.changed;
        let before = serde_json::json!({"draft_version": before_version, "users": b});
        let mut after = serde_json::json!({
            "draft_version": after_version,
            "users": a,
            "changed": changed,
        });
        if changed > MAX_LISTED_USERS {
            after["omitted"] = Value::from(changed - MAX_LISTED_USERS);
        }
        (before, after)
    }
}

fn assignment_json(a: &Assignment) -> Value {
    if a.is_empty() {
        return Value::Null;
    }
    serde_json::json!({
        "plan": a.plan,
        "addons": a.addons,
        "username": a.username.as_ref().map(|u| u.as_str()),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::Email;

    /// A streamed import meets changed users in file order, not id order:
    /// the log must still list the same users, and count all of them.
    /// Ids short enough for the log's integer prefix to order them alone,
    /// and ids sharing their first eight bytes, which it cannot; arriving in
    /// reverse order (every id after the ones it must displace) and shuffled.
    #[test]
    fn change_log_in_any_order_lists_what_the_sorted_walk_lists() {
        let entry = |plan: &str| Assignment {
            plan: Some(plan.to_owned()),
            ..Assignment::default()
        };
        let n = 2 * MAX_LISTED_USERS + 57;
        let formats: [fn(usize) -> String; 2] =
            [|i| format!("u{i:06}"), |i| format!("migrated-user-{i:06}")];
        for id in formats {
            let before: Assignments = (0..n).map(|i| (id(i), entry("Basic"))).collect();
            let after: Assignments = (0..n)
                .map(|i| (id(i), entry(if i % 3 == 0 { "Basic" } else { "Admin" })))
                .chain([("new".to_owned(), entry("Engage"))])
                .collect();
            let sorted = draft_change(&before, 4, &after, 5);
            let ids: Vec<&String> = after.keys().collect();
            let reverse: Vec<&String> = ids.iter().rev().copied().collect();
            // 7919 is prime and does not divide n + 1: a permutation.
            let shuffled: Vec<&String> =
                (0..ids.len()).map(|i| ids[i * 7919 % ids.len()]).collect();
            for order in [reverse, shuffled] {
                let mut log = DraftChangeLog::default();
                let none = Assignment::default();
                for id in order {
                    log.push(id, before.get(id).unwrap_or(&none), &after[id]);
                }
                let expected_changed = (0..n).filter(|i| i % 3 != 0).count() + 1;
                assert_eq!(log.changed(), expected_changed);
                let streamed = log.finish(4, 5);
                assert_eq!(streamed, sorted);
                assert_eq!(streamed.1["changed"], expected_changed);
                assert_eq!(streamed.1["omitted"], expected_changed - MAX_LISTED_USERS);
            }
        }
    }

    #[test]
    fn draft_change_lists_only_changed_users() {
        let mut before = Assignments::new();
        let a = |plan: &str, user: &str| Assignment {
            plan: Some(plan.into()),
            addons: vec![],
            username: Some(Email::parse(user).unwrap()),
        };
        before.insert("u1".into(), a("Admin", "mia@x.example"));
        before.insert("u2".into(), a("Engage", "bob@x.example"));
        let mut after = before.clone();
        after.insert("u2".into(), a("Engage", "robert@x.example"));
        after.insert("u3".into(), a("Sales", "eve@x.example"));
        after.remove("u1");
        let (b, a) = draft_change(&before, 3, &after, 4);
        assert_eq!(b["draft_version"], 3);
        assert_eq!(a["draft_version"], 4);
        assert_eq!(a["changed"], 3);
        assert_eq!(b["users"]["u1"]["plan"], "Admin");
        assert_eq!(a["users"]["u1"], Value::Null);
        assert_eq!(b["users"]["u2"]["username"], "bob@x.example");
        assert_eq!(a["users"]["u2"]["username"], "robert@x.example");
        assert_eq!(b["users"]["u3"], Value::Null);
        assert_eq!(a["users"]["u3"]["plan"], "Sales");
        assert_eq!(a["users"].as_object().unwrap().len(), 3);
    }
}
