//! Foreign keys as links between the tables fitted: which key columns a generator can
//! fill (one column to one column of another named table), which it cannot (and so
//! leaves out, saying why), and the order that generates a referenced table first.

use std::collections::BTreeMap;

use super::super::stats::{ForeignKey, Table};

/// A foreign key of one column to one column of another named table.
#[derive(Debug, Clone)]
pub(super) struct Link {
    /// A parent link chosen for its skew, whose parent gets groups.
    pub skewed: bool,
    /// The key column may be NULL: a cycle can be broken here.
    pub nullable: bool,
    pub column: String,
    pub to_table: String,
    pub to_column: String,
}

/// Every table's links and the key columns no generator fills, in generation order.
pub(super) struct Keys {
    /// Table → its links.
    pub links: BTreeMap<String, Vec<Link>>,
    /// Table → key columns no generator can fill consistently, with why.
    pub unkeyed: BTreeMap<String, Vec<(String, String)>>,
    /// Table names, a referenced table before the tables referring to it.
    pub order: Vec<String>,
    /// Table → its rows, for the picks of references to it.
    pub rows: BTreeMap<String, f64>,
}

impl Keys {
    /// The links of `tables`, or why a key cannot be fitted at all (a NOT NULL key to
    /// a table left out, a cycle of NOT NULL keys).
    pub fn of(tables: &[Table]) -> Result<Keys, String> {
        let mut keys = Keys {
            links: BTreeMap::new(),
            unkeyed: BTreeMap::new(),
            order: Vec::new(),
            rows: tables.iter().map(|t| (t.name.clone(), t.rows)).collect(),
        };
        for table in tables {
            let mut own = Vec::new();
            for key in &table.foreign_keys {
                keys.add(table, key, tables, &mut own)?;
            }
            keys.links.insert(table.name.clone(), own);
        }
        keys.order = keys.order_breaking_cycles(tables)?;
        Ok(keys)
    }

    /// The tables in generation order.
    pub fn ordered<'a>(&self, tables: &'a [Table]) -> Vec<&'a Table> {
        self.order
            .iter()
            .filter_map(|name| tables.iter().find(|t| t.name == *name))
            .collect()
    }

    /// The reason `table.column` is left out, if it is an unfillable key.
    pub fn unkeyed(&self, table: &str, column: &str) -> Option<&String> {
        self.unkeyed
            .get(table)?
            .iter()
            .find(|(name, _)| name == column)
            .map(|(_, why)| why)
    }

    fn leave_out(&mut self, table: &str, columns: &[String], why: String) {
        for column in columns {
            self.unkeyed
                .entry(table.to_owned())
                .or_default()
                .push((column.clone(), why.clone()));
        }
    }

    /// Adds `key` of `table` as a link, or as columns left out.
    fn add(
        &mut self,
        table: &Table,
        key: &ForeignKey,
        tables: &[Table],
        own: &mut Vec<Link>,
    ) -> Result<(), String> {
        let target = tables.iter().find(|t| t.oid == key.to_oid);
        let nullable = key.columns.iter().all(|name| {
            table
                .columns
                .iter()
                .any(|column| column.name == *name && !column.not_null)
        });
        let Some(target) = target else {
            if nullable {
                let why = format!(
                    "it references {}, which --tables leaves out: NULL here (add that table to fit the key)",
                    key.to_table
                );
                self.leave_out(&table.name, &key.columns, why);
                return Ok(());
            }
            return Err(format!(
                "{}.{} references {} (foreign key {}), which --tables leaves out: add it, as the load restores the foreign key and its rows must exist",
                table.name,
                key.columns.join(", "),
                key.to_table,
                key.name
            ));
        };
        match (key.columns.as_slice(), key.to_columns.as_slice()) {
            _ if target.name == table.name => {
                let why = format!(
                    "it references its own table ({}): a dataset generates a table in one pass and cannot point its rows at each other, so it is NULL in every row",
                    key.name
                );
                self.leave_out(&table.name, &key.columns, why);
            }
            ([column], [to_column]) => own.push(Link {
                skewed: false,
                nullable,
                column: column.clone(),
                to_table: target.name.clone(),
                to_column: to_column.clone(),
            }),
            _ => {
                let why = format!(
                    "part of the multi-column foreign key {} to {}: columns generated one by one would not match a row; reference one column and copy the others (`copy` with `via`)",
                    key.name, target.name
                );
                self.leave_out(&table.name, &key.columns, why);
            }
        }
        Ok(())
    }

    /// The generation order, breaking each cycle at a key that may be NULL (that
    /// column is then left out).
    fn order_breaking_cycles(&mut self, tables: &[Table]) -> Result<Vec<String>, String> {
        let names: Vec<&str> = tables.iter().map(|t| t.name.as_str()).collect();
        loop {
            let cycle = match foreign_key_order(&names, &self.links) {
                Ok(order) => return Ok(order),
                Err(cycle) => cycle,
            };
            let Some((table, index)) = cycle.iter().find_map(|table| {
                self.links[table]
                    .iter()
                    .position(|link| link.nullable && cycle.contains(&link.to_table))
                    .map(|index| (table.clone(), index))
            }) else {
                return Err(format!(
                    "the foreign keys among {} form a cycle and every key in it is NOT NULL: no order can generate them; fit them without one of those tables",
                    cycle.join(", ")
                ));
            };
            let link = self
                .links
                .get_mut(&table)
                .expect("a table of the cycle")
                .remove(index);
            let why = format!(
                "it references {}, and the foreign keys form a cycle this key breaks: NULL here",
                link.to_table
            );
            self.leave_out(&table, &[link.column], why);
        }
    }
}

/// Tables in foreign-key order (a referenced table before the tables referring to
/// it), otherwise in the order named; or the tables a cycle leaves unplaced.
fn foreign_key_order(
    names: &[&str],
    links: &BTreeMap<String, Vec<Link>>,
) -> Result<Vec<String>, Vec<String>> {
    let mut placed: Vec<String> = Vec::new();
    while placed.len() < names.len() {
        let next = names.iter().find(|name| {
            !placed.iter().any(|p| p == *name)
                && links[**name]
                    .iter()
                    .all(|link| placed.contains(&link.to_table))
        });
        match next {
            Some(name) => placed.push((*name).to_owned()),
            None => {
                return Err(names
                    .iter()
                    .filter(|name| !placed.iter().any(|p| p == *name))
                    .map(|name| (*name).to_owned())
                    .collect());
            }
        }
    }
    Ok(placed)
}
