//! One scenario run on several PostgreSQL major versions (`--pg 13,15,17`): each
//! version's verdicts and plan shapes side by side, and where they differ. The rows
//! are the same on every version (same dataset, seed and scale); what differs is the
//! planner.

use serde::{Deserialize, Serialize};

use super::Outcome;
use super::stability::STABLE_CHECK;
use super::sweep::{FLIP_SEARCH_CHECK, FlipResult, FlipSearch, Sweep, variant_label};
use crate::format::format_count;

/// The comparison of one scenario across versions.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Versions {
    pub scenario: String,
    /// Rows of the scale table (`scale_table`) on every version.
    pub rows: u64,
    pub scale_table: String,
    pub seed: u64,
    /// One entry per version, in the order `--pg` gave them.
    pub versions: Vec<VersionRun>,
    /// Versions `--pg` asked for that did not run: the run ended before them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_run: Vec<u32>,
    /// One row per check, variant and subject: its verdict on each version.
    pub verdicts: Vec<VerdictRow>,
    /// One row per variant and query: its plan's shape on each version.
    pub shapes: Vec<ShapeRow>,
    /// With a sweep (`--scales`, `--sweep`, `--find-flip`): each version's growth and
    /// flip. `rows`, `verdicts` and `shapes` are then the largest scale's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sweep: Option<SweepAcross>,
    /// With `--stability N`: one row per variant and query, how many plans it took
    /// over the ANALYZE rounds on each version.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stability: Vec<StabilityRow>,
    /// Sentences saying where versions disagree (verdicts first, then plan shapes,
    /// then where the plan flips); empty when every version agrees.
    pub differences: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StabilityRow {
    pub variant: String,
    pub query: String,
    /// Per version: `1 plan`, or `2 plans, 3 of 20 rounds flagged` (rounds whose plan a
    /// plan check objected to), or `-` where the version has no such query.
    pub plans: Vec<String>,
}

