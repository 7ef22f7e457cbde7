//! `rows-examined-up`: the plan read more rows than its baseline's beyond the band
//! (ratio and floor). It points at the scan that read the most.

use super::{AtScale, Band, Change, Rule, at, busiest_scan};

pub struct RowsExaminedUp;

impl Rule for RowsExaminedUp {
    fn name(&self) -> &'static str {
        "rows-examined-up"
    }

    fn at_scale(&self, pair: &AtScale) -> Option<Change> {
        let (then, _) = pair.then_counts();
        let (then, now) = (then as f64, pair.now.rows_examined as f64);
        pair.limits
            .rows_examined
            .exceeded(then, now)
            .then(|| Change {
                rule: self.name(),
                message: format!(
                    "rows examined {}{}",
                    Band::describe(then, now),
                    at(pair.scale)
                ),
                nodes: busiest_scan(pair.plan),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{found, record, stored};
    use super::*;

    #[test]
    fn a_walk_reading_the_table_is_a_change_at_its_scan() {
        let (old, new) = (
            stored("pg15/sparse-org.350000.old.explain.json"),
            stored("pg15/sparse-org.350000.new.explain.json"),
        );
        let change = found(
            &RowsExaminedUp,
            &record(&new, "a"),
            &record(&old, "a"),
            &old,
        )
        .unwrap();
        assert!(
            change.message.starts_with("rows examined 52 → "),
            "{}",
            change.message
        );
        assert_eq!(
            old.node(&change.nodes[0]).unwrap().label(),
            "Index Scan using workflow_runs_created_at on workflow_runs"
        );
        assert!(
            found(
                &RowsExaminedUp,
                &record(&old, "a"),
                &record(&new, "a"),
                &new
            )
            .is_none()
        );
    }
}
