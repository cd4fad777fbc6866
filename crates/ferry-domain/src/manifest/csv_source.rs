//! The CSV format, split by hand rather than with `csv::Reader`: the line
//! numbers in error messages must be the lines an editor shows, and
//! `csv::Reader`'s positions are off after CRLF line ends and blank lines.

use std::io::{BufRead, BufReader, Read};

use super::lines::{BOM, COLUMNS, LineCapped, fatal_io};
use super::{ManifestError, RawRow, codes};

/// The unquoted fields of one record.
type Fields = Vec<Vec<u8>>;

/// CSV as spreadsheets and databases write it (RFC 4180 quoting).
pub(super) struct CsvSource<R: Read> {
    input: BufReader<LineCapped<R>>,
    max_record_bytes: usize,
    delimiter: u8,
    /// Physical lines consumed so far.
    line: u64,
    buf: Vec<u8>,
    /// Position of each of [`COLUMNS`] in the file (`sha256` may be absent).
    columns: [Option<usize>; 4],
    width: usize,
}

impl<R: Read> CsvSource<R> {
    /// Reads the header line: drops a BOM, picks the separator from it
    /// (spreadsheets in many locales write `;`), and checks the columns
    /// before any row.
    pub(super) fn open(reader: R, max_line_bytes: usize) -> Result<Self, ManifestError> {
        let mut input = BufReader::new(LineCapped::new(reader, max_line_bytes));
        let mut header = Vec::new();
        input
            .read_until(b'\n', &mut header)
            .map_err(|e| fatal_io(&e, 1))?;
        let body = strip_line_end(header.strip_prefix(BOM).unwrap_or(&header));
        let count = |c| body.iter().filter(|&&b| b == c).count();
        let delimiter = if count(b';') > count(b',') {
            b';'
        } else {
            b','
        };
        let names = split_record(body, delimiter).unwrap_or_default();
        if names.iter().all(|n| n.is_empty()) {
            return Err(header_error(
                codes::MISSING_HEADER,
                format!("the manifest starts with a header line; {EXPECTED}"),
            ));
        }
        let mut columns = [None; 4];
        for (i, name) in names.iter().enumerate() {
            let name = String::from_utf8_lossy(name);
            if name.chars().any(char::is_control) {
                return Err(header_error(
                    codes::CONTROL_CHARACTER,
                    format!("the header name {name:?} holds a control character; {EXPECTED}"),
                ));
            }
            let key = normalise(&name);
            let Some(c) = COLUMNS.iter().position(|col| normalise(col) == key) else {
                return Err(header_error(
                    codes::UNKNOWN_COLUMN,
                    format!("unknown column '{name}'; {EXPECTED}"),
                ));
            };
            if columns[c].replace(i).is_some() {
                return Err(header_error(
                    codes::DUPLICATE_COLUMN,
                    format!("column '{}' appears twice", COLUMNS[c]),
                ));
            }
        }
        if let Some(c) = (0..3).find(|&c| columns[c].is_none()) {
            return Err(header_error(
                codes::MISSING_COLUMN,
                format!("column '{}' is missing; {EXPECTED}", COLUMNS[c]),
            ));
        }
        Ok(Self {
            input,
            max_record_bytes: max_line_bytes,
            delimiter,
            line: 1,
            buf: header,
            columns,
            width: names.len(),
        })
    }

    /// The next non-blank record and the line it starts on. A quoted field
    /// may span lines; the record is then read on until the quote closes,
    /// but never beyond the length cap.
    fn next_record(&mut self) -> Result<Option<(u64, Fields)>, ManifestError> {
        loop {
            self.buf.clear();
            let start = self.line + 1;
            loop {
                let read = self
                    .input
                    .read_until(b'\n', &mut self.buf)
                    .map_err(|e| fatal_io(&e, self.line + 1))?;
                if read == 0 {
                    if self.buf.is_empty() {
                        return Ok(None);
                    }
                    return Err(ManifestError::Malformed {
                        line: start,
                        code: codes::UNTERMINATED_QUOTE,
                        message: "a quoted field is not closed before the end of the file".into(),
                    });
                }
                self.line += 1;
                let body = strip_line_end(&self.buf);
                if body.iter().all(|b| *b == b' ' || *b == b'\t') && self.line == start {
                    break; // a blank line
                }
                if let Some(fields) = split_record(body, self.delimiter) {
                    return Ok(Some((start, fields)));
                }
                if self.buf.len() > self.max_record_bytes {
                    return Err(ManifestError::Malformed {
                        line: start,
                        code: codes::LINE_TOO_LONG,
                        message: format!(
                            "the row starting on line {start} is longer than {} bytes (an unclosed quote?)",
                            self.max_record_bytes
                        ),
                    });
                }
            }
        }
    }

