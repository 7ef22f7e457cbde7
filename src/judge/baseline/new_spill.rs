//! `new-spill`: a sort, hash or aggregate of the plan now writes to disk, where its
//! baseline's did not: its work no longer fits in `work_mem`.

use super::{AtScale, Change, Rule, at};

pub struct NewSpill;

impl Rule for NewSpill {
    fn name(&self) -> &'static str {
        "new-spill"
    }

    fn at_scale(&self, pair: &AtScale) -> Option<Change> {
        if pair.now.spills.is_empty() || !pair.then.spills.is_empty() {
            return None;
        }
        let spills = pair.plan.spills();
        Some(Change {
            rule: self.name(),
            message: format!(
                "spills to disk{}: {}",
                at(pair.scale),
                pair.now.spills.join(", ")
            ),
            nodes: spills.into_iter().map(|(path, _)| path).collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{found, record};
    use super::*;
    use crate::plan::Plan;

    #[test]
    fn a_sort_that_now_runs_on_disk_is_a_change() {
        let sort = |space: &str| {
            Plan::from_explain_text(&format!(
                r#"[{{"Plan": {{"Node Type": "Sort", "Sort Key": ["r.body"], "Sort Method": "x",
                  "Sort Space Type": "{space}", "Actual Loops": 1, "Actual Rows": 5,
                  "Plans": [{{"Node Type": "Seq Scan", "Relation Name": "runs", "Alias": "r", "Actual Loops": 1, "Actual Rows": 5}}]}}}}]"#
            ))
            .unwrap()
        };
        let (memory, disk) = (sort("Memory"), sort("Disk"));
        let change = found(&NewSpill, &record(&memory, "a"), &record(&disk, "a"), &disk).unwrap();
        assert_eq!(
            change.message,
            "spills to disk at 1,000,000: Sort ran as x on disk"
        );
        assert_eq!(change.nodes.len(), 1);
        assert!(found(&NewSpill, &record(&disk, "a"), &record(&disk, "a"), &disk).is_none());
    }
}
