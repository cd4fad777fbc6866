use std::io::{self, Read};

use super::*;

const SHA: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

fn csv(text: &str) -> Vec<Result<ManifestRow, ManifestError>> {
    ManifestRows::csv(text.as_bytes(), ManifestLimits::default()).collect()
}

fn ndjson(text: &str) -> Vec<Result<ManifestRow, ManifestError>> {
    ManifestRows::ndjson(text.as_bytes(), ManifestLimits::default()).collect()
}

fn ok(items: &[Result<ManifestRow, ManifestError>]) -> Vec<(u64, &str, &str, u64)> {
    items
        .iter()
        .filter_map(|r| r.as_ref().ok())
        .map(|r| (r.line, r.document_id.as_str(), r.path.as_str(), r.size))
        .collect()
}

fn errors(items: &[Result<ManifestRow, ManifestError>]) -> Vec<(Option<u64>, &'static str)> {
    items
        .iter()
        .filter_map(|r| r.as_ref().err())
        .map(|e| (e.line(), e.code()))
        .collect()
}

#[test]
fn csv_rows_are_read_with_their_line_numbers() {
    let items = csv(&format!(
        "document_id,path,size,sha256\nd1,a/b.pdf,10,{}\nd2,c.txt,0,\n",
        SHA.to_uppercase()
    ));
    assert_eq!(
        ok(&items),
        [(2, "d1", "a/b.pdf", 10), (3, "d2", "c.txt", 0)]
    );
    let first = items[0].as_ref().expect("row");
    assert_eq!(first.sha256.as_ref().map(Sha256Hex::as_str), Some(SHA));
    assert_eq!(items[1].as_ref().expect("row").sha256, None);
}

#[test]
fn csv_header_is_matched_loosely_and_sha256_is_optional() {
    let items = csv("\u{feff}Path ; SIZE;Document ID\r\n x.pdf ; 7 ; d1 \r\n\r\ny.pdf;8;d2\r\n");
    assert_eq!(ok(&items), [(2, "d1", "x.pdf", 7), (4, "d2", "y.pdf", 8)]);
    let items = csv("document-id,PATH,Size,SHA_256\nd1,x,1,\n");
    assert_eq!(ok(&items), [(2, "d1", "x", 1)]);
}

#[test]
fn csv_line_numbers_count_quoted_line_breaks() {
    let items = csv("document_id,path,size\r\n\"d\n1\",x,1\r\nd2,\"y\",2\r\nd3,/z,3\r\n");
    assert_eq!(
        errors(&items),
        [
            (Some(2), codes::CONTROL_CHARACTER),
            (Some(5), codes::PATH_ABSOLUTE)
        ]
    );
    assert_eq!(ok(&items), [(4, "d2", "y", 2)]);
}

#[test]
fn csv_quoting_follows_rfc_4180() {
    let items = csv("document_id,path,size\n\"d\"\"1\",\"a, b.pdf\",1\nd\"2,x,2\n");
    assert_eq!(
        ok(&items),
        [(2, "d\"1", "a, b.pdf", 1), (3, "d\"2", "x", 2)]
    );
    let items = csv("document_id,path,size\nd1,a,1\nd2,\"b,2\nd3,c,3\n");
    assert_eq!(errors(&items), [(Some(3), codes::UNTERMINATED_QUOTE)]);
    assert_eq!(ok(&items).len(), 1);
}

#[test]
fn csv_header_problems_are_fatal() {
    for (text, code) in [
        ("", codes::MISSING_HEADER),
        ("document_id,path,size,checksum\n", codes::UNKNOWN_COLUMN),
        ("d1,a.pdf,10\n", codes::UNKNOWN_COLUMN),
        ("document_id,path,size,path\n", codes::DUPLICATE_COLUMN),
        ("document_id,size\nd1,1\n", codes::MISSING_COLUMN),
        (
            "document_id,path,size\t\nd1,a,1\n",
            codes::CONTROL_CHARACTER,
        ),
        (
            "document_id,\"pa\u{1b}th\",size\nd1,a,1\n",
            codes::CONTROL_CHARACTER,
        ),
    ] {
        let items = csv(text);
        assert_eq!(errors(&items), [(Some(1), code)], "{text:?}");
        assert!(items[0].as_ref().expect_err("fatal").is_fatal());
    }
}

