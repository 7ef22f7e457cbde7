//! `speedup`: the candidate query must be at least N times faster than the baseline,
//! comparing medians of client-side timings taken in the same run (interleaved when
//! both run on the same schema state; the summary says when they were not).

use serde::{Deserialize, Serialize};

use super::{Check, distinct, lower_bound_ms, query, timing_note};
use crate::format::format_ms;
use crate::outcome::Verdict;
use crate::outcome::{Evidence, QueryEvidence};

/// Configuration of the `speedup` check.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Speedup {
    pub baseline: String,
    pub candidate: String,
    /// The smallest acceptable ratio of baseline median to candidate median.
    pub at_least: f64,
}

impl Check for Speedup {
    fn name(&self) -> &'static str {
        "speedup"
    }

    fn queries(&self) -> Vec<&str> {
        vec![&self.baseline, &self.candidate]
    }

    fn baseline(&self) -> Option<&str> {
        Some(&self.baseline)
    }

    fn validate(&self) -> Result<(), String> {
        distinct(&self.baseline, &self.candidate)?;
        if self.at_least.is_finite() && self.at_least > 0.0 {
            Ok(())
        } else {
            Err(format!(
                "at_least = {} must be a positive ratio such as 100",
                self.at_least
            ))
        }
    }

    fn regressing_queries(&self) -> Vec<&str> {
        vec![&self.baseline]
    }

    fn timing_factor(&self) -> Option<f64> {
        Some(self.at_least)
    }

    fn judge(&self, evidence: &Evidence) -> Verdict {
        let (baseline, candidate) = (
            query(evidence, &self.baseline),
            query(evidence, &self.candidate),
        );
        let subject = format!("{} vs {}", self.candidate, self.baseline);
        if let Some(timed_out) = &candidate.timed_out {
            let summary = format!(
                "{} {}, so it is not shown to be faster than {}",
                self.candidate,
                timed_out.verdict(),
                self.baseline
            );
            return Verdict::new(self.name(), subject, false, summary);
        }
        if let Some(timed_out) = &baseline.timed_out {
            return self.judge_bound(subject, baseline, candidate, &timed_out.verdict());
        }
        let baseline_ms = baseline.timing.median_ms();
        let candidate_ms = candidate.timing.median_ms();
        let ratio = baseline_ms / candidate_ms;
        let summary = format!(
            "{candidate} is {} than {baseline} (median {candidate_ms} vs {baseline_ms}, {note}); required at least {required}x faster",
            faster_or_slower(ratio),
            candidate = self.candidate,
            baseline = self.baseline,
            candidate_ms = format_ms(candidate_ms),
            baseline_ms = format_ms(baseline_ms),
            note = timing_note(baseline, candidate),
            required = self.at_least,
        );
        Verdict::new(self.name(), subject, ratio >= self.at_least, summary)
    }
}

impl Speedup {
    /// The verdict when the baseline ran past the time budget: it took at least its
    /// bound (the budget, or a faster finished run), so the ratio is at least the
    /// bound over the candidate's median. That bound passes or says it cannot tell; it
    /// never guesses the rest.
    fn judge_bound(
        &self,
        subject: String,
        baseline: &QueryEvidence,
        candidate: &QueryEvidence,
        timed_out: &str,
    ) -> Verdict {
        let candidate_ms = candidate.timing.median_ms();
        let bound = lower_bound_ms(baseline) / candidate_ms;
        let (passed, verdict) = if bound >= self.at_least {
            (true, "")
        } else {
            (
                false,
                "; that bound does not reach the requirement, so the speedup is not shown: raise the time budget to measure the baseline",
            )
        };
        let summary = format!(
            "{candidate} is at least {}x faster than {baseline} ({baseline} {timed_out}; {candidate} median {candidate_ms}); required at least {required}x{verdict}",
            ratio_text(bound),
            candidate = self.candidate,
            baseline = self.baseline,
            candidate_ms = format_ms(candidate_ms),
            required = self.at_least,
        );
        Verdict::new(self.name(), subject, passed, summary)
    }
}

/// `12x faster`, or `1.4x slower` when the candidate is the slower one.
fn faster_or_slower(ratio: f64) -> String {
    if ratio >= 1.0 {
        format!("{}x faster", ratio_text(ratio))
    } else {
        format!("{}x slower", ratio_text(1.0 / ratio))
    }
}

