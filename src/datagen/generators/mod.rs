//! Column generators, one file per kind, like squawk's rules: each is a plain struct
//! read from the dataset file (`kind = "<name>"`) that implements [`ColumnGenerator`]:
//! resolved once against the tables declared before it, then asked for one value per
//! row. Generators never touch a database. Adding one is a file here (the struct and
//! its `impl ColumnGenerator`) and one line in `registry!` below (its name, variant
//! and type), besides the file's `pub mod` line that Rust needs; the enum, [`KINDS`]
//! and the dispatch all come from the registry line. A file left out of the registry
//! fails `every_generator_file_is_registered`.

pub mod boolean;
pub mod choice;
pub mod copy;
pub mod fake;
pub mod hex;
pub mod histogram;
pub mod json;
pub mod literal;
pub mod number;
pub mod reference;
pub mod sequence;
pub mod template;
pub mod timestamp;
pub mod uuid;

use serde::Deserialize;

use super::rng::SeededRng;
use crate::value::{Value, ValueKind};

/// What every generator kind does, in the order a dataset uses it: `resolve` once
/// while the dataset file is checked, `reads` once to learn what to keep of earlier
/// tables, `prepare` once before the first row, then `generate` for every row.
/// [`Generator`] calls these through a `match` over its variants (static dispatch,
/// no `dyn`), because `generate` runs once per row and column: tens of millions of
/// times in a large dataset.
pub trait ColumnGenerator {
    /// Resolves names against `scope` (earlier tables, this table's earlier columns)
    /// and checks parameters, so that a mistake is reported while the dataset file is
    /// read, not halfway through seeding. Returns the kind of value produced, which
    /// later columns and the loader's type check rely on. The message says what
    /// would be accepted.
    fn resolve(&mut self, scope: &Scope) -> Result<ValueKind, String>;

    /// Adds the earlier tables' columns (and tables' row lists) this generator reads,
    /// so that datagen keeps them in memory and no others.
    fn reads(&self, _reads: &mut Reads) {
        // Most generators read only their own stream and row: nothing to keep.
    }

    /// Builds lookups over the earlier tables' kept rows, once before the first row,
    /// so that `generate` does no search per row.
    fn prepare(&mut self, _tables: &[Materialized], _signatures: &[TableSignature]) {
        // Most generators look nothing up: nothing to build.
    }

    /// The value for one row. Every random choice comes from `rng`, the column's own
    /// seeded stream, in a fixed order: same seed, same draws, same rows. A reference
    /// reports the row it picked in `pick` (left alone by the others), so that a later
    /// `copy` can read through it.
    fn generate(&mut self, rng: &mut SeededRng, row: &RowContext, pick: &mut u32) -> Value;
}

/// Declares the registry once: the enum a dataset file's `kind` deserializes into,
/// [`KINDS`], the names error messages offer, and the dispatch from the enum to each
/// kind's [`ColumnGenerator`], so none of them can drift apart.
macro_rules! registry {
    ($($name:literal => $variant:ident($generator:ty),)*) => {
        /// The registry: every generator kind a dataset file can name.
        #[derive(Debug, Clone, Deserialize)]
        #[serde(tag = "kind")]
        pub enum Generator {
            $(#[serde(rename = $name)] $variant($generator),)*
        }

        /// The names of every generator kind, as dataset files write them.
        pub const KINDS: &[&str] = &[$($name),*];

        /// The type of every generator kind, as written in the registry, for the test
        /// that every generator file is registered.
        #[cfg(test)]
        const REGISTERED_TYPES: &[&str] = &[$(stringify!($generator)),*];

        impl Generator {
            /// The name a dataset file gives this generator's kind.
            pub fn kind(&self) -> &'static str {
                match self {
                    $(Generator::$variant(_) => $name,)*
                }
            }

            /// [`ColumnGenerator::resolve`] of this kind.
            pub fn resolve(&mut self, scope: &Scope) -> Result<ValueKind, String> {
                match self {
                    $(Generator::$variant(generator) => ColumnGenerator::resolve(generator, scope),)*
                }
            }

            /// [`ColumnGenerator::reads`] of this kind.
            pub fn reads(&self, reads: &mut Reads) {
                match self {
                    $(Generator::$variant(generator) => ColumnGenerator::reads(generator, reads),)*
                }
            }

            /// [`ColumnGenerator::prepare`] of this kind.
            pub fn prepare(&mut self, tables: &[Materialized], signatures: &[TableSignature]) {
                match self {
                    $(Generator::$variant(generator) => {
                        ColumnGenerator::prepare(generator, tables, signatures)
                    })*
                }
            }

            /// [`ColumnGenerator::generate`] of this kind.
            pub fn generate(
                &mut self,
                rng: &mut SeededRng,
                row: &RowContext,
                pick: &mut u32,
            ) -> Value {
                match self {
                    $(Generator::$variant(generator) => {
                        ColumnGenerator::generate(generator, rng, row, pick)
                    })*
                }
            }
        }
    };
}

