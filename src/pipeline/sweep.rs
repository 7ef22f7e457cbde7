//! The sweep: one scenario at several scales on one server, each scale seeded afresh
//! (same seed) in a scratch database of its own, captured, timed and judged as a
//! plain run is; then the growth of each fitted query on log-log axes
//! ([`crate::fit`]), the `growth` checks over it, and, with `--find-flip`, a
//! bisection (plans only, no timing) for the smallest scale at which a query's plan
//! shows the regression. The largest scale's cells are the run's verdict, judged
//! again with the checks that read the sweep.

use std::time::Instant;

use super::{PreparedDatabase, RunOptions, captures, run_scenario};
use crate::datagen::{Datagen, layout};
use crate::error::{Error, Result};
use crate::fit;
use crate::format::format_count;
use crate::input::{Scenario, sweep_scales_problem};
use crate::judge;
use crate::outcome::sweep::{
    CellPoints, Fit, FlipProbe, FlipResult, FlipSearch, Measure, ProbeShape, QueryPoint,
    ScalePoints, Sweep,
};
use crate::outcome::{Cell, Outcome, Phase, QueryEvidence};
use crate::provision::Server;

/// The flip search stops when the smallest scale showing the regression is within
/// this ratio of the largest not showing it.
pub const FLIP_PRECISION: f64 = 1.1;

/// What the command line asked of a sweep.
#[derive(Debug, Clone, Default)]
pub struct SweepRequest {
    /// `--scales`: overrides the scenario's `[sweep] scales`.
    pub scales: Option<Vec<u64>>,
    /// `--sweep`: sweep at the scenario's `[sweep] scales`.
    pub sweep: bool,
    /// `--find-flip QUERY`: search for the scale where QUERY's plan flips.
    pub find_flip: Option<String>,
}

impl SweepRequest {
    /// Whether the run is a sweep at all.
    pub fn is_sweep(&self) -> bool {
        self.scales.is_some() || self.sweep || self.find_flip.is_some()
    }
}

/// A checked sweep: what [`run`] does.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepPlan {
    /// Increasing, at least two.
    pub scales: Vec<u64>,
    /// The queries fitted.
    pub queries: Vec<String>,
    /// The query whose flip is searched for between the first and last scale.
    pub find_flip: Option<String>,
}

/// Checks `request` against `scenario` without a server, as far as can be: the
/// scales (at least two, increasing, the smallest large enough for the target row,
/// the largest not absurd), that the data grows with the scale at all, and the
/// query `--find-flip` names. `None` for a run at one scale. Errors name the flag, or
/// the file and key, and the value.
pub fn plan(
    scenario: &Scenario,
    request: &SweepRequest,
    seed: Option<u64>,
) -> Result<Option<SweepPlan>> {
    if !request.is_sweep() {
        return Ok(None);
    }
    let flag = match &request.find_flip {
        Some(query) => format!("--find-flip {query}"),
        None => "--sweep".to_owned(),
    };
    let (scales, key) = match (&request.scales, &scenario.sweep) {
        (Some(scales), _) => (scales.clone(), None),
        (None, Some(spec)) => (spec.scales.clone(), Some("sweep.scales")),
        (None, None) => {
            return Err(Error::Usage(format!(
                "{flag}: scenario {} declares no [sweep] section; give the scales with --scales (such as --scales 10000,100000,1000000) or declare [sweep] scales in {}",
                scenario.name,
                scenario.path.display()
            )));
        }
    };
    let listed = scales
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let refuse = |message: String| match key {
        None => Error::Usage(format!("--scales {listed}: {message}")),
        Some(key) => Error::input(&scenario.path, format!("key `{key}`: {message}")),
    };
    if let Some(problem) = sweep_scales_problem(&scales) {
        return Err(Error::Usage(format!("--scales {problem}")));
    }
    let (first, last) = (scales[0], scales[scales.len() - 1]);
    crate::disk_guard::refuse_absurd(scenario, last, "--scales")?;
    reseedable(scenario, first, last).map_err(refuse)?;
    let dataset = &scenario.dataset;
    let seed = seed.unwrap_or(dataset.model.seed);
    if let Err(error) = Datagen::new(&dataset.model, first, seed, captures(&[scenario])) {
        return Err(refuse(format!(
            "the smallest scale, {first}, is too small: table {}: {}",
            error.table, error.message
        )));
    }
    if let Some(query) = &request.find_flip {
        flip_query(scenario, query)?;
    }
    let queries = match &scenario.sweep {
        Some(spec) => spec.queries.clone(),
        None => scenario.queries.iter().map(|q| q.name.clone()).collect(),
    };
    Ok(Some(SweepPlan {
        scales,
        queries,
        find_flip: request.find_flip.clone(),
    }))
}

