//! What the roster and assignment CSV paths share: limits, formula-injection
//! neutralisation, and a tolerant streaming reader that accepts what
//! spreadsheets write (UTF-8 BOM, CRLF, `;` separator) and turns everything
//! else into a reportable error instead of a panic.

use std::borrow::Cow;
use std::io::{self, Chain, Cursor, Read};

use csv::ByteRecord;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Limits on an uploaded CSV file. Exceeding one is answered 413 with the limit
/// named ([`CsvFailure::TooLarge`]), never by buffering more.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CsvLimits {
    /// Data rows, the header not counted.
    pub max_rows: u64,
    /// Bytes of the whole file, BOM included.
    pub max_bytes: u64,
    /// Bytes of one cell.
    pub max_field_len: u64,
}

impl Default for CsvLimits {
    /// Room for the 1,000,000-row benchmark file (~120 MB) with headroom.
    fn default() -> Self {
        Self {
            max_rows: 1_000_000,
            max_bytes: 256 * 1024 * 1024,
            max_field_len: 8 * 1024,
        }
    }
}

/// Why a CSV upload was refused as a whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CsvFailure<E> {
    /// A limit was exceeded (413); the file was not read further.
    TooLarge { limit_name: &'static str, limit: u64 },
    /// Every error found (422); never empty.
    Invalid(Vec<E>),
}

/// Cells starting with one of these are formulas to Excel, LibreOffice and
/// Google Sheets (tab, CR and LF because some of them strip leading
/// whitespace before deciding).
const FORMULA_TRIGGERS: [char; 7] = ['=', '+', '-', '@', '\t', '\r', '\n'];

/// Neutralises a cell against formula injection (OWASP's advice): a cell that
/// starts with a formula trigger gets a leading apostrophe, which spreadsheets
/// show as text. A cell that already starts with an apostrophe gets one more,
/// so that [`unneutralise`] is an exact inverse and an unedited export
/// re-imports byte for byte. We quote away rather than strip the character,
/// because `-` starts legitimate values (names, user ids) that must survive.
pub fn neutralise(cell: &str) -> Cow<'_, str> {
    if cell.starts_with(FORMULA_TRIGGERS) || cell.starts_with('\'') {
        Cow::Owned(format!("'{cell}"))
    } else {
        Cow::Borrowed(cell)
    }
}

/// Removes exactly the apostrophe [`neutralise`] added, and nothing else: an
/// apostrophe a person typed before ordinary text stays.
pub fn unneutralise(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if rest.starts_with(FORMULA_TRIGGERS) || rest.starts_with('\'') => rest,
        _ => cell,
    }
}

/// Header names compare case-, space- and punctuation-insensitively, so
/// `New License`, `new_license`, ` NewLicense ` and `New-License` are one column.
pub(crate) fn normalise_header(name: &str) -> String {
    name.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// The items of a comma-separated cell, trimmed, empties dropped.
pub(crate) fn split_list(cell: &str) -> impl Iterator<Item = &str> {
    cell.split(',').map(str::trim).filter(|s| !s.is_empty())
}

/// The io error our guard raises when `max_bytes` is passed; recognised again
/// when the csv crate hands the io error back.
#[derive(Debug)]
struct ByteLimitExceeded;
impl std::fmt::Display for ByteLimitExceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("byte limit exceeded")
    }
}
impl std::error::Error for ByteLimitExceeded {}

/// Counts bytes against the limit and tracks quote balance as bytes stream
/// past. The csv crate silently accepts an unclosed quote (it swallows the rest
/// of the file into one cell), so we detect it ourselves: in RFC 4180 every
/// quote character is part of a pair, so an odd count at the end is an
/// unbalanced quote, and the line where the last pair opened points at it.
struct GuardedReader<R> {
    inner: R,
    bytes: u64,
    max_bytes: u64,
    line: u64,
    in_quote: bool,
    quote_line: u64,
}

impl<R: Read> Read for GuardedReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bytes += n as u64;
        if self.bytes > self.max_bytes {
            return Err(io::Error::other(ByteLimitExceeded));
        }
        let chunk = &buf[..n];
        if chunk.contains(&b'"') {
            for &b in chunk {
                if b == b'\n' {
                    self.line += 1;
                } else if b == b'"' {
                    self.in_quote = !self.in_quote;
                    if self.in_quote {
                        self.quote_line = self.line;
                    }
                }
            }
        } else {
            self.line += chunk.iter().filter(|&&b| b == b'\n').count() as u64;
        }
        Ok(n)
    }
}

/// Why reading stopped early.
pub(crate) enum ReadStop {
    TooLarge { limit_name: &'static str, limit: u64 },
    /// The underlying reader failed (e.g. the upload broke off).
    Io { line: u64, message: String },
}

/// One data row as read, not yet decoded.
pub(crate) struct RawRow<'a> {
    /// The row number a spreadsheet shows: header = 1, blank lines counted.
    pub row: u64,
    /// The file line the row starts on (differs from `row` after multi-line cells).
    pub line: u64,
    pub record: &'a ByteRecord,
}

