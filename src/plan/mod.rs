//! A typed view of `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON)` output. Parsing is lenient
//! on purpose (unlike scenario files): EXPLAIN's keys vary between server versions and
//! node types, and a plan brought from production must load whatever it carries. The
//! fields the checks rely on are typed; everything else stays reachable in `extra`.

pub mod catalog;

use serde::{Deserialize, Serialize};

pub use catalog::{Catalog, IndexFacts, IndexKey};

/// One plan: the tree plus the statement-level timings.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Plan {
    #[serde(rename = "Plan")]
    pub root: Node,
    #[serde(rename = "Planning Time", default)]
    pub planning_ms: f64,
    #[serde(rename = "Execution Time", default)]
    pub execution_ms: f64,
    /// Whether the plan was run (EXPLAIN ANALYZE) and its nodes carry actual rows,
    /// loops and timings. A plan of plain EXPLAIN carries only the planner's estimates,
    /// and every actual count in it reads as zero.
    #[serde(skip)]
    pub analyzed: bool,
}

/// Which way an index scan walks its index, as EXPLAIN reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ScanDirection {
    Forward,
    Backward,
    NoMovement,
}

/// A plan node.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Node {
    #[serde(rename = "Node Type")]
    pub node_type: String,
    #[serde(rename = "Relation Name", default)]
    pub relation: Option<String>,
    #[serde(rename = "Alias", default)]
    pub alias: Option<String>,
    #[serde(rename = "Index Name", default)]
    pub index_name: Option<String>,
    #[serde(rename = "Scan Direction", default)]
    pub scan_direction: Option<ScanDirection>,
    #[serde(rename = "Index Cond", default)]
    pub index_cond: Option<String>,
    #[serde(rename = "Filter", default)]
    pub filter: Option<String>,
    #[serde(rename = "Join Type", default)]
    pub join_type: Option<String>,
    #[serde(rename = "Plan Rows", default)]
    pub plan_rows: f64,
    #[serde(rename = "Total Cost", default)]
    pub total_cost: f64,
    /// Rows per loop (EXPLAIN averages over loops).
    #[serde(rename = "Actual Rows", default)]
    pub actual_rows: f64,
    #[serde(rename = "Actual Loops", default)]
    pub actual_loops: f64,
    #[serde(rename = "Actual Total Time", default)]
    pub actual_total_ms: f64,
    /// Per loop, like `actual_rows`.
    #[serde(rename = "Rows Removed by Filter", default)]
    pub rows_removed_by_filter: f64,
    /// Per loop, like `actual_rows`.
    #[serde(rename = "Rows Removed by Index Recheck", default)]
    pub rows_removed_by_recheck: f64,
    #[serde(rename = "Shared Hit Blocks", default)]
    pub shared_hit_blocks: u64,
    #[serde(rename = "Shared Read Blocks", default)]
    pub shared_read_blocks: u64,
    #[serde(rename = "Plans", default)]
    pub children: Vec<Node>,
    /// Every other key EXPLAIN gave for this node.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// Node types that read rows of a table (or its index) directly.
const RELATION_SCANS: [&str; 6] = [
    "Seq Scan",
    "Index Scan",
    "Index Only Scan",
    "Bitmap Heap Scan",
    "Tid Scan",
    "Sample Scan",
];

impl Plan {
    /// Parses the JSON document EXPLAIN (FORMAT JSON) returns: an array holding one
    /// object with a "Plan" key.
    pub fn from_explain_text(text: &str) -> Result<Plan, serde_json::Error> {
        Plan::from_explain(&serde_json::from_str(text)?)
    }

    /// Parses EXPLAIN (FORMAT JSON)'s document: the array the server prints, or the
    /// plan object inside it.
    pub fn from_explain(document: &serde_json::Value) -> Result<Plan, serde_json::Error> {
        let first = match document {
            serde_json::Value::Array(items) if !items.is_empty() => &items[0],
            other => other,
        };
        let mut plan = Plan::deserialize(first)?;
        // EXPLAIN ANALYZE gives every node its loops, even one that never ran.
        plan.analyzed = first
            .get("Plan")
            .is_some_and(|root| root.get("Actual Loops").is_some());
        Ok(plan)
    }

