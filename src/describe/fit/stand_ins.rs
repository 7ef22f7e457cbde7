//! `--anonymize`'s stand-ins for numbers and instants: each histogram bound moved to a
//! random point within half a bucket of where it was (so every percentile moves by
//! less than half a bucket, and the range, which a CHECK may bound, does not grow),
//! each most common value to a random point of its bucket that no listed value or bound
//! takes. A column whose range has no room for that (four statuses 0 to 3) keeps its
//! values but shuffles which holds which share.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use rand::RngExt;
use rand::seq::SliceRandom;

use super::super::stats::ColumnStats;
use super::values::{Shape, instant};
use crate::datagen::rng::SeededRng;

/// Random draws at a free point before the range's free points are counted out.
const TRIES: usize = 64;

/// How a column's values read as numbers and back: integers, numbers with so many
/// decimals, instants in microseconds or in whole days.
#[derive(Clone, Copy)]
enum Scale {
    Integer,
    Decimals(usize),
    /// Numbers in exponent form (`1e-05`): written as they come out.
    Real,
    Micros,
    Days,
}

impl Scale {
    fn of(shape: Shape, is_date: bool, values: &[&String]) -> Scale {
        match shape {
            Shape::Int => Scale::Integer,
            Shape::Instant if is_date => Scale::Days,
            Shape::Instant => Scale::Micros,
            _ if values.iter().any(|value| value.contains(['e', 'E'])) => Scale::Real,
            _ => Scale::Decimals(
                values
                    .iter()
                    .filter_map(|value| value.split_once('.').map(|(_, decimals)| decimals.len()))
                    .max()
                    .unwrap_or(0),
            ),
        }
    }

    fn read(self, text: &str) -> Option<f64> {
        match self {
            Scale::Integer | Scale::Decimals(_) | Scale::Real => text.parse().ok(),
            Scale::Micros | Scale::Days => {
                let at = DateTime::parse_from_rfc3339(&instant(text)?).ok()?;
                let micros = at.timestamp_micros() as f64;
                Some(match self {
                    Scale::Days => (micros / 86_400e6).floor(),
                    _ => micros,
                })
            }
        }
    }

    /// The nearest value this scale can write.
    fn snap(self, value: f64) -> f64 {
        match self {
            Scale::Decimals(decimals) => {
                let factor = 10f64.powi(decimals as i32);
                (value * factor).round() / factor
            }
            Scale::Real => value,
            _ => value.round(),
        }
    }

    /// Whether the scale's values are whole steps (integers, days, microseconds).
    fn stepped(self) -> bool {
        !matches!(self, Scale::Real) && !matches!(self, Scale::Decimals(decimals) if decimals > 0)
    }

    fn write(self, value: f64) -> String {
        match self {
            Scale::Integer => format!("{}", value as i64),
            Scale::Decimals(decimals) => format!("{value:.decimals$}"),
            Scale::Real => format!("{value:e}"),
            Scale::Micros | Scale::Days => {
                let micros = match self {
                    Scale::Days => value * 86_400e6,
                    _ => value,
                };
                let at = DateTime::<Utc>::from_timestamp_micros(micros as i64).unwrap_or_default();
                match self {
                    Scale::Days => at.format("%Y-%m-%d").to_string(),
                    _ => at.format("%Y-%m-%d %H:%M:%S%.6f+00").to_string(),
                }
            }
        }
    }
}

/// Replaces the bounds and most common values of a number or instant column, and says
/// how.
pub(super) fn replace(
    stats: &mut ColumnStats,
    shape: Shape,
    is_date: bool,
    rng: &mut SeededRng,
) -> &'static str {
    let bounds_text = stats.histogram.clone().unwrap_or_default();
    let common_text = stats.mcv.clone().unwrap_or_default();
    let all: Vec<&String> = bounds_text.iter().chain(&common_text).collect();
    let scale = Scale::of(shape, is_date, &all);
    let (Some(bounds), Some(common)) =
        (read_all(scale, &bounds_text), read_all(scale, &common_text))
    else {
        // A value that does not read as the column's kind is left out by the fit.
        stats.histogram = None;
        stats.mcv = None;
        stats.mcf = None;
        return "its values did not read as its type: withheld (--anonymize)";
    };
    let moved = moved_bounds(&bounds, scale, rng);
    let (stand_ins, shuffled) = common_stand_ins(&bounds, &common, scale, rng);
    stats.histogram = stats
        .histogram
        .as_ref()
        .map(|_| moved.iter().map(|b| scale.write(*b)).collect());
    stats.mcv = stats
        .mcv
        .as_ref()
        .map(|_| stand_ins.iter().map(|v| scale.write(*v)).collect());
    match (shuffled, bounds.is_empty(), common.is_empty()) {
        (true, _, _) => {
            "its few values fill their range: kept, with which holds which share shuffled (--anonymize)"
        }
        (false, false, true) => "its histogram bounds are stand-ins near them (--anonymize)",
        (false, true, false) => "its most common values are stand-ins near them (--anonymize)",
        _ => "its histogram bounds and most common values are stand-ins near them (--anonymize)",
    }
}