#[test]
fn csv_bad_rows_name_line_field_and_code_and_reading_goes_on() {
    let items = csv(
        "document_id,path,size,sha256\n,a,1,\nd2,a/../b,1,\nd3,c,-1,\nd4,d,1,xyz\nd5,e,1\nd6,f,2,\n",
    );
    let fields: Vec<_> = items
        .iter()
        .filter_map(|r| match r {
            Err(ManifestError::Row { line, error }) => {
                Some((*line, error.field.as_str(), error.code))
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        fields,
        [
            (2, "document_id", codes::REQUIRED),
            (3, "path", codes::PATH_DOT_SEGMENT),
            (4, "size", codes::INVALID_SIZE),
            (5, "sha256", codes::INVALID_SHA256),
            (6, "row", codes::WRONG_FIELD_COUNT),
        ]
    );
    assert_eq!(ok(&items), [(7, "d6", "f", 2)]);
}

#[test]
fn csv_tabs_are_control_characters_not_padding() {
    let items = csv("document_id,path,size\nd1,a,\t1\nd2\t,b,1\nd3,\tc,1\nd4, d ,1\n");
    assert_eq!(
        errors(&items),
        [
            (Some(2), codes::INVALID_SIZE),
            (Some(3), codes::CONTROL_CHARACTER),
            (Some(4), codes::PATH_CONTROL_CHARACTER),
        ]
    );
    assert_eq!(ok(&items), [(5, "d4", "d", 1)]);
}

#[test]
fn csv_invalid_utf8_is_a_row_error() {
    let mut bytes = b"document_id,path,size\nd1,caf".to_vec();
    bytes.extend_from_slice(b"\xE9.pdf,1\nd2,ok,1\n");
    let items: Vec<_> = ManifestRows::csv(bytes.as_slice(), ManifestLimits::default()).collect();
    assert_eq!(errors(&items), [(Some(2), codes::INVALID_UTF8)]);
    assert_eq!(ok(&items), [(3, "d2", "ok", 1)]);
}

#[test]
fn duplicate_ids_are_errors_on_the_later_line() {
    let items = csv("document_id,path,size\nd1,a,1\nd2,b,1\nd1,c,1\nd1,d,1\n");
    assert_eq!(
        errors(&items),
        [
            (Some(4), codes::DUPLICATE_DOCUMENT_ID),
            (Some(5), codes::DUPLICATE_DOCUMENT_ID)
        ]
    );
    // A bad row does not claim its id.
    let items = ndjson(
        "{\"document_id\":\"d1\",\"path\":\"/x\",\"size\":1}\n{\"document_id\":\"d1\",\"path\":\"x\",\"size\":1}\n",
    );
    assert_eq!(errors(&items), [(Some(1), codes::PATH_ABSOLUTE)]);
    assert_eq!(ok(&items), [(2, "d1", "x", 1)]);
}

#[test]
fn ndjson_rows_skip_blank_lines_and_accept_integer_ids() {
    let items = ndjson(&format!(
        "\u{feff}{{\"document_id\":\"d1\",\"path\":\"a.pdf\",\"size\":10,\"sha256\":\"{SHA}\"}}\r\n\n   \n{{\"document_id\":42,\"path\":\"b\",\"size\":\"5\",\"sha256\":null}}"
    ));
    assert_eq!(ok(&items), [(1, "d1", "a.pdf", 10), (4, "42", "b", 5)]);
}

#[test]
fn ndjson_bad_rows() {
    let items = ndjson(concat!(
        "{\"document_id\":\"d1\",\"path\":\"a\"\n",
        "[1,2]\n",
        "{\"document_id\":\"d3\",\"path\":\"a\",\"size\":1,\"extra\":1}\n",
        "{\"document_id\":true,\"path\":\"a\",\"size\":1}\n",
        "{\"document_id\":\"d5\",\"path\":[\"a\"],\"size\":1}\n",
        "{\"document_id\":\"d6\",\"path\":\"a\",\"size\":1.5}\n",
        "{\"document_id\":\"d7\",\"path\":\"a\",\"size\":-1}\n",
        "{\"document_id\":\"d8\",\"path\":\"a\",\"size\":1e30}\n",
        "{\"document_id\":\"d9\",\"path\":\"a\"}\n",
        "{\"document_id\":\"d10\",\"path\":\"a\",\"size\":1,\"sha256\":5}\n",
        "{\"document_id\":\"d11\",\"path\":\"a\",\"size\":true}\n",
        "{\"document_id\":\"d12\",\"path\":\"ok\",\"size\":1}\n",
    ));
    assert_eq!(
        errors(&items),
        [
            (Some(1), codes::INVALID_JSON),
            (Some(2), codes::INVALID_JSON),
            (Some(3), codes::UNKNOWN_FIELD),
            (Some(4), codes::WRONG_TYPE),
            (Some(5), codes::WRONG_TYPE),
            (Some(6), codes::INVALID_SIZE),
            (Some(7), codes::INVALID_SIZE),
            (Some(8), codes::INVALID_SIZE),
            (Some(9), codes::REQUIRED),
            (Some(10), codes::WRONG_TYPE),
            (Some(11), codes::WRONG_TYPE),
        ]
    );
    assert_eq!(ok(&items), [(12, "d12", "ok", 1)]);
}

#[test]
fn too_many_rows_is_its_own_fatal_error() {
    let limits = ManifestLimits {
        max_rows: 2,
        ..ManifestLimits::default()
    };
    let text = "document_id,path,size\nd1,a,1\nd2,/bad,1\nd3,c,1\nd4,d,1\n";
    let mut rows = ManifestRows::csv(text.as_bytes(), limits);
    let items: Vec<_> = rows.by_ref().collect();
    assert_eq!(items.len(), 3, "{items:?}");
    assert_eq!(
        items[2],
        Err(ManifestError::TooManyRows { limit: 2 }),
        "bad rows count too"
    );
    assert_eq!(
        items[2].as_ref().expect_err("413").code(),
        codes::TOO_MANY_ROWS
    );
    assert_eq!(rows.next(), None);
    // Exactly at the limit is fine.
    let items: Vec<_> =
        ManifestRows::csv("document_id,path,size\nd1,a,1\nd2,b,1\n".as_bytes(), limits).collect();
    assert_eq!(ok(&items).len(), 2);
}

#[test]
fn an_overlong_line_stops_reading_without_buffering_it() {
    let limits = ManifestLimits {
        max_line_bytes: 64,
        ..ManifestLimits::default()
    };
    let long = "x".repeat(100);
    for format in [ManifestFormat::Csv, ManifestFormat::Ndjson] {
        let text = match format {
            ManifestFormat::Csv => format!("document_id,path,size\nd1,a,1\nd2,{long},1\nd3,c,1\n"),
            ManifestFormat::Ndjson => format!(
                "{{\"document_id\":\"d1\",\"path\":\"a\",\"size\":1}}\n{{\"path\":\"{long}\"}}\n"
            ),
        };
        let items: Vec<_> = ManifestRows::new(format, text.as_bytes(), limits).collect();
        assert_eq!(ok(&items).len(), 1, "{format:?}");
        assert_eq!(
            errors(&items),
            [(
                Some(3 - u64::from(format == ManifestFormat::Ndjson)),
                codes::LINE_TOO_LONG
            )]
        );
    }
}

#[test]
fn an_unclosed_quote_cannot_swallow_the_file() {
    let limits = ManifestLimits {
        max_line_bytes: 64,
        ..ManifestLimits::default()
    };
    let text = format!("document_id,path,size\nd1,\"a,1\n{}", "d,b,1\n".repeat(50));
    let items: Vec<_> = ManifestRows::csv(text.as_bytes(), limits).collect();
    assert_eq!(errors(&items), [(Some(2), codes::LINE_TOO_LONG)]);
}

/// Yields a few bytes, then fails like a dropped connection.
struct BrokenUpload(&'static [u8]);

impl Read for BrokenUpload {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.0.is_empty() {
            return Err(io::Error::new(io::ErrorKind::ConnectionReset, "reset"));
        }
        let n = self.0.len().min(buf.len()).min(7);
        buf[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        Ok(n)
    }
}

#[test]
fn a_read_failure_is_fatal() {
    for format in [ManifestFormat::Csv, ManifestFormat::Ndjson] {
        let input = BrokenUpload(b"document_id,path,size\n");
        let items: Vec<_> = ManifestRows::new(format, input, ManifestLimits::default()).collect();
        let last = items.last().expect("an item").as_ref().expect_err("fatal");
        assert_eq!(last.code(), codes::READ_FAILED, "{format:?}");
        assert!(last.is_fatal());
    }
}

#[test]
fn rows_are_yielded_before_the_input_ends() {
    // The reader fails after the second row: the first two arrive first,
    // which a parser that collected the whole input could not do.
    let input = BrokenUpload(b"document_id,path,size\nd1,a,1\nd2,b,2\n");
    let mut rows = ManifestRows::csv(input, ManifestLimits::default());
    assert_eq!(rows.next().and_then(Result::ok).map(|r| r.size), Some(1));
    assert_eq!(rows.next().and_then(Result::ok).map(|r| r.size), Some(2));
    assert_eq!(rows.rows_read(), 2);
    assert!(matches!(
        rows.next(),
        Some(Err(ManifestError::Malformed { .. }))
    ));
    assert_eq!(rows.next(), None);
}

#[test]
fn formats_from_content_type() {
    assert_eq!(
        ManifestFormat::from_content_type("text/csv; charset=utf-8"),
        Some(ManifestFormat::Csv)
    );
    assert_eq!(
        ManifestFormat::from_content_type("Application/X-NDJSON"),
        Some(ManifestFormat::Ndjson)
    );
    assert_eq!(
        ManifestFormat::from_content_type("application/jsonl"),
        Some(ManifestFormat::Ndjson)
    );
    assert_eq!(ManifestFormat::from_content_type("application/json"), None);
}