/// A scale sweep run on every version.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SweepAcross {
    /// Rows of `scale_table` at each scale, increasing: the same on every version.
    pub scales: Vec<u64>,
    /// One row per fitted query, variant and measure: its growth exponent on each
    /// version.
    pub growth: Vec<GrowthRow>,
    /// The flip search (`--find-flip`), if asked.
    pub flip: Option<FlipRow>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GrowthRow {
    pub query: String,
    /// `-` without variants.
    pub variant: String,
    /// `rows-examined`, `buffers` or `time`.
    pub measure: String,
    /// Per version: the exponent to two decimals (the measure grows as
    /// scale^exponent), or `-` where none could be fitted.
    pub exponents: Vec<String>,
    /// Per version: whether the query's plan changed between the sweep's scales, so
    /// that the exponent spans two plans rather than one plan's growth.
    pub plan_changes: Vec<bool>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FlipRow {
    /// The query whose plan was searched for the regression.
    pub query: String,
    /// Per version: `from 180,000` (the smallest scale found to show the
    /// regression), `at 10,000 or below` (already at the bracket's low end),
    /// `not by 1,000,000` (not even at
    /// its high end), or `-` where the version had no search.
    pub found: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct VersionRun {
    pub major: u32,
    /// What the server says of itself (`PostgreSQL 15.18 (Debian …) on …`).
    pub server_version: String,
    /// The backend and what it started (`docker (plancheck/postgres:15)`).
    pub backend: String,
    pub passed: bool,
    /// The version's full report, relative to the comparison's directory.
    pub report: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct VerdictRow {
    pub check: String,
    /// `-` without variants.
    pub variant: String,
    pub subject: String,
    /// Per version, in [`Versions::versions`]' order: `pass`, `fail`, `not judged`,
    /// or `-` where the version has no such verdict.
    pub verdicts: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ShapeRow {
    pub variant: String,
    pub query: String,
    /// Per version: the plan's shape (see `Plan::shape`), or `-`.
    pub shapes: Vec<String>,
}

/// One version's run: its major version, the run's outcome, its report's path.
pub type VersionOutcome<'a> = (u32, &'a Outcome, String);

impl Versions {
    /// Lines up `runs` (major version, the run's outcome, its report's path) of the
    /// versions `asked`.
    pub fn compare(runs: &[VersionOutcome], asked: &[u32]) -> Versions {
        let first = runs[0].1;
        let majors: Vec<u32> = runs.iter().map(|(major, _, _)| *major).collect();
        let sweeps: Vec<Option<&Sweep>> =
            runs.iter().map(|(_, run, _)| run.sweep.as_ref()).collect();
        let (verdicts, shapes) = verdict_and_shape_rows(runs);
        let sweep = sweep_across(&sweeps);
        let (stability, rounds) = stability_rows(runs);
        let across = Across {
            majors: &majors,
            stability: &stability,
            rounds: &rounds,
        };
        let mut differences = Vec::new();
        differences.extend(verdict_differences(&verdicts, &across, sweep.is_some()));
        differences.extend(shape_differences(&shapes, &across));
        differences.extend(stability_differences(&across));
        differences.extend(flip_difference(&sweep, &sweeps, &majors));
        Versions {
            scenario: first.scenario.clone(),
            rows: first.seeded.scale,
            scale_table: first.seeded.scale_table.clone(),
            seed: first.seeded.seed,
            versions: runs.iter().map(version_run).collect(),
            not_run: asked
                .iter()
                .filter(|major| !majors.contains(major))
                .copied()
                .collect(),
            verdicts,
            shapes,
            sweep,
            stability,
            differences,
        }
    }

    /// Whether every version passed.
    pub fn passed(&self) -> bool {
        self.versions.iter().all(|version| version.passed)
    }
}

fn version_run((major, run, report): &VersionOutcome) -> VersionRun {
    VersionRun {
        major: *major,
        server_version: run.environment.server_version.clone(),
        backend: run.environment.backend.to_string(),
        passed: run.passed(),
        report: report.clone(),
    }
}

/// The row of `rows` that `matches`, made by `make` and appended when there is none.
fn row_for<'r, T>(
    rows: &'r mut Vec<T>,
    matches: impl Fn(&T) -> bool,
    make: impl FnOnce() -> T,
) -> &'r mut T {
    match rows.iter().position(matches) {
        Some(position) => &mut rows[position],
        None => {
            rows.push(make());
            rows.last_mut().expect("just pushed")
        }
    }
}

/// Per check, variant and subject, each version's verdict; per variant and query, each
/// version's plan shape. Rows in the order they are first seen.
fn verdict_and_shape_rows(runs: &[VersionOutcome]) -> (Vec<VerdictRow>, Vec<ShapeRow>) {
    let mut verdicts: Vec<VerdictRow> = Vec::new();
    let mut shapes: Vec<ShapeRow> = Vec::new();
    for (index, (_, run, _)) in runs.iter().enumerate() {
        for cell in &run.cells {
            let variant = cell.label();
            for verdict in &cell.verdicts {
                let row = row_for(
                    &mut verdicts,
                    |row| {
                        row.check == verdict.check
                            && row.variant == variant
                            && row.subject == verdict.subject
                    },
                    || VerdictRow {
                        check: verdict.check.to_owned(),
                        variant: variant.clone(),
                        subject: verdict.subject.clone(),
                        verdicts: vec!["-".into(); runs.len()],
                    },
                );
                row.verdicts[index] = verdict_word(verdict.judged, verdict.passed).to_owned();
            }
            for query in &cell.evidence.queries {
                let row = row_for(
                    &mut shapes,
                    |row| row.variant == variant && row.query == query.name,
                    || ShapeRow {
                        variant: variant.clone(),
                        query: query.name.clone(),
                        shapes: vec!["-".into(); runs.len()],
                    },
                );
                row.shapes[index] = query.plan.shape();
            }
        }
    }
    (verdicts, shapes)
}

fn verdict_word(judged: bool, passed: bool) -> &'static str {
    match (judged, passed) {
        (false, _) => "not judged",
        (true, true) => "pass",
        (true, false) => "fail",
    }
}

/// The sweep's scales, growth and flip on every version, when some version swept.
fn sweep_across(sweeps: &[Option<&Sweep>]) -> Option<SweepAcross> {
    let first = sweeps.iter().flatten().next()?;
    Some(SweepAcross {
        scales: first.scales.clone(),
        growth: growth_rows(sweeps),
        flip: first.flip.as_ref().map(|flip| FlipRow {
            query: flip.query.clone(),
            found: sweeps
                .iter()
                .map(|sweep| match sweep.and_then(|sweep| sweep.flip.as_ref()) {
                    None => "-".to_owned(),
                    Some(flip) => flip_found(&flip.result),
                })
                .collect(),
        }),
    })
}

