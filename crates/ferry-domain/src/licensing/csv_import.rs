//! The CSV upload of the assignment (SPEC §3.4) against a roster and draft
//! in memory: the streamed import ([`super::import_check`]) driven without a
//! database. The domain's tests and the validate-only benchmark use it; the
//! HTTP import drives the same state machine against the store.

use std::collections::HashMap;
use std::io::Read;

use super::assignment::{Assignment, Assignments};
use super::catalogue::Catalogue;
use super::csv_common::{CsvFailure, CsvLimits};
use super::import_batch::{IMPORT_BATCH_ROWS, ImportBatch, ImportFailure, ImportReader};
use super::import_check::{DraftChange, ImportCheck, NameHolder, Unrowed, UserRef};
use super::roster::Roster;
use crate::newtypes::Email;

/// What a valid file turns the draft into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportOutcome {
    /// The complete new draft assignments: one entry per licensed active user
    /// (empty entries left out), inactive users' entries kept from the base.
    pub assignments: Assignments,
    /// Data rows read.
    pub rows: u64,
    /// Users whose assignment differs from the base.
    pub changed: u64,
}

/// Reads and checks an assignment CSV against the roster and catalogue.
///
/// `base` is the current draft: the file covers the active users only, so
/// inactive users keep what the draft gives them, and capacity is checked on
/// the complete result. Row numbers are spreadsheet rows (header = 1).
///
/// A licensed row with an empty `Username` gets the user's first address,
/// as in the bulk edit, so that filling in `New License` is enough.
pub fn import_assignment_csv<R: Read>(
    reader: R,
    roster: &Roster,
    catalogue: &Catalogue,
    base: &Assignments,
    acting: &Email,
    limits: CsvLimits,
) -> Result<ImportOutcome, ImportFailure> {
    import_in_batches(
        reader,
        roster,
        catalogue,
        base,
        acting,
        limits,
        IMPORT_BATCH_ROWS,
    )
}

/// [`import_assignment_csv`] with batches of `batch_rows` rows: the verdict
/// must not depend on where the batches split the file.
pub(crate) fn import_in_batches<R: Read>(
    reader: R,
    roster: &Roster,
    catalogue: &Catalogue,
    base: &Assignments,
    acting: &Email,
    limits: CsvLimits,
    batch_rows: usize,
) -> Result<ImportOutcome, ImportFailure> {
    let mut file = ImportReader::open(reader, limits)?;
    let users = roster.users();
    let mut check = ImportCheck::new(catalogue, acting, users.len());
    // The base entries by roster position: a row's entry is then an index,
    // not a search in a map of a million ids.
    let mut by_pos: Vec<Option<&Assignment>> = Vec::new();
    if !base.is_empty() {
        by_pos = vec![None; users.len()];
        for (id, a) in base {
            if let Some(p) = roster.position(id) {
                by_pos[p] = Some(a);
            }
        }
    }
    let entry = |pos: usize| by_pos.get(pos).copied().flatten();
    // Room for every user up front: growing a vector of a million entries
    // would copy it several times.
    let mut changes: Vec<DraftChange> = Vec::with_capacity(users.len());
    let mut batch = ImportBatch::default();
    // Files usually keep the export's order, so the next row is most likely
    // the next user: checking that first skips a hash lookup (a cache miss
    // in a million-entry table) on almost every row.
    let mut expected = 0usize;
    while file.read_batch(&mut batch, batch_rows)? {
        let lookup = |uid: &str| {
            let pos = users
                .get(expected)
                .filter(|u| u.user_id() == uid)
                .map(|_| expected)
                .or_else(|| roster.position(uid))?;
            expected = pos + 1;
            Some(UserRef {
                pos,
                user: &users[pos],
                entry: entry(pos),
            })
        };
        check.check_batch(&batch, lookup, &mut changes);
    }
    let scope = check.rows_done(file.finish(), roster.active_users().count());
    check.visit_unrowed(
        users
            .iter()
            .enumerate()
            .filter(|(_, u)| scope == Unrowed::All || !u.active())
            .map(|(pos, user)| UserRef {
                pos,
                user,
                entry: entry(pos),
            }),
    );
    let next = apply(roster, base, changes);
    let candidates = check.name_candidates();
    check.repeated_usernames(holders_at(roster, &next, &candidates));
    match check.finish() {
        Ok(summary) => Ok(ImportOutcome {
            changed: summary.changed(),
            // Built from a sorted list: the tree is filled in bulk.
            assignments: next.into_iter().collect(),
            rows: summary.rows,
        }),
        Err(errors) => Err(CsvFailure::Invalid(errors)),
    }
}

/// The base with the changes applied, in one walk over both sorted lists,
/// as a list (the user-name check walks a list faster than a tree), sorted
/// by user id unless the base is empty; entries of users no longer in the
/// roster and empty ones left out.
fn apply(
    roster: &Roster,
    base: &Assignments,
    mut changes: Vec<DraftChange>,
) -> Vec<(String, Assignment)> {
    use std::cmp::Ordering;
    if base.is_empty() {
        // A first import: the changes are the draft, in file order (the
        // tree sorts them as it is built).
        return changes
            .into_iter()
            .filter_map(|c| Some((c.user_id, c.after?)))
            .collect();
    }
    changes.sort_unstable_by(|a, b| a.user_id.cmp(&b.user_id));
    let mut out: Vec<(String, Assignment)> = Vec::with_capacity(base.len() + changes.len());
    let mut old = base
        .iter()
        .filter(|(id, a)| !a.is_empty() && roster.position(id).is_some())
        .peekable();
    let mut new = changes.into_iter().peekable();
    loop {
        let order = match (old.peek(), new.peek()) {
            (None, None) => break,
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (Some((o, _)), Some(c)) => o.as_str().cmp(c.user_id.as_str()),
        };
        let take_new = match order {
            Ordering::Less => {
                if let Some((id, a)) = old.next() {
                    out.push((id.clone(), a.clone()));
                }
                false
            }
            // The change replaces the old entry.
            Ordering::Equal => old.next().is_some(),
            Ordering::Greater => true,
        };
        if take_new
            && let Some(c) = new.next()
            && let Some(a) = c.after
        {
            out.push((c.user_id, a));
        }
    }
    out
}

/// The entries of `next` at roster positions `candidates` (ascending), with
/// their user names. No walk at all for a file without a repeated name, the
/// usual case.
fn holders_at(
    roster: &Roster,
    next: &[(String, Assignment)],
    candidates: &[usize],
) -> Vec<NameHolder> {
    if candidates.is_empty() {
        return Vec::new();
    }
    let users = roster.users();
    let wanted: HashMap<&str, usize> = candidates
        .iter()
        .filter_map(|&pos| Some((users.get(pos)?.user_id(), pos)))
        .collect();
    next.iter()
        .filter_map(|(id, a)| {
            Some(NameHolder {
                pos: *wanted.get(id.as_str())?,
                user_id: id.clone(),
                username: a.username.clone()?,
            })
        })
        .collect()
}

#[cfg(test)]
#[path = "csv_import_tests.rs"]
mod tests;
