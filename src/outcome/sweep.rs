//! A scale sweep as plain data: the scenario run at several scales (each seeded afresh
//! with the same seed), what every query did at each, the growth fitted to it on
//! log-log axes, and where the plan flips. The sweep stage (`pipeline::sweep`) fills
//! it; the `growth` check and every exporter read it. The methods that say things in
//! words live here, so that every report says them the same way.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::format::{format_count, format_ms};

/// A scenario run at several scales.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Sweep {
    /// The scales run, increasing: rows of `scale_table` at each.
    pub scales: Vec<u64>,
    /// The table whose rows a scale counts.
    pub scale_table: String,
    /// The seed every scale was seeded with.
    pub seed: u64,
    /// The queries fitted, in the scenario's order.
    pub queries: Vec<String>,
    /// What was measured at each scale, in the order of `scales`.
    pub points: Vec<ScalePoints>,
    /// One fit per fitted query, variant and measure that could be fitted.
    pub fits: Vec<Fit>,
    /// The search for the scale where a query's plan flips (`--find-flip`), if asked.
    pub flip: Option<FlipSearch>,
}

/// What was measured at one scale.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScalePoints {
    /// Rows of the scale table.
    pub scale: u64,
    /// One entry per variant of the matrix (one without variants), in the matrix's
    /// order.
    pub cells: Vec<CellPoints>,
}

/// The fitted queries of one variant at one scale.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CellPoints {
    /// `(axis, value)` per variant axis; empty without variants.
    pub variant: Vec<(String, String)>,
    /// One point per fitted query.
    pub queries: Vec<QueryPoint>,
}

/// One query at one scale in one variant.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct QueryPoint {
    pub query: String,
    /// The plan's shape in short: its scan nodes in plan order, `; `-separated
    /// (`Index Scan using orders_created_at on orders`). A plan that changes between
    /// scales shows here.
    pub shape: String,
    /// Whether a plan check reading this query found its problem in this plan (a walk,
    /// an amplification, a node over budget), whatever the check expected.
    pub flagged: bool,
    /// Whether the plan ran (EXPLAIN ANALYZE): without it, rows examined and buffers
    /// are unknown.
    pub analyzed: bool,
    /// Rows read by the plan's scans, including those filters discarded, over all
    /// loops; `None` for an estimated plan.
    pub rows_examined: Option<f64>,
    /// Shared buffers hit plus read by the statement; `None` for an estimated plan.
    pub buffers: Option<u64>,
    /// Every timed run, in milliseconds.
    pub samples_ms: Vec<f64>,
    /// The median run; `None` when the query was not timed.
    pub median_ms: Option<f64>,
    /// The median absolute deviation of the runs from their median, in milliseconds.
    pub spread_ms: Option<f64>,
    /// Whether a plain run exceeded the time budget.
    pub timed_out: bool,
}

impl QueryPoint {
    /// `0.250 ms ± 0.006 ms`: the median run and its spread, or why there is none.
    pub fn time_text(&self) -> String {
        match (self.median_ms, self.spread_ms) {
            (Some(median), Some(spread)) => {
                format!("{} ± {}", format_ms(median), format_ms(spread))
            }
            (Some(median), None) => format_ms(median),
            (None, _) if self.timed_out => "timed out".to_owned(),
            (None, _) => "not timed".to_owned(),
        }
    }

    /// The value of `measure` at this point, if known.
    pub fn value(&self, measure: Measure) -> Option<f64> {
        match measure {
            Measure::RowsExamined => self.rows_examined,
            Measure::Buffers => self.buffers.map(|buffers| buffers as f64),
            Measure::Time => self.median_ms,
        }
    }
}

/// What a fit measures against the scale.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema, PartialOrd, Ord,
)]
#[serde(rename_all = "kebab-case")]
pub enum Measure {
    /// Rows the plan's scans read (exact for a given plan and data).
    RowsExamined,
    /// Shared buffers hit plus read (exact for a given plan and data).
    Buffers,
    /// The median of the timed runs (noisy).
    Time,
}

impl Measure {
    /// Every measure, in the order reports list them.
    pub const ALL: [Measure; 3] = [Measure::RowsExamined, Measure::Buffers, Measure::Time];

