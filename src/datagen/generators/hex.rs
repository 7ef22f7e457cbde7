//! `hex`: random bytes as lowercase hex with an optional prefix, for digests and
//! tokens (`sha256:…`), or, with `pool`, for text of a given width and distinct count
//! (what `plancheck dataset from-stats` writes for a text column it may not copy).

use rand::RngExt;
use serde::Deserialize;

use super::{ColumnGenerator, RowContext, Scope};
use crate::datagen::rng::SeededRng;
use crate::value::{Value, ValueKind};

/// `kind = "hex"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hex {
    /// Random bytes per value (two hex digits each), default 16.
    #[serde(default = "sixteen")]
    pub bytes: usize,
    #[serde(default)]
    pub prefix: String,
    /// Draw from this many values, generated once from the column's stream, instead
    /// of fresh bytes per row: a column with repeats.
    pub pool: Option<usize>,
    #[serde(skip)]
    drawn: Vec<String>,
}

fn sixteen() -> usize {
    16
}

impl ColumnGenerator for Hex {
    fn resolve(&mut self, _scope: &Scope) -> Result<ValueKind, String> {
        if !(1..=1024).contains(&self.bytes) {
            return Err(format!("bytes = {} is outside 1..=1024", self.bytes));
        }
        if let Some(pool) = self.pool
            && !(1..=1_000_000).contains(&pool)
        {
            return Err(format!("pool = {pool} is outside 1..=1000000"));
        }
        Ok(ValueKind::Text)
    }

    fn generate(&mut self, rng: &mut SeededRng, _row: &RowContext, _pick: &mut u32) -> Value {
        let Some(pool) = self.pool else {
            return Value::Text(self.fresh(rng));
        };
        if self.drawn.is_empty() {
            self.drawn = (0..pool).map(|_| self.fresh(rng)).collect();
        }
        Value::Text(self.drawn[rng.random_range(0..self.drawn.len())].clone())
    }
}

impl Hex {
    fn fresh(&self, rng: &mut SeededRng) -> String {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut text = String::with_capacity(self.prefix.len() + self.bytes * 2);
        text.push_str(&self.prefix);
        for _ in 0..self.bytes {
            let byte: u8 = rng.random();
            text.push(DIGITS[usize::from(byte >> 4)] as char);
            text.push(DIGITS[usize::from(byte & 0xf)] as char);
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datagen::generators::generate_alone;
    use crate::datagen::rng::stream;

    #[test]
    fn prefix_and_length() {
        let mut generator: Hex = toml::from_str("bytes = 32\nprefix = \"sha256:\"").unwrap();
        let mut rng = stream(1, "t", "digest");
        let Value::Text(text) = generate_alone(&mut generator, &mut rng) else {
            panic!()
        };
        assert!(
            text.starts_with("sha256:") && text.len() == 7 + 64,
            "{text}"
        );
        let mut again = stream(1, "t", "digest");
        assert_eq!(
            generate_alone(&mut generator, &mut again),
            Value::Text(text)
        );
    }

    #[test]
    fn a_pool_gives_that_many_distinct_values() {
        let mut generator: Hex = toml::from_str("bytes = 4\npool = 50").unwrap();
        crate::datagen::generators::resolve_alone(&mut generator).unwrap();
        let mut rng = stream(1, "t", "code");
        let distinct: std::collections::HashSet<String> = (0..5_000)
            .map(|_| generate_alone(&mut generator, &mut rng).to_string())
            .collect();
        assert_eq!(distinct.len(), 50);
        let mut huge: Hex = toml::from_str("pool = 0").unwrap();
        assert!(crate::datagen::generators::resolve_alone(&mut huge).is_err());
    }
}