/// `from 180,000`, `at 10,000 or below`, `not by 1,000,000`.
fn flip_found(result: &FlipResult) -> String {
    match *result {
        FlipResult::Found { scale, .. } => format!("from {}", format_count(scale as f64)),
        FlipResult::AtLow { scale } => format!("at {} or below", format_count(scale as f64)),
        FlipResult::NotReached { scale } => format!("not by {}", format_count(scale as f64)),
    }
}

/// What every difference sentence reads beside its own rows: the versions in order, and
/// the stability rounds (whose plan changes explain some differences).
struct Across<'a> {
    majors: &'a [u32],
    stability: &'a [StabilityRow],
    rounds: &'a [Vec<Option<Rounds>>],
}

impl Across<'_> {
    /// A query whose plan changed over some version's ANALYZE rounds may differ between
    /// versions by ANALYZE's random sample alone: said with the difference.
    fn caveat(&self, variant: &str, query: &str) -> &'static str {
        let sampled = self.stability.iter().zip(self.rounds).any(|(row, rounds)| {
            row.variant == variant
                && row.query == query
                && rounds.iter().flatten().any(|rounds| rounds.plans > 1)
        });
        match sampled {
            true => " (its plan changes over ANALYZE rounds: see plan stability)",
            false => "",
        }
    }
}

/// Checks whose verdicts differ between versions. The flip search's and the stability
/// rounds' own verdicts are left to [`flip_difference`] and [`stability_differences`],
/// which leave out what reruns of one version vary by.
fn verdict_differences(rows: &[VerdictRow], across: &Across, swept: bool) -> Vec<String> {
    rows.iter()
        .filter(|row| {
            let compared_elsewhere = (row.check == FLIP_SEARCH_CHECK && swept)
                || (row.check == STABLE_CHECK && !across.stability.is_empty());
            !compared_elsewhere
        })
        .filter_map(|row| {
            let groups = disagreement(&row.verdicts, across.majors)?;
            let query = row.subject.split(" vs ").next().unwrap_or(&row.subject);
            Some(format!(
                "{} on {}{}: {groups}{}",
                row.check,
                row.subject,
                bracketed(&row.variant),
                across.caveat(&row.variant, query)
            ))
        })
        .collect()
}

/// Queries whose plan shape differs between versions.
fn shape_differences(rows: &[ShapeRow], across: &Across) -> Vec<String> {
    rows.iter()
        .filter_map(|row| {
            let groups = disagreement(&row.shapes, across.majors)?;
            Some(format!(
                "plan of {}{}: {groups}{}",
                row.query,
                bracketed(&row.variant),
                across.caveat(&row.variant, &row.query)
            ))
        })
        .collect()
}

/// Queries whose stability rounds differ in kind between versions. ANALYZE samples at
/// random, so counts of plans and flagged rounds vary between runs of one version too:
/// only the kind of outcome counts as a difference.
fn stability_differences(across: &Across) -> Vec<String> {
    across
        .stability
        .iter()
        .zip(across.rounds)
        .filter_map(|(row, rounds)| {
            let kinds: Vec<String> = rounds
                .iter()
                .map(|rounds| rounds.map_or("-", Rounds::kind).to_owned())
                .collect();
            let groups = disagreement(&kinds, across.majors)?;
            Some(format!(
                "{}{} over ANALYZE rounds: {groups}",
                row.query,
                bracketed(&row.variant)
            ))
        })
        .collect()
}

/// Where the plan flips, when the versions' searches differ beyond their precision.
fn flip_difference(
    sweep: &Option<SweepAcross>,
    sweeps: &[Option<&Sweep>],
    majors: &[u32],
) -> Option<String> {
    let flip = sweep.as_ref()?.flip.as_ref()?;
    let searches: Vec<Option<&FlipSearch>> = sweeps
        .iter()
        .map(|sweep| sweep.and_then(|sweep| sweep.flip.as_ref()))
        .collect();
    if !flips_differ(&searches) {
        return None;
    }
    let groups = disagreement(&flip.found, majors)?;
    Some(format!(
        "{}'s plan shows the regression {groups}",
        flip.query
    ))
}

/// What one query's stability rounds gave on one version.
#[derive(Debug, Clone, Copy)]
struct Rounds {
    /// Distinct plans taken.
    plans: usize,
    /// Rounds whose plan a plan check objected to.
    flagged: u32,
    /// Rounds run.
    of: u32,
}