    /// Rows the statement returned.
    pub fn rows_returned(&self) -> f64 {
        self.root.total_rows()
    }

    /// Rows read from tables by all scan nodes, including rows a scan's filter removed
    /// and rows probed in every loop of a nested loop.
    pub fn rows_examined(&self) -> f64 {
        self.nodes()
            .filter(|(_, node)| node.is_relation_scan())
            .map(|(_, node)| node.rows_examined())
            .sum()
    }

    /// Shared buffers hit and read by the whole statement (the root's counters are
    /// cumulative over its subtree).
    pub fn buffers(&self) -> (u64, u64) {
        (self.root.shared_hit_blocks, self.root.shared_read_blocks)
    }

    /// The plan's shape in short: its scans in plan order, with the direction of an
    /// index walked backward (the plan itself when it scans nothing). Two plans of
    /// one query with the same shape read their rows the same way: a sweep and the
    /// stability rounds tell plans apart by it.
    pub fn shape(&self) -> String {
        let scans: Vec<String> = self
            .nodes()
            .filter(|(_, node)| node.is_relation_scan())
            .map(|(_, node)| match node.scan_direction {
                Some(ScanDirection::Backward) => format!("{} (backward)", node.label()),
                _ => node.label(),
            })
            .collect();
        match scans.is_empty() {
            true => self.root.label(),
            false => scans.join("; "),
        }
    }

    /// The labels of the scan nodes, in plan order: how the statement reaches its rows.
    pub fn access_path(&self) -> Vec<String> {
        self.nodes()
            .filter(|(_, node)| node.is_relation_scan())
            .map(|(_, node)| node.label())
            .collect()
    }

    /// Every node with its path from the root, depth first, parents before children.
    pub fn nodes(&self) -> impl Iterator<Item = (NodePath, &Node)> {
        let mut stack = vec![(NodePath(vec![]), &self.root)];
        std::iter::from_fn(move || {
            let (path, node) = stack.pop()?;
            for (index, child) in node.children.iter().enumerate().rev() {
                let mut child_path = path.0.clone();
                child_path.push(index);
                stack.push((NodePath(child_path), child));
            }
            Some((path, node))
        })
    }

    /// The node at `path`, if there is one.
    pub fn node(&self, path: &NodePath) -> Option<&Node> {
        path.0
            .iter()
            .try_fold(&self.root, |node, index| node.children.get(*index))
    }
}

impl Node {
    /// Whether this node reads a table (or one of its indexes) directly.
    pub fn is_relation_scan(&self) -> bool {
        RELATION_SCANS.contains(&self.node_type.as_str())
    }

    /// Whether this node walks a btree index in its order.
    pub fn is_ordered_index_scan(&self) -> bool {
        matches!(self.node_type.as_str(), "Index Scan" | "Index Only Scan")
    }

    /// Rows this node emitted over all its loops.
    pub fn total_rows(&self) -> f64 {
        self.actual_rows * self.actual_loops.max(1.0)
    }

    /// Rows this node read over all loops: the rows it emitted plus those its filter
    /// and index recheck discarded.
    pub fn rows_examined(&self) -> f64 {
        (self.actual_rows + self.rows_removed_by_filter + self.rows_removed_by_recheck)
            * self.actual_loops.max(1.0)
    }

    /// A short human label: `Index Scan using workflow_runs_created_at on workflow_runs`.
    pub fn label(&self) -> String {
        let mut label = self.node_type.clone();
        if let Some(join_type) = &self.join_type
            && join_type != "Inner"
        {
            label = format!("{label} ({join_type})");
        }
        if let Some(index) = &self.index_name {
            label.push_str(&format!(" using {index}"));
        }
        if let Some(relation) = &self.relation {
            label.push_str(&format!(" on {relation}"));
            if let Some(alias) = self.alias.as_ref().filter(|alias| *alias != relation) {
                label.push_str(&format!(" {alias}"));
            }
        }
        label
    }
}

/// The position of a node in its plan: child indexes from the root (`[]` is the root).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodePath(pub Vec<usize>);

impl std::fmt::Display for NodePath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.is_empty() {
            return write!(f, "root");
        }
        let steps: Vec<String> = self.0.iter().map(usize::to_string).collect();
        write!(f, "root/{}", steps.join("/"))
    }
}
