//! Property tests of the CSV import: random bytes and random edits of a valid
//! export never panic, a refusal always lists at least one error, and an
//! accepted file always yields a complete, valid draft (never a partial one).

use proptest::prelude::*;

use super::test_support::{acting, catalogue, draft, roster};
use super::*;

fn export() -> Vec<Vec<String>> {
    let mut buf = Vec::new();
    write_assignment_csv(&roster(), &draft(), &mut buf).expect("export");
    let mut r = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(&buf[3..]);
    r.records()
        .map(|rec| rec.expect("record").iter().map(str::to_owned).collect())
        .collect()
}

fn render(table: &[Vec<String>], sep: u8, bom: bool) -> Vec<u8> {
    let mut out = if bom {
        b"\xEF\xBB\xBF".to_vec()
    } else {
        Vec::new()
    };
    {
        let mut w = csv::WriterBuilder::new()
            .delimiter(sep)
            .flexible(true)
            .terminator(csv::Terminator::CRLF)
            .from_writer(&mut out);
        for row in table {
            w.write_record(row).expect("write");
        }
        w.flush().expect("flush");
    }
    out
}

#[derive(Debug, Clone)]
enum RowEdit {
    // Indices count data rows (the header is never deleted or duplicated).
    Delete(usize),
    Duplicate(usize),
    Set(usize, usize, String),
    AddColumn(usize),
    SetHeader(usize, String),
}

#[derive(Debug, Clone)]
enum ByteEdit {
    Insert(usize, u8),
    Truncate(usize),
    Flip(usize),
}

fn cell_value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("Basic".to_owned()),
        Just("engage".to_owned()),
        Just("Admin".to_owned()),
        Just("Gold".to_owned()),
        Just("Marketing, Analytics".to_owned()),
        Just("eve@acme.example".to_owned()),
        Just("ANN@acme.example".to_owned()),
        Just("not mail".to_owned()),
        Just("=1+1".to_owned()),
        Just("'".to_owned()),
        Just("u4".to_owned()),
        Just("u99".to_owned()),
        "\\PC{0,12}",
        ".{0,6}",
    ]
}

/// Mostly edits of data rows' editable cells (where the rules live), some of
/// read-only cells, rarely the header (which short-circuits everything else).
fn row_edit() -> impl Strategy<Value = RowEdit> {
    prop_oneof![
        1 => (0..6usize).prop_map(RowEdit::Delete),
        1 => (0..6usize).prop_map(RowEdit::Duplicate),
        8 => (0..6usize, 7..10usize, cell_value()).prop_map(|(r, c, v)| RowEdit::Set(r, c, v)),
        2 => (0..6usize, 0..7usize, cell_value()).prop_map(|(r, c, v)| RowEdit::Set(r, c, v)),
        1 => (0..6usize).prop_map(RowEdit::AddColumn),
        1 => (0..11usize, cell_value()).prop_map(|(c, v)| RowEdit::SetHeader(c, v)),
    ]
}

fn byte_edit() -> impl Strategy<Value = ByteEdit> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(p, b)| ByteEdit::Insert(p, b)),
        any::<usize>().prop_map(ByteEdit::Truncate),
        any::<usize>().prop_map(ByteEdit::Flip),
    ]
}

fn apply_rows(table: &mut Vec<Vec<String>>, edits: &[RowEdit]) {
    for e in edits {
        let rows = table.len().saturating_sub(1);
        // Data row `r`, wrapped onto the rows there are (table[0] is the header).
        let at = |r: usize| 1 + r % rows;
        match e {
            RowEdit::Delete(r) if rows > 0 => {
                table.remove(at(*r));
            }
            RowEdit::Duplicate(r) if rows > 0 => {
                let row = table[at(*r)].clone();
                table.insert(at(*r), row);
            }
            RowEdit::Set(r, c, v) if rows > 0 => {
                if let Some(cell) = table[at(*r)].get_mut(*c) {
                    cell.clone_from(v);
                }
            }
            RowEdit::AddColumn(r) if rows > 0 => table[at(*r)].push("x".into()),
            RowEdit::SetHeader(c, v) => {
                if let Some(cell) = table[0].get_mut(*c) {
                    cell.clone_from(v);
                }
            }
            _ => {}
        }
    }
}

