//! `growth-up`: rows examined now grow with the table where the baseline's did not
//! (an exponent below the limit's `from` that reaches its `to`): a plan that is fine
//! on a small test database and walks on production's. It fails even when the numbers
//! at each scale are within their bands.

use super::{Change, Limits, Rule};
use crate::outcome::baseline::SetBaseline;

pub struct GrowthUp;

impl Rule for GrowthUp {
    fn name(&self) -> &'static str {
        "growth-up"
    }

    fn over_scales(&self, then: &SetBaseline, now: Option<f64>, limits: &Limits) -> Option<Change> {
        let (then, now) = (then.growth?, now?);
        (then < limits.growth_from && now >= limits.growth_to).then(|| Change {
            rule: self.name(),
            message: format!(
                "rows examined now grow with the table: exponent {then:.2} → {now:.2}"
            ),
            nodes: Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flat_query_that_starts_to_grow_with_the_table_is_a_change() {
        let set = |growth| SetBaseline {
            growth,
            params: vec![],
            scales: Default::default(),
        };
        let limits = Limits::default();
        let change = GrowthUp
            .over_scales(&set(Some(0.02)), Some(0.98), &limits)
            .unwrap();
        assert_eq!(
            change.message,
            "rows examined now grow with the table: exponent 0.02 → 0.98"
        );
        assert!(
            GrowthUp
                .over_scales(&set(Some(0.02)), Some(0.4), &limits)
                .is_none()
        );
        assert!(
            GrowthUp
                .over_scales(&set(Some(0.9)), Some(1.0), &limits)
                .is_none()
        );
        assert!(
            GrowthUp
                .over_scales(&set(None), Some(1.0), &limits)
                .is_none()
        );
    }
}
