//! `ordered-walk`: a scan that walks a whole index in the order of a column, which is
//! how `ORDER BY col LIMIT n` goes wrong when the rows it wants are rare or far back.
//!
//! The walk is recognised from catalog facts, never from index names or from the word
//! "Backward": a newest-first walk of `created_at` is a forward scan of an index
//! declared `(created_at DESC)` and a backward scan of one declared `(created_at)`.
//! Both are the same walk, and both are found. An index whose leading key is another
//! column (say `(organization_id, created_at DESC)` with an equality condition on
//! `organization_id`) orders rows by the column only within one group: that is not
//! a walk of the table, and `row-amplification` catches it if it reads too much.

use serde::{Deserialize, Serialize};

use super::{Check, expectation_verdict, query};
use crate::format::format_count;
use crate::outcome::{Evidence, QueryEvidence};
use crate::outcome::{Expect, Finding, Verdict};
use crate::plan::{Catalog, ScanDirection};

/// Configuration of the `ordered-walk` check.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OrderedWalk {
    /// The query whose plan is judged.
    pub query: String,
    /// The walked column as `table.column`.
    pub column: String,
    #[serde(default)]
    pub expect: Expect,
}

impl Check for OrderedWalk {
    fn name(&self) -> &'static str {
        "ordered-walk"
    }

    fn queries(&self) -> Vec<&str> {
        vec![&self.query]
    }

    fn reads(&self) -> super::PlanReading {
        super::PlanReading::Shape
    }

    fn validate(&self) -> Result<(), String> {
        self.validate_column()
    }

    fn relations(&self) -> Vec<(&str, Option<&str>)> {
        match self.column.rsplit_once('.') {
            Some((table, column)) => vec![(table, Some(column))],
            None => vec![],
        }
    }

    fn regressing_queries(&self) -> Vec<&str> {
        self.expect.regressing(&self.query)
    }

    fn judge(&self, evidence: &Evidence) -> Verdict {
        let query = query(evidence, &self.query);
        let found = self.detect(query, evidence.catalog_for(query));
        expectation_verdict(
            self.name(),
            query,
            evidence.is_baseline(&self.query),
            self.expect,
            found,
            &self.describe(),
        )
    }
}

impl OrderedWalk {
    fn validate_column(&self) -> Result<(), String> {
        match self.column.rsplit_once('.') {
            Some((table, column))
                if !table.is_empty() && !column.is_empty() && !column.contains('.') =>
            {
                Ok(())
            }
            _ => Err(format!(
                "column = {:?} must be written as \"table.column\", e.g. \"orders.created_at\"",
                self.column
            )),
        }
    }

    /// What this check looks for, for verdict sentences.
    fn describe(&self) -> String {
        format!("ordered walk of {}", self.column)
    }

