//! The assignment CSV read in batches of rows (SPEC §3.4): the first half of
//! the streamed import. A batch holds only the export's ten columns of its
//! rows, packed in one text, so that the caller can look the batch's users up
//! at once (one query per batch, never one per row) while memory stays the
//! size of a batch whatever the size of the file.

use std::io::Read;

use super::assignment::RuleViolation;
use super::codes::{self, columns};
use super::csv_common::{CsvFailure, CsvLimits, normalise_header, trim, unneutralise};
use super::csv_reader::{CsvRows, ReadStop};

/// A refused import: 413 for `TooLarge`, 422 with every error for `Invalid`.
pub type ImportFailure = CsvFailure<RuleViolation>;

/// Rows per batch the HTTP import reads before it looks their users up: big
/// enough that a round trip per batch costs little, small enough that a
/// batch (rows, users, draft entries) stays a few megabytes.
pub const IMPORT_BATCH_ROWS: usize = 10_000;

/// Column positions of the export (`columns::ALL`) this module uses.
pub(crate) mod col {
    pub const USER_ID: usize = 0;
    pub const NEW_LICENSE: usize = 7;
    pub const NEW_ADDONS: usize = 8;
    pub const USERNAME: usize = 9;
}

/// Data rows of the file, in file order.
#[derive(Debug, Default)]
pub struct ImportBatch {
    /// The export columns of every decoded row, back to back.
    text: String,
    /// Per decoded row, ten (start, end) ranges into `text`, export order
    /// (each on a character boundary: `decode` checked them).
    cells: Vec<(usize, usize)>,
    rows: Vec<BatchRow>,
}

#[derive(Debug)]
pub(crate) struct BatchRow {
    /// Spreadsheet row (header = 1).
    pub row: u64,
    pub kind: RowKind,
}

#[derive(Debug)]
pub(crate) enum RowKind {
    /// Decoded: the index of its first cell range in `cells`.
    Cells(usize),
    /// Wrong column count or invalid UTF-8: reported, but the row still
    /// names its user if that cell is readable, so the user is not also
    /// reported missing.
    Broken {
        user_id: Option<String>,
        line: u64,
        message: String,
    },
}

impl ImportBatch {
    /// The user id each row names (trimmed, neutralisation undone), for the
    /// batch's one lookup; duplicates are left to the caller.
    pub fn user_ids(&self) -> impl Iterator<Item = &str> {
        self.rows.iter().filter_map(|r| match &r.kind {
            RowKind::Cells(_) => Some(self.user_id(r)),
            RowKind::Broken { user_id, .. } => user_id.as_deref(),
        })
    }

    pub(crate) fn rows(&self) -> &[BatchRow] {
        &self.rows
    }

    /// Cell `i` (export order) of a decoded row, neutralisation undone.
    pub(crate) fn cell(&self, first: usize, i: usize) -> &str {
        let (s, e) = self.cells[first + i];
        unneutralise(self.text.get(s..e).unwrap_or(""))
    }

    fn user_id(&self, r: &BatchRow) -> &str {
        match r.kind {
            RowKind::Cells(first) => trim(self.cell(first, col::USER_ID)),
            RowKind::Broken { .. } => "",
        }
    }
}

/// How reading the file ended.
#[derive(Debug, Default)]
pub struct ReadEnd {
    /// Data rows read, blank ones included.
    pub rows: u64,
    /// File-wide problems (an upload that broke off, an unclosed quote).
    pub(crate) errors: Vec<RuleViolation>,
    /// Whether rows may be missing because the file could not be read to
    /// its end: then "missing user" would be noise hiding the real error.
    pub(crate) structure_broken: bool,
}

/// The file, opened and its header checked.
pub struct ImportReader<R: Read> {
    rows: CsvRows<R>,
    header: Vec<String>,
    cols: [usize; 10],
    end: ReadEnd,
    done: bool,
}

impl<R: Read> ImportReader<R> {
    /// Reads the header: every export column must be there once (in any
    /// order, matched case- and space-insensitively); other columns are errors.
    pub fn open(reader: R, limits: CsvLimits) -> Result<Self, ImportFailure> {
        let (rows, header) = CsvRows::open(reader, limits).map_err(stop_to_failure)?;
        let cols = map_columns(&header).map_err(CsvFailure::Invalid)?;
        Ok(Self {
            rows,
            header,
            cols,
            end: ReadEnd::default(),
            done: false,
        })
    }

