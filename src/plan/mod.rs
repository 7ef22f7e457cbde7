//! A typed view of `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON)` output. Parsing is lenient
//! on purpose (unlike scenario files): EXPLAIN's keys vary between server versions and
//! node types, and a plan brought from production must load whatever it carries. The
//! fields the checks rely on are typed; everything else stays reachable in `extra`.
//!
//! What differs between the versions plancheck is tested on (plans of 13, 15, 17 and
//! 18 in `tests/data/plans/pg*`): 13 on adds `WAL Records`/`WAL FPI`/`WAL Bytes` to
//! nodes (EXPLAIN's WAL option) and a `Planning` object with planning's buffers; 14
//! adds `Async Capable` and the `Memoize` node; 17 renames `I/O Read Time` to
//! `Shared I/O Read Time` beside the new local ones, and adds `Serialization` and
//! planning's `Memory Used` (the SERIALIZE and MEMORY options); 18 prints `Actual Rows` as a per-loop average with
//! two decimals (earlier versions round it to a whole number, so a node returning 40
//! rows in 3 loops counts 39 before 18), and adds `Index Searches` and `Disabled` to
//! nodes. Statement-level keys other than the timings are not kept; node keys are.

pub mod catalog;
pub mod diff;
pub mod impossible;
mod outline;

use serde::{Deserialize, Serialize};

pub use catalog::{Catalog, IndexFacts, IndexKey};
pub use impossible::Impossible;

