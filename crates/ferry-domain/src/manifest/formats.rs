//! The dispatch between the two formats and the NDJSON format. Each turns bytes into [`RawRow`]s one line at a
//! time. Checking the values is shared (`ManifestRows::check`).

use std::io::{BufRead, BufReader, Read};

use serde_json::{Map, Value};

use super::csv_source::CsvSource;
use super::lines::{BOM, COLUMNS, LineCapped, fatal_io};
use super::{ManifestError, ManifestFormat, RawRow, codes};

pub(super) enum Source<R: Read> {
    /// The CSV header has not been read yet (reading it can fail, and a
    /// constructor that cannot fail is simpler to use).
    CsvStart(Option<R>, usize),
    Csv(Box<CsvSource<R>>),
    Ndjson(NdjsonSource<R>),
}

impl<R: Read> Source<R> {
    pub fn new(format: ManifestFormat, reader: R, max_line_bytes: usize) -> Self {
        match format {
            ManifestFormat::Csv => Self::CsvStart(Some(reader), max_line_bytes),
            ManifestFormat::Ndjson => Self::Ndjson(NdjsonSource {
                input: BufReader::new(LineCapped::new(reader, max_line_bytes)),
                line: 0,
                buf: Vec::new(),
            }),
        }
    }

    /// The next row, a row error, a fatal error, or `None` at the end.
    pub fn next_raw(&mut self) -> Option<Result<RawRow, ManifestError>> {
        if let Self::CsvStart(reader, max) = self {
            let reader = reader.take()?;
            match CsvSource::open(reader, *max) {
                Ok(csv) => *self = Self::Csv(Box::new(csv)),
                Err(e) => return Some(Err(e)),
            }
        }
        match self {
            Self::CsvStart(..) => None,
            Self::Csv(csv) => csv.next_raw(),
            Self::Ndjson(nd) => nd.next_raw(),
        }
    }
}

pub(super) struct NdjsonSource<R: Read> {
    input: BufReader<LineCapped<R>>,
    line: u64,
    buf: Vec<u8>,
}

impl<R: Read> NdjsonSource<R> {
    fn next_raw(&mut self) -> Option<Result<RawRow, ManifestError>> {
        loop {
            self.buf.clear();
            match self.input.read_until(b'\n', &mut self.buf) {
                Ok(0) => return None,
                Ok(_) => self.line += 1,
                Err(e) => return Some(Err(fatal_io(&e, self.line + 1))),
            }
            let mut bytes = self.buf.as_slice();
            if self.line == 1 {
                bytes = bytes.strip_prefix(BOM).unwrap_or(bytes);
            }
            if bytes.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            return Some(json_row(self.line, bytes));
        }
    }
}

fn json_row(line: u64, bytes: &[u8]) -> Result<RawRow, ManifestError> {
    let row_error =
        |field: &str, code, message: String| ManifestError::row(line, field, code, message);
    let object: Map<String, Value> = match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(o)) => o,
        Ok(_) => {
            return Err(row_error(
                "row",
                codes::INVALID_JSON,
                "each line is one JSON object".into(),
            ));
        }
        Err(e) => return Err(row_error("row", codes::INVALID_JSON, e.to_string())),
    };
    if let Some(key) = object.keys().find(|k| !COLUMNS.contains(&k.as_str())) {
        return Err(row_error(
            key,
            codes::UNKNOWN_FIELD,
            format!("unknown field '{key}'; the fields are document_id, path, size, sha256"),
        ));
    }
    let wrong_type = |field: &str, expected: &str| {
        row_error(field, codes::WRONG_TYPE, format!("{field} is {expected}"))
    };
    // Database exports often write integer ids as numbers; they mean the
    // same as their decimal text.
    let document_id = match object.get("document_id") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) if n.is_i64() || n.is_u64() => n.to_string(),
        Some(_) => return Err(wrong_type("document_id", "a string or an integer")),
    };
    let path = match object.get("path") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err(wrong_type("path", "a string")),
    };
    // As text, so a negative, fractional or huge number fails the same size
    // rule as in CSV instead of being rounded.
    let size = match object.get("size") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(_) => return Err(wrong_type("size", "a whole number")),
    };
    let sha256 = match object.get("sha256") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(wrong_type("sha256", "a string or null")),
    };
    Ok(RawRow {
        line,
        document_id,
        path,
        size,
        sha256,
    })
}
