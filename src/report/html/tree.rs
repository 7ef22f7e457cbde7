//! A plan as the tree `report.html` draws: one view per node with its figures, a bar
//! as wide as the rows that flowed through it, and the findings of the checks that
//! flagged it. Large plans fold the subtrees that hold no flagged node and little of
//! the rows, so the path that matters stays in view.

use std::collections::HashMap;

use serde::Serialize;

use crate::format::{format_count, format_ms};
use crate::plan::{Node, NodePath, Plan};

/// Plans with more nodes than this fold their quiet subtrees.
const FOLD_MIN_NODES: usize = 12;

/// A subtree folds when its busiest node saw under this share of the plan's busiest.
const FOLD_SHARE: f64 = 0.05;

/// A check's finding on one node, as the page shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Flag {
    pub check: String,
    /// Whether the check passed (a finding a check expected is a pass).
    pub passed: bool,
    pub message: String,
}

/// One node of a plan tree, ready for the template.
#[derive(Debug, Serialize)]
pub struct NodeView {
    /// `root/0/1`, as findings name nodes.
    pub path: String,
    /// The node's id in the page, which findings link to.
    pub anchor: String,
    pub node_type: String,
    pub relation: Option<String>,
    pub index: Option<String>,
    /// `26 × 1` (rows per loop × loops), or the planner's estimate.
    pub rows: String,
    /// Rows read including those a filter discarded, for scans that discarded some.
    pub examined: Option<String>,
    pub time: Option<String>,
    pub buffers: Option<String>,
    /// `Index Cond`, `Filter` and the like, as EXPLAIN printed them.
    pub conditions: Vec<(String, String)>,
    /// The bar's width: this node's rows as a percentage of the busiest node of the
    /// plans shown beside each other.
    pub bar_percent: f64,
    pub flags: Vec<Flag>,
    /// Set when the subtree from this node is folded: the folded summary's text.
    pub fold: Option<String>,
    pub children: Vec<NodeView>,
}

/// Rows that flowed through `node`: what a scan read (discarded rows too), what any
/// other node emitted; over all loops. An estimated plan has only the planner's guess.
pub fn flow(node: &Node, analyzed: bool) -> f64 {
    match analyzed {
        false => node.plan_rows,
        true if node.is_relation_scan() => node.rows_examined(),
        true => node.total_rows(),
    }
}

/// The busiest node's flow in `plan`.
pub fn max_flow(plan: &Plan) -> f64 {
    plan.nodes()
        .map(|(_, node)| flow(node, plan.analyzed))
        .fold(0.0, f64::max)
}

/// What the tree of one plan is built with.
struct Context<'a> {
    analyzed: bool,
    /// The plan's anchor in the page, which its nodes' anchors extend.
    anchor: &'a str,
    flags: &'a HashMap<String, Vec<Flag>>,
    /// The flow that makes a full-width bar.
    bar_max: f64,
    /// Subtrees whose busiest node is under this flow fold; `None` for small plans.
    fold_below: Option<f64>,
}

/// What a subtree holds, for the decision to fold it.
struct Subtree {
    view: NodeView,
    nodes: usize,
    busiest: f64,
    flagged: bool,
}

/// The page anchor of the node at `path` in the plan anchored at `plan_anchor`.
pub fn node_anchor(plan_anchor: &str, path: &str) -> String {
    format!("{plan_anchor}-{}", crate::slug::slug(path))
}

/// The tree of `plan`, anchored at `anchor` in the page, each node carrying the flags
/// `flags` holds for its path; bars scaled so that `bar_max` rows fill one.
pub fn tree(
    plan: &Plan,
    anchor: &str,
    flags: &HashMap<String, Vec<Flag>>,
    bar_max: f64,
) -> NodeView {
    let fold_below = (plan.nodes().count() > FOLD_MIN_NODES).then(|| max_flow(plan) * FOLD_SHARE);
    let context = Context {
        analyzed: plan.analyzed,
        anchor,
        flags,
        bar_max,
        fold_below,
    };
    build(&plan.root, NodePath(vec![]), &context).view
}

fn build(node: &Node, path: NodePath, context: &Context) -> Subtree {
    let mut children = Vec::with_capacity(node.children.len());
    let (mut nodes, mut busiest) = (1, flow(node, context.analyzed));
    let own_flags = context
        .flags
        .get(&path.to_string())
        .cloned()
        .unwrap_or_default();
    let mut flagged = !own_flags.is_empty();
    for (index, child) in node.children.iter().enumerate() {
        let mut child_path = path.0.clone();
        child_path.push(index);
        let mut subtree = build(child, NodePath(child_path), context);
        nodes += subtree.nodes;
        busiest = busiest.max(subtree.busiest);
        flagged |= subtree.flagged;
        let quiet = context
            .fold_below
            .is_some_and(|limit| !subtree.flagged && subtree.busiest < limit);
        if quiet && subtree.nodes > 1 {
            subtree.view.fold = Some(format!(
                "{} and {} nodes below: at most {} rows each",
                subtree.view.node_type,
                subtree.nodes - 1,
                format_count(subtree.busiest)
            ));
        }
        children.push(subtree.view);
    }
    let view = node_view(node, &path, context, own_flags, children);
    Subtree {
        view,
        nodes,
        busiest,
        flagged,
    }
}

