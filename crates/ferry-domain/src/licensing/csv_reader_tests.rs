//! Unit tests of `csv_reader`.

use super::*;

/// Header, `(row, cells)` per data row, and the unbalanced-quote line.
type Parsed = (Vec<String>, Vec<(u64, Vec<String>)>, Option<u64>);

fn rows(input: &[u8], limits: CsvLimits) -> Result<Parsed, String> {
    let (mut r, header) = CsvRows::open(input, limits).map_err(describe)?;
    let mut out = Vec::new();
    while let Some(row) = r.next_row().map_err(describe)? {
        let fields = row.decode(&header)?;
        let cells = (0..header.len())
            .map(|i| fields.get(i).to_owned())
            .collect();
        out.push((row.row, cells));
    }
    Ok((header, out, r.unbalanced_quote_line()))
}

fn describe(stop: ReadStop) -> String {
    match stop {
        ReadStop::TooLarge { limit_name, .. } => format!("too large: {limit_name}"),
        ReadStop::Io { message, .. } => message,
    }
}

#[test]
fn bom_crlf_and_semicolon_are_accepted() {
    let (header, data, _) =
        rows(b"\xEF\xBB\xBFa;b\r\n1;\"x;y\"\r\n", CsvLimits::default()).expect("ok");
    assert_eq!(header, ["a", "b"]);
    assert_eq!(data, vec![(2, vec!["1".to_owned(), "x;y".to_owned()])]);
}

#[test]
fn comma_wins_when_header_has_more_commas() {
    let (header, _, _) = rows(b"a,b;c,d\n", CsvLimits::default()).expect("ok");
    assert_eq!(header, ["a", "b;c", "d"]);
}

#[test]
fn rows_count_blank_lines_and_multiline_cells_like_a_spreadsheet() {
    let input = b"a,b\n1,\"x\ny\"\n\n3,z\n";
    let (mut r, _) = CsvRows::open(&input[..], CsvLimits::default())
        .map_err(describe)
        .expect("open");
    let mut seen = Vec::new();
    while let Some(row) = r.next_row().map_err(describe).expect("row") {
        seen.push(row.row);
    }
    assert_eq!(seen, [2, 4]);
}

#[test]
fn control_characters_are_refused_anywhere_with_row_and_column() {
    // A tab, a line break inside a quoted cell, a C1 control, an escape.
    for (input, column) in [
        (&b"a,b\n1,x\ty\n"[..], "'b'"),
        (&b"a,b\n\"1\n2\",y\n"[..], "'a'"),
        ("a,b\n1,x\u{85}\n".as_bytes(), "'b'"),
        (&b"a,b\n\x1b[31m,y\n"[..], "'a'"),
    ] {
        let err = rows(input, CsvLimits::default()).expect_err("control");
        assert!(
            err.contains("row 2") && err.contains(column) && err.contains("control character"),
            "{err}"
        );
    }
    let err = rows(b"a,\"b\tc\"\n1,2\n", CsvLimits::default()).expect_err("header");
    assert!(
        err.contains("header") && err.contains("control character"),
        "{err}"
    );
    // Letters beyond ASCII, including those whose UTF-8 has a C2 byte, pass.
    let (_, data, _) = rows("a,b\n\u{a0}é¢,日本\n".as_bytes(), CsvLimits::default()).expect("ok");
    assert_eq!(data[0].1, ["\u{a0}é¢", "日本"]);
}

/// The unclosed-quote line after reading every row (an open quote swallows
/// line breaks, so the rows themselves would be refused).
fn open_quote(input: &[u8]) -> Option<u64> {
    let (mut r, _) = CsvRows::open(input, CsvLimits::default())
        .map_err(describe)
        .expect("open");
    while r.next_row().map_err(describe).expect("row").is_some() {}
    r.unbalanced_quote_line()
}

#[test]
fn unbalanced_quote_is_detected_with_its_line() {
    let open = open_quote(b"a,b\n1,2\n3,\"oops\n4,5\n");
    assert_eq!(open, Some(3));
    let open = open_quote(b"a,b\n1,\"ok \"\"quoted\"\"\"\n");
    assert_eq!(open, None);
    // Records whose quotes all sit on one line take a shortcut; the line of a
    // quote left open later must still be found, with LF and with CRLF.
    let lf = b"a,b\n\"x, y\",\"z\"\n3,\"oops\n4,5\n".to_vec();
    let crlf = b"a,b\r\n\"x, y\",\"z\"\r\n3,\"oops\r\n4,5\r\n".to_vec();
    for input in [lf, crlf] {
        let open = open_quote(&input);
        assert_eq!(open, Some(3));
    }
}

