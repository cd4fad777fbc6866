//! The document manifest (SPEC §3.6): the list of documents the source database
//! knows about — document id, relative path in the archive, size and optional
//! SHA-256 — uploaded as CSV or NDJSON.
//!
//! A manifest may hold millions of rows, so it is read as a stream:
//! [`ManifestRows`] is an iterator that holds one line at a time and yields each
//! row as soon as it is read, checked. A bad row yields a
//! [`ManifestError::Row`] naming its line, field and a stable code, and reading
//! goes on, so a caller can report every bad row at once; a structural problem
//! (bad header, unreadable input, a line over the length limit, too many rows)
//! yields one fatal error and ends the iteration.

mod csv_source;
mod formats;
mod lines;
mod values;

use std::collections::HashSet;
use std::hash::{BuildHasher, RandomState};
use std::io::Read;
use std::iter::FusedIterator;

use crate::error::FieldError;

pub use values::{
    DocumentId, DocumentPath, MAX_DOCUMENT_ID_CHARS, MAX_PATH_BYTES, MAX_SEGMENT_BYTES, Sha256Hex,
};

/// Stable machine codes of manifest errors (`FieldError::code` of a row error,
/// `code` of a fatal one).
pub mod codes {
    // Row errors: the row is skipped, reading goes on.
    pub const REQUIRED: &str = "required";
    pub const DOCUMENT_ID_TOO_LONG: &str = "document_id_too_long";
    pub const CONTROL_CHARACTER: &str = "control_character";
    pub const DUPLICATE_DOCUMENT_ID: &str = "duplicate_document_id";
    pub const PATH_EMPTY: &str = "path_empty";
    pub const PATH_TOO_LONG: &str = "path_too_long";
    pub const PATH_CONTROL_CHARACTER: &str = "path_control_character";
    pub const PATH_FORMAT_CONTROL: &str = "path_format_control";
    pub const PATH_ABSOLUTE: &str = "path_absolute";
    pub const PATH_BACKSLASH: &str = "path_backslash";
    pub const PATH_ENCODED: &str = "path_encoded_separator";
    pub const PATH_EMPTY_SEGMENT: &str = "path_empty_segment";
    pub const PATH_DOT_SEGMENT: &str = "path_dot_segment";
    pub const PATH_SEGMENT_TOO_LONG: &str = "path_segment_too_long";
    pub const INVALID_SIZE: &str = "invalid_size";
    pub const INVALID_SHA256: &str = "invalid_sha256";
    pub const INVALID_UTF8: &str = "invalid_utf8";
    pub const WRONG_FIELD_COUNT: &str = "wrong_field_count";
    pub const INVALID_JSON: &str = "invalid_json";
    pub const WRONG_TYPE: &str = "wrong_type";
    pub const UNKNOWN_FIELD: &str = "unknown_field";
    // Fatal errors: reading stops.
    pub const MISSING_HEADER: &str = "missing_header";
    pub const UNKNOWN_COLUMN: &str = "unknown_column";
    pub const DUPLICATE_COLUMN: &str = "duplicate_column";
    pub const MISSING_COLUMN: &str = "missing_column";
    pub const LINE_TOO_LONG: &str = "line_too_long";
    pub const UNTERMINATED_QUOTE: &str = "unterminated_quote";
    pub const READ_FAILED: &str = "read_failed";
    pub const TOO_MANY_ROWS: &str = "too_many_rows";
}

/// The two upload formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManifestFormat {
    /// Header `document_id,path,size,sha256` (`sha256` optional), matched
    /// ignoring case, spaces, `_` and `-`; `,` or `;` separated; BOM and CRLF
    /// tolerated; fields trimmed.
    Csv,
    /// One JSON object per line with those keys; blank lines skipped.
    Ndjson,
}

impl ManifestFormat {
    /// The format named by a request's `Content-Type` (parameters ignored).
    pub fn from_content_type(content_type: &str) -> Option<Self> {
        let mime = content_type.split(';').next()?.trim().to_ascii_lowercase();
        match mime.as_str() {
            "text/csv" | "application/csv" => Some(Self::Csv),
            "application/x-ndjson"
            | "application/ndjson"
            | "application/jsonl"
            | "application/x-jsonlines"
            | "application/jsonlines" => Some(Self::Ndjson),
            _ => None,
        }
    }
}

/// Bounds on what a manifest may make the reader hold or do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ManifestLimits {
    /// Data rows allowed; one more is [`ManifestError::TooManyRows`] (413).
    pub max_rows: u64,
    /// Longest physical line (and CSV record), in bytes: a valid row is at
    /// most ~2 KB, so anything far longer is garbage, and without a cap a
    /// file with no line break (or an unclosed quote) would be buffered whole.
    pub max_line_bytes: usize,
}

impl Default for ManifestLimits {
    fn default() -> Self {
        Self {
            max_rows: 5_000_000,
            max_line_bytes: 16 * 1024,
        }
    }
}

/// One checked manifest row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestRow {
    /// The line the row starts on (CSV header = line 1), for later messages.
    pub line: u64,
    pub document_id: DocumentId,
    pub path: DocumentPath,
    pub size: u64,
    pub sha256: Option<Sha256Hex>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    /// One bad row; the iterator goes on with the next.
    #[error("line {line}: {}: {}", .error.field, .error.message)]
    Row { line: u64, error: FieldError },
    /// The manifest cannot be read further; the iterator ends.
    #[error("line {line}: {message}")]
    Malformed {
        line: u64,
        code: &'static str,
        message: String,
    },
    /// More than `limit` rows: answered with 413; the iterator ends.
    #[error("the manifest has more than {limit} rows")]
    TooManyRows { limit: u64 },
}

