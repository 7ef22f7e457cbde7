//! A cache key: a hash of named parts, each the value itself or, for file contents
//! and other long inputs, the value's hash. The parts are kept beside the hash so an
//! entry (and a report) can say what it was built from.

use serde::{Deserialize, Serialize};

/// Hex digits of the hash that name an entry: 128 bits, far past any collision a
/// cache of a few hundred entries could meet.
const KEY_HEX_DIGITS: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Key {
    /// What the key was built from, in order: (name, value or `blake3:<hash>`).
    pub parts: Vec<(String, String)>,
}

impl Key {
    pub fn new() -> Key {
        Key { parts: Vec::new() }
    }

    /// Adds a short value as it is.
    pub fn part(mut self, name: &str, value: impl std::fmt::Display) -> Key {
        self.parts.push((name.to_owned(), value.to_string()));
        self
    }

    /// Adds a long value (a file's contents) by its hash.
    pub fn hashed(mut self, name: &str, bytes: &[u8]) -> Key {
        self.parts.push((
            name.to_owned(),
            format!("blake3:{}", blake3::hash(bytes).to_hex()),
        ));
        self
    }

    /// The entry's name: the hash of every part, names and values length-prefixed so
    /// that no two different part lists hash the same bytes.
    pub fn hex(&self) -> String {
        let mut hasher = blake3::Hasher::new();
        for (name, value) in &self.parts {
            for text in [name, value] {
                hasher.update(&(text.len() as u64).to_le_bytes());
                hasher.update(text.as_bytes());
            }
        }
        hasher.finalize().to_hex()[..KEY_HEX_DIGITS].to_owned()
    }
}

/// Whether `name` is one [`Key::hex`] gives: what plancheck names an entry.
pub(super) fn names_an_entry(name: &str) -> bool {
    name.len() == KEY_HEX_DIGITS
        && name
            .bytes()
            .all(|byte| byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte))
}

impl Default for Key {
    fn default() -> Self {
        Key::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_part_changes_the_hash() {
        let base = Key::new()
            .part("seed", 1)
            .part("scale", 10)
            .hashed("file", b"a");
        let variants = [
            Key::new()
                .part("seed", 2)
                .part("scale", 10)
                .hashed("file", b"a"),
            Key::new()
                .part("seed", 1)
                .part("scale", 11)
                .hashed("file", b"a"),
            Key::new()
                .part("seed", 1)
                .part("scale", 10)
                .hashed("file", b"b"),
            Key::new().part("seed", 1).part("scale", 10),
            // The same text split differently between name and value.
            Key::new()
                .part("seed1", "")
                .part("scale", 10)
                .hashed("file", b"a"),
        ];
        for variant in variants {
            assert_ne!(base.hex(), variant.hex(), "{variant:?}");
        }
        assert_eq!(
            base.hex(),
            Key::new()
                .part("seed", 1)
                .part("scale", 10)
                .hashed("file", b"a")
                .hex()
        );
    }
}