#[test]
fn wrong_column_count_and_bad_utf8_name_the_line() {
    let err = rows(b"a,b\n1,2\n1,2,3\n", CsvLimits::default()).expect_err("count");
    assert!(err.contains("line 3 has 3 fields"), "{err}");
    let err = rows(b"a,b\n1,\xFF\n", CsvLimits::default()).expect_err("utf8");
    assert!(err.contains("line 2") && err.contains("'b'"), "{err}");
}

#[test]
fn limits_stop_reading() {
    let small = |max_rows, max_bytes, max_field_len| CsvLimits {
        max_rows,
        max_bytes,
        max_field_len,
    };
    let input = b"a,b\n1,2\n3,4\n";
    assert_eq!(
        rows(input, small(1, 100, 10)).expect_err("rows"),
        "too large: max_rows"
    );
    assert!(rows(input, small(2, input.len() as u64, 10)).is_ok());
    assert_eq!(
        rows(input, small(2, input.len() as u64 - 1, 10)).expect_err("bytes"),
        "too large: max_bytes"
    );
    assert_eq!(
        rows(b"a\n12345\n", small(2, 100, 4)).expect_err("field"),
        "too large: max_field_len"
    );
    // A cell far larger than the record buffer is stopped while growing.
    let mut huge = b"a\n\"".to_vec();
    huge.extend(std::iter::repeat_n(b'x', 100_000));
    assert_eq!(
        rows(&huge, small(2, 1 << 20, 5000)).expect_err("field"),
        "too large: max_field_len"
    );
}

#[test]
fn line_numbers_survive_crlf_multiline_cells_and_blank_lines() {
    let input = b"a,b\r\n1,\"x\r\ny\"\r\n\r\n3,z\r\n4\r\n";
    let (mut r, header) = CsvRows::open(&input[..], CsvLimits::default())
        .map_err(describe)
        .expect("open");
    let mut seen = Vec::new();
    while let Some(row) = r.next_row().map_err(describe).expect("row") {
        seen.push((row.row, row.line, row.decode(&header).is_ok()));
    }
    // Row 2's cell holds a line break: numbered right, then refused.
    assert_eq!(seen, [(2, 2, false), (4, 5, true), (5, 6, false)]);
}

#[test]
fn empty_file_is_an_error_not_a_panic() {
    assert!(rows(b"", CsvLimits::default()).is_err());
    assert!(rows(b"\xEF\xBB\xBF", CsvLimits::default()).is_err());
}

#[test]
fn records_larger_than_the_initial_buffers_keep_their_fields() {
    // 3 × 3000-byte cells overflow the 4 KiB field buffer mid-record, and 40
    // columns overflow the 32 field ends: both grow and resume correctly.
    let cells: Vec<String> = (0..3).map(|i| i.to_string().repeat(3000)).collect();
    let wide: Vec<String> = (0..40).map(|i| format!("c{i}")).collect();
    let input = format!("a,b,c\n{}\n{}\n", cells.join(","), wide.join(","));
    let (mut r, header) = CsvRows::open(input.as_bytes(), CsvLimits::default())
        .map_err(describe)
        .expect("open");
    let row = r.next_row().map_err(describe).expect("read").expect("row");
    let fields = row.decode(&header).expect("decode");
    assert_eq!((0..3).map(|i| fields.get(i)).collect::<Vec<_>>(), cells);
    let row = r.next_row().map_err(describe).expect("read").expect("row");
    assert_eq!(row.record.iter().count(), 40);
    assert_eq!(row.record.get(39), Some(&b"c39"[..]));
    assert_eq!(row.record.get(40), None);
}

#[test]
fn control_scan_finds_the_first_control_at_any_offset() {
    // The scan skips 64-byte blocks without a candidate byte; a control in
    // any block, right after a block boundary, or after a harmless U+00A9
    // (`C2 A9`, a candidate that is not a control) is still found, at its
    // own offset, and text without one passes.
    for len in [0, 1, 63, 64, 65, 127, 128, 200] {
        let plain = "a".repeat(len);
        assert_eq!(control_at(&plain), None, "{len}");
        let with_copyright = format!("{plain}\u{a9}{plain}");
        assert_eq!(control_at(&with_copyright), None, "{len}");
        for c in ['\t', '\u{7f}', '\u{85}', '\u{9f}'] {
            let text = format!("{with_copyright}{c}z");
            assert_eq!(control_at(&text), Some(2 * len + 2), "{len} {c:?}");
            let early = format!("{plain}{c}{with_copyright}");
            assert_eq!(control_at(&early), Some(len), "{len} {c:?}");
        }
    }
}