    /// The name scenario files write: `rows-examined`, `buffers`, `time`.
    pub fn name(self) -> &'static str {
        match self {
            Measure::RowsExamined => "rows-examined",
            Measure::Buffers => "buffers",
            Measure::Time => "time",
        }
    }

    /// As sentences say it: `rows examined`, `shared buffers`, `time`.
    pub fn words(self) -> &'static str {
        match self {
            Measure::RowsExamined => "rows examined",
            Measure::Buffers => "shared buffers",
            Measure::Time => "time",
        }
    }

    /// Whether the measure is exact for a given plan and data, so that its points
    /// carry no noise of their own.
    pub fn is_exact(self) -> bool {
        !matches!(self, Measure::Time)
    }
}

/// A straight line through (ln scale, ln measure) for one query in one variant: its
/// slope is the growth exponent (1: grows with the table; 0: stays flat).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Fit {
    pub query: String,
    /// `(axis, value)` per variant axis; empty without variants.
    pub variant: Vec<(String, String)>,
    pub measure: Measure,
    /// The growth exponent: the measure ∝ scale^slope.
    pub slope: f64,
    /// ln(measure) at a scale of 1 row.
    pub intercept: f64,
    /// The slope's standard error; `None` when nothing measures the spread (two
    /// points of an exact measure, or of a timing without repeated runs).
    pub std_error: Option<f64>,
    /// The slope's 95% interval, `[low, high]`; `None` with `std_error`.
    pub interval: Option<[f64; 2]>,
    /// The share of the variance of ln(measure) the line explains; `None` when the
    /// measure does not vary at all.
    pub r_squared: Option<f64>,
    /// The scales fitted.
    pub points: usize,
}

/// Past this half-width of its 95% interval a slope is too uncertain to put in words.
pub const UNCERTAIN_HALF_WIDTH: f64 = 0.25;

/// How the slope of a fit reads in words.
pub fn growth_words(slope: f64) -> &'static str {
    if slope < -0.15 {
        "shrinks as the table grows"
    } else if slope < 0.15 {
        "stays flat"
    } else if slope < 0.85 {
        "grows slower than the table"
    } else if slope <= 1.15 {
        "grows with the table"
    } else {
        "grows faster than the table"
    }
}

/// `status=shipped, depth=3`, or nothing without variants.
pub fn variant_label(variant: &[(String, String)]) -> String {
    variant
        .iter()
        .map(|(axis, value)| format!("{axis}={value}"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Fit {
    /// The fit of `query`'s `measure` in `variant` that `line` describes.
    pub fn from_line(
        query: &str,
        variant: &[(String, String)],
        measure: Measure,
        line: crate::fit::LineFit,
    ) -> Fit {
        Fit {
            query: query.to_owned(),
            variant: variant.to_vec(),
            measure,
            slope: line.slope,
            intercept: line.intercept,
            std_error: line.std_error,
            interval: line
                .half_width
                .map(|half| [line.slope - half, line.slope + half]),
            r_squared: line.r_squared,
            points: line.points,
        }
    }

    /// `old grows with the table (slope 0.98 ± 0.02, 3 scales)`; without a spread,
    /// `old stays flat (slope 0.01 from 2 scales; spread unknown)`. The words hold over
    /// the whole 95% interval: one that only grows but at no clear rate reads
    /// `old grows (slope 1.34 ± 0.49, 3 scales)`, and one too wide to say whether it
    /// grows at all (± more than 0.25 across the line between flat and growing)
    /// `old: growth uncertain (slope 0.20 ± 1.15, 3 scales)`.
    pub fn sentence(&self) -> String {
        let subject = match self.variant.is_empty() {
            true => self.query.clone(),
            false => format!("{} ({})", self.query, variant_label(&self.variant)),
        };
        // The words must hold over the whole 95% interval: the same words at both
        // ends; or, when every slope in it grows, "grows" without a rate.
        let words = match self.interval {
            None => Some(growth_words(self.slope)),
            Some([low, high]) if growth_words(low) == growth_words(high) => {
                Some(growth_words(self.slope))
            }
            Some([low, _]) if low >= 0.15 => Some("grows"),
            Some([low, high]) if high - low <= 2.0 * UNCERTAIN_HALF_WIDTH => {
                Some(growth_words(self.slope))
            }
            Some(_) => None,
        };
        match words {
            Some(words) => format!("{subject} {words} ({})", self.slope_text()),
            None => format!("{subject}: growth uncertain ({})", self.slope_text()),
        }
    }

    /// `slope 0.98 ± 0.02, 3 scales` or `slope 0.98 from 2 scales; spread unknown`.
    pub fn slope_text(&self) -> String {
        match self.interval {
            Some([low, high]) => format!(
                "slope {:.2} ± {:.2}, {} scales",
                self.slope,
                (high - low) / 2.0,
                self.points
            ),
            None => format!(
                "slope {:.2} from {} scales; spread unknown",
                self.slope, self.points
            ),
        }
    }
}

/// The search for the smallest scale at which a query's plan shows the regression.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FlipSearch {
    pub query: String,
    /// The bracket searched: its smallest scale.
    pub low: u64,
    /// The bracket searched: its largest scale.
    pub high: u64,
    /// The search stops when the smallest scale showing the regression is within
    /// this ratio of the largest not showing it (1.1: within 10%).
    pub precision: f64,
    /// Every scale looked at, in the order looked at (the sweep's own scales first).
    pub probes: Vec<FlipProbe>,
    pub result: FlipResult,
    /// The scenario's `min_scale`, if it declares one.
    pub min_scale: Option<u64>,
    /// Whether the regression shows at `min_scale`: `Some(false)` when it does not
    /// (a `min_scale` below the flip promises a reproduction that does not happen),
    /// `None` when there is no `min_scale`, or it lies above a bracket that never
    /// showed the regression. Decided from the probes (the regression at a scale at
    /// or below it, none clean at or above it) or by probing `min_scale` itself.
    pub min_scale_holds: Option<bool>,
}

/// One scale the flip search looked at.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FlipProbe {
    pub scale: u64,
    /// Whether the query's plan showed the regression: every plan check expecting it
    /// (`expect = "present"`) found it, in every variant it judges.
    pub regressed: bool,
    /// The query's plan shape per variant.
    pub shapes: Vec<ProbeShape>,
    /// Whether this scale was a scale of the sweep (timed) or a probe of the search
    /// (plans only).
    pub from_sweep: bool,
}

/// The shape of the searched query's plan in one variant.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProbeShape {
    /// `(axis, value)` per variant axis; empty without variants.
    pub variant: Vec<(String, String)>,
    /// As [`QueryPoint::shape`].
    pub shape: String,
}

