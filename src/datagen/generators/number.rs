//! `int` and `float`: numbers in a range, drawn with a distribution: `uniform`,
//! `normal` (mean at the middle of the range, six standard deviations across it,
//! redrawn outside it), `log-uniform` (every order of magnitude equally likely, for
//! durations and sizes), or `zipf` (`int` only: the first value most frequent, the k-th
//! `1/k^exponent` as frequent, for skewed counts and popularity).

use rand::RngExt;
use serde::Deserialize;

use super::{ColumnGenerator, RowContext, Scope};
use crate::datagen::rng::SeededRng;
use crate::value::{Value, ValueKind};

/// How values spread over their range.
#[derive(Debug, Clone, Copy, Default, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Distribution {
    #[default]
    Uniform,
    Normal,
    LogUniform,
    Zipf,
}

/// `kind = "int"`: `range = [min, max]`, both inclusive.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntRange {
    pub range: [i64; 2],
    #[serde(default)]
    pub distribution: Distribution,
    /// The zipf exponent (only with `distribution = "zipf"`), default 1.
    pub exponent: Option<f64>,
    #[serde(skip)]
    zipf_cdf: Vec<f64>,
}

/// The largest range a zipf draw tabulates.
const ZIPF_MAX_VALUES: i64 = 1_000_000;

impl ColumnGenerator for IntRange {
    fn resolve(&mut self, _scope: &Scope) -> Result<ValueKind, String> {
        let [min, max] = self.range;
        if min > max {
            return Err(format!("range = [{min}, {max}] is empty; write [min, max]"));
        }
        check_exponent(self.distribution, self.exponent)?;
        match self.distribution {
            Distribution::LogUniform if min <= 0 => {
                return Err(format!(
                    "a log-uniform range must be positive, not [{min}, {max}]"
                ));
            }
            Distribution::Zipf => {
                let count = i128::from(max) - i128::from(min) + 1;
                if count > i128::from(ZIPF_MAX_VALUES) {
                    return Err(format!(
                        "a zipf range holds at most {ZIPF_MAX_VALUES} values, not {count}"
                    ));
                }
                self.zipf_cdf = zipf_cdf(count as usize, self.exponent.unwrap_or(1.0));
            }
            _ => {}
        }
        Ok(ValueKind::Int)
    }

    fn generate(&mut self, rng: &mut SeededRng, _row: &RowContext, _pick: &mut u32) -> Value {
        let [min, max] = self.range;
        let value = match self.distribution {
            Distribution::Uniform => rng.random_range(min..=max),
            Distribution::Zipf => min + zipf_rank(&self.zipf_cdf, rng) as i64,
            other => draw_real(other, min as f64, max as f64 + 1.0, rng).floor() as i64,
        };
        Value::Int(value.clamp(min, max))
    }
}

/// `kind = "float"`: `range = [min, max)`, optionally rounded to `decimals` places
/// (money: `decimals = 2`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FloatRange {
    pub range: [f64; 2],
    #[serde(default)]
    pub distribution: Distribution,
    pub decimals: Option<u32>,
}

impl ColumnGenerator for FloatRange {
    fn resolve(&mut self, _scope: &Scope) -> Result<ValueKind, String> {
        let [min, max] = self.range;
        if !(min.is_finite() && max.is_finite() && min < max) {
            return Err(format!("range = [{min}, {max}] is empty; write [min, max]"));
        }
        match self.distribution {
            Distribution::Zipf => Err("zipf draws integers; use kind = \"int\"".into()),
            Distribution::LogUniform if min <= 0.0 => Err(format!(
                "a log-uniform range must be positive, not [{min}, {max}]"
            )),
            _ if self.decimals.is_some_and(|decimals| decimals > 12) => {
                Err("decimals above 12 cannot be represented".into())
            }
            _ => Ok(ValueKind::Float),
        }
    }

    fn generate(&mut self, rng: &mut SeededRng, _row: &RowContext, _pick: &mut u32) -> Value {
        let [min, max] = self.range;
        let mut value = draw_real(self.distribution, min, max, rng);
        if let Some(decimals) = self.decimals {
            let scale = 10f64.powi(decimals as i32);
            value = (value * scale).round() / scale;
        }
        Value::Float(value)
    }
}

fn check_exponent(distribution: Distribution, exponent: Option<f64>) -> Result<(), String> {
    match (distribution, exponent) {
        (Distribution::Zipf, Some(exponent)) if !(exponent > 0.0 && exponent.is_finite()) => {
            Err(format!("exponent = {exponent} must be positive"))
        }
        (Distribution::Zipf, _) | (_, None) => Ok(()),
        (_, Some(_)) => Err("exponent only applies to distribution = \"zipf\"".into()),
    }
}