registry! {
    "uuid" => Uuid(uuid::UuidGen),
    "sequence" => Sequence(sequence::Sequence),
    "int" => Int(number::IntRange),
    "float" => Float(number::FloatRange),
    "choice" => Choice(choice::Choice),
    "bool" => Bool(boolean::Bool),
    "timestamp" => Timestamp(timestamp::Timestamp),
    "reference" => Reference(reference::Reference),
    "copy" => Copy(copy::Copy),
    "template" => Template(template::Template),
    "fake" => Fake(fake::Fake),
    "json" => Json(json::Json),
    "literal" => Literal(literal::Literal),
    "hex" => Hex(hex::Hex),
    "histogram" => Histogram(histogram::Histogram),
}

/// What a table looks like to the generators of later tables and columns.
#[derive(Debug, Clone)]
pub struct TableSignature {
    pub name: String,
    /// Column names and the kind of value each produces, in declaration order.
    pub columns: Vec<(String, ValueKind)>,
    /// Ancestor tables by index, nearest (the parent) first.
    pub ancestors: Vec<usize>,
    /// `(column, table)`: the columns whose generator is a reference, and the table
    /// each refers to.
    pub references: Vec<(usize, usize)>,
}

impl TableSignature {
    /// The index and kind of `column`.
    pub fn column(&self, column: &str) -> Option<(usize, ValueKind)> {
        self.columns
            .iter()
            .position(|(name, _)| name == column)
            .map(|index| (index, self.columns[index].1))
    }
}

/// What a generator may refer to while it is resolved: the tables declared before
/// its own, and its own table's earlier columns.
pub struct Scope<'a> {
    /// Every table declared so far; the last one is the generator's own table, with
    /// only the columns declared before this one.
    pub tables: &'a [TableSignature],
    pub as_of_micros: i64,
}

impl Scope<'_> {
    /// The generator's own table index.
    pub fn own(&self) -> usize {
        self.tables.len() - 1
    }

    /// Resolves `table.column` to indexes, with a message saying what exists.
    pub fn table_column(&self, reference: &str) -> Result<(usize, usize, ValueKind), String> {
        let (table, column) = reference
            .rsplit_once('.')
            .ok_or_else(|| format!("{reference:?} must be written as \"table.column\""))?;
        let table_index = self.table(table)?;
        let signature = &self.tables[table_index];
        let (column_index, kind) = signature.column(column).ok_or_else(|| {
            let known: Vec<&str> = signature
                .columns
                .iter()
                .map(|(name, _)| name.as_str())
                .collect();
            format!(
                "{reference:?}: table {table} has no generated column {column:?}{}; it declares {}",
                if table_index == self.own() {
                    " before this one"
                } else {
                    ""
                },
                if known.is_empty() {
                    "none".to_owned()
                } else {
                    known.join(", ")
                }
            )
        })?;
        Ok((table_index, column_index, kind))
    }

    /// Resolves a table name declared so far.
    pub fn table(&self, table: &str) -> Result<usize, String> {
        self.tables.iter().position(|signature| signature.name == table).ok_or_else(|| {
            let known: Vec<&str> = self.tables.iter().map(|t| t.name.as_str()).collect();
            format!(
                "unknown table {table:?}; tables are generated in file order and only earlier ones can be referred to (declared so far: {})",
                known.join(", ")
            )
        })
    }

    /// Resolves a column of the generator's own table declared before it.
    pub fn own_column(&self, column: &str) -> Result<(usize, ValueKind), String> {
        let own = &self.tables[self.own()];
        own.column(column).ok_or_else(|| {
            let known: Vec<&str> = own.columns.iter().map(|(name, _)| name.as_str()).collect();
            format!(
                "column {column:?} is not declared before this one in table {}; earlier columns: {}",
                own.name,
                if known.is_empty() { "none".to_owned() } else { known.join(", ") }
            )
        })
    }

    /// Whether `table` is an ancestor of the generator's own table.
    pub fn is_ancestor(&self, table: usize) -> bool {
        self.tables[self.own()].ancestors.contains(&table)
    }
}

/// Rows of tables generated earlier that later tables read: their parent links and
/// kept columns. Only tables something refers to are kept, and only the columns
/// referred to.
#[derive(Debug, Clone, Default)]
pub struct Materialized {
    /// Parent row of each row (`u32::MAX` for root tables).
    pub parent: Vec<u32>,
    /// Kept columns, by column index; `None` where nothing reads the column.
    pub columns: Vec<Option<Vec<Value>>>,
}

/// Everything a generator may read while generating one row.
pub struct RowContext<'a> {
    /// 0-based position of the row in its table's write order.
    pub row: u64,
    /// This row's columns generated so far (later ones are `Null`).
    pub values: &'a [Value],
    /// For each table index, this row's ancestor row in it (`u32::MAX` if none).
    pub ancestors: &'a [u32],
    /// For each column of this table, the row its reference picked (`u32::MAX` if none).
    pub picks: &'a [u32],
    /// Tables generated before this one.
    pub tables: &'a [Materialized],
}

