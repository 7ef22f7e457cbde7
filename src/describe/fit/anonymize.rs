//! `--anonymize`: before anything is fitted, every value the statistics list is
//! replaced by a stand-in, but those a constraint needs. Kept: an enum's labels, the
//! values a CHECK's `IN` list names, and the columns `--keep-values` names; each is
//! said, with why, in the file's header. Replaced: text by text of the same shape
//! (each letter a random letter of its case, each digit a random digit, the rest kept,
//! so a check on the form, such as `LIKE '%@%'`, still holds); numbers and instants by
//! random points near them (`stand_ins`). Withheld: the literals of index definitions.
//! No stand-in equals a value it could be mistaken for (a listed value, a literal of
//! the table's indexes and checks). Key columns are left alone: their values are never
//! written, only the rows they point at.

use std::collections::BTreeSet;

use rand::RngExt;

use super::super::stats::{ColumnFacts, Table};
use super::values::{Shape, shape};
use super::{FitOptions, FittedTable, RealValues, literals, stand_ins};
use crate::datagen::rng::{SeededRng, stream};

/// Tries at a stand-in that differs from every value to avoid.
const TRIES: usize = 64;

/// The statistics with stand-ins, and what is kept and said of them.
pub(super) struct Anonymized {
    pub tables: Vec<Table>,
    /// The real values kept, by column, with why.
    pub kept: Vec<RealValues>,
    /// `(table, column, note)` for the columns whose values were replaced.
    pub column_notes: Vec<(String, String, String)>,
    /// `(table, note)`: which stand-in takes the place of a value an index names.
    pub table_notes: Vec<(String, String)>,
}

impl Anonymized {
    /// The statistics as they are, without `--anonymize`.
    pub fn untouched(tables: &[Table]) -> Anonymized {
        Anonymized {
            tables: tables.to_vec(),
            kept: Vec::new(),
            column_notes: Vec::new(),
            table_notes: Vec::new(),
        }
    }

    /// Adds the notes on what was replaced to the fitted tables and columns.
    pub fn annotate(&self, fitted: &mut [FittedTable]) {
        for (table, column, note) in &self.column_notes {
            let column = fitted
                .iter_mut()
                .filter(|t| t.name == *table)
                .flat_map(|t| t.columns.iter_mut())
                .find(|c| c.name == *column);
            if let Some(column) = column {
                column.note.push_str("; ");
                column.note.push_str(note);
            }
        }
        for (table, note) in &self.table_notes {
            if let Some(table) = fitted.iter_mut().find(|t| t.name == *table) {
                table.notes.push(note.clone());
            }
        }
    }
}

/// Replaces the values of `tables`' statistics but those a constraint needs.
pub(super) fn anonymized(tables: &[Table], options: &FitOptions) -> Anonymized {
    let mut result = Anonymized {
        tables: Vec::new(),
        kept: Vec::new(),
        column_notes: Vec::new(),
        table_notes: Vec::new(),
    };
    for table in tables {
        let mut table = table.clone();
        let avoid = table_literals(&table);
        let mut columns = std::mem::take(&mut table.columns);
        for column in &mut columns {
            anonymize_column(&table, column, &avoid, options, &mut result);
        }
        table.columns = columns;
        table.indexes = table
            .indexes
            .iter()
            .map(|index| literals::withheld(index))
            .collect();
        result.tables.push(table);
    }
    result
}

/// The literals of a table's index definitions and checks: no stand-in may equal one.
fn table_literals(table: &Table) -> BTreeSet<String> {
    table
        .indexes
        .iter()
        .chain(table.checks.iter().map(|check| &check.definition))
        .flat_map(|definition| literals::quoted(definition))
        .collect()
}

/// Keeps or replaces one column's values, recording which.
fn anonymize_column(
    table: &Table,
    column: &mut ColumnFacts,
    avoid: &BTreeSet<String>,
    options: &FitOptions,
    result: &mut Anonymized,
) {
    let is_key = table
        .foreign_keys
        .iter()
        .any(|key| key.columns.contains(&column.name));
    let shape = shape(column);
    let written = matches!(
        shape,
        Shape::Text | Shape::Int | Shape::Float | Shape::Instant
    );
    let Some(stats) = column.stats.as_mut().filter(|_| written && !is_key) else {
        return;
    };
    let qualified = format!("{}.{}", table.name, column.name);
    if let Some(why) = kept_because(table, &column.name, column.is_enum, &qualified, options) {
        let mut values: Vec<String> = stats.mcv.clone().unwrap_or_default();
        if shape != Shape::Text {
            values.extend(stats.histogram.clone().unwrap_or_default());
        }
        let mut seen = BTreeSet::new();
        values.retain(|value| seen.insert(value.clone()));
        if !values.is_empty() {
            result.kept.push(RealValues {
                column: qualified,
                values: values
                    .iter()
                    .map(|value| written_form(shape, value))
                    .collect(),
                why,
            });
        }
        return;
    }
    let mut rng = stream(
        options.seed,
        &table.name,
        &format!("#anonymize:{}", column.name),
    );
    let note = match shape {
        Shape::Text => {
            let replaced =
                text_stand_ins(stats.mcv.as_deref().unwrap_or_default(), avoid, &mut rng);
            note_named_values(table, &column.name, stats.mcv.as_deref(), &replaced, result);
            stats.mcv = stats.mcv.as_ref().map(|_| replaced);
            stats.histogram = None;
            "its most common values are stand-ins of the same shape (--anonymize)"
        }
        _ => stand_ins::replace(stats, shape, column.sql_type == "date", &mut rng),
    };
    result
        .column_notes
        .push((table.name.clone(), column.name.clone(), note.to_owned()));
}

