//! The verdict of a flip search (`--find-flip`): the query's plan must show the
//! regression somewhere in the bracket searched, and at the scenario's `min_scale`
//! when the search looked there. Not a check a scenario declares: the search is asked
//! for on the command line, and its verdict sits beside the checks so that every
//! report shows a `min_scale` that does not hold where verdicts are read.

use crate::outcome::Verdict;
use crate::outcome::sweep::{FlipResult, FlipSearch};

/// The name the verdict goes by in reports.
pub const NAME: &str = crate::outcome::sweep::FLIP_SEARCH_CHECK;

/// The verdict over `flip`, whose scales count rows of `scale_table`.
pub fn verdict(flip: &FlipSearch, scale_table: &str) -> Verdict {
    let mut summary = flip.sentence(scale_table);
    if let Some(min_scale) = flip.min_scale_sentence() {
        summary = format!("{summary}; {min_scale}");
    }
    let passed = flip.passed();
    let mut verdict = Verdict::new(NAME, flip.query.clone(), passed, summary);
    verdict.queries = vec![flip.query.clone()];
    if matches!(flip.result, FlipResult::NotReached { .. }) {
        verdict.summary = format!("regression not reached: {}", verdict.summary);
    }
    verdict
}

#[cfg(test)]
mod tests {
    use super::*;

    fn search(result: FlipResult, min_scale_holds: Option<bool>) -> FlipSearch {
        FlipSearch {
            query: "old".into(),
            low: 10_000,
            high: 1_000_000,
            precision: 1.1,
            probes: vec![],
            result,
            min_scale: Some(200_000),
            min_scale_holds,
        }
    }

    #[test]
    fn a_min_scale_below_the_flip_fails_where_verdicts_are_read() {
        let found = FlipResult::Found {
            scale: 280_000,
            clean_below: 260_000,
        };
        let holds = verdict(&search(found, Some(true)), "t");
        assert!(holds.passed, "{}", holds.summary);
        let too_low = verdict(&search(found, Some(false)), "t");
        assert!(!too_low.passed);
        assert!(
            too_low.summary.contains("min_scale 200,000 is too low"),
            "{}",
            too_low.summary
        );
        let never = verdict(
            &search(FlipResult::NotReached { scale: 1_000_000 }, None),
            "t",
        );
        assert!(!never.passed && never.summary.starts_with("regression not reached"));
    }
}
