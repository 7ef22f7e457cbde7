//! `estimate-worse`: the plan's worst estimate error (q-error) grew beyond the band:
//! the planner now misjudges some node's rows by far more than it did, which is what
//! lowered statistics or a predicate it cannot estimate show before the plan turns.

use super::{AtScale, Change, Rule, at};

pub struct EstimateWorse;

impl Rule for EstimateWorse {
    fn name(&self) -> &'static str {
        "estimate-worse"
    }

    fn at_scale(&self, pair: &AtScale) -> Option<Change> {
        let (then, now) = (pair.then.estimate_error, pair.now.estimate_error);
        pair.limits.estimate.exceeded(then, now).then(|| Change {
            rule: self.name(),
            message: format!("worst estimate {then}x off → {now}x off{}", at(pair.scale)),
            nodes: pair
                .plan
                .worst_estimate()
                .map(|(_, path)| vec![path])
                .unwrap_or_default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{found, record, stored};
    use super::*;

    #[test]
    fn an_estimate_twice_as_wrong_and_past_the_floor_is_a_change() {
        let plan = stored("pg15/sparse-org.350000.old.explain.json");
        let mut then = record(&plan, "a");
        let mut now = then.clone();
        then.estimate_error = 2.0;
        now.estimate_error = 9.0;
        assert!(
            found(&EstimateWorse, &then, &now, &plan).is_none(),
            "under the floor"
        );
        now.estimate_error = 40.0;
        let change = found(&EstimateWorse, &then, &now, &plan).unwrap();
        assert_eq!(
            change.message,
            "worst estimate 2x off → 40x off at 1,000,000"
        );
        assert_eq!(change.nodes.len(), 1);
    }
}
