//! Each table's columns: which are left out (identity, generated, unfillable keys,
//! types no generator gives) and why, the `reference` of each key (a `zipf` pick when
//! skewed), and for the others the generator `values` fits; then the table's notes
//! and write order.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::super::stats::{ColumnFacts, ColumnStats, Table};
use super::links::{Keys, Link};
use super::parents::column;
use super::skew::{Skew, distinct};
use super::values::{Shape, fit_values, shape};
use super::{
    FitOptions, FittedColumn, FittedTable, format_count, inline, insert, literals, order, percent,
    round,
};

/// One table fitted: its columns, notes, rows and write order (its groups come later).
/// A NOT NULL column left out adds a warning, as the file does not load without it.
pub(super) fn fit_table(
    table: &Table,
    keys: &Keys,
    parents: &BTreeMap<String, Link>,
    as_of: &DateTime<Utc>,
    options: &FitOptions,
    warnings: &mut Vec<String>,
) -> FittedTable {
    let (mut columns, left_out) = fit_columns(table, keys, parents, options);
    for (name, reason) in &left_out {
        let facts = column(table, name);
        if facts.is_some_and(|c| c.not_null && !c.has_default && !c.identity && !c.generated) {
            warnings.push(format!(
                "{}.{name} is NOT NULL and left out ({reason}): the file does not load until you give it a generator, or drop NOT NULL in the schema plancheck loads",
                table.name
            ));
        }
    }
    let mut notes = vec![format!(
        "Fitted from pg_class.reltuples = {} and pg_stats (analyzed {}).",
        table.rows.round(),
        table.analyzed
    )];
    if table.rows < 0.5 {
        notes.push(
            "The table was empty when analyzed: rows = 1, the least a dataset can say.".into(),
        );
    }
    pattern_warnings(table, &columns, options.anonymize, warnings);
    let write_order = order::write_order(table, &mut columns, as_of, &mut notes);
    notes.extend(table.indexes.iter().map(|index| format!("  {index}")));
    FittedTable {
        name: table.name.clone(),
        notes,
        rows: (table.rows.round() as u64).max(1),
        parent: parents.get(&table.name).map(|link| link.to_table.clone()),
        write_order,
        columns,
        left_out,
        groups: Vec::new(),
    }
}

/// Warns of each CHECK that holds a text column to a pattern (`LIKE`, a regular
/// expression) its generated values may not follow: the file would not load.
fn pattern_warnings(
    table: &Table,
    columns: &[FittedColumn],
    anonymized: bool,
    warnings: &mut Vec<String>,
) {
    for column in columns {
        for check in &table.checks {
            let patterns = literals::patterns(check, &column.name);
            if patterns.is_empty() || follows(&column.generator, &patterns, anonymized) {
                continue;
            }
            warnings.push(format!(
                "{}.{}: CHECK {} holds it to a pattern (LIKE or a regular expression) that not every generated value follows: the rows break it until the column's generator gives only values that do (a `choice` of them, a `template`, a `hex` with a `prefix`)",
                table.name, column.name, check.name
            ));
        }
    }
}

/// Whether every value `generator` gives follows `patterns`: a `choice` without
/// `others`, of production's own values (which met the CHECK there) or of values every
/// `LIKE` matches.
fn follows(generator: &toml::Value, patterns: &[literals::Pattern], anonymized: bool) -> bool {
    let is_choice = generator.get("kind").and_then(toml::Value::as_str) == Some("choice")
        && generator.get("others").is_none();
    let Some(values) = generator
        .get("values")
        .and_then(toml::Value::as_array)
        .filter(|_| is_choice)
    else {
        return false;
    };
    patterns.iter().all(|pattern| match pattern {
        literals::Pattern::Like {
            pattern,
            insensitive,
        } => values.iter().all(|value| {
            value
                .as_str()
                .is_some_and(|text| literals::like(text, pattern, *insensitive))
        }),
        literals::Pattern::Other => !anonymized,
    })
}

