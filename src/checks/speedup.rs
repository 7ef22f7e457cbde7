//! `speedup`: the candidate query must be at least N times faster than the baseline,
//! comparing medians of interleaved client-side timings taken in the same run.

use serde::{Deserialize, Serialize};

use super::{Verdict, comparison_pair, format_ms, missing_query};
use crate::evidence::Evidence;

/// Configuration of the `speedup` check.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Speedup {
    pub baseline: String,
    pub candidate: String,
    /// The smallest acceptable ratio of baseline median to candidate median.
    pub at_least: f64,
}

impl Speedup {
    pub(super) fn validate(&self) -> Result<(), String> {
        if self.baseline == self.candidate {
            return Err(format!(
                "baseline and candidate are both {:?}",
                self.baseline
            ));
        }
        if self.at_least.is_finite() && self.at_least > 0.0 {
            Ok(())
        } else {
            Err(format!(
                "at_least = {} must be a positive ratio such as 100",
                self.at_least
            ))
        }
    }

    pub(super) fn evaluate(&self, evidence: &Evidence) -> Verdict {
        let subject = format!("{} vs {}", self.candidate, self.baseline);
        let (baseline, candidate) = match comparison_pair(evidence, &self.baseline, &self.candidate)
        {
            Ok(pair) => pair,
            Err(missing) => return missing_query("speedup", subject, missing),
        };
        let baseline_ms = baseline.timing.median_ms();
        let candidate_ms = candidate.timing.median_ms();
        let ratio = baseline_ms / candidate_ms;
        let passed = ratio >= self.at_least;
        let summary = format!(
            "{candidate} is {ratio:.0}x faster than {baseline} (median {candidate_ms} vs {baseline_ms}, \
             {runs} interleaved runs each); required at least {at_least}x",
            candidate = self.candidate,
            baseline = self.baseline,
            candidate_ms = format_ms(candidate_ms),
            baseline_ms = format_ms(baseline_ms),
            runs = candidate
                .timing
                .samples_ms
                .len()
                .min(baseline.timing.samples_ms.len()),
            at_least = self.at_least,
        );
        Verdict {
            check: "speedup",
            subject,
            passed,
            queries: vec![],
            summary,
            findings: vec![],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::stored;
    use crate::plan::Catalog;

    fn evidence(old_ms: &[f64], new_ms: &[f64]) -> Evidence {
        Evidence {
            queries: vec![
                stored::query("old", "desc-index-forward-walk.explain.json", old_ms),
                stored::query("new", "org-index.explain.json", new_ms),
            ],
            catalog: Catalog::default(),
        }
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
        let verdict = check(1000.0).evaluate(&evidence);
        assert!(verdict.passed, "{}", verdict.summary);
        assert!(
            verdict.summary.contains("1000x faster"),
            "{}",
            verdict.summary
        );
        assert!(!check(1001.0).evaluate(&evidence).passed);
    }

    #[test]
    fn a_missing_query_fails_instead_of_panicking() {
        let mut evidence = evidence(&[1.0], &[1.0]);
        evidence.queries.pop();
        let verdict = check(2.0).evaluate(&evidence);
        assert!(!verdict.passed);
        assert!(verdict.summary.contains("\"new\""), "{}", verdict.summary);
    }
}
