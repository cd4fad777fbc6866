//! Unit tests of the CSV import: one per rule, plus the round trip.

use super::*;
use crate::licensing::RuleViolation;
use crate::licensing::codes;
use crate::licensing::csv_export::{write_assignment_csv, write_error_report_csv};
use crate::licensing::test_support::{acting, assign, catalogue, draft, roster};

// Table rows: 0 header (row 1), 1 u1 Ann, 2 u2 Bob, 3 u3 Cid, 4 u5 Eve.
const LICENSE: usize = 7;
const ADDONS: usize = 8;
const USERNAME: usize = 9;

type Table = Vec<Vec<String>>;

fn export_table(base: &Assignments) -> Table {
    let mut buf = Vec::new();
    write_assignment_csv(&roster(), base, &mut buf).expect("export");
    let mut r = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(&buf[3..]);
    r.records()
        .map(|rec| rec.expect("record").iter().map(str::to_owned).collect())
        .collect()
}

fn table() -> Table {
    export_table(&draft())
}

fn render(t: &Table, sep: u8) -> Vec<u8> {
    let mut out = b"\xEF\xBB\xBF".to_vec();
    let mut w = csv::WriterBuilder::new()
        .delimiter(sep)
        .terminator(csv::Terminator::CRLF)
        .flexible(true)
        .from_writer(&mut out);
    for row in t {
        w.write_record(row).expect("write");
    }
    w.flush().expect("flush");
    drop(w);
    out
}

fn import_with(
    bytes: &[u8],
    base: &Assignments,
    limits: CsvLimits,
) -> Result<ImportOutcome, ImportFailure> {
    import_assignment_csv(bytes, &roster(), &catalogue(), base, &acting(), limits)
}

fn import(bytes: &[u8]) -> Result<ImportOutcome, ImportFailure> {
    import_with(bytes, &draft(), CsvLimits::default())
}

fn violations(bytes: &[u8]) -> Vec<RuleViolation> {
    violations_with(bytes, &draft())
}

fn violations_with(bytes: &[u8], base: &Assignments) -> Vec<RuleViolation> {
    match import_with(bytes, base, CsvLimits::default()) {
        Err(CsvFailure::Invalid(v)) => v,
        other => panic!("expected Invalid, got {other:?}"),
    }
}

/// The draft with an entry for the inactive user `u4` (no row covers it).
fn draft_with_inactive(plan: &str) -> Assignments {
    let mut base = draft();
    base.insert(
        "u4".into(),
        assign(Some(plan), &[], Some("dee@acme.example")),
    );
    base
}

/// `row:column:code` per violation, `-` for no row.
fn errors(bytes: &[u8]) -> Vec<String> {
    violations(bytes)
        .iter()
        .map(|v| {
            format!(
                "{}:{}:{}",
                v.row.map_or("-".into(), |r| r.to_string()),
                v.column,
                v.code
            )
        })
        .collect()
}

fn set(t: &mut Table, row: usize, col: usize, value: &str) {
    t[row][col] = value.to_owned();
}

#[test]
fn an_unedited_export_reimports_cleanly() {
    let out = import(&render(&table(), b',')).expect("valid");
    assert_eq!(out.assignments, draft());
    assert_eq!((out.rows, out.changed), (4, 0));
}

#[test]
fn spreadsheet_dialect_semicolons_bom_crlf_and_loose_headers() {
    let mut t = table();
    t[0] = [
        "user id",
        "NAME",
        " E Mails ",
        "group",
        "Position",
        "current_license",
        "CurrentAddOns",
        "new license",
        "NewAdd-ons",
        "USER NAME",
    ]
    .map(str::to_owned)
    .to_vec();
    set(&mut t, 4, LICENSE, "basic");
    let out = import(&render(&t, b';')).expect("valid");
    assert_eq!(
        out.assignments["u5"],
        assign(Some("Basic"), &[], Some("eve@acme.example")),
        "default user name"
    );
    assert_eq!(out.changed, 1);
}