fn read_all(scale: Scale, texts: &[String]) -> Option<Vec<f64>> {
    texts.iter().map(|text| scale.read(text)).collect()
}

/// Each bound at a random point between the midpoints to its neighbours (the first
/// and last within the range), other than where it was when there is room.
fn moved_bounds(bounds: &[f64], scale: Scale, rng: &mut SeededRng) -> Vec<f64> {
    let last = bounds.len().saturating_sub(1);
    (0..bounds.len())
        .map(|i| {
            let low = if i == 0 {
                bounds[0]
            } else {
                (bounds[i - 1] + bounds[i]) / 2.0
            };
            let high = if i == last {
                bounds[last]
            } else {
                (bounds[i] + bounds[i + 1]) / 2.0
            };
            let (low, high) = (snap_up(scale, low), snap_down(scale, high));
            if high <= low {
                return bounds[i];
            }
            (0..TRIES)
                .map(|_| scale.snap(rng.random_range(low..=high)).clamp(low, high))
                .find(|value| *value != bounds[i])
                .unwrap_or(bounds[i])
        })
        .collect()
}

/// The smallest value of the scale at or above `value`, and the largest at or below.
fn snap_up(scale: Scale, value: f64) -> f64 {
    let snapped = scale.snap(value);
    if snapped < value {
        snap_step(scale, snapped, 1.0)
    } else {
        snapped
    }
}

fn snap_down(scale: Scale, value: f64) -> f64 {
    let snapped = scale.snap(value);
    if snapped > value {
        snap_step(scale, snapped, -1.0)
    } else {
        snapped
    }
}

fn snap_step(scale: Scale, value: f64, direction: f64) -> f64 {
    match scale {
        Scale::Decimals(decimals) => scale.snap(value + direction * 10f64.powi(-(decimals as i32))),
        Scale::Real => value,
        _ => value + direction,
    }
}

/// A stand-in for each common value inside its bucket (or between it and the
/// nearest bound, outside the bounds), at a point no listed value, bound or other
/// stand-in takes; failing that, anywhere in the column's range; failing that (the
/// values fill the range), the values themselves shuffled, and `true`.
fn common_stand_ins(
    bounds: &[f64],
    common: &[f64],
    scale: Scale,
    rng: &mut SeededRng,
) -> (Vec<f64>, bool) {
    let mut taken: BTreeSet<u64> = bounds.iter().chain(common).map(|v| v.to_bits()).collect();
    let (lowest, highest) = bounds
        .iter()
        .chain(common)
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(low, high), v| {
            (low.min(*v), high.max(*v))
        });
    let mut stand_ins = Vec::new();
    for value in common {
        let (low, high) = bucket_around(bounds, *value);
        let found = free_point(low, high, scale, &taken, rng)
            .or_else(|| free_point(lowest, highest, scale, &taken, rng));
        let Some(found) = found else {
            let mut shuffled = common.to_vec();
            shuffled.shuffle(rng);
            return (shuffled, true);
        };
        taken.insert(found.to_bits());
        stand_ins.push(found);
    }
    (stand_ins, false)
}

/// The bucket of the bounds that holds `value`, or the stretch between it and the
/// nearest bound when it lies outside them.
fn bucket_around(bounds: &[f64], value: f64) -> (f64, f64) {
    match (bounds.first(), bounds.last()) {
        (Some(first), _) if value < *first => (value, *first),
        (_, Some(last)) if value > *last => (*last, value),
        (Some(_), Some(_)) => bounds
            .windows(2)
            .find(|pair| value >= pair[0] && value <= pair[1])
            .map_or((value, value), |pair| (pair[0], pair[1])),
        _ => (value, value),
    }
}