/// The generators of `table`'s columns, and the columns left out with why.
fn fit_columns(
    table: &Table,
    keys: &Keys,
    parents: &BTreeMap<String, Link>,
    options: &FitOptions,
) -> (Vec<FittedColumn>, Vec<(String, String)>) {
    let own_links = &keys.links[&table.name];
    let forced = composite_key_columns(table, own_links);
    let mut columns = Vec::new();
    let mut left_out = Vec::new();
    for facts in &table.columns {
        let mut column = facts.clone();
        column.unique |= forced.contains(&column.name);
        if column.identity && referenced(keys, &table.name, &column.name) {
            columns.push(FittedColumn {
                name: column.name.clone(),
                generator: "sequence".into(),
                note: "an identity key other tables reference: numbered here (COPY writes it; the server's identity sequence is not advanced, so setval it before inserting more rows)".into(),
                copied: None,
            });
            continue;
        }
        if let Some(why) = keys.unkeyed(&table.name, &column.name) {
            left_out.push((column.name.clone(), why.clone()));
            continue;
        }
        let link = own_links.iter().find(|link| link.column == column.name);
        match fit_column(
            table,
            &column,
            link,
            parents.get(&table.name),
            keys,
            options,
        ) {
            Ok(mut generator) => {
                if forced.contains(&column.name) {
                    generator
                        .note
                        .push_str("; made unique: it keeps a key of several columns unique");
                }
                columns.push(generator)
            }
            Err(reason) => left_out.push((column.name.clone(), reason)),
        }
    }
    (columns, left_out)
}

/// Whether another table's key points at `table.column`: generated even when the
/// server would number it, since the referencing rows need its values.
fn referenced(keys: &Keys, table: &str, column: &str) -> bool {
    keys.links
        .values()
        .flatten()
        .any(|link| link.to_table == table && link.to_column == column)
}

/// The column's generator, or why it is left out.
fn fit_column(
    table: &Table,
    column: &ColumnFacts,
    link: Option<&Link>,
    parent: Option<&Link>,
    keys: &Keys,
    options: &FitOptions,
) -> Result<FittedColumn, String> {
    if column.generated {
        return Err("a generated column: the server computes it".into());
    }
    if column.identity {
        return Err("an identity column: the server numbers it".into());
    }
    let Some(stats) = &column.stats else {
        if !column.not_null || column.has_default {
            return Err(
                "no statistics (added since the last ANALYZE?), and it may be NULL or has a default"
                    .into(),
            );
        }
        return Ok(FittedColumn {
            name: column.name.clone(),
            generator: by_type_alone(column),
            note: "no statistics: fitted by its type alone; write its generator by hand".into(),
            copied: None,
        });
    };
    let mut note = describe_stats(stats, table.rows);
    let (mut generator, copied) = match link {
        Some(link) => (reference(table, stats, link, parent, keys, &mut note), None),
        None => fit_values(table, column, stats, options, &mut note)?,
    };
    if stats.null_frac > 0.0 && !column.not_null {
        insert(
            &mut generator,
            "null_fraction",
            round(stats.null_frac, 4).into(),
        );
    }
    Ok(FittedColumn {
        name: column.name.clone(),
        generator,
        note,
        copied,
    })
}

/// A key column's `reference`: the parent key (its skew in the parent's groups), or a
/// pick among the referenced rows, `zipf` when a value is heavy.
fn reference(
    table: &Table,
    stats: &ColumnStats,
    link: &Link,
    parent: Option<&Link>,
    keys: &Keys,
    note: &mut String,
) -> toml::Value {
    let mut reference = inline(&[
        ("kind", "reference".into()),
        ("to", format!("{}.{}", link.to_table, link.to_column).into()),
    ]);
    if let Some(parent) = parent.filter(|p| p.column == link.column) {
        note.push_str(match parent.skewed {
            true => "; the parent key: its skew is in the parent's groups",
            false => "; the parent key: it reaches every parent row, so each gets rows",
        });
        return reference;
    }
    let skew = Skew::of(stats, table.rows);
    let candidates = keys
        .rows
        .get(&link.to_table)
        .copied()
        .unwrap_or(skew.distinct);
    if let Some(exponent) = zipf_exponent(&skew, candidates) {
        insert(&mut reference, "pick", "zipf".into());
        insert(&mut reference, "exponent", round(exponent, 2).into());
        note.push_str("; skewed: the most common values fitted as a zipf pick");
    }
    reference
}

