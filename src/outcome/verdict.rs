//! What a check decided about one variant: a [`Verdict`], with the [`Finding`]s
//! tied to the plan nodes that caused them, and the [`Expect`]ation a plan check was
//! given. Plain data that `judge` produces and every report reads.

use serde::{Deserialize, Serialize};

use crate::plan::{Node, NodePath};

/// Whether a plan check's finding is expected in a query's plan. Expecting `present`
/// is how a scenario proves the old query reproduces the regression: without it, a
/// clean new plan proves nothing.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Expect {
    Present,
    #[default]
    Absent,
}

impl Expect {
    /// `query` when this expectation says its plan shows the regression.
    pub(crate) fn regressing(self, query: &str) -> Vec<&str> {
        match self {
            Expect::Present => vec![query],
            Expect::Absent => vec![],
        }
    }
}

/// One thing a check found, tied to the plan node that caused it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    pub query: String,
    pub node: NodePath,
    /// The node as a reader recognises it: `Index Scan using … on …`.
    pub node_label: String,
    pub message: String,
}

/// The outcome of one check on one variant.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    /// The check's kebab-case name.
    pub check: &'static str,
    /// What was judged: a query name, or `candidate vs baseline`.
    pub subject: String,
    pub passed: bool,
    /// The queries the check read.
    pub queries: Vec<String>,
    /// One sentence saying what was found and what was required.
    pub summary: String,
    pub findings: Vec<Finding>,
    /// What a check expected of its query (a plan check's problem, a growth); `None`
    /// for the comparisons.
    pub expect: Option<Expect>,
    /// Whether the check could judge at all in this run: a growth check in a run at
    /// one scale could not. Such a verdict does not fail the run, and every report
    /// shows it as not judged, never as a pass.
    pub judged: bool,
}

impl Verdict {
    /// A verdict with no findings.
    pub fn new(check: &'static str, subject: String, passed: bool, summary: String) -> Verdict {
        Verdict {
            check,
            subject,
            passed,
            queries: vec![],
            summary,
            findings: vec![],
            expect: None,
            judged: true,
        }
    }
}

impl Finding {
    /// A finding about `node` at `path` in `query`'s plan.
    pub fn at(query: &str, path: NodePath, node: &Node, message: String) -> Finding {
        Finding {
            query: query.to_owned(),
            node: path,
            node_label: node.label(),
            message,
        }
    }
}
