//! Satellites as CSV, the second file of a CSV roster: a migrator who keeps
//! the users in a spreadsheet keeps the remote offices there too. Same
//! dialect as the roster CSV; [`Roster::from_inputs`](super::Roster::from_inputs)
//! checks the names.

use std::io::Read;

use super::csv_common::{CsvFailure, CsvLimits};
use super::roster::{RowError, SatelliteInput};
use super::roster_csv::read_named_rows;

/// The satellites CSV's columns: `name` is required, `active` defaults to
/// `true` (a satellite still syncing is what pre-flight must catch).
pub const SATELLITE_COLUMNS: [&str; 2] = ["name", "active"];

/// Reads a satellites CSV into inputs, with every bad cell reported.
pub fn parse_satellites_csv<R: Read>(
    reader: R,
    limits: CsvLimits,
) -> Result<Vec<SatelliteInput>, CsvFailure<RowError>> {
    read_named_rows(reader, limits, &SATELLITE_COLUMNS, 1, |r, errors| {
        Some(SatelliteInput {
            name: r.cell(0).to_owned(),
            active: r.flag(1, true, errors),
            source_row: Some(r.row),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::licensing::codes;
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
