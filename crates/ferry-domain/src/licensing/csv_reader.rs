//! A tolerant streaming CSV reader: accepts what spreadsheets write (UTF-8
//! BOM, CRLF, `;` separator), holds one record and a fixed buffer, never the
//! whole file, and turns everything else into a reportable error.
//!
//! It drives `csv_core` itself rather than `csv::Reader`, because it needs to
//! see exactly which bytes each record consumed: `csv::Reader`'s positions are
//! off after CRLF line ends and multi-line cells, and the line numbers in our
//! error messages must match what an editor shows.

use std::io::{self, BufRead, BufReader, Chain, Cursor, Read};

use csv_core::ReadRecordResult;

use super::csv_common::CsvLimits;

/// Why reading stopped early.
pub(crate) enum ReadStop {
    TooLarge {
        limit_name: &'static str,
        limit: u64,
    },
    /// Unreadable input (the upload broke off, or an empty file).
    Io { line: u64, message: String },
}

/// The fields of the current record, as `csv_core` writes them: all bytes
/// back to back plus the end offset of each field.
pub(crate) struct Record {
    bytes: Vec<u8>,
    ends: Vec<usize>,
    len: usize,
}

impl Record {
    pub fn get(&self, i: usize) -> Option<&[u8]> {
        if i >= self.len {
            return None;
        }
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        Some(&self.bytes[start..self.ends[i]])
    }
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> {
        (0..self.len).filter_map(|i| self.get(i))
    }
}

/// One data row as read, not yet decoded.
pub(crate) struct RawRow<'a> {
    /// The row number a spreadsheet shows: header = 1, blank lines counted.
    pub row: u64,
    /// The file line the row starts on (differs from `row` after multi-line cells).
    pub line: u64,
    pub record: &'a Record,
}

impl<'a> RawRow<'a> {
    /// Checks the column count and UTF-8, so callers index fields freely.
    /// Decodes the record as one string (no allocation per row): fields are
    /// valid UTF-8 exactly when the whole is and every field end falls on a
    /// character boundary.
    pub fn decode(&self, header: &[String]) -> Result<Fields<'a>, String> {
        let r = self.record;
        if r.len != header.len() {
            return Err(format!(
                "line {} has {} fields, the header has {}",
                self.line,
                r.len,
                header.len()
            ));
        }
        let ends = &r.ends[..r.len];
        let all = &r.bytes[..ends.last().copied().unwrap_or(0)];
        match std::str::from_utf8(all) {
            Ok(text) if ends.iter().all(|&e| text.is_char_boundary(e)) => {
                if let Some(at) = control_at(text) {
                    let column = ends.iter().position(|&e| e > at).unwrap_or(0);
                    let c = text[at..].chars().next().unwrap_or('\0');
                    return Err(format!(
                        "row {} (line {}): column '{}' holds a control character \
                         (U+{:04X}): no cell of the file holds tabs, line breaks or \
                         other control characters",
                        self.row,
                        self.line,
                        header[column],
                        u32::from(c)
                    ));
                }
                Ok(Fields { text, ends })
            }
            _ => {
                let bad = (0..r.len)
                    .find(|&i| r.get(i).is_some_and(|f| std::str::from_utf8(f).is_err()))
                    .unwrap_or(0);
                Err(format!(
                    "line {}: column '{}' is not valid UTF-8",
                    self.line, header[bad]
                ))
            }
        }
    }

    /// Whether every cell is blank, as in a `;;;;` line a spreadsheet leaves.
    pub fn is_blank(&self) -> bool {
        self.record
            .iter()
            .all(|f| f.iter().all(u8::is_ascii_whitespace))
    }
}

/// Where the first control character (`char::is_control`) of `text` starts.
/// The export never writes one (the roster refuses them in every field), so
/// one in an upload is an editing accident or an attack on whoever opens the
/// file next; either way the file is refused, the header included. Most
/// rows are plain ASCII: the C1 controls are `C2 80`–`C2 9F` in UTF-8, so a
/// byte scan finds every candidate.
fn control_at(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    // Every row is scanned, so the common answer ("none") is found without
    // a branch per byte: a block is looked at closely only when one of its
    // bytes could start a control. The fold has no early exit, which lets
    // the compiler compare many bytes at once (this scan had made the
    // validate-only import 15 % slower).
    const BLOCK: usize = 64;
    let first = bytes.chunks(BLOCK).position(|block| {
        block.iter().fold(false, |seen, &b| {
            seen | (b < 0x20) | (b == 0x7f) | (b == 0xc2)
        })
    })?;
    let from = first * BLOCK;
    bytes[from..].iter().enumerate().find_map(|(k, &b)| {
        let i = from + k;
        match b {
            0..=0x1f | 0x7f => Some(i),
            0xc2 if matches!(bytes.get(i + 1), Some(0x80..=0x9f)) => Some(i),
            _ => None,
        }
    })
}

/// The decoded fields of a row.
pub(crate) struct Fields<'a> {
    text: &'a str,
    ends: &'a [usize],
}