impl Rounds {
    /// `1 plan`, `2 plans`, `2 plans, 3 of 20 rounds flagged`.
    fn text(self) -> String {
        let plans = match self.plans {
            1 => "1 plan".to_owned(),
            count => format!("{count} plans"),
        };
        match self.flagged {
            0 => plans,
            flagged => format!("{plans}, {flagged} of {} rounds flagged", self.of),
        }
    }

    /// The outcome without the counts that vary from run to run of one version
    /// (ANALYZE samples at random).
    fn kind(self) -> &'static str {
        match self.flagged {
            0 if self.plans <= 1 => "one plan",
            0 => "several plans, none flagged",
            flagged if flagged >= self.of => "a flagged plan in every round",
            _ => "a flagged plan in some rounds",
        }
    }
}

/// Per variant and query of the stability rounds, what each version's rounds took,
/// and beside each row the same as [`Rounds`] per version (`None` where it has none).
fn stability_rows(runs: &[VersionOutcome]) -> (Vec<StabilityRow>, Vec<Vec<Option<Rounds>>>) {
    let mut rows: Vec<StabilityRow> = Vec::new();
    let mut rounds: Vec<Vec<Option<Rounds>>> = Vec::new();
    for (index, (_, run, _)) in runs.iter().enumerate() {
        let Some(stability) = &run.stability else {
            continue;
        };
        for cell in &stability.cells {
            let variant = variant_or_dash(&cell.variant);
            for query in &cell.queries {
                let position = rows
                    .iter()
                    .position(|row| row.variant == variant && row.query == query.query)
                    .unwrap_or_else(|| {
                        rows.push(StabilityRow {
                            variant: variant.clone(),
                            query: query.query.clone(),
                            plans: vec!["-".into(); runs.len()],
                        });
                        rounds.push(vec![None; runs.len()]);
                        rows.len() - 1
                    });
                let taken = Rounds {
                    plans: query.shapes.len(),
                    flagged: query
                        .shapes
                        .iter()
                        .filter(|shape| shape.flagged())
                        .map(|shape| shape.rounds)
                        .sum(),
                    of: stability.rounds,
                };
                rows[position].plans[index] = taken.text();
                rounds[position][index] = Some(taken);
            }
        }
    }
    (rows, rounds)
}

/// A variant's label, or `-` for a scenario without variants.
fn variant_or_dash(variant: &[(String, String)]) -> String {
    match variant.is_empty() {
        true => "-".to_owned(),
        false => variant_label(variant),
    }
}

/// ` [variant]`, or nothing for `-`.
fn bracketed(variant: &str) -> String {
    match variant {
        "-" => String::new(),
        variant => format!(" [{variant}]"),
    }
}

/// Whether the flip searches of the versions disagree beyond what reruns of one version
/// can: the scales they found the regression from are further apart than two steps of
/// the search's precision, or one did not reach it by the top of its bracket while
/// another found it further below that top than two steps (the plans at probes near
/// the flip rest on ANALYZE's random sample).
fn flips_differ(searches: &[Option<&FlipSearch>]) -> bool {
    let searches: Vec<&FlipSearch> = searches.iter().flatten().copied().collect();
    let steps = searches
        .iter()
        .map(|search| search.precision)
        .fold(1.0, f64::max)
        .powi(2);
    let found: Vec<f64> = searches
        .iter()
        .filter_map(|search| search.flip_scale())
        .map(|scale| scale as f64)
        .collect();
    let (low, high) = found
        .iter()
        .fold((f64::INFINITY, 0.0_f64), |(low, high), scale| {
            (low.min(*scale), high.max(*scale))
        });
    let top_not_reached = searches
        .iter()
        .filter_map(|search| match search.result {
            FlipResult::NotReached { scale } => Some(scale as f64),
            _ => None,
        })
        .fold(f64::INFINITY, f64::min);
    high > low * steps || low * steps < top_not_reached && top_not_reached.is_finite()
}

