//! Dataset files: the shape of the data, for any schema. Parsed strictly, then checked
//! once into a [`DatasetModel`] that the generator runs: every table, parent, group,
//! column and reference resolved; every error names the file, line, key and value.
//! Column types are not written here: the loader reads them from the catalog.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use indexmap::IndexMap;
use serde::Deserialize;
use toml::Spanned;

use super::{Fixture, Reporter, parse_toml_text, read_text, resolve_fixture};
use crate::datagen::generators::{self, Reads, Scope, TableSignature};
use crate::datagen::layout::{ChildCount, CountSpec, Split};
use crate::datagen::order::WriteOrder;
use crate::datagen::value::{Value, ValueKind};
use crate::datagen::{ColumnModel, Condition, DatasetModel, GroupModel, GroupSize, TableModel};
use crate::error::Result;

/// A validated dataset description.
#[derive(Debug, Clone)]
pub struct Dataset {
    pub path: PathBuf,
    pub description: String,
    /// Schema fixtures in the order they are applied.
    pub schema: Vec<Fixture>,
    /// The model the generator runs.
    pub model: DatasetModel,
    /// Default rows of the scale table; `--scale` overrides it.
    pub default_scale: u64,
    /// Every generator and the kind it produces, for the type check against the
    /// catalog: `(table, column, kind, where it is declared)`.
    pub generated_kinds: Vec<(usize, usize, ValueKind, String)>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DatasetFile {
    description: String,
    schema: Vec<String>,
    seed: u64,
    as_of: String,
    scale_table: String,
    #[serde(rename = "table")]
    tables: Vec<Spanned<TableEntry>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TableEntry {
    name: String,
    rows: Option<u64>,
    parent: Option<String>,
    per_parent: Option<Spanned<toml::Value>>,
    split: Option<Spanned<toml::Value>>,
    #[serde(default)]
    write_order: Option<Spanned<String>>,
    sorted_by: Option<String>,
    shuffle_window: Option<usize>,
    columns: IndexMap<String, Spanned<toml::Value>>,
    #[serde(rename = "group", default)]
    groups: Vec<Spanned<GroupEntry>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupEntry {
    name: String,
    rows: Option<u64>,
    share: Option<f64>,
    #[serde(default)]
    children: IndexMap<String, Spanned<toml::Value>>,
    #[serde(default)]
    columns: IndexMap<String, Spanned<toml::Value>>,
}

impl Dataset {
    /// Reads and validates a dataset file.
    pub fn load(path: &Path) -> Result<Dataset> {
        let text = read_text(path)?;
        let raw: DatasetFile = parse_toml_text(path, &text)?;
        validate(&Reporter { path, text: &text }, raw)
    }

    /// The rows `--scale` sets: the scale table's name.
    pub fn scale_table(&self) -> &str {
        &self.model.tables[self.model.scale_table].name
    }

    /// The index of `table`.
    pub fn table(&self, table: &str) -> Option<usize> {
        self.model.tables.iter().position(|t| t.name == table)
    }
}

fn validate(report: &Reporter, raw: DatasetFile) -> Result<Dataset> {
    if raw.schema.is_empty() {
        return Err(report.key("schema", "lists no fixture; name at least one SQL file"));
    }
    let schema = raw
        .schema
        .iter()
        .map(|relative| {
            let path = resolve_fixture(report.path, "schema", relative)?;
            Ok(Fixture {
                sql: read_text(&path)?,
                path,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let as_of = DateTime::parse_from_rfc3339(&raw.as_of)
        .map_err(|error| {
            report.key(
                "as_of",
                format!("{:?} is not an RFC 3339 instant ({error}); write it like \"2026-06-01T00:00:00Z\"", raw.as_of),
            )
        })?
        .with_timezone(&Utc);
    if raw.tables.is_empty() {
        return Err(report.key("table", "no [[table]] is declared"));
    }
    check_table_order(report, &raw.tables)?;

    let mut tables: Vec<TableModel> = Vec::new();
    let mut kinds = Vec::new();
    for entry in &raw.tables {
        let table = table_model(report, entry, &tables, as_of, &mut kinds)?;
        tables.push(table);
    }
    for (index, entry) in raw.tables.iter().enumerate() {
        let groups = entry
            .get_ref()
            .groups
            .iter()
            .map(|group| group_model(report, group, index, &tables, as_of, &mut kinds))
            .collect::<Result<Vec<_>>>()?;
        tables[index].groups = groups;
    }
    check_shares(report, &tables)?;
    mark_reads(&mut tables);

    let scale_table = tables
        .iter()
        .position(|t| t.name == raw.scale_table)
        .ok_or_else(|| {
            report.key(
                "scale_table",
                format!("{:?} is not a declared table", raw.scale_table),
            )
        })?;
    let default_scale = tables[scale_table].rows.ok_or_else(|| {
        report.key(
            "scale_table",
            format!("table {:?} declares no rows, so --scale cannot set them; name a table with rows = N", raw.scale_table),
        )
    })?;
    Ok(Dataset {
        path: report.path.to_owned(),
        description: raw.description,
        schema,
        model: DatasetModel {
            seed: raw.seed,
            as_of,
            scale_table,
            tables,
        },
        default_scale,
        generated_kinds: kinds,
    })
}

/// Tables come in dependency order: a parent, reference or copy names an earlier
/// table. A later one is an ordering mistake, or a cycle, which is named as such.
fn check_table_order(report: &Reporter, tables: &[Spanned<TableEntry>]) -> Result<()> {
    let names: Vec<&str> = tables.iter().map(|t| t.get_ref().name.as_str()).collect();
    for (index, entry) in tables.iter().enumerate() {
        let table = entry.get_ref();
        if names[..index].contains(&table.name.as_str()) {
            return Err(report.at(
                entry.span(),
                &format!("table \"{}\"", table.name),
                "is declared twice",
            ));
        }
        let valid = !table.name.is_empty()
            && table
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
        if !valid {
            return Err(report.at(
                entry.span(),
                &format!("table \"{}\".name", table.name),
                "must be letters, digits, _ (and . for a schema)",
            ));
        }
        for dependency in dependencies(table) {
            let Some(position) = names.iter().position(|name| *name == dependency) else {
                continue;
            };
            if position > index {
                let message = match cycle(tables, index) {
                    Some(cycle) => format!(
                        "tables refer to each other in a cycle ({cycle}); a generator can only read tables generated before it"
                    ),
                    None => format!(
                        "refers to table {dependency:?}, which is declared after it; declare tables in dependency order (parents first)"
                    ),
                };
                return Err(report.at(entry.span(), &format!("table \"{}\"", table.name), message));
            }
        }
    }
    Ok(())
}

/// The table names an entry's parent and generators mention.
fn dependencies(table: &TableEntry) -> Vec<String> {
    let mut names: Vec<String> = table.parent.iter().cloned().collect();
    for value in table.columns.values() {
        collect_table_names(value.get_ref(), &mut names);
    }
    names
}

fn collect_table_names(value: &toml::Value, names: &mut Vec<String>) {
    match value {
        toml::Value::Table(fields) => {
            for (key, field) in fields {
                match (key.as_str(), field) {
                    ("to" | "from", toml::Value::String(reference)) => {
                        if let Some((table, _)) = reference.rsplit_once('.') {
                            names.push(table.to_owned());
                        }
                    }
                    ("within", toml::Value::String(table)) => names.push(table.clone()),
                    _ => collect_table_names(field, names),
                }
            }
        }
        toml::Value::Array(items) => items
            .iter()
            .for_each(|item| collect_table_names(item, names)),
        _ => {}
    }
}

/// A cycle through table `start`, as `a -> b -> a`.
fn cycle(tables: &[Spanned<TableEntry>], start: usize) -> Option<String> {
    let names: Vec<&str> = tables.iter().map(|t| t.get_ref().name.as_str()).collect();
    let edges: Vec<Vec<usize>> = tables
        .iter()
        .map(|t| {
            dependencies(t.get_ref())
                .iter()
                .filter_map(|name| names.iter().position(|known| known == name))
                .collect()
        })
        .collect();
    let mut path = vec![start];
    fn walk(edges: &[Vec<usize>], path: &mut Vec<usize>, start: usize) -> bool {
        let last = *path.last().expect("non-empty");
        for next in &edges[last] {
            if *next == start {
                return true;
            }
            if !path.contains(next) {
                path.push(*next);
                if walk(edges, path, start) {
                    return true;
                }
                path.pop();
            }
        }
        false
    }
    walk(&edges, &mut path, start).then(|| {
        path.iter()
            .chain([&start])
            .map(|index| names[*index])
            .collect::<Vec<_>>()
            .join(" -> ")
    })
}

fn table_model(
    report: &Reporter,
    entry: &Spanned<TableEntry>,
    tables: &[TableModel],
    as_of: DateTime<Utc>,
    kinds: &mut Vec<(usize, usize, ValueKind, String)>,
) -> Result<TableModel> {
    let raw = entry.get_ref();
    let key = |field: &str| format!("table \"{}\".{field}", raw.name);
    let at = |field: &str, message: String| report.at(entry.span(), &key(field), message);
    let index = tables.len();
    let parent = match &raw.parent {
        None => None,
        Some(name) => Some(tables.iter().position(|t| t.name == *name).ok_or_else(|| {
            at(
                "parent",
                format!("{name:?} is not a table declared before this one"),
            )
        })?),
    };
    let mut ancestors: Vec<usize> = Vec::new();
    if let Some(parent) = parent {
        ancestors.push(parent);
        ancestors.extend(&tables[parent].signature.ancestors);
    }
    let per_parent = raw
        .per_parent
        .as_ref()
        .map(|value| {
            count_spec(value.get_ref())
                .map_err(|message| report.at(value.span(), &key("per_parent"), message))
        })
        .transpose()?;
    match (parent, raw.rows, &per_parent, raw.groups.is_empty()) {
        (None, _, Some(_), _) => {
            return Err(at("per_parent", "applies to a table with a parent".into()));
        }
        (None, None, None, true) => {
            return Err(at(
                "rows",
                "a table without a parent needs rows = N, or [[table.group]]s".into(),
            ));
        }
        (Some(_), _, _, false) => {
            return Err(at("group", "groups are declared on tables without a parent; their children follow their groups".into()));
        }
        (Some(_), Some(_), Some(_), _) => {
            return Err(at(
                "rows",
                "give rows (split among the parents) or per_parent, not both".into(),
            ));
        }
        (Some(_), None, None, _) => {
            return Err(at("per_parent", "a child table needs per_parent = N, [min, max] or { zipf = s, max = N }, or rows = N to split".into()));
        }
        _ => {}
    }
    if raw.rows == Some(0) {
        return Err(at("rows", "is 0; a table needs at least one row".into()));
    }
    let split = match &raw.split {
        None => Split::Even,
        Some(value) => split_spec(value.get_ref())
            .map_err(|message| report.at(value.span(), &key("split"), message))?,
    };
    let grouped_by = if raw.groups.is_empty() {
        parent.and_then(|p| tables[p].grouped_by)
    } else {
        Some(index)
    };

    let mut signature = TableSignature {
        name: raw.name.clone(),
        columns: Vec::new(),
        ancestors,
    };
    let mut columns = Vec::new();
    if raw.columns.is_empty() {
        return Err(at(
            "columns",
            "no column is generated; name at least one".into(),
        ));
    }
    for (name, value) in &raw.columns {
        let column_key = key(&format!("columns.{name}"));
        let mut scope_tables: Vec<TableSignature> =
            tables.iter().map(|t| t.signature.clone()).collect();
        scope_tables.push(signature.clone());
        let scope = Scope {
            tables: &scope_tables,
            as_of_micros: as_of.timestamp_micros(),
        };
        let (model, kind) = column_model(name, value.get_ref(), &scope)
            .map_err(|message| report.at(value.span(), &column_key, message))?;
        kinds.push((index, columns.len(), kind, column_key));
        signature.columns.push((name.clone(), kind));
        columns.push(model);
    }
    let order = match (
        raw.write_order.as_ref().map(|w| w.get_ref().as_str()),
        &raw.sorted_by,
    ) {
        (None | Some("generated"), None) => WriteOrder::Generated,
        (Some("scattered"), None) => WriteOrder::Scattered,
        (Some("sorted"), Some(column)) => {
            let position = signature
                .column(column)
                .filter(|(_, kind)| *kind == ValueKind::Timestamp);
            let Some((column_index, _)) = position else {
                return Err(at(
                    "sorted_by",
                    format!("{column:?} is not a timestamp column of this table"),
                ));
            };
            if !matches!(&columns[column_index].generator, generators::Generator::Timestamp(t) if t.window().is_some())
            {
                return Err(at(
                    "sorted_by",
                    format!(
                        "{column:?} must be a timestamp drawn from days_ago = [...] to sort by"
                    ),
                ));
            }
            WriteOrder::Sorted {
                column: column_index,
            }
        }
        (Some("sorted"), None) => {
            return Err(at(
                "sorted_by",
                "write_order = \"sorted\" needs sorted_by = \"<timestamp column>\"".into(),
            ));
        }
        (_, Some(_)) => {
            return Err(at(
                "sorted_by",
                "applies to write_order = \"sorted\"".into(),
            ));
        }
        (Some(other), None) => {
            return Err(at(
                "write_order",
                format!("{other:?} is not a write order; use generated, scattered or sorted"),
            ));
        }
    };
    let shuffle_window = raw.shuffle_window.unwrap_or(1);
    if !(1..=1_000_000).contains(&shuffle_window) {
        return Err(at(
            "shuffle_window",
            format!("{shuffle_window} is outside 1..=1000000 (1 keeps the order)"),
        ));
    }
    let width = columns.len();
    Ok(TableModel {
        name: raw.name.clone(),
        rows: raw.rows,
        parent,
        per_parent,
        split,
        groups: Vec::new(),
        grouped_by,
        columns,
        order,
        shuffle_window,
        signature,
        materialize: false,
        keep: vec![false; width],
    })
}

/// A column's generator and modifiers, resolved in `scope`.
fn column_model(
    name: &str,
    value: &toml::Value,
    scope: &Scope,
) -> std::result::Result<(ColumnModel, ValueKind), String> {
    let mut value = value.clone();
    let mut null_fraction = 0.0;
    let mut when = None;
    if let toml::Value::Table(table) = &mut value {
        if let Some(fraction) = table.remove("null_fraction") {
            null_fraction = fraction
                .as_float()
                .or_else(|| fraction.as_integer().map(|i| i as f64))
                .filter(|f| (0.0..=1.0).contains(f))
                .ok_or_else(|| format!("null_fraction = {fraction} must be a number in [0, 1]"))?;
        }
        if let Some(condition) = table.remove("when") {
            when = Some(condition_model(&condition, scope)?);
        }
    }
    let mut generator = generators::parse(value)?;
    let kind = generator.resolve(scope)?;
    Ok((
        ColumnModel {
            name: name.to_owned(),
            generator,
            null_fraction,
            when,
        },
        kind,
    ))
}

fn condition_model(value: &toml::Value, scope: &Scope) -> std::result::Result<Condition, String> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct When {
        column: String,
        #[serde(rename = "in")]
        values: Vec<toml::Value>,
    }
    let when = When::deserialize(value.clone()).map_err(|error| {
        format!(
            "when = {value}: {}; write when = {{ column = \"state\", in = [\"success\"] }}",
            error.to_string().trim_end()
        )
    })?;
    let (column, _) = scope.own_column(&when.column)?;
    Ok(Condition {
        column,
        values: when.values.iter().map(Value::from_toml).collect(),
    })
}

fn count_spec(value: &toml::Value) -> std::result::Result<CountSpec, String> {
    let bad =
        || format!("{value} is not a count; write N, [min, max] or {{ zipf = 1.5, max = 100 }}");
    match value {
        toml::Value::Integer(count) if *count >= 0 => Ok(CountSpec::Fixed(*count as u64)),
        toml::Value::Array(bounds) => match bounds.as_slice() {
            [toml::Value::Integer(min), toml::Value::Integer(max)] if 0 <= *min && min <= max => {
                Ok(CountSpec::Uniform(*min as u64, *max as u64))
            }
            _ => Err(bad()),
        },
        toml::Value::Table(table) => {
            let exponent = table
                .get("zipf")
                .and_then(|v| v.as_float().or(v.as_integer().map(|i| i as f64)));
            let max = table.get("max").and_then(toml::Value::as_integer);
            match (exponent, max, table.len()) {
                (Some(exponent), Some(max), 2)
                    if exponent > 0.0 && (1..=1_000_000).contains(&max) =>
                {
                    Ok(CountSpec::Zipf {
                        exponent,
                        max: max as u64,
                    })
                }
                _ => Err(bad()),
            }
        }
        _ => Err(bad()),
    }
}

fn split_spec(value: &toml::Value) -> std::result::Result<Split, String> {
    match value {
        toml::Value::String(even) if even == "even" => Ok(Split::Even),
        toml::Value::Table(table) if table.len() == 1 => table
            .get("zipf")
            .and_then(|v| v.as_float().or(v.as_integer().map(|i| i as f64)))
            .filter(|exponent| *exponent > 0.0)
            .map(Split::Zipf)
            .ok_or_else(|| format!("{value} is not a split; write \"even\" or {{ zipf = 1.1 }}")),
        _ => Err(format!(
            "{value} is not a split; write \"even\" or {{ zipf = 1.1 }}"
        )),
    }
}

fn group_model(
    report: &Reporter,
    entry: &Spanned<GroupEntry>,
    table_index: usize,
    tables: &[TableModel],
    as_of: DateTime<Utc>,
    kinds: &mut Vec<(usize, usize, ValueKind, String)>,
) -> Result<GroupModel> {
    let raw = entry.get_ref();
    let owner = &tables[table_index];
    let key = |field: &str| format!("table \"{}\".group \"{}\".{field}", owner.name, raw.name);
    let at = |field: &str, message: String| report.at(entry.span(), &key(field), message);
    let valid = !raw.name.is_empty()
        && raw
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !valid {
        return Err(at("name", "must be letters, digits, - and _".into()));
    }
    let size = match (raw.rows, raw.share) {
        (Some(0), None) => return Err(at("rows", "is 0; a group needs at least one row".into())),
        (Some(rows), None) => GroupSize::Rows(rows),
        (None, Some(share)) if share > 0.0 && share <= 1.0 => {
            if owner.rows.is_none() {
                return Err(at(
                    "share",
                    format!(
                        "a share needs the table to declare rows; table {} declares none",
                        owner.name
                    ),
                ));
            }
            GroupSize::Share(share)
        }
        (None, Some(share)) => return Err(at("share", format!("{share} is outside (0, 1]"))),
        _ => {
            return Err(at(
                "rows",
                "give rows = N or share = fraction of the table's rows".into(),
            ));
        }
    };
    let descendant = |name: &str, field: &str| -> Result<usize> {
        let index = tables
            .iter()
            .position(|t| t.name == name)
            .ok_or_else(|| at(field, format!("{name:?} is not a declared table")))?;
        if tables[index].grouped_by != Some(table_index) || index == table_index {
            return Err(at(
                field,
                format!(
                    "{name:?} is not a descendant of {} (its rows do not belong to {}'s groups)",
                    owner.name, owner.name
                ),
            ));
        }
        Ok(index)
    };
    let mut children = Vec::new();
    for (name, value) in &raw.children {
        let field = format!("children.{name}");
        let child = descendant(name, &field)?;
        let count = match value.get_ref() {
            toml::Value::Table(table) if table.len() == 1 && table.contains_key("share") => {
                let share = table["share"]
                    .as_float()
                    .or(table["share"].as_integer().map(|i| i as f64))
                    .unwrap_or(f64::NAN);
                if !(share > 0.0 && share <= 1.0) {
                    return Err(report.at(
                        value.span(),
                        &key(&field),
                        format!("share = {} is outside (0, 1]", table["share"]),
                    ));
                }
                if tables[child].rows.is_none() {
                    return Err(report.at(
                        value.span(),
                        &key(&field),
                        format!("a share needs table {name} to declare rows to split"),
                    ));
                }
                ChildCount::Share(share)
            }
            other => ChildCount::PerParent(count_spec(other).map_err(|message| {
                report.at(
                    value.span(),
                    &key(&field),
                    format!("{message}, or {{ share = 0.5 }}"),
                )
            })?),
        };
        children.push((child, count));
    }
    let mut overrides = Vec::new();
    for (name, value) in &raw.columns {
        let field = format!("columns.{name}");
        let fail = |message: String| report.at(value.span(), &key(&field), message);
        let (table_name, column_name) = name
            .rsplit_once('.')
            .ok_or_else(|| fail(format!("{name:?} must name \"table.column\"")))?;
        let table = descendant(table_name, &field).or_else(|error| {
            if table_name == owner.name {
                Ok(table_index)
            } else {
                Err(error)
            }
        })?;
        let Some((column, default_kind)) = tables[table].signature.column(column_name) else {
            return Err(fail(format!(
                "table {table_name} generates no column {column_name:?}; override a column the table declares"
            )));
        };
        let mut scope_tables: Vec<TableSignature> = tables[..table]
            .iter()
            .map(|t| t.signature.clone())
            .collect();
        let mut own = tables[table].signature.clone();
        own.columns.truncate(column);
        scope_tables.push(own);
        let scope = Scope {
            tables: &scope_tables,
            as_of_micros: as_of.timestamp_micros(),
        };
        let (model, kind) = column_model(column_name, value.get_ref(), &scope).map_err(&fail)?;
        if let crate::datagen::order::WriteOrder::Sorted { column: sorted } = tables[table].order
            && sorted == column
            && !matches!(&model.generator, generators::Generator::Timestamp(t) if t.window().is_some())
        {
            return Err(fail(format!(
                "{table_name} is written sorted by {column_name}, so an override must be a timestamp with days_ago"
            )));
        }
        if kind != default_kind && kind != ValueKind::Any && default_kind != ValueKind::Any {
            return Err(fail(format!(
                "gives {} where the table's own generator gives {}",
                kind.name(),
                default_kind.name()
            )));
        }
        kinds.push((table, column, kind, key(&field)));
        overrides.push((table, column, model));
    }
    Ok(GroupModel {
        name: raw.name.clone(),
        size,
        children,
        overrides,
    })
}

/// Group shares of one table may not add up to more than 1.
fn check_shares(report: &Reporter, tables: &[TableModel]) -> Result<()> {
    for (index, table) in tables.iter().enumerate() {
        let Some(by) = table.grouped_by else { continue };
        let mut total = 0.0;
        for group in &tables[by].groups {
            if by == index
                && let GroupSize::Share(share) = group.size
            {
                total += share;
            }
            for (child, count) in &group.children {
                if *child == index
                    && let ChildCount::Share(share) = count
                {
                    total += share;
                }
            }
        }
        if total > 1.0 + 1e-9 {
            return Err(report.key(
                &format!("table \"{}\".group", tables[by].name),
                format!(
                    "the groups' shares of {} add up to {total}, above 1",
                    table.name
                ),
            ));
        }
    }
    Ok(())
}

/// Marks the tables and columns later generators read, so they are kept in memory.
fn mark_reads(tables: &mut [TableModel]) {
    let mut reads = Reads::default();
    for table in tables.iter() {
        for column in &table.columns {
            column.generator.reads(&mut reads);
        }
        for group in &table.groups {
            for (_, _, column) in &group.overrides {
                column.generator.reads(&mut reads);
            }
        }
    }
    let parents: Vec<usize> = tables.iter().filter_map(|t| t.parent).collect();
    for (table, column) in reads.columns {
        tables[table].materialize = true;
        tables[table].keep[column] = true;
    }
    for table in reads.tables.into_iter().chain(parents) {
        tables[table].materialize = true;
    }
}
