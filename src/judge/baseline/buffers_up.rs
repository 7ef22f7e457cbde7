//! `buffers-up`: the plan touched more shared buffers (hit plus read) than its
//! baseline's beyond the band.

use super::{AtScale, Band, Change, Rule, at};

pub struct BuffersUp;

impl Rule for BuffersUp {
    fn name(&self) -> &'static str {
        "buffers-up"
    }

    fn at_scale(&self, pair: &AtScale) -> Option<Change> {
        let (_, then) = pair.then_counts();
        let (then, now) = (then as f64, pair.now.buffers as f64);
        pair.limits.buffers.exceeded(then, now).then(|| Change {
            rule: self.name(),
            message: format!(
                "shared buffers {}{}",
                Band::describe(then, now),
                at(pair.scale)
            ),
            nodes: Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{found, record, stored};
    use super::*;

    #[test]
    fn more_buffers_beyond_the_band_are_a_change_and_a_few_more_are_not() {
        let plan = stored("pg15/sparse-org.350000.new.explain.json");
        let then = record(&plan, "a");
        let mut now = then.clone();
        now.buffers = then.buffers + 5;
        assert!(found(&BuffersUp, &then, &now, &plan).is_none());
        now.buffers = then.buffers * 3 + 100;
        let change = found(&BuffersUp, &then, &now, &plan).unwrap();
        assert!(
            change.message.starts_with("shared buffers "),
            "{}",
            change.message
        );
    }
}
