//! `reference`: the key of a row of an earlier table. When that table is an ancestor
//! (the parent, or the parent's parent…), the value is the row's own ancestor: a
//! foreign key that follows the fan-out. Otherwise a row is picked, among all rows of
//! that table or, with `within`, among those that share this row's ancestor in the
//! `within` table (a run's workflow is one of its own organization's workflows). The
//! pick is `uniform`, `power` (row index `u^exponent × n`: the first rows busiest)
//! or `zipf`.

use rand::RngExt;
use serde::Deserialize;

use super::number::{zipf_cdf, zipf_rank};
use super::{ColumnGenerator, Materialized, Reads, RowContext, Scope, TableSignature};
use crate::datagen::rng::SeededRng;
use crate::value::{Value, ValueKind};

/// How a row is picked among the candidates.
#[derive(Debug, Clone, Copy, Default, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Pick {
    #[default]
    Uniform,
    Power,
    Zipf,
}

/// `kind = "reference"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reference {
    /// `table.column` of the referenced key.
    pub to: String,
    /// An ancestor table shared by this table and the referenced one.
    pub within: Option<String>,
    #[serde(default)]
    pub pick: Pick,
    /// For `power` (default 2) and `zipf` (default 1).
    pub exponent: Option<f64>,
    #[serde(skip)]
    resolved: Option<Resolved>,
    /// Candidate rows per row of the `within` table (or one list of all rows).
    #[serde(skip)]
    candidates: Vec<Vec<u32>>,
    #[serde(skip)]
    zipf: Vec<Vec<f64>>,
}

#[derive(Debug, Clone, Copy)]
struct Resolved {
    table: usize,
    column: usize,
    /// The referenced table is this row's ancestor: no pick.
    ancestor: bool,
    within: Option<usize>,
}

impl Reference {
    /// The referenced table, once resolved.
    pub fn table(&self) -> Option<usize> {
        self.resolved.map(|resolved| resolved.table)
    }
}

impl ColumnGenerator for Reference {
    fn resolve(&mut self, scope: &Scope) -> Result<ValueKind, String> {
        let (table, column, kind) = scope.table_column(&self.to)?;
        if table == scope.own() {
            return Err(format!(
                "to = {:?} refers to its own table; refer to an earlier table",
                self.to
            ));
        }
        let ancestor = scope.is_ancestor(table);
        if ancestor && (self.within.is_some() || self.pick != Pick::Uniform) {
            return Err(format!(
                "{} is an ancestor of this table, so each row refers to its own ancestor row; within and pick do not apply",
                scope.tables[table].name
            ));
        }
        let within = match &self.within {
            None => None,
            Some(name) => {
                let within = scope.table(name)?;
                if !scope.is_ancestor(within) || !scope.tables[table].ancestors.contains(&within) {
                    return Err(format!(
                        "within = {name:?} must be an ancestor of both this table and {}",
                        scope.tables[table].name
                    ));
                }
                Some(within)
            }
        };
        match (self.pick, self.exponent) {
            (Pick::Uniform, Some(_)) => {
                return Err("exponent goes with pick = \"power\" or \"zipf\"".into());
            }
            (_, Some(exponent)) if !(exponent > 0.0 && exponent.is_finite()) => {
                return Err(format!("exponent = {exponent} must be positive"));
            }
            _ => {}
        }
        self.resolved = Some(Resolved {
            table,
            column,
            ancestor,
            within,
        });
        Ok(kind)
    }

    fn reads(&self, reads: &mut Reads) {
        if let Some(resolved) = self.resolved {
            reads.columns.push((resolved.table, resolved.column));
            if !resolved.ancestor {
                reads.tables.push(resolved.table);
            }
        }
    }

    fn prepare(&mut self, tables: &[Materialized], signatures: &[TableSignature]) {
        let Some(resolved) = self.resolved.filter(|r| !r.ancestor) else {
            return;
        };
        let referenced = &tables[resolved.table];
        self.candidates = match resolved.within {
            None => vec![(0..referenced.rows()).collect()],
            Some(within) => {
                let mut lists = vec![Vec::new(); tables[within].rows() as usize];
                let chain = &signatures[resolved.table].ancestors;
                for row in 0..referenced.rows() {
                    if let Some(owner) = ancestor_row(tables, chain, resolved.table, row, within) {
                        lists[owner as usize].push(row);
                    }
                }
                lists
            }
        };
        if self.pick == Pick::Zipf {
            let exponent = self.exponent.unwrap_or(1.0);
            self.zipf = self
                .candidates
                .iter()
                .map(|list| zipf_cdf(list.len(), exponent))
                .collect();
        }
    }

