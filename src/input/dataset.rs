//! Dataset files: the shape of the data, for any schema. Parsed strictly, then checked
//! once into a [`DatasetModel`] that the generator runs: every table, parent, group,
//! column and reference resolved; every error names the file, line, key and value.
//! Column types are not written here: the loader reads them from the catalog.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use indexmap::IndexMap;
use serde::Deserialize;
use toml::Spanned;

use super::{DATASET_FILE, Fixture, Reporter, TomlKind, file, parse_toml_text, sql_fixture};
use crate::datagen::generators::{self, Reads, Scope, TableSignature};
use crate::datagen::layout::{ChildCount, CountSpec, Split};
use crate::datagen::order::WriteOrder;
use crate::datagen::{ColumnModel, Condition, DatasetModel, GroupModel, GroupSize, TableModel};
use crate::error::{Error, Result};
use crate::value::{Value, ValueKind};

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
    /// catalog: `(table, column, kind, where it is declared as "line N: key `…`")`.
    pub generated_kinds: Vec<(usize, usize, ValueKind, String)>,
    /// `(table, column)` generated but not written: a rehearsal's pre-migration state
    /// lacks columns its migration adds, yet every other value must be the same as in
    /// the full dataset (see `input::rehearsal`). Empty for a dataset file as read.
    pub left_out: Vec<(usize, usize)>,
}

/// Whether `text` is a dataset file (it declares `scale_table` or `[[table]]` and
/// names no `dataset` of its own), so a dataset kept beside the scenarios is told
/// apart from a broken scenario.
pub fn is_dataset_file(text: &str) -> bool {
    toml::from_str::<toml::Table>(text).is_ok_and(|table| {
        !table.contains_key("dataset")
            && (table.contains_key("scale_table") || table.contains_key("table"))
    })
}

/// A dataset file declares its tables (or at least which one `--scale` counts); a TOML
/// file that declares neither is someone else's.
const DATASET_TOML: TomlKind = TomlKind {
    what: "a dataset file",
    keys: &["scale_table", "table"],
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DatasetFile {
    description: String,
    schema: Vec<String>,
    seed: u64,
    /// An RFC 3339 instant, as a string or a TOML offset date-time.
    as_of: toml::Value,
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
    under: Option<String>,
    #[serde(default)]
    children: IndexMap<String, Spanned<toml::Value>>,
    #[serde(default)]
    columns: IndexMap<String, Spanned<toml::Value>>,
}

impl Dataset {
    /// Reads and validates a dataset file.
    pub fn load(path: &Path) -> Result<Dataset> {
        let text = file::read_text(path, &DATASET_FILE)?;
        let raw: DatasetFile = parse_toml_text(path, &text, &DATASET_TOML)?;
        validate(&Reporter { path, text: &text }, raw)
    }

    /// The rows `--scale` sets: the scale table's name.
    pub fn scale_table(&self) -> &str {
        &self.model.tables[self.model.scale_table].name
    }

    /// The names of the groups that label `table`'s rows (its own and its ancestors'),
    /// by flat index: root-most table's groups first.
    pub fn group_names(&self, table: usize) -> Vec<&str> {
        let tables = &self.model.tables;
        tables[table]
            .grouping
            .iter()
            .flat_map(|by| tables[*by].groups.iter().map(|group| group.name.as_str()))
            .collect()
    }

    /// The index of `table`.
    pub fn table(&self, table: &str) -> Option<usize> {
        self.model.tables.iter().position(|t| t.name == table)
    }

    /// The indexes of `table`'s generated columns that are written, in order.
    pub fn written_columns(&self, table: usize) -> Vec<usize> {
        (0..self.model.tables[table].columns.len())
            .filter(|column| !self.left_out.contains(&(table, *column)))
            .collect()
    }

    /// A generated row of `table` as it is written: without the left-out columns.
    pub fn written_row(&self, table: usize, row: Vec<Value>) -> Vec<Value> {
        if !self.left_out.iter().any(|(t, _)| *t == table) {
            return row;
        }
        row.into_iter()
            .enumerate()
            .filter(|(column, _)| !self.left_out.contains(&(table, *column)))
            .map(|(_, value)| value)
            .collect()
    }

    /// This dataset seeded into another schema, without the `left_out` columns: a
    /// rehearsal's pre-migration state.
    pub fn before_migration(&self, schema: Vec<Fixture>, left_out: Vec<(usize, usize)>) -> Dataset {
        Dataset {
            schema,
            left_out,
            ..self.clone()
        }
    }
}

fn validate(report: &Reporter, raw: DatasetFile) -> Result<Dataset> {
    if raw.schema.is_empty() {
        return Err(report.key("schema", "lists no fixture; name at least one SQL file"));
    }
    let schema = raw
        .schema
        .iter()
        .map(|relative| sql_fixture(report.path, "schema", relative))
        .collect::<Result<Vec<_>>>()?;
    let as_of = as_of(report, &raw.as_of)?;
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
        tables[index].groups = groups(report, entry, index, &tables, as_of, &mut kinds)?;
        check_local_shares(report, &tables, index, &entry.get_ref().groups)?;
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
        left_out: Vec::new(),
    })
}