/// A sweep seeds the data afresh at each scale; it measures growth only when the
/// data grows: a dataset whose every count is fixed (groups with `rows`, fixed
/// children) would seed the same rows at every scale.
fn reseedable(scenario: &Scenario, first: u64, last: u64) -> std::result::Result<(), String> {
    let model = &scenario.dataset.model;
    let rows = |scale| layout::expected_rows(model, scale).iter().sum::<f64>();
    if rows(first) == rows(last) {
        return Err(format!(
            "the dataset {} seeds the same {} rows at {first} as at {last}: every count in it is fixed (group rows, per-parent children), so no scale changes the data and there is no growth to fit; give {} a `rows` that groups share",
            scenario.dataset.path.display(),
            format_count(rows(first)),
            scenario.dataset.scale_table()
        ));
    }
    Ok(())
}

/// The plan checks that expect `query`'s plan to show the regression: the ones the
/// flip search asks. Timing checks are left out (probes are not timed), and so are
/// checks over a sweep.
fn regression_checks<'a>(scenario: &'a Scenario, query: &str) -> Vec<&'a crate::input::CheckEntry> {
    scenario
        .checks
        .iter()
        .filter(|entry| {
            entry.check.timing_factor().is_none()
                && entry.check.sweep_queries().is_empty()
                && entry.check.regressing_queries().contains(&query)
        })
        .collect()
}

/// `--find-flip QUERY` names a declared query that some plan check expects to show
/// the regression: the flip is where those checks start to pass.
fn flip_query(scenario: &Scenario, query: &str) -> Result<()> {
    if scenario.query(query).is_none() {
        let declared: Vec<&str> = scenario.queries.iter().map(|q| q.name.as_str()).collect();
        return Err(Error::Usage(format!(
            "--find-flip {query}: scenario {} declares no query {query:?}; declared: {}",
            scenario.name,
            declared.join(", ")
        )));
    }
    if regression_checks(scenario, query).is_empty() {
        let candidates: Vec<&str> = scenario
            .queries
            .iter()
            .map(|q| q.name.as_str())
            .filter(|name| !regression_checks(scenario, name).is_empty())
            .collect();
        return Err(Error::Usage(format!(
            "--find-flip {query}: no plan check of scenario {} expects query {query:?} to show the regression (expect = \"present\"), so there is no flip to find; queries with one: {}",
            scenario.name,
            if candidates.is_empty() {
                "none".to_owned()
            } else {
                candidates.join(", ")
            }
        )));
    }
    Ok(())
}

