//! Case-insensitive comparison and hashing of borrowed strings without
//! allocating a lowercase copy: user names, addresses and catalogue names are
//! compared this way a few million times in a large import.

use std::hash::{Hash, Hasher};

use crate::newtypes::Email;

/// The lowercase form [`Caseless`] compares by, as an owned text, to group
/// user names by. Two names are equal ignoring case exactly when their keys
/// are equal.
pub(crate) fn username_key(name: &Email) -> String {
    fold_key(name.as_str())
}

fn fold_key(s: &str) -> String {
    if s.is_ascii() {
        return s.to_ascii_lowercase();
    }
    s.chars().flat_map(char::to_lowercase).collect()
}

/// A string that equals and hashes like its lowercase form.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Caseless<'a>(pub &'a str);

impl PartialEq for Caseless<'_> {
    fn eq(&self, other: &Self) -> bool {
        let (a, b) = (self.0, other.0);
        if a.is_ascii() && b.is_ascii() {
            return a.eq_ignore_ascii_case(b);
        }
        a.chars()
            .flat_map(char::to_lowercase)
            .eq(b.chars().flat_map(char::to_lowercase))
    }
}

impl Eq for Caseless<'_> {}

impl Hash for Caseless<'_> {
    /// Hashes the UTF-8 bytes of the lowercase form in 64-byte blocks counted
    /// from the start, so that equal values make the very same `write` calls
    /// whichever mix of ASCII and non-ASCII they use. That matters: only some
    /// hashers (SipHash) give the same result for a byte stream however it is
    /// split across writes; others (foldhash, used for the user-name check)
    /// do not.
    fn hash<H: Hasher>(&self, state: &mut H) {
        const BLOCK: usize = 64;
        let mut buf = [0u8; BLOCK];
        if self.0.is_ascii() {
            // The common case, byte-wise: the same bytes the char path yields,
            // in the same blocks.
            for chunk in self.0.as_bytes().chunks(BLOCK) {
                let out = &mut buf[..chunk.len()];
                out.copy_from_slice(chunk);
                out.make_ascii_lowercase();
                state.write(out);
            }
        } else {
            let mut len = 0;
            let mut utf8 = [0u8; 4];
            for c in self.0.chars().flat_map(char::to_lowercase) {
                for &b in c.encode_utf8(&mut utf8).as_bytes() {
                    if len == BLOCK {
                        state.write(&buf);
                        len = 0;
                    }
                    buf[len] = b;
                    len += 1;
                }
            }
            // The ASCII path never writes an empty block.
            if len > 0 {
                state.write(&buf[..len]);
            }
        }
        state.write_u8(0xff);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::hash::BuildHasher;

    #[test]
    fn equal_ignoring_case_and_hashing_alike() {
        let long_a = format!("{}@X.de", "A".repeat(100));
        let long_b = long_a.to_lowercase();
        let kelvin_long = format!("\u{212A}{}", "a".repeat(150));
        let k_long = format!("K{}", "A".repeat(150));
        let pairs = [
            ("Ann@X.de", "ann@x.DE"),
            ("ÄRGER@x.de", "ärger@x.de"),
            ("\u{212A}elvin", "kelvin"), // Kelvin sign lowercases to ASCII k
            (long_a.as_str(), long_b.as_str()),
            // Chunked differently by the ASCII and the char path.
            (kelvin_long.as_str(), k_long.as_str()),
        ];
        // foldhash, unlike SipHash, depends on how the bytes are split
        // across writes: both hashers must agree on equal values.
        let fold = foldhash::fast::FixedState::with_seed(7);
        for (a, b) in pairs {
            assert_eq!(Caseless(a), Caseless(b), "{a} {b}");
            // The stored key the database groups by agrees with the comparison.
            assert_eq!(fold_key(a), fold_key(b), "{a} and {b} have one key");
            let set: HashSet<_> = [Caseless(a), Caseless(b)].into_iter().collect();
            assert_eq!(set.len(), 1, "{a} and {b} hash alike");
            assert_eq!(
                fold.hash_one(Caseless(a)),
                fold.hash_one(Caseless(b)),
                "{a} and {b} hash alike with foldhash"
            );
        }
        assert_ne!(Caseless("ann@x.de"), Caseless("anne@x.de"));
        assert_ne!(fold_key("ann@x.de"), fold_key("anne@x.de"));
        // Final sigma: `str::to_lowercase` would spell it ς at the end of a
        // word and σ inside, while the comparison folds char by char.
        assert_eq!(Caseless("ΣΑΣ@x.gr"), Caseless("σασ@x.gr"));
        assert_eq!(fold_key("ΣΑΣ@x.gr"), fold_key("σασ@x.gr"));
    }
}
