//! Text that displays differently than it is.
//!
//! Unicode's format controls (general category Cf) take no room on screen:
//! the bidirectional overrides and isolates (U+202A–U+202E, U+2066–U+2069)
//! reorder what follows them, so `plan` U+202E `txt.exe` reads as `planexe.txt`; zero
//! width spaces and joiners, the word joiner and the byte order mark are
//! invisible, so two names that look the same compare different. In a
//! document path, a user name or a plan name that is a spoofing tool, never
//! a fact about the source, so those values refuse them.

/// The code points of Unicode's general category Cf (Unicode 16.0,
/// `DerivedGeneralCategory.txt`), as inclusive ranges.
const FORMAT_CONTROLS: [(char, char); 21] = [
    ('\u{00AD}', '\u{00AD}'),
    ('\u{0600}', '\u{0605}'),
    ('\u{061C}', '\u{061C}'),
    ('\u{06DD}', '\u{06DD}'),
    ('\u{070F}', '\u{070F}'),
    ('\u{0890}', '\u{0891}'),
    ('\u{08E2}', '\u{08E2}'),
    ('\u{180E}', '\u{180E}'),
    ('\u{200B}', '\u{200F}'),
    ('\u{202A}', '\u{202E}'),
    ('\u{2060}', '\u{2064}'),
    ('\u{2066}', '\u{206F}'),
    ('\u{FEFF}', '\u{FEFF}'),
    ('\u{FFF9}', '\u{FFFB}'),
    ('\u{110BD}', '\u{110BD}'),
    ('\u{110CD}', '\u{110CD}'),
    ('\u{13430}', '\u{1343F}'),
    ('\u{1BCA0}', '\u{1BCA3}'),
    ('\u{1D173}', '\u{1D17A}'),
    ('\u{E0001}', '\u{E0001}'),
    ('\u{E0020}', '\u{E007F}'),
];

/// Whether `c` is a format control (bidirectional or invisible).
pub fn is_format_control(c: char) -> bool {
    // Every Cf code point is at or above U+00AD: ASCII text pays one compare.
    c >= '\u{00AD}' && FORMAT_CONTROLS.iter().any(|&(lo, hi)| lo <= c && c <= hi)
}

/// The first format control in `s`, for a message that names it.
pub fn first_format_control(s: &str) -> Option<char> {
    if s.is_ascii() {
        return None;
    }
    s.chars().find(|&c| is_format_control(c))
}

/// `U+202E` for a message: the character itself would be invisible.
pub fn code_point(c: char) -> String {
    format!("U+{:04X}", u32::from(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bidi_and_invisible_controls_are_found_and_letters_are_not() {
        for c in [
            '\u{202E}',
            '\u{2066}',
            '\u{2069}',
            '\u{200B}',
            '\u{200D}',
            '\u{200E}',
            '\u{061C}',
            '\u{FEFF}',
            '\u{00AD}',
            '\u{2060}',
            '\u{E0041}',
        ] {
            assert!(is_format_control(c), "{}", code_point(c));
            assert_eq!(first_format_control(&format!("a{c}b")), Some(c));
        }
        for c in ['a', 'é', 'ß', 'Ж', 'ش', '中', '\u{00A0}', '\u{2028}', '😀'] {
            assert!(!is_format_control(c), "{}", code_point(c));
        }
        assert_eq!(first_format_control("plain"), None);
        assert_eq!(code_point('\u{202E}'), "U+202E");
    }
}