/// Runs the sweep `plan` on `server`: every scale in turn (only the largest kept with
/// `--keep`), the fits, the flip search if asked, and the largest scale's cells
/// judged again with the growth checks over the sweep.
pub async fn run(
    server: &Server,
    scenario: &Scenario,
    options: &RunOptions,
    plan: &SweepPlan,
) -> Result<Outcome> {
    let mut points = Vec::new();
    let mut probes = Vec::new();
    let mut phases = Vec::new();
    let mut largest = None;
    if let Some(min_scale) = scenario
        .min_scale
        .filter(|min| plan.scales.last() < Some(min))
    {
        options.progress.note(&format!(
            "warning: scenario {} declares that it reproduces from --scale {min_scale}; the sweep's largest scale is below it, so its verdict may not show the regression",
            scenario.name
        ));
    }
    for (index, &scale) in plan.scales.iter().enumerate() {
        let last = index + 1 == plan.scales.len();
        options.progress.note(&format!(
            "sweep: scale {} ({} of {})",
            format_count(scale as f64),
            index + 1,
            plan.scales.len()
        ));
        let clock = Instant::now();
        let at_scale = RunOptions {
            scale: Some(scale),
            keep: options.keep && last,
            ..*options
        };
        let outcome = run_scenario(server, scenario, &at_scale).await?;
        points.push(scale_points(&outcome, &plan.queries));
        if let Some(query) = &plan.find_flip {
            probes.push(flip_probe(scenario, query, scale, &outcome, true));
        }
        if !last {
            let name = format!("sweep at {}", format_count(scale as f64));
            phases.push(Phase::new(&name, clock.elapsed()));
        }
        largest = Some(outcome);
    }
    let mut outcome = largest.expect("a sweep has at least two scales");
    let mut sweep = Sweep {
        scales: plan.scales.clone(),
        scale_table: outcome.seeded.scale_table.clone(),
        seed: outcome.seeded.seed,
        queries: plan.queries.clone(),
        fits: fits(&points, &plan.queries),
        points,
        flip: None,
    };
    if let Some(query) = &plan.find_flip {
        let clock = Instant::now();
        let flip = find_flip(server, scenario, options, query, probes).await?;
        let probed = flip.probes.iter().filter(|probe| !probe.from_sweep).count();
        let name = format!("find flip ({probed} probes)");
        phases.push(Phase::new(&name, clock.elapsed()));
        sweep.flip = Some(flip);
    }
    judge_over_sweep(scenario, &mut outcome, &sweep);
    outcome.phases = phases.into_iter().chain(outcome.phases).collect();
    outcome.sweep = Some(sweep);
    Ok(outcome)
}

/// What a run says on stderr after its report about growth: the sweep's fits, plan
/// changes and flip in words; or, for a run at one scale, that its growth checks were
/// not judged.
pub fn summary(outcome: &Outcome) -> Vec<String> {
    if let Some(sweep) = &outcome.sweep {
        return sweep.sentences();
    }
    let unjudged = outcome
        .cells
        .iter()
        .flat_map(|cell| &cell.verdicts)
        .filter(|verdict| verdict.summary == judge::growth::NOT_JUDGED)
        .count();
    match unjudged {
        0 => Vec::new(),
        count => vec![format!(
            "{count} growth check(s) not judged: they need a sweep (--scales or --sweep with the scenario's [sweep]); they do not fail a run at one scale"
        )],
    }
}

/// Judges the largest scale's cells again, the checks that read a sweep over it.
fn judge_over_sweep(scenario: &Scenario, outcome: &mut Outcome, sweep: &Sweep) {
    for (values, cell) in scenario.cells().iter().zip(&mut outcome.cells) {
        cell.verdicts = judge::verdicts_over_sweep(
            &scenario.checks_for(values),
            &cell.evidence,
            Some((sweep, &cell.variant)),
        );
        // A min_scale the search finds too low fails the scenario where its verdicts
        // are read, not only in the sweep's paragraph.
        if let Some(flip) = &sweep.flip {
            cell.verdicts
                .push(judge::flip_search::verdict(flip, &sweep.scale_table));
        }
    }
}

