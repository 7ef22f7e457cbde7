//! `choice`: one of a list of values, with optional weights (state machines, enums,
//! skewed categories), and optionally, with `others`, the rest of the rows from
//! another generator: a column's most common values and everything else.

use rand::RngExt;
use serde::Deserialize;

use super::{ColumnGenerator, Generator, Materialized, Reads, RowContext, Scope, TableSignature};
use crate::datagen::rng::SeededRng;
use crate::value::{Value, ValueKind};

/// `kind = "choice"`: `values = [...]`, `weights = [...]` (relative, default equal),
/// and `others = <generator>` with `others_weight` (relative to the same weights) for
/// the rows that take none of the values.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Choice {
    pub values: Vec<toml::Value>,
    pub weights: Option<Vec<f64>>,
    pub others: Option<toml::Value>,
    pub others_weight: Option<f64>,
    #[serde(skip)]
    others_generator: Option<Box<Generator>>,
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
    fn resolve(&mut self, scope: &Scope) -> Result<ValueKind, String> {
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
        let others_weight = match (&self.others, self.others_weight) {
            (None, None) => 0.0,
            (Some(_), Some(weight)) if weight.is_finite() && weight >= 0.0 => weight,
            (Some(_), Some(weight)) => {
                return Err(format!(
                    "others_weight = {weight} is not a non-negative number"
                ));
            }
            (Some(_), None) => {
                return Err(
                    "others needs others_weight, its weight relative to the values' weights".into(),
                );
            }
            (None, Some(_)) => {
                return Err("others_weight needs others, the generator for those rows".into());
            }
        };
        let total: f64 = weights.iter().sum::<f64>() + others_weight;
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
        if let Some(others) = &self.others {
            let mut generator =
                super::parse(others.clone()).map_err(|error| format!("others: {error}"))?;
            let others_kind = generator
                .resolve(scope)
                .map_err(|error| format!("others: {error}"))?;
            if others_kind != kind {
                return Err(format!(
                    "others gives {others_kind:?} values but the values are {kind:?}; they must be of one kind"
                ));
            }
            self.others_generator = Some(Box::new(generator));
        }
        Ok(kind)
    }

    fn reads(&self, reads: &mut Reads) {
        if let Some(others) = &self.others_generator {
            others.reads(reads);
        }
    }

    fn prepare(&mut self, tables: &[Materialized], signatures: &[TableSignature]) {
        if let Some(others) = &mut self.others_generator {
            others.prepare(tables, signatures);
        }
    }

    fn generate(&mut self, rng: &mut SeededRng, row: &RowContext, pick: &mut u32) -> Value {
        let u: f64 = rng.random();
        let index = self
            .cumulative
            .partition_point(|cumulative| *cumulative <= u);
        match &mut self.others_generator {
            Some(others) if index >= self.resolved.len() => others.generate(rng, row, pick),
            _ => self.resolved[index.min(self.resolved.len() - 1)].clone(),
        }
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

    #[test]
    fn others_take_the_rest_of_the_rows() {
        let mut choice: Choice = toml::from_str(
            "values = [\"a\"]\nweights = [60]\nothers = { kind = \"hex\", bytes = 2, pool = 10 }\nothers_weight = 40",
        )
        .unwrap();
        resolve_alone(&mut choice).unwrap();
        let mut rng = stream(2, "t", "code");
        let draws: Vec<Value> = (0..20_000)
            .map(|_| generate_alone(&mut choice, &mut rng))
            .collect();
        let a = draws
            .iter()
            .filter(|d| **d == Value::Text("a".into()))
            .count() as f64;
        assert!((a / 20_000.0 - 0.6).abs() < 0.01, "{a}");
        let distinct: std::collections::HashSet<String> =
            draws.iter().map(Value::to_string).collect();
        assert_eq!(distinct.len(), 11);
        let mut mixed: Choice =
            toml::from_str("values = [1]\nothers = \"hex\"\nothers_weight = 1").unwrap();
        assert!(resolve_alone(&mut mixed).unwrap_err().contains("one kind"));
        let mut unweighted: Choice = toml::from_str("values = [1]\nothers = \"hex\"").unwrap();
        assert!(
            resolve_alone(&mut unweighted)
                .unwrap_err()
                .contains("others_weight")
        );
    }
}
