//! The CSV download of the assignment (SPEC §3.4) and of an import's error
//! report. Both are written for spreadsheets: UTF-8 BOM (without it Excel
//! reads UTF-8 as the local code page and mangles umlauts), CRLF line ends,
//! and every cell neutralised against formula injection.

use std::io::Write;

use super::assignment::{Assignments, RuleViolation};
use super::codes::columns;
use super::csv_common::neutralise;
use super::roster::Roster;

const BOM: &[u8] = b"\xEF\xBB\xBF";

fn writer<W: Write>(mut out: W) -> csv::Result<csv::Writer<W>> {
    out.write_all(BOM)?;
    Ok(csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(out))
}

/// Writes every active user, in roster order: the read-only columns from the
/// roster, the editable ones from `assignments`. Multi-valued cells are joined
/// with `, `; the import splits on commas and trims.
pub fn write_assignment_csv<W: Write>(
    roster: &Roster,
    assignments: &Assignments,
    out: W,
) -> csv::Result<()> {
    let mut w = writer(out)?;
    w.write_record(columns::ALL)?;
    let none = Default::default();
    for user in roster.active_users() {
        let a = assignments.get(user.user_id()).unwrap_or(&none);
        let emails = user.addresses_as_written().collect::<Vec<_>>().join(", ");
        let cells = [
            user.user_id(),
            user.full_name().as_str(),
            &emails,
            user.group(),
            user.position(),
            user.old_license().unwrap_or(""),
            &user.old_addons().join(", "),
            a.plan.as_deref().unwrap_or(""),
            &a.addons.join(", "),
            a.username.as_ref().map_or("", |u| u.as_str()),
        ];
        w.write_record(cells.iter().map(|c| neutralise(c).into_owned()))?;
    }
    w.flush()?;
    Ok(())
}

/// The error report of a failed import: one line per violation with the
/// columns `row, column, value, code, message` (row empty for rules about the
/// whole file, such as capacity). Values come from the uploaded file, so they
/// are neutralised like any export.
pub fn write_error_report_csv<W: Write>(errors: &[RuleViolation], out: W) -> csv::Result<()> {
    let mut w = writer(out)?;
    w.write_record(["row", "column", "value", "code", "message"])?;
    for e in errors {
        let row = e.row.map(|r| r.to_string()).unwrap_or_default();
        let cells = [row.as_str(), &e.column, &e.value, e.code, &e.message];
        w.write_record(cells.iter().map(|c| neutralise(c).into_owned()))?;
    }
    w.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::licensing::codes;
    use crate::licensing::test_support::{draft, roster};

    fn export() -> String {
        let mut buf = Vec::new();
        write_assignment_csv(&roster(), &draft(), &mut buf).expect("write");
        String::from_utf8(buf).expect("utf8")
    }

    #[test]
    fn exports_active_users_with_bom_crlf_and_all_columns() {
        let csv = export();
        let body = csv.strip_prefix('\u{feff}').expect("BOM");
        let lines: Vec<&str> = body.split("\r\n").collect();
        assert_eq!(
            lines[0],
            "User ID,Name,Emails,Group,Position,Current License,Current Add-ons,New License,New Add-ons,Username"
        );
        assert_eq!(
            lines[2],
            "u2,Bob Sales,\"bob@acme.example, shared@acme.example\",,'-Lead,Engage,Marketing,Engage,Marketing,bob@acme.example"
        );
        assert!(!csv.contains("u4"), "inactive users are not exported");
        assert_eq!(
            lines.len(),
            6,
            "header + 4 active users + trailing empty: {lines:?}"
        );
    }

    #[test]
    fn formula_cells_are_neutralised() {
        let csv = export();
        assert!(csv.contains("u5,'=Eve,"), "{csv}");
        assert!(csv.contains(",'-Lead,"), "{csv}");
    }

    #[test]
    fn error_report_lists_every_violation_neutralised() {
        let errors = [
            RuleViolation::user(
                "u1",
                "New License",
                "=cmd|' /C calc'!A0",
                codes::UNKNOWN_PLAN,
                "unknown".into(),
            )
            .at_row(Some(2)),
            RuleViolation::global(
                "New License",
                "Engage",
                codes::CAPACITY_EXCEEDED,
                "3 > 2".into(),
            ),
        ];
        let mut buf = Vec::new();
        write_error_report_csv(&errors, &mut buf).expect("write");
        let text = String::from_utf8(buf).expect("utf8");
        let lines: Vec<&str> = text.trim_start_matches('\u{feff}').lines().collect();
        assert_eq!(lines[0], "row,column,value,code,message");
        assert_eq!(
            lines[1],
            "2,New License,'=cmd|' /C calc'!A0,unknown_plan,unknown"
        );
        assert_eq!(lines[2], ",New License,Engage,capacity_exceeded,3 > 2");
    }
}
