//! `speedup`: the candidate query must be at least N times faster than the baseline,
//! comparing medians of interleaved client-side timings taken in the same run.

use serde::{Deserialize, Serialize};

use super::{Verdict, format_ms, missing_query};
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
            return Err(format!("baseline and candidate are both {:?}", self.baseline));
        }
        if self.at_least.is_finite() && self.at_least > 0.0 {
            Ok(())
        } else {
            Err(format!("at_least = {} must be a positive ratio such as 100", self.at_least))
        }
    }

    pub(super) fn evaluate(&self, evidence: &Evidence) -> Verdict {
        let subject = format!("{} vs {}", self.candidate, self.baseline);
        let (Some(baseline), Some(candidate)) =
            (evidence.query(&self.baseline), evidence.query(&self.candidate))
        else {
            let missing = if evidence.query(&self.baseline).is_none() { &self.baseline } else { &self.candidate };
            return missing_query("speedup", subject, missing);
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
            runs = candidate.timing.samples_ms.len().min(baseline.timing.samples_ms.len()),
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
