//! `histogram`: numbers or instants spread piecewise uniformly between `bounds`, as
//! PostgreSQL's `pg_stats.histogram_bounds` describes a column: N+1 bounds split the
//! values into N buckets, each equally populated unless `weights` say otherwise. A
//! bucket is drawn by its weight, then a value uniformly within it. Integer bounds give
//! integers, numbers with a fraction give numbers, RFC 3339 instants give timestamps.

use chrono::DateTime;
use rand::RngExt;
use serde::Deserialize;

use super::{ColumnGenerator, RowContext, Scope};
use crate::datagen::rng::SeededRng;
use crate::value::{Value, ValueKind};

/// `kind = "histogram"`: `bounds = [...]` (at least two, non-decreasing), `weights =
/// [...]` (one per bucket, relative, default equal).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Histogram {
    pub bounds: Vec<toml::Value>,
    pub weights: Option<Vec<f64>>,
    #[serde(skip)]
    resolved: Bounds,
    /// Running sums of the weights, one per bucket, not normalised: a draw scales
    /// its uniform number by the last one.
    #[serde(skip)]
    cumulative: Vec<f64>,
    /// The last bucket with a positive weight, where a draw rounded past the end lands.
    #[serde(skip)]
    last_drawn: usize,
}

/// The bounds, checked and of one kind.
#[derive(Debug, Clone, Default)]
enum Bounds {
    #[default]
    Unresolved,
    Ints(Vec<i64>),
    Floats(Vec<f64>),
    /// Microseconds since the Unix epoch.
    Timestamps(Vec<i64>),
}

/// One bound as written, before the bounds are known to agree in kind.
#[derive(Debug, Clone, Copy)]
enum Bound {
    Int(i64),
    Float(f64),
    Timestamp(i64),
}

impl Bound {
    fn read(value: &toml::Value) -> Result<Bound, String> {
        let instant = |text: &str| {
            DateTime::parse_from_rfc3339(text)
                .map(|instant| Bound::Timestamp(instant.timestamp_micros()))
                .map_err(|error| {
                    format!(
                        "bounds entry {value} is not an RFC 3339 instant with an offset ({error}); write numbers, or instants like \"2026-06-01T00:00:00Z\""
                    )
                })
        };
        match value {
            toml::Value::Integer(number) => Ok(Bound::Int(*number)),
            toml::Value::Float(number) if number.is_finite() => Ok(Bound::Float(*number)),
            toml::Value::String(text) => instant(text),
            toml::Value::Datetime(datetime) => instant(&datetime.to_string()),
            other => Err(format!(
                "bounds entry {other} is neither a number nor an instant; write numbers, or instants like \"2026-06-01T00:00:00Z\""
            )),
        }
    }

    fn is_timestamp(self) -> bool {
        matches!(self, Bound::Timestamp(_))
    }

    /// An integer or an instant's microseconds (only called on those).
    fn as_i64(self) -> i64 {
        match self {
            Bound::Int(value) | Bound::Timestamp(value) => value,
            Bound::Float(value) => value as i64,
        }
    }

    fn as_f64(self) -> f64 {
        match self {
            Bound::Int(value) | Bound::Timestamp(value) => value as f64,
            Bound::Float(value) => value,
        }
    }
}

impl Histogram {
    /// Each bucket's share of the rows (adding up to 1), for reports and tests.
    pub fn shares(&self) -> Vec<f64> {
        let total = self.cumulative.last().copied().unwrap_or(1.0);
        let mut previous = 0.0;
        self.cumulative
            .iter()
            .map(|cumulative| {
                let share = (cumulative - previous) / total;
                previous = *cumulative;
                share
            })
            .collect()
    }

