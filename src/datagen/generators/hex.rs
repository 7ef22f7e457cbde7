//! `hex`: random bytes as lowercase hex with an optional prefix, for digests and
//! tokens (`sha256:…`).

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
}

fn sixteen() -> usize {
    16
}

impl ColumnGenerator for Hex {
    fn resolve(&mut self, _scope: &Scope) -> Result<ValueKind, String> {
        if !(1..=1024).contains(&self.bytes) {
            return Err(format!("bytes = {} is outside 1..=1024", self.bytes));
        }
        Ok(ValueKind::Text)
    }

    fn generate(&mut self, rng: &mut SeededRng, _row: &RowContext, _pick: &mut u32) -> Value {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut text = String::with_capacity(self.prefix.len() + self.bytes * 2);
        text.push_str(&self.prefix);
        for _ in 0..self.bytes {
            let byte: u8 = rng.random();
            text.push(DIGITS[usize::from(byte >> 4)] as char);
            text.push(DIGITS[usize::from(byte & 0xf)] as char);
        }
        Value::Text(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datagen::generators::generate_alone;
    use crate::datagen::rng::stream;

    #[test]
    fn prefix_and_length() {
        let mut generator = Hex {
            bytes: 32,
            prefix: "sha256:".into(),
        };
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
}
