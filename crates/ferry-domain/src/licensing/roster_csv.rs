//! The roster as CSV: one user per row, streamed, with the same tolerance as
//! the assignment CSV (BOM, CRLF, `;`, loose header names). This only turns
//! cells into [`RosterUserInput`]s; [`Roster::from_inputs`](super::Roster::from_inputs)
//! checks them, naming the CSV row through `source_row`.

use std::io::Read;

use super::codes;
use super::csv_common::{CsvFailure, CsvLimits, normalise_header, split_list};
use super::csv_reader::{CsvRows, Fields, ReadStop};
use super::roster::{RosterUserInput, RowError};

/// The roster CSV's columns. The first three are required; the others
/// default to empty / `false`, and `active` to `true`.
pub const ROSTER_COLUMNS: [&str; 10] = [
    "user_id",
    "full_name",
    "emails",
    "group",
    "position",
    "is_admin",
    "old_license",
    "old_addons",
    "on_travel",
    "active",
];
const REQUIRED: usize = 3;

/// Reads a roster CSV. Emails and add-ons are comma-separated inside their
/// cell; booleans are `true/false`, `yes/no` or `1/0` (any case), empty for
/// the default. Unknown columns are errors, so a typo such as `is_admn`
/// cannot silently make everyone a non-administrator.
pub fn parse_roster_csv<R: Read>(
    reader: R,
    limits: CsvLimits,
) -> Result<Vec<RosterUserInput>, CsvFailure<RowError>> {
    let mut out = Vec::new();
    stream_roster_csv(reader, limits, |u| out.push(u))?;
    Ok(out)
}

/// [`parse_roster_csv`] a row at a time: each user goes to `sink` as it is
/// read, so a million-user file is never held whole.
pub fn stream_roster_csv<R: Read>(
    reader: R,
    limits: CsvLimits,
    mut sink: impl FnMut(RosterUserInput),
) -> Result<(), CsvFailure<RowError>> {
    visit_named_rows(reader, limits, &ROSTER_COLUMNS, REQUIRED, |r, errors| {
        let (is_admin, on_travel, active) = (
            r.flag(5, false, errors),
            r.flag(8, false, errors),
            r.flag(9, true, errors),
        );
        let old_license = Some(r.cell(6).trim())
            .filter(|s| !s.is_empty())
            .map(str::to_owned);
        sink(RosterUserInput {
            user_id: r.cell(0).to_owned(),
            full_name: r.cell(1).to_owned(),
            emails: split_list(r.cell(2)).map(str::to_owned).collect(),
            group: r.cell(3).to_owned(),
            position: r.cell(4).to_owned(),
            is_admin,
            old_license,
            old_addons: split_list(r.cell(7)).map(str::to_owned).collect(),
            on_travel,
            active,
            source_row: Some(r.row),
        })
    })
}

/// One decoded row of a CSV whose columns are named (`columns`), found in
/// any order by [`map_columns`].
pub(super) struct NamedRow<'a> {
    /// The spreadsheet row (header = 1).
    pub row: u64,
    fields: Fields<'a>,
    cols: &'a [Option<usize>],
    columns: &'a [&'a str],
}

impl<'a> NamedRow<'a> {
    /// The cell of column `c` (of `columns`); empty when the file lacks it.
    pub fn cell(&self, c: usize) -> &'a str {
        self.cols[c].map_or("", |i| self.fields.get(i))
    }

    /// A yes/no cell, `default` when empty; a bad one is reported (and
    /// reads as `default`, so the rest of the row is still checked).
    pub fn flag(&self, c: usize, default: bool, errors: &mut Vec<RowError>) -> bool {
        match parse_bool(self.cell(c)) {
            Ok(b) => b.unwrap_or(default),
            Err(()) => {
                let msg = "a yes/no cell holds true/false, yes/no or 1/0".to_owned();
                errors.push(error(
                    Some(self.row),
                    self.columns[c],
                    self.cell(c),
                    codes::INVALID_BOOLEAN,
                    msg,
                ));
                default
            }
        }
    }
}