/// The verdict on the flip search (`judge::flip_search`), by name.
pub const FLIP_SEARCH_CHECK: &str = "flip-search";

/// What the flip search found.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, JsonSchema)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum FlipResult {
    /// The plan shows the regression at `scale` and not at `clean_below`, which is
    /// within the search's precision of it.
    Found { scale: u64, clean_below: u64 },
    /// The plan shows the regression already at the bracket's smallest scale.
    AtLow { scale: u64 },
    /// The plan does not show the regression even at the bracket's largest scale.
    NotReached { scale: u64 },
}

impl FlipSearch {
    /// Whether the search supports the scenario: the regression shows within the
    /// bracket, and at `min_scale` when that was looked at.
    pub fn passed(&self) -> bool {
        !matches!(self.result, FlipResult::NotReached { .. }) && self.min_scale_holds != Some(false)
    }

    /// The smallest scale known to show the regression, if any.
    pub fn flip_scale(&self) -> Option<u64> {
        match self.result {
            FlipResult::Found { scale, .. } | FlipResult::AtLow { scale } => Some(scale),
            FlipResult::NotReached { .. } => None,
        }
    }

    /// What the search found, in one sentence.
    pub fn sentence(&self, scale_table: &str) -> String {
        let rows = |scale: u64| format!("{} rows of {scale_table}", format_count(scale as f64));
        let looked = format!(
            "{} scales looked at between {} and {}",
            self.probes.len(),
            format_count(self.low as f64),
            format_count(self.high as f64)
        );
        match self.result {
            FlipResult::Found { scale, clean_below } => format!(
                "{}'s plan shows the regression from {}, not at {} (within {:.0}%; {looked})",
                self.query,
                rows(scale),
                format_count(clean_below as f64),
                (self.precision - 1.0) * 100.0
            ),
            FlipResult::AtLow { scale } => format!(
                "{}'s plan shows the regression already at {}, the bracket's low end; lower it to find the flip ({looked})",
                self.query,
                rows(scale)
            ),
            FlipResult::NotReached { scale } => format!(
                "{}'s plan does not show the regression even at {}, the bracket's high end ({looked})",
                self.query,
                rows(scale)
            ),
        }
    }

