//! `stable`: a query keeps one good plan whatever sample `ANALYZE` draws. A run with
//! `--stability N` re-analyses the tables N times after its own capture and takes the
//! query's estimated plan after each round; the check fails when the query took more
//! than one distinct plan, or when any plan it took was flagged by the scenario's
//! plan checks that judge estimated plans (`ordered-walk`, `no-node`).
//!
//! A flag means what the flagging check expects: for a query whose problem is
//! expected `absent` (the fix), a round that shows it; for one expected `present`
//! (the old query, the scenario's proof), a round that lost the regression, so the
//! reproduction depends on the sample. Either way a user re-running the scenario
//! could see a different verdict, which is what this check exists to catch. Two
//! plans that both pass every check still fail it: a plan that moves with the
//! sample is one statistics refresh away from a third. Checks that count what a plan
//! did (rows, buffers) cannot judge estimated plans and take no part.
//!
//! Without `--stability` there are no rounds: the check says "not judged: needs
//! --stability N" (`judged = false`) and does not fail the run, as `growth` does at
//! one scale; the run prints that it was not judged.

use serde::{Deserialize, Serialize};

use super::{Check, Verdict};
use crate::outcome::Evidence;
use crate::outcome::stability::Stability;
use crate::outcome::sweep::variant_label;

/// The check's name, as scenario files write it.
const NAME: &str = crate::outcome::stability::STABLE_CHECK;

/// What a stable check says in a run without `--stability`.
pub const NOT_JUDGED: &str = "not judged: needs --stability N (repeated ANALYZE rounds)";

/// Configuration of the `stable` check.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Stable {
    pub query: String,
}

impl Check for Stable {
    fn name(&self) -> &'static str {
        NAME
    }

    fn queries(&self) -> Vec<&str> {
        vec![&self.query]
    }

    fn judge(&self, _evidence: &Evidence) -> Verdict {
        let mut verdict = Verdict::new(NAME, self.query.clone(), true, NOT_JUDGED.to_owned());
        verdict.judged = false;
        verdict
    }

    fn reads_beyond_one_run(&self) -> Option<(&'static str, &'static str)> {
        Some(("repeated ANALYZE rounds", "--stability N"))
    }

    fn judge_stability(
        &self,
        stability: &Stability,
        variant: &[(String, String)],
    ) -> Option<Verdict> {
        Some(self.judge_rounds(stability, variant))
    }
}

impl Stable {
    /// The verdict over the rounds' plans of this query in `variant`.
    pub fn judge_rounds(&self, stability: &Stability, variant: &[(String, String)]) -> Verdict {
        let verdict = |passed, summary| Verdict::new(NAME, self.query.clone(), passed, summary);
        let name = &self.query;
        let rounds = stability.rounds;
        let Some(shapes) = stability.query(variant, name) else {
            // The rounds explain every query of every variant; only a document put
            // together elsewhere can lack one.
            let place = match variant.is_empty() {
                true => String::new(),
                false => format!(" ({})", variant_label(variant)),
            };
            return verdict(
                false,
                format!("cannot judge {name}{place}: the stability rounds did not explain it"),
            );
        };
        let listing = shapes.listing(rounds);
        let over = format!("over {}", stability.heading());
        let flagged: u32 = shapes
            .shapes
            .iter()
            .filter(|shape| shape.flagged())
            .map(|shape| shape.rounds)
            .sum();
        match (shapes.shapes.len(), flagged) {
            (1, 0) => verdict(true, format!("{name} kept one plan {over}: {listing}")),
            (1, _) => verdict(
                false,
                format!("{name} kept one plan {over}, but a plan check flags it: {listing}"),
            ),
            (count, 0) => verdict(
                false,
                format!("{name} took {count} plans {over}: {listing}"),
            ),
            (count, flagged) => verdict(
                false,
                format!(
                    "{name} took {count} plans {over}, flagged in {flagged} of {rounds} rounds: {listing}"
                ),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::stability::{QueryShapes, ShapeCount, StabilityCell};

    fn shape(shape: &str, rounds: u32, flags: &[&str]) -> ShapeCount {
        ShapeCount {
            shape: shape.to_owned(),
            rounds,
            first_round: 1,
            flags: flags.iter().map(|flag| (*flag).to_owned()).collect(),
        }
    }

    fn stability(shapes: Vec<ShapeCount>) -> Stability {
        Stability {
            rounds: shapes.iter().map(|shape| shape.rounds).sum(),
            statistics_target: Some(10),
            database_statistics_target: "100".to_owned(),
            cells: vec![StabilityCell {
                variant: vec![],
                queries: vec![QueryShapes {
                    query: "new".to_owned(),
                    shapes,
                }],
            }],
        }
    }

    fn judge(stability: &Stability) -> Verdict {
        let check = Stable {
            query: "new".to_owned(),
        };
        check.judge_stability(stability, &[]).unwrap()
    }

    #[test]
    fn one_clean_plan_in_every_round_passes() {
        let verdict = judge(&stability(vec![shape("Index Scan using i on t", 5, &[])]));
        assert!(verdict.passed && verdict.judged, "{}", verdict.summary);
        assert_eq!(
            verdict.summary,
            "new kept one plan over 5 ANALYZE rounds at default_statistics_target 10 (the run's: 100): Index Scan using i on t (5 of 5)"
        );
    }

    #[test]
    fn two_plans_fail_naming_both_with_their_counts() {
        let verdict = judge(&stability(vec![
            shape("Index Scan using i on t", 4, &[]),
            shape("Seq Scan on t", 1, &[]),
        ]));
        assert!(!verdict.passed);
        assert!(
            verdict.summary.contains("new took 2 plans")
                && verdict.summary.contains("Index Scan using i on t (4 of 5)")
                && verdict.summary.contains("Seq Scan on t (1 of 5)"),
            "{}",
            verdict.summary
        );
    }

    #[test]
    fn a_flagged_plan_fails_even_when_it_is_the_only_one() {
        let flag = "ordered-walk: the new plan shows an ordered walk";
        let verdict = judge(&stability(vec![shape(
            "Index Scan using c on t",
            3,
            &[flag],
        )]));
        assert!(!verdict.passed);
        assert!(
            verdict.summary.contains("a plan check flags it") && verdict.summary.contains(flag),
            "{}",
            verdict.summary
        );
        let verdict = judge(&stability(vec![
            shape("Index Scan using i on t", 2, &[]),
            shape("Index Scan using c on t", 3, &[flag]),
        ]));
        assert!(
            !verdict.passed && verdict.summary.contains("flagged in 3 of 5 rounds"),
            "{}",
            verdict.summary
        );
    }

    #[test]
    fn without_rounds_the_check_is_not_judged_and_never_a_silent_pass() {
        let check = Stable {
            query: "new".to_owned(),
        };
        let verdict = check.judge(&crate::judge::stored::evidence(
            vec![],
            crate::plan::Catalog::default(),
        ));
        assert!(!verdict.judged);
        assert_eq!(verdict.summary, NOT_JUDGED);
    }

    #[test]
    fn a_query_the_rounds_did_not_explain_cannot_be_judged() {
        let mut stability = stability(vec![shape("Seq Scan on t", 5, &[])]);
        stability.cells[0].queries.clear();
        let verdict = judge(&stability);
        assert!(!verdict.passed);
        assert_eq!(
            verdict.summary,
            "cannot judge new: the stability rounds did not explain it"
        );
    }
}
