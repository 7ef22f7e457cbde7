//! `bool`: true with a given probability.

use rand::RngExt;
use serde::Deserialize;

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

impl Bool {
    pub(super) fn resolve(&self) -> Result<ValueKind, String> {
        if !(0.0..=1.0).contains(&self.probability) {
            return Err(format!(
                "probability = {} is outside [0, 1]",
                self.probability
            ));
        }
        Ok(ValueKind::Bool)
    }

    pub(super) fn generate(&self, rng: &mut SeededRng) -> Value {
        Value::Bool(rng.random_bool(self.probability))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datagen::rng::stream;

    #[test]
    fn true_share_follows_the_probability_and_the_seed() {
        let share = |seed| {
            let mut rng = stream(seed, "t", "flag");
            let generator = Bool { probability: 0.3 };
            (0..100_000)
                .filter(|_| generator.generate(&mut rng) == Value::Bool(true))
                .count()
        };
        assert_eq!(share(4), share(4));
        assert!((share(4) as f64 / 100_000.0 - 0.3).abs() < 0.01);
        assert!(Bool { probability: 1.5 }.resolve().is_err());
    }
}