    /// What the flip says of the scenario's `min_scale`, if it declares one.
    pub fn min_scale_sentence(&self) -> Option<String> {
        let min_scale = self.min_scale?;
        let declared = format!("min_scale {}", format_count(min_scale as f64));
        Some(match (self.min_scale_holds, self.flip_scale()) {
            (Some(true), Some(flip)) if min_scale as f64 > flip as f64 * 1.5 => format!(
                "{declared} holds: the regression shows there; it could be lowered to about {}",
                format_count(flip as f64)
            ),
            (Some(true), Some(flip)) => format!(
                "{declared} holds: the regression shows there (the flip is at about {})",
                format_count(flip as f64)
            ),
            (Some(true), None) => format!("{declared} holds: the regression shows there"),
            (Some(false), Some(flip)) => format!(
                "{declared} is too low: the regression does not show there; it shows from about {}",
                format_count(flip as f64)
            ),
            (Some(false), None) => format!(
                "{declared} is too low: the regression does not show there, nor anywhere up to {}",
                format_count(self.high as f64)
            ),
            (None, _) => {
                format!("{declared} lies above the bracket searched, so it was not checked")
            }
        })
    }
}

impl Sweep {
    /// Whether the sweep itself supports the scenario (its flip search, if any); the
    /// growth checks' verdicts are in the outcome's cells.
    pub fn passed(&self) -> bool {
        self.flip.as_ref().is_none_or(FlipSearch::passed)
    }

    /// The fit of `query`'s `measure` in `variant`, if one could be made.
    pub fn fit(&self, query: &str, variant: &[(String, String)], measure: Measure) -> Option<&Fit> {
        self.fits
            .iter()
            .find(|fit| fit.query == query && fit.variant == variant && fit.measure == measure)
    }