/// What one scale's run measured of the fitted queries, per variant.
fn scale_points(outcome: &Outcome, queries: &[String]) -> ScalePoints {
    ScalePoints {
        scale: outcome.seeded.scale,
        cells: outcome
            .cells
            .iter()
            .map(|cell| CellPoints {
                variant: cell.variant.clone(),
                queries: queries
                    .iter()
                    .filter_map(|name| Some(query_point(cell.evidence.query(name)?, cell)))
                    .collect(),
            })
            .collect(),
    }
}

/// One query's point: its plan's shape and counts, its timings.
fn query_point(query: &QueryEvidence, cell: &Cell) -> QueryPoint {
    let plan = &query.plan;
    let analyzed = plan.analyzed;
    let (hit, read) = plan.buffers();
    let timed_out = query.timed_out.is_some();
    // Runs cut short by the budget are missing from the samples: their median
    // would be too low, so a query past the budget has none.
    let samples = &query.timing.samples_ms;
    QueryPoint {
        query: query.name.clone(),
        shape: plan.shape(),
        flagged: cell.verdicts.iter().any(|verdict| {
            verdict
                .findings
                .iter()
                .any(|finding| finding.query == query.name)
        }),
        analyzed,
        rows_examined: analyzed.then(|| plan.rows_examined()),
        buffers: analyzed.then_some(hit + read),
        samples_ms: samples.clone(),
        median_ms: fit::median(samples).filter(|_| !timed_out),
        // One run has no spread to speak of.
        spread_ms: fit::median_absolute_deviation(samples)
            .filter(|_| !timed_out && samples.len() > 1),
        timed_out,
    }
}

/// Every fit the points allow: per variant, fitted query and measure, when every
/// scale measured it. Counts of 0 are taken as 1 (log axes have no 0).
fn fits(points: &[ScalePoints], queries: &[String]) -> Vec<Fit> {
    let Some(first) = points.first() else {
        return Vec::new();
    };
    let mut fits = Vec::new();
    for (cell, variant) in first.cells.iter().enumerate().map(|(i, c)| (i, &c.variant)) {
        for query in queries {
            let series: Vec<(u64, &QueryPoint)> = points
                .iter()
                .filter_map(|at| {
                    let point = at
                        .cells
                        .get(cell)?
                        .queries
                        .iter()
                        .find(|p| p.query == *query)?;
                    Some((at.scale, point))
                })
                .collect();
            for measure in Measure::ALL {
                fits.extend(fit_series(query, variant, measure, &series, points.len()));
            }
        }
    }
    fits
}

/// The fit of one measure of one query's series, if every one of `scales` points
/// measured it.
fn fit_series(
    query: &str,
    variant: &[(String, String)],
    measure: Measure,
    series: &[(u64, &QueryPoint)],
    scales: usize,
) -> Option<Fit> {
    let values: Vec<(f64, f64)> = series
        .iter()
        .map(|(scale, point)| Some((*scale as f64, point.value(measure)?)))
        .collect::<Option<_>>()?;
    if values.len() < scales {
        return None;
    }
    let floor = if measure.is_exact() { 1.0 } else { 1e-3 };
    let values: Vec<(f64, f64)> = values.into_iter().map(|(x, y)| (x, y.max(floor))).collect();
    let noise: Vec<f64> = series
        .iter()
        .filter_map(|(_, point)| fit::log_median_error(&point.samples_ms))
        .collect();
    let noise = (!measure.is_exact() && !noise.is_empty()).then_some(noise);
    let line = fit::log_log(&values, noise.as_deref())?;
    Some(Fit::from_line(query, variant, measure, line))
}

/// Whether every regression check of `query` found the regression in every cell it
/// judges.
fn regressed(scenario: &Scenario, query: &str, cells: &[Cell]) -> bool {
    let checks = regression_checks(scenario, query);
    scenario.cells().iter().zip(cells).all(|(values, cell)| {
        checks
            .iter()
            .filter(|entry| entry.applies_to(values))
            .all(|entry| judge::evaluate(entry.check.as_ref(), &cell.evidence).passed)
    })
}