fn node_view(
    node: &Node,
    path: &NodePath,
    context: &Context,
    flags: Vec<Flag>,
    children: Vec<NodeView>,
) -> NodeView {
    let analyzed = context.analyzed;
    let flow = flow(node, analyzed);
    let bar_percent = match (flow, context.bar_max) {
        (flow, max) if flow <= 0.0 || max <= 0.0 => 0.0,
        // A node that saw any row keeps a visible sliver next to one that saw millions.
        (flow, max) => (flow / max * 100.0).clamp(0.4, 100.0),
    };
    let discarded = node.rows_removed_by_filter + node.rows_removed_by_recheck;
    NodeView {
        path: path.to_string(),
        anchor: node_anchor(context.anchor, &path.to_string()),
        node_type: match &node.join_type {
            Some(join) if join != "Inner" => format!("{} ({join})", node.node_type),
            _ => node.node_type.clone(),
        },
        relation: node.relation.as_ref().map(|relation| match &node.alias {
            Some(alias) if alias != relation => format!("{relation} {alias}"),
            _ => relation.clone(),
        }),
        index: node.index_name.clone(),
        rows: match analyzed {
            true => format!(
                "{} × {}",
                format_count(node.actual_rows),
                format_count(node.actual_loops)
            ),
            false => format!("~{} (estimate)", format_count(node.plan_rows)),
        },
        examined: (analyzed && discarded > 0.0).then(|| {
            format!(
                "{} read, {} discarded",
                format_count(node.rows_examined()),
                format_count(discarded * node.actual_loops.max(1.0))
            )
        }),
        time: analyzed.then(|| format_ms(node.actual_total_ms * node.actual_loops.max(1.0))),
        buffers: analyzed.then(|| buffers_text(node)),
        conditions: conditions(node),
        bar_percent: (bar_percent * 10.0).round() / 10.0,
        flags,
        fold: None,
        children,
    }
}

/// `994,743 hit` or `12 hit · 3 read`.
fn buffers_text(node: &Node) -> String {
    match node.shared_read_blocks {
        0 => format!("{} hit", format_count(node.shared_hit_blocks as f64)),
        read => format!(
            "{} hit · {} read",
            format_count(node.shared_hit_blocks as f64),
            format_count(read as f64)
        ),
    }
}

/// The conditions a reviewer reads to see why a node reads what it reads.
fn conditions(node: &Node) -> Vec<(String, String)> {
    let mut conditions = Vec::new();
    if let Some(direction) = node.scan_direction.filter(|_| node.is_ordered_index_scan()) {
        conditions.push(("Direction".to_owned(), format!("{direction:?}")));
    }
    for (label, value) in [("Index Cond", &node.index_cond), ("Filter", &node.filter)] {
        if let Some(value) = value {
            conditions.push((label.to_owned(), value.clone()));
        }
    }
    for key in [
        "Join Filter",
        "Hash Cond",
        "Merge Cond",
        "Recheck Cond",
        "Sort Key",
    ] {
        match node.extra.get(key) {
            Some(serde_json::Value::String(text)) => {
                conditions.push((key.to_owned(), text.clone()))
            }
            Some(serde_json::Value::Array(items)) => conditions.push((
                key.to_owned(),
                items
                    .iter()
                    .filter_map(serde_json::Value::as_str)
                    .collect::<Vec<_>>()
                    .join(", "),
            )),
            _ => {}
        }
    }
    conditions
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A plan of `width` quiet seq scans under an append, beside one busy scan.
    fn wide_plan(width: usize) -> Plan {
        let quiet = |index: usize| {
            serde_json::json!({
                "Node Type": "Seq Scan", "Relation Name": format!("t{index}"),
                "Actual Rows": 1, "Actual Loops": 1, "Plan Rows": 1,
            })
        };
        let plan = serde_json::json!([{ "Plan": {
            "Node Type": "Nested Loop", "Actual Rows": 10, "Actual Loops": 1,
            "Plans": [
                { "Node Type": "Seq Scan", "Relation Name": "busy", "Actual Rows": 10,
                  "Rows Removed by Filter": 100000, "Actual Loops": 1, "Filter": "(x = 1)" },
                { "Node Type": "Append", "Actual Rows": 5, "Actual Loops": 1,
                  "Plans": (0..width).map(quiet).collect::<Vec<_>>() },
            ]
        }}]);
        Plan::from_explain(&plan).unwrap()
    }

    #[test]
    fn a_large_plan_folds_its_quiet_subtrees_but_not_a_flagged_one() {
        let plan = wide_plan(12);
        let view = tree(&plan, "q", &HashMap::new(), max_flow(&plan));
        assert_eq!(view.children[0].fold, None, "a leaf is never folded");
        assert_eq!(
            view.children[1].fold.as_deref(),
            Some("Append and 12 nodes below: at most 5 rows each")
        );
        assert_eq!(view.children[0].bar_percent, 100.0);
        assert_eq!(
            view.children[0].examined.as_deref(),
            Some("100,010 read, 100,000 discarded")
        );

        let flag = Flag {
            check: "no-node".into(),
            passed: false,
            message: "a seq scan".into(),
        };
        let flags = HashMap::from([("root/1/3".to_owned(), vec![flag])]);
        let view = tree(&plan, "q", &flags, max_flow(&plan));
        assert_eq!(view.children[1].fold, None, "it holds a flagged node");
        assert_eq!(view.children[1].children[3].flags[0].message, "a seq scan");
    }

    #[test]
    fn a_small_plan_folds_nothing() {
        let plan = wide_plan(3);
        let view = tree(&plan, "q", &HashMap::new(), max_flow(&plan));
        assert!(view.children.iter().all(|child| child.fold.is_none()));
        assert_eq!(view.children[1].children[0].bar_percent, 0.4);
    }
}
