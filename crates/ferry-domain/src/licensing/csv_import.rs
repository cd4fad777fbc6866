//! The CSV upload of the assignment (SPEC §3.4): streamed row by row, checked
//! as a whole, all or nothing. The file may only change the editable columns
//! of the export; everything else it says is checked by the shared engine.

use std::collections::HashSet;
use std::io::Read;

use super::assignment::{
    Assignment, Assignments, RuleViolation, addons_from_input, plan_from_input,
};
use super::catalogue::Catalogue;
use super::codes::{self, columns};
use super::csv_common::{
    CsvFailure, CsvLimits, normalise_header, same_list, split_list, trim, unneutralise,
};
use super::csv_reader::{CsvRows, ReadStop};
use super::roster::{Roster, SourceUser};
use super::rules::check_rules_with_cards;
use super::username::default_username;
use crate::newtypes::Email;

/// A refused import: 413 for `TooLarge`, 422 with every error for `Invalid`.
pub type ImportFailure = CsvFailure<RuleViolation>;

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

/// No entry in `imported` for a roster position.
const NO_ENTRY: usize = usize::MAX;
/// The user's row assigns nothing: no entry in `imported` (so that later
/// passes need not look at it to drop it), and no base entry kept either.
const EMPTY_ROW: usize = usize::MAX - 1;

/// Column positions in the uploaded file, by export column.
struct Columns([usize; 10]);

impl Columns {
    const USER_ID: usize = 0;
    const NEW_LICENSE: usize = 7;
    const NEW_ADDONS: usize = 8;
    const USERNAME: usize = 9;
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
    let (mut rows, header) = CsvRows::open(reader, limits).map_err(stop_to_failure)?;
    let cols = map_columns(&header).map_err(CsvFailure::Invalid)?;

    let mut errors: Vec<RuleViolation> = Vec::new();
    // Per roster position: the row the user was seen on (0 = not yet) and
    // which entry of `imported` the row made. Vectors, not maps: a million
    // users stay cheap.
    let mut seen_on = vec![0u64; roster.users().len()];
    let mut slot = vec![NO_ENTRY; roster.users().len()];
    // What the rows assign, in file order, already keyed by user id as the
    // result needs them: the entries move into the result without another
    // copy, and a file in export order needs no sorting.
    // Reserved for every roster user: pages the file does not fill are never
    // touched, and growing a vector of a million entries would copy it.
    let mut imported: Vec<(String, Assignment)> = Vec::with_capacity(roster.users().len());
    let mut bad_username: HashSet<usize> = HashSet::new();
    // Roster positions with the acting person's address on the card, found
    // while each row's user is in cache anyway (the rest after the loop).
    let mut on_card: Vec<usize> = Vec::new();
    let mut structure_broken = false;
    let mut data_rows = 0u64;
    // Files usually keep the export's order, so the next row is most likely
    // the next active user: checking that first skips a hash lookup (a cache
    // miss in a million-entry table) on almost every row.
    let mut expected = next_active(roster, 0);

