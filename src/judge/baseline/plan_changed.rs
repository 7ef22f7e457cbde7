//! `plan-changed`: the query took a plan its baseline never saw (neither the plan it
//! was made with nor any its ANALYZE rounds took). The change names the nodes that
//! went and came; the nodes it points at are the ones that came.

use super::{AtScale, Change, Rule, at};
use crate::plan::diff::{Change as Line, diff_outlines};

pub struct PlanChanged;

/// How many changed nodes a message names before it says how many more.
const NAMED: usize = 3;

impl Rule for PlanChanged {
    fn name(&self) -> &'static str {
        "plan-changed"
    }

    fn at_scale(&self, pair: &AtScale) -> Option<Change> {
        if pair.then.accepts(&pair.now.plan) {
            return None;
        }
        let diff = diff_outlines(&pair.then.plan, &pair.now.plan);
        let moved: Vec<String> = diff
            .iter()
            .filter(|line| line.change != Line::Same)
            .map(|line| {
                let mark = if line.change == Line::Added { '+' } else { '-' };
                format!("{mark}{}", line.text.trim_start())
            })
            .collect();
        let mut named = moved
            .iter()
            .take(NAMED)
            .cloned()
            .collect::<Vec<_>>()
            .join(", ");
        if moved.len() > NAMED {
            named.push_str(&format!(" and {} more", moved.len() - NAMED));
        }
        let added: Vec<usize> = diff
            .iter()
            .filter(|line| line.change == Line::Added)
            .filter_map(|line| line.after)
            .collect();
        let nodes = pair
            .plan
            .nodes()
            .enumerate()
            .filter(|(index, _)| added.contains(index))
            .map(|(_, (path, _))| path)
            .collect();
        Some(Change {
            rule: self.name(),
            message: format!("plan changed{}: {named}", at(pair.scale)),
            nodes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{found, record, stored};
    use super::*;
    use crate::outcome::baseline::OtherPlan;

    #[test]
    fn a_walk_in_place_of_the_tenant_index_is_a_change_naming_both() {
        let (old, new) = (
            stored("pg15/sparse-org.350000.old.explain.json"),
            stored("pg15/sparse-org.350000.new.explain.json"),
        );
        let change = found(&PlanChanged, &record(&new, "a"), &record(&old, "a"), &old).unwrap();
        assert!(
            change.message.starts_with("plan changed at 1,000,000: "),
            "{}",
            change.message
        );
        assert!(
            change
                .message
                .contains("+Index Scan using workflow_runs_created_at on workflow_runs"),
            "{}",
            change.message
        );
        let labels: Vec<String> = change
            .nodes
            .iter()
            .map(|path| old.node(path).unwrap().label())
            .collect();
        assert!(
            labels
                .iter()
                .any(|label| label.contains("workflow_runs_created_at")),
            "{labels:?}"
        );
    }

    #[test]
    fn a_plan_the_baseline_s_rounds_saw_is_no_change() {
        let (old, new) = (
            stored("pg15/sparse-org.350000.old.explain.json"),
            stored("pg15/sparse-org.350000.new.explain.json"),
        );
        let mut then = record(&new, "a");
        then.other_plans.push(OtherPlan {
            buffers: 1,
            plan: old.outline(),
            rows_examined: 1,
        });
        assert!(found(&PlanChanged, &then, &record(&old, "a"), &old).is_none());
    }
}
