//! `growth`: how fast a query's cost grows with the table, judged over a scale sweep.
//! The sweep fits the query's rows examined, shared buffers or median time against
//! the scale on log-log axes; the slope is the growth exponent (1: grows with the
//! table, 0: stays flat). The finding is "grows faster than `max_slope`": `expect =
//! "present"` proves the old query grows, `absent` (the default) that the new one
//! does not.
//!
//! The spread decides, not the slope alone: the finding is established only when the
//! slope's whole 95% interval lies above `max_slope`, its absence only when the whole
//! interval lies at or below it, and an interval that straddles it fails the check
//! whichever way it expects ("cannot tell"). Rows examined and buffers are exact for a
//! given plan and data, so their interval comes from how far the points stray from a
//! line (none with two scales: the slope between two exact counts is judged as it
//! is). Time is noisy: its interval is the wider of the residuals' and the timing
//! samples' own, and it needs at least three scales. A point the sweep could not
//! measure (an estimated plan, a query past the time budget) fails the check, as
//! a growth judged without its largest scale would look flat.
//!
//! At a single scale there is nothing to fit: the check says "not judged: needs a
//! sweep" and does not fail the run, so that a scenario's plain run (and `cargo
//! bench`'s gate) keeps its meaning; the run prints that it was not judged.

use serde::{Deserialize, Serialize};

use super::{Check, Expect, Verdict};
use crate::format::format_count;
use crate::outcome::Evidence;
use crate::outcome::sweep::{Measure, Sweep};

/// The check's name, as scenario files write it.
const NAME: &str = "growth";

/// What a growth check says in a run at one scale.
pub const NOT_JUDGED: &str = "not judged: needs a sweep (--scales or the scenario's [sweep])";

/// Configuration of the `growth` check.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Growth {
    pub query: String,
    /// `rows-examined`, `buffers` or `time`.
    pub measure: Measure,
    /// The slope past which the query "grows": 0.5 tells linear growth (about 1)
    /// from none (about 0).
    pub max_slope: f64,
    #[serde(default)]
    pub expect: Expect,
}

impl Check for Growth {
    fn name(&self) -> &'static str {
        NAME
    }

    fn queries(&self) -> Vec<&str> {
        vec![&self.query]
    }

    fn sweep_queries(&self) -> Vec<&str> {
        vec![&self.query]
    }

    fn reads_beyond_one_run(&self) -> Option<(&'static str, &'static str)> {
        Some(("a scale sweep", "--sweep"))
    }

    fn validate(&self) -> Result<(), String> {
        if !self.max_slope.is_finite() || self.max_slope.abs() > 10.0 {
            return Err(format!(
                "max_slope = {} must be a growth exponent between -10 and 10 (1 grows with the table, 0 stays flat)",
                self.max_slope
            ));
        }
        Ok(())
    }

    fn regressing_queries(&self) -> Vec<&str> {
        self.expect.regressing(&self.query)
    }

    fn judge(&self, _evidence: &Evidence) -> Verdict {
        let mut verdict = Verdict::new(NAME, self.subject(), true, NOT_JUDGED.to_owned());
        verdict.expect = Some(self.expect);
        verdict.judged = false;
        verdict
    }

    fn judge_sweep(&self, sweep: &Sweep, variant: &[(String, String)]) -> Option<Verdict> {
        Some(self.judge_fit(sweep, variant))
    }
}

impl Growth {
    /// `old rows examined`.
    fn subject(&self) -> String {
        format!("{} {}", self.query, self.measure.words())
    }

