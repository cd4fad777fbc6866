//! Parse, don't validate: each newtype has a private field and one `parse`
//! constructor, so a value of the type is proof that the rule was checked.

use std::cmp::Ordering;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};

use crate::error::FieldError;

/// JSON Schema `pattern`s (ECMA-262 syntax that Python's `re` and Rust's
/// `regex` read the same way) that match what the `parse` functions of this
/// crate accept, so that the OpenAPI document states the real rules and a
/// request valid under the schema is not refused (Schemathesis checks both
/// directions). Whitespace and control characters are spelled out because
/// `\s` means something else in every regex engine; here they are exactly
/// `char::is_whitespace` (what `str::trim` removes) and `char::is_control`.
///
/// Where a rule counts bytes or sizes after trimming, the schema bounds the
/// raw string instead (`maxLength`), which is stricter only for values padded
/// with whitespace.
pub mod patterns {
    /// Defines a macro expanding to a pattern fragment, so that the
    /// fragments compose with `concat!` into `&'static str` constants.
    macro_rules! fragment {
        ($name:ident, $text:literal) => {
            macro_rules! $name {
                () => {
                    $text
                };
            }
        };
    }
    // What `str::trim` removes (`char::is_whitespace`).
    fragment!(
        ws,
        "[\\t-\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]"
    );
    // Neither whitespace nor a control character.
    fragment!(
        visible,
        "[^\\u0000-\\u0020\\u007f-\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]"
    );
    // Not a control character (`char::is_control`: U+0000–U+001F, U+007F–U+009F).
    fragment!(not_control, "[^\\u0000-\\u001f\\u007f-\\u009f]");
    // Format controls (`crate::text`) in the Basic Multilingual Plane, for
    // use inside a negated class.
    fragment!(
        format_bmp,
        "\\u00ad\\u0600-\\u0605\\u061c\\u06dd\\u070f\\u0890\\u0891\\u08e2\\u180e\\u200b-\\u200f\\u202a-\\u202e\\u2060-\\u2064\\u2066-\\u206f\\ufeff\\ufff9-\\ufffb"
    );
    // An email address: an ASCII dot-atom name part (words of `atext`
    // joined by dots; the schema does not forbid a double dot, which would
    // take a lookahead, so the server's 422 is stricter there), a dotted host
    // name of labels.
    fragment!(
        email,
        "[A-Za-z0-9!#-'*+/=?^-~-](?:[A-Za-z0-9!#-'*+./=?^-~-]{0,62}[A-Za-z0-9!#-'*+/=?^-~-])?@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+"
    );

    /// [`TenantSlug`](super::TenantSlug), with `minLength` 2 and `maxLength` 63.
    pub const TENANT_SLUG: &str = "^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$";
    /// [`PersonName`](super::PersonName): 1 to 200 characters once trimmed,
    /// no control characters.
    pub const PERSON_NAME: &str = concat!(
        "^",
        ws!(),
        "*",
        visible!(),
        "(?:",
        not_control!(),
        "{0,198}",
        visible!(),
        ")?",
        ws!(),
        "*$"
    );
    /// An API key's name: 1 to 100 characters once trimmed, no control characters.
    pub const KEY_NAME: &str = concat!(
        "^",
        ws!(),
        "*",
        visible!(),
        "(?:",
        not_control!(),
        "{0,98}",
        visible!(),
        ")?",
        ws!(),
        "*$"
    );
    /// A roster user id: 1 to 64 characters once trimmed, no control characters.
    pub const USER_ID: &str = concat!(
        "^",
        ws!(),
        "*",
        visible!(),
        "(?:",
        not_control!(),
        "{0,62}",
        visible!(),
        ")?",
        ws!(),
        "*$"
    );
    /// Free roster text (group, position, licence names): at most 200
    /// characters once trimmed, maybe empty, no control characters.
    pub const TEXT: &str = concat!(
        "^",
        ws!(),
        "*(?:",
        visible!(),
        "(?:",
        not_control!(),
        "{0,198}",
        visible!(),
        ")?)?",
        ws!(),
        "*$"
    );
    /// A catalogue plan or add-on name: 1 to 64 characters once trimmed, no
    /// control characters, `,` or `;`, no format controls of the Basic
    /// Multilingual Plane (those beyond it need a `u`-flag regex; the
    /// server refuses them as well).
    pub const CATALOGUE_NAME: &str = concat!(
        "^",
        ws!(),
        "*[^,;\\u0000-\\u0020\\u007f-\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000",
        format_bmp!(),
        "](?:[^,;\\u0000-\\u001f\\u007f-\\u009f",
        format_bmp!(),
        "]{0,62}",
        "[^,;\\u0000-\\u0020\\u007f-\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000",
        format_bmp!(),
        "])?",
        ws!(),
        "*$"
    );
    /// [`Email`](super::Email) (ASCII addresses), with `maxLength` 254.
    pub const EMAIL: &str = concat!("^", ws!(), "*", email!(), ws!(), "*$");
    /// An email address or nothing (blank clears a user name).
    pub const EMAIL_OR_BLANK: &str = concat!("^", ws!(), "*(?:", email!(), ")?", ws!(), "*$");
    /// [`Phone`](super::Phone): optional `+`, 5 to 20 digits and separators.
    pub const PHONE: &str = concat!(
        "^",
        ws!(),
        "*\\+?[ ()./-]*(?:[0-9][ ()./-]*){5,20}",
        ws!(),
        "*$"
    );
    /// [`SourceVersion`](super::SourceVersion), with `maxLength` 32.
    pub const SOURCE_VERSION: &str = concat!(
        "^",
        ws!(),
        "*[0-9]{1,6}(?:\\.[0-9]{1,6}){1,3}(?: ",
        ws!(),
        "*[Rr][0-9]{1,9})?",
        ws!(),
        "*$"
    );
    /// `SourceUrl` (in `migration.rs`), with `maxLength` 2048.
    pub const SOURCE_URL: &str = concat!(
        "^",
        ws!(),
        "*(?:file|s3|gs|az|https?)://[^\\u0000-\\u0020\\u007f-\\u009f]*",
        visible!(),
        ws!(),
        "*$"
    );
}

