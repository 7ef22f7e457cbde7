//! `shared-buffers`: a budget on the shared buffers a statement touches (hit plus
//! read), the cost that does not depend on how warm the cache is or how fast the disk:
//! a page that touches a million buffers is slow in production even when it is fast
//! on a warm laptop.

use serde::{Deserialize, Serialize};

use super::{Check, expectation_verdict, query};
use crate::format::format_count;
use crate::outcome::{Evidence, QueryEvidence};
use crate::outcome::{Expect, Finding, Verdict};
use crate::plan::NodePath;

/// Configuration of the `shared-buffers` check.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SharedBuffers {
    pub query: String,
    /// The most buffers (hit + read) the statement may touch.
    pub max_buffers: u64,
    #[serde(default)]
    pub expect: Expect,
}

impl Check for SharedBuffers {
    fn name(&self) -> &'static str {
        "shared-buffers"
    }

    fn queries(&self) -> Vec<&str> {
        vec![&self.query]
    }

    fn reads(&self) -> super::PlanReading {
        super::PlanReading::Counts
    }

    fn validate(&self) -> Result<(), String> {
        if self.max_buffers == 0 {
            return Err(
                "max_buffers = 0 allows nothing; give the most buffers a healthy plan touches"
                    .into(),
            );
        }
        Ok(())
    }

    fn regressing_queries(&self) -> Vec<&str> {
        self.expect.regressing(&self.query)
    }

    fn judge(&self, evidence: &Evidence) -> Verdict {
        let query = query(evidence, &self.query);
        let problem = format!(
            "more than {} shared buffers touched",
            format_count(self.max_buffers as f64)
        );
        expectation_verdict(
            self.name(),
            query,
            evidence.is_baseline(&self.query),
            self.expect,
            self.detect(query),
            &problem,
        )
    }
}

impl SharedBuffers {
    /// A finding at the scan that touched the most buffers when the statement is over
    /// budget.
    pub fn detect(&self, query: &QueryEvidence) -> Result<Vec<Finding>, String> {
        super::needs_analyzed(query, "shared buffers")?;
        let (hit, read) = query.plan.buffers();
        if hit + read <= self.max_buffers {
            return Ok(vec![]);
        }
        let (path, node) = query
            .plan
            .nodes()
            .filter(|(_, node)| node.is_relation_scan())
            .max_by_key(|(_, node)| node.shared_hit_blocks + node.shared_read_blocks)
            .unwrap_or((NodePath(vec![]), &query.plan.root));
        let message = format!(
            "{} buffers touched ({} hit, {} read), budget {}; this node touched {}",
            format_count((hit + read) as f64),
            format_count(hit as f64),
            format_count(read as f64),
            format_count(self.max_buffers as f64),
            format_count((node.shared_hit_blocks + node.shared_read_blocks) as f64),
        );
        Ok(vec![Finding::at(&query.name, path, node, message)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::judge::stored;

    #[test]
    fn over_budget_points_at_the_busiest_scan() {
        let walk = stored::query("q", "desc-index-forward-walk.explain.json", &[]);
        let check = SharedBuffers {
            query: "q".into(),
            max_buffers: 1000,
            expect: Expect::Absent,
        };
        let findings = check.detect(&walk).unwrap();
        assert_eq!(findings.len(), 1);
        assert_eq!(
            findings[0].node_label,
            "Index Scan using workflow_runs_created_at on workflow_runs"
        );
        let page = stored::query("q", "org-index.explain.json", &[]);
        assert!(
            check.detect(&page).unwrap().is_empty(),
            "107 buffers are within 1,000"
        );
    }
}
