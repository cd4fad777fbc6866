//! The checked values of one manifest row. Each newtype has a private field and
//! one `parse`, so holding a [`DocumentPath`] proves the path rules were applied.

use std::fmt;

use serde::Serialize;

use super::codes;
use crate::error::FieldError;

/// Longest document id, in characters: ids end up in URLs, log lines and the
/// outcome ledger, and 128 is far beyond any source system's key.
pub const MAX_DOCUMENT_ID_CHARS: usize = 128;
/// Longest document path, in bytes (S3's key limit; see [`DocumentPath`]).
pub const MAX_PATH_BYTES: usize = 1024;
/// Longest path segment, in bytes: the file-name limit of ext4, NTFS and APFS,
/// so every accepted path can also be written to a local tenant store.
pub const MAX_SEGMENT_BYTES: usize = 255;

/// The source system's id of a document: non-empty, at most
/// [`MAX_DOCUMENT_ID_CHARS`] characters, no control characters (they would break
/// the CSV ledger and log lines).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct DocumentId(String);

impl DocumentId {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let bad = |code, msg: &str| FieldError::new("document_id", code, msg);
        if raw.is_empty() {
            return Err(bad(codes::REQUIRED, "a document id is required"));
        }
        if raw.chars().count() > MAX_DOCUMENT_ID_CHARS {
            return Err(bad(
                codes::DOCUMENT_ID_TOO_LONG,
                "a document id has at most 128 characters",
            ));
        }
        if raw.chars().any(char::is_control) {
            return Err(bad(
                codes::CONTROL_CHARACTER,
                "a document id has no control characters",
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A document's path relative to the archive root, safe to append under
/// `<tenant>/documents/` in the tenant store and under the archive root when
/// reading: it can only name something *below* the prefix it is joined to.
///
/// Accepted paths are `/`-separated, non-empty segments of at most
/// [`MAX_SEGMENT_BYTES`] bytes, at most [`MAX_PATH_BYTES`] bytes in all, with no
/// `.`/`..` segment, no control character, no backslash, no drive letter and no
/// percent-encoded `/`, `\`, `.` or `%` (a layer that decodes once — an HTTP
/// server, a URL-based store — must not be able to turn them into separators or
/// dot segments; `%25` is refused because double encoding smuggles the others).
///
/// `object_store::path::Path::parse` accepts every path accepted here unchanged,
/// but it is *weaker*, which is why the domain has its own rules (and does not
/// depend on `object_store`): it rejects `.`/`..`, empty segments and ASCII
/// control characters, yet silently strips a leading `/`, and accepts
/// backslashes, drive letters, percent sequences and non-ASCII control
/// characters. `Path::from` is worse still: it percent-encodes `..` instead of
/// refusing it.
///
/// Note for S3: the full key is `<tenant>/documents/<path>`, so with the tenant
/// prefix (up to 74 bytes) a path close to [`MAX_PATH_BYTES`] exceeds S3's
/// 1024-byte key limit; the tenant store reports that as an upload failure.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct DocumentPath(String);

impl DocumentPath {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let bad = |code, msg: &str| Err(FieldError::new("path", code, msg));
        if raw.is_empty() {
            return bad(codes::PATH_EMPTY, "a document path is required");
        }
        if raw.len() > MAX_PATH_BYTES {
            return bad(
                codes::PATH_TOO_LONG,
                "a document path has at most 1024 bytes",
            );
        }
        // Before the structural checks, so that e.g. "a/\n/b" is reported as
        // what it is rather than as a strange segment.
        if raw.chars().any(char::is_control) {
            return bad(
                codes::PATH_CONTROL_CHARACTER,
                "a document path has no control characters (NUL, tab, CR, LF, DEL, ...)",
            );
        }
        if let Some(c) = crate::text::first_format_control(raw) {
            let msg = format!(
                "a document path has no bidirectional or invisible format characters ({} here): \
                 they make a path display as another",
                crate::text::code_point(c)
            );
            return bad(codes::PATH_FORMAT_CONTROL, &msg);
        }
        if is_absolute(raw) {
            return bad(
                codes::PATH_ABSOLUTE,
                "a document path is relative to the archive: no leading '/', '\\' or drive letter",
            );
        }
        if raw.contains('\\') {
            return bad(
                codes::PATH_BACKSLASH,
                "a document path separates folders with '/', not '\\'",
            );
        }
        if has_encoded_separator_or_dot(raw) {
            return bad(
                codes::PATH_ENCODED,
                "a document path has no percent-encoded '/', '\\', '.' or '%' (%2F, %5C, %2E, %25)",
            );
        }
        for segment in raw.split('/') {
            if segment.is_empty() {
                return bad(
                    codes::PATH_EMPTY_SEGMENT,
                    "a document path has no empty folder names ('//', leading or trailing '/')",
                );
            }
            if segment == "." || segment == ".." {
                return bad(
                    codes::PATH_DOT_SEGMENT,
                    "a document path has no '.' or '..' segments",
                );
            }
            if segment.len() > MAX_SEGMENT_BYTES {
                return bad(
                    codes::PATH_SEGMENT_TOO_LONG,
                    "each folder or file name in a document path has at most 255 bytes",
                );
            }
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The folder and file names, outermost first.
    pub fn segments(&self) -> impl Iterator<Item = &str> {
        self.0.split('/')
    }
}

/// `/x`, `\x`, `\\server\share` and Windows drive paths (`C:\x`, `C:/x`, and
/// the drive-relative `C:x`) all escape whatever they are joined to on some
/// system. A top-level name like `a:b` is refused with them: harmless on Unix,
/// but a drive path on Windows.
fn is_absolute(raw: &str) -> bool {
    let b = raw.as_bytes();
    matches!(b.first(), Some(b'/' | b'\\'))
        || (b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':')
}

fn has_encoded_separator_or_dot(raw: &str) -> bool {
    raw.as_bytes().windows(3).any(|w| {
        w[0] == b'%'
            && matches!(
                (w[1], w[2].to_ascii_uppercase()),
                (b'2', b'F' | b'E' | b'5') | (b'5', b'C')
            )
    })
}

/// A SHA-256 digest as 64 lowercase hex digits (input is case-insensitive, so
/// digests from any tool compare equal).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Sha256Hex(String);

impl Sha256Hex {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        if raw.len() != 64 || !raw.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(FieldError::new(
                "sha256",
                codes::INVALID_SHA256,
                "a SHA-256 checksum has 64 hex digits",
            ));
        }
        Ok(Self(raw.to_ascii_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A size in bytes written as decimal digits only: `+5`, `-1`, `1.0` and `1e3`
/// are refused rather than guessed at.
pub(super) fn parse_size(raw: &str) -> Result<u64, FieldError> {
    if raw.is_empty() {
        return Err(FieldError::new(
            "size",
            codes::REQUIRED,
            "a size is required",
        ));
    }
    let invalid = || {
        FieldError::new(
            "size",
            codes::INVALID_SIZE,
            "a size is a whole number of bytes (digits only, at most 2^64-1)",
        )
    };
    if !raw.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid());
    }
    raw.parse::<u64>().map_err(|_| invalid())
}

macro_rules! display_as_str {
    ($($t:ty),*) => {$(
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl AsRef<str> for $t {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    )*};
}
display_as_str!(DocumentId, DocumentPath, Sha256Hex);

// Checked strings read as the strings they are.
impl std::ops::Deref for DocumentPath {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl std::ops::Deref for Sha256Hex {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path_code(raw: &str) -> &'static str {
        DocumentPath::parse(raw).expect_err(raw).code
    }

    #[test]
    fn ordinary_paths_are_accepted_unchanged() {
        for ok in [
            "a.pdf",
            "2024/03/scan 01.tif",
            ".hidden/...",
            "Ärger/übersicht.docx",
            "100% sicher.pdf",
            "a%41b",
            "x/a:b",
            &format!("{}/b", "x".repeat(MAX_SEGMENT_BYTES)),
        ] {
            let p = DocumentPath::parse(ok).expect(ok);
            assert_eq!(p.as_str(), ok);
        }
        let p = DocumentPath::parse("a/b/c.txt").expect("valid");
        assert_eq!(p.segments().collect::<Vec<_>>(), ["a", "b", "c.txt"]);
    }

    #[test]
    fn empty_path() {
        assert_eq!(path_code(""), codes::PATH_EMPTY);
    }

    #[test]
    fn absolute_paths() {
        for raw in ["/x", "/", "C:\\x", "c:/x", "C:x", "\\\\server\\x", "\\x"] {
            assert_eq!(path_code(raw), codes::PATH_ABSOLUTE, "{raw:?}");
        }
    }

    #[test]
    fn dot_segments() {
        for raw in ["..", "../x", "a/../b", "a/..", ".", "./a", "a/./b", "a/."] {
            assert_eq!(path_code(raw), codes::PATH_DOT_SEGMENT, "{raw:?}");
        }
    }

    #[test]
    fn empty_segments() {
        for raw in ["a//b", "a/", "a/b//"] {
            assert_eq!(path_code(raw), codes::PATH_EMPTY_SEGMENT, "{raw:?}");
        }
    }

    #[test]
    fn backslashes() {
        for raw in ["a\\b", "a/..\\..\\b", "x\\"] {
            assert_eq!(path_code(raw), codes::PATH_BACKSLASH, "{raw:?}");
        }
    }

    #[test]
    fn percent_encoded_separators_and_dots() {
        for raw in [
            "a%2Fb", "a%2fb", "a%5Cb", "a%5cb", "%2E%2E/x", "%2e%2e", "a/%2E", "a%252Fb",
        ] {
            assert_eq!(path_code(raw), codes::PATH_ENCODED, "{raw:?}");
        }
    }

    #[test]
    fn control_characters() {
        for raw in [
            "a\0b", "a\u{7f}b", "a\rb", "a\nb", "a\tb", "a\u{1b}b", "a\u{85}b",
        ] {
            assert_eq!(path_code(raw), codes::PATH_CONTROL_CHARACTER, "{raw:?}");
        }
    }

    #[test]
    fn format_controls() {
        for raw in [
            "invoice\u{202E}fdp.exe",
            "a/\u{200B}b",
            "\u{FEFF}a",
            "a\u{2066}b\u{2069}",
        ] {
            assert_eq!(path_code(raw), codes::PATH_FORMAT_CONTROL, "{raw:?}");
        }
        assert!(DocumentPath::parse("Ärger/شركة/中文.txt").is_ok());
    }

    #[test]
    fn long_segments_and_paths() {
        let seg = "x".repeat(MAX_SEGMENT_BYTES + 1);
        assert_eq!(path_code(&format!("a/{seg}")), codes::PATH_SEGMENT_TOO_LONG);
        // Bytes, not characters: 128 × 'ä' is 256 bytes.
        assert_eq!(path_code(&"ä".repeat(128)), codes::PATH_SEGMENT_TOO_LONG);
        let at_limit = vec!["y".repeat(100); 10].join("/") + "/" + &"z".repeat(14);
        assert_eq!(at_limit.len(), MAX_PATH_BYTES);
        assert!(DocumentPath::parse(&at_limit).is_ok());
        assert_eq!(path_code(&format!("{at_limit}z")), codes::PATH_TOO_LONG);
    }

    #[test]
    fn document_ids() {
        assert!(DocumentId::parse("DOC-1 ä").is_ok());
        assert!(DocumentId::parse(&"ä".repeat(MAX_DOCUMENT_ID_CHARS)).is_ok());
        let code = |raw: &str| DocumentId::parse(raw).expect_err(raw).code;
        assert_eq!(code(""), codes::REQUIRED);
        assert_eq!(
            code(&"a".repeat(MAX_DOCUMENT_ID_CHARS + 1)),
            codes::DOCUMENT_ID_TOO_LONG
        );
        for raw in ["a\nb", "a\0", "\u{7f}", "a\tb"] {
            assert_eq!(code(raw), codes::CONTROL_CHARACTER, "{raw:?}");
        }
    }

    #[test]
    fn sha256_is_hex_and_stored_lowercase() {
        let upper = "ABCDEF".repeat(10) + "0123";
        assert_eq!(
            Sha256Hex::parse(&upper).expect("hex").as_str(),
            upper.to_ascii_lowercase()
        );
        for bad in ["", "abc", &"g".repeat(64), &"a".repeat(65)] {
            assert_eq!(
                Sha256Hex::parse(bad).expect_err(bad).code,
                codes::INVALID_SHA256
            );
        }
    }

    #[test]
    fn sizes_are_plain_digits() {
        assert_eq!(parse_size("0"), Ok(0));
        assert_eq!(parse_size("18446744073709551615"), Ok(u64::MAX));
        assert_eq!(parse_size("").expect_err("empty").code, codes::REQUIRED);
        for bad in ["+5", "-1", "1.0", "1e3", "0x10", "18446744073709551616"] {
            assert_eq!(parse_size(bad).expect_err(bad).code, codes::INVALID_SIZE);
        }
    }
}