impl<'a> Fields<'a> {
    /// Field `i`; the caller has checked the count against the header.
    pub fn get(&self, i: usize) -> &'a str {
        let (start, end) = self.range(i);
        self.text.get(start..end).unwrap_or("")
    }

    /// Where field `i` lies in [`Fields::text`].
    pub fn range(&self, i: usize) -> (usize, usize) {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        (start, self.ends[i])
    }

    /// All fields back to back.
    pub fn text(&self) -> &'a str {
        self.text
    }
}

/// What the bytes consumed so far tell: how many, which line we are on, and
/// whether a quote is open. The csv parser silently accepts an unclosed quote
/// (it swallows the rest of the file into one cell), so we watch for it: in
/// RFC 4180 every quote character is part of a pair, so an odd count at the
/// end is an unbalanced quote, and the line where the last pair opened points
/// at it.
struct Scan {
    bytes: u64,
    line: u64,
    in_quote: bool,
    quote_line: u64,
    /// Whether the current record's bytes hold a quote character: without
    /// one, none of its cells can hold a line break.
    record_quoted: bool,
}

impl Scan {
    /// Accounts for `chunk`; sets `start` to the line of the record's first
    /// byte once it is seen (the parser skips blank lines before a record).
    fn consume(&mut self, chunk: &[u8], start: &mut Option<u64>) {
        self.bytes += chunk.len() as u64;
        let mut rest = chunk;
        if start.is_none() {
            let lead = rest
                .iter()
                .take_while(|&&b| b == b'\n' || b == b'\r')
                .count();
            self.line += newlines(&rest[..lead]);
            rest = &rest[lead..];
            if rest.is_empty() {
                return;
            }
            *start = Some(self.line);
        }
        // One counting pass serves the common quote-free chunk; only a chunk
        // with quotes is walked again, from quote to quote, to track them.
        let (breaks, quotes) = count_breaks_and_quotes(rest);
        if quotes == 0 {
            self.line += breaks;
            return;
        }
        self.record_quoted = true;
        // Quoted cells on one line (the usual case: a list cell holding a
        // comma) end the chunk's only break, if any: every quote is on the
        // current line, so only their parity and whether one opened matter.
        if breaks == 0 || (breaks == 1 && rest.last() == Some(&b'\n')) {
            if quotes >= 2 || !self.in_quote {
                self.quote_line = self.line;
            }
            self.in_quote ^= quotes % 2 == 1;
            self.line += breaks;
            return;
        }
        let mut pieces = rest.split(|&b| b == b'"');
        if let Some(before) = pieces.next() {
            self.line += newlines(before);
        }
        // Every further piece follows a quote character.
        for piece in pieces {
            self.in_quote = !self.in_quote;
            if self.in_quote {
                self.quote_line = self.line;
            }
            self.line += newlines(piece);
        }
    }
}

/// Line breaks and quote characters in `bytes`. Counts in byte-wide lanes
/// over blocks of at most 255 bytes, which the compiler turns into SIMD; this
/// runs over every byte of the file.
fn count_breaks_and_quotes(bytes: &[u8]) -> (u64, u64) {
    let (mut breaks, mut quotes) = (0u64, 0u64);
    for block in bytes.chunks(255) {
        let (mut n, mut q) = (0u8, 0u8);
        for &b in block {
            n += u8::from(b == b'\n');
            q += u8::from(b == b'"');
        }
        breaks += u64::from(n);
        quotes += u64::from(q);
    }
    (breaks, quotes)
}

/// Line breaks in `bytes`, counted the same SIMD-friendly way: every record
/// with a quoted cell is counted again for the breaks inside its cells.
fn newlines(bytes: &[u8]) -> u64 {
    let mut breaks = 0u64;
    for block in bytes.chunks(255) {
        let mut n = 0u8;
        for &b in block {
            n += u8::from(b == b'\n');
        }
        breaks += u64::from(n);
    }
    breaks
}

type Source<R> = BufReader<Chain<Cursor<Vec<u8>>, R>>;

/// A streaming CSV reader over any `Read`.
pub(crate) struct CsvRows<R: Read> {
    input: Source<R>,
    core: csv_core::Reader,
    record: Record,
    scan: Scan,
    limits: CsvLimits,
    data_rows: u64,
    /// Spreadsheet row, start line and inner line breaks of the last record.
    row: u64,
    start_line: u64,
    inner_newlines: u64,
}

/// How much of the file is inspected to find the separator.
const SNIFF_LEN: usize = 64 * 1024;
const BUFFER: usize = 64 * 1024;
const BOM: &[u8] = b"\xEF\xBB\xBF";

