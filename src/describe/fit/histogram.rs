//! The `histogram` and `choice` generators of numbers, instants and text: pg_stats's
//! histogram bounds, equally populated apart from the most common values, which become
//! zero-width buckets of their own shares (or, for an integer hardly above its
//! bucket's density, part of that bucket).

use std::iter::Peekable;

use chrono::DateTime;

use super::{inline, insert, round};

/// A common integer below this many times its bucket's density per value is folded
/// back into its bucket.
const SPIKE_TIMES_DENSITY: f64 = 2.0;

/// A common value and its share.
type Common = (toml::Value, f64);

/// The histogram under construction: its points, and `weights[i]` the bucket from
/// `points[i]` to the next point.
#[derive(Default)]
struct Points {
    values: Vec<toml::Value>,
    weights: Vec<f64>,
}

impl Points {
    /// Appends a bound, whose bucket (to the next bound) has `weight` for now; a bound
    /// equal to the last one, whose bucket is still empty, only sets that bucket's
    /// weight.
    fn push(&mut self, value: toml::Value, weight: f64) {
        if self.values.last() == Some(&value) && self.weights.last() == Some(&0.0) {
            *self.weights.last_mut().expect("a weight per point") = weight;
            return;
        }
        self.values.push(value);
        self.weights.push(weight);
    }

    fn add_to_last(&mut self, weight: f64) {
        if let Some(last) = self.weights.last_mut() {
            *last += weight;
        }
    }

    /// A common value alone, then the rest of its bucket from just after it (up to
    /// `limit`).
    fn push_common(&mut self, value: &Common, limit: f64) -> toml::Value {
        self.push(value.0.clone(), value.1);
        let rest = after(&value.0, limit);
        self.push(rest.clone(), 0.0);
        rest
    }
}

/// A number, or an instant in microseconds, to place a value among the bounds.
fn key(value: &toml::Value) -> f64 {
    match value {
        toml::Value::Integer(n) => *n as f64,
        toml::Value::Float(f) => *f,
        toml::Value::String(text) => DateTime::parse_from_rfc3339(text)
            .map(|t| t.timestamp_micros() as f64)
            .unwrap_or(0.0),
        _ => 0.0,
    }
}

/// After a common value, the rest of its bucket: from the next integer (a bucket holds
/// its lower bound, so restarting at the value would draw it again), or from the value
/// itself for numbers and instants.
fn after(value: &toml::Value, limit: f64) -> toml::Value {
    match value {
        toml::Value::Integer(n) if ((*n + 1) as f64) <= limit => toml::Value::Integer(n + 1),
        other => other.clone(),
    }
}

/// A histogram whose bounds are `pg_stats`'s, its buckets sharing `rest` equally,
/// with each common value a zero-width bucket of its own share, inside the bucket
/// that holds it (or before or after the bounds).
pub(super) fn histogram_with_common(
    bounds: &[toml::Value],
    common: &[Common],
    rest: f64,
) -> toml::Value {
    let buckets = bounds.len() - 1;
    let each = rest / buckets as f64;
    let (extra, mut pending) = spikes(bounds, common, each);
    pending.sort_by(|a, b| key(&a.0).total_cmp(&key(&b.0)));
    let mut pending = pending.into_iter().peekable();
    let mut points = Points::default();
    // Common values below the first bound.
    while let Some(value) = pending.next_if(|(v, _)| key(v) < key(&bounds[0])) {
        points.push_common(value, key(&bounds[0]));
    }
    for bucket in 0..buckets {
        let last = bucket + 1 == buckets;
        fill_bucket(
            &mut points,
            &bounds[bucket..bucket + 2],
            each + extra[bucket],
            &mut pending,
            last,
        );
    }
    points.push(bounds[buckets].clone(), 0.0);
    for value in pending {
        points.push_common(value, f64::INFINITY);
    }
    generator(points, !common.is_empty())
}