/// Why an EXPLAIN document is not a plan plancheck can judge.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// Not JSON, or JSON without a plan's shape.
    #[error("{0}")]
    Json(#[from] serde_json::Error),
    /// A plan with numbers no server prints.
    #[error("{0}")]
    Impossible(Impossible),
}

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
    pub fn from_explain_text(text: &str) -> Result<Plan, PlanError> {
        Plan::from_explain(&serde_json::from_str(text)?)
    }

    /// Parses EXPLAIN (FORMAT JSON)'s document: the array the server prints, or the
    /// plan object inside it. A plan with numbers no server prints is refused
    /// ([`impossible`]), so no check ever reads one.
    pub fn from_explain(document: &serde_json::Value) -> Result<Plan, PlanError> {
        let first = match document {
            serde_json::Value::Array(items) if !items.is_empty() => &items[0],
            other => other,
        };
        if let Some(impossible) = impossible::find(first) {
            return Err(PlanError::Impossible(impossible));
        }
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
            // From 0.0, not `sum`: an empty f64 sum is -0.0, which prints as "-0".
            .fold(0.0, |total, rows| total + rows)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The versions whose plans are stored under `tests/data/plans/<version>/`: 13, 15
    /// and 17 captured from real servers, 18 written from its documentation and source.
    const VERSIONS: [&str; 4] = ["pg13", "pg15", "pg17", "pg18"];

    /// Every stored plan of `version`, as `(file name, raw document, parsed plan)`.
    fn stored(version: &str) -> Vec<(String, serde_json::Value, Plan)> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/plans")
            .join(version);
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|error| panic!("{}: {error}", dir.display()))
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.to_string_lossy().ends_with(".explain.json"))
            .collect();
        files.sort();
        files
            .into_iter()
            .map(|path| {
                let text = std::fs::read_to_string(&path).unwrap();
                let raw = serde_json::from_str(&text)
                    .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
                let plan = Plan::from_explain_text(&text)
                    .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
                let name = path.file_name().unwrap().to_string_lossy().into_owned();
                (name, raw, plan)
            })
            .collect()
    }

    /// The plan object of an EXPLAIN document (the array's one element).
    fn top(raw: &serde_json::Value) -> &serde_json::Map<String, serde_json::Value> {
        raw[0]
            .as_object()
            .expect("EXPLAIN's array holds one object")
    }

    /// Every node object of a raw document, parents first.
    fn raw_nodes(raw: &serde_json::Value) -> Vec<&serde_json::Value> {
        let mut nodes = vec![];
        let mut stack = vec![&raw[0]["Plan"]];
        while let Some(node) = stack.pop() {
            nodes.push(node);
            if let Some(children) = node["Plans"].as_array() {
                stack.extend(children.iter().rev());
            }
        }
        nodes
    }

    /// Drops, at every level of a raw document, the keys only some versions or some
    /// EXPLAIN options print.
    fn without_version_keys(raw: &serde_json::Value) -> serde_json::Value {
        const KEYS: [&str; 13] = [
            "Planning",
            "Settings",
            "Serialization",
            "Triggers",
            "WAL Records",
            "WAL FPI",
            "WAL Bytes",
            "WAL Buffers Full",
            "Index Searches",
            "Disabled",
            "Async Capable",
            "Shared I/O Read Time",
            "Shared I/O Write Time",
        ];
        match raw {
            serde_json::Value::Object(map) => map
                .iter()
                .filter(|(key, _)| !KEYS.contains(&key.as_str()))
                .map(|(key, value)| (key.clone(), without_version_keys(value)))
                .collect(),
            serde_json::Value::Array(items) => items.iter().map(without_version_keys).collect(),
            other => other.clone(),
        }
    }

    #[test]
    fn a_plan_that_scans_no_table_examines_no_rows_and_reads_through_nothing() {
        // An empty f64 sum is -0.0: the plan of `SELECT 1` once said "-0 rows examined".
        let plan = Plan::from_explain_text(
            r#"[{"Plan": {"Node Type": "Result", "Plan Rows": 1, "Actual Rows": 1, "Actual Loops": 1}}]"#,
        )
        .unwrap();
        let examined = plan.rows_examined();
        assert!(examined == 0.0 && examined.is_sign_positive(), "{examined}");
        assert_eq!(format!("{examined}"), "0");
        assert!(plan.access_path().is_empty());
    }

    #[test]
    fn every_stored_plan_of_every_version_parses_with_its_counts() {
        for version in VERSIONS {
            let plans = stored(version);
            assert!(!plans.is_empty(), "no plans stored for {version}");
            for (file, raw, plan) in plans {
                let at = format!("{version}/{file}");
                assert!(
                    plan.analyzed,
                    "{at}: EXPLAIN ANALYZE's plan reads as analysed"
                );
                assert!(plan.rows_returned() > 0.0, "{at}");
                assert!(plan.rows_examined() >= plan.rows_returned(), "{at}");
                assert!(plan.planning_ms > 0.0 && plan.execution_ms > 0.0, "{at}");
                let (hit, read) = plan.buffers();
                assert!(hit + read > 0, "{at}: BUFFERS' counts are read");
                assert!(!plan.access_path().is_empty(), "{at}");
                // Every node's typed counts are the document's, whatever else it carries.
                let parsed: Vec<&Node> = plan.nodes().map(|(_, node)| node).collect();
                let raw = raw_nodes(&raw);
                assert_eq!(parsed.len(), raw.len(), "{at}");
                for (node, raw) in parsed.iter().zip(raw) {
                    assert_eq!(node.node_type, raw["Node Type"].as_str().unwrap(), "{at}");
                    assert_eq!(Some(node.actual_rows), raw["Actual Rows"].as_f64(), "{at}");
                    assert_eq!(
                        Some(node.actual_loops),
                        raw["Actual Loops"].as_f64(),
                        "{at}"
                    );
                }
            }
        }
    }

    #[test]
    fn keys_a_version_or_an_option_adds_change_no_count_and_stay_reachable() {
        // Each version's plan with the EXPLAIN options that add keys: WAL and SETTINGS
        // (13 on; 13 also counts planning's buffers under BUFFERS), SERIALIZE and
        // MEMORY (17 on), and 18's keys of its own. The stored file must carry them,
        // or this test would prove nothing.
        let carries: [(&str, &str, &[&str], &[&str]); 4] = [
            (
                "pg13",
                "sparse-org.350000.old.options.explain.json",
                &["Planning", "Settings"],
                &["WAL Records", "WAL FPI", "WAL Bytes"],
            ),
            (
                "pg15",
                "sparse-org.350000.old.options.explain.json",
                &["Planning", "Settings"],
                &["WAL Records", "WAL Bytes"],
            ),
            (
                "pg17",
                "sparse-org.350000.old.options.explain.json",
                &["Planning", "Settings", "Serialization"],
                &["WAL Records", "Async Capable"],
            ),
            (
                "pg18",
                "sparse-org.20000.old.explain.json",
                &["Planning"],
                &["Index Searches", "Disabled"],
            ),
        ];
        for (version, file, top_keys, node_keys) in carries {
            let (_, raw, plan) = stored(version)
                .into_iter()
                .find(|(name, _, _)| name == file)
                .unwrap_or_else(|| panic!("{version}/{file} is stored"));
            for key in top_keys {
                assert!(
                    top(&raw).contains_key(*key),
                    "{version}/{file} carries {key}"
                );
            }
            for key in node_keys {
                assert!(
                    plan.nodes().any(|(_, node)| node.extra.contains_key(*key)),
                    "{version}/{file}: node key {key} is kept in the node's extra"
                );
            }
            let plain = Plan::from_explain(&without_version_keys(&raw)).unwrap();
            assert_eq!(
                plan.rows_examined(),
                plain.rows_examined(),
                "{version}/{file}"
            );
            assert_eq!(
                plan.rows_returned(),
                plain.rows_returned(),
                "{version}/{file}"
            );
            assert_eq!(plan.buffers(), plain.buffers(), "{version}/{file}");
            assert_eq!(plan.shape(), plain.shape(), "{version}/{file}");
            assert_eq!(plan.planning_ms, plain.planning_ms, "{version}/{file}");
            assert_eq!(plan.execution_ms, plain.execution_ms, "{version}/{file}");
            assert_eq!(plan.analyzed, plain.analyzed, "{version}/{file}");
        }

        // 17's planning memory sits in the Planning object beside its buffers.
        let (_, raw, _) = stored("pg17")
            .into_iter()
            .find(|(name, _, _)| name == "sparse-org.350000.new.options.explain.json")
            .unwrap();
        assert!(top(&raw)["Planning"]["Memory Used"].is_number(), "{raw}");
        assert!(
            top(&raw)["Serialization"]["Output Volume"].is_number(),
            "{raw}"
        );
    }

    #[test]
    fn eighteens_fractional_rows_count_as_printed_and_a_disabled_node_stays_a_node() {
        let find = |file: &str| {
            stored("pg18")
                .into_iter()
                .find(|(name, _, _)| name == file)
                .unwrap_or_else(|| panic!("pg18/{file} is stored"))
                .2
        };
        // 40 runs over 3 loops: 18 prints 13.33 per loop where 17 printed 13.
        let below_flip = find("sparse-org.20000.old.explain.json");
        let (_, inner) = below_flip
            .nodes()
            .find(|(_, node)| node.index_name.as_deref() == Some("workflow_runs_workflow_id"))
            .unwrap();
        assert_eq!((inner.actual_rows, inner.actual_loops), (13.33, 3.0));
        assert!((inner.total_rows() - 39.99).abs() < 1e-9);
        assert_eq!(inner.extra["Index Searches"], 3);
        assert_eq!(inner.extra["Disabled"], false);

        // The node enable_indexscan = off disabled is still the plan's walk.
        let disabled =
            find("orders-by-status.20000.old.status-awaiting-transfer.disabled.explain.json");
        let (path, walk) = disabled
            .nodes()
            .find(|(_, node)| node.extra.get("Disabled") == Some(&serde_json::Value::Bool(true)))
            .expect("a node marked disabled");
        assert_eq!(path.to_string(), "root/0");
        assert!(walk.is_ordered_index_scan());
        assert_eq!(
            disabled.shape(),
            "Index Scan using orders_created_at on orders"
        );
        assert_eq!(disabled.rows_examined(), 19_374.0);
    }
}
