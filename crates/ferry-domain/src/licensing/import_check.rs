//! The rules of the assignment CSV import (SPEC §3.4) as a streamed state
//! machine, with no I/O: the caller reads the file in batches
//! ([`super::import_batch`]), looks each batch's users up wherever the roster
//! and the stored draft live, writes the changes [`ImportCheck::check_batch`]
//! returns, and hands over what only the whole draft can tell (users without
//! a row, repeated user names). The HTTP import drives it against the
//! database inside one transaction, so that a million-row file is checked
//! and applied in the memory of one batch; [`super::import_assignment_csv`]
//! drives it against a roster in memory.
//!
//! Per roster user it keeps four bytes (the row the user was seen on), a bit,
//! and for each entry with a user name eight bytes (a hash of the name, for
//! [`ImportCheck::name_candidates`]); everything else is per batch or per
//! catalogue entry.

use std::collections::HashMap;
use std::hash::BuildHasher;

use super::assignment::{Assignment, RuleViolation, addons_from_input, plan_from_input};
use super::caseless::{Caseless, username_key};
use super::catalogue::Catalogue;
use super::change_log::DraftChangeLog;
use super::codes::{self, columns};
use super::csv_common::{same_list, split_list, trim};
use super::import_batch::{ImportBatch, ReadEnd, RowKind, col, malformed};
use super::roster::SourceUser;
use super::rules::{Counts, capacity, check_one};
use super::username::default_username;
use crate::newtypes::Email;

/// One roster user as the import sees it: position in the roster (upload
/// order), the checked user, and the user's entry in the stored draft.
#[derive(Debug, Clone)]
pub struct StoredUser {
    pub pos: usize,
    pub user: SourceUser,
    pub entry: Option<Assignment>,
}

impl StoredUser {
    pub fn as_ref(&self) -> UserRef<'_> {
        UserRef {
            pos: self.pos,
            user: &self.user,
            entry: self.entry.as_ref(),
        }
    }
}

/// [`StoredUser`], borrowed.
#[derive(Debug, Clone, Copy)]
pub struct UserRef<'a> {
    pub pos: usize,
    pub user: &'a SourceUser,
    pub entry: Option<&'a Assignment>,
}

/// A user whose stored draft entry the file changes: the caller deletes the
/// old entry (`before`, if any) and writes `after` (`None`: no licence).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DraftChange {
    pub user_id: String,
    pub before: Option<Assignment>,
    pub after: Option<Assignment>,
    /// Whether the user is active: the overview counts entries by it.
    pub active: bool,
}

/// Which roster users, after the rows, the caller must show
/// [`ImportCheck::visit_unrowed`]: they keep their stored entry, which the
/// rules must still see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unrowed {
    /// Every active user had a readable row: only the inactive ones.
    Inactive,
    /// Some active users had no row, or an unreadable one: all users.
    All,
}

/// A holder of a user name that more than one entry of the new draft has.
#[derive(Debug, Clone)]
pub struct NameHolder {
    pub pos: usize,
    pub user_id: String,
    pub username: Email,
}

/// What a valid file did.
#[derive(Debug)]
pub struct ImportSummary {
    /// Data rows read.
    pub rows: u64,
    /// The audit's before/after of the users whose entry changed (counted).
    pub log: DraftChangeLog,
}

impl ImportSummary {
    /// Users whose assignment differs from the stored draft.
    pub fn changed(&self) -> u64 {
        self.log.changed() as u64
    }
}

