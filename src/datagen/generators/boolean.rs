//! `bool`: true with a given probability.

use rand::RngExt;
use serde::Deserialize;

use super::{ColumnGenerator, RowContext, Scope};
use crate::datagen::rng::SeededRng;
use crate::value::{Value, ValueKind};

/// `kind = "bool"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bool {
    /// Probability of `true`, default 0.5.
    #[serde(default = "half")]
    pub probability: f64,
}

fn half() -> f64 {
    0.5
}

impl ColumnGenerator for Bool {
    fn resolve(&mut self, _scope: &Scope) -> Result<ValueKind, String> {
        if !(0.0..=1.0).contains(&self.probability) {
            return Err(format!(
                "probability = {} is outside [0, 1]",
                self.probability
            ));
        }
        Ok(ValueKind::Bool)
    }

    fn generate(&mut self, rng: &mut SeededRng, _row: &RowContext, _pick: &mut u32) -> Value {
        Value::Bool(rng.random_bool(self.probability))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datagen::generators::{generate_alone, resolve_alone};
    use crate::datagen::rng::stream;

    #[test]
    fn true_share_follows_the_probability_and_the_seed() {
        let share = |seed| {
            let mut rng = stream(seed, "t", "flag");
            let mut generator = Bool { probability: 0.3 };
            (0..100_000)
                .filter(|_| generate_alone(&mut generator, &mut rng) == Value::Bool(true))
                .count()
        };
        assert_eq!(share(4), share(4));
        assert!((share(4) as f64 / 100_000.0 - 0.3).abs() < 0.01);
        assert!(resolve_alone(&mut Bool { probability: 1.5 }).is_err());
    }
}