    fn resolve_bounds(&self) -> Result<Bounds, String> {
        let written = || {
            let items: Vec<String> = self.bounds.iter().map(ToString::to_string).collect();
            format!("bounds = [{}]", items.join(", "))
        };
        if self.bounds.len() < 2 {
            return Err(format!(
                "{} holds {} bound(s); give at least two, the lowest and the highest value (N+1 bounds make N buckets)",
                written(),
                self.bounds.len()
            ));
        }
        let bounds = self
            .bounds
            .iter()
            .map(Bound::read)
            .collect::<Result<Vec<Bound>, String>>()?;
        if let Some(index) = bounds
            .iter()
            .position(|bound| bound.is_timestamp() != bounds[0].is_timestamp())
        {
            return Err(format!(
                "{} mixes numbers and instants ({} and {}); write all bounds as numbers or all as instants",
                written(),
                self.bounds[0],
                self.bounds[index]
            ));
        }
        let resolved = if bounds[0].is_timestamp() {
            Bounds::Timestamps(bounds.iter().map(|b| b.as_i64()).collect())
        } else if bounds.iter().all(|bound| matches!(bound, Bound::Int(_))) {
            Bounds::Ints(bounds.iter().map(|b| b.as_i64()).collect())
        } else {
            Bounds::Floats(bounds.iter().map(|b| b.as_f64()).collect())
        };
        let decreasing = match &resolved {
            Bounds::Ints(values) | Bounds::Timestamps(values) => {
                values.windows(2).position(|pair| pair[1] < pair[0])
            }
            Bounds::Floats(values) => values.windows(2).position(|pair| pair[1] < pair[0]),
            Bounds::Unresolved => None,
        };
        if let Some(index) = decreasing {
            return Err(format!(
                "{} goes down from {} to {}; write the bounds in non-decreasing order, as pg_stats.histogram_bounds lists them (equal neighbours make a one-value bucket)",
                written(),
                self.bounds[index],
                self.bounds[index + 1]
            ));
        }
        Ok(resolved)
    }

    fn resolve_weights(&mut self, buckets: usize) -> Result<(), String> {
        let weights = self.weights.clone().unwrap_or_else(|| vec![1.0; buckets]);
        let written = || {
            let items: Vec<String> = weights.iter().map(ToString::to_string).collect();
            format!("weights = [{}]", items.join(", "))
        };
        if weights.len() != buckets {
            return Err(format!(
                "{} gives {} weights for {} buckets; give one weight per bucket, that is one fewer than the bounds",
                written(),
                weights.len(),
                buckets
            ));
        }
        if let Some(bad) = weights.iter().find(|w| !(w.is_finite() && **w >= 0.0)) {
            return Err(format!(
                "{}: weight {bad} is not a non-negative number; weights are relative shares ≥ 0",
                written()
            ));
        }
        if weights.iter().sum::<f64>() <= 0.0 {
            return Err(format!(
                "{} adds up to 0; give at least one bucket a positive weight",
                written()
            ));
        }
        let mut running = 0.0;
        self.cumulative = weights
            .iter()
            .map(|weight| {
                running += weight;
                running
            })
            .collect();
        self.last_drawn = weights.iter().rposition(|w| *w > 0.0).unwrap_or(0);
        Ok(())
    }

    /// The bucket a uniform number `u` in [0, 1) falls in, by weight. A bucket of
    /// weight 0 is never chosen: its running sum equals its predecessor's.
    fn bucket(&self, u: f64) -> usize {
        let total = self.cumulative[self.cumulative.len() - 1];
        let target = u * total;
        self.cumulative
            .partition_point(|cumulative| *cumulative <= target)
            .min(self.last_drawn)
    }
}

impl ColumnGenerator for Histogram {
    fn resolve(&mut self, _scope: &Scope) -> Result<ValueKind, String> {
        let resolved = self.resolve_bounds()?;
        self.resolve_weights(self.bounds.len() - 1)?;
        let kind = match resolved {
            Bounds::Ints(_) => ValueKind::Int,
            Bounds::Floats(_) => ValueKind::Float,
            Bounds::Timestamps(_) | Bounds::Unresolved => ValueKind::Timestamp,
        };
        self.resolved = resolved;
        Ok(kind)
    }

