//! `result-changed`: the query returned other rows than its baseline did, on the same
//! rows of data. A correctness regression: no limit makes it pass.

use super::{AtScale, Change, Rule, at};
use crate::format::format_count;

pub struct ResultChanged;

impl Rule for ResultChanged {
    fn name(&self) -> &'static str {
        "result-changed"
    }

    fn at_scale(&self, pair: &AtScale) -> Option<Change> {
        let (then, now) = (pair.then, pair.now);
        if then.result == now.result && then.rows_returned == now.rows_returned {
            return None;
        }
        let message = match then.rows_returned == now.rows_returned {
            true => format!(
                "result changed{}: the same number of rows ({}), other rows",
                at(pair.scale),
                format_count(now.rows_returned as f64)
            ),
            false => format!(
                "result changed{}: {} rows returned, {} in the baseline",
                at(pair.scale),
                format_count(now.rows_returned as f64),
                format_count(then.rows_returned as f64)
            ),
        };
        Some(Change {
            rule: self.name(),
            message,
            nodes: Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{found, record, stored};
    use super::*;

    #[test]
    fn other_rows_or_another_count_is_a_change_and_the_same_digest_is_not() {
        let plan = stored("pg15/sparse-org.350000.new.explain.json");
        let then = record(&plan, "aa");
        assert!(found(&ResultChanged, &then, &record(&plan, "aa"), &plan).is_none());
        let other = found(&ResultChanged, &then, &record(&plan, "bb"), &plan).unwrap();
        assert!(
            other
                .message
                .contains("the same number of rows (26), other rows"),
            "{}",
            other.message
        );
        let mut fewer = record(&plan, "cc");
        fewer.rows_returned = 3;
        let fewer = found(&ResultChanged, &then, &fewer, &plan).unwrap();
        assert!(
            fewer
                .message
                .contains("3 rows returned, 26 in the baseline"),
            "{}",
            fewer.message
        );
    }
}