/// A string schema for a rule of this crate.
pub fn string_schema_of(
    description: &str,
    pattern: &str,
    (min_length, max_length): (Option<usize>, Option<usize>),
    example: &str,
) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(description))
        .pattern(Some(pattern))
        .min_length(min_length)
        .max_length(max_length)
        .examples([example])
        .into()
}

/// `impl ToSchema` naming the schema after the type.
macro_rules! string_schema {
    ($name:ident, $description:literal, $pattern:expr, $lengths:expr, $example:literal) => {
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                $crate::newtypes::string_schema_of($description, $pattern, $lengths, $example)
            }
        }
        impl utoipa::ToSchema for $name {}
    };
}
pub(crate) use string_schema;

/// Schema-only names of string rules checked inline rather than by a newtype.
pub mod schemas {
    use super::patterns;

    /// An API key's name.
    pub struct KeyName;
    string_schema!(
        KeyName,
        "What an API key is for: 1 to 100 characters (surrounding spaces are dropped), no control characters.",
        patterns::KEY_NAME,
        (None, None),
        "grafana"
    );

    /// A source user's id.
    pub struct UserId;
    string_schema!(
        UserId,
        "A source user's id: 1 to 64 characters (surrounding spaces are dropped), no control characters.",
        patterns::USER_ID,
        (None, None),
        "u1001"
    );

    /// Free text of a roster row.
    pub struct RosterText;
    string_schema!(
        RosterText,
        "Free text: at most 200 characters (surrounding spaces are dropped), no control characters.",
        patterns::TEXT,
        (None, None),
        "Sales"
    );

    /// A name that must be present: a satellite's.
    pub struct RequiredText;
    string_schema!(
        RequiredText,
        "Text: 1 to 200 characters (surrounding spaces are dropped), no control characters.",
        patterns::PERSON_NAME,
        (None, None),
        "Branch Hamburg"
    );

    /// A plan's or add-on's name.
    pub struct CatalogueName;
    string_schema!(
        CatalogueName,
        "A plan or add-on name: 1 to 64 characters (surrounding spaces are dropped), no control characters, ',' or ';'.",
        patterns::CATALOGUE_NAME,
        (None, None),
        "Engage"
    );

    /// A user name, or blank to clear it.
    pub struct EmailOrBlank;
    string_schema!(
        EmailOrBlank,
        "An email address, or blank (nothing or only spaces) to clear it.",
        patterns::EMAIL_OR_BLANK,
        (None, Some(254)),
        "ann@acme.example"
    );
}

macro_rules! string_newtype {
    ($name:ident) => {
        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
        // A checked string reads as the string it is (`&tenant` where a
        // `&str` is wanted); it can only be made through `parse`.
        impl std::ops::Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }
        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }
    };
}

/// A cloud tenant's slug: the tenant's name in URLs and in the tenant store's
/// prefix, so it must be safe in both: 2–63 chars of `a-z`, `0-9` and single
/// inner hyphens, starting with a letter (the DNS label rule, minus uppercase).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TenantSlug(String);
string_newtype!(TenantSlug);