    /// Refills `batch` with up to `max` more rows (blank ones skipped);
    /// false at the end. The batch's buffers are reused from one batch to
    /// the next: a fresh megabyte per batch would be paged in anew every
    /// time. A limit exceeded stops the import at once (413).
    pub fn read_batch(
        &mut self,
        batch: &mut ImportBatch,
        max: usize,
    ) -> Result<bool, ImportFailure> {
        batch.text.clear();
        batch.cells.clear();
        batch.rows.clear();
        while !self.done && batch.rows.len() < max.max(1) {
            let raw = match self.rows.next_row() {
                Ok(Some(raw)) => raw,
                Ok(None) => {
                    self.done = true;
                    break;
                }
                Err(ReadStop::TooLarge { limit_name, limit }) => {
                    return Err(CsvFailure::TooLarge { limit_name, limit });
                }
                Err(ReadStop::Io { line, message }) => {
                    self.end.errors.push(malformed(None, line, message));
                    self.end.structure_broken = true;
                    self.done = true;
                    break;
                }
            };
            self.end.rows += 1;
            if raw.is_blank() {
                continue;
            }
            let kind = match raw.decode(&self.header) {
                Ok(fields) => {
                    // The record's text in one copy, then where each export
                    // column lies in it.
                    let first = batch.cells.len();
                    let base = batch.text.len();
                    batch.text.push_str(fields.text());
                    for &c in &self.cols {
                        let (s, e) = fields.range(c);
                        batch.cells.push((base + s, base + e));
                    }
                    RowKind::Cells(first)
                }
                Err(message) => {
                    let user_id = raw
                        .record
                        .get(self.cols[col::USER_ID])
                        .and_then(|f| std::str::from_utf8(f).ok())
                        .map(|u| trim(unneutralise(u)).to_owned());
                    RowKind::Broken {
                        user_id,
                        line: raw.line,
                        message,
                    }
                }
            };
            batch.rows.push(BatchRow { row: raw.row, kind });
        }
        Ok(!(batch.rows.is_empty() && self.done))
    }
    /// After the last batch: how reading ended (the unclosed-quote check
    /// needs the whole file).
    pub fn finish(mut self) -> ReadEnd {
        if let Some(line) = self.rows.unbalanced_quote_line() {
            let msg = format!("line {line}: a quote opened here is never closed");
            self.end.errors.push(malformed(None, line, msg));
            self.end.structure_broken = true;
        }
        self.end
    }
}

fn stop_to_failure(stop: ReadStop) -> ImportFailure {
    match stop {
        ReadStop::TooLarge { limit_name, limit } => CsvFailure::TooLarge { limit_name, limit },
        ReadStop::Io { line, message } => CsvFailure::Invalid(vec![malformed(None, line, message)]),
    }
}

pub(crate) fn malformed(row: Option<u64>, line: u64, message: String) -> RuleViolation {
    let mut v = RuleViolation::global("", &format!("line {line}"), codes::MALFORMED_CSV, message);
    v.row = row;
    v
}

/// Finds every export column in the header; reports missing, duplicated and
/// unknown ones together. Empty header cells (a trailing separator) are ignored.
fn map_columns(header: &[String]) -> Result<[usize; 10], Vec<RuleViolation>> {
    let wanted: Vec<String> = columns::ALL.iter().map(|c| normalise_header(c)).collect();
    let mut found: [Option<usize>; 10] = [None; 10];
    let mut errors = Vec::new();
    for (i, name) in header.iter().enumerate() {
        let key = normalise_header(name);
        if key.is_empty() {
            continue;
        }
        match wanted.iter().position(|w| *w == key) {
            Some(c) if found[c].is_some() => {
                errors.push(header_error(name, codes::DUPLICATE_COLUMN, "appears twice"))
            }
            Some(c) => found[c] = Some(i),
            None => errors.push(header_error(
                name,
                codes::UNKNOWN_COLUMN,
                "is not a column of the export",
            )),
        }
    }
    for (c, slot) in found.iter().enumerate() {
        if slot.is_none() {
            errors.push(header_error(
                columns::ALL[c],
                codes::MISSING_COLUMN,
                "is missing from the header",
            ));
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(found.map(|f| f.unwrap_or_default()))
}

fn header_error(name: &str, code: &'static str, what: &str) -> RuleViolation {
    RuleViolation::global(name, name, code, format!("column '{name}' {what}")).at_row(Some(1))
}