impl ManifestError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::Row { error, .. } => error.code,
            Self::Malformed { code, .. } => code,
            Self::TooManyRows { .. } => codes::TOO_MANY_ROWS,
        }
    }

    pub fn line(&self) -> Option<u64> {
        match self {
            Self::Row { line, .. } | Self::Malformed { line, .. } => Some(*line),
            Self::TooManyRows { .. } => None,
        }
    }

    /// Whether reading stopped at this error.
    pub fn is_fatal(&self) -> bool {
        !matches!(self, Self::Row { .. })
    }

    pub(crate) fn row(
        line: u64,
        field: &str,
        code: &'static str,
        message: impl Into<String>,
    ) -> Self {
        Self::Row {
            line,
            error: FieldError::new(field, code, message),
        }
    }
}

/// A row as the format found it, not yet checked: all text, so both formats
/// go through the same rules in the same order.
pub(crate) struct RawRow {
    pub line: u64,
    pub document_id: String,
    pub path: String,
    pub size: String,
    /// `None` or empty: no checksum given.
    pub sha256: Option<String>,
}

/// Streams the rows of a manifest; see the module documentation.
pub struct ManifestRows<R: Read> {
    source: formats::Source<R>,
    max_rows: u64,
    rows: u64,
    seen: SeenIds,
    finished: bool,
}

impl<R: Read> ManifestRows<R> {
    pub fn new(format: ManifestFormat, reader: R, limits: ManifestLimits) -> Self {
        Self {
            source: formats::Source::new(format, reader, limits.max_line_bytes),
            max_rows: limits.max_rows,
            rows: 0,
            seen: SeenIds::default(),
            finished: false,
        }
    }

    pub fn csv(reader: R, limits: ManifestLimits) -> Self {
        Self::new(ManifestFormat::Csv, reader, limits)
    }

    pub fn ndjson(reader: R, limits: ManifestLimits) -> Self {
        Self::new(ManifestFormat::Ndjson, reader, limits)
    }

    /// Data rows read so far, good and bad.
    pub fn rows_read(&self) -> u64 {
        self.rows
    }

    fn check(&mut self, raw: RawRow) -> Result<ManifestRow, ManifestError> {
        let line = raw.line;
        let at = |error| ManifestError::Row { line, error };
        let document_id = DocumentId::parse(&raw.document_id).map_err(at)?;
        let path = DocumentPath::parse(&raw.path).map_err(at)?;
        let size = values::parse_size(&raw.size).map_err(at)?;
        let sha256 = match raw.sha256.as_deref() {
            None | Some("") => None,
            Some(s) => Some(Sha256Hex::parse(s).map_err(at)?),
        };
        // Only rows that are otherwise valid claim their id, so fixing a bad
        // row never turns a later row into a "duplicate".
        if !self.seen.insert(document_id.as_str()) {
            return Err(ManifestError::row(
                line,
                "document_id",
                codes::DUPLICATE_DOCUMENT_ID,
                format!("document id '{document_id}' is on an earlier line too"),
            ));
        }
        Ok(ManifestRow {
            line,
            document_id,
            path,
            size,
            sha256,
        })
    }
}

impl<R: Read> Iterator for ManifestRows<R> {
    type Item = Result<ManifestRow, ManifestError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.finished {
            return None;
        }
        let Some(item) = self.source.next_raw() else {
            self.finished = true;
            return None;
        };
        match item {
            Err(fatal) if fatal.is_fatal() => {
                self.finished = true;
                Some(Err(fatal))
            }
            item => {
                self.rows += 1;
                if self.rows > self.max_rows {
                    self.finished = true;
                    return Some(Err(ManifestError::TooManyRows {
                        limit: self.max_rows,
                    }));
                }
                Some(item.and_then(|raw| self.check(raw)))
            }
        }
    }
}

impl<R: Read> FusedIterator for ManifestRows<R> {}

/// The document ids seen so far, for the duplicate check.
///
/// Memory: 128-bit fingerprints instead of the ids themselves, i.e. 16 bytes
/// plus hash-table overhead (≈ 35 bytes per row right after the table grows)
/// instead of a heap copy of each id — about 150 MB at worst for the default
/// 5 million rows rather than ~ 500 MB. The fingerprint is two independently
/// keyed SipHash values: a false "duplicate" needs a 128-bit collision
/// (probability ≈ n²/2¹²⁹, ~10⁻²⁵ for 10⁷ rows), and the random keys make one
/// impossible to craft.
#[derive(Default)]
struct SeenIds {
    low: RandomState,
    high: RandomState,
    fingerprints: HashSet<u128>,
}

impl SeenIds {
    /// `false` if the id was seen before.
    fn insert(&mut self, id: &str) -> bool {
        let fingerprint =
            (u128::from(self.high.hash_one(id)) << 64) | u128::from(self.low.hash_one(id));
        self.fingerprints.insert(fingerprint)
    }
}

#[cfg(test)]
mod tests;