    /// The verdict over the sweep's fit of this query in `variant`.
    pub fn judge_fit(&self, sweep: &Sweep, variant: &[(String, String)]) -> Verdict {
        let verdict = |passed, summary| {
            let mut verdict = Verdict::new(NAME, self.subject(), passed, summary);
            verdict.expect = Some(self.expect);
            verdict
        };
        if let Err(reason) = self.measurable(sweep, variant) {
            return verdict(false, format!("cannot judge: {reason}"));
        }
        // A line through scales on both sides of a plan change fits a kink: its slope
        // says how far apart two plans are, not how either grows.
        let change = plan_change(sweep, &self.query, variant);
        if !change.is_empty() {
            return verdict(
                false,
                format!(
                    "cannot judge {} over this sweep{change}: a fit across a plan change is a kink, not a growth; sweep scales on one side of it (--find-flip names where it is)",
                    self.subject()
                ),
            );
        }
        let Some(fit) = sweep.fit(&self.query, variant, self.measure) else {
            return verdict(
                false,
                format!(
                    "cannot judge: the sweep has no fit of {} (two distinct scales with positive values are needed)",
                    self.subject()
                ),
            );
        };
        if !self.measure.is_exact() && (fit.points < 3 || fit.interval.is_none()) {
            return verdict(
                false,
                format!(
                    "cannot judge from {} scales: timings are noisy and two points always lie on a line; sweep at least three scales ({})",
                    fit.points,
                    fit.slope_text()
                ),
            );
        }
        let [low, high] = fit.interval.unwrap_or([fit.slope, fit.slope]);
        let limit = self.max_slope;
        let how = fit.sentence();
        let faster = format!("{} grows faster than slope {limit}", self.subject());
        let not_faster = format!("{} grows no faster than slope {limit}", self.subject());
        match (low > limit, high <= limit, self.expect) {
            (true, _, Expect::Present) => verdict(true, format!("{faster}, as expected: {how}")),
            (true, _, Expect::Absent) => verdict(false, format!("{faster}: {how}")),
            (_, true, Expect::Absent) => verdict(true, format!("{not_faster}: {how}")),
            (_, true, Expect::Present) => verdict(
                false,
                format!("{not_faster}, where the scenario expects it to: {how}"),
            ),
            (false, false, _) => verdict(
                false,
                format!(
                    "cannot tell whether {} grows faster than slope {limit}: the slope's 95% interval [{low:.2}, {high:.2}] straddles it ({how}); sweep more scales or a wider range",
                    self.subject(),
                ),
            ),
        }
    }

    /// Every scale of the sweep measured this query's measure in `variant`.
    fn measurable(&self, sweep: &Sweep, variant: &[(String, String)]) -> Result<(), String> {
        if !sweep.queries.contains(&self.query) {
            return Err(format!(
                "the sweep did not fit query {:?} (it fitted {})",
                self.query,
                sweep.queries.join(", ")
            ));
        }
        let points: Vec<_> = sweep.points_of(&self.query, variant).collect();
        let missing: Vec<String> = points
            .iter()
            .filter(|(_, point)| point.value(self.measure).is_none())
            .map(|(scale, point)| {
                let why = match (point.timed_out, point.analyzed) {
                    (true, _) => "past the time budget",
                    (false, false) => "its plan is estimated",
                    (false, true) => "not timed",
                };
                format!("{} ({why})", format_count(*scale as f64))
            })
            .collect();
        if !missing.is_empty() {
            return Err(format!(
                "{} is unknown at {}; a growth judged without those scales would say nothing of them (raise the time budget)",
                self.subject(),
                missing.join(", ")
            ));
        }
        if points.len() < sweep.scales.len() {
            return Err(format!(
                "{} was measured at {} of the {} scales",
                self.subject(),
                points.len(),
                sweep.scales.len()
            ));
        }
        Ok(())
    }
}