/// Per fitted query, variant and measure (in the first sweep's order), the exponent on
/// each version that swept.
fn growth_rows(sweeps: &[Option<&Sweep>]) -> Vec<GrowthRow> {
    let mut rows: Vec<GrowthRow> = Vec::new();
    for (index, sweep) in sweeps.iter().enumerate() {
        let Some(sweep) = sweep else { continue };
        for fit in &sweep.fits {
            let variant = variant_or_dash(&fit.variant);
            let measure = fit.measure.name();
            let row = row_for(
                &mut rows,
                |row| row.query == fit.query && row.variant == variant && row.measure == measure,
                || GrowthRow {
                    query: fit.query.clone(),
                    variant: variant.clone(),
                    measure: measure.to_owned(),
                    exponents: vec!["-".into(); sweeps.len()],
                    plan_changes: vec![false; sweeps.len()],
                },
            );
            row.exponents[index] = format!("{:.2}", fit.slope);
            row.plan_changes[index] = sweep.plan_changes(&fit.query, &fit.variant);
        }
    }
    rows
}

/// `pass on 13, 15; fail on 17` when `values` (one per version) are not all the same.
fn disagreement(values: &[String], majors: &[u32]) -> Option<String> {
    if values.iter().all(|value| *value == values[0]) {
        return None;
    }
    let mut groups: Vec<(&str, Vec<String>)> = Vec::new();
    for (value, major) in values.iter().zip(majors) {
        match groups.iter_mut().find(|(seen, _)| *seen == value) {
            Some((_, versions)) => versions.push(major.to_string()),
            None => groups.push((value, vec![major.to_string()])),
        }
    }
    Some(
        groups
            .iter()
            .map(|(value, versions)| format!("{value} on {}", versions.join(", ")))
            .collect::<Vec<_>>()
            .join("; "),
    )
}

#[cfg(test)]
mod tests {
    use super::{Rounds, disagreement, flips_differ};
    use crate::outcome::sweep::{FlipResult, FlipSearch};

    fn search(result: FlipResult) -> FlipSearch {
        FlipSearch {
            query: "old".into(),
            low: 10_000,
            high: 1_000_000,
            precision: 1.1,
            probes: Vec::new(),
            result,
            min_scale: None,
            min_scale_holds: None,
        }
    }

    #[test]
    fn flips_differ_when_one_is_not_reached_or_they_are_two_precision_steps_apart() {
        let found = |scale: u64| {
            search(FlipResult::Found {
                scale,
                clean_below: scale * 10 / 11,
            })
        };
        let not_reached = search(FlipResult::NotReached { scale: 1_000_000 });
        let near_the_top = found(900_000);
        assert!(
            !flips_differ(&[Some(&near_the_top), Some(&not_reached)]),
            "found within two steps of the top another version did not reach it by"
        );
        let at_low = search(FlipResult::AtLow { scale: 10_000 });
        let (near, apart) = (found(200_000), found(210_000));
        assert!(
            !flips_differ(&[Some(&near), Some(&apart)]),
            "within one step"
        );
        let far = found(250_000);
        assert!(flips_differ(&[Some(&near), Some(&far)]), "two steps apart");
        assert!(flips_differ(&[Some(&near), Some(&not_reached)]));
        assert!(!flips_differ(&[Some(&not_reached), Some(&not_reached)]));
        assert!(flips_differ(&[Some(&at_low), Some(&near)]));
    }

    #[test]
    fn versions_that_agree_say_nothing_and_others_are_grouped_by_what_they_said() {
        let same = vec!["pass".to_owned(); 3];
        assert_eq!(disagreement(&same, &[13, 15, 17]), None);
        let split: Vec<String> = ["pass", "fail", "pass"].map(str::to_owned).to_vec();
        assert_eq!(
            disagreement(&split, &[13, 15, 17]).as_deref(),
            Some("pass on 13, 17; fail on 15")
        );
    }

    #[test]
    fn stability_counts_that_vary_between_runs_are_no_difference_but_a_flagged_plan_is() {
        let kinds = |outcomes: [(usize, u32); 2]| {
            outcomes
                .map(|(plans, flagged)| {
                    Rounds {
                        plans,
                        flagged,
                        of: 20,
                    }
                    .kind()
                    .to_owned()
                })
                .to_vec()
        };
        assert_eq!(disagreement(&kinds([(2, 3), (3, 5)]), &[15, 17]), None);
        assert_eq!(
            disagreement(&kinds([(2, 0), (2, 1)]), &[15, 17]).as_deref(),
            Some("several plans, none flagged on 15; a flagged plan in some rounds on 17")
        );
        assert_eq!(
            disagreement(&kinds([(1, 20), (2, 3)]), &[15, 17]).as_deref(),
            Some("a flagged plan in every round on 15; a flagged plan in some rounds on 17")
        );
    }
}