/// Which common values are spikes of their own, and the share given back to each
/// bucket by those that are not. An integer listed as common but hardly above its
/// bucket's own density per value is a sampling winner, not a spike (a normal
/// column's centre lists a hundred values at 1.6 times their share): its share goes
/// back to its bucket, spread as the bucket's, so no false spikes pull mass to where
/// the sample happened to look.
fn spikes<'a>(
    bounds: &[toml::Value],
    common: &'a [Common],
    each: f64,
) -> (Vec<f64>, Vec<&'a Common>) {
    let buckets = bounds.len() - 1;
    let mut extra = vec![0.0; buckets];
    let bucket_of =
        |at: f64| (0..buckets).find(|&b| at >= key(&bounds[b]) && at <= key(&bounds[b + 1]));
    let mut pending = Vec::new();
    for value in common {
        let folded = match (&value.0, bucket_of(key(&value.0))) {
            (toml::Value::Integer(_), Some(bucket)) => {
                let width = (key(&bounds[bucket + 1]) - key(&bounds[bucket])).max(1.0);
                (value.1 < SPIKE_TIMES_DENSITY * each / width).then_some(bucket)
            }
            _ => None,
        };
        match folded {
            Some(bucket) => extra[bucket] += value.1,
            None => pending.push(value),
        }
    }
    (extra, pending)
}

/// One bucket from `pair[0]` to `pair[1]` of weight `each`, with the common values
/// inside it (the last bucket holds its upper bound too) cut out as buckets of their
/// own.
fn fill_bucket<'a>(
    points: &mut Points,
    pair: &[toml::Value],
    each: f64,
    pending: &mut Peekable<impl Iterator<Item = &'a Common>>,
    last: bool,
) {
    let (low, high) = (&pair[0], &pair[1]);
    points.push(low.clone(), 0.0);
    let (low_key, high_key) = (key(low), key(high));
    let span = (high_key - low_key).max(f64::MIN_POSITIVE);
    let mut from = low_key;
    while let Some(value) =
        pending.next_if(|(v, _)| key(v) < high_key || (last && key(v) <= high_key))
    {
        // The part of the bucket before the value, then the value alone.
        points.add_to_last(each * (key(&value.0) - from) / span);
        from = key(&points.push_common(value, high_key));
    }
    points.add_to_last(each * (high_key - from) / span);
}

/// The `histogram` generator of the points, with weights when common values made the
/// buckets unequal.
fn generator(mut points: Points, weighted: bool) -> toml::Value {
    // The last point closes the last bucket and has no bucket of its own.
    points.weights.pop();
    let scale = points
        .weights
        .iter()
        .copied()
        .fold(0.0, f64::max)
        .max(f64::MIN_POSITIVE);
    let mut generator = inline(&[
        ("kind", "histogram".into()),
        ("bounds", toml::Value::Array(points.values)),
    ]);
    if weighted {
        let weights = points
            .weights
            .iter()
            .map(|w| toml::Value::from(round(w / scale * 1000.0, 3)))
            .collect();
        insert(&mut generator, "weights", toml::Value::Array(weights));
    }
    generator
}

/// A weighted `choice` of `values`, weights from the statistics' shares.
pub(super) fn choice(values: Vec<toml::Value>, common: &[(String, f64)]) -> toml::Value {
    let scale = common
        .iter()
        .map(|c| c.1)
        .fold(0.0, f64::max)
        .max(f64::MIN_POSITIVE);
    let weights = common
        .iter()
        .map(|(_, share)| toml::Value::from(round(share / scale * 1000.0, 3)))
        .collect();
    inline(&[
        ("kind", "choice".into()),
        ("values", toml::Value::Array(values)),
        ("weights", toml::Value::Array(weights)),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_values_become_buckets_of_their_own_inside_the_histogram() {
        let bounds: Vec<toml::Value> = vec![0.into(), 10.into(), 20.into()];
        let common = vec![(toml::Value::from(5), 0.5)];
        let generator = histogram_with_common(&bounds, &common, 0.5);
        assert_eq!(
            generator.to_string(),
            "{ kind = \"histogram\", bounds = [0, 5, 6, 10, 20], weights = [250.0, 1000.0, 200.0, 500.0] }"
        );
    }
}