impl RawRow<'_> {
    /// Checks the column count and UTF-8, so callers index fields freely.
    pub fn decode(&self, header: &[String]) -> Result<Vec<&str>, String> {
        if self.record.len() != header.len() {
            return Err(format!(
                "line {} has {} fields, the header has {}",
                self.line,
                self.record.len(),
                header.len()
            ));
        }
        self.record
            .iter()
            .zip(header)
            .map(|(field, name)| {
                std::str::from_utf8(field).map_err(|_| {
                    format!("line {}: column '{name}' is not valid UTF-8", self.line)
                })
            })
            .collect()
    }

    /// Whether every cell is empty, as in a `;;;;` line a spreadsheet leaves.
    pub fn is_blank(&self) -> bool {
        self.record.iter().all(|f| f.iter().all(u8::is_ascii_whitespace))
    }
}

type Source<R> = Chain<Cursor<Vec<u8>>, GuardedReader<R>>;

/// A streaming CSV reader: one reused record buffer, never the whole file.
pub(crate) struct CsvRows<R: Read> {
    reader: csv::Reader<Source<R>>,
    record: ByteRecord,
    limits: CsvLimits,
    data_rows: u64,
    /// Spreadsheet row of the last record read.
    row: u64,
    /// File line the next record should start on, if no blank line intervenes.
    next_line: u64,
}

/// How much of the file is inspected to find the separator.
const SNIFF_LEN: usize = 64 * 1024;
const BOM: &[u8] = b"\xEF\xBB\xBF";

impl<R: Read> CsvRows<R> {
    /// Opens the file and reads the header. Returns the trimmed header names.
    pub fn open(inner: R, limits: CsvLimits) -> Result<(Self, Vec<String>), ReadStop> {
        let mut guarded = GuardedReader {
            inner,
            bytes: 0,
            max_bytes: limits.max_bytes,
            line: 1,
            in_quote: false,
            quote_line: 0,
        };
        // Read up to the end of the first line (bounded) to pick the separator;
        // a stream may deliver it in small chunks, so loop.
        let mut prefix = Vec::new();
        let mut chunk = [0u8; 8192];
        while prefix.len() < SNIFF_LEN && !prefix.contains(&b'\n') {
            let n = read_retrying(&mut guarded, &mut chunk)
                .map_err(|e| stop_from_io(&e, 1, limits.max_bytes))?;
            if n == 0 {
                break;
            }
            prefix.extend_from_slice(&chunk[..n]);
        }
        if prefix.starts_with(BOM) {
            prefix.drain(..BOM.len());
        }
        let delimiter = sniff_delimiter(&prefix);
        let reader = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .has_headers(false)
            .flexible(true)
            .from_reader(Cursor::new(prefix).chain(guarded));
        let mut rows = Self {
            reader,
            record: ByteRecord::new(),
            limits,
            data_rows: 0,
            row: 0,
            next_line: 1,
        };
        let header = match rows.read()? {
            false => {
                return Err(ReadStop::Io {
                    line: 1,
                    message: "the file is empty: the first line must be the header".into(),
                });
            }
            true => rows
                .record
                .iter()
                .map(|f| String::from_utf8_lossy(f).trim().to_owned())
                .collect(),
        };
        Ok((rows, header))
    }

    fn read(&mut self) -> Result<bool, ReadStop> {
        let line = self.next_line;
        match self.reader.read_byte_record(&mut self.record) {
            Ok(false) => Ok(false),
            Ok(true) => {
                let start = self.record.position().map_or(line, |p| p.line());
                // Blank lines are skipped by the parser but shown by spreadsheets.
                self.row += 1 + start.saturating_sub(line);
                let inner_newlines = self.record.as_slice().iter().filter(|&&b| b == b'\n').count();
                self.next_line = start + 1 + inner_newlines as u64;
                Ok(true)
            }
            Err(e) => {
                let line = e.position().map_or(line, |p| p.line());
                match e.into_kind() {
                    csv::ErrorKind::Io(io) => Err(stop_from_io(&io, line, self.limits.max_bytes)),
                    other => Err(ReadStop::Io {
                        line,
                        message: format!("line {line}: {other:?}"),
                    }),
                }
            }
        }
    }

    /// The next data row, or `None` at the end of the file.
    pub fn next_row(&mut self) -> Result<Option<RawRow<'_>>, ReadStop> {
        if !self.read()? {
            return Ok(None);
        }
        self.data_rows += 1;
        if self.data_rows > self.limits.max_rows {
            return Err(ReadStop::TooLarge {
                limit_name: "max_rows",
                limit: self.limits.max_rows,
            });
        }
        if self.record.iter().any(|f| f.len() as u64 > self.limits.max_field_len) {
            return Err(ReadStop::TooLarge {
                limit_name: "max_field_len",
                limit: self.limits.max_field_len,
            });
        }
        let line = self.record.position().map_or(0, |p| p.line());
        Ok(Some(RawRow {
            row: self.row,
            line,
            record: &self.record,
        }))
    }

    /// After the last row: the line of an unclosed quote, if the file has one.
    pub fn unbalanced_quote_line(&self) -> Option<u64> {
        let guard = self.reader.get_ref().get_ref().1;
        guard.in_quote.then_some(guard.quote_line)
    }
}

