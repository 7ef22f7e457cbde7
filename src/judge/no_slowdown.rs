//! `no-slowdown`: the fix must not hurt the common case. The candidate fails only when
//! it is both more than `max_ratio` times slower and more than `slack_ms` slower than
//! the baseline: sub-millisecond queries differ by large ratios over noise alone.

use serde::{Deserialize, Serialize};

use super::{Check, distinct, lower_bound_ms, query, timing_note};
use crate::format::format_ms;
use crate::outcome::Evidence;
use crate::outcome::Verdict;

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

    fn baseline(&self) -> Option<&str> {
        Some(&self.baseline)
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
        // A baseline cancelled at the budget took at least the bound, so the ratio
        // judged on it is the most the candidate can be slower: a pass holds for any
        // longer baseline, but a failure cannot be told from a baseline that took
        // longer, and is reported as not shown rather than as a slowdown.
        let baseline_ms = lower_bound_ms(baseline);
        let candidate_ms = candidate.timing.median_ms();
        let ratio = candidate_ms / baseline_ms;
        let passed = !(ratio > self.max_ratio && candidate_ms - baseline_ms > self.slack_ms);
        let (baseline_median, bound, verdict) = match &baseline.timed_out {
            Some(timed_out) => (
                "at least",
                format!("; {} {}", self.baseline, timed_out.verdict()),
                if passed {
                    ""
                } else {
                    "; the baseline may have taken longer, so whether the candidate is slower is not known, and no slowdown is not shown: raise the time budget to measure the baseline"
                },
            ),
            None => ("median", String::new(), ""),
        };
        let ratio_word = if baseline.timed_out.is_some() {
            "at most "
        } else {
            ""
        };
        let summary = format!(
            "{candidate} median {candidate_ms} vs {baseline} {baseline_median} {baseline_ms} ({ratio_word}{ratio:.2}x, {note}{bound}); allowed up to {max_ratio}x or {slack} slower{verdict}",
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

    /// On a baseline cut at the budget the ratio is an upper bound: a pass holds, a
    /// failure is only "not shown".
    #[test]
    fn a_baseline_past_the_budget_passes_on_the_bound_and_never_shows_a_slowdown() {
        let evidence = |new_ms: f64| {
            stored::evidence(
                vec![
                    stored::timed_out("old", "desc-index-forward-walk.estimated.json", 1),
                    stored::query("new", "org-index.explain.json", &[new_ms]),
                ],
                Catalog::default(),
            )
        };
        let check = NoSlowdown {
            baseline: "old".into(),
            candidate: "new".into(),
            max_ratio: 1.1,
            slack_ms: 0.0,
        };
        let verdict = evaluate(&check, &evidence(500.0));
        assert!(verdict.passed, "{}", verdict.summary);
        assert!(
            verdict.summary.contains("at most 0.50x"),
            "{}",
            verdict.summary
        );
        // The baseline's warm-up finished in 600 ms, then a timing run ran past 1 s:
        // the bound is 600 ms, and 900 ms may or may not be slower than the baseline.
        let mut slower = evidence(900.0);
        slower.queries[0].warm_up_ms = Some(600.0);
        let verdict = evaluate(&check, &slower);
        assert!(!verdict.passed);
        assert!(
            verdict
                .summary
                .contains("whether the candidate is slower is not known")
                && verdict.summary.contains("raise the time budget"),
            "{}",
            verdict.summary
        );
    }

    /// A baseline whose EXPLAIN ANALYZE alone ran long is not timed out: its runs are
    /// compared, and a real slowdown fails.
    #[test]
    fn a_baseline_whose_explain_analyze_ran_long_is_judged_on_its_runs() {
        let evidence = stored::evidence(
            vec![
                stored::analyze_cancelled(
                    "old",
                    "desc-index-forward-walk.estimated.json",
                    &[400.0, 410.0, 420.0],
                ),
                stored::query("new", "org-index.explain.json", &[900.0, 900.0, 900.0]),
            ],
            Catalog::default(),
        );
        let check = NoSlowdown {
            baseline: "old".into(),
            candidate: "new".into(),
            max_ratio: 2.0,
            slack_ms: 0.0,
        };
        let verdict = evaluate(&check, &evidence);
        assert!(!verdict.passed, "{}", verdict.summary);
        assert!(
            verdict.summary.contains("vs old median 410 ms"),
            "{}",
            verdict.summary
        );
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