/// Reads a CSV of named columns (the first `required` must be there) row
/// by row, streamed: blank rows are skipped, an undecodable row (column
/// count, UTF-8, control characters) and an unclosed quote are
/// `malformed_csv`, and `each` turns every other row into an item, pushing
/// its own errors. All errors are reported together.
pub(super) fn read_named_rows<R: Read, T>(
    reader: R,
    limits: CsvLimits,
    columns: &[&str],
    required: usize,
    mut each: impl FnMut(&NamedRow<'_>, &mut Vec<RowError>) -> Option<T>,
) -> Result<Vec<T>, CsvFailure<RowError>> {
    let mut out = Vec::new();
    visit_named_rows(reader, limits, columns, required, |r, errors| {
        out.extend(each(r, errors))
    })?;
    Ok(out)
}

/// [`read_named_rows`] without collecting: `each` takes every row as it is
/// read.
fn visit_named_rows<R: Read>(
    reader: R,
    limits: CsvLimits,
    columns: &[&str],
    required: usize,
    mut each: impl FnMut(&NamedRow<'_>, &mut Vec<RowError>),
) -> Result<(), CsvFailure<RowError>> {
    let (mut rows, header) = CsvRows::open(reader, limits).map_err(stop_to_failure)?;
    let cols = map_columns(&header, columns, required).map_err(CsvFailure::Invalid)?;
    let mut errors = Vec::new();
    while let Some(raw) = rows.next_row().map_err(stop_to_failure)? {
        if raw.is_blank() {
            continue;
        }
        let row = raw.row;
        match raw.decode(&header) {
            Ok(fields) => {
                let named = NamedRow {
                    row,
                    fields,
                    cols: &cols,
                    columns,
                };
                each(&named, &mut errors);
            }
            Err(message) => errors.push(error(Some(row), "", "", codes::MALFORMED_CSV, message)),
        }
    }
    if let Some(line) = rows.unbalanced_quote_line() {
        let msg = format!("line {line}: a quote opened here is never closed");
        errors.push(error(None, "", "", codes::MALFORMED_CSV, msg));
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(CsvFailure::Invalid(errors))
    }
}

fn parse_bool(cell: &str) -> Result<Option<bool>, ()> {
    match cell.trim().to_ascii_lowercase().as_str() {
        "" => Ok(None),
        "true" | "yes" | "1" => Ok(Some(true)),
        "false" | "no" | "0" => Ok(Some(false)),
        _ => Err(()),
    }
}

fn error(
    row: Option<u64>,
    field: &str,
    value: &str,
    code: &'static str,
    message: String,
) -> RowError {
    RowError {
        row,
        field: field.to_owned(),
        value: value.to_owned(),
        code,
        message,
    }
}

fn stop_to_failure(stop: ReadStop) -> CsvFailure<RowError> {
    match stop {
        ReadStop::TooLarge { limit_name, limit } => CsvFailure::TooLarge { limit_name, limit },
        ReadStop::Io { message, .. } => {
            CsvFailure::Invalid(vec![error(None, "", "", codes::MALFORMED_CSV, message)])
        }
    }
}

/// Where each of `columns` is in `header` (matched loosely); the first
/// `required` must be there. Every unknown, doubled or missing column is
/// reported.
fn map_columns(
    header: &[String],
    columns: &[&str],
    required: usize,
) -> Result<Vec<Option<usize>>, Vec<RowError>> {
    let wanted: Vec<String> = columns.iter().map(|c| normalise_header(c)).collect();
    let mut found = vec![None; columns.len()];
    let mut errors = Vec::new();
    for (i, name) in header.iter().enumerate() {
        let key = normalise_header(name);
        if key.is_empty() {
            continue;
        }
        match wanted.iter().position(|w| *w == key) {
            Some(c) if found[c].is_some() => {
                errors.push(error(
                    Some(1),
                    name,
                    name,
                    codes::DUPLICATE_COLUMN,
                    format!("column '{name}' appears twice"),
                ));
            }
            Some(c) => found[c] = Some(i),
            None => {
                let msg = format!("column '{name}' is not one of {}", columns.join(", "));
                errors.push(error(Some(1), name, name, codes::UNKNOWN_COLUMN, msg));
            }
        }
    }
    for (c, slot) in found.iter().enumerate().take(required) {
        if slot.is_none() {
            let name = columns[c];
            errors.push(error(
                Some(1),
                name,
                "",
                codes::MISSING_COLUMN,
                format!("column '{name}' is required"),
            ));
        }
    }
    if errors.is_empty() {
        Ok(found)
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::licensing::roster::Roster;

    fn parse(text: &str) -> Result<Vec<RosterUserInput>, CsvFailure<RowError>> {
        parse_roster_csv(text.as_bytes(), CsvLimits::default())
    }

    fn invalid(text: &str) -> Vec<(Option<u64>, String, &'static str)> {
        match parse(text) {
            Err(CsvFailure::Invalid(v)) => {
                v.into_iter().map(|e| (e.row, e.field, e.code)).collect()
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn parses_all_columns_in_a_spreadsheet_dialect() {
        let text = "\u{feff}User ID;Full Name;Emails;Group;Position;Is Admin;Old License;Old Add-ons;On Travel;Active\r\n\
                    u1;Ann;\"ann@x.de, a2@x.de\";IT;CTO;Yes;Admin;Marketing, Analytics;0;TRUE\r\n\
                    u2;Bob;bob@x.de;;;;;;;\r\n";
        let users = parse(text).expect("valid");
        assert_eq!(users.len(), 2);
        let ann = &users[0];
        assert_eq!(ann.emails, ["ann@x.de", "a2@x.de"]);
        assert_eq!(ann.old_addons, ["Marketing", "Analytics"]);
        assert!(ann.is_admin && ann.active && !ann.on_travel);
        assert_eq!(
            (ann.old_license.as_deref(), ann.source_row),
            (Some("Admin"), Some(2))
        );
        let bob = &users[1];
        assert!(
            bob.active && !bob.is_admin && bob.old_license.is_none(),
            "defaults"
        );
        assert!(Roster::from_inputs(&users, &[]).is_ok());
    }

    #[test]
    fn only_the_first_three_columns_are_required() {
        let users = parse("emails,user_id,full_name\nann@x.de,u1,Ann\n").expect("valid");
        assert_eq!(users[0].user_id, "u1");
        assert_eq!(
            invalid("user_id,emails,is_admn\n"),
            [
                (Some(1), "is_admn".to_owned(), codes::UNKNOWN_COLUMN),
                (Some(1), "full_name".to_owned(), codes::MISSING_COLUMN)
            ]
        );
    }

    #[test]
    fn bad_booleans_and_rows_are_all_reported() {
        let text = "user_id,full_name,emails,active,on_travel\nu1,Ann,a@x.de,maybe,1\nu2,Bob\nu3,Cid,c@x.de,no,perhaps\n";
        assert_eq!(
            invalid(text),
            [
                (Some(2), "active".to_owned(), codes::INVALID_BOOLEAN),
                (Some(3), String::new(), codes::MALFORMED_CSV),
                (Some(4), "on_travel".to_owned(), codes::INVALID_BOOLEAN),
            ]
        );
    }

    #[test]
    fn roster_errors_name_the_csv_row() {
        let users =
            parse("user_id,full_name,emails\nu1,Ann,a@x.de\nu1,Bob,nope\n").expect("cells parse");
        let errs = Roster::from_inputs(&users, &[]).expect_err("invalid");
        let got: Vec<_> = errs
            .iter()
            .map(|e| (e.row, e.field.as_str(), e.code))
            .collect();
        assert_eq!(got, [(Some(3), "user_id", codes::DUPLICATE_USER_ID)]);
    }

    #[test]
    fn limits_and_broken_quotes() {
        let tight = CsvLimits {
            max_rows: 1,
            ..CsvLimits::default()
        };
        let text = "user_id,full_name,emails\nu1,A,a@x.de\nu2,B,b@x.de\n";
        assert!(matches!(
            parse_roster_csv(text.as_bytes(), tight),
            Err(CsvFailure::TooLarge {
                limit_name: "max_rows",
                ..
            })
        ));
        assert_eq!(
            invalid("user_id,full_name,emails\nu1,\"A,a@x.de\n"),
            [
                (Some(2), String::new(), codes::MALFORMED_CSV),
                (None, String::new(), codes::MALFORMED_CSV)
            ]
        );
    }
}