impl Materialized {
    /// Rows kept: one parent link each.
    pub fn rows(&self) -> u32 {
        self.parent.len() as u32
    }
}

impl RowContext<'_> {
    /// A kept column's value in an earlier table.
    pub fn value_in(&self, table: usize, column: usize, row: u32) -> &Value {
        self.tables
            .get(table)
            .and_then(|t| t.columns.get(column))
            .and_then(|c| c.as_ref())
            .and_then(|values| values.get(row as usize))
            .unwrap_or(&Value::Null)
    }
}

/// Which earlier columns a generator reads, so that they are kept in memory.
#[derive(Debug, Default)]
pub struct Reads {
    /// `(table, column)` pairs of earlier tables.
    pub columns: Vec<(usize, usize)>,
    /// Tables whose row lists by ancestor a reference needs.
    pub tables: Vec<usize>,
}

/// A generator from the value written for a column: a string names a kind with its
/// defaults (`"uuid"`), a table gives `kind` and its parameters.
pub fn parse(value: toml::Value) -> Result<Generator, String> {
    let value = match value {
        toml::Value::String(kind) => {
            let mut table = toml::Table::new();
            table.insert("kind".into(), toml::Value::String(kind));
            toml::Value::Table(table)
        }
        other => other,
    };
    if let toml::Value::Table(table) = &value {
        match table.get("kind") {
            Some(toml::Value::String(kind)) if !KINDS.contains(&kind.as_str()) => {
                return Err(format!(
                    "unknown generator kind {kind:?}; known kinds: {}",
                    KINDS.join(", ")
                ));
            }
            None => {
                return Err(format!(
                    "names no generator: add kind = one of {}",
                    KINDS.join(", ")
                ));
            }
            _ => {}
        }
    } else {
        return Err(format!(
            "{value} is not a generator: write a kind name or a table with kind = ..."
        ));
    }
    Generator::deserialize(value).map_err(|error| crate::format::serde_words(&error.to_string()))
}

/// For the tests of a generator that reads only its stream: resolved with no table
/// around it.
#[cfg(test)]
pub(crate) fn resolve_alone(generator: &mut impl ColumnGenerator) -> Result<ValueKind, String> {
    generator.resolve(&Scope {
        tables: &[],
        as_of_micros: 0,
    })
}

/// For the tests of a generator that reads only its stream: the next value, for a
/// first row with no earlier columns or tables.
#[cfg(test)]
pub(crate) fn generate_alone(generator: &mut impl ColumnGenerator, rng: &mut SeededRng) -> Value {
    let row = RowContext {
        row: 0,
        values: &[],
        ancestors: &[],
        picks: &[],
        tables: &[],
    };
    let mut pick = u32::MAX;
    generator.generate(rng, &row, &mut pick)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every name the registry offers is one a dataset file can write: a kind that
    /// needs no parameters parses to itself, the others ask for their parameters
    /// rather than calling the kind unknown.
    #[test]
    fn every_registered_kind_parses_under_its_own_name() {
        for kind in KINDS {
            match parse(toml::Value::String((*kind).to_owned())) {
                Ok(generator) => assert_eq!(generator.kind(), *kind),
                Err(message) => assert!(
                    message.contains("missing field") && !message.contains("unknown"),
                    "{kind}: {message}"
                ),
            }
        }
        let unknown = parse(toml::Value::String("uuidv7".into())).unwrap_err();
        assert!(
            unknown.contains("unknown generator kind \"uuidv7\""),
            "{unknown}"
        );
    }

    /// A generator file whose `impl ColumnGenerator` has no line in `registry!` could
    /// never be named by a dataset file: "a file and one line" holds only if the
    /// forgotten line is caught.
    #[test]
    fn every_generator_file_is_registered() {
        let registered: Vec<String> = REGISTERED_TYPES
            .iter()
            .map(|generator| generator.replace(' ', ""))
            .collect();
        let folder =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/datagen/generators");
        for entry in std::fs::read_dir(folder).unwrap() {
            let path = entry.unwrap().path();
            let Some(module) = path.file_stem().and_then(|stem| stem.to_str()) else {
                continue;
            };
            if module == "mod" {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let implemented: Vec<&str> = text
                .lines()
                .filter_map(|line| line.strip_prefix("impl ColumnGenerator for "))
                .map(|rest| rest.trim_end_matches(" {"))
                .collect();
            assert!(
                !implemented.is_empty(),
                "{module}.rs implements no ColumnGenerator"
            );
            for generator in implemented {
                let name = format!("{module}::{generator}");
                assert!(
                    registered.contains(&name),
                    "{name} implements ColumnGenerator but has no line in registry!"
                );
            }
        }
    }
}
