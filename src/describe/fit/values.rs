//! The generator of a column that is no foreign key, by the kind of value its type
//! takes: generated uuids, a `bool` probability, a `sequence` for numbered integers,
//! a `choice` or `histogram` of the statistics' values for numbers and instants, one
//! key of the average width for documents, and text (`text`).

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};

use super::super::stats::{ColumnFacts, ColumnStats, Table};
use super::histogram::{choice, histogram_with_common};
use super::skew::Skew;
use super::{FitOptions, inline, round, text};
use crate::datagen::rng::stream;

/// Most common values covering this much of the non-NULL rows leave no remainder
/// worth generating: a `choice` of them alone.
pub(super) const MCV_COVERS_ALL: f64 = 0.995;

/// What a generator holds of the statistics as they are, for the file's header.
pub(super) const COMMON_VALUES: &str = "most common values";
const BOUNDS: &str = "histogram bounds";
const BOUNDS_AND_COMMON: &str = "histogram bounds and most common values";
const FIRST_BOUND: &str = "the smallest histogram bound, where its numbering starts";

/// A generator, and which of the statistics' values it holds as they are.
pub(super) type Fit = (toml::Value, Option<&'static str>);

/// The kind of value a column's type takes, as the statistics' text is read.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Shape {
    Int,
    Float,
    Instant,
    Bool,
    Uuid,
    Json,
    Text,
    Other,
}

pub(super) fn shape(column: &ColumnFacts) -> Shape {
    let sql = column.sql_type.as_str();
    match column.category.as_str() {
        _ if matches!(sql, "smallint" | "integer" | "bigint") => Shape::Int,
        "N" => Shape::Float,
        _ if sql.starts_with("timestamp") || sql == "date" => Shape::Instant,
        "B" => Shape::Bool,
        _ if sql == "uuid" => Shape::Uuid,
        _ if sql == "json" || sql == "jsonb" => Shape::Json,
        "S" | "E" => Shape::Text,
        _ => Shape::Other,
    }
}

/// The generator of a column that is no foreign key, or why it is left out.
pub(super) fn fit_values(
    table: &Table,
    column: &ColumnFacts,
    stats: &ColumnStats,
    options: &FitOptions,
    note: &mut String,
) -> Result<Fit, String> {
    let skew = Skew::of(stats, table.rows);
    let histogram = stats.histogram.clone().unwrap_or_default();
    match shape(column) {
        Shape::Uuid => Ok((uuids(table, column, &skew, options, note), None)),
        Shape::Bool => Ok((probability(&skew, stats), None)),
        // Every row its own value (n_distinct near -1) packed in a range about as wide
        // as the rows (an id without a key): numbered too, as draws over the range
        // would repeat a third of them. Sparse values (prices) stay a histogram.
        Shape::Int
            if column.unique || (stats.n_distinct <= -0.95 && packed(&histogram, table.rows)) =>
        {
            Ok(sequence(column, &histogram, table.rows, note))
        }
        shape @ (Shape::Int | Shape::Float | Shape::Instant) => {
            numbers(shape, column, &skew, &histogram)
        }
        Shape::Json => Ok((document(stats, note), None)),
        Shape::Text => text::fit_text(table, column, stats, &skew, note),
        Shape::Other => Err(format!(
            "type {}: no generator gives its values (docs/scenario-format.md 2.8); in the schema plancheck loads, declare it text or let it be NULL",
            column.sql_type
        )),
    }
}

/// Fresh uuids, or a `choice` of generated ones standing for a few listed values that
/// cover (nearly) every row.
fn uuids(
    table: &Table,
    column: &ColumnFacts,
    skew: &Skew,
    options: &FitOptions,
    note: &mut String,
) -> toml::Value {
    let covered =
        skew.common.iter().map(|(_, f)| f).sum::<f64>() / skew.non_null().max(f64::EPSILON);
    if column.unique || skew.common.is_empty() || covered < MCV_COVERS_ALL {
        return "uuid".into();
    }
    let mut rng = stream(options.seed, &table.name, &column.name);
    let values = skew
        .common
        .iter()
        .map(|_| toml::Value::String(crate::datagen::rng::uuid_from(&mut rng).to_string()))
        .collect();
    note.push_str("; its few values are replaced by generated ones");
    choice(values, &skew.common)
}

/// A `bool` true as often as the statistics say.
fn probability(skew: &Skew, stats: &ColumnStats) -> toml::Value {
    let non_null = (1.0 - stats.null_frac).max(f64::EPSILON);
    let truth = skew
        .common
        .iter()
        .find(|(value, _)| value == "true" || value == "t")
        .map(|(_, f)| f / non_null)
        .unwrap_or(0.0);
    inline(&[
        ("kind", "bool".into()),
        ("probability", round(truth, 4).into()),
    ])
}