    /// `query`'s points in `variant`, one per scale, as `(scale, point)`.
    pub fn points_of<'a>(
        &'a self,
        query: &'a str,
        variant: &'a [(String, String)],
    ) -> impl Iterator<Item = (u64, &'a QueryPoint)> + 'a {
        self.points.iter().filter_map(move |at| {
            let cell = at.cells.iter().find(|cell| cell.variant == variant)?;
            let point = cell.queries.iter().find(|point| point.query == query)?;
            Some((at.scale, point))
        })
    }

    /// Whether `query`'s plan in `variant` differs between the sweep's scales.
    pub fn plan_changes(&self, query: &str, variant: &[(String, String)]) -> bool {
        let mut shapes = self
            .points_of(query, variant)
            .map(|(_, point)| &point.shape);
        let first = shapes.next();
        shapes.any(|shape| Some(shape) != first)
    }

    /// The sentences a run says about the sweep: what each scale measured; per
    /// measure, each fit; then every plan that changed shape between scales; then the
    /// flip.
    pub fn sentences(&self) -> Vec<String> {
        let mut lines = self.scale_lines();
        for measure in Measure::ALL {
            let fits: Vec<String> = self
                .fits
                .iter()
                .filter(|fit| fit.measure == measure)
                .map(Fit::sentence)
                .collect();
            if !fits.is_empty() {
                lines.push(format!("{}: {}", measure.words(), fits.join("; ")));
            }
        }
        lines.extend(self.shape_changes());
        if let Some(flip) = &self.flip {
            lines.push(flip.sentence(&self.scale_table));
            lines.extend(flip.min_scale_sentence());
        }
        lines
    }

    /// One line per scale and variant: each fitted query's rows examined, buffers and
    /// median time there (`at 10,000: old 40 rows, 52 buffers, 0.081 ms; new …`).
    pub fn scale_lines(&self) -> Vec<String> {
        let mut lines = Vec::new();
        for at in &self.points {
            for cell in &at.cells {
                let queries: Vec<String> = cell
                    .queries
                    .iter()
                    .map(|point| {
                        let count = |value: Option<f64>, unit: &str| match value {
                            Some(value) => format!("{} {unit}", format_count(value)),
                            None => format!("? {unit}"),
                        };
                        let time = point.time_text();
                        format!(
                            "{} {}, {}, {time}{}",
                            point.query,
                            count(point.rows_examined, "rows examined"),
                            count(point.value(Measure::Buffers), "buffers"),
                            if point.flagged { " (flagged)" } else { "" }
                        )
                    })
                    .collect();
                let variant = match cell.variant.is_empty() {
                    true => String::new(),
                    false => format!(" ({})", variant_label(&cell.variant)),
                };
                lines.push(format!(
                    "at {}{variant}: {}",
                    format_count(at.scale as f64),
                    queries.join("; ")
                ));
            }
        }
        lines
    }

    /// `old (status=x): Seq Scan on t at 10,000 → Index Scan … at 100,000` for every
    /// plan whose shape differs between scales.
    pub fn shape_changes(&self) -> Vec<String> {
        let mut lines = Vec::new();
        let Some(first) = self.points.first() else {
            return lines;
        };
        for cell in &first.cells {
            for query in &self.queries {
                if !self.plan_changes(query, &cell.variant) {
                    continue;
                }
                let shapes: Vec<(u64, &str)> = self
                    .points_of(query, &cell.variant)
                    .map(|(scale, point)| (scale, point.shape.as_str()))
                    .collect();
                // Consecutive scales with the same plan read as one step.
                let mut runs: Vec<(&str, Vec<u64>)> = Vec::new();
                for (scale, shape) in &shapes {
                    match runs.last_mut() {
                        Some((last, scales)) if last == shape => scales.push(*scale),
                        _ => runs.push((shape, vec![*scale])),
                    }
                }
                let steps: Vec<String> = runs
                    .iter()
                    .map(|(shape, scales)| {
                        let at: Vec<String> = scales
                            .iter()
                            .map(|scale| format_count(*scale as f64))
                            .collect();
                        format!("{shape} at {}", at.join(", "))
                    })
                    .collect();
                let subject = match cell.variant.is_empty() {
                    true => query.clone(),
                    false => format!("{query} ({})", variant_label(&cell.variant)),
                };
                lines.push(format!("{subject} changes plan: {}", steps.join(" → ")));
            }
        }
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fit(slope: f64, interval: Option<[f64; 2]>, points: usize) -> Fit {
        Fit {
            query: "old".into(),
            variant: vec![],
            measure: Measure::RowsExamined,
            slope,
            intercept: 0.0,
            std_error: interval.map(|[low, high]| (high - low) / 4.0),
            interval,
            r_squared: Some(1.0),
            points,
        }
    }

    #[test]
    fn fits_say_how_the_query_grows() {
        assert_eq!(
            fit(0.98, Some([0.96, 1.0]), 3).sentence(),
            "old grows with the table (slope 0.98 ± 0.02, 3 scales)"
        );
        assert_eq!(
            fit(0.02, None, 2).sentence(),
            "old stays flat (slope 0.02 from 2 scales; spread unknown)"
        );
        assert_eq!(
            fit(0.2, Some([-0.95, 1.35]), 3).sentence(),
            "old: growth uncertain (slope 0.20 ± 1.15, 3 scales)"
        );
        assert_eq!(growth_words(0.5), "grows slower than the table");
        assert_eq!(growth_words(1.6), "grows faster than the table");
        let mut per_variant = fit(1.0, Some([1.0, 1.0]), 3);
        per_variant.variant = vec![("status".into(), "shipped".into())];
        assert!(
            per_variant
                .sentence()
                .starts_with("old (status=shipped) grows with"),
            "{}",
            per_variant.sentence()
        );
    }

    #[test]
    fn a_flip_above_min_scale_fails_the_sweep() {
        let mut search = FlipSearch {
            query: "old".into(),
            low: 10_000,
            high: 1_000_000,
            precision: 1.1,
            probes: vec![],
            result: FlipResult::Found {
                scale: 320_000,
                clean_below: 300_000,
            },
            min_scale: Some(350_000),
            min_scale_holds: Some(true),
        };
        assert!(search.passed());
        assert_eq!(
            search.min_scale_sentence().unwrap(),
            "min_scale 350,000 holds: the regression shows there (the flip is at about 320,000)"
        );
        search.min_scale = Some(200_000);
        search.min_scale_holds = Some(false);
        assert!(!search.passed());
        assert!(
            search.min_scale_sentence().unwrap().contains("too low"),
            "{:?}",
            search.min_scale_sentence()
        );
        search.min_scale = Some(900_000);
        search.min_scale_holds = Some(true);
        assert!(
            search
                .min_scale_sentence()
                .unwrap()
                .contains("could be lowered to about 320,000")
        );
        search.result = FlipResult::NotReached { scale: 1_000_000 };
        search.min_scale_holds = None;
        assert!(!search.passed());
    }
}
