//! `copy`: a column of an ancestor row (`from = "organizations.name"`), or of the row
//! an earlier reference column of this row picked (`via = "workflow_id"`): the shape
//! of a denormalised column.

use serde::Deserialize;

use super::{ColumnGenerator, Reads, RowContext, Scope};
use crate::datagen::rng::SeededRng;
use crate::value::{Value, ValueKind};

/// `kind = "copy"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Copy {
    /// `table.column` to copy.
    pub from: String,
    /// A reference column of this row whose picked row is copied from.
    pub via: Option<String>,
    #[serde(skip)]
    resolved: Option<(usize, usize, Option<usize>)>,
}

impl ColumnGenerator for Copy {
    fn resolve(&mut self, scope: &Scope) -> Result<ValueKind, String> {
        let (table, column, kind) = scope.table_column(&self.from)?;
        let via = match &self.via {
            None if scope.is_ancestor(table) => None,
            None => {
                return Err(format!(
                    "{} is not an ancestor of {}; copy through a reference column with via = \"<column>\"",
                    scope.tables[table].name,
                    scope.tables[scope.own()].name
                ));
            }
            Some(name) => {
                let (via, _) = scope.own_column(name)?;
                let own = &scope.tables[scope.own()];
                if !own.references.contains(&(via, table)) {
                    return Err(format!(
                        "via = {name:?} must be a reference column of this table to {}, so that the copied row is the one it picked",
                        scope.tables[table].name
                    ));
                }
                Some(via)
            }
        };
        self.resolved = Some((table, column, via));
        Ok(kind)
    }

    fn reads(&self, reads: &mut Reads) {
        if let Some((table, column, _)) = self.resolved {
            reads.columns.push((table, column));
        }
    }

    fn generate(&mut self, _rng: &mut SeededRng, row: &RowContext, _pick: &mut u32) -> Value {
        let Some((table, column, via)) = self.resolved else {
            return Value::Null;
        };
        let source = match via {
            None => row.ancestors.get(table).copied(),
            Some(via) => row.picks.get(via).copied(),
        };
        match source {
            Some(source) if source != u32::MAX => row.value_in(table, column, source).clone(),
            _ => Value::Null,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datagen::generators::{Materialized, TableSignature};
    use crate::datagen::rng::stream;

    #[test]
    fn copies_from_the_ancestor_or_through_a_pick() {
        let signatures = vec![
            TableSignature {
                name: "orgs".into(),
                columns: vec![("name".into(), ValueKind::Text)],
                ancestors: vec![],
                references: vec![],
            },
            TableSignature {
                name: "projects".into(),
                columns: vec![("slug".into(), ValueKind::Text)],
                ancestors: vec![],
                references: vec![],
            },
            TableSignature {
                name: "runs".into(),
                columns: vec![("project_id".into(), ValueKind::Int)],
                ancestors: vec![0],
                references: vec![(0, 1)],
            },
        ];
        let tables = vec![
            Materialized {
                parent: vec![u32::MAX],
                columns: vec![Some(vec![Value::Text("acme".into())])],
            },
            Materialized {
                parent: vec![u32::MAX; 2],
                columns: vec![Some(vec![Value::Text("a".into()), Value::Text("b".into())])],
            },
        ];
        let scope = Scope {
            tables: &signatures,
            as_of_micros: 0,
        };
        let mut name: Copy = toml::from_str("from = \"orgs.name\"").unwrap();
        assert_eq!(name.resolve(&scope).unwrap(), ValueKind::Text);
        let mut slug: Copy =
            toml::from_str("from = \"projects.slug\"\nvia = \"project_id\"").unwrap();
        slug.resolve(&scope).unwrap();
        let ancestors = [0, u32::MAX, u32::MAX];
        let picks = [1];
        let row = RowContext {
            row: 0,
            values: &[],
            ancestors: &ancestors,
            picks: &picks,
            tables: &tables,
        };
        let mut rng = stream(0, "runs", "c");
        let mut pick = u32::MAX;
        assert_eq!(
            name.generate(&mut rng, &row, &mut pick),
            Value::Text("acme".into())
        );
        assert_eq!(
            slug.generate(&mut rng, &row, &mut pick),
            Value::Text("b".into())
        );
        let mut unrelated: Copy = toml::from_str("from = \"projects.slug\"").unwrap();
        assert!(unrelated.resolve(&scope).unwrap_err().contains("via"));
    }
}