#[test]
fn unix_line_ends_and_no_bom_work_too() {
    let bytes = render(&table(), b',');
    let plain = String::from_utf8(bytes[3..].to_vec())
        .expect("utf8")
        .replace("\r\n", "\n");
    assert!(import(plain.as_bytes()).is_ok());
}

#[test]
fn malformed_csv_names_the_line() {
    let mut bytes = render(&table(), b',');
    bytes.extend_from_slice(b"u9,\"unclosed\r\n");
    let v = violations(&bytes);
    assert!(
        v.iter()
            .any(|v| v.code == codes::MALFORMED_CSV && v.message.contains("line 6")),
        "{v:?}"
    );
    assert!(
        !v.iter().any(|v| v.code == codes::MISSING_USER),
        "no noise after broken quoting: {v:?}"
    );

    let mut t = table();
    t[2].push("extra".into());
    assert_eq!(errors(&render(&t, b',')), ["3::malformed_csv"]);

    let mut bytes = render(&table(), b',');
    let at = bytes.windows(3).position(|w| w == b"Cid").expect("Cid");
    bytes[at] = 0xFF;
    let v = violations(&bytes);
    assert_eq!(v.len(), 1, "{v:?}");
    assert!(
        v[0].message.contains("line 4") && v[0].message.contains("UTF-8"),
        "{}",
        v[0].message
    );
}

#[test]
fn header_problems_are_listed_together() {
    let mut t = table();
    t[0][USERNAME] = "Login".into();
    t[0][ADDONS] = "new license".into();
    assert_eq!(
        errors(&render(&t, b',')),
        [
            "1:new license:duplicate_column",
            "1:Login:unknown_column",
            "1:New Add-ons:missing_column",
            "1:Username:missing_column"
        ]
    );
}

#[test]
fn rows_cannot_be_added_removed_or_duplicated() {
    let mut t = table();
    let mut added = t[4].clone();
    added[0] = "u99".into();
    let mut inactive = t[4].clone();
    inactive[0] = "u4".into();
    let dup = t[1].clone();
    t.remove(3); // Cid
    t.extend([added, inactive, dup]);
    assert_eq!(
        errors(&render(&t, b',')),
        [
            "5:User ID:unknown_user",
            "6:User ID:unknown_user",
            "7:User ID:duplicate_row",
            "-:User ID:missing_user"
        ]
    );
}

#[test]
fn readonly_columns_must_stay_as_exported() {
    let mut t = table();
    set(&mut t, 1, 1, "Ann Boss");
    set(&mut t, 2, 2, "shared@acme.example, bob@acme.example");
    set(&mut t, 2, 4, "Lead");
    set(&mut t, 3, 5, "Engage");
    set(&mut t, 3, 6, "Marketing");
    set(&mut t, 4, 3, " "); // whitespace around an empty group is not a change
    let v = violations(&render(&t, b','));
    let got: Vec<_> = v
        .iter()
        .map(|v| (v.row, v.column.as_str(), v.code))
        .collect();
    assert_eq!(
        got,
        [
            (Some(2), "Name", codes::READONLY_CHANGED),
            (Some(3), "Emails", codes::READONLY_CHANGED),
            (Some(3), "Position", codes::READONLY_CHANGED),
            (Some(4), "Current License", codes::READONLY_CHANGED),
            (Some(4), "Current Add-ons", codes::READONLY_CHANGED),
        ]
    );
    assert_eq!(v[0].value, "Ann Boss");
}

#[test]
fn empty_license_means_none_and_then_nothing_else() {
    let mut t = table();
    set(&mut t, 3, LICENSE, "");
    set(&mut t, 3, USERNAME, "");
    let out = import(&render(&t, b',')).expect("licence and user name cleared");
    assert!(!out.assignments.contains_key("u3"));
    set(&mut t, 3, ADDONS, "Analytics");
    set(&mut t, 3, USERNAME, "cid@acme.example");
    assert_eq!(
        errors(&render(&t, b',')),
        [
            "4:New Add-ons:addons_without_plan",
            "4:Username:username_without_plan"
        ]
    );
}