impl TenantSlug {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let bad = |msg: &str| FieldError::new("tenant", "invalid_tenant_slug", msg);
        if raw.len() < 2 || raw.len() > 63 {
            return Err(bad("a tenant slug has 2 to 63 characters"));
        }
        if !raw.starts_with(|c: char| c.is_ascii_lowercase()) {
            return Err(bad("a tenant slug starts with a lowercase letter"));
        }
        if raw.ends_with('-') || raw.contains("--") {
            return Err(bad(
                "hyphens in a tenant slug separate words: no trailing or double hyphen",
            ));
        }
        if !raw
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            return Err(bad("a tenant slug has only a-z, 0-9 and '-'"));
        }
        Ok(Self(raw.to_owned()))
    }
}

/// An email address, checked for the shape a mail system and the cloud
/// tenant's login accept: a dot-atom name part (RFC 5322 §3.2.3: letters,
/// digits and `!#$%&'*+-/=?^_`{|}~` in dot-separated words; beyond ASCII, any
/// character that is not a space, a control or a format control, as RFC 6531
/// allows), one `@`, a dotted host name, at most 254 characters. Quoted names,
/// comments and IP literals are valid in mail headers but no login system
/// takes them, so they are refused here. Compared case-insensitively (see
/// [`Email::key`]), kept as written for display.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);
string_newtype!(Email);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let bad = |msg: &str| FieldError::new("email", "invalid_email", msg);
        let s = raw.trim();
        if s.is_empty() {
            return Err(bad("an email address is required"));
        }
        if s.len() > 254 {
            return Err(bad("an email address has at most 254 characters"));
        }
        // A large CSV import parses a million of these, nearly all ASCII.
        if s.is_ascii() {
            return match ascii_email_problem(s.as_bytes()) {
                None => Ok(Self(s.to_owned())),
                Some(msg) => Err(bad(msg)),
            };
        }
        if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad(EMAIL_NO_BLANKS));
        }
        if let Some(c) = crate::text::first_format_control(s) {
            return Err(bad(&format!(
                "an email address has no bidirectional or invisible format characters ({} here)",
                crate::text::code_point(c)
            )));
        }
        let Some((local, domain)) = s.split_once('@') else {
            return Err(bad(EMAIL_FORM));
        };
        if local.is_empty() || local.len() > 64 || domain.contains('@') {
            return Err(bad(EMAIL_ONE_AT));
        }
        let atom_char = |c: char| !c.is_ascii() || is_atext(c as u32 as u8);
        if !local
            .split('.')
            .all(|w| !w.is_empty() && w.chars().all(atom_char))
        {
            return Err(bad(EMAIL_DOT_ATOM));
        }
        let label_ok = |l: &str| {
            !l.is_empty()
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_alphanumeric() || c == '-')
        };
        // No collected label list: a large CSV import parses a million of these.
        if !domain.contains('.') || !domain.split('.').all(label_ok) {
            return Err(bad(EMAIL_DOMAIN));
        }
        Ok(Self(s.to_owned()))
    }

    /// The comparison key: addresses that differ only in case are the same user.
    pub fn key(&self) -> String {
        self.0.to_lowercase()
    }
}

const EMAIL_NO_BLANKS: &str = "an email address has no spaces or control characters";
const EMAIL_FORM: &str = "an email address has the form name@domain";
const EMAIL_ONE_AT: &str = "an email address has exactly one '@' after a name of 1 to 64 bytes";
const EMAIL_DOT_ATOM: &str = "the name part of an email address is letters, digits and \
     !#$%&'*+-/=?^_`{|}~ in words joined by single dots: no quotes, parentheses, commas, \
     semicolons, brackets or leading, trailing or double dots";
const EMAIL_DOMAIN: &str = "the domain of an email address is a dotted host name";