fn read_retrying<R: Read>(r: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match r.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

fn stop_from_io(e: &io::Error, line: u64, max_bytes: u64) -> ReadStop {
    // The guard's byte limit comes back through the csv crate as an io error.
    if e.get_ref().is_some_and(|inner| inner.is::<ByteLimitExceeded>()) {
        return ReadStop::TooLarge {
            limit_name: "max_bytes",
            limit: max_bytes,
        };
    }
    ReadStop::Io {
        line,
        message: format!("the upload could not be read after line {line}: {e}"),
    }
}

/// `;` when the header line has more semicolons than commas outside quotes
/// (spreadsheets in comma-decimal locales write `;`), else `,`.
fn sniff_delimiter(prefix: &[u8]) -> u8 {
    let (mut commas, mut semis, mut quoted) = (0usize, 0usize, false);
    for &b in prefix {
        match b {
            b'"' => quoted = !quoted,
            b'\n' if !quoted => break,
            b',' if !quoted => commas += 1,
            b';' if !quoted => semis += 1,
            _ => {}
        }
    }
    if semis > commas { b';' } else { b',' }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(input: &[u8], limits: CsvLimits) -> Result<(Vec<String>, Vec<(u64, Vec<String>)>, Option<u64>), String> {
        let (mut r, header) = CsvRows::open(input, limits).map_err(describe)?;
        let mut out = Vec::new();
        while let Some(row) = r.next_row().map_err(describe)? {
            let fields = row.decode(&header)?;
            out.push((row.row, fields.into_iter().map(str::to_owned).collect()));
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
    fn neutralise_round_trips() {
        for v in ["", "plain", "=1+1", "+x", "-5", "@SUM(A1)", "\tx", "\rx", "\nx", "'", "'=x", "''", "a=b"] {
            let n = neutralise(v);
            assert_eq!(unneutralise(&n), v, "{v:?}");
        }
        assert_eq!(neutralise("=HYPERLINK()"), "'=HYPERLINK()");
        assert_eq!(neutralise("-"), "'-");
        assert_eq!(neutralise("Ann"), "Ann");
        // A person's own leading apostrophe before text is kept on import.
        assert_eq!(unneutralise("'abc"), "'abc");
    }

    #[test]
    fn headers_normalise() {
        for h in ["New License", "new license", "NewLicense", " New  License ", "new_license", "NEW-LICENSE"] {
            assert_eq!(normalise_header(h), "newlicense");
        }
    }

    #[test]
    fn bom_crlf_and_semicolon_are_accepted() {
        let (header, data, _) = rows(b"\xEF\xBB\xBFa;b\r\n1;\"x;y\"\r\n", CsvLimits::default()).expect("ok");
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
        let (_, data, _) = rows(b"a,b\n1,\"x\ny\"\n\n3,z\n", CsvLimits::default()).expect("ok");
        assert_eq!(data.iter().map(|d| d.0).collect::<Vec<_>>(), vec![2, 4]);
    }

    #[test]
    fn unbalanced_quote_is_detected_with_its_line() {
        let (_, _, open) = rows(b"a,b\n1,2\n3,\"oops\n4,5\n", CsvLimits::default()).expect("parses");
        assert_eq!(open, Some(3));
        let (_, _, open) = rows(b"a,b\n1,\"ok \"\"quoted\"\"\"\n", CsvLimits::default()).expect("parses");
        assert_eq!(open, None);
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
        assert_eq!(rows(input, small(1, 100, 10)).expect_err("rows"), "too large: max_rows");
        assert!(rows(input, small(2, input.len() as u64, 10)).is_ok());
        assert_eq!(rows(input, small(2, 5, 10)).expect_err("bytes"), "too large: max_bytes");
        assert_eq!(rows(b"a\n12345\n", small(2, 100, 4)).expect_err("field"), "too large: max_field_len");
        let stop = CsvRows::open(&input[..], small(2, 7, 10)).and_then(|(mut r, _)| {
            while r.next_row()?.is_some() {}
            Ok(())
        });
        assert!(matches!(stop, Err(ReadStop::TooLarge { limit_name: "max_bytes", limit: 7 })));
    }

    #[test]
    fn empty_file_is_an_error_not_a_panic() {
        assert!(rows(b"", CsvLimits::default()).is_err());
        assert!(rows(b"\xEF\xBB\xBF", CsvLimits::default()).is_err());
    }
}