/// The import's state between batches.
pub struct ImportCheck<'c> {
    catalogue: &'c Catalogue,
    acting: Email,
    /// Per roster position: the row the user was seen on (0: not yet).
    /// Rows are limited far below `u32::MAX`; a larger one saturates.
    seen_row: Vec<u32>,
    /// Per roster position, a bit: a readable row decided the user's entry.
    decided: Vec<u64>,
    active_seen: usize,
    broken_rows_named_users: bool,
    /// Row-by-row errors and the rules of each row's own entry, file order.
    errors: Vec<RuleViolation>,
    missing: Vec<RuleViolation>,
    kept_errors: Vec<RuleViolation>,
    name_errors: Vec<RuleViolation>,
    counts: Counts,
    /// The acting person's roster users (address on the card or chosen user
    /// name) and whether one of them ends with a plan.
    acting_users: Vec<(usize, String)>,
    acting_licensed: bool,
    log: DraftChangeLog,
    read: ReadEnd,
    scratch: Vec<RuleViolation>,
    /// One integer per entry of the new draft with a user name: the name's
    /// hash (ignoring case) in the high bits, the user's position in the
    /// low `pos_bits`. Sorting them finds repeated names without a map of a
    /// million names, and without asking a database to group them.
    names: Vec<u64>,
    pos_bits: u32,
    /// Seeded per import, so that a crafted file cannot make names collide.
    hasher: foldhash::fast::RandomState,
}

const EMPTY: Assignment = Assignment {
    plan: None,
    addons: Vec::new(),
    username: None,
};

impl<'c> ImportCheck<'c> {
    /// `roster_users` is the roster's size: positions are below it.
    pub fn new(catalogue: &'c Catalogue, acting: &Email, roster_users: usize) -> Self {
        Self {
            catalogue,
            acting: acting.clone(),
            seen_row: vec![0; roster_users],
            decided: vec![0; roster_users.div_ceil(64)],
            active_seen: 0,
            broken_rows_named_users: false,
            errors: Vec::new(),
            missing: Vec::new(),
            kept_errors: Vec::new(),
            name_errors: Vec::new(),
            counts: Counts::new(catalogue),
            acting_users: Vec::new(),
            acting_licensed: false,
            log: DraftChangeLog::default(),
            read: ReadEnd::default(),
            scratch: Vec::new(),
            names: Vec::new(),
            pos_bits: (usize::BITS - roster_users.leading_zeros()).min(63),
            hasher: foldhash::fast::RandomState::default(),
        }
    }

    /// Notes the user name of an entry of the new draft (non-empty) at `pos`.
    fn note_name(&mut self, pos: usize, a: &Assignment) {
        if let Some(u) = &a.username {
            let h = self.hasher.hash_one(Caseless(u.as_str()));
            let mask = (1u64 << self.pos_bits) - 1;
            self.names.push((h & !mask) | pos as u64);
        }
    }

    fn is_decided(&self, pos: usize) -> bool {
        self.decided[pos / 64] & (1 << (pos % 64)) != 0
    }

    fn decide(&mut self, pos: usize) {
        self.decided[pos / 64] |= 1 << (pos % 64);
    }

    fn row_of(&self, pos: usize) -> Option<u64> {
        Some(u64::from(self.seen_row[pos])).filter(|&r| r != 0)
    }

    fn see(&mut self, u: UserRef<'_>, row: u64) {
        if self.seen_row[u.pos] == 0 && u.user.active() {
            self.active_seen += 1;
        }
        self.seen_row[u.pos] = u32::try_from(row).unwrap_or(u32::MAX);
    }

    fn note_acting(&mut self, pos: usize, user_id: &str) {
        if !self.acting_users.iter().any(|(p, _)| *p == pos) {
            self.acting_users.push((pos, user_id.to_owned()));
        }
    }

