//! `choice`: one of a list of values, with optional weights (state machines, enums,
//! skewed categories).

use rand::RngExt;
use serde::Deserialize;

use super::{ColumnGenerator, RowContext, Scope};
use crate::datagen::rng::SeededRng;
use crate::value::{Value, ValueKind};

/// `kind = "choice"`: `values = [...]`, `weights = [...]` (relative, default equal).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Choice {
    pub values: Vec<toml::Value>,
    pub weights: Option<Vec<f64>>,
    #[serde(skip)]
    resolved: Vec<Value>,
    #[serde(skip)]
    cumulative: Vec<f64>,
}

impl Choice {
    /// The resolved values and their shares (adding up to 1), for reports and tests.
    pub fn shares(&self) -> Vec<(Value, f64)> {
        let mut previous = 0.0;
        self.resolved
            .iter()
            .zip(&self.cumulative)
            .map(|(value, cumulative)| {
                let share = cumulative - previous;
                previous = *cumulative;
                (value.clone(), share)
            })
            .collect()
    }
}

impl ColumnGenerator for Choice {
    fn resolve(&mut self, _scope: &Scope) -> Result<ValueKind, String> {
        if self.values.is_empty() {
            return Err("values = [] offers nothing to choose".into());
        }
        let weights = self
            .weights
            .clone()
            .unwrap_or_else(|| vec![1.0; self.values.len()]);
        if weights.len() != self.values.len() {
            return Err(format!(
                "{} values but {} weights; give one weight per value",
                self.values.len(),
                weights.len()
            ));
        }
        if let Some(bad) = weights.iter().find(|w| !(w.is_finite() && **w >= 0.0)) {
            return Err(format!("weight {bad} is not a non-negative number"));
        }
        let total: f64 = weights.iter().sum();
        if total <= 0.0 {
            return Err("the weights add up to 0".into());
        }
        let mut running = 0.0;
        self.cumulative = weights
            .iter()
            .map(|weight| {
                running += weight / total;
                running
            })
            .collect();
        self.resolved = self.values.iter().map(Value::from_toml).collect();
        let kind = self.resolved[0].kind();
        if self.resolved.iter().any(|value| value.kind() != kind) {
            return Err(
                "the values are of different kinds; write them all as strings or all as numbers"
                    .into(),
            );
        }
        Ok(kind)
    }

    fn generate(&mut self, rng: &mut SeededRng, _row: &RowContext, _pick: &mut u32) -> Value {
        let u: f64 = rng.random();
        let index = self
            .cumulative
            .partition_point(|cumulative| *cumulative <= u)
            .min(self.resolved.len() - 1);
        self.resolved[index].clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datagen::generators::{generate_alone, resolve_alone};
    use crate::datagen::rng::stream;

    #[test]
    fn shares_follow_the_weights() {
        let mut choice: Choice =
            toml::from_str("values = [\"a\", \"b\", \"c\"]\nweights = [80, 15, 5]").unwrap();
        resolve_alone(&mut choice).unwrap();
        let mut rng = stream(2, "t", "state");
        let draws: Vec<Value> = (0..100_000)
            .map(|_| generate_alone(&mut choice, &mut rng))
            .collect();
        for (value, share) in choice.shares() {
            let observed = draws.iter().filter(|d| **d == value).count() as f64 / 100_000.0;
            assert!(
                (observed - share).abs() < 0.01,
                "{value}: {observed} vs {share}"
            );
        }
    }

    #[test]
    fn mismatched_weights_and_mixed_kinds_are_refused() {
        let mut short: Choice = toml::from_str("values = [1, 2]\nweights = [1]").unwrap();
        assert!(
            resolve_alone(&mut short)
                .unwrap_err()
                .contains("2 values but 1 weights")
        );
        let mut mixed: Choice = toml::from_str("values = [1, \"two\"]").unwrap();
        assert!(resolve_alone(&mut mixed).is_err());
    }
}
