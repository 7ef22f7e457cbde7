//! `rows-examined`: a budget on the rows each scan node reads: at most `max_per_row`
//! rows per row the statement returns, and at most `max_rows` in all. Unlike
//! `row-amplification` (the plan as a whole), it points at every scan over budget,
//! which is what a filter or a deep page that defeats an index shows: one node reading
//! far more than the page it feeds.

use serde::{Deserialize, Serialize};

use super::{Check, expectation_verdict, query};
use crate::format::format_count;
use crate::outcome::{Evidence, QueryEvidence};
use crate::outcome::{Expect, Finding, Verdict};

/// Configuration of the `rows-examined` check.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RowsExamined {
    pub query: String,
    /// Rows a scan may read per row returned (a statement returning none counts as one).
    pub max_per_row: Option<f64>,
    /// Rows a scan may read, whatever the statement returns.
    pub max_rows: Option<f64>,
    #[serde(default)]
    pub expect: Expect,
}

impl Check for RowsExamined {
    fn name(&self) -> &'static str {
        "rows-examined"
    }

    fn queries(&self) -> Vec<&str> {
        vec![&self.query]
    }

    fn reads(&self) -> super::PlanReading {
        super::PlanReading::Counts
    }

    fn validate(&self) -> Result<(), String> {
        if self.max_per_row.is_none() && self.max_rows.is_none() {
            return Err("give max_per_row, max_rows or both".into());
        }
        for (key, value) in [
            ("max_per_row", self.max_per_row),
            ("max_rows", self.max_rows),
        ] {
            if let Some(value) = value
                && !(value.is_finite() && value >= 1.0)
            {
                return Err(format!(
                    "{key} = {value} must be a number of rows, at least 1"
                ));
            }
        }
        Ok(())
    }

    fn regressing_queries(&self) -> Vec<&str> {
        self.expect.regressing(&self.query)
    }

    fn judge(&self, evidence: &Evidence) -> Verdict {
        let query = query(evidence, &self.query);
        expectation_verdict(
            self.name(),
            query,
            evidence.is_baseline(&self.query),
            self.expect,
            super::needs_analyzed(query, "rows examined").map(|()| self.detect(query)),
            &self.describe(),
        )
    }
}

impl RowsExamined {
    fn describe(&self) -> String {
        let mut limits = Vec::new();
        if let Some(per_row) = self.max_per_row {
            limits.push(format!("{per_row} rows per row returned"));
        }
        if let Some(rows) = self.max_rows {
            limits.push(format!("{} rows", format_count(rows)));
        }
        format!("scans reading more than {}", limits.join(" or "))
    }

    /// Every scan node over budget.
    pub fn detect(&self, query: &QueryEvidence) -> Vec<Finding> {
        let returned = query.plan.rows_returned();
        let per_row_limit = self.max_per_row.map(|per_row| per_row * returned.max(1.0));
        let limit = match (per_row_limit, self.max_rows) {
            (Some(a), Some(b)) => a.min(b),
            (Some(a), None) | (None, Some(a)) => a,
            (None, None) => f64::INFINITY,
        };
        query
            .plan
            .nodes()
            .filter(|(_, node)| node.is_relation_scan() && node.rows_examined() > limit)
            .map(|(path, node)| {
                let message = format!(
                    "read {} rows (over {} loop(s)) for a statement that returned {}; the budget is {}",
                    format_count(node.rows_examined()),
                    format_count(node.actual_loops),
                    format_count(returned),
                    format_count(limit),
                );
                Finding::at(&query.name, path, node, message)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::judge::{evaluate, stored};
    use crate::plan::Catalog;

    fn check(max_per_row: Option<f64>, max_rows: Option<f64>) -> RowsExamined {
        RowsExamined {
            query: "q".into(),
            max_per_row,
            max_rows,
            expect: Expect::Absent,
        }
    }

    #[test]
    fn the_walking_scan_is_over_a_per_row_budget() {
        let walk = stored::query("q", "desc-index-forward-walk.explain.json", &[]);
        let findings = check(Some(10.0), None).detect(&walk);
        assert_eq!(findings.len(), 1, "{findings:#?}");
        assert_eq!(
            findings[0].node_label,
            "Index Scan using workflow_runs_created_at on workflow_runs"
        );
        assert!(
            findings[0].message.contains("the budget is 260"),
            "{}",
            findings[0].message
        );
    }

    #[test]
    fn a_page_read_through_its_index_is_within_budget_and_the_cap_is_absolute() {
        let page = stored::query("q", "org-index.explain.json", &[]);
        assert!(check(Some(2.0), None).detect(&page).is_empty());
        // The org-index plan reads 26 rows from each of its two scans.
        assert_eq!(check(None, Some(25.0)).detect(&page).len(), 2);
        let evidence = stored::evidence(vec![page], Catalog::default());
        assert!(evaluate(&check(Some(2.0), Some(1000.0)), &evidence).passed);
        assert!(check(None, None).validate().is_err());
        assert!(check(Some(0.5), None).validate().is_err());
    }
}