    /// Checks a batch; `lookup` finds a roster user by id (any user, active
    /// or not; `None` if unknown). Adds the entries the batch changes to
    /// `changes`.
    pub fn check_batch<'u>(
        &mut self,
        batch: &ImportBatch,
        mut lookup: impl FnMut(&str) -> Option<UserRef<'u>>,
        changes: &mut Vec<DraftChange>,
    ) {
        for r in batch.rows() {
            match &r.kind {
                RowKind::Broken {
                    user_id,
                    line,
                    message,
                } => {
                    if let Some(u) = user_id.as_deref().and_then(&mut lookup) {
                        self.see(u, r.row);
                        self.broken_rows_named_users = true;
                    }
                    self.errors
                        .push(malformed(Some(r.row), *line, message.clone()));
                }
                RowKind::Cells(first) => {
                    let cell = |i: usize| batch.cell(*first, i);
                    let uid = trim(cell(col::USER_ID));
                    let user = lookup(uid).filter(|u| u.user.active());
                    if let Some(change) = self.check_row(r.row, uid, user, cell) {
                        changes.push(change);
                    }
                }
            }
        }
    }

    /// One readable row of user `uid` (`None`: not an active roster user).
    fn check_row<'a>(
        &mut self,
        row: u64,
        uid: &str,
        user: Option<UserRef<'_>>,
        cell: impl Fn(usize) -> &'a str,
    ) -> Option<DraftChange> {
        let at = Some(row);
        let Some(u) = user else {
            let msg =
                format!("user '{uid}' is not an active user of the roster: rows cannot be added");
            let v = RuleViolation::user(uid, columns::USER_ID, uid, codes::UNKNOWN_USER, msg);
            self.errors.push(v.at_row(at));
            return None;
        };
        if self.seen_row[u.pos] != 0 {
            let msg = format!(
                "user '{uid}' is already on row {}: rows cannot be duplicated",
                self.seen_row[u.pos]
            );
            let v = RuleViolation::user(uid, columns::USER_ID, uid, codes::DUPLICATE_ROW, msg);
            self.errors.push(v.at_row(at));
            return None;
        }
        self.see(u, row);
        self.decide(u.pos);
        let user = u.user;
        for (i, name) in readonly_changes(user, &cell) {
            let msg = format!("column '{name}' is read-only: restore the exported value");
            let v = RuleViolation::user(uid, name, cell(i), codes::READONLY_CHANGED, msg);
            self.errors.push(v.at_row(at));
        }
        let plan = plan_from_input(self.catalogue, cell(col::NEW_LICENSE));
        let addons = addons_from_input(self.catalogue, split_list(cell(col::NEW_ADDONS)));
        let mut username_cell = trim(cell(col::USERNAME));
        // "No licence" is written by emptying New License and New Add-ons
        // (the source products' own instruction); the user name the export
        // wrote goes with the licence and may stay in its cell. A user name
        // changed on such a row is still a user name without a plan.
        let no_licence =
            trim(cell(col::NEW_LICENSE)).is_empty() && trim(cell(col::NEW_ADDONS)).is_empty();
        let exported = u.entry.and_then(|e| e.username.as_ref());
        if no_licence && exported.is_some_and(|e| e.as_str() == username_cell) {
            username_cell = "";
        }
        let mut bad_username = false;
        let username = if username_cell.is_empty() {
            plan.as_ref().and_then(|_| default_username(user))
        } else if let Some(own) = user
            .emails()
            .first()
            .filter(|e| e.as_str() == username_cell)
        {
            // The user's own first address, byte for byte: it went through
            // `Email::parse` when the roster was checked, and parsing the
            // same text again gives an equal value, so clone it.
            Some(own.clone())
        } else {
            match Email::parse(username_cell) {
                Ok(e) => Some(e),
                Err(e) => {
                    let msg = format!("'{username_cell}' is not a valid user name: {}", e.message);
                    let code = codes::INVALID_USERNAME;
                    let v = RuleViolation::user(uid, columns::USERNAME, username_cell, code, msg);
                    self.errors.push(v.at_row(at));
                    bad_username = true;
                    None
                }
            }
        };
        let on_card = user.has_address(self.acting.as_str());
        if on_card {
            self.note_acting(u.pos, user.user_id());
        }
        let a = Assignment {
            plan,
            addons,
            username,
        };
        let before = u.entry.filter(|e| !e.is_empty());
        if !a.is_empty() {
            let mut found = std::mem::take(&mut self.scratch);
            check_one(
                self.catalogue,
                || user.user_id(),
                &a,
                &mut self.counts,
                &mut found,
            );
            for v in found.drain(..) {
                // An unreadable user name was reported already; "required"
                // would repeat it.
                if !(bad_username && v.code == codes::USERNAME_REQUIRED) {
                    self.errors.push(v.at_row(at));
                }
            }
            self.scratch = found;
            self.acting_entry(u.pos, user.user_id(), on_card, &a);
            self.note_name(u.pos, &a);
        }
        if before == Some(&a) || (before.is_none() && a.is_empty()) {
            return None;
        }
        self.log.push(user.user_id(), before.unwrap_or(&EMPTY), &a);
        Some(DraftChange {
            user_id: user.user_id().to_owned(),
            before: before.cloned(),
            after: (!a.is_empty()).then_some(a),
            active: user.active(),
        })
    }

    /// The acting-person rule's view of one non-empty entry of the new draft.
    fn acting_entry(&mut self, pos: usize, user_id: &str, on_card: bool, a: &Assignment) {
        let named = a
            .username
            .as_ref()
            .is_some_and(|u| Caseless(u.as_str()) == Caseless(self.acting.as_str()));
        if named {
            self.note_acting(pos, user_id);
        }
        if a.plan.is_some() && (on_card || named) {
            self.acting_licensed = true;
        }
    }

    /// After the last batch: how reading ended, and how many active users
    /// the roster has. Tells which users the caller must visit next.
    pub fn rows_done(&mut self, end: ReadEnd, active_users: usize) -> Unrowed {
        self.read = end;
        if self.active_seen == active_users && !self.broken_rows_named_users {
            Unrowed::Inactive
        } else {
            Unrowed::All
        }
    }

    /// Roster users in roster order (all, or the inactive ones, as
    /// [`ImportCheck::rows_done`] said), in as many calls as the caller
    /// likes. Users a row decided are skipped; the others keep their stored
    /// entry, which the rules check like any other; an active one without
    /// any row is missing.
    pub fn visit_unrowed<'u>(&mut self, users: impl IntoIterator<Item = UserRef<'u>>) {
        for u in users {
            if u.pos >= self.seen_row.len() || self.is_decided(u.pos) {
                continue;
            }
            let user = u.user;
            let id = user.user_id();
            if user.active() && self.seen_row[u.pos] == 0 && !self.read.structure_broken {
                let msg = format!(
                    "user '{id}' ({}) is missing: rows cannot be removed",
                    user.full_name()
                );
                let code = codes::MISSING_USER;
                self.missing
                    .push(RuleViolation::user(id, columns::USER_ID, id, code, msg));
            }
            let on_card = user.has_address(self.acting.as_str());
            if on_card {
                self.note_acting(u.pos, id);
            }
            let Some(a) = u.entry.filter(|a| !a.is_empty()) else {
                continue;
            };
            let row = self.row_of(u.pos);
            let mut found = std::mem::take(&mut self.scratch);
            check_one(self.catalogue, || id, a, &mut self.counts, &mut found);
            self.kept_errors
                .extend(found.drain(..).map(|v| v.at_row(row)));
            self.scratch = found;
            self.acting_entry(u.pos, id, on_card, a);
            self.note_name(u.pos, a);
        }
    }

    /// After [`ImportCheck::visit_unrowed`]: the positions (ascending) of
    /// the entries of the new draft whose user name may repeat another's,
    /// ignoring case; a superset, as a hash says so. The caller looks their
    /// names up and hands them to [`ImportCheck::repeated_usernames`], which
    /// compares them exactly, so a collision costs nothing but a look.
    pub fn name_candidates(&mut self) -> Vec<usize> {
        let mut names = std::mem::take(&mut self.names);
        // A plain integer sort, the fastest there is; with a million users
        // 44 bits of hash are left, so a collision is rare.
        names.sort_unstable();
        let mask = (1u64 << self.pos_bits) - 1;
        let mut out: Vec<usize> = names
            .chunk_by(|x, y| x & !mask == y & !mask)
            .filter(|run| run.len() > 1)
            .flatten()
            .map(|&h| (h & mask) as usize)
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    /// The entries of the new draft (after the writes) at the
    /// [`ImportCheck::name_candidates`], with their user names: those whose
    /// name another also has, ignoring case, are errors. One error per
    /// holder, in the order the rows' users then the other users come in
    /// the roster.
    pub fn repeated_usernames(&mut self, mut holders: Vec<NameHolder>) {
        holders.retain(|h| h.pos < self.seen_row.len());
        holders.sort_by_key(|h| (!self.is_decided(h.pos), h.pos));
        let mut groups: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, h) in holders.iter().enumerate() {
            groups.entry(username_key(&h.username)).or_default().push(i);
        }
        for h in &holders {
            let Some(group) = groups.get(&username_key(&h.username)) else {
                continue;
            };
            if group.len() < 2 {
                continue;
            }
            let others: Vec<&str> = group
                .iter()
                .map(|&i| holders[i].user_id.as_str())
                .filter(|id| *id != h.user_id)
                .collect();
            let u = &h.username;
            let msg = format!("user name '{u}' is also chosen for {}", others.join(", "));
            let v = RuleViolation::user(
                &h.user_id,
                columns::USERNAME,
                u.as_str(),
                codes::DUPLICATE_USERNAME,
                msg,
            );
            self.name_errors.push(v.at_row(self.row_of(h.pos)));
        }
    }

    /// The verdict: every error, rows first in file order (file-wide ones
    /// last), or what the valid file changed.
    pub fn finish(self) -> Result<ImportSummary, Vec<RuleViolation>> {
        let mut tail = Vec::new();
        capacity(self.catalogue, &self.counts, &mut tail);
        if !self.acting_users.is_empty() && !self.acting_licensed {
            let mut acting_users = self.acting_users;
            acting_users.sort_unstable();
            for (pos, id) in acting_users {
                let msg = format!(
                    "you ({}) are user '{id}' and must keep a licence to finish the migration",
                    self.acting
                );
                let code = codes::ACTING_USER_UNLICENSED;
                let v = RuleViolation::user(&id, columns::NEW_LICENSE, "", code, msg);
                let row = Some(u64::from(self.seen_row[pos])).filter(|&r| r != 0);
                tail.push(v.at_row(row));
            }
        }
        let mut errors = self.errors;
        errors.extend(self.read.errors);
        errors.extend(self.missing);
        errors.extend(self.kept_errors);
        errors.extend(self.name_errors);
        errors.extend(tail);
        if errors.is_empty() {
            return Ok(ImportSummary {
                rows: self.read.rows,
                log: self.log,
            });
        }
        // Spreadsheet order: by row, file-wide problems last; stable otherwise.
        errors.sort_by_key(|e| e.row.unwrap_or(u64::MAX));
        Err(errors)
    }
}

/// The read-only columns whose cell differs from the roster (after trimming,
/// as spreadsheets may pad cells; list cells compare item by item).
fn readonly_changes<'a>(
    user: &SourceUser,
    cell: &impl Fn(usize) -> &'a str,
) -> Vec<(usize, &'static str)> {
    let mut out = Vec::new();
    let same = |i: usize, expected: &str| trim(cell(i)) == expected;
    if !same(1, user.full_name().as_str()) {
        out.push((1, columns::NAME));
    }
    if !same_list(cell(2), user.addresses_as_written()) {
        out.push((2, columns::EMAILS));
    }
    if !same(3, user.group()) {
        out.push((3, columns::GROUP));
    }
    if !same(4, user.position()) {
        out.push((4, columns::POSITION));
    }
    if !same(5, user.old_license().unwrap_or("")) {
        out.push((5, columns::CURRENT_LICENSE));
    }
    if !same_list(cell(6), user.old_addons().iter().map(String::as_str)) {
        out.push((6, columns::CURRENT_ADDONS));
    }
    out
}