/// A `sequence` for integers that number their rows. Keys far from 1 (ids from a
/// shared sequence) start near their smallest; otherwise at 1, as the histogram's
/// first bound is only a sample's.
fn sequence(column: &ColumnFacts, histogram: &[String], rows: f64, note: &mut String) -> Fit {
    let first = histogram
        .first()
        .and_then(|first| first.parse::<i64>().ok())
        .filter(|first| *first as f64 > 2.0 * rows);
    note.push_str(match column.unique {
        true => "; unique: a sequence",
        false => "; every row its own value: a sequence",
    });
    let generator = inline(&[
        ("kind", "sequence".into()),
        ("start", first.unwrap_or(1).into()),
    ]);
    (generator, first.map(|_| FIRST_BOUND))
}

/// A `histogram` of the bounds with the most common values as buckets of their own, or
/// a `choice` of the most common values when they cover (nearly) every row.
fn numbers(
    shape: Shape,
    column: &ColumnFacts,
    skew: &Skew,
    histogram: &[String],
) -> Result<Fit, String> {
    let read = |text: &str| read_value(shape, column, text);
    let covered =
        skew.common.iter().map(|(_, f)| f).sum::<f64>() / skew.non_null().max(f64::EPSILON);
    if histogram.len() < 2 || covered >= MCV_COVERS_ALL {
        if skew.common.is_empty() {
            return Err(match histogram.len() {
                0 => "no value statistics (every row NULL?)".into(),
                _ => "a single value in the histogram; write it as a literal".into(),
            });
        }
        let values = skew
            .common
            .iter()
            .map(|(value, _)| read(value))
            .collect::<Result<Vec<_>, _>>()?;
        return Ok((choice(values, &skew.common), Some(COMMON_VALUES)));
    }
    let bounds = histogram
        .iter()
        .map(|b| read(b))
        .collect::<Result<Vec<_>, _>>()?;
    let common = skew
        .common
        .iter()
        .map(|(value, share)| Ok((read(value)?, *share)))
        .collect::<Result<Vec<_>, String>>()?;
    let copied = match common.is_empty() {
        true => BOUNDS,
        false => BOUNDS_AND_COMMON,
    };
    Ok((
        histogram_with_common(&bounds, &common, skew.rest),
        Some(copied),
    ))
}

/// A document of one key of about the column's width: the structure of documents is
/// not in the statistics.
fn document(stats: &ColumnStats, note: &mut String) -> toml::Value {
    let width = (stats.avg_width - 1.0).max(1.0);
    let bytes = ((width - 10.0) / 2.0).round().clamp(1.0, 1024.0) as i64;
    note.push_str("; documents' structure is not in the statistics: one key of that width");
    inline(&[
        ("kind", "json".into()),
        (
            "value",
            inline(&[(
                "v",
                inline(&[("kind", "hex".into()), ("bytes", bytes.into())]),
            )]),
        ),
    ])
}

/// Whether integer histogram bounds span no more than twice `rows` values.
fn packed(histogram: &[String], rows: f64) -> bool {
    let bound = |text: Option<&String>| text.and_then(|t| t.parse::<i64>().ok());
    match (bound(histogram.first()), bound(histogram.last())) {
        (Some(low), Some(high)) => ((high - low) as f64) <= 2.0 * rows,
        _ => false,
    }
}

/// A statistics value as TOML of the column's kind.
fn read_value(shape: Shape, column: &ColumnFacts, text: &str) -> Result<toml::Value, String> {
    let wrong = || {
        format!(
            "{} value {text:?} does not read as {}",
            column.name, column.sql_type
        )
    };
    match shape {
        Shape::Int => text
            .parse::<i64>()
            .map(toml::Value::from)
            .map_err(|_| wrong()),
        Shape::Float => text
            .parse::<f64>()
            .map(toml::Value::from)
            .map_err(|_| wrong()),
        Shape::Instant => instant(text).map(toml::Value::from).ok_or_else(wrong),
        _ => Ok(text.into()),
    }
}

/// An ISO-style timestamp as `pg_stats` prints it (DateStyle ISO, TimeZone UTC) in
/// RFC 3339.
pub(super) fn instant(text: &str) -> Option<String> {
    let text = text.trim();
    if let Ok(with_zone) = DateTime::parse_from_str(&format!("{text}00"), "%Y-%m-%d %H:%M:%S%.f%z")
    {
        return Some(rfc3339(with_zone.with_timezone(&Utc)));
    }
    if let Ok(naive) = NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f") {
        return Some(rfc3339(naive.and_utc()));
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .map(|date| rfc3339(date.and_hms_opt(0, 0, 0).expect("midnight").and_utc()))
}

pub(super) fn rfc3339(instant: DateTime<Utc>) -> String {
    instant.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_read_in_every_form_pg_stats_prints() {
        assert_eq!(
            instant("2026-05-31 12:00:01.5+00").unwrap(),
            "2026-05-31T12:00:01.500Z"
        );
        assert_eq!(
            instant("2026-05-31 12:00:01").unwrap(),
            "2026-05-31T12:00:01Z"
        );
        assert_eq!(instant("2026-05-31").unwrap(), "2026-05-31T00:00:00Z");
    }
}
