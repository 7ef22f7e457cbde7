//! What a plan is, apart from what it cost: its outline (one line per node, indented
//! by depth, naming the node type, join type, strategy, index, relation, direction and
//! sort or group keys, never a cost, a count or an alias), the worst estimate error over
//! its nodes, and where it spilled to disk. A baseline keeps these so that a later plan
//! of the same query can be compared node by node; they must not move when only a
//! cost, a comment, whitespace or an alias changes.

use std::collections::BTreeMap;

use super::{NodePath, Plan, ScanDirection};
use crate::plan::Node;

impl Plan {
    /// One line per node, depth first, indented two spaces per level:
    /// `Limit`, `  Index Scan using runs_org_created on runs (backward)`.
    pub fn outline(&self) -> Vec<String> {
        let aliases = self.aliases();
        self.nodes()
            .map(|(path, node)| {
                format!(
                    "{}{}",
                    "  ".repeat(path.0.len()),
                    node.outline_line(&aliases)
                )
            })
            .collect()
    }

    /// Alias → relation, for every scan that names both: keys read `runs.created_at`
    /// whatever the query called the table.
    fn aliases(&self) -> BTreeMap<String, String> {
        self.nodes()
            .filter_map(|(_, node)| Some((node.alias.clone()?, node.relation.clone()?)))
            .collect()
    }

    /// The worst estimate error of the plan: over the nodes that ran, the largest
    /// q-error, max(estimated / actual, actual / estimated) of the rows per loop (both
    /// taken as at least one row, so an empty result estimated at one row is exact),
    /// with the node. `None` for a plan that did not run.
    pub fn worst_estimate(&self) -> Option<(f64, NodePath)> {
        if !self.analyzed {
            return None;
        }
        self.nodes()
            .filter(|(path, node)| node.actual_loops > 0.0 && !self.stopped_early(path))
            .map(|(path, node)| (node.q_error(), path))
            .max_by(|(a, _), (b, _)| a.total_cmp(b))
    }

    /// Whether the node at `path` may have been stopped before it gave every row the
    /// planner estimated for it: below a `Limit`, or the inner side of a semi or anti
    /// join (which stops at the first match). Its rows then say nothing of the estimate.
    fn stopped_early(&self, path: &NodePath) -> bool {
        (0..path.0.len()).any(|depth| {
            let ancestor = self.node(&NodePath(path.0[..depth].to_vec()));
            let inner = path.0[depth] == 1;
            ancestor.is_some_and(|node| {
                node.node_type == "Limit"
                    || (inner
                        && node
                            .join_type
                            .as_deref()
                            .is_some_and(|join| join == "Semi" || join == "Anti"))
            })
        })
    }

    /// The nodes that wrote to disk because their work did not fit in memory (a sort
    /// run as an external merge, a hash in several batches, a hash aggregate that
    /// spilled, anything that wrote temporary blocks of its own), each with what it did.
    pub fn spills(&self) -> Vec<(NodePath, String)> {
        self.nodes()
            .filter_map(|(path, node)| Some((path, node.spill()?)))
            .collect()
    }
}

impl Node {
    /// The node's outline line, without indentation.
    fn outline_line(&self, aliases: &BTreeMap<String, String>) -> String {
        let mut line = match self.text("Subplan Name") {
            Some(name) => format!("{name}: {}", self.node_type),
            None => self.node_type.clone(),
        };
        if let Some(join_type) = &self.join_type
            && join_type != "Inner"
        {
            line.push_str(&format!(" ({join_type})"));
        }
        if let Some(strategy) = self
            .text("Strategy")
            .filter(|strategy| *strategy != "Plain")
        {
            line.push_str(&format!(" ({strategy})"));
        }
        if let Some(index) = &self.index_name {
            line.push_str(&format!(" using {index}"));
        }
        if let Some(relation) = &self.relation {
            line.push_str(&format!(" on {relation}"));
        }
        if self.scan_direction == Some(ScanDirection::Backward) {
            line.push_str(" (backward)");
        }
        for (key, words) in [
            ("Sort Key", "by"),
            ("Presorted Key", "presorted by"),
            ("Group Key", "grouped by"),
        ] {
            let keys = self.keys(key, aliases);
            if !keys.is_empty() {
                line.push_str(&format!(" {words} {}", keys.join(", ")));
            }
        }
        line
    }

    fn text(&self, key: &str) -> Option<&str> {
        self.extra.get(key).and_then(serde_json::Value::as_str)
    }

    fn number(&self, key: &str) -> f64 {
        self.extra
            .get(key)
            .and_then(serde_json::Value::as_f64)
            .unwrap_or(0.0)
    }

    /// A key list (`Sort Key`), each alias qualifier replaced by its relation.
    fn keys(&self, key: &str, aliases: &BTreeMap<String, String>) -> Vec<String> {
        let Some(serde_json::Value::Array(items)) = self.extra.get(key) else {
            return Vec::new();
        };
        items
            .iter()
            .filter_map(serde_json::Value::as_str)
            .map(|item| unalias(item, aliases))
            .collect()
    }

    /// max(estimated / actual, actual / estimated) of the rows per loop, each at least 1.
    fn q_error(&self) -> f64 {
        let estimated = self.plan_rows.max(1.0);
        let actual = self.actual_rows.max(1.0);
        (estimated / actual).max(actual / estimated)
    }

