//! `speedup`: the candidate query must be at least N times faster than the baseline,
//! comparing medians of client-side timings taken in the same run (interleaved when
//! both run on the same schema state; the summary says when they were not).

use serde::{Deserialize, Serialize};

use super::{Check, Verdict, distinct, format_ms, query, timing_note};
use crate::outcome::Evidence;

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

    fn judge(&self, evidence: &Evidence) -> Verdict {
        let (baseline, candidate) = (
            query(evidence, &self.baseline),
            query(evidence, &self.candidate),
        );
        let subject = format!("{} vs {}", self.candidate, self.baseline);
        let baseline_ms = baseline.timing.median_ms();
        let candidate_ms = candidate.timing.median_ms();
        let ratio = baseline_ms / candidate_ms;
        let summary = format!(
            "{candidate} is {ratio:.0}x faster than {baseline} (median {candidate_ms} vs {baseline_ms}, {note}); required at least {required}x",
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