impl<R: Read> CsvRows<R> {
    /// Opens the file and reads the header. Returns the trimmed header names.
    pub fn open(mut inner: R, limits: CsvLimits) -> Result<(Self, Vec<String>), ReadStop> {
        // Read up to the end of the first line (bounded) to pick the separator;
        // a stream may deliver it in small chunks, so loop.
        let mut prefix = Vec::new();
        let mut chunk = [0u8; 8192];
        while prefix.len() < SNIFF_LEN && !prefix.contains(&b'\n') {
            let n = match inner.read(&mut chunk) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => other.map_err(|e| io_stop(&e, 1))?,
            };
            if n == 0 {
                break;
            }
            prefix.extend_from_slice(&chunk[..n]);
        }
        let mut scan = Scan {
            bytes: 0,
            line: 1,
            in_quote: false,
            quote_line: 0,
            record_quoted: false,
        };
        if prefix.starts_with(BOM) {
            prefix.drain(..BOM.len());
            scan.bytes = BOM.len() as u64;
        }
        let core = csv_core::ReaderBuilder::new()
            .delimiter(sniff_delimiter(&prefix))
            .build();
        let mut rows = Self {
            input: BufReader::with_capacity(BUFFER, Cursor::new(prefix).chain(inner)),
            core,
            record: Record {
                bytes: vec![0; 4096],
                ends: vec![0; 32],
                len: 0,
            },
            scan,
            limits,
            data_rows: 0,
            row: 0,
            start_line: 1,
            inner_newlines: 0,
        };
        if !rows.read()? {
            let message = "the file is empty: the first line must be the header".to_owned();
            return Err(ReadStop::Io { line: 1, message });
        }
        let header: Vec<String> = rows
            .record
            .iter()
            .map(|f| String::from_utf8_lossy(f).into_owned())
            .collect();
        if let Some(name) = header.iter().find(|h| control_at(h).is_some()) {
            let message = format!(
                "line 1: the header name {name:?} holds a control character: \
                 no cell of the file holds tabs, line breaks or other control characters"
            );
            return Err(ReadStop::Io { line: 1, message });
        }
        let header = header.into_iter().map(|h| h.trim().to_owned()).collect();
        Ok((rows, header))
    }

    /// Reads the next record into `self.record`; false at the end.
    fn read(&mut self) -> Result<bool, ReadStop> {
        let (mut outlen, mut endlen) = (0, 0);
        let mut start = None;
        self.scan.record_quoted = false;
        loop {
            let input = match self.input.fill_buf() {
                Ok(input) => input,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(io_stop(&e, self.scan.line)),
            };
            let (res, nin, nout, nend) = self.core.read_record(
                input,
                &mut self.record.bytes[outlen..],
                &mut self.record.ends[endlen..],
            );
            self.scan.consume(&input[..nin], &mut start);
            self.input.consume(nin);
            if self.scan.bytes > self.limits.max_bytes {
                return Err(too_large("max_bytes", self.limits.max_bytes));
            }
            outlen += nout;
            endlen += nend;
            match res {
                ReadRecordResult::InputEmpty => {}
                ReadRecordResult::OutputFull => {
                    // Stop a giant cell before it is buffered, not after.
                    let field_start = endlen.checked_sub(1).map_or(0, |i| self.record.ends[i]);
                    if (outlen - field_start) as u64 > self.limits.max_field_len {
                        return Err(too_large("max_field_len", self.limits.max_field_len));
                    }
                    let grown = self.record.bytes.len() * 2;
                    self.record.bytes.resize(grown, 0);
                }
                ReadRecordResult::OutputEndsFull => {
                    let grown = self.record.ends.len() * 2;
                    self.record.ends.resize(grown, 0);
                }
                ReadRecordResult::Record => {
                    self.record.len = endlen;
                    let start_line = start.unwrap_or(self.scan.line);
                    // Rows as a spreadsheet numbers them: blank lines between
                    // records count, line breaks inside cells do not.
                    let blank =
                        start_line.saturating_sub(self.start_line + self.inner_newlines + 1);
                    self.row = if self.row == 0 {
                        1
                    } else {
                        self.row + 1 + blank
                    };
                    self.start_line = start_line;
                    self.inner_newlines = if self.scan.record_quoted {
                        newlines(&self.record.bytes[..outlen])
                    } else {
                        0
                    };
                    return Ok(true);
                }
                ReadRecordResult::End => return Ok(false),
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
            return Err(too_large("max_rows", self.limits.max_rows));
        }
        // No field is longer than the whole record: most rows need no per-field check.
        let total = self.record.ends[..self.record.len]
            .last()
            .copied()
            .unwrap_or(0);
        if total as u64 > self.limits.max_field_len
            && self
                .record
                .iter()
                .any(|f| f.len() as u64 > self.limits.max_field_len)
        {
            return Err(too_large("max_field_len", self.limits.max_field_len));
        }
        Ok(Some(RawRow {
            row: self.row,
            line: self.start_line,
            record: &self.record,
        }))
    }

    /// After the last row: the line of an unclosed quote, if the file has one.
    pub fn unbalanced_quote_line(&self) -> Option<u64> {
        self.scan.in_quote.then_some(self.scan.quote_line)
    }
}

fn too_large(limit_name: &'static str, limit: u64) -> ReadStop {
    ReadStop::TooLarge { limit_name, limit }
}

fn io_stop(e: &io::Error, line: u64) -> ReadStop {
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
#[path = "csv_reader_tests.rs"]
mod tests;
