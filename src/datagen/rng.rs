//! Random streams. Every random choice flows from the dataset's one seed, through one
//! independent stream per table and column (and per purpose: row counts, write order),
//! derived from the seed and their names. Adding a column or a table therefore changes
//! no other column's values.

use rand::{RngExt, SeedableRng};
use rand_pcg::Pcg64Mcg;
use uuid::Uuid;

/// The generator every stream uses. PCG is fast, and its output for a given seed is
/// fixed by its specification, so the same seed gives the same rows on every platform
/// and backend. Upgrading `rand` (its range sampling) or `fake` (its word lists) may
/// change them; Cargo.lock pins both.
pub type SeededRng = Pcg64Mcg;

/// The stream for `name` (a column, or a purpose such as `#counts`) of `table`.
pub fn stream(seed: u64, table: &str, name: &str) -> SeededRng {
    indexed_stream(seed, table, name, 0)
}

/// Stream `index` of `name` of `table`: for per-parent streams such as timelines.
pub fn indexed_stream(seed: u64, table: &str, name: &str, index: u64) -> SeededRng {
    // FNV-1a over the names, then SplitMix64 to spread nearby inputs over unrelated
    // states. Both are fixed algorithms, unlike std's hasher.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in table.bytes().chain([0xff]).chain(name.bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    let mut state = seed ^ hash ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let mut next = || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&next().to_le_bytes());
    bytes[8..].copy_from_slice(&next().to_le_bytes());
    SeededRng::from_seed(bytes)
}

/// A random (version 4) UUID drawn from a seeded stream.
pub fn uuid_from(rng: &mut SeededRng) -> Uuid {
    uuid::Builder::from_random_bytes(rng.random()).into_uuid()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_fixed_by_seed_and_names_and_differ_between_names() {
        let draw = |seed, table, name| stream(seed, table, name).random::<u64>();
        assert_eq!(draw(1, "t", "a"), draw(1, "t", "a"));
        assert_ne!(draw(1, "t", "a"), draw(1, "t", "b"));
        assert_ne!(draw(1, "t", "a"), draw(2, "t", "a"));
        // The separator keeps ("ab", "c") and ("a", "bc") apart.
        assert_ne!(draw(1, "ab", "c"), draw(1, "a", "bc"));
    }
}
