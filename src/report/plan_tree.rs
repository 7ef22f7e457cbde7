//! A compact text rendering of a plan tree, the part of EXPLAIN a reviewer reads:
//! node, actual rows and loops, rows discarded, and the conditions. A plan that did
//! not run (plain EXPLAIN) shows the planner's estimated rows instead, labelled.

use std::fmt::Write;

use crate::format::format_count;
use crate::plan::{Node, Plan};

/// The plan as indented lines, one node per line plus its conditions.
pub fn render(plan: &Plan) -> String {
    let mut text = String::new();
    if !plan.analyzed {
        text.push_str("estimated plan (not run): rows are the planner's estimates per loop\n");
    }
    render_node(&plan.root, plan.analyzed, 0, &mut text);
    text
}

fn render_node(node: &Node, analyzed: bool, depth: usize, text: &mut String) {
    let indent = "   ".repeat(depth);
    let arrow = if depth == 0 { "" } else { "-> " };
    let mut line = if analyzed {
        format!(
            "{indent}{arrow}{} (rows={} loops={}",
            node.label(),
            format_count(node.actual_rows),
            format_count(node.actual_loops)
        )
    } else {
        format!(
            "{indent}{arrow}{} (estimated rows={}",
            node.label(),
            format_count(node.plan_rows)
        )
    };
    if node.rows_removed_by_filter > 0.0 {
        let _ = write!(
            line,
            " removed_by_filter={}",
            format_count(node.rows_removed_by_filter)
        );
    }
    if let Some(direction) = node.scan_direction.filter(|_| node.is_ordered_index_scan()) {
        let _ = write!(line, " direction={direction:?}");
    }
    line.push(')');
    let _ = writeln!(text, "{line}");
    let detail_indent = format!("{indent}{}", if depth == 0 { "   " } else { "      " });
    for (label, value) in [("Index Cond", &node.index_cond), ("Filter", &node.filter)] {
        if let Some(value) = value {
            let _ = writeln!(text, "{detail_indent}{label}: {value}");
        }
    }
    for child in &node.children {
        render_node(child, analyzed, depth + 1, text);
    }
}
