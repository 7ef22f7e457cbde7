//! `no-slowdown`: the fix must not hurt the common case. The candidate fails only when
//! it is both more than `max_ratio` times slower and more than `slack_ms` slower than
//! the baseline: sub-millisecond queries differ by large ratios over noise alone.

use serde::{Deserialize, Serialize};

use super::{Check, Verdict, distinct, format_ms, lower_bound_ms, query, timing_note};
use crate::outcome::Evidence;

/// Configuration of the `no-slowdown` check.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NoSlowdown {
    pub baseline: String,
    pub candidate: String,
    /// The largest acceptable ratio of candidate median to baseline median.
    pub max_ratio: f64,
    /// Absolute slowdown, in milliseconds, that is tolerated whatever the ratio.
    #[serde(default)]
    pub slack_ms: f64,
}

impl Check for NoSlowdown {
    fn name(&self) -> &'static str {
        "no-slowdown"
    }

    fn queries(&self) -> Vec<&str> {
        vec![&self.baseline, &self.candidate]
    }

    fn validate(&self) -> Result<(), String> {
        distinct(&self.baseline, &self.candidate)?;
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

    fn timing_factor(&self) -> Option<f64> {
        Some(self.max_ratio)
    }

    fn judge(&self, evidence: &Evidence) -> Verdict {
        let (baseline, candidate) = (
            query(evidence, &self.baseline),
            query(evidence, &self.candidate),
        );
        let subject = format!("{} vs {}", self.candidate, self.baseline);
        if let Some(timed_out) = &candidate.timed_out {
            let summary = format!(
                "{} {}, so it is not shown to be no slower than {}",
                self.candidate,
                timed_out.verdict(),
                self.baseline
            );
            return Verdict::new(self.name(), subject, false, summary);
        }
        // A baseline cancelled at the budget took at least that long: judged on that
        // bound, a pass holds for any longer baseline, and a failure cannot be told.
        let baseline_ms = lower_bound_ms(baseline);
        let candidate_ms = candidate.timing.median_ms();
        let ratio = candidate_ms / baseline_ms;
        let passed = !(ratio > self.max_ratio && candidate_ms - baseline_ms > self.slack_ms);
        let (baseline_median, bound) = match &baseline.timed_out {
            Some(timed_out) => (
                "at least",
                format!("; {} {}", self.baseline, timed_out.verdict()),
            ),
            None => ("median", String::new()),
        };
        let summary = format!(
            "{candidate} median {candidate_ms} vs {baseline} {baseline_median} {baseline_ms} ({ratio:.2}x, {note}{bound}); allowed up to {max_ratio}x or {slack} slower",
            candidate = self.candidate,
            baseline = self.baseline,
            candidate_ms = format_ms(candidate_ms),
            baseline_ms = format_ms(baseline_ms),
            note = timing_note(baseline, candidate),
            max_ratio = self.max_ratio,
            slack = format_ms(self.slack_ms),
        );
        Verdict::new(self.name(), subject, passed, summary)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::judge::{evaluate, stored};
    use crate::plan::Catalog;

    fn verdict(old_ms: f64, new_ms: f64) -> bool {
        let evidence = stored::evidence(
            vec![
                stored::query("old", "dense-short-walk.explain.json", &[old_ms]),
                stored::query("new", "org-index.explain.json", &[new_ms]),
            ],
            Catalog::default(),
        );
        let check = NoSlowdown {
            baseline: "old".into(),
            candidate: "new".into(),
            max_ratio: 2.0,
            slack_ms: 1.0,
        };
        evaluate(&check, &evidence).passed
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