/// Byte edits land after the header line: header damage is covered by the
/// random-bytes cases and the header cell edits, and would mask the rest.
fn apply_bytes(bytes: &mut Vec<u8>, edits: &[ByteEdit]) {
    let start = bytes.iter().position(|&b| b == b'\n').map_or(0, |i| i + 1);
    for e in edits {
        let n = bytes.len() - start;
        match *e {
            ByteEdit::Insert(p, b) => bytes.insert(start + p % (n + 1), b),
            ByteEdit::Truncate(p) => bytes.truncate(start + p % (n + 1)),
            ByteEdit::Flip(p) if n > 0 => bytes[start + p % n] ^= 0x80,
            ByteEdit::Flip(_) => {}
        }
    }
}

/// The import's contract, whatever the input.
fn check_contract(bytes: &[u8], limits: CsvLimits) -> Result<(), TestCaseError> {
    let (r, c, base, me) = (roster(), catalogue(), draft(), acting());
    match import_assignment_csv(bytes, &r, &c, &base, &me, limits) {
        Ok(out) => {
            // Accepted means complete and valid: every active user has a row,
            // and the result passes the engine as a whole.
            prop_assert!(validate_assignments(&r, &c, &out.assignments, &me).is_empty());
            prop_assert_eq!(out.rows >= r.active_users().count() as u64, true);
            // And it round-trips: its own export imports to the same draft.
            let mut again = Vec::new();
            write_assignment_csv(&r, &out.assignments, &mut again).expect("export");
            let back = import_assignment_csv(
                &again[..],
                &r,
                &c,
                &out.assignments,
                &me,
                CsvLimits::default(),
            );
            prop_assert_eq!(back.map(|b| b.assignments).ok(), Some(out.assignments));
        }
        Err(CsvFailure::Invalid(errors)) => {
            prop_assert!(!errors.is_empty(), "a refusal lists its errors");
            for e in &errors {
                prop_assert!(!e.code.is_empty() && !e.message.is_empty(), "{:?}", e);
            }
        }
        Err(CsvFailure::TooLarge { limit_name, .. }) => {
            prop_assert!(["max_rows", "max_bytes", "max_field_len"].contains(&limit_name));
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        check_contract(&bytes, CsvLimits::default())?;
    }

    #[test]
    fn random_text_with_csv_punctuation_never_panics(text in "[a-z0-9,;\"\r\n@. =']{0,400}") {
        let header = "User ID,Name,Emails,Group,Position,Current License,Current Add-ons,New License,New Add-ons,Username\n";
        check_contract(format!("{header}{text}").as_bytes(), CsvLimits::default())?;
    }

    #[test]
    fn random_edits_of_a_valid_export_keep_the_contract(
        rows in proptest::collection::vec(row_edit(), 0..5),
        bytes in proptest::collection::vec(byte_edit(), 0..2),
        semicolon in any::<bool>(),
        bom in any::<bool>(),
        tight in any::<bool>(),
    ) {
        let mut table = export();
        apply_rows(&mut table, &rows);
        let mut raw = render(&table, if semicolon { b';' } else { b',' }, bom);
        apply_bytes(&mut raw, &bytes);
        let limits = if tight {
            CsvLimits { max_rows: 4, max_bytes: 900, max_field_len: 40 }
        } else {
            CsvLimits::default()
        };
        check_contract(&raw, limits)?;
    }
}

#[test]
fn the_unedited_export_is_accepted_in_every_dialect() {
    for (sep, bom) in [(b',', true), (b',', false), (b';', true), (b';', false)] {
        let bytes = render(&export(), sep, bom);
        let out = import_assignment_csv(
            &bytes[..],
            &roster(),
            &catalogue(),
            &draft(),
            &acting(),
            CsvLimits::default(),
        );
        assert_eq!(
            out.map(|o| o.assignments).ok(),
            Some(draft()),
            "sep {sep} bom {bom}"
        );
    }
}