    fn generate(&mut self, rng: &mut SeededRng, _row: &RowContext, _pick: &mut u32) -> Value {
        let bucket = self.bucket(rng.random());
        // Buckets are half-open, [low, high), so that every value belongs to one of
        // them and the share below each bound is what the weights say; the last is
        // closed, so the highest bound is drawn too. Equal bounds give that value.
        let last = bucket + 2 == self.bounds.len();
        let mut integer = |bounds: &[i64]| {
            let (low, high) = (bounds[bucket], bounds[bucket + 1]);
            let top = if last || low == high { high } else { high - 1 };
            rng.random_range(low..=top)
        };
        match &self.resolved {
            Bounds::Ints(bounds) => Value::Int(integer(bounds)),
            Bounds::Timestamps(bounds) => Value::Timestamp(integer(bounds)),
            Bounds::Floats(bounds) => {
                let (low, high) = (bounds[bucket], bounds[bucket + 1]);
                let u: f64 = rng.random();
                Value::Float((low + u * (high - low)).clamp(low, high))
            }
            Bounds::Unresolved => Value::Null,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datagen::generators::{generate_alone, resolve_alone};
    use crate::datagen::rng::stream;

    fn histogram(text: &str) -> Histogram {
        toml::from_str(text).unwrap()
    }

    fn draws(generator: &mut Histogram, count: usize) -> Vec<Value> {
        let mut rng = stream(15, "t", "h");
        (0..count)
            .map(|_| generate_alone(generator, &mut rng))
            .collect()
    }

    fn refusal(text: &str) -> String {
        resolve_alone(&mut histogram(text)).unwrap_err()
    }

    /// Counts of draws in each bucket, each value in the first bucket (half-open,
    /// the last closed) that holds it.
    fn bucket_counts(bounds: &[f64], values: &[f64]) -> Vec<usize> {
        let mut counts = vec![0; bounds.len() - 1];
        for value in values {
            assert!(
                (bounds[0]..=bounds[bounds.len() - 1]).contains(value),
                "{value} is outside the bounds"
            );
            let index = bounds[1..]
                .partition_point(|bound| bound <= value)
                .min(counts.len() - 1);
            counts[index] += 1;
        }
        counts
    }

    #[test]
    fn float_buckets_get_their_share_and_stay_within_the_bounds() {
        let mut generator = histogram("bounds = [0.0, 1.0, 10.0, 100.0, 1000.0]");
        assert_eq!(resolve_alone(&mut generator), Ok(ValueKind::Float));
        let values: Vec<f64> = draws(&mut generator, 100_000)
            .iter()
            .map(|value| match value {
                Value::Float(number) => *number,
                other => panic!("{other:?}"),
            })
            .collect();
        let counts = bucket_counts(&[0.0, 1.0, 10.0, 100.0, 1000.0], &values);
        // With a fixed seed the counts are fixed; 1% of the draws is about four
        // standard deviations of a quarter's count, so any seed would pass too.
        for count in counts {
            let share = count as f64 / 100_000.0;
            assert!((share - 0.25).abs() < 0.01, "{share}");
        }
    }

    #[test]
    fn weights_set_each_buckets_share_and_a_zero_weight_bucket_stays_empty() {
        let mut generator = histogram("bounds = [0, 10, 20, 30, 40]\nweights = [1, 0, 3, 4]");
        assert_eq!(resolve_alone(&mut generator), Ok(ValueKind::Int));
        assert_eq!(generator.shares(), vec![0.125, 0.0, 0.375, 0.5]);
        let values: Vec<f64> = draws(&mut generator, 100_000)
            .iter()
            .map(|value| match value {
                Value::Int(number) => *number as f64,
                other => panic!("{other:?}"),
            })
            .collect();
        let counts = bucket_counts(&[0.0, 10.0, 20.0, 30.0, 40.0], &values);
        assert_eq!(counts[1], 0);
        for (count, share) in counts.iter().zip(generator.shares()) {
            let observed = *count as f64 / 100_000.0;
            assert!((observed - share).abs() < 0.01, "{observed} vs {share}");
        }
    }

    #[test]
    fn integer_buckets_hold_their_lower_bound_and_the_last_its_upper_one_too() {
        // Buckets [1, 3), [3, 3] (a spike, as pg_stats writes a frequent value twice)
        // and [3, 5]: 1 and 2 share a third, 3 takes a third and a ninth, 4 and 5 a
        // ninth each.
        let mut generator = histogram("bounds = [1, 3, 3, 5]");
        assert_eq!(resolve_alone(&mut generator), Ok(ValueKind::Int));
        let values = draws(&mut generator, 90_000);
        let share =
            |n: i64| values.iter().filter(|v| **v == Value::Int(n)).count() as f64 / 90_000.0;
        let expected = [
            (1, 1.0 / 6.0),
            (2, 1.0 / 6.0),
            (3, 4.0 / 9.0),
            (4, 1.0 / 9.0),
            (5, 1.0 / 9.0),
        ];
        for (value, wanted) in expected {
            assert!(
                (share(value) - wanted).abs() < 0.01,
                "{value}: {}",
                share(value)
            );
        }
        assert!(values.iter().all(|v| matches!(v, Value::Int(1..=5))));
    }

    #[test]
    fn instants_give_timestamps_within_the_bounds_and_the_same_seed_the_same_values() {
        let text =
            "bounds = [2026-01-01T00:00:00Z, \"2026-02-01T00:00:00Z\", 2026-06-01T00:00:00+02:00]";
        let mut generator = histogram(text);
        assert_eq!(resolve_alone(&mut generator), Ok(ValueKind::Timestamp));
        let micros = |text: &str| {
            DateTime::parse_from_rfc3339(text)
                .unwrap()
                .timestamp_micros()
        };
        let (low, middle, high) = (
            micros("2026-01-01T00:00:00Z"),
            micros("2026-02-01T00:00:00Z"),
            micros("2026-06-01T00:00:00+02:00"),
        );
        let values = draws(&mut generator, 20_000);
        let mut in_january = 0;
        for value in &values {
            let Value::Timestamp(at) = value else {
                panic!("{value:?}")
            };
            assert!((low..=high).contains(at), "{value}");
            in_january += usize::from(*at < middle);
        }
        // January is one of two equally populated buckets, though a quarter as long.
        assert!((in_january as f64 / 20_000.0 - 0.5).abs() < 0.02);
        let mut again = histogram(text);
        resolve_alone(&mut again).unwrap();
        assert_eq!(values, draws(&mut again, 20_000));
    }

    #[test]
    fn bad_bounds_and_weights_are_refused_naming_the_key_and_value() {
        for (text, expected) in [
            (
                "bounds = [5]",
                "bounds = [5] holds 1 bound(s); give at least two",
            ),
            (
                "bounds = [1, 5, 3]",
                "bounds = [1, 5, 3] goes down from 5 to 3",
            ),
            (
                "bounds = [1, \"2026-01-01T00:00:00Z\"]",
                "mixes numbers and instants (1 and \"2026-01-01T00:00:00Z\")",
            ),
            (
                "bounds = [1, \"soon\"]",
                "bounds entry \"soon\" is not an RFC 3339 instant",
            ),
            (
                "bounds = [2026-01-01T00:00:00, 2026-02-01T00:00:00]",
                "is not an RFC 3339 instant with an offset",
            ),
            (
                "bounds = [true, false]",
                "bounds entry true is neither a number nor an instant",
            ),
            (
                "bounds = [0, 1, 2]\nweights = [1]",
                "weights = [1] gives 1 weights for 2 buckets",
            ),
            (
                "bounds = [0, 1, 2]\nweights = [1, -1]",
                "weight -1 is not a non-negative number",
            ),
            (
                "bounds = [0, 1, 2]\nweights = [0, 0]",
                "weights = [0, 0] adds up to 0",
            ),
        ] {
            let message = refusal(text);
            assert!(message.contains(expected), "{text}: {message}");
        }
        assert!(toml::from_str::<Histogram>("bounds = [0, 1]\nnulls = 0.1").is_err());
    }
}