/// `as_of`, the instant timestamps are generated back from: an RFC 3339 string or a
/// TOML offset date-time.
fn as_of(report: &Reporter, value: &toml::Value) -> Result<DateTime<Utc>> {
    let text = match value {
        toml::Value::String(text) => text.clone(),
        toml::Value::Datetime(datetime) => datetime.to_string(),
        other => other.to_string(),
    };
    DateTime::parse_from_rfc3339(&text)
        .map(|as_of| as_of.with_timezone(&Utc))
        .map_err(|error| {
            report.key(
                "as_of",
                format!("{text} is not an RFC 3339 instant with an offset ({error}); write it like \"2026-06-01T00:00:00Z\""),
            )
        })
}

/// The groups of table `index` (`entry`), each named once, at most as many as a
/// label can tell apart.
fn groups(
    report: &Reporter,
    entry: &Spanned<TableEntry>,
    index: usize,
    tables: &[TableModel],
    as_of: DateTime<Utc>,
    kinds: &mut Vec<(usize, usize, ValueKind, String)>,
) -> Result<Vec<GroupModel>> {
    let mut groups: Vec<GroupModel> = Vec::new();
    if entry.get_ref().groups.len() >= usize::from(crate::datagen::NO_GROUP) {
        return Err(report.at(
            entry.span(),
            &format!("table \"{}\".group", tables[index].name),
            "declares more groups than the 65,534 a table may have",
        ));
    }
    for group in &entry.get_ref().groups {
        let model = group_model(report, group, index, tables, as_of, kinds)?;
        if groups.iter().any(|seen| seen.name == model.name) {
            return Err(report.at(
                group.span(),
                &format!("table \"{}\".group \"{}\"", tables[index].name, model.name),
                "is declared twice",
            ));
        }
        groups.push(model);
    }
    Ok(groups)
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

/// Names the keys of one entry (a `[[table]]` or a `[[table.group]]`) in error
/// messages: `table "runs".rows`, `table "orgs".group "sparse".share`.
struct Keys<'a, T> {
    report: &'a Reporter<'a>,
    entry: &'a Spanned<T>,
    /// The entry's own key: `table "runs"`.
    prefix: String,
}

impl<T> Keys<'_, T> {
    fn key(&self, field: &str) -> String {
        format!("{}.{field}", self.prefix)
    }

    fn at(&self, field: &str, message: impl std::fmt::Display) -> Error {
        self.report.at(self.entry.span(), &self.key(field), message)
    }

    fn at_value<V>(
        &self,
        value: &Spanned<V>,
        field: &str,
        message: impl std::fmt::Display,
    ) -> Error {
        self.report.at(value.span(), &self.key(field), message)
    }
}

type TableKeys<'a> = Keys<'a, TableEntry>;
type GroupKeys<'a> = Keys<'a, GroupEntry>;

