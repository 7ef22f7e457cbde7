//! `row-amplification`: how many table rows a query reads for each row it returns.
//! A plan that reads thousands of rows to return a page has found its rows the slow
//! way, whichever index or join it used; this catches walks that `ordered-walk` was
//! not told to look for.

use serde::{Deserialize, Serialize};

use super::{Check, expectation_verdict, query};
use crate::format::format_count;
use crate::outcome::{Evidence, QueryEvidence};
use crate::outcome::{Expect, Finding, Verdict};

/// Configuration of the `row-amplification` check.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RowAmplification {
    /// The query whose plan is judged.
    pub query: String,
    /// The most rows examined per row returned that counts as healthy.
    pub max_ratio: f64,
    #[serde(default)]
    pub expect: Expect,
}

impl Check for RowAmplification {
    fn name(&self) -> &'static str {
        "row-amplification"
    }

    fn queries(&self) -> Vec<&str> {
        vec![&self.query]
    }

    fn reads(&self) -> super::PlanReading {
        super::PlanReading::Counts
    }

    fn validate(&self) -> Result<(), String> {
        if self.max_ratio.is_finite() && self.max_ratio >= 1.0 {
            Ok(())
        } else {
            Err(format!(
                "max_ratio = {} must be a number of at least 1 (rows examined per row returned)",
                self.max_ratio
            ))
        }
    }

    fn regressing_queries(&self) -> Vec<&str> {
        self.expect.regressing(&self.query)
    }

    fn judge(&self, evidence: &Evidence) -> Verdict {
        let query = query(evidence, &self.query);
        let found = self
            .detect(query)
            .map(|finding| finding.into_iter().collect());
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

impl RowAmplification {
    fn describe(&self) -> String {
        format!(
            "row amplification above {} rows examined per row returned",
            self.max_ratio
        )
    }

    /// A finding at the scan that read the most rows when the plan as a whole examines
    /// more than `max_ratio` rows per row returned. A statement returning no rows is
    /// measured as if it returned one, so an empty result still has to be cheap.
    pub fn detect(&self, query: &QueryEvidence) -> Result<Option<Finding>, String> {
        super::needs_analyzed(query, "rows examined")?;
        let plan = &query.plan;
        let examined = plan.rows_examined();
        let returned = plan.rows_returned();
        let ratio = examined / returned.max(1.0);
        if ratio <= self.max_ratio {
            return Ok(None);
        }
        let (path, node) = plan
            .nodes()
            .filter(|(_, node)| node.is_relation_scan())
            .max_by(|(_, a), (_, b)| a.rows_examined().total_cmp(&b.rows_examined()))
            .ok_or_else(|| "the plan reads rows but has no scan node".to_owned())?;
        let message = format!(
            "{examined} rows examined for {returned} returned ({ratio} per row returned, more than the {limit} allowed); \
             this scan read {node_rows} of them",
            examined = format_count(examined),
            returned = format_count(returned),
            ratio = format_count(ratio),
            limit = self.max_ratio,
            node_rows = format_count(node.rows_examined()),
        );
        Ok(Some(Finding::at(&query.name, path, node, message)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::judge::stored;

    fn check(max_ratio: f64) -> RowAmplification {
        RowAmplification {
            query: "q".into(),
            max_ratio,
            expect: Expect::Absent,
        }
    }

    #[test]
    fn a_long_walk_is_amplification_at_the_walking_node() {
        let old = stored::query("old", "desc-index-forward-walk.explain.json", &[]);
        let finding = check(10.0)
            .detect(&old)
            .unwrap()
            .expect("the walk reads ~38,000 rows per row returned");
        assert_eq!(
            finding.node_label,
            "Index Scan using workflow_runs_created_at on workflow_runs"
        );
        assert!(
            finding
                .message
                .contains("per row returned, more than the 10 allowed"),
            "{}",
            finding.message
        );
    }

    #[test]
    fn reading_a_page_through_the_right_index_is_not() {
        let new = stored::query("new", "org-index.explain.json", &[]);
        assert_eq!(new.plan.rows_returned(), 26.0);
        assert_eq!(new.plan.rows_examined(), 52.0);
        assert!(check(10.0).detect(&new).unwrap().is_none());
        // The limit is inclusive: 52 examined for 26 returned is exactly 2 per row.
        assert!(check(2.0).detect(&new).unwrap().is_none());
        assert!(check(1.9).detect(&new).unwrap().is_some());
    }

    #[test]
    fn a_short_walk_that_finds_its_rows_quickly_is_not() {
        let dense = stored::query("old", "dense-short-walk.explain.json", &[]);
        assert!(check(10.0).detect(&dense).unwrap().is_none());
    }

    #[test]
    fn max_ratio_below_one_is_rejected() {
        assert!(check(0.5).validate().is_err());
        assert!(check(f64::NAN).validate().is_err());
        assert!(check(1.0).validate().is_ok());
    }
}