    pub(super) fn next_raw(&mut self) -> Option<Result<RawRow, ManifestError>> {
        let (line, fields) = match self.next_record() {
            Ok(Some(record)) => record,
            Ok(None) => return None,
            Err(e) => return Some(Err(e)),
        };
        if fields.len() != self.width {
            return Some(Err(ManifestError::row(
                line,
                "row",
                codes::WRONG_FIELD_COUNT,
                format!(
                    "the row has {} fields, the header {}",
                    fields.len(),
                    self.width
                ),
            )));
        }
        let mut text = [None, None, None, None];
        for (c, column) in self.columns.iter().enumerate() {
            let Some(bytes) = column.and_then(|i| fields.get(i)) else {
                continue;
            };
            match String::from_utf8(bytes.clone()) {
                Ok(s) => text[c] = Some(s),
                Err(_) => {
                    return Some(Err(ManifestError::row(
                        line,
                        COLUMNS[c],
                        codes::INVALID_UTF8,
                        "the field is not valid UTF-8 (save the file as UTF-8)",
                    )));
                }
            }
        }
        let [document_id, path, size, sha256] = text;
        Some(Ok(RawRow {
            line,
            document_id: document_id.unwrap_or_default(),
            path: path.unwrap_or_default(),
            size: size.unwrap_or_default(),
            sha256,
        }))
    }
}

fn strip_line_end(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Splits one record into trimmed, unquoted fields; `None` while a quoted
/// field is still open at the end (it continues on the next line). As in
/// RFC 4180, `""` inside quotes is one `"`, and a quote inside an unquoted
/// field is an ordinary character.
fn split_record(record: &[u8], delimiter: u8) -> Option<Fields> {
    // Only spaces pad a field: a tab is a control character, which the
    // field's own rule refuses with the row named (as any control is).
    let is_blank = |b: &u8| *b == b' ';
    let mut fields = Vec::new();
    let mut i = 0;
    loop {
        let mut field = Vec::new();
        while record.get(i).is_some_and(is_blank) {
            i += 1;
        }
        if record.get(i) == Some(&b'"') {
            i += 1;
            loop {
                match record.get(i) {
                    None => return None,
                    Some(b'"') if record.get(i + 1) == Some(&b'"') => {
                        field.push(b'"');
                        i += 2;
                    }
                    Some(b'"') => {
                        i += 1;
                        break;
                    }
                    Some(b) => {
                        field.push(*b);
                        i += 1;
                    }
                }
            }
        }
        // An unquoted field, or whatever follows a closing quote (kept, as
        // the csv crate does).
        while let Some(b) = record.get(i).filter(|b| **b != delimiter) {
            field.push(*b);
            i += 1;
        }
        while field.last().is_some_and(is_blank) {
            field.pop();
        }
        fields.push(field);
        if i >= record.len() {
            return Some(fields);
        }
        i += 1;
    }
}

const EXPECTED: &str = "the header is document_id,path,size,sha256 (sha256 optional)";

/// `Document ID`, `document_id` and `DOCUMENT-ID` name the same column.
fn normalise(name: &str) -> String {
    name.chars()
        .filter(|c| !c.is_whitespace() && *c != '_' && *c != '-')
        .flat_map(char::to_lowercase)
        .collect()
}

fn header_error(code: &'static str, message: String) -> ManifestError {
    ManifestError::Malformed {
        line: 1,
        code,
        message,
    }
}
