//! Satellites as CSV, the second file of a CSV roster: a migrator who keeps
//! the users in a spreadsheet keeps the remote offices there too. Same
//! dialect as the roster CSV; [`Roster::from_inputs`](super::Roster::from_inputs)
//! checks the names.

use std::io::Read;

use super::codes;
use super::csv_common::{CsvFailure, CsvLimits};
use super::csv_reader::CsvRows;
use super::roster::{RowError, SatelliteInput};
use super::roster_csv::{error, map_columns, parse_bool, stop_to_failure};

/// The satellites CSV's columns: `name` is required, `active` defaults to
/// `true` (a satellite still syncing is what pre-flight must catch).
pub const SATELLITE_COLUMNS: [&str; 2] = ["name", "active"];

/// Reads a satellites CSV into inputs, with every bad cell reported.
pub fn parse_satellites_csv<R: Read>(
    reader: R,
    limits: CsvLimits,
) -> Result<Vec<SatelliteInput>, CsvFailure<RowError>> {
    let (mut rows, header) = CsvRows::open(reader, limits).map_err(stop_to_failure)?;
    let cols = map_columns(&header, &SATELLITE_COLUMNS, 1).map_err(CsvFailure::Invalid)?;
    let mut out = Vec::new();
    let mut errors = Vec::new();
    while let Some(raw) = rows.next_row().map_err(stop_to_failure)? {
        if raw.is_blank() {
            continue;
        }
        let row = raw.row;
        let fields = match raw.decode(&header) {
            Ok(f) => f,
            Err(message) => {
                errors.push(error(Some(row), "", "", codes::MALFORMED_CSV, message));
                continue;
            }
        };
        let cell = |c: usize| cols[c].map_or("", |i| fields.get(i));
        let active = match parse_bool(cell(1)) {
            Ok(b) => b.unwrap_or(true),
            Err(()) => {
                let msg = "a yes/no cell holds true/false, yes/no or 1/0".to_owned();
                errors.push(error(
                    Some(row),
                    SATELLITE_COLUMNS[1],
                    cell(1),
                    codes::INVALID_BOOLEAN,
                    msg,
                ));
                continue;
            }
        };
        out.push(SatelliteInput {
            name: cell(0).to_owned(),
            active,
            source_row: Some(row),
        });
    }
    if let Some(line) = rows.unbalanced_quote_line() {
        let msg = format!("line {line}: a quote opened here is never closed");
        errors.push(error(None, "", "", codes::MALFORMED_CSV, msg));
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(CsvFailure::Invalid(errors))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::licensing::roster::Roster;

    fn parse(text: &str) -> Result<Vec<SatelliteInput>, CsvFailure<RowError>> {
        parse_satellites_csv(text.as_bytes(), CsvLimits::default())
    }

    #[test]
    fn names_and_activity_in_a_spreadsheet_dialect() {
        let sats = parse("\u{feff}Name;Active\r\nHamburg;no\r\n\r\nMunich;\r\n").expect("valid");
        let got: Vec<_> = sats
            .iter()
            .map(|s| (s.name.as_str(), s.active, s.source_row))
            .collect();
        assert_eq!(
            got,
            [("Hamburg", false, Some(2)), ("Munich", true, Some(4))]
        );
    }

    #[test]
    fn bad_cells_and_columns_are_all_reported_with_their_rows() {
        let codes_of = |text: &str| -> Vec<(Option<u64>, &str)> {
            match parse(text) {
                Err(CsvFailure::Invalid(v)) => v.into_iter().map(|e| (e.row, e.code)).collect(),
                other => panic!("{other:?}"),
            }
        };
        assert_eq!(
            codes_of("name,active\nA,maybe\nB,x\ty\n"),
            vec![
                (Some(2), codes::INVALID_BOOLEAN),
                (Some(3), codes::MALFORMED_CSV)
            ]
        );
        assert_eq!(
            codes_of("active,branch\nyes,A\n"),
            vec![
                (Some(1), codes::UNKNOWN_COLUMN),
                (Some(1), codes::MISSING_COLUMN)
            ]
        );
        // Names are the roster's to check, naming the CSV row.
        let sats = parse("name\nHH\nhh\n").expect("cells parse");
        let errs = Roster::from_inputs(&[], &sats).expect_err("duplicate");
        assert_eq!(
            (errs[0].row, errs[0].code),
            (Some(3), codes::DUPLICATE_SATELLITE)
        );
    }
}