/// `; its plan changes between 100,000 and 1,000,000`, when the query's plan shape
/// differs between scales (a fit across a flip is a kink, not a growth); else nothing.
fn plan_change(sweep: &Sweep, query: &str, variant: &[(String, String)]) -> String {
    let shapes: Vec<(u64, &str)> = sweep
        .points_of(query, variant)
        .map(|(scale, point)| (scale, point.shape.as_str()))
        .collect();
    match shapes.windows(2).find(|pair| pair[0].1 != pair[1].1) {
        Some(pair) => format!(
            "; its plan changes between {} and {}",
            format_count(pair[0].0 as f64),
            format_count(pair[1].0 as f64)
        ),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::sweep::{CellPoints, Fit, QueryPoint, ScalePoints};

    fn point(query: &str, rows: Option<f64>, samples_ms: &[f64]) -> QueryPoint {
        QueryPoint {
            query: query.into(),
            shape: "Seq Scan on t".into(),
            flagged: false,
            analyzed: rows.is_some(),
            rows_examined: rows,
            buffers: rows.map(|rows| rows as u64 / 50),
            samples_ms: samples_ms.to_vec(),
            median_ms: crate::fit::median(samples_ms),
            spread_ms: crate::fit::median_absolute_deviation(samples_ms),
            timed_out: false,
        }
    }

    /// A sweep of `old` (rows as given) and `new` (26 rows everywhere), with the fits
    /// the sweep stage would make.
    fn sweep(old_rows: &[(u64, Option<f64>)]) -> Sweep {
        let points = old_rows
            .iter()
            .map(|(scale, rows)| ScalePoints {
                scale: *scale,
                cells: vec![CellPoints {
                    variant: vec![],
                    queries: vec![
                        point("old", *rows, &[1.0, 1.1, 0.9]),
                        point("new", Some(26.0), &[0.1, 0.1, 0.1]),
                    ],
                }],
            })
            .collect();
        let mut sweep = Sweep {
            scales: old_rows.iter().map(|(scale, _)| *scale).collect(),
            scale_table: "t".into(),
            seed: 1,
            queries: vec!["old".into(), "new".into()],
            points,
            fits: vec![],
            flip: None,
        };
        for query in ["old", "new"] {
            for measure in [Measure::RowsExamined, Measure::Time] {
                let values: Vec<(f64, f64)> = sweep
                    .points_of(query, &[])
                    .filter_map(|(scale, point)| Some((scale as f64, point.value(measure)?)))
                    .collect();
                let sigma: Option<Vec<f64>> = (!measure.is_exact()).then(|| {
                    sweep
                        .points_of(query, &[])
                        .map(|(_, point)| crate::fit::log_median_error(&point.samples_ms).unwrap())
                        .collect()
                });
                if let Some(line) = crate::fit::log_log(&values, sigma.as_deref()) {
                    sweep.fits.push(Fit::from_line(query, &[], measure, line));
                }
            }
        }
        sweep
    }

    fn check(query: &str, measure: Measure, max_slope: f64, expect: Expect) -> Growth {
        Growth {
            query: query.into(),
            measure,
            max_slope,
            expect,
        }
    }

    const LINEAR: [(u64, Option<f64>); 3] = [
        (10_000, Some(10_000.0)),
        (100_000, Some(100_000.0)),
        (1_000_000, Some(1_000_000.0)),
    ];

    #[test]
    fn a_linear_old_query_and_a_flat_new_one_pass_as_expected() {
        let sweep = sweep(&LINEAR);
        let old = check("old", Measure::RowsExamined, 0.5, Expect::Present).judge_fit(&sweep, &[]);
        assert!(old.passed, "{}", old.summary);
        assert!(
            old.summary
                .contains("old grows with the table (slope 1.00 ± 0.00, 3 scales)"),
            "{}",
            old.summary
        );
        let new = check("new", Measure::RowsExamined, 0.2, Expect::Absent).judge_fit(&sweep, &[]);
        assert!(new.passed, "{}", new.summary);
        assert!(new.summary.contains("new stays flat"), "{}", new.summary);
    }

    #[test]
    fn growth_where_none_is_allowed_fails() {
        let sweep = sweep(&LINEAR);
        let verdict =
            check("old", Measure::RowsExamined, 0.5, Expect::Absent).judge_fit(&sweep, &[]);
        assert!(!verdict.passed);
        assert!(
            verdict
                .summary
                .starts_with("old rows examined grows faster than slope 0.5"),
            "{}",
            verdict.summary
        );
        let verdict =
            check("new", Measure::RowsExamined, 0.2, Expect::Present).judge_fit(&sweep, &[]);
        assert!(!verdict.passed, "{}", verdict.summary);
    }

    #[test]
    fn an_interval_straddling_the_limit_cannot_pass_either_way() {
        // A kinked curve: slope about 0.6 with a wide interval on one degree of freedom.
        let sweep = sweep(&[
            (10_000, Some(100.0)),
            (100_000, Some(5_000.0)),
            (1_000_000, Some(1_000.0)),
        ]);
        for expect in [Expect::Present, Expect::Absent] {
            let verdict = check("old", Measure::RowsExamined, 0.3, expect).judge_fit(&sweep, &[]);
            assert!(!verdict.passed, "{}", verdict.summary);
            assert!(
                verdict.summary.starts_with("cannot tell"),
                "{}",
                verdict.summary
            );
        }
    }

    /// Two scales on either side of a plan change lie on a line with a steep slope;
    /// that slope measures the gap between two plans, so no growth verdict is drawn
    /// from it, whatever was expected.
    #[test]
    fn a_fit_across_a_plan_change_is_not_judged_a_growth() {
        let mut two = sweep(&[(10_000, Some(42.0)), (1_000_000, Some(989_806.0))]);
        two.points[1].cells[0].queries[0].shape = "Index Scan using t_created_at on t".into();
        for expect in [Expect::Present, Expect::Absent] {
            let verdict = check("old", Measure::RowsExamined, 0.5, expect).judge_fit(&two, &[]);
            assert!(!verdict.passed, "{}", verdict.summary);
            assert!(
                verdict
                    .summary
                    .contains("its plan changes between 10,000 and 1,000,000")
                    && verdict.summary.contains("a kink, not a growth"),
                "{}",
                verdict.summary
            );
            assert_eq!(verdict.expect, Some(expect));
        }
    }

    #[test]
    fn timings_need_three_scales_and_exact_counts_do_not() {
        let two = sweep(&[(10_000, Some(10_000.0)), (1_000_000, Some(1_000_000.0))]);
        let rows = check("old", Measure::RowsExamined, 0.5, Expect::Present).judge_fit(&two, &[]);
        assert!(rows.passed, "{}", rows.summary);
        assert!(rows.summary.contains("spread unknown"), "{}", rows.summary);
        let time = check("new", Measure::Time, 0.5, Expect::Absent).judge_fit(&two, &[]);
        assert!(!time.passed);
        assert!(
            time.summary.contains("at least three scales"),
            "{}",
            time.summary
        );
        let three = sweep(&LINEAR);
        let time = check("new", Measure::Time, 0.5, Expect::Absent).judge_fit(&three, &[]);
        assert!(time.passed, "{}", time.summary);
    }

    #[test]
    fn a_scale_without_counts_fails_rather_than_looking_flat() {
        let sweep = sweep(&[
            (10_000, Some(10_000.0)),
            (100_000, Some(100_000.0)),
            (1_000_000, None),
        ]);
        let verdict =
            check("old", Measure::RowsExamined, 0.5, Expect::Absent).judge_fit(&sweep, &[]);
        assert!(!verdict.passed);
        assert!(
            verdict
                .summary
                .contains("unknown at 1,000,000 (its plan is estimated)"),
            "{}",
            verdict.summary
        );
    }

    #[test]
    fn at_one_scale_the_check_says_it_was_not_judged() {
        let evidence = crate::judge::stored::evidence(vec![], crate::plan::Catalog::default());
        let verdict = check("old", Measure::Time, 0.5, Expect::Present).judge(&evidence);
        assert_eq!(verdict.summary, NOT_JUDGED);
        assert!(
            check("old", Measure::Time, f64::NAN, Expect::Present)
                .validate()
                .is_err()
        );
    }
}
