//! `no-node`: no plan node of a given type, optionally on a given relation: no
//! `Seq Scan` on `orders`, no `Sort`, no `Bitmap Heap Scan` on a hot table. With
//! `expect = "present"` it proves the old plan has the node.

use serde::{Deserialize, Serialize};

use super::{Check, expectation_verdict, query};
use crate::format::format_count;
use crate::outcome::{Evidence, QueryEvidence};
use crate::outcome::{Expect, Finding, Verdict};

/// Node types EXPLAIN reports, so that a misspelt type is refused instead of never
/// matching (which would pass every plan).
const NODE_TYPES: &[&str] = &[
    "Seq Scan",
    "Index Scan",
    "Index Only Scan",
    "Bitmap Heap Scan",
    "Bitmap Index Scan",
    "BitmapAnd",
    "BitmapOr",
    "Tid Scan",
    "Tid Range Scan",
    "Sample Scan",
    "Subquery Scan",
    "Function Scan",
    "Values Scan",
    "CTE Scan",
    "WorkTable Scan",
    "Foreign Scan",
    "Nested Loop",
    "Merge Join",
    "Hash Join",
    "Hash",
    "Sort",
    "Incremental Sort",
    "Aggregate",
    "Group",
    "Unique",
    "Limit",
    "Materialize",
    "Memoize",
    "Gather",
    "Gather Merge",
    "Append",
    "Merge Append",
    "SetOp",
    "WindowAgg",
    "Result",
    "ProjectSet",
    "LockRows",
    "ModifyTable",
];

/// Configuration of the `no-node` check.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NoNode {
    pub query: String,
    /// An EXPLAIN node type: `Seq Scan`, `Sort`, `Bitmap Heap Scan`, …
    pub node_type: String,
    /// Only nodes on this table count.
    pub relation: Option<String>,
    #[serde(default)]
    pub expect: Expect,
}

impl Check for NoNode {
    fn name(&self) -> &'static str {
        "no-node"
    }

    fn queries(&self) -> Vec<&str> {
        vec![&self.query]
    }

    fn reads(&self) -> super::PlanReading {
        super::PlanReading::Shape
    }

    fn validate(&self) -> Result<(), String> {
        if NODE_TYPES.contains(&self.node_type.as_str()) {
            Ok(())
        } else {
            Err(format!(
                "node_type = {:?} is not an EXPLAIN node type; known: {}",
                self.node_type,
                NODE_TYPES.join(", ")
            ))
        }
    }

    fn relations(&self) -> Vec<(&str, Option<&str>)> {
        self.relation
            .iter()
            .map(|relation| (relation.as_str(), None))
            .collect()
    }

    fn regressing_queries(&self) -> Vec<&str> {
        self.expect.regressing(&self.query)
    }

    fn judge(&self, evidence: &Evidence) -> Verdict {
        let query = query(evidence, &self.query);
        let problem = match &self.relation {
            Some(relation) => format!("{} on {relation}", self.node_type),
            None => self.node_type.clone(),
        };
        expectation_verdict(
            self.name(),
            query,
            evidence.is_baseline(&self.query),
            self.expect,
            Ok(self.detect(query)),
            &problem,
        )
    }
}

impl NoNode {
    /// Every node of the type (on the relation, if one is given).
    pub fn detect(&self, query: &QueryEvidence) -> Vec<Finding> {
        query
            .plan
            .nodes()
            .filter(|(_, node)| node.node_type == self.node_type)
            .filter(|(_, node)| match &self.relation {
                // EXPLAIN names relations without their schema.
                Some(relation) => node.relation.as_deref() == relation.rsplit('.').next(),
                None => true,
            })
            .map(|(path, node)| {
                let message = if query.plan.analyzed {
                    format!(
                        "{} emitted {} rows over {} loop(s)",
                        node.label(),
                        format_count(node.total_rows()),
                        format_count(node.actual_loops)
                    )
                } else {
                    format!(
                        "{} (estimated plan: the planner expects {} rows per loop)",
                        node.label(),
                        format_count(node.plan_rows)
                    )
                };
                Finding::at(&query.name, path, node, message)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::judge::stored;

    fn check(node_type: &str, relation: Option<&str>) -> NoNode {
        NoNode {
            query: "q".into(),
            node_type: node_type.into(),
            relation: relation.map(Into::into),
            expect: Expect::Absent,
        }
    }

    #[test]
    fn finds_nodes_by_type_and_relation() {
        let walk = stored::query("q", "desc-index-forward-walk.explain.json", &[]);
        assert_eq!(
            check("Index Scan", Some("workflow_runs"))
                .detect(&walk)
                .len(),
            1
        );
        assert!(check("Index Scan", Some("orders")).detect(&walk).is_empty());
        assert!(check("Seq Scan", None).detect(&walk).is_empty());
        assert_eq!(check("Limit", None).detect(&walk).len(), 1);
    }

    #[test]
    fn a_misspelt_node_type_is_refused() {
        assert!(
            check("Seq scan", None)
                .validate()
                .unwrap_err()
                .contains("Seq Scan")
        );
        assert!(check("Bitmap Heap Scan", Some("t")).validate().is_ok());
    }
}
