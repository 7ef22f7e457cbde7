//! Catalog facts the plan checks need and EXPLAIN does not carry: which columns an
//! index is built on and in which order. Captured from the server beside each plan and
//! saved in the report, so that a stored plan can be judged again without a server.

use serde::{Deserialize, Serialize};

/// The indexes of the tables a plan may touch.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Catalog {
    pub indexes: Vec<IndexFacts>,
}

/// One index, as `pg_index` describes it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IndexFacts {
    pub name: String,
    pub table: String,
    pub unique: bool,
    /// The partial-index predicate, if any.
    pub predicate: Option<String>,
    /// Key columns in index order (INCLUDE columns are not keys and are left out).
    pub keys: Vec<IndexKey>,
}

/// One key of an index.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IndexKey {
    /// The column name, or `None` for an expression key.
    pub column: Option<String>,
    /// Declared `DESC`.
    pub descending: bool,
}

impl Catalog {
    /// The index EXPLAIN calls `name`.
    pub fn index(&self, name: &str) -> Option<&IndexFacts> {
        self.indexes.iter().find(|index| index.name == name)
    }
}

impl IndexFacts {
    /// The first key, which decides the order the whole index is walked in.
    pub fn leading_key(&self) -> Option<&IndexKey> {
        self.keys.first()
    }

    /// `(created_at DESC)`-style rendering of the keys.
    pub fn keys_display(&self) -> String {
        let keys: Vec<String> = self
            .keys
            .iter()
            .map(|key| {
                let column = key.column.as_deref().unwrap_or("<expression>");
                if key.descending {
                    format!("{column} DESC")
                } else {
                    column.to_owned()
                }
            })
            .collect();
        format!("({})", keys.join(", "))
    }
}
