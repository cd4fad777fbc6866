//! What the roster and assignment CSV paths share: limits, formula-injection
//! neutralisation and header matching. The streaming reader is `csv_reader`.

use std::borrow::Cow;

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
    TooLarge {
        limit_name: &'static str,
        limit: u64,
    },
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
    cell.split(',').map(trim).filter(|s| !s.is_empty())
}

/// Whether a comma-separated cell lists exactly `expected` (in order), as
/// `split_list(cell).eq(expected)` tells; `expected` has no empty items.
/// Most list cells hold one item, which needs no splitting.
pub(crate) fn same_list<'e>(cell: &str, mut expected: impl Iterator<Item = &'e str>) -> bool {
    if cell.as_bytes().contains(&b',') {
        return split_list(cell).eq(expected);
    }
    let item = trim(cell);
    match (expected.next(), expected.next()) {
        (None, _) => item.is_empty(),
        (Some(e), None) => !item.is_empty() && item == e,
        (Some(_), Some(_)) => false,
    }
}

/// [`str::trim`], with a shortcut for the common cell that starts and ends
/// with a visible ASCII character (nothing to trim): a large import trims
/// about ten cells per row.
pub(crate) fn trim(s: &str) -> &str {
    let visible = |b: Option<&u8>| b.is_some_and(|&b| b > b' ' && b.is_ascii());
    let bytes = s.as_bytes();
    if visible(bytes.first()) && visible(bytes.last()) {
        s
    } else {
        s.trim()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neutralise_round_trips() {
        for v in [
            "", "plain", "=1+1", "+x", "-5", "@SUM(A1)", "\tx", "\rx", "\nx", "'", "'=x", "''",
            "a=b",
        ] {
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
    fn trim_and_same_list_agree_with_the_plain_forms() {
        let cells = [
            "", " ", "a", " a", "a ", "\u{a0}a", "a\u{85}", "\ta\n", "a,b", " a , b ,", ",",
            "a,,b", "ä", " ä ", "a b",
        ];
        let lists: [&[&str]; 5] = [&[], &["a"], &["a", "b"], &["ä"], &["a b"]];
        for c in cells {
            assert_eq!(trim(c), c.trim(), "{c:?}");
            for l in lists {
                let plain = c.split(',').map(str::trim).filter(|s| !s.is_empty());
                assert_eq!(
                    same_list(c, l.iter().copied()),
                    plain.eq(l.iter().copied()),
                    "{c:?} {l:?}"
                );
            }
        }
    }

    #[test]
    fn headers_normalise() {
        for h in [
            "New License",
            "new license",
            "NewLicense",
            " New  License ",
            "new_license",
            "NEW-LICENSE",
        ] {
            assert_eq!(normalise_header(h), "newlicense");
        }
    }
}