/// What a run at `scale` says about `query`'s flip.
fn flip_probe(
    scenario: &Scenario,
    query: &str,
    scale: u64,
    outcome: &Outcome,
    from_sweep: bool,
) -> FlipProbe {
    FlipProbe {
        scale,
        regressed: regressed(scenario, query, &outcome.cells),
        shapes: outcome
            .cells
            .iter()
            .filter_map(|cell| {
                Some(ProbeShape {
                    variant: cell.variant.clone(),
                    shape: cell.evidence.query(query)?.plan.shape(),
                })
            })
            .collect(),
        from_sweep,
    }
}

/// Seeds `scale` in a scratch database of its own, captures the plans (no timing)
/// and drops it.
async fn probe(
    server: &Server,
    scenario: &Scenario,
    options: &RunOptions,
    query: &str,
    scale: u64,
) -> Result<FlipProbe> {
    options.progress.note(&format!(
        "find flip: probing {query} at {}",
        format_count(scale as f64)
    ));
    let at_scale = RunOptions {
        scale: Some(scale),
        keep: false,
        ..*options
    };
    let mut prepared = PreparedDatabase::create(server, &[scenario], &at_scale).await?;
    let outcome = prepared.judge_plans(scenario, options.timing).await;
    let dropped = prepared.discard().await;
    let outcome = outcome?;
    dropped?;
    Ok(flip_probe(scenario, query, scale, &outcome, false))
}

/// The smallest scale that showed the regression, and the largest below it that did
/// not.
fn bracket(probes: &[FlipProbe]) -> (Option<u64>, Option<u64>) {
    let regressed = probes.iter().filter(|p| p.regressed).map(|p| p.scale).min();
    let clean = probes
        .iter()
        .filter(|p| !p.regressed && regressed.is_none_or(|r| p.scale < r))
        .map(|p| p.scale)
        .max();
    (clean, regressed)
}

/// The scale between `low` and `high` (exclusive) to probe next: their geometric
/// mean, rounded to two significant digits (three, or none, when rounding would
/// leave the bracket), so that the scale reported reads as a round number.
pub fn midpoint(low: u64, high: u64) -> Option<u64> {
    let mean = ((low as f64).ln() / 2.0 + (high as f64).ln() / 2.0).exp();
    let inside = |scale: u64| (scale > low && scale < high).then_some(scale);
    [2, 3]
        .into_iter()
        .find_map(|digits| inside(round_to(mean, digits)))
        .or_else(|| inside(mean.round() as u64))
}

/// `value` rounded to `digits` significant digits.
fn round_to(value: f64, digits: i32) -> u64 {
    let magnitude = 10f64.powi(value.log10().floor() as i32 - digits + 1);
    ((value / magnitude).round() * magnitude) as u64
}

/// Bisects between the sweep's probes until the flip is within [`FLIP_PRECISION`],
/// then checks the scenario's `min_scale` against the probes (probing it when they
/// do not decide it).
async fn find_flip(
    server: &Server,
    scenario: &Scenario,
    options: &RunOptions,
    query: &str,
    mut probes: Vec<FlipProbe>,
) -> Result<FlipSearch> {
    let low = probes.iter().map(|p| p.scale).min().unwrap_or_default();
    let high = probes.iter().map(|p| p.scale).max().unwrap_or_default();
    let result = loop {
        let next = match bracket(&probes) {
            (_, None) => break FlipResult::NotReached { scale: high },
            (None, Some(scale)) => break FlipResult::AtLow { scale },
            (Some(clean), Some(scale)) if scale as f64 <= clean as f64 * FLIP_PRECISION => {
                break FlipResult::Found {
                    scale,
                    clean_below: clean,
                };
            }
            (Some(clean), Some(scale)) => midpoint(clean, scale),
        };
        let Some(next) = next else {
            let (clean, scale) = bracket(&probes);
            break FlipResult::Found {
                scale: scale.unwrap_or(high),
                clean_below: clean.unwrap_or(low),
            };
        };
        probes.push(probe(server, scenario, options, query, next).await?);
    };
    let min_scale = scenario.min_scale;
    let min_scale_holds = match min_scale.map(|min| min_scale_decided(&probes, min, high)) {
        Some(Decided::Probe(scale)) => {
            let at_min = probe(server, scenario, options, query, scale).await?;
            let holds = at_min.regressed;
            probes.push(at_min);
            Some(holds)
        }
        Some(Decided::Known(holds)) => holds,
        None => None,
    };
    Ok(FlipSearch {
        query: query.to_owned(),
        low,
        high,
        precision: FLIP_PRECISION,
        probes,
        result,
        min_scale,
        min_scale_holds,
    })
}