    loop {
        let raw = match rows.next_row() {
            Ok(Some(raw)) => raw,
            Ok(None) => break,
            Err(ReadStop::TooLarge { limit_name, limit }) => {
                return Err(CsvFailure::TooLarge { limit_name, limit });
            }
            Err(ReadStop::Io { line, message }) => {
                errors.push(malformed(None, line, message));
                structure_broken = true;
                break;
            }
        };
        data_rows += 1;
        if raw.is_blank() {
            continue;
        }
        let fields = match raw.decode(&header) {
            Ok(f) => f,
            Err(message) => {
                // The row still names its user if that cell is readable, so the
                // user is not also reported missing.
                let uid = raw
                    .record
                    .get(cols.0[Columns::USER_ID])
                    .and_then(|f| std::str::from_utf8(f).ok());
                if let Some(pos) = uid.and_then(|u| roster.position(trim(unneutralise(u)))) {
                    seen_on[pos] = raw.row;
                }
                errors.push(malformed(Some(raw.row), raw.line, message));
                continue;
            }
        };
        let cell = |i: usize| unneutralise(fields.get(cols.0[i]));
        let row = Some(raw.row);
        let uid = trim(cell(Columns::USER_ID));
        let guess = roster
            .users()
            .get(expected)
            .filter(|u| u.user_id() == uid)
            .map(|_| expected);
        let Some(pos) = guess
            .or_else(|| roster.position(uid))
            .filter(|&p| roster.users()[p].active())
        else {
            let msg =
                format!("user '{uid}' is not an active user of the roster: rows cannot be added");
            let v = RuleViolation::user(uid, columns::USER_ID, uid, codes::UNKNOWN_USER, msg);
            errors.push(v.at_row(row));
            continue;
        };
        if seen_on[pos] != 0 {
            let msg = format!(
                "user '{uid}' is already on row {}: rows cannot be duplicated",
                seen_on[pos]
            );
            let v = RuleViolation::user(uid, columns::USER_ID, uid, codes::DUPLICATE_ROW, msg);
            errors.push(v.at_row(row));
            continue;
        }
        seen_on[pos] = raw.row;
        expected = next_active(roster, pos + 1);
        let user = &roster.users()[pos];
        for (i, name) in readonly_changes(user, cell) {
            let value = cell(i);
            let msg = format!("column '{name}' is read-only: restore the exported value");
            errors.push(
                RuleViolation::user(uid, name, value, codes::READONLY_CHANGED, msg).at_row(row),
            );
        }
        let plan = plan_from_input(catalogue, cell(Columns::NEW_LICENSE));
        let addons = addons_from_input(catalogue, split_list(cell(Columns::NEW_ADDONS)));
        let username_cell = trim(cell(Columns::USERNAME));
        let username = if username_cell.is_empty() {
            plan.as_ref().and_then(|_| default_username(user))
        } else if let Some(own) = user
            .emails()
            .first()
            .filter(|e| e.as_str() == username_cell)
        {
            // The user's own first address, byte for byte: it went through
            // `Email::parse` when the roster was read, and parsing the same
            // (trimmed) text again gives an equal value, so clone it.
            Some(own.clone())
        } else {
            match Email::parse(username_cell) {
                Ok(e) => Some(e),
                Err(e) => {
                    let msg = format!("'{username_cell}' is not a valid user name: {}", e.message);
                    let v = RuleViolation::user(
                        uid,
                        columns::USERNAME,
                        username_cell,
                        codes::INVALID_USERNAME,
                        msg,
                    );
                    errors.push(v.at_row(row));
                    bad_username.insert(pos);
                    None
                }
            }
        };
        if user.has_address(acting.as_str()) {
            on_card.push(pos);
        }
        let a = Assignment {
            plan,
            addons,
            username,
        };
        if a.is_empty() {
            slot[pos] = EMPTY_ROW;
            continue;
        }
        slot[pos] = imported.len();
        imported.push((user.user_id().to_owned(), a));
    }

    if let Some(line) = rows.unbalanced_quote_line() {
        let msg = format!("line {line}: a quote opened here is never closed");
        errors.push(malformed(None, line, msg));
        structure_broken = true;
    }
    // After a broken structure the rows we could not read would all show up
    // as missing: noise that hides the real error.
    if !structure_broken {
        for (pos, user) in roster.users().iter().enumerate() {
            // `seen_on` first: a walk over it is cheaper than over the roster.
            if seen_on[pos] == 0 && user.active() {
                let id = user.user_id();
                let msg = format!(
                    "user '{id}' ({}) is missing: rows cannot be removed",
                    user.full_name()
                );
                errors.push(RuleViolation::user(
                    id,
                    columns::USER_ID,
                    id,
                    codes::MISSING_USER,
                    msg,
                ));
            }
        }
    }

    // Users without a row (inactive ones, or rows that failed to parse) keep
    // their base entry; only they are looked up in the base map.
    let kept: Vec<(usize, &Assignment)> = (0..roster.users().len())
        .filter(|&pos| slot[pos] == NO_ENTRY)
        .filter_map(|pos| {
            if roster.users()[pos].has_address(acting.as_str()) {
                on_card.push(pos);
            }
            let a = base.get(roster.users()[pos].user_id())?;
            (!a.is_empty()).then_some((pos, a))
        })
        .collect();
    // The rules see the rows' users in roster order, then the kept ones.
    let items: Vec<(usize, &Assignment)> = slot
        .iter()
        .enumerate()
        .filter(|&(_, &i)| i != NO_ENTRY && i != EMPTY_ROW)
        .map(|(pos, &i)| (pos, &imported[i].1))
        .chain(kept.iter().copied())
        .collect();
    for v in check_rules_with_cards(roster, catalogue, &items, acting, on_card) {
        let pos = v.user_id.as_deref().and_then(|id| roster.position(id));
        // An unreadable user name was reported already; "required" would repeat it.
        if v.code == codes::USERNAME_REQUIRED && pos.is_some_and(|p| bad_username.contains(&p)) {
            continue;
        }
        let row = pos.map(|p| seen_on[p]).filter(|&r| r != 0);
        errors.push(v.at_row(row));
    }
    drop(items);