/// One line on what `pg_stats` says of a column.
fn describe_stats(stats: &ColumnStats, rows: f64) -> String {
    let skew = Skew::of(stats, rows);
    let covered: f64 = skew.common.iter().map(|(_, f)| f).sum();
    let mut parts = vec![format!("~{} distinct", format_count(distinct(stats, rows)))];
    if stats.null_frac > 0.0 {
        parts.push(format!("{} NULL", percent(stats.null_frac)));
    }
    if !skew.common.is_empty() {
        parts.push(format!(
            "{} common values cover {}",
            skew.common.len(),
            percent(covered)
        ));
    }
    if let Some(correlation) = stats.correlation {
        parts.push(format!("correlation {correlation:.2}"));
    }
    parts.push(format!("width {}", stats.avg_width));
    parts.join(", ")
}

/// The exponent of a zipf pick over the referenced table's `candidates` rows whose
/// most frequent value has the share the statistics give it, when a value is heavy at
/// all. Ranks after the first follow the zipf curve, not the statistics: a reference
/// cannot weigh rows one by one.
fn zipf_exponent(skew: &Skew, candidates: f64) -> Option<f64> {
    let (_, top) = skew.heavy().first().cloned()?;
    let values = candidates.round().clamp(2.0, 10_000_000.0) as usize;
    let top = top / skew.non_null().max(f64::MIN_POSITIVE);
    let top_share = |exponent: f64| 1.0 / harmonic(values, exponent);
    if top <= top_share(0.0) {
        return None;
    }
    let (mut low, mut high) = (0.0, 8.0);
    for _ in 0..50 {
        let middle = (low + high) / 2.0;
        if top_share(middle) < top {
            low = middle;
        } else {
            high = middle;
        }
    }
    Some(high)
}

/// The generalized harmonic number H(n, s) = Σ k^-s for k in 1..=n: summed for the
/// first thousand terms, the rest by the integral (close for smooth tails).
fn harmonic(n: usize, exponent: f64) -> f64 {
    let exact = n.min(1_000);
    let head: f64 = (1..=exact).map(|k| (k as f64).powf(-exponent)).sum();
    if n <= exact {
        return head;
    }
    let (from, to) = (exact as f64 + 0.5, n as f64 + 0.5);
    let tail = if (exponent - 1.0).abs() < 1e-9 {
        (to / from).ln()
    } else {
        (to.powf(1.0 - exponent) - from.powf(1.0 - exponent)) / (1.0 - exponent)
    };
    head + tail
}

/// The columns to make unique so that each key of several columns stays unique: for a
/// key none of whose columns is unique alone, its last column that is not a foreign
/// key and has a kind that can be numbered (an integer, a uuid, text).
fn composite_key_columns(table: &Table, links: &[Link]) -> Vec<String> {
    let mut forced = Vec::new();
    for key in &table.unique_keys {
        let columns: Vec<&ColumnFacts> =
            key.iter().filter_map(|name| column(table, name)).collect();
        if columns.iter().any(|c| c.unique || forced.contains(&c.name)) {
            continue;
        }
        let numbered = columns.iter().rev().find(|c| {
            !links.iter().any(|link| link.column == c.name)
                && matches!(shape(c), Shape::Int | Shape::Uuid | Shape::Text)
                && !c.is_enum
        });
        if let Some(chosen) = numbered {
            forced.push(chosen.name.clone());
        }
    }
    forced
}

/// A generator for a column with no statistics, from its type alone.
fn by_type_alone(column: &ColumnFacts) -> toml::Value {
    match shape(column) {
        Shape::Int => inline(&[
            ("kind", "int".into()),
            ("range", toml::Value::Array(vec![1.into(), 1000.into()])),
        ]),
        Shape::Float => inline(&[
            ("kind", "float".into()),
            ("range", toml::Value::Array(vec![0.into(), 1000.into()])),
        ]),
        Shape::Instant => inline(&[
            ("kind", "timestamp".into()),
            ("days_ago", toml::Value::Array(vec![0.into(), 365.into()])),
        ]),
        Shape::Bool => "bool".into(),
        Shape::Uuid => "uuid".into(),
        Shape::Json => inline(&[
            ("kind", "literal".into()),
            ("value", toml::Value::Table(toml::Table::new())),
        ]),
        Shape::Text | Shape::Other => inline(&[("kind", "hex".into()), ("bytes", 8.into())]),
    }
}
