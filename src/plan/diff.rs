//! Two plans of one query compared node by node: their outlines ([`Plan::outline`])
//! aligned as a line diff (the `similar` crate's Myers diff), so a reviewer reads which
//! nodes went, which came and which stayed, and a report can mark the nodes that differ
//! in each tree.

use serde::{Deserialize, Serialize};

use super::Plan;

/// Whether an outline line is in both plans, only the earlier or only the later.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Change {
    Same,
    Removed,
    Added,
}

/// One line of a node-level diff: the node's outline line and its position (in
/// [`Plan::nodes`] order) in the earlier plan, the later one or both.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DiffLine {
    pub change: Change,
    pub text: String,
    pub before: Option<usize>,
    pub after: Option<usize>,
}

/// The node-level diff of two outlines.
pub fn diff_outlines(before: &[String], after: &[String]) -> Vec<DiffLine> {
    let before: Vec<&str> = before.iter().map(String::as_str).collect();
    let after: Vec<&str> = after.iter().map(String::as_str).collect();
    let diff = similar::TextDiff::configure()
        .algorithm(similar::Algorithm::Myers)
        .diff_slices(&before, &after);
    diff.iter_all_changes()
        .map(|change| DiffLine {
            change: match change.tag() {
                similar::ChangeTag::Equal => Change::Same,
                similar::ChangeTag::Delete => Change::Removed,
                similar::ChangeTag::Insert => Change::Added,
            },
            text: change.value().to_owned(),
            before: change.old_index(),
            after: change.new_index(),
        })
        .collect()
}

/// The node-level diff of two plans.
pub fn diff_plans(before: &Plan, after: &Plan) -> Vec<DiffLine> {
    diff_outlines(&before.outline(), &after.outline())
}

/// The diff as a unified-diff body (`-`, `+` and two spaces before each line), for a
/// ```` ```diff ```` block.
pub fn unified(lines: &[DiffLine]) -> String {
    lines
        .iter()
        .map(|line| {
            let mark = match line.change {
                Change::Same => ' ',
                Change::Removed => '-',
                Change::Added => '+',
            };
            format!("{mark} {}\n", line.text)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<String> {
        text.lines().map(str::to_owned).collect()
    }

    #[test]
    fn a_replaced_scan_is_a_removed_and_an_added_node_under_the_same_parents() {
        let before = lines("Limit\n  Index Scan using runs_org_created on runs");
        let after = lines("Limit\n  Sort by runs.created_at DESC\n    Seq Scan on runs");
        let diff = diff_outlines(&before, &after);
        insta::assert_snapshot!(unified(&diff), @r"
          Limit
        -   Index Scan using runs_org_created on runs
        +   Sort by runs.created_at DESC
        +     Seq Scan on runs
        ");
        let removed: Vec<Option<usize>> = diff
            .iter()
            .filter(|line| line.change == Change::Removed)
            .map(|line| line.before)
            .collect();
        assert_eq!(removed, [Some(1)]);
        let added: Vec<Option<usize>> = diff
            .iter()
            .filter(|line| line.change == Change::Added)
            .map(|line| line.after)
            .collect();
        assert_eq!(added, [Some(1), Some(2)]);
    }

    #[test]
    fn the_same_outline_has_no_change() {
        let outline = lines("Limit\n  Seq Scan on runs");
        assert!(
            diff_outlines(&outline, &outline)
                .iter()
                .all(|line| line.change == Change::Same)
        );
    }
}
