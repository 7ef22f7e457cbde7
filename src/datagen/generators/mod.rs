//! Column generators, one file per kind, like squawk's rules: each is a plain struct
//! read from the dataset file (`kind = "<name>"`), resolved once against the tables
//! declared before it, then asked for one value per row. Generators never touch a
//! database. Adding one is a file here, one line in `registry!` below (its name and
//! type), and its arm in [`Generator::resolve`] and [`Generator::generate`], which
//! the compiler asks for (and in `reads` and `prepare` when it reads earlier tables).

pub mod boolean;
pub mod choice;
pub mod copy;
pub mod fake;
pub mod hex;
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

/// Declares the registry once: the enum a dataset file's `kind` deserializes into
/// and [`KINDS`], the names error messages offer, so the two cannot drift apart.
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

        impl Generator {
            /// The name a dataset file gives this generator's kind.
            pub fn kind(&self) -> &'static str {
                match self {
                    $(Generator::$variant(_) => $name,)*
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

impl Generator {
    /// Resolves names against `scope` and checks parameters; returns the kind of
    /// value produced. The message says what would be accepted.
    pub fn resolve(&mut self, scope: &Scope) -> Result<ValueKind, String> {
        match self {
            Generator::Uuid(g) => Ok(g.resolve()),
            Generator::Sequence(g) => g.resolve(),
            Generator::Int(g) => g.resolve(),
            Generator::Float(g) => g.resolve(),
            Generator::Choice(g) => g.resolve(),
            Generator::Bool(g) => g.resolve(),
            Generator::Timestamp(g) => g.resolve(scope),
            Generator::Reference(g) => g.resolve(scope),
            Generator::Copy(g) => g.resolve(scope),
            Generator::Template(g) => g.resolve(scope),
            Generator::Fake(g) => g.resolve(),
            Generator::Json(g) => g.resolve(scope),
            Generator::Literal(g) => Ok(g.resolve()),
            Generator::Hex(g) => g.resolve(),
        }
    }

    /// The earlier columns and tables this generator reads.
    pub fn reads(&self, reads: &mut Reads) {
        match self {
            Generator::Reference(g) => g.reads(reads),
            Generator::Copy(g) => g.reads(reads),
            Generator::Template(g) => g.reads(reads),
            Generator::Json(g) => g.reads(reads),
            _ => {}
        }
    }

    /// Prepares lookups over the earlier tables, once before the first row.
    pub fn prepare(&mut self, tables: &[Materialized], signatures: &[TableSignature]) {
        match self {
            Generator::Reference(g) => g.prepare(tables, signatures),
            Generator::Json(g) => g.prepare(tables, signatures),
            _ => {}
        }
    }

    /// The next value. References also report the row they picked in `pick`.
    pub fn generate(&mut self, rng: &mut SeededRng, row: &RowContext, pick: &mut u32) -> Value {
        match self {
            Generator::Uuid(g) => g.generate(rng),
            Generator::Sequence(g) => g.generate(row),
            Generator::Int(g) => g.generate(rng),
            Generator::Float(g) => g.generate(rng),
            Generator::Choice(g) => g.generate(rng),
            Generator::Bool(g) => g.generate(rng),
            Generator::Timestamp(g) => g.generate(rng, row),
            Generator::Reference(g) => g.generate(rng, row, pick),
            Generator::Copy(g) => g.generate(row),
            Generator::Template(g) => g.generate(rng, row),
            Generator::Fake(g) => g.generate(rng),
            Generator::Json(g) => g.generate(rng, row),
            Generator::Literal(g) => g.generate(),
            Generator::Hex(g) => g.generate(rng),
        }
    }
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
}
