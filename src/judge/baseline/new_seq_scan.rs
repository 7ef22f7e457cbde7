//! `new-seq-scan`: the plan reads a table from end to end that its baseline's plans
//! never scanned so, and the scan reads at least the limit's rows (a sequential scan of
//! a small table is often the best plan).

use super::{AtScale, Change, Rule, at};
use crate::format::format_count;

pub struct NewSeqScan;

impl Rule for NewSeqScan {
    fn name(&self) -> &'static str {
        "new-seq-scan"
    }

    fn at_scale(&self, pair: &AtScale) -> Option<Change> {
        let scanned_before = |relation: &str| {
            let line = format!("Seq Scan on {relation}");
            std::iter::once(&pair.then.plan)
                .chain(pair.then.other_plans.iter().map(|other| &other.plan))
                .flatten()
                .any(|outline| outline.trim_start().ends_with(&line))
        };
        let new: Vec<_> = pair
            .plan
            .nodes()
            .filter(|(_, node)| node.node_type == "Seq Scan")
            .filter(|(_, node)| node.rows_examined() >= pair.limits.seq_scan_rows as f64)
            .filter(|(_, node)| !node.relation.as_deref().is_some_and(scanned_before))
            .collect();
        let (_, first) = new.first()?;
        Some(Change {
            rule: self.name(),
            message: format!(
                "new sequential scan of {} reading {} rows{}",
                first.relation.as_deref().unwrap_or("a relation"),
                format_count(first.rows_examined()),
                at(pair.scale)
            ),
            nodes: new.iter().map(|(path, _)| path.clone()).collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{found, record};
    use super::*;
    use crate::plan::Plan;

    fn seq_scan(rows: u64) -> Plan {
        Plan::from_explain_text(&format!(
            r#"[{{"Plan": {{"Node Type": "Seq Scan", "Relation Name": "runs", "Alias": "r",
              "Plan Rows": {rows}, "Actual Rows": 10, "Actual Loops": 1, "Rows Removed by Filter": {rows}}}}}]"#
        ))
        .unwrap()
    }

    #[test]
    fn a_large_new_seq_scan_is_a_change_and_a_small_or_old_one_is_not() {
        let index = Plan::from_explain_text(
            r#"[{"Plan": {"Node Type": "Index Scan", "Index Name": "runs_org", "Relation Name": "runs",
              "Plan Rows": 10, "Actual Rows": 10, "Actual Loops": 1}}]"#,
        )
        .unwrap();
        let (big, small) = (seq_scan(500_000), seq_scan(100));
        let change = found(&NewSeqScan, &record(&index, "a"), &record(&big, "a"), &big).unwrap();
        assert_eq!(
            change.message,
            "new sequential scan of runs reading 500,010 rows at 1,000,000"
        );
        assert!(
            found(
                &NewSeqScan,
                &record(&index, "a"),
                &record(&small, "a"),
                &small
            )
            .is_none()
        );
        assert!(found(&NewSeqScan, &record(&big, "a"), &record(&big, "a"), &big).is_none());
    }
}