/// A point of the scale in `[low, high]` not in `taken`: drawn at random, or, for a
/// stepped scale with few points, picked among the free ones.
fn free_point(
    low: f64,
    high: f64,
    scale: Scale,
    taken: &BTreeSet<u64>,
    rng: &mut SeededRng,
) -> Option<f64> {
    let (low, high) = (snap_up(scale, low), snap_down(scale, high));
    if high < low {
        return None;
    }
    let free = |value: &f64| !taken.contains(&value.to_bits());
    if let Some(found) = (0..TRIES)
        .map(|_| scale.snap(rng.random_range(low..=high)).clamp(low, high))
        .find(free)
    {
        return Some(found);
    }
    if !scale.stepped() || high - low > 4096.0 {
        return None;
    }
    let points: Vec<f64> = (0..=(high - low) as u64)
        .map(|step| low + step as f64)
        .filter(free)
        .collect();
    (!points.is_empty()).then(|| points[rng.random_range(0..points.len())])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datagen::rng::stream;

    fn stats(mcv: &[&str], histogram: &[&str]) -> ColumnStats {
        ColumnStats {
            null_frac: 0.0,
            n_distinct: 100.0,
            avg_width: 8.0,
            correlation: None,
            mcv: Some(mcv.iter().map(|v| (*v).to_owned()).collect()),
            mcf: Some(vec![0.1; mcv.len()]),
            histogram: Some(histogram.iter().map(|v| (*v).to_owned()).collect()),
        }
    }

    #[test]
    fn bounds_move_within_half_a_bucket_and_common_values_within_theirs() {
        let mut rng = stream(1, "t", "c");
        let mut column = stats(&["150", "999"], &["100", "200", "300", "1000"]);
        replace(&mut column, Shape::Int, false, &mut rng);
        let bounds: Vec<i64> = column
            .histogram
            .unwrap()
            .iter()
            .map(|b| b.parse().unwrap())
            .collect();
        assert!(
            (100..=150).contains(&bounds[0]) && bounds[0] != 100,
            "{bounds:?}"
        );
        assert!(
            (150..=250).contains(&bounds[1]) && bounds[1] != 200,
            "{bounds:?}"
        );
        assert!(
            (650..=1000).contains(&bounds[3]) && bounds[3] != 1000,
            "{bounds:?}"
        );
        let common: Vec<i64> = column
            .mcv
            .unwrap()
            .iter()
            .map(|b| b.parse().unwrap())
            .collect();
        assert!(
            (100..=200).contains(&common[0]) && common[0] != 150,
            "{common:?}"
        );
        assert!(
            (300..=1000).contains(&common[1]) && common[1] != 999,
            "{common:?}"
        );
    }

    #[test]
    fn values_that_fill_their_range_are_shuffled_and_instants_stay_instants() {
        let mut rng = stream(1, "t", "c");
        let mut column = stats(&["0", "1", "2", "3"], &[]);
        column.histogram = None;
        let said = replace(&mut column, Shape::Int, false, &mut rng);
        assert!(said.contains("shuffled"), "{said}");
        let mut values = column.mcv.unwrap();
        values.sort();
        assert_eq!(values, ["0", "1", "2", "3"]);

        let mut at = stats(&[], &["2026-01-01 10:00:00.5+00", "2026-03-01 00:00:00+00"]);
        replace(&mut at, Shape::Instant, false, &mut rng);
        let moved = at.histogram.unwrap();
        assert!(
            moved[0].starts_with("2026-01") && instant(&moved[0]).is_some(),
            "{moved:?}"
        );
        let mut small = stats(&["2e-05"], &["1e-05", "5e-05"]);
        replace(&mut small, Shape::Float, false, &mut rng);
        let value: f64 = small.mcv.unwrap()[0].parse().unwrap();
        assert!(
            (1e-05..=5e-05).contains(&value) && value != 2e-05,
            "{value}"
        );
        let mut day = stats(&["2026-01-20"], &["2026-01-01", "2026-03-01"]);
        replace(&mut day, Shape::Instant, true, &mut rng);
        assert_eq!(day.mcv.unwrap()[0].len(), "2026-01-20".len());
    }
}