    /// Every index scan in the plan that walks the configured column's order over the
    /// whole table.
    pub fn detect(&self, query: &QueryEvidence, catalog: &Catalog) -> Result<Vec<Finding>, String> {
        let (table, column) = self.column.rsplit_once('.').unwrap_or(("", &self.column));
        // EXPLAIN names relations without their schema.
        let table = table.rsplit('.').next().unwrap_or(table);
        let returned = query.plan.rows_returned();
        let mut findings = Vec::new();
        for (path, node) in query.plan.nodes() {
            if !node.is_ordered_index_scan() || node.relation.as_deref() != Some(table) {
                continue;
            }
            let Some(index_name) = node.index_name.as_deref() else {
                continue;
            };
            let index = catalog.index(index_name).ok_or_else(|| {
                format!(
                    "the plan scans index {index_name}, which the catalog facts do not describe"
                )
            })?;
            let Some(leading) = index.leading_key() else {
                continue;
            };
            if leading.column.as_deref() != Some(column) {
                continue;
            }
            let direction = node.scan_direction.unwrap_or(ScanDirection::Forward);
            let walks_descending = match direction {
                ScanDirection::Forward => leading.descending,
                ScanDirection::Backward => !leading.descending,
                // A scan that does not move reads at most one key: no walk.
                ScanDirection::NoMovement => continue,
            };
            let order = if walks_descending {
                "descending"
            } else {
                "ascending"
            };
            let walk = format!(
                "{direction:?} scan of {index_name} {keys} walks {table} in {column} {order} order",
                keys = index.keys_display(),
            );
            let message = if query.plan.analyzed {
                format!(
                    "{walk}: it read {examined} rows (over {loops} loop(s)) for a statement that returned {returned}",
                    examined = format_count(node.rows_examined()),
                    loops = format_count(node.actual_loops),
                    returned = format_count(returned),
                )
            } else {
                format!(
                    "{walk} (estimated plan: the planner expects {} rows from it per loop)",
                    format_count(node.plan_rows)
                )
            };
            findings.push(Finding::at(&query.name, path, node, message));
        }
        Ok(findings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::judge::stored;
    use crate::plan::NodePath;

    fn check(expect: Expect) -> OrderedWalk {
        OrderedWalk {
            query: "old".into(),
            column: "workflow_runs.created_at".into(),
            expect,
        }
    }

    /// The single walk the check finds in a stored plan.
    fn the_one_walk(plan: &str, catalog: &str) -> Finding {
        let old = stored::query("old", plan, &[]);
        let findings = check(Expect::Present)
            .detect(&old, &stored::catalog(catalog))
            .unwrap();
        assert_eq!(findings.len(), 1, "{findings:#?}");
        findings.into_iter().next().unwrap()
    }

    #[test]
    fn forward_scan_of_a_desc_index_is_a_newest_first_walk() {
        let walk = the_one_walk(
            "desc-index-forward-walk.explain.json",
            "desc-index.catalog.json",
        );
        assert_eq!(walk.node, NodePath(vec![0, 0]));
        assert!(
            walk.message
                .starts_with("Forward scan of workflow_runs_created_at (created_at DESC)")
        );
        assert!(
            walk.message.contains("in created_at descending order"),
            "{}",
            walk.message
        );
        assert!(walk.message.contains("990,081 rows"), "{}", walk.message);
    }

    #[test]
    fn backward_scan_of_an_asc_index_is_the_same_walk() {
        let walk = the_one_walk(
            "asc-index-backward-walk.explain.json",
            "asc-index.catalog.json",
        );
        assert!(
            walk.message
                .starts_with("Backward scan of workflow_runs_created_at (created_at)")
        );
        assert!(
            walk.message.contains("in created_at descending order"),
            "{}",
            walk.message
        );
    }

    #[test]
    fn an_equality_bounded_composite_index_is_not_a_walk() {
        let new = stored::query("new", "org-index.explain.json", &[]);
        let catalog = stored::catalog("desc-index.catalog.json");
        assert!(
            check(Expect::Absent)
                .detect(&new, &catalog)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn the_walk_is_found_by_catalog_facts_not_by_index_name() {
        // Rename the index in plan and catalog alike: the walk is still found, because
        // detection reads the index's key columns.
        let mut old = stored::query("old", "desc-index-forward-walk.explain.json", &[]);
        let mut catalog = stored::catalog("desc-index.catalog.json");
        fn rename(node: &mut crate::plan::Node) {
            if node.index_name.as_deref() == Some("workflow_runs_created_at") {
                node.index_name = Some("ix_42".into());
            }
            node.children.iter_mut().for_each(rename);
        }
        rename(&mut old.plan.root);
        catalog
            .indexes
            .iter_mut()
            .filter(|index| index.name == "workflow_runs_created_at")
            .for_each(|index| index.name = "ix_42".into());
        assert_eq!(
            check(Expect::Present).detect(&old, &catalog).unwrap().len(),
            1
        );

        // And a catalog that says the index leads with another column is believed.
        catalog
            .indexes
            .iter_mut()
            .filter(|index| index.name == "ix_42")
            .for_each(|index| index.keys[0].column = Some("finished_at".into()));
        assert!(
            check(Expect::Present)
                .detect(&old, &catalog)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn an_index_missing_from_the_catalog_cannot_be_judged() {
        let old = stored::query("old", "desc-index-forward-walk.explain.json", &[]);
        let error = check(Expect::Present)
            .detect(&old, &Catalog::default())
            .unwrap_err();
        assert!(error.contains("workflow_runs_created_at"), "{error}");
    }

    #[test]
    fn verdicts_follow_the_expectation() {
        let catalog = stored::catalog("desc-index.catalog.json");
        let evidence =
            |file| stored::evidence(vec![stored::query("old", file, &[1.0])], catalog.clone());
        let walks = evidence("desc-index-forward-walk.explain.json");
        let clean = evidence("org-index.explain.json");
        let judge = |expect, evidence| crate::judge::evaluate(&check(expect), evidence);
        assert!(judge(Expect::Present, &walks).passed);
        assert!(!judge(Expect::Absent, &walks).passed);
        let not_reproduced = judge(Expect::Present, &clean);
        assert!(!not_reproduced.passed);
        assert!(
            not_reproduced
                .summary
                .starts_with("regression not reproduced"),
            "{}",
            not_reproduced.summary
        );
        assert!(
            not_reproduced
                .summary
                .contains("workflow_runs_organization_id_created_at"),
            "names the plan it got instead: {}",
            not_reproduced.summary
        );
        assert!(judge(Expect::Absent, &clean).passed);
    }

    /// A problem expected in a query no comparison takes as its baseline is a problem
    /// found or not found, never "regression not reproduced ... proves nothing".
    #[test]
    fn outside_a_baseline_the_verdict_speaks_of_a_problem() {
        let catalog = stored::catalog("desc-index.catalog.json");
        let evidence = |file| {
            let mut evidence =
                stored::evidence(vec![stored::query("old", file, &[1.0])], catalog.clone());
            evidence.baselines.clear();
            evidence
        };
        let judge = |evidence: &Evidence| crate::judge::evaluate(&check(Expect::Present), evidence);
        let found = judge(&evidence("desc-index-forward-walk.explain.json"));
        assert!(
            found.passed && found.summary.starts_with("problem found: "),
            "{}",
            found.summary
        );
        let missing = judge(&evidence("org-index.explain.json"));
        assert!(
            !missing.passed
                && missing.summary.starts_with("problem not found: ")
                && !missing.summary.contains("proves nothing"),
            "{}",
            missing.summary
        );
    }
}