#[test]
fn engine_rules_apply_with_row_numbers() {
    let mut t = table();
    set(&mut t, 1, LICENSE, "Platinum");
    set(&mut t, 2, ADDONS, "Marketing, Sorcery");
    set(&mut t, 3, ADDONS, "Analytics");
    set(&mut t, 4, LICENSE, "Basic");
    set(&mut t, 4, USERNAME, "not-an-address");
    assert_eq!(
        errors(&render(&t, b',')),
        [
            "2:New License:unknown_plan",
            "3:New Add-ons:unknown_addon",
            "4:New Add-ons:addons_not_allowed",
            "5:Username:invalid_username"
        ]
    );
}

#[test]
fn capacity_is_checked_on_the_whole_draft_including_inactive_users() {
    let base = draft_with_inactive("Standard");
    let mut t = export_table(&base);
    set(&mut t, 4, LICENSE, "Standard");
    let v = violations_with(&render(&t, b','), &base);
    assert_eq!(v.len(), 1, "{v:?}");
    assert_eq!(
        (v[0].code, v[0].value.as_str(), v[0].row),
        (codes::CAPACITY_EXCEEDED, "Standard", None)
    );
    // Unchanged, the inactive user's entry survives the import.
    let out = import_with(
        &render(&export_table(&base), b','),
        &base,
        CsvLimits::default(),
    )
    .expect("valid");
    assert_eq!(out.assignments["u4"].plan.as_deref(), Some("Standard"));
}

#[test]
fn usernames_unique_and_acting_user_licensed() {
    let mut t = table();
    set(&mut t, 4, LICENSE, "Basic");
    set(&mut t, 4, USERNAME, "CID@acme.example");
    set(&mut t, 1, LICENSE, "");
    set(&mut t, 1, USERNAME, "");
    assert_eq!(
        errors(&render(&t, b',')),
        [
            "2:New License:acting_user_unlicensed",
            "4:Username:duplicate_username",
            "5:Username:duplicate_username"
        ]
    );
}

/// A kept entry (an inactive user's, which no row covers) holds its user
/// name against the rows: both holders are reported, the kept one without
/// a row.
#[test]
fn usernames_unique_against_kept_entries() {
    let base = draft_with_inactive("Basic");
    let mut t = export_table(&base);
    set(&mut t, 3, USERNAME, "DEE@acme.example");
    let v = violations_with(&render(&t, b','), &base);
    let names: Vec<(Option<u64>, &str)> = v
        .iter()
        .filter(|e| e.code == codes::DUPLICATE_USERNAME)
        .map(|e| (e.row, e.user_id.as_deref().unwrap_or("")))
        .collect();
    assert_eq!(names, [(Some(4), "u3"), (None, "u4")], "{v:?}");
}

#[test]
fn limits_answer_too_large_with_the_limit_named() {
    let bytes = render(&table(), b',');
    let limits = |max_rows, max_bytes, max_field_len| CsvLimits {
        max_rows,
        max_bytes,
        max_field_len,
    };
    let run = |l| import_with(&bytes, &draft(), l);
    assert_eq!(
        run(limits(3, 1 << 20, 100)),
        Err(CsvFailure::TooLarge {
            limit_name: "max_rows",
            limit: 3
        })
    );
    assert_eq!(
        run(limits(10, 100, 100)),
        Err(CsvFailure::TooLarge {
            limit_name: "max_bytes",
            limit: 100
        })
    );
    assert_eq!(
        run(limits(10, 1 << 20, 10)),
        Err(CsvFailure::TooLarge {
            limit_name: "max_field_len",
            limit: 10
        })
    );
    assert!(run(limits(4, bytes.len() as u64, 64)).is_ok());
}

#[test]
fn blank_lines_are_skipped_but_counted_as_spreadsheet_rows() {
    let mut t = table();
    t.insert(2, vec![String::new(); 10]);
    set(&mut t, 4, LICENSE, "Gold"); // Cid, now spreadsheet row 5
    assert_eq!(errors(&render(&t, b',')), ["5:New License:unknown_plan"]);
}

