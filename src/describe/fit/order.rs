//! The heap's order and the dataset's "now": `sorted` by a timestamp the heap follows
//! (its generator becomes a window), else `scattered`; `as_of` the day after the latest
//! instant the statistics hold.

use chrono::{DateTime, Utc};

use super::super::stats::{ColumnStats, Table};
use super::skew::distinct;
use super::values::{Shape, instant, rfc3339, shape};
use super::{FittedColumn, inline, insert, round};

/// Correlation at or past which a timestamp is taken to follow the heap's order.
const SORTED_CORRELATION: f64 = 0.9;
/// Distinct values a column needs for its correlation to speak of the heap's order.
const ORDERING_DISTINCT: f64 = 1000.0;
/// Correlation from which a column the heap follows is named as lost.
const FOLLOWED_CORRELATION: f64 = 0.3;

/// The heap order: `sorted` by a timestamp whose correlation is near 1 (its generator
/// becomes the window `sorted_by` needs), else `scattered`, with a note naming the
/// columns the heap followed in part, which no write order reproduces.
pub(super) fn write_order(
    table: &Table,
    columns: &mut [FittedColumn],
    as_of: &DateTime<Utc>,
    notes: &mut Vec<String>,
) -> (&'static str, Option<String>) {
    let correlated = table
        .columns
        .iter()
        .filter(|column| shape(column) == Shape::Instant && !column.unique)
        .filter_map(|column| Some((column, column.stats.as_ref()?.correlation?)))
        .max_by(|a, b| a.1.total_cmp(&b.1));
    if let Some((column, correlation)) = correlated
        && correlation >= SORTED_CORRELATION
        && let Some(fitted) = columns.iter_mut().find(|c| c.name == column.name)
        && let Some(window) = window_of(column.stats.as_ref(), as_of)
    {
        fitted.generator = window;
        fitted.copied = None;
        fitted.note.push_str(
            "; the heap follows it: a window (sorted_by needs one), its spread from the histogram",
        );
        return ("sorted", Some(column.name.clone()));
    }
    let followed = followed(table);
    if !followed.is_empty() {
        notes.push(format!(
            "The heap partly follows {}: only an ascending timestamp at 0.9 or more can be written (sorted); this is written scattered, and index walks on those columns will cost more than in production.",
            followed.join(", ")
        ));
    }
    ("scattered", None)
}

/// The columns the heap partly follows, with their correlation. A column of few values
/// correlates with anything through its ties, and a numbered key follows any write
/// order: neither says what the order was.
fn followed(table: &Table) -> Vec<String> {
    table
        .columns
        .iter()
        .filter(|column| !(column.identity || column.unique && shape(column) == Shape::Int))
        .filter_map(|column| {
            let stats = column.stats.as_ref()?;
            let correlation = stats.correlation?;
            (distinct(stats, table.rows) >= ORDERING_DISTINCT
                && correlation.abs() >= FOLLOWED_CORRELATION)
                .then(|| format!("{} ({correlation:.2})", column.name))
        })
        .collect()
}

/// A `days_ago` window spanning a timestamp column's histogram, `recent` or `old`
/// when most of its buckets sit in one half.
fn window_of(stats: Option<&ColumnStats>, as_of: &DateTime<Utc>) -> Option<toml::Value> {
    let bounds: Vec<DateTime<Utc>> = stats?
        .histogram
        .as_ref()?
        .iter()
        .filter_map(|b| instant(b))
        .filter_map(|b| DateTime::parse_from_rfc3339(&b).ok())
        .map(|b| b.with_timezone(&Utc))
        .collect();
    let (first, last) = (*bounds.first()?, *bounds.last()?);
    let days = |t: DateTime<Utc>| (*as_of - t).num_seconds() as f64 / 86_400.0;
    let (recent, oldest) = (days(last).max(0.0), days(first));
    if oldest <= recent {
        return None;
    }
    let middle = first + (last - first) / 2;
    let recent_half = bounds.iter().filter(|b| **b >= middle).count() as f64 / bounds.len() as f64;
    let mut window = inline(&[
        ("kind", "timestamp".into()),
        (
            "days_ago",
            toml::Value::Array(vec![round(recent, 3).into(), round(oldest, 3).into()]),
        ),
    ]);
    if recent_half > 0.65 {
        insert(&mut window, "spread", "recent".into());
    } else if recent_half < 0.35 {
        insert(&mut window, "spread", "old".into());
    }
    Some(window)
}

/// `as_of`: the day after the latest instant any timestamp histogram holds, so that
/// windows count back from the data's own "now"; or a fixed day with none.
pub(super) fn as_of(tables: &[Table]) -> String {
    let latest = tables
        .iter()
        .flat_map(|table| &table.columns)
        .filter(|column| shape(column) == Shape::Instant)
        .filter_map(|column| column.stats.as_ref()?.histogram.as_ref()?.last().cloned())
        .filter_map(|text| instant(&text))
        .filter_map(|text| DateTime::parse_from_rfc3339(&text).ok())
        .map(|t| t.with_timezone(&Utc))
        .max();
    match latest {
        Some(latest) => rfc3339(
            (latest.date_naive() + chrono::Days::new(1))
                .and_hms_opt(0, 0, 0)
                .expect("midnight")
                .and_utc(),
        ),
        None => "2026-01-01T00:00:00Z".into(),
    }
}
