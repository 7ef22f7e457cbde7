//! Writes a [`Fitted`] dataset as a dataset file a user can read and edit: every table
//! and column commented with what it was fitted from, and, for each table, what
//! statistics cannot say.

use std::fmt::Write;

use super::fit::{ChildRows, Fitted, FittedTable, GroupSize};

/// What per-column statistics never carry, said once per table.
const CANNOT_SAY: &str = "\
# What statistics cannot say, to add by hand: how columns go together (which rows
# are old, which states leave which columns NULL: group `columns` overrides and
# `when`; which rows a key picks: `within`). Check the plans of the queries you care
# about against production's.";

/// The dataset file's text.
pub fn render(fitted: &Fitted, command: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# Written by `{command}`");
    real_values(&mut out, fitted);
    let _ = writeln!(
        out,
        "# See docs/scenario-format.md, section 2, for every key; edit freely."
    );
    if !fitted.warnings.is_empty() {
        let _ = writeln!(out, "#\n# Before it loads:");
        for warning in &fitted.warnings {
            let _ = writeln!(out, "# - {warning}");
        }
    }
    out.push('\n');
    let tables: Vec<&str> = fitted.tables.iter().map(|t| t.name.as_str()).collect();
    let _ = writeln!(
        out,
        "description = {}",
        toml::Value::from(format!(
            "Fitted to production statistics of {}.",
            tables.join(", ")
        ))
    );
    let schemas: std::collections::BTreeSet<&str> = fitted
        .tables
        .iter()
        .map(|t| {
            t.name
                .rsplit_once('.')
                .map_or("public", |(schema, _)| schema)
        })
        .collect();
    // `--schema=public` makes pg_dump (15 and later) write `CREATE SCHEMA public`,
    // which every new database already has: with a table in `public`, every schema is
    // dumped instead, and a dump of all of them leaves `public` to the database.
    let only: String = match schemas.contains("public") {
        true => String::new(),
        false => schemas
            .iter()
            .map(|schema| format!(" --schema={schema}"))
            .collect(),
    };
    let _ = writeln!(
        out,
        "\n# Relative to this file. Dump the schema (its types, functions and tables) with\n#   pg_dump --schema-only --no-owner --no-privileges{only} > schema.sql\n# (the \\restrict lines of newer pg_dumps are skipped when it is applied).",
    );
    let schema: Vec<toml::Value> = fitted.schema.iter().map(|s| s.as_str().into()).collect();
    let _ = writeln!(out, "schema = {}", toml::Value::Array(schema));
    let _ = writeln!(out, "seed = {}", fitted.seed);
    let _ = writeln!(
        out,
        "# The day after the latest instant in the statistics: windows count back from it."
    );
    let _ = writeln!(out, "as_of = {}", toml::Value::from(fitted.as_of.clone()));
    let _ = writeln!(
        out,
        "scale_table = {}",
        toml::Value::from(fitted.scale_table.clone())
    );
    for table in &fitted.tables {
        out.push('\n');
        table_text(&mut out, table);
    }
    out
}

/// Where the file's values come from, and exactly which are production's own: the
/// statistics are read, never a row, but `pg_stats` lists rows' values.
fn real_values(out: &mut String, fitted: &Fitted) {
    let _ = writeln!(
        out,
        "# from the server's statistics (pg_class, pg_stats, the catalog), reading no row."
    );
    let header = match (fitted.anonymized, fitted.real_values.is_empty()) {
        (false, true) => "# Real values: none of production's values are in this file.",
        (false, false) => {
            "# Real values: pg_stats lists values of production's rows, and these columns copy\n# them as they are (--anonymize replaces them):"
        }
        (true, true) => {
            "# Real values: none; --anonymize generated every value and withheld the literals of\n# index definitions."
        }
        (true, false) => {
            "# Real values kept, as the schema needs them (--anonymize generated every other\n# value and withheld the literals of index definitions):"
        }
    };
    let _ = writeln!(out, "{header}");
    for real in &fitted.real_values {
        match real.values.is_empty() {
            true => {
                let _ = writeln!(out, "# - {}: {}", real.column, real.why);
            }
            false => {
                let _ = writeln!(
                    out,
                    "# - {}: {} ({})",
                    real.column,
                    real.values.join(", "),
                    real.why
                );
            }
        }
    }
}

fn table_text(out: &mut String, table: &FittedTable) {
    let _ = writeln!(out, "# {}", table.name);
    for note in &table.notes {
        let _ = writeln!(out, "# {note}");
    }
    let _ = writeln!(out, "{CANNOT_SAY}");
    let _ = writeln!(out, "[[table]]");
    let _ = writeln!(out, "name = {}", toml::Value::from(table.name.clone()));
    // A root table's groups may size it; a child table's only pick out children.
    let sized_by_groups = table.parent.is_none()
        && !table.groups.is_empty()
        && table
            .groups
            .iter()
            .all(|group| matches!(group.size, GroupSize::Rows(_)));
    match sized_by_groups {
        true => {
            let _ = writeln!(out, "# rows: the groups' rows add up to {}", table.rows);
        }
        false => {
            let _ = writeln!(out, "rows = {}", table.rows);
        }
    }
    if let Some(parent) = &table.parent {
        let _ = writeln!(out, "parent = {}", toml::Value::from(parent.clone()));
    }
    let (order, sorted_by) = &table.write_order;
    let _ = writeln!(out, "write_order = \"{order}\"");
    if let Some(column) = sorted_by {
        let _ = writeln!(out, "sorted_by = {}", toml::Value::from(column.clone()));
    }
    for column in &table.columns {
        let _ = writeln!(out, "# {}", column.note);
        let _ = writeln!(out, "columns.{} = {}", key(&column.name), column.generator);
    }
    for (column, reason) in &table.left_out {
        let _ = writeln!(out, "# {column}: left out, {reason}");
    }
    for group in &table.groups {
        let _ = writeln!(out, "\n# {}", group.note);
        let _ = writeln!(out, "[[table.group]]");
        let _ = writeln!(out, "name = \"{}\"", group.name);
        if let Some(under) = &group.under {
            let _ = writeln!(out, "under = \"{under}\"");
        }
        match group.size {
            GroupSize::Rows(rows) => {
                let _ = writeln!(out, "rows = {rows}");
            }
            GroupSize::Share(share) => {
                let _ = writeln!(out, "share = {share:?}");
            }
        }
        for (child, rows) in &group.children {
            let value = match rows {
                ChildRows::Count(count) => count.to_string(),
                ChildRows::Share(share) => format!("{{ share = {} }}", round6(*share)),
            };
            let _ = writeln!(out, "children.{} = {value}", key(child));
        }
    }
}

fn round6(value: f64) -> String {
    let rounded = (value * 1e6).round() / 1e6;
    format!("{rounded:?}")
}

/// A bare key when TOML allows one, else quoted.
fn key(name: &str) -> String {
    if !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        name.to_owned()
    } else {
        toml::Value::from(name.to_owned()).to_string()
    }
}