    /// What the node wrote to disk, if it did.
    fn spill(&self) -> Option<String> {
        if self.text("Sort Space Type") == Some("Disk") {
            let method = self.text("Sort Method").unwrap_or("external sort");
            return Some(format!("{} ran as {method} on disk", self.node_type));
        }
        let batches = self
            .number("Hash Batches")
            .max(self.number("HashAgg Batches"));
        if batches > 1.0 {
            return Some(format!("{} ran in {batches} batches", self.node_type));
        }
        if self.number("Disk Usage") > 0.0 {
            return Some(format!(
                "{} used {} kB of disk",
                self.node_type,
                self.number("Disk Usage")
            ));
        }
        let own_temp = self.number("Temp Written Blocks")
            - self
                .children
                .iter()
                .map(|child| child.number("Temp Written Blocks"))
                .sum::<f64>();
        (own_temp > 0.0).then(|| format!("{} wrote {own_temp} temporary blocks", self.node_type))
    }
}

/// `x.body DESC` → `runs.body DESC` when `x` is an alias of `runs`. Only a qualifier
/// (a name right before a dot, not inside quotes) is replaced.
fn unalias(key: &str, aliases: &BTreeMap<String, String>) -> String {
    let mut out = String::with_capacity(key.len());
    let mut word = String::new();
    let mut quoted = false;
    for character in key.chars() {
        if character == '\'' {
            quoted = !quoted;
        }
        let in_word = !quoted && (character.is_alphanumeric() || character == '_');
        if in_word {
            word.push(character);
            continue;
        }
        let replaced = match (character, aliases.get(&word)) {
            ('.', Some(relation)) => relation.clone(),
            _ => word.clone(),
        };
        out.push_str(&replaced);
        word.clear();
        out.push(character);
    }
    out.push_str(&word);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(text: &str) -> Plan {
        Plan::from_explain_text(text).expect("a plan")
    }

    fn stored(name: &str) -> Plan {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/plans")
            .join(name);
        plan(&std::fs::read_to_string(path).unwrap())
    }

    #[test]
    fn the_outline_names_nodes_indexes_relations_and_direction_but_no_alias_or_cost() {
        let outline = stored("pg15/sparse-org.350000.old.explain.json").outline();
        insta::assert_snapshot!(outline.join("\n"));
        assert!(outline.iter().all(|line| !line.contains("cost")));
    }

    #[test]
    fn keys_read_the_same_whatever_the_query_called_its_tables() {
        let with_alias = |alias: &str| {
            plan(&format!(
                r#"[{{"Plan": {{"Node Type": "Sort", "Sort Key": ["{alias}.body DESC", "'runs_2.x'"],
                "Plans": [{{"Node Type": "Seq Scan", "Relation Name": "runs", "Alias": "{alias}"}}]}}}}]"#
            ))
            .outline()
        };
        assert_eq!(with_alias("r"), with_alias("runs_2"));
        assert_eq!(
            with_alias("r")[0],
            "Sort by runs.body DESC, 'runs_2.x'",
            "a quoted literal keeps its text"
        );
    }

    #[test]
    fn a_sort_on_disk_a_hash_in_batches_and_temporary_blocks_are_spills() {
        let spilled = plan(
            r#"[{"Plan": {"Node Type": "Sort", "Sort Method": "external merge", "Sort Space Type": "Disk",
              "Temp Written Blocks": 73, "Actual Loops": 1,
              "Plans": [{"Node Type": "Hash Join", "Temp Written Blocks": 0, "Actual Loops": 1,
                "Plans": [{"Node Type": "Seq Scan", "Relation Name": "t", "Actual Loops": 1},
                          {"Node Type": "Hash", "Hash Batches": 4, "Original Hash Batches": 1, "Actual Loops": 1}]}]}}]"#,
        );
        let spills: Vec<String> = spilled
            .spills()
            .into_iter()
            .map(|(path, what)| format!("{path}: {what}"))
            .collect();
        assert_eq!(
            spills,
            [
                "root: Sort ran as external merge on disk",
                "root/0/1: Hash ran in 4 batches"
            ]
        );
        assert!(
            stored("pg15/sparse-org.350000.new.explain.json")
                .spills()
                .is_empty()
        );
    }

    #[test]
    fn the_worst_estimate_is_the_largest_q_error_of_the_nodes_that_ran() {
        let estimated = plan(
            r#"[{"Plan": {"Node Type": "Append", "Plan Rows": 20, "Actual Rows": 20, "Actual Loops": 1,
              "Plans": [{"Node Type": "Seq Scan", "Relation Name": "t", "Plan Rows": 5, "Actual Rows": 500, "Actual Loops": 1},
                        {"Node Type": "Seq Scan", "Relation Name": "u", "Plan Rows": 5000, "Actual Rows": 0, "Actual Loops": 0}]}}]"#,
        );
        let (q_error, path) = estimated.worst_estimate().unwrap();
        assert_eq!((q_error, path.to_string()), (100.0, "root/0".to_owned()));
        let limited = plan(
            r#"[{"Plan": {"Node Type": "Limit", "Plan Rows": 20, "Actual Rows": 20, "Actual Loops": 1,
              "Plans": [{"Node Type": "Index Scan", "Relation Name": "t", "Plan Rows": 90000, "Actual Rows": 20, "Actual Loops": 1}]}}]"#,
        );
        assert_eq!(
            limited.worst_estimate().map(|(error, _)| error),
            Some(1.0),
            "a scan a Limit stopped early is not an estimate error"
        );
        let not_run = stored("desc-index-forward-walk.estimated.json");
        assert_eq!(not_run.worst_estimate(), None);
    }
}