/// Whether the probes decide that the regression shows from `min_scale` up.
enum Decided {
    /// `None` when `min_scale` lies above the bracket.
    Known(Option<bool>),
    /// Nothing decides it: probe `min_scale` itself.
    Probe(u64),
}

/// `min_scale` promises the regression at every scale from it up: a clean probe at or
/// above it breaks the promise, a regressed probe at or below it (with none clean
/// above) keeps it, as far as the probes show.
fn min_scale_decided(probes: &[FlipProbe], min_scale: u64, high: u64) -> Decided {
    if probes.iter().any(|p| p.scale >= min_scale && !p.regressed) {
        return Decided::Known(Some(false));
    }
    if probes.iter().any(|p| p.scale <= min_scale && p.regressed) {
        return Decided::Known(Some(true));
    }
    if min_scale > high {
        return Decided::Known(None);
    }
    Decided::Probe(min_scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(scale: u64, regressed: bool) -> FlipProbe {
        FlipProbe {
            scale,
            regressed,
            shapes: vec![],
            from_sweep: false,
        }
    }

    #[test]
    fn probes_land_on_round_scales_inside_the_bracket() {
        assert_eq!(midpoint(10_000, 1_000_000), Some(100_000));
        assert_eq!(midpoint(100_000, 1_000_000), Some(320_000));
        assert_eq!(midpoint(300_000, 320_000), Some(310_000));
        assert_eq!(midpoint(310_000, 320_000), Some(315_000));
        assert_eq!(midpoint(10, 12), Some(11));
        assert_eq!(midpoint(10, 11), None);
    }

    #[test]
    fn the_bracket_is_the_first_regression_and_the_last_clean_scale_below_it() {
        let probes = [
            probe(10_000, false),
            probe(1_000_000, true),
            probe(100_000, false),
            probe(320_000, true),
        ];
        assert_eq!(bracket(&probes), (Some(100_000), Some(320_000)));
        assert_eq!(bracket(&probes[..1]), (Some(10_000), None));
        assert_eq!(bracket(&[probe(5, true)]), (None, Some(5)));
    }

    #[test]
    fn min_scale_is_decided_by_the_probes_around_it() {
        let probes = [
            probe(10_000, false),
            probe(320_000, true),
            probe(1_000_000, true),
        ];
        assert!(matches!(
            min_scale_decided(&probes, 350_000, 1_000_000),
            Decided::Known(Some(true))
        ));
        assert!(matches!(
            min_scale_decided(&probes, 10_000, 1_000_000),
            Decided::Known(Some(false))
        ));
        assert!(matches!(
            min_scale_decided(&probes, 200_000, 1_000_000),
            Decided::Probe(200_000)
        ));
        // Above the bracket: the regression at smaller scales keeps it, as far as the
        // probes show; a bracket that never regressed says nothing of it.
        assert!(matches!(
            min_scale_decided(&probes, 2_000_000, 1_000_000),
            Decided::Known(Some(true))
        ));
        assert!(matches!(
            min_scale_decided(&probes[..1], 2_000_000, 1_000_000),
            Decided::Known(None)
        ));
    }
}