    if !errors.is_empty() {
        // Spreadsheet order: by row, file-wide problems last; stable otherwise.
        errors.sort_by_key(|e| e.row.unwrap_or(u64::MAX));
        return Err(CsvFailure::Invalid(errors));
    }
    // Bulk-collected (sorted once, a linear check when the file kept the
    // export's order), not inserted user by user. User ids are unique, so
    // the order the entries come in does not matter.
    let mut entries = imported;
    entries.extend(
        kept.iter()
            .map(|&(pos, a)| (roster.users()[pos].user_id().to_owned(), a.clone())),
    );
    let next: Assignments = entries.into_iter().collect();
    Ok(ImportOutcome {
        changed: count_changes(base, &next),
        assignments: next,
        rows: data_rows,
    })
}

/// Users whose entry differs between two drafts, in one sequential walk over
/// both sorted maps (no per-user lookups).
fn count_changes(base: &Assignments, next: &Assignments) -> u64 {
    use std::cmp::Ordering;
    let mut old = base.iter().filter(|(_, a)| !a.is_empty()).peekable();
    let mut new = next.iter().peekable();
    let mut changed = 0;
    loop {
        let order = match (old.peek(), new.peek()) {
            (None, None) => return changed,
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (Some((ok, _)), Some((nk, _))) => ok.cmp(nk),
        };
        match order {
            Ordering::Less => {
                old.next();
                changed += 1;
            }
            Ordering::Greater => {
                new.next();
                changed += 1;
            }
            Ordering::Equal => {
                if old.next().map(|(_, a)| a) != new.next().map(|(_, a)| a) {
                    changed += 1;
                }
            }
        }
    }
}

/// The first active user at or after position `from`.
fn next_active(roster: &Roster, from: usize) -> usize {
    let users = roster.users();
    (from..users.len())
        .find(|&p| users[p].active())
        .unwrap_or(users.len())
}

fn stop_to_failure(stop: ReadStop) -> ImportFailure {
    match stop {
        ReadStop::TooLarge { limit_name, limit } => CsvFailure::TooLarge { limit_name, limit },
        ReadStop::Io { line, message } => CsvFailure::Invalid(vec![malformed(None, line, message)]),
    }
}

fn malformed(row: Option<u64>, line: u64, message: String) -> RuleViolation {
    let mut v = RuleViolation::global("", &format!("line {line}"), codes::MALFORMED_CSV, message);
    v.row = row;
    v
}

/// Finds every export column in the header; reports missing, duplicated and
/// unknown ones together. Empty header cells (a trailing separator) are ignored.
fn map_columns(header: &[String]) -> Result<Columns, Vec<RuleViolation>> {
    let wanted: Vec<String> = columns::ALL.iter().map(|c| normalise_header(c)).collect();
    let mut found: [Option<usize>; 10] = [None; 10];
    let mut errors = Vec::new();
    for (i, name) in header.iter().enumerate() {
        let key = normalise_header(name);
        if key.is_empty() {
            continue;
        }
        match wanted.iter().position(|w| *w == key) {
            Some(c) if found[c].is_some() => {
                errors.push(header_error(name, codes::DUPLICATE_COLUMN, "appears twice"))
            }
            Some(c) => found[c] = Some(i),
            None => errors.push(header_error(
                name,
                codes::UNKNOWN_COLUMN,
                "is not a column of the export",
            )),
        }
    }
    for (c, slot) in found.iter().enumerate() {
        if slot.is_none() {
            errors.push(header_error(
                columns::ALL[c],
                codes::MISSING_COLUMN,
                "is missing from the header",
            ));
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(Columns(found.map(|f| f.unwrap_or_default())))
}

fn header_error(name: &str, code: &'static str, what: &str) -> RuleViolation {
    RuleViolation::global(name, name, code, format!("column '{name}' {what}")).at_row(Some(1))
}

/// The read-only columns whose cell differs from the roster (after trimming,
/// as spreadsheets may pad cells; list cells compare item by item).
fn readonly_changes<'a>(
    user: &SourceUser,
    cell: impl Fn(usize) -> &'a str,
) -> Vec<(usize, &'static str)> {
    let mut out = Vec::new();
    let same = |i: usize, expected: &str| trim(cell(i)) == expected;
    if !same(1, user.full_name().as_str()) {
        out.push((1, columns::NAME));
    }
    if !same_list(cell(2), user.emails().iter().map(|e| e.as_str())) {
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

#[cfg(test)]
#[path = "csv_import_tests.rs"]
mod tests;