fn table_model(
    report: &Reporter,
    entry: &Spanned<TableEntry>,
    tables: &[TableModel],
    as_of: DateTime<Utc>,
    kinds: &mut Vec<(usize, usize, ValueKind, String)>,
) -> Result<TableModel> {
    let raw = entry.get_ref();
    let keys = TableKeys {
        report,
        entry,
        prefix: format!("table \"{}\"", entry.get_ref().name),
    };
    let index = tables.len();
    let (parent, per_parent, split) = parent_and_counts(&keys, tables)?;
    let mut ancestors: Vec<usize> = Vec::new();
    if let Some(parent) = parent {
        ancestors.push(parent);
        ancestors.extend(&tables[parent].signature.ancestors);
    }
    let mut grouping = parent.map_or(Vec::new(), |p| tables[p].grouping.clone());
    if !raw.groups.is_empty() {
        grouping.push(index);
    }
    let signature = TableSignature {
        name: raw.name.clone(),
        columns: Vec::new(),
        ancestors,
        references: Vec::new(),
    };
    let (columns, signature) = columns(&keys, tables, signature, as_of, kinds)?;
    let order = write_order(&keys, &signature, &columns)?;
    let shuffle_window = raw.shuffle_window.unwrap_or(1);
    if !(1..=1_000_000).contains(&shuffle_window) {
        return Err(keys.at(
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
        grouping,
        columns,
        order,
        shuffle_window,
        signature,
        materialize: false,
        keep: vec![false; width],
    })
}

/// The parent, and how the table's rows are counted: `rows`, `per_parent`, groups.
fn parent_and_counts(
    keys: &TableKeys,
    tables: &[TableModel],
) -> Result<(Option<usize>, Option<CountSpec>, Split)> {
    let raw = keys.entry.get_ref();
    let parent = match &raw.parent {
        None => None,
        Some(name) => Some(tables.iter().position(|t| t.name == *name).ok_or_else(|| {
            keys.at(
                "parent",
                format!("{name:?} is not a table declared before this one"),
            )
        })?),
    };
    let per_parent = raw
        .per_parent
        .as_ref()
        .map(|value| {
            count_spec(value.get_ref())
                .map_err(|message| keys.at_value(value, "per_parent", message))
        })
        .transpose()?;
    let shares = raw
        .groups
        .iter()
        .any(|group| group.get_ref().share.is_some());
    match (parent, raw.rows, &per_parent, raw.groups.is_empty()) {
        (None, _, Some(_), _) => {
            return Err(keys.at("per_parent", "applies to a table with a parent"));
        }
        (None, None, None, true) => {
            return Err(keys.at(
                "rows",
                "a table without a parent needs rows = N, or [[table.group]]s",
            ));
        }
        (None, Some(_), None, false) if !shares => {
            return Err(keys.at(
                "rows",
                "the groups' rows make up the table; give rows only to split it with group shares",
            ));
        }
        (Some(_), Some(_), Some(_), _) => {
            return Err(keys.at(
                "rows",
                "give rows (split among the parents) or per_parent, not both",
            ));
        }
        (Some(_), None, None, _) => {
            return Err(keys.at("per_parent", "a child table needs per_parent = N, [min, max] or { zipf = s, max = N }, or rows = N to split"));
        }
        _ => {}
    }
    if raw.rows == Some(0) {
        return Err(keys.at("rows", "is 0; a table needs at least one row"));
    }
    let split = match &raw.split {
        None => Split::Even,
        Some(value) if parent.is_none() || per_parent.is_some() => {
            return Err(keys.at_value(
                value,
                "split",
                "applies to a child table that splits rows = N among its parents",
            ));
        }
        Some(value) => {
            split_spec(value.get_ref()).map_err(|message| keys.at_value(value, "split", message))?
        }
    };
    Ok((parent, per_parent, split))
}

/// The table's column generators, resolved in order (each sees the columns before it).
fn columns(
    keys: &TableKeys,
    tables: &[TableModel],
    mut signature: TableSignature,
    as_of: DateTime<Utc>,
    kinds: &mut Vec<(usize, usize, ValueKind, String)>,
) -> Result<(Vec<ColumnModel>, TableSignature)> {
    let raw = keys.entry.get_ref();
    if raw.columns.is_empty() {
        return Err(keys.at("columns", "no column is generated; name at least one"));
    }
    let mut columns = Vec::new();
    for (name, value) in &raw.columns {
        let column_key = keys.key(&format!("columns.{name}"));
        if name.is_empty() || name.contains('.') {
            return Err(keys.report.at(
                value.span(),
                &column_key,
                "a column name must be non-empty and without a dot",
            ));
        }
        let mut scope_tables: Vec<TableSignature> =
            tables.iter().map(|t| t.signature.clone()).collect();
        scope_tables.push(signature.clone());
        let scope = Scope {
            tables: &scope_tables,
            as_of_micros: as_of.timestamp_micros(),
        };
        let (model, kind) = column_model(name, value.get_ref(), &scope)
            .map_err(|message| keys.report.at(value.span(), &column_key, message))?;
        if let generators::Generator::Reference(reference) = &model.generator
            && let Some(referenced) = reference.table()
        {
            signature.references.push((columns.len(), referenced));
        }
        kinds.push((
            tables.len(),
            columns.len(),
            kind,
            keys.report.locate(value.span(), &column_key),
        ));
        signature.columns.push((name.clone(), kind));
        columns.push(model);
    }
    Ok((columns, signature))
}

fn write_order(
    keys: &TableKeys,
    signature: &TableSignature,
    columns: &[ColumnModel],
) -> Result<WriteOrder> {
    let raw = keys.entry.get_ref();
    Ok(
        match (
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
                    return Err(keys.at(
                        "sorted_by",
                        format!("{column:?} is not a timestamp column of this table"),
                    ));
                };
                if !matches!(&columns[column_index].generator, generators::Generator::Timestamp(t) if t.window().is_some())
                {
                    return Err(keys.at(
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
                return Err(keys.at(
                    "sorted_by",
                    "write_order = \"sorted\" needs sorted_by = \"<timestamp column>\"",
                ));
            }
            (_, Some(_)) => return Err(keys.at("sorted_by", "applies to write_order = \"sorted\"")),
            (Some(other), None) => {
                return Err(keys.at(
                    "write_order",
                    format!("{other:?} is not a write order; use generated, scattered or sorted"),
                ));
            }
        },
    )
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
    let (column, kind) = scope.own_column(&when.column)?;
    if let Some(mismatch) = when
        .values
        .iter()
        .map(Value::from_toml)
        .find(|value| value.kind() != kind && kind != ValueKind::Any)
    {
        return Err(format!(
            "when.in holds {mismatch}, but column {} gives {}; the condition could never hold",
            when.column,
            kind.name()
        ));
    }
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
    let owner = &tables[table_index].name;
    let keys = GroupKeys {
        report,
        entry,
        prefix: format!("table \"{owner}\".group \"{}\"", raw.name),
    };
    let valid = !raw.name.is_empty()
        && raw
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !valid {
        return Err(keys.at("name", "must be letters, digits, - and _"));
    }
    let parent = tables[table_index].parent;
    let under = group_under(&keys, table_index, tables)?;
    let size = match (raw.rows, raw.share) {
        (Some(0), None) => return Err(keys.at("rows", "is 0; a group needs at least one row")),
        (Some(rows), None) => {
            if let Some(most) = most_children(table_index, tables)
                && rows > most
            {
                return Err(keys.at(
                    "rows",
                    format!(
                        "{rows} is more than the {most} children a parent row of {owner} can have (per_parent, and the ancestors' groups' children.{owner}); the group takes the first rows of each parent row's children"
                    ),
                ));
            }
            GroupSize::Rows(rows)
        }
        (None, Some(share)) if share > 0.0 && share <= 1.0 => {
            if parent.is_none() && tables[table_index].rows.is_none() {
                return Err(keys.at(
                    "share",
                    format!(
                        "a share needs the table to declare rows; table {} declares none",
                        owner
                    ),
                ));
            }
            GroupSize::Share(share)
        }
        (None, Some(share)) => return Err(keys.at("share", format!("{share} is outside (0, 1]"))),
        _ => {
            return Err(keys.at(
                "rows",
                "give rows = N or share = fraction of the table's rows",
            ));
        }
    };
    let children = raw
        .children
        .iter()
        .map(|(name, value)| child_count(&keys, name, value, table_index, tables))
        .collect::<Result<Vec<_>>>()?;
    let overrides = raw
        .columns
        .iter()
        .map(|(name, value)| column_override(&keys, name, value, table_index, tables, as_of, kinds))
        .collect::<Result<Vec<_>>>()?;
    Ok(GroupModel {
        name: raw.name.clone(),
        size,
        under,
        children,
        overrides,
    })
}

/// A group's `under`, resolved among the groups of the table's ancestors, after
/// checking that the group's name is not one of theirs (a row's groups are named
/// apart, since `under` and `target.group` name them).
fn group_under(
    keys: &GroupKeys,
    table_index: usize,
    tables: &[TableModel],
) -> Result<Option<(usize, u16)>> {
    let raw = keys.entry.get_ref();
    let owner = &tables[table_index].name;
    let parent = tables[table_index].parent;
    let ancestor_groups: Vec<(usize, u16)> = parent.map_or(Vec::new(), |parent| {
        tables[parent]
            .grouping
            .iter()
            .flat_map(|by| (0..tables[*by].groups.len() as u16).map(|label| (*by, label)))
            .collect()
    });
    let group_name = |(by, label): (usize, u16)| tables[by].groups[label as usize].name.as_str();
    if let Some(same) = ancestor_groups
        .iter()
        .find(|group| group_name(**group) == raw.name)
    {
        return Err(keys.at(
            "name",
            format!(
                "is already a group of {}, an ancestor; a row's groups must have distinct names (target.group and under name them)",
                tables[same.0].name
            ),
        ));
    }
    Ok(match (&raw.under, parent) {
        (None, _) => None,
        (Some(name), None) => {
            return Err(keys.at(
                "under",
                format!(
                    "{name:?}: under applies to a group of a child table; {owner} has no parent, so its groups are blocks of all its rows"
                ),
            ));
        }
        (Some(name), Some(_)) => Some(
            ancestor_groups
                .iter()
                .copied()
                .find(|group| group_name(*group) == name)
                .ok_or_else(|| {
                    let known: Vec<&str> = ancestor_groups.iter().map(|g| group_name(*g)).collect();
                    keys.at(
                        "under",
                        match known.is_empty() {
                            true => format!("{name:?}: no ancestor of {owner} declares groups"),
                            false => format!(
                                "{name:?} is not a group of an ancestor of {owner}; groups: {}",
                                known.join(", ")
                            ),
                        },
                    )
                })?,
        ),
    })
}

/// The most children one parent row of child table `index` can have, when its
/// `per_parent` bounds it: the largest count its `per_parent` and its ancestors'
/// groups' `children.<table>` can draw. None for a table that splits `rows`.
fn most_children(index: usize, tables: &[TableModel]) -> Option<u64> {
    let table = &tables[index];
    let most = |spec: &CountSpec| match spec {
        CountSpec::Fixed(count) => *count,
        CountSpec::Uniform(_, max) | CountSpec::Zipf { max, .. } => *max,
    };
    let mut bound = most(table.per_parent.as_ref()?);
    for by in &table.grouping {
        for group in &tables[*by].groups {
            for (child, count) in &group.children {
                if let (true, ChildCount::PerParent(spec)) = (*child == index, count) {
                    bound = bound.max(most(spec));
                }
            }
        }
    }
    Some(bound)
}

/// The table `name` among the grouped table's descendants (or the grouped table itself
/// when `itself` allows it).
fn descendant(
    keys: &GroupKeys,
    field: &str,
    name: &str,
    table_index: usize,
    tables: &[TableModel],
    itself: bool,
) -> Result<usize> {
    let index = tables
        .iter()
        .position(|t| t.name == name)
        .ok_or_else(|| keys.at(field, format!("{name:?} is not a declared table")))?;
    if index == table_index && itself {
        return Ok(index);
    }
    if !tables[index].signature.ancestors.contains(&table_index) {
        return Err(keys.at(
            field,
            format!(
                "{name:?} is not a descendant of {} (its rows do not belong to {}'s groups)",
                tables[table_index].name, tables[table_index].name
            ),
        ));
    }
    Ok(index)
}

/// `children.<table> = N | [min, max] | { zipf, max } | { share = f }`.
fn child_count(
    keys: &GroupKeys,
    name: &str,
    value: &Spanned<toml::Value>,
    table_index: usize,
    tables: &[TableModel],
) -> Result<(usize, ChildCount)> {
    let field = format!("children.{name}");
    let child = descendant(keys, &field, name, table_index, tables, false)?;
    let count = match value.get_ref() {
        toml::Value::Table(table) if table.len() == 1 && table.contains_key("share") => {
            let share = table["share"]
                .as_float()
                .or(table["share"].as_integer().map(|i| i as f64))
                .unwrap_or(f64::NAN);
            if !(share > 0.0 && share <= 1.0) {
                return Err(keys.at_value(
                    value,
                    &field,
                    format!("share = {} is outside (0, 1]", table["share"]),
                ));
            }
            if tables[child].rows.is_none() {
                return Err(keys.at_value(
                    value,
                    &field,
                    format!("a share needs table {name} to declare rows to split"),
                ));
            }
            ChildCount::Share(share)
        }
        other => ChildCount::PerParent(count_spec(other).map_err(|message| {
            keys.at_value(value, &field, format!("{message}, or {{ share = 0.5 }}"))
        })?),
    };
    Ok((child, count))
}

/// `columns."table.column" = <generator>`: the generator rows under the group use,
/// resolved in the scope of the overridden column.
fn column_override(
    keys: &GroupKeys,
    name: &str,
    value: &Spanned<toml::Value>,
    table_index: usize,
    tables: &[TableModel],
    as_of: DateTime<Utc>,
    kinds: &mut Vec<(usize, usize, ValueKind, String)>,
) -> Result<(usize, usize, ColumnModel)> {
    let field = format!("columns.{name}");
    let fail = |message: String| keys.at_value(value, &field, message);
    let (table_name, column_name) = name
        .rsplit_once('.')
        .ok_or_else(|| fail(format!("{name:?} must name \"table.column\"")))?;
    let table = descendant(keys, &field, table_name, table_index, tables, true)?;
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
    own.references
        .retain(|(referencing, _)| *referencing < column);
    scope_tables.push(own);
    let scope = Scope {
        tables: &scope_tables,
        as_of_micros: as_of.timestamp_micros(),
    };
    let (model, kind) = column_model(column_name, value.get_ref(), &scope).map_err(&fail)?;
    if let WriteOrder::Sorted { column: sorted } = tables[table].order
        && sorted == column
        && !matches!(&model.generator, generators::Generator::Timestamp(t) if t.window().is_some())
    {
        return Err(fail(format!(
            "{table_name} is written sorted by {column_name}, so an override must be a timestamp with days_ago"
        )));
    }
    let referenced = tables[table]
        .signature
        .references
        .iter()
        .find(|(referencing, _)| *referencing == column)
        .map(|(_, to)| *to);
    if let Some(to) = referenced {
        let same = matches!(&model.generator, generators::Generator::Reference(reference) if reference.table() == Some(to));
        if !same {
            return Err(fail(format!(
                "{table_name}.{column_name} is a reference to {}; an override must refer to the same table, since copies through it read that table",
                tables[to].name
            )));
        }
    }
    if kind != default_kind && kind != ValueKind::Any && default_kind != ValueKind::Any {
        return Err(fail(format!(
            "gives {} where the table's own generator gives {}",
            kind.name(),
            default_kind.name()
        )));
    }
    kinds.push((
        table,
        column,
        kind,
        keys.report.locate(value.span(), &keys.key(&field)),
    ));
    Ok((table, column, model))
}

/// A root table's groups' shares of one table may not add up to more than 1, and
/// must add up to 1 when they leave no parent to take the rest (a child table's
/// groups are checked by [`check_local_shares`]).
fn check_shares(report: &Reporter, tables: &[TableModel]) -> Result<()> {
    for (index, table) in tables.iter().enumerate() {
        let Some(by) = table
            .grouping
            .first()
            .copied()
            .filter(|by| tables[*by].parent.is_none())
        else {
            continue;
        };
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
        let root_shares = by == index
            && tables[by]
                .groups
                .iter()
                .any(|group| matches!(group.size, GroupSize::Share(_)));
        // A child table's rows go to parents in groups with a share, or to parents in
        // groups that say nothing about it; when every group says something, the
        // shares must take all the rows.
        let every_group_counts = by != index
            && table.rows.is_some()
            && tables[by]
                .groups
                .iter()
                .all(|group| group.children.iter().any(|(child, _)| *child == index));
        let child_shares = every_group_counts
            && tables[by].groups.iter().any(|group| {
                group
                    .children
                    .iter()
                    .any(|(child, count)| *child == index && matches!(count, ChildCount::Share(_)))
            });
        if (root_shares || child_shares) && (total - 1.0).abs() > 1e-6 {
            return Err(report.key(
                &format!("table \"{}\".group", tables[by].name),
                format!("the groups' shares of {} add up to {}; every row goes to a group with a share (after the fixed counts), so the shares must add up to 1", table.name, round6(total)),
            ));
        }
        if total > 1.0 + 1e-9 {
            return Err(report.key(
                &format!("table \"{}\".group", tables[by].name),
                format!(
                    "the groups' shares of {} add up to {}, above 1",
                    table.name,
                    round6(total)
                ),
            ));
        }
    }
    Ok(())
}

/// A child table's groups split each parent row's children, and their
/// `children.<table> = { share }` split the rows under one row of their table's
/// parent: the shares of groups that apply there together (those without `under`,
/// and those under one same ancestor group) may not exceed 1. The error points at the
/// group whose share goes past 1.
fn check_local_shares(
    report: &Reporter,
    tables: &[TableModel],
    by: usize,
    entries: &[Spanned<GroupEntry>],
) -> Result<()> {
    let owner = &tables[by];
    let Some(parent) = owner.parent else {
        return Ok(());
    };
    let mut targets: Vec<usize> = vec![by];
    for group in &owner.groups {
        for (child, _) in &group.children {
            if !targets.contains(child) {
                targets.push(*child);
            }
        }
    }
    for target in targets {
        let share_of = |group: &GroupModel| match (target == by, &group.size) {
            (true, GroupSize::Share(share)) => Some(*share),
            (true, _) => None,
            (false, _) => group
                .children
                .iter()
                .find_map(|(child, count)| match count {
                    ChildCount::Share(share) if *child == target => Some(*share),
                    _ => None,
                }),
        };
        for under in owner.groups.iter().map(|group| group.under) {
            let mut total = 0.0;
            for (group, entry) in owner.groups.iter().zip(entries) {
                let together = group.under.is_none() || (under.is_some() && group.under == under);
                let Some(share) = share_of(group).filter(|_| together) else {
                    continue;
                };
                total += share;
                if total > 1.0 + 1e-9 {
                    let (field, whose) = match target == by {
                        true => (
                            "share".to_owned(),
                            format!("of one {} row's children", tables[parent].name),
                        ),
                        false => (
                            format!("children.{}", tables[target].name),
                            format!(
                                "of {} under one {} row",
                                tables[target].name, tables[parent].name
                            ),
                        ),
                    };
                    return Err(report.at(
                        entry.span(),
                        &format!("table \"{}\".group \"{}\".{field}", owner.name, group.name),
                        format!(
                            "share {share} brings the shares {whose}, from groups that apply together, to {}, above 1",
                            round6(total)
                        ),
                    ));
                }
            }
        }
    }
    Ok(())
}

/// A sum of shares as people write them: 0.9, not 0.8999999999999999.
fn round6(value: f64) -> f64 {
    (value * 1e6).round() / 1e6
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datagen::Datagen;
    use crate::value::Value;

    /// Every table's rows, generated without a database.
    fn generate(dataset: &Dataset, scale: u64, seed: u64) -> Vec<(Vec<String>, Vec<Vec<Value>>)> {
        let mut datagen = Datagen::new(&dataset.model, scale, seed, vec![]).expect("lays out");
        (0..dataset.model.tables.len())
            .map(|index| {
                let stream = datagen.stream(index);
                let names = stream.column_names();
                (names, stream.collect())
            })
            .collect()
    }

    fn load_with(edit: impl Fn(&str) -> String) -> Dataset {
        let original = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/datasets/small.toml");
        let dir = tempfile::tempdir().unwrap();
        // The dataset names its schema relative to itself: keep the same depth.
        let nested = dir.path().join("tests/data/datasets");
        std::fs::create_dir_all(&nested).unwrap();
        std::os::unix::fs::symlink(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures"),
            dir.path().join("fixtures"),
        )
        .unwrap();
        let path = nested.join("small.toml");
        std::fs::write(&path, edit(&std::fs::read_to_string(original).unwrap())).unwrap();
        Dataset::load(&path).unwrap()
    }

    #[test]
    fn same_seed_same_rows_and_a_new_column_changes_no_other() {
        let base = load_with(|text| text.to_owned());
        let first = generate(&base, 3_000, 5);
        assert_eq!(first, generate(&base, 3_000, 5), "same seed, same rows");
        assert_ne!(first, generate(&base, 3_000, 6), "another seed, other rows");

        // A new column in the middle of workflows, and a new table at the end.
        let extended = load_with(|text| {
            text.replacen(
                "columns.description =",
                "columns.extra = { kind = \"int\", range = [1, 9] }\ncolumns.description =",
                1,
            ) + "\n[[table]]\nname = \"audit\"\nrows = 50\ncolumns.id = \"uuid\"\n"
        });
        let second = generate(&extended, 3_000, 5);
        assert_eq!(second.len(), first.len() + 1);
        for ((names, rows), (extended_names, extended_rows)) in first.iter().zip(&second) {
            for (column, name) in names.iter().enumerate() {
                let position = extended_names.iter().position(|n| n == name).unwrap();
                let before: Vec<&Value> = rows.iter().map(|row| &row[column]).collect();
                let after: Vec<&Value> = extended_rows.iter().map(|row| &row[position]).collect();
                assert_eq!(
                    before, after,
                    "column {name} changed when another was added"
                );
            }
        }
    }
}