    fn generate(&mut self, rng: &mut SeededRng, row: &RowContext, pick: &mut u32) -> Value {
        let Some(resolved) = self.resolved else {
            return Value::Null;
        };
        let chosen = if resolved.ancestor {
            row.ancestors
                .get(resolved.table)
                .copied()
                .unwrap_or(u32::MAX)
        } else {
            let list_index = match resolved.within {
                None => 0,
                Some(within) => row.ancestors.get(within).copied().unwrap_or(u32::MAX) as usize,
            };
            match self
                .candidates
                .get(list_index)
                .filter(|list| !list.is_empty())
            {
                None => u32::MAX,
                Some(list) => {
                    let index = match self.pick {
                        Pick::Uniform => rng.random_range(0..list.len()),
                        Pick::Power => {
                            let u: f64 = rng.random();
                            (u.powf(self.exponent.unwrap_or(2.0)) * list.len() as f64) as usize
                        }
                        Pick::Zipf => zipf_rank(&self.zipf[list_index], rng),
                    };
                    list[index.min(list.len() - 1)]
                }
            }
        };
        *pick = chosen;
        if chosen == u32::MAX {
            return Value::Null;
        }
        row.value_in(resolved.table, resolved.column, chosen)
            .clone()
    }
}

/// The row in table `target` that is an ancestor of `row` of `table`, following the
/// parent links along `chain` (the table's ancestors, nearest first).
pub fn ancestor_row(
    tables: &[Materialized],
    chain: &[usize],
    table: usize,
    row: u32,
    target: usize,
) -> Option<u32> {
    let mut current_table = table;
    let mut current_row = row;
    for next_table in chain {
        current_row = *tables[current_table].parent.get(current_row as usize)?;
        current_table = *next_table;
        if current_table == target {
            return Some(current_row);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datagen::rng::stream;

    /// Two organizations (table 0) with three and one workflows (table 1); runs are
    /// table 2, children of organizations.
    fn world() -> (Vec<TableSignature>, Vec<Materialized>) {
        let signatures = vec![
            TableSignature {
                name: "orgs".into(),
                columns: vec![("id".into(), ValueKind::Int)],
                ancestors: vec![],
                references: vec![],
            },
            TableSignature {
                name: "workflows".into(),
                columns: vec![("id".into(), ValueKind::Int)],
                ancestors: vec![0],
                references: vec![],
            },
            TableSignature {
                name: "runs".into(),
                columns: vec![],
                ancestors: vec![0],
                references: vec![],
            },
        ];
        let tables = vec![
            Materialized {
                parent: vec![u32::MAX; 2],
                columns: vec![Some(vec![Value::Int(100), Value::Int(200)])],
            },
            Materialized {
                parent: vec![0, 0, 0, 1],
                columns: vec![Some((10..14).map(Value::Int).collect())],
            },
        ];
        (signatures, tables)
    }

    fn reference(
        text: &str,
        signatures: &[TableSignature],
        tables: &[Materialized],
    ) -> Result<Reference, String> {
        let mut reference: Reference = toml::from_str(text).unwrap();
        reference.resolve(&Scope {
            tables: signatures,
            as_of_micros: 0,
        })?;
        reference.prepare(tables, signatures);
        Ok(reference)
    }

    #[test]
    fn an_ancestor_key_is_the_rows_own_ancestor() {
        let (signatures, tables) = world();
        let mut organization = reference("to = \"orgs.id\"", &signatures, &tables).unwrap();
        let ancestors = [1, u32::MAX, u32::MAX];
        let row = RowContext {
            row: 0,
            values: &[],
            ancestors: &ancestors,
            picks: &[],
            tables: &tables,
        };
        let mut pick = 0;
        assert_eq!(
            organization.generate(&mut stream(1, "runs", "org"), &row, &mut pick),
            Value::Int(200)
        );
        assert_eq!(pick, 1);
    }

    #[test]
    fn within_picks_only_rows_under_the_same_ancestor_skewed_by_power() {
        let (signatures, tables) = world();
        let mut workflow = reference(
            "to = \"workflows.id\"\nwithin = \"orgs\"\npick = \"power\"\nexponent = 2.0",
            &signatures,
            &tables,
        )
        .unwrap();
        let mut rng = stream(1, "runs", "workflow_id");
        let mut counts = [0usize; 4];
        for organization in [0u32, 1] {
            let ancestors = [organization, u32::MAX, u32::MAX];
            let row = RowContext {
                row: 0,
                values: &[],
                ancestors: &ancestors,
                picks: &[],
                tables: &tables,
            };
            for _ in 0..30_000 {
                let mut pick = 0;
                workflow.generate(&mut rng, &row, &mut pick);
                counts[pick as usize] += 1;
                assert_eq!(tables[1].parent[pick as usize], organization);
            }
        }
        // u² × 3: P(0) = √(1/3) ≈ 0.577, P(1) ≈ 0.239, P(2) ≈ 0.184.
        assert!(
            (counts[0] as f64 / 30_000.0 - 0.577).abs() < 0.015,
            "{counts:?}"
        );
        assert!(counts[0] > counts[1] && counts[1] > counts[2]);
        assert_eq!(
            counts[3], 30_000,
            "the second organization has one workflow"
        );
    }

    #[test]
    fn within_must_be_a_shared_ancestor() {
        let (signatures, tables) = world();
        let error = reference(
            "to = \"workflows.id\"\nwithin = \"runs\"",
            &signatures,
            &tables,
        )
        .unwrap_err();
        assert!(error.contains("ancestor"), "{error}");
        let error = reference("to = \"workflows.nope\"", &signatures, &tables).unwrap_err();
        assert!(
            error.contains("nope") && error.contains("declares id"),
            "{error}"
        );
    }
}