/// RFC 5322's `atext` on ASCII: what a dot-atom's words are made of.
fn is_atext(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-/=?^_`{|}~".contains(&b)
}

/// The first rule of [`Email::parse`] a trimmed, non-empty ASCII address of at
/// most 254 bytes breaks, checked on bytes in the same order with the same
/// messages. On ASCII the char rules become byte rules: whitespace and control
/// characters are the bytes up to space and DEL; alphanumeric is `[A-Za-z0-9]`.
fn ascii_email_problem(s: &[u8]) -> Option<&'static str> {
    if s.iter().any(|&b| b <= b' ' || b == 0x7f) {
        return Some(EMAIL_NO_BLANKS);
    }
    let Some(at) = s.iter().position(|&b| b == b'@') else {
        return Some(EMAIL_FORM);
    };
    let (local, domain) = (&s[..at], &s[at + 1..]);
    if local.is_empty() || local.len() > 64 || domain.contains(&b'@') {
        return Some(EMAIL_ONE_AT);
    }
    let word_ok = |w: &[u8]| !w.is_empty() && w.iter().all(|&b| is_atext(b));
    if !local.split(|&b| b == b'.').all(word_ok) {
        return Some(EMAIL_DOT_ATOM);
    }
    let label_ok = |l: &[u8]| {
        !l.is_empty()
            && l.first() != Some(&b'-')
            && l.last() != Some(&b'-')
            && l.iter().all(|&b| b.is_ascii_alphanumeric() || b == b'-')
    };
    if !domain.contains(&b'.') || !domain.split(|&b| b == b'.').all(label_ok) {
        return Some(EMAIL_DOMAIN);
    }
    None
}

/// Deserialising goes through [`Email::parse`], so an address read back from
/// the store or a request body is as checked as one parsed by hand.
impl<'de> Deserialize<'de> for Email {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Email::parse(&raw).map_err(|e| serde::de::Error::custom(e.message))
    }
}

/// A person's display name: non-empty, at most 200 characters, no control
/// characters (they would break CSV exports and log lines).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonName(String);
string_newtype!(PersonName);

impl PersonName {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let s = raw.trim();
        let bad = |msg: &str| FieldError::new("name", "invalid_name", msg);
        if s.is_empty() {
            return Err(bad("a name is required"));
        }
        if s.chars().count() > 200 {
            return Err(bad("a name has at most 200 characters"));
        }
        if s.chars().any(char::is_control) {
            return Err(bad("a name has no control characters"));
        }
        Ok(Self(s.to_owned()))
    }
}

/// A phone number as people write it: digits with optional leading `+` and
/// spaces, dots, hyphens, slashes or parentheses; 5 to 20 digits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phone(String);
string_newtype!(Phone);

impl Phone {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let s = raw.trim();
        let bad = |msg: &str| FieldError::new("phone", "invalid_phone", msg);
        let body = s.strip_prefix('+').unwrap_or(s);
        if !body
            .chars()
            .all(|c| c.is_ascii_digit() || " .-/()".contains(c))
        {
            return Err(bad(
                "a phone number has digits, an optional leading '+' and separators",
            ));
        }
        let digits = body.chars().filter(char::is_ascii_digit).count();
        if !(5..=20).contains(&digits) {
            return Err(bad("a phone number has 5 to 20 digits"));
        }
        Ok(Self(s.to_owned()))
    }
}

/// A source installation's product version, e.g. `7.1`, `8.3 R05`, `10.0.2`.
/// Ordered numerically (so `10.0` > `9.9`), then by release (`R05` > `R04`,
/// and any release > none).
#[derive(Debug, Clone)]
pub struct SourceVersion {
    raw: String,
    parts: Vec<u32>,
    release: Option<u32>,
}

impl SourceVersion {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let bad = || {
            FieldError::new(
                "version",
                "invalid_version",
                "a version looks like 7.1, 8.3 R05 or 10.0.2",
            )
        };
        let s = raw.trim();
        if s.is_empty() || s.len() > 32 {
            return Err(bad());
        }
        let (numbers, release) = match s.split_once(' ') {
            Some((n, r)) => {
                let r = r.trim();
                let digits = r.strip_prefix(['R', 'r']).ok_or_else(bad)?;
                if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
                    return Err(bad());
                }
                (n, Some(digits.parse::<u32>().map_err(|_| bad())?))
            }
            None => (s, None),
        };
        let parts = numbers
            .split('.')
            .map(|p| {
                if p.is_empty() || p.len() > 6 || !p.chars().all(|c| c.is_ascii_digit()) {
                    Err(bad())
                } else {
                    p.parse::<u32>().map_err(|_| bad())
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        if parts.len() < 2 || parts.len() > 4 {
            return Err(bad());
        }
        Ok(Self {
            raw: s.to_owned(),
            parts,
            release,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.raw
    }

    fn padded(&self) -> [u32; 4] {
        let mut out = [0; 4];
        for (slot, part) in out.iter_mut().zip(&self.parts) {
            *slot = *part;
        }
        out
    }
}

impl PartialEq for SourceVersion {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for SourceVersion {}
impl PartialOrd for SourceVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for SourceVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        self.padded()
            .cmp(&other.padded())
            .then(self.release.unwrap_or(0).cmp(&other.release.unwrap_or(0)))
    }
}
impl std::ops::Deref for SourceVersion {
    type Target = str;
    fn deref(&self) -> &str {
        &self.raw
    }
}
impl fmt::Display for SourceVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}
impl Serialize for SourceVersion {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.raw)
    }
}

string_schema!(
    TenantSlug,
    "A cloud tenant's slug: 2 to 63 characters of a-z, 0-9 and single inner hyphens, starting with a letter.",
    patterns::TENANT_SLUG,
    (Some(2), Some(63)),
    "acme-gmbh"
);
string_schema!(
    Email,
    "An email address: name@host.domain, at most 254 characters, no spaces.",
    patterns::EMAIL,
    (None, Some(254)),
    "mia@partner.example"
);
string_schema!(
    PersonName,
    "A name: 1 to 200 characters (surrounding spaces are dropped), no control characters.",
    patterns::PERSON_NAME,
    (None, None),
    "Mia Migrator"
);
string_schema!(
    Phone,
    "A phone number: an optional leading '+', 5 to 20 digits, spaces, dots, hyphens, slashes or parentheses.",
    patterns::PHONE,
    (None, None),
    "+49 30 1234567"
);
string_schema!(
    SourceVersion,
    "A source product version: 2 to 4 dot-separated numbers and an optional release, e.g. 7.1, 8.3 R05 or 10.0.2.",
    patterns::SOURCE_VERSION,
    (None, Some(32)),
    "8.3 R05"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_slugs() {
        for ok in ["acme", "acme-gmbh", "a1", "x-2-y"] {
            assert!(TenantSlug::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "a",
            "Acme",
            "1acme",
            "acme-",
            "ac--me",
            "ac_me",
            "ac me",
            "ac/me",
            "..",
            &"a".repeat(64),
        ] {
            let err = TenantSlug::parse(bad).expect_err(bad);
            assert_eq!(err.code, "invalid_tenant_slug");
        }
    }

    #[test]
    fn emails() {
        for ok in [
            "a@b.de",
            "First.Last+tag@sub.example.com",
            " x@y.io ",
            "o'brien@x.ie",
            "a!#$%&'*+-/=?^_`{|}~z@x.de",
            "jörg.müller@straße.de",
        ] {
            assert!(Email::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "a",
            "a@",
            "@b.de",
            "a@b",
            "a@@b.de",
            "a b@c.de",
            "a@b..de",
            "a@-b.de",
            "a@b\u{0}.de",
            "\"a b\"@c.de",
            "\"ann\"@c.de",
            "a(comment)@c.de",
            "a,b@c.de",
            "a;b@c.de",
            ".a@c.de",
            "a.@c.de",
            "a..b@c.de",
            "a[1]@c.de",
            "a\\b@c.de",
            "an\u{200B}n@c.de",
            "\u{202E}ann@c.de",
            "a\u{FEFF}@c.de",
        ] {
            assert_eq!(
                Email::parse(bad).expect_err(bad).code,
                "invalid_email",
                "{bad:?}"
            );
        }
        assert_eq!(
            Email::parse("Ann@X.de").map(|e| e.key()).ok(),
            Some("ann@x.de".to_owned())
        );
    }

    #[test]
    fn phones_and_names() {
        assert!(Phone::parse("+49 (0)30 123-456").is_ok());
        assert!(Phone::parse("12").is_err());
        assert!(Phone::parse("call me").is_err());
        assert!(PersonName::parse("  ").is_err());
        assert!(PersonName::parse("Ann\u{7}").is_err());
        assert_eq!(
            PersonName::parse(" Ann Lee ").map(|n| n.to_string()).ok(),
            Some("Ann Lee".into())
        );
    }

    #[test]
    fn versions_parse_and_order() {
        let v = |s: &str| SourceVersion::parse(s).unwrap_or_else(|e| panic!("{s}: {e:?}"));
        assert!(v("7.1") >= v("7.1"));
        assert!(v("7.0") < v("7.1"));
        assert!(v("8.3 R05") > v("8.3 R04"));
        assert!(v("8.3 R01") > v("8.3"));
        assert!(v("10.0") > v("9.9"));
        assert!(v("7.1.0") == v("7.1"));
        for bad in [
            "",
            "7",
            "seven",
            "7.x",
            "7.1 05",
            "7.1 R",
            "7..1",
            "1.2.3.4.5",
            "7.1 R5x",
        ] {
            assert_eq!(
                SourceVersion::parse(bad).expect_err(bad).code,
                "invalid_version"
            );
        }
    }
}