/// Why a column's values are kept, if they are: `--keep-values`, an enum's labels, a
/// CHECK's `IN` list.
fn kept_because(
    table: &Table,
    column: &str,
    is_enum: bool,
    qualified: &str,
    options: &FitOptions,
) -> Option<String> {
    if options.keep_values.iter().any(|kept| kept == qualified) {
        return Some("--keep-values".into());
    }
    if is_enum {
        return Some("enum labels".into());
    }
    table
        .checks
        .iter()
        .find(|check| !literals::listed_values(check, column).is_empty())
        .map(|check| format!("named by the IN list of CHECK {}", check.name))
}

/// A value as the file writes it: text quoted as TOML does, numbers bare.
fn written_form(shape: Shape, value: &str) -> String {
    match shape {
        Shape::Int | Shape::Float => value.to_owned(),
        _ => toml::Value::from(value.to_owned()).to_string(),
    }
}

/// A stand-in for each value, distinct from one another and from every value to avoid.
fn text_stand_ins(values: &[String], avoid: &BTreeSet<String>, rng: &mut SeededRng) -> Vec<String> {
    let mut taken: BTreeSet<String> = avoid.iter().chain(values).cloned().collect();
    values
        .iter()
        .map(|value| {
            let stand_in = (0..TRIES)
                .map(|attempt| match attempt < TRIES / 2 {
                    true => same_shape(value, rng),
                    false => letters(value.chars().count() + attempt - TRIES / 2, rng),
                })
                .find(|candidate| !taken.contains(candidate))
                .unwrap_or_else(|| letters(value.chars().count() + TRIES, rng));
            taken.insert(stand_in.clone());
            stand_in
        })
        .collect()
}

/// `value` with each letter a random letter of its case and each digit a random digit;
/// other characters (punctuation, spaces) as they are.
fn same_shape(value: &str, rng: &mut SeededRng) -> String {
    value
        .chars()
        .map(|c| match c {
            'A'..='Z' => char::from(rng.random_range(b'A'..=b'Z')),
            '0'..='9' => char::from(rng.random_range(b'0'..=b'9')),
            c if c.is_alphabetic() => char::from(rng.random_range(b'a'..=b'z')),
            c => c,
        })
        .collect()
}

/// Random lowercase letters, at least one.
fn letters(length: usize, rng: &mut SeededRng) -> String {
    (0..length.max(1))
        .map(|_| char::from(rng.random_range(b'a'..=b'z')))
        .collect()
}

/// For each index whose definition names a value of `column` that was replaced, says
/// which stand-in takes its place, without the value: for the index to cover the rows
/// it covers in production, the user writes the value back in their copy.
fn note_named_values(
    table: &Table,
    column: &str,
    values: Option<&[String]>,
    stand_ins: &[String],
    result: &mut Anonymized,
) {
    for index in &table.indexes {
        let named = literals::quoted(index);
        for (value, stand_in) in values.unwrap_or_default().iter().zip(stand_ins) {
            if named.contains(value) {
                let name = index.split_whitespace().nth(2).unwrap_or("an index");
                result.table_notes.push((
                    table.name.clone(),
                    format!(
                        "The definition of {} names a value of {column} that --anonymize replaced: its stand-in here is {}; write the value in its place for the index to cover the rows it covers in production.",
                        name.trim_start_matches("INDEX "),
                        toml::Value::from(stand_in.clone())
                    ),
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_text_stand_in_keeps_the_shape_and_never_a_value_to_avoid() {
        let mut rng = stream(1, "t", "c");
        let values = vec!["secret-alice@example.com".to_owned(), "Bob 42".to_owned()];
        let avoid: BTreeSet<String> = ["secret@x".to_owned()].into();
        let stand_ins = text_stand_ins(&values, &avoid, &mut rng);
        assert_eq!(stand_ins[0].len(), values[0].len());
        assert!(stand_ins[0].contains('@') && stand_ins[0].contains('-'));
        assert_ne!(stand_ins[0], values[0]);
        let bob: Vec<char> = stand_ins[1].chars().collect();
        assert!(bob[0].is_ascii_uppercase() && bob[3] == ' ' && bob[4].is_ascii_digit());
        // A value with nothing to vary becomes letters.
        let dash = text_stand_ins(&["-".to_owned()], &BTreeSet::new(), &mut rng);
        assert!(dash[0].chars().all(|c| c.is_ascii_lowercase()), "{dash:?}");
    }
}