/// A real number in `[min, max)` with the distribution.
fn draw_real(distribution: Distribution, min: f64, max: f64, rng: &mut SeededRng) -> f64 {
    let u: f64 = rng.random();
    match distribution {
        Distribution::Uniform | Distribution::Zipf => min + u * (max - min),
        Distribution::LogUniform => (min.ln() + u * (max.ln() - min.ln())).exp(),
        Distribution::Normal => {
            let mean = (min + max) / 2.0;
            let sd = (max - min) / 6.0;
            loop {
                // Box-Muller; redraw the rare values outside the range.
                let u1: f64 = 1.0 - rng.random::<f64>();
                let u2: f64 = rng.random();
                let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
                let value = mean + z * sd;
                if value >= min && value < max {
                    return value;
                }
            }
        }
    }
}

/// The cumulative distribution of ranks 1..=count under Zipf's law.
pub fn zipf_cdf(count: usize, exponent: f64) -> Vec<f64> {
    let mut cumulative = Vec::with_capacity(count);
    let mut total = 0.0;
    for rank in 1..=count {
        total += 1.0 / (rank as f64).powf(exponent);
        cumulative.push(total);
    }
    for value in &mut cumulative {
        *value /= total;
    }
    cumulative
}

/// A 0-based rank drawn from a table made by [`zipf_cdf`].
pub fn zipf_rank(cdf: &[f64], rng: &mut SeededRng) -> usize {
    let u: f64 = rng.random();
    cdf.partition_point(|cumulative| *cumulative < u)
        .min(cdf.len().saturating_sub(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datagen::generators::{generate_alone, resolve_alone};
    use crate::datagen::rng::stream;

    fn ints(generator: &mut IntRange, count: usize) -> Vec<i64> {
        resolve_alone(generator).unwrap();
        let mut rng = stream(9, "t", "n");
        (0..count)
            .map(|_| match generate_alone(generator, &mut rng) {
                Value::Int(value) => value,
                other => panic!("{other:?}"),
            })
            .collect()
    }

    fn int_range(range: [i64; 2], distribution: Distribution, exponent: Option<f64>) -> IntRange {
        IntRange {
            range,
            distribution,
            exponent,
            zipf_cdf: vec![],
        }
    }

    #[test]
    fn uniform_ints_cover_the_range_evenly() {
        let values = ints(&mut int_range([1, 4], Distribution::Uniform, None), 40_000);
        for value in 1..=4 {
            let share = values.iter().filter(|v| **v == value).count() as f64 / 40_000.0;
            assert!((share - 0.25).abs() < 0.01, "{value}: {share}");
        }
        assert_eq!(
            values,
            ints(&mut int_range([1, 4], Distribution::Uniform, None), 40_000)
        );
    }

    #[test]
    fn zipf_ranks_fall_as_a_power_of_the_rank() {
        let values = ints(
            &mut int_range([1, 100], Distribution::Zipf, Some(1.0)),
            100_000,
        );
        let count = |v: i64| values.iter().filter(|x| **x == v).count() as f64;
        // Harmonic number H(100) ≈ 5.187: rank 1 takes ~19.3%, rank 2 half of that.
        assert!((count(1) / 100_000.0 - 0.193).abs() < 0.01, "{}", count(1));
        assert!((count(1) / count(2) - 2.0).abs() < 0.15);
        assert!(resolve_alone(&mut int_range([1, 2_000_000], Distribution::Zipf, None)).is_err());
    }

    #[test]
    fn normal_centres_on_the_middle_and_stays_in_range() {
        let values = ints(&mut int_range([0, 599], Distribution::Normal, None), 50_000);
        let mean = values.iter().sum::<i64>() as f64 / values.len() as f64;
        assert!((mean - 299.5).abs() < 3.0, "{mean}");
        let within_one_sd = values
            .iter()
            .filter(|v| (**v as f64 - 300.0).abs() < 100.0)
            .count();
        assert!((within_one_sd as f64 / 50_000.0 - 0.68).abs() < 0.02);
    }

    #[test]
    fn log_uniform_gives_every_decade_the_same_share() {
        let mut generator = FloatRange {
            range: [1.0, 1000.0],
            distribution: Distribution::LogUniform,
            decimals: None,
        };
        resolve_alone(&mut generator).unwrap();
        let mut rng = stream(3, "t", "f");
        let below_10 = (0..30_000)
            .filter(
                |_| matches!(generate_alone(&mut generator, &mut rng), Value::Float(v) if v < 10.0),
            )
            .count();
        assert!((below_10 as f64 / 30_000.0 - 1.0 / 3.0).abs() < 0.01);
    }

    #[test]
    fn decimals_round_and_bad_ranges_are_refused() {
        let mut money = FloatRange {
            range: [1.0, 2.0],
            distribution: Distribution::Uniform,
            decimals: Some(2),
        };
        let mut rng = stream(1, "t", "price");
        let Value::Float(price) = generate_alone(&mut money, &mut rng) else {
            panic!()
        };
        assert_eq!((price * 100.0).round() / 100.0, price);
        assert!(resolve_alone(&mut int_range([5, 1], Distribution::Uniform, None)).is_err());
        assert!(resolve_alone(&mut int_range([1, 5], Distribution::Uniform, Some(2.0))).is_err());
        assert!(resolve_alone(&mut int_range([0, 5], Distribution::LogUniform, None)).is_err());
    }
}
