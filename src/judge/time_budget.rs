//! `time-budget`: the verdict on a query that ran past the time budget. No scenario
//! declares it; every query that timed out gets one. It fails ("timed out after 60 s")
//! unless a check of the scenario expects that query to be the slow one (the old
//! query of a regression): then running past the budget is the regression showing,
//! and the plan checks judge its estimated plan.

use super::Check;
use crate::outcome::Evidence;
use crate::outcome::Verdict;

/// The name reports show for these verdicts.
pub const NAME: &str = "time-budget";

/// One verdict per query of `evidence` that timed out, given the checks that judge
/// this variant.
pub fn verdicts(checks: &[&dyn Check], evidence: &Evidence) -> Vec<Verdict> {
    evidence
        .queries
        .iter()
        .filter_map(|query| {
            let timed_out = query.timed_out.as_ref()?;
            let name = &query.name;
            let expected = checks
                .iter()
                .any(|check| check.regressing_queries().contains(&name.as_str()));
            let plan = if query.plan.analyzed {
                "its plan ran to completion under EXPLAIN ANALYZE"
            } else {
                "its plan is estimated (EXPLAIN without ANALYZE)"
            };
            let summary = if expected {
                format!(
                    "{} (during {}), as expected of the regressing query (a check expects it to show the regression); {plan}",
                    timed_out.verdict(),
                    timed_out.during
                )
            } else {
                format!(
                    "{} (during {}); a measured query must finish within the time budget (time_budget, --time-budget); {plan}",
                    timed_out.verdict(),
                    timed_out.during
                )
            };
            let mut verdict = Verdict::new(NAME, name.clone(), expected, summary);
            verdict.queries = vec![name.clone()];
            Some(verdict)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::judge::speedup::Speedup;
    use crate::judge::stored;
    use crate::plan::Catalog;

    fn speedup() -> Speedup {
        Speedup {
            baseline: "old".into(),
            candidate: "new".into(),
            at_least: 10.0,
        }
    }

    #[test]
    fn only_a_query_expected_to_be_slow_may_time_out() {
        let evidence = stored::evidence(
            vec![
                stored::timed_out("old", "desc-index-forward-walk.estimated.json", 1),
                stored::timed_out("new", "org-index.estimated.json", 1),
            ],
            Catalog::default(),
        );
        let speedup = speedup();
        let judged = verdicts(&[&speedup], &evidence);
        assert_eq!(judged.len(), 2);
        assert!(judged[0].passed, "{}", judged[0].summary);
        assert!(!judged[1].passed);
        assert!(
            judged[1].summary.starts_with("timed out after 1 s"),
            "{}",
            judged[1].summary
        );
        assert_eq!(judged[1].queries, vec!["new"]);
        assert!(
            verdicts(&[], &evidence)
                .iter()
                .all(|verdict| !verdict.passed),
            "without a check expecting it, no query may time out"
        );
    }

    /// A query whose plain runs finished within the budget is not timed out, even when
    /// its EXPLAIN ANALYZE did not finish.
    #[test]
    fn queries_within_the_budget_get_no_verdict() {
        let evidence = stored::evidence(
            vec![
                stored::query("old", "org-index.explain.json", &[1.0]),
                stored::analyze_cancelled("new", "org-index.estimated.json", &[45.0]),
            ],
            Catalog::default(),
        );
        assert!(verdicts(&[&speedup()], &evidence).is_empty());
    }
}