#[test]
fn empty_and_garbage_files_fail_cleanly() {
    assert_eq!(errors(b""), ["-::malformed_csv"]);
    // Control characters in the header line refuse the file before its columns.
    assert_eq!(errors(b"\x00\x01\x02"), ["-::malformed_csv"]);
}

#[test]
fn error_report_of_an_import() {
    let mut t = table();
    set(&mut t, 1, LICENSE, "=1+1");
    let v = violations(&render(&t, b','));
    let mut buf = Vec::new();
    write_error_report_csv(&v, &mut buf).expect("report");
    let text = String::from_utf8(buf).expect("utf8");
    assert!(text.contains("2,New License,'=1+1,unknown_plan,"), "{text}");
}

/// The streamed import must decide the same wherever the batches split the
/// file: duplicates, missing rows, repeated user names, capacity and the
/// acting person are rules over the whole file, and span batches.
#[test]
fn the_verdict_does_not_depend_on_batch_boundaries() {
    use super::import_in_batches;
    let t = table();
    let mut files: Vec<(Vec<u8>, Option<&str>)> = vec![(render(&t, b','), None)];
    let mut dup = t.clone();
    dup.push(t[1].clone());
    files.push((render(&dup, b';'), Some("duplicate_row")));
    let mut gone = t.clone();
    gone.remove(2);
    files.push((render(&gone, b','), Some("missing_user")));
    let mut names = t.clone();
    set(&mut names, 4, LICENSE, "Basic");
    set(&mut names, 4, USERNAME, "ANN@acme.example");
    files.push((render(&names, b','), Some("duplicate_username")));
    let mut over = t.clone();
    for r in 2..=4 {
        set(&mut over, r, LICENSE, "Engage");
    }
    files.push((render(&over, b','), Some("capacity_exceeded")));
    let mut acting = t.clone();
    set(&mut acting, 1, LICENSE, "");
    set(&mut acting, 1, USERNAME, "");
    files.push((render(&acting, b','), Some("acting_user_unlicensed")));
    let mut broken = render(&t, b',');
    broken.extend_from_slice(b"u2,too,few\r\n");
    files.push((broken, Some("malformed_csv")));
    for (file, code) in &files {
        let run = |n: usize| {
            import_in_batches(
                &file[..],
                &roster(),
                &catalogue(),
                &draft(),
                &crate::licensing::test_support::acting(),
                CsvLimits::default(),
                n,
            )
        };
        let whole = run(10_000);
        match (code, &whole) {
            (None, Ok(_)) => {}
            (Some(code), Err(CsvFailure::Invalid(v))) => {
                assert!(v.iter().any(|e| e.code == *code), "{code}: {v:?}")
            }
            other => panic!("unexpected verdict {other:?}"),
        }
        for n in [1, 2, 3] {
            assert_eq!(run(n), whole, "batches of {n} rows, expecting {code:?}");
        }
    }
}

/// Emptying New License and New Add-ons removes the licence even when the
/// exported Username stays in its cell; a user name changed on such a row
/// is refused as before.
#[test]
fn an_emptied_licence_takes_the_exported_user_name_with_it() {
    let mut t = table();
    // Row 2 is Bob: Engage + Marketing, user name bob@ as exported.
    set(&mut t, 2, LICENSE, "");
    set(&mut t, 2, ADDONS, "");
    assert_eq!(t[2][USERNAME], "bob@acme.example");
    let out = import(&render(&t, b',')).expect("accepted");
    assert!(!out.assignments.contains_key("u2"), "{:?}", out.assignments);
    assert_eq!(out.changed, 1);

    set(&mut t, 2, USERNAME, "shared@acme.example");
    let v = violations(&render(&t, b','));
    assert!(
        v.iter().any(|v| v.code == codes::USERNAME_WITHOUT_PLAN),
        "{v:?}"
    );
    // Only the plan emptied (add-ons kept): still a plan problem, not this.
    let mut t = table();
    set(&mut t, 2, LICENSE, "");
    let v = violations(&render(&t, b','));
    assert!(
        v.iter().any(|v| v.code == codes::ADDONS_WITHOUT_PLAN),
        "{v:?}"
    );
}
