//! `no-slowdown`: the fix must not hurt the common case. The candidate fails only when
//! it is both more than `max_ratio` times slower and more than `slack_ms` slower than
//! the baseline: sub-millisecond queries differ by large ratios over noise alone.

use serde::{Deserialize, Serialize};

use super::{Verdict, comparison_pair, format_ms, missing_query};
use crate::evidence::Evidence;

/// Configuration of the `no-slowdown` check.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NoSlowdown {
    pub baseline: String,
    pub candidate: String,
    /// The largest acceptable ratio of candidate median to baseline median.
    pub max_ratio: f64,
    /// Absolute slowdown, in milliseconds, that is tolerated whatever the ratio.
    pub slack_ms: f64,
}

impl NoSlowdown {
    pub(super) fn validate(&self) -> Result<(), String> {
        if self.baseline == self.candidate {
            return Err(format!(
                "baseline and candidate are both {:?}",
                self.baseline
            ));
        }
        if !(self.max_ratio.is_finite() && self.max_ratio >= 1.0) {
            return Err(format!(
                "max_ratio = {} must be a ratio of at least 1",
                self.max_ratio
            ));
        }
        if !(self.slack_ms.is_finite() && self.slack_ms >= 0.0) {
            return Err(format!(
                "slack_ms = {} must be zero or more milliseconds",
                self.slack_ms
            ));
        }
        Ok(())
    }

    pub(super) fn evaluate(&self, evidence: &Evidence) -> Verdict {
        let subject = format!("{} vs {}", self.candidate, self.baseline);
        let (baseline, candidate) = match comparison_pair(evidence, &self.baseline, &self.candidate)
        {
            Ok(pair) => pair,
            Err(missing) => return missing_query("no-slowdown", subject, missing),
        };
        let baseline_ms = baseline.timing.median_ms();
        let candidate_ms = candidate.timing.median_ms();
        let ratio = candidate_ms / baseline_ms;
        let slower_by = candidate_ms - baseline_ms;
        let passed = !(ratio > self.max_ratio && slower_by > self.slack_ms);
        let summary = format!(
            "{candidate} median {candidate_ms} vs {baseline} median {baseline_ms} ({ratio:.2}x); \
             allowed up to {max_ratio}x or {slack} slower",
            candidate = self.candidate,
            baseline = self.baseline,
            candidate_ms = format_ms(candidate_ms),
            baseline_ms = format_ms(baseline_ms),
            max_ratio = self.max_ratio,
            slack = format_ms(self.slack_ms),
        );
        Verdict {
            check: "no-slowdown",
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

    fn verdict(old_ms: f64, new_ms: f64) -> bool {
        let evidence = Evidence {
            queries: vec![
                stored::query("old", "dense-short-walk.explain.json", &[old_ms]),
                stored::query("new", "org-index.explain.json", &[new_ms]),
            ],
            catalog: Catalog::default(),
        };
        let check = NoSlowdown {
            baseline: "old".into(),
            candidate: "new".into(),
            max_ratio: 2.0,
            slack_ms: 1.0,
        };
        check.evaluate(&evidence).passed
    }

    #[test]
    fn fails_only_when_both_relatively_and_absolutely_slower() {
        assert!(
            verdict(0.12, 0.27),
            "2.25x but 0.15 ms: noise, not a regression"
        );
        assert!(verdict(10.0, 19.0), "1.9x: within the ratio");
        assert!(!verdict(10.0, 25.0), "2.5x and 15 ms slower");
        assert!(verdict(0.5, 0.4), "faster is fine");
    }
}