/// A ratio as people say it: `1.3`, `19`, `2341` (one decimal below 10, so a 1.1x
/// ratio is not shown as 1x).
fn ratio_text(ratio: f64) -> String {
    if ratio < 10.0 {
        format!("{ratio:.1}")
    } else {
        format!("{ratio:.0}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::judge::{evaluate, stored};
    use crate::plan::Catalog;

    fn evidence(old_ms: &[f64], new_ms: &[f64]) -> Evidence {
        stored::evidence(
            vec![
                stored::query("old", "desc-index-forward-walk.explain.json", old_ms),
                stored::query("new", "org-index.explain.json", new_ms),
            ],
            Catalog::default(),
        )
    }

    fn check(at_least: f64) -> Speedup {
        Speedup {
            baseline: "old".into(),
            candidate: "new".into(),
            at_least,
        }
    }

    #[test]
    fn compares_medians_not_means() {
        // One slow outlier in the candidate does not sink it; one fast outlier in the
        // baseline does not either.
        let evidence = evidence(&[1000.0, 2.0, 1000.0], &[1.0, 1.0, 900.0]);
        let verdict = evaluate(&check(1000.0), &evidence);
        assert!(verdict.passed, "{}", verdict.summary);
        assert!(
            verdict.summary.contains("1000x faster")
                && verdict.summary.contains("3 interleaved runs"),
            "{}",
            verdict.summary
        );
        assert!(!evaluate(&check(1001.0), &evidence).passed);
    }

    #[test]
    fn a_missing_query_fails_instead_of_panicking() {
        let mut evidence = evidence(&[1.0], &[1.0]);
        evidence.queries.pop();
        let verdict = evaluate(&check(2.0), &evidence);
        assert!(!verdict.passed);
        assert!(verdict.summary.contains("\"new\""), "{}", verdict.summary);
    }

    #[test]
    fn a_baseline_past_the_budget_passes_only_on_the_bound() {
        let evidence = |new_ms: f64| {
            stored::evidence(
                vec![
                    stored::timed_out("old", "desc-index-forward-walk.estimated.json", 1),
                    stored::query("new", "org-index.explain.json", &[new_ms]),
                ],
                Catalog::default(),
            )
        };
        let verdict = evaluate(&check(100.0), &evidence(2.0));
        assert!(verdict.passed, "1 s / 2 ms = 500x: {}", verdict.summary);
        assert!(
            verdict.summary.contains("at least 500x faster")
                && verdict.summary.contains("old timed out after 1 s"),
            "{}",
            verdict.summary
        );
        let verdict = evaluate(&check(100.0), &evidence(50.0));
        assert!(!verdict.passed, "20x is all the bound shows");
        assert!(
            verdict.summary.contains("raise the time budget"),
            "{}",
            verdict.summary
        );
    }

    /// Only EXPLAIN ANALYZE of the baseline ran past its limit: its plain runs were
    /// timed, and the ratio is read from them, not from the budget as a bound.
    #[test]
    fn a_baseline_whose_explain_analyze_ran_long_is_compared_on_its_runs() {
        let evidence = stored::evidence(
            vec![
                stored::analyze_cancelled(
                    "old",
                    "desc-index-forward-walk.estimated.json",
                    &[1960.0, 1955.0, 1970.0],
                ),
                stored::query("new", "org-index.explain.json", &[21.5, 21.5, 21.5]),
            ],
            Catalog::default(),
        );
        let verdict = evaluate(&check(100.0), &evidence);
        assert!(!verdict.passed, "91x is short of 100x: {}", verdict.summary);
        assert!(
            verdict.summary.contains("91x faster"),
            "{}",
            verdict.summary
        );
    }

    /// A bound never claims more than a finished run showed: the warm-up finished in
    /// 600 ms before a timing run was cancelled at the 1 s budget.
    #[test]
    fn the_bound_is_no_more_than_a_finished_run() {
        let mut old = stored::timed_out("old", "desc-index-forward-walk.estimated.json", 1);
        old.warm_up_ms = Some(600.0);
        let evidence = stored::evidence(
            vec![old, stored::query("new", "org-index.explain.json", &[2.0])],
            Catalog::default(),
        );
        let verdict = evaluate(&check(100.0), &evidence);
        assert!(
            verdict.summary.contains("at least 300x faster"),
            "{}",
            verdict.summary
        );
    }

    #[test]
    fn unequal_run_counts_are_both_shown() {
        let evidence = evidence(&[100.0, 100.0, 100.0], &[1.0; 25]);
        let verdict = evaluate(&check(10.0), &evidence);
        assert!(
            verdict
                .summary
                .contains("interleaved: 3 runs of old, 25 of new"),
            "{}",
            verdict.summary
        );
    }

    #[test]
    fn a_candidate_past_the_budget_fails() {
        let evidence = stored::evidence(
            vec![
                stored::query("old", "desc-index-forward-walk.explain.json", &[1.0]),
                stored::timed_out("new", "org-index.estimated.json", 1),
            ],
            Catalog::default(),
        );
        let verdict = evaluate(&check(2.0), &evidence);
        assert!(!verdict.passed);
        assert!(
            verdict.summary.contains("new timed out after 1 s"),
            "{}",
            verdict.summary
        );
    }

    #[test]
    fn timings_across_schema_states_say_so() {
        let mut evidence = evidence(&[100.0], &[1.0]);
        evidence.queries[1].state = crate::outcome::SchemaState::After;
        let verdict = evaluate(&check(10.0), &evidence);
        assert!(
            verdict
                .summary
                .contains("not interleaved: old ran before the migration, new after"),
            "{}",
            verdict.summary
        );
    }
}
