//! How each step's duration grew with the table: per migration, each step's duration
//! at each scale and the exponent fitted on log-log axes, with no database.

use super::{GROWTH_FLOOR_MS, SUPER_LINEAR, WAITED_SHARE};
use crate::fit;
use crate::outcome::rehearsal::{MigrationRun, StepGrowth, StepOutcome};

/// Each step's duration across the scales, per migration, with its growth exponent.
/// Runs are grouped by migration and scale; steps are matched by their index; the
/// repeated runs of a migration at a scale (`--repeat`) give their median.
pub fn growth(runs: &[MigrationRun]) -> Vec<StepGrowth> {
    let mut migrations: Vec<&str> = Vec::new();
    for run in runs {
        if !migrations.contains(&run.migration.as_str()) {
            migrations.push(&run.migration);
        }
    }
    migrations
        .into_iter()
        .flat_map(|migration| {
            let mut scales: Vec<u64> = runs
                .iter()
                .filter(|run| run.migration == migration)
                .map(|run| run.scale)
                .collect();
            scales.sort_unstable();
            scales.dedup();
            let at: Vec<(u64, Vec<&MigrationRun>)> = scales
                .into_iter()
                .map(|scale| {
                    let of = runs
                        .iter()
                        .filter(|run| run.migration == migration && run.scale == scale)
                        .collect();
                    (scale, of)
                })
                .collect();
            migration_growth(migration, &at)
        })
        .collect()
}

/// Every step of one migration that its runs, at each scale in increasing order,
/// reached; nothing with fewer than two scales.
fn migration_growth(migration: &str, at: &[(u64, Vec<&MigrationRun>)]) -> Vec<StepGrowth> {
    if at.len() < 2 {
        return Vec::new();
    }
    let steps = at
        .iter()
        .flat_map(|(_, runs)| runs)
        .map(|run| run.steps.len() + run.steps_not_run)
        .max()
        .unwrap_or(0);
    (0..steps)
        .filter_map(|step| {
            let found: Vec<Vec<&StepOutcome>> = at
                .iter()
                .map(|(_, runs)| {
                    runs.iter()
                        .filter_map(|run| run.steps.get(step))
                        .filter(|outcome| outcome.error.is_none())
                        .collect()
                })
                .collect();
            step_growth(migration, step, at, &found)
        })
        .collect()
}

/// One step's growth from its outcomes at each scale (none where no run reached it
/// or it failed in every run there); `None` when no run reached it.
fn step_growth(
    migration: &str,
    step: usize,
    at: &[(u64, Vec<&MigrationRun>)],
    found: &[Vec<&StepOutcome>],
) -> Option<StepGrowth> {
    let first = found.iter().flatten().next()?;
    let durations: Vec<f64> = found
        .iter()
        .map(|outcomes| {
            let durations: Vec<f64> = outcomes
                .iter()
                .map(|outcome| outcome.duration_ms())
                .collect();
            fit::median(&durations).unwrap_or(f64::NAN)
        })
        .collect();
    let fitted = durations.iter().all(|duration| *duration >= 1.0);
    let exponent = fitted
        .then(|| {
            let points: Vec<(f64, f64)> = at
                .iter()
                .zip(&durations)
                .map(|((scale, _), duration)| (*scale as f64, *duration))
                .collect();
            fit::log_log(&points, None).map(|line| line.slope)
        })
        .flatten();
    let largest = durations.last().copied().unwrap_or(0.0);
    let waited = found
        .iter()
        .flatten()
        .any(|outcome| outcome.waited_ms >= WAITED_SHARE * outcome.duration_ms());
    let not_judged = (waited && exponent.is_some())
        .then(|| "it waited for locks, so its time measures the traffic, not the table".to_owned());
    Some(StepGrowth {
        migration: migration.to_owned(),
        step: step + 1,
        summary: first.summary.clone(),
        scales: at.iter().map(|(scale, _)| *scale).collect(),
        durations_ms: durations
            .iter()
            .map(|d| if d.is_nan() { 0.0 } else { *d })
            .collect(),
        exponent,
        super_linear: exponent.is_some_and(|slope| slope > SUPER_LINEAR)
            && largest >= GROWTH_FLOOR_MS
            && not_judged.is_none(),
        not_judged,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::rehearsal::{Latency, Timeline};

    fn run(migration: &str, scale: u64, durations: &[f64]) -> MigrationRun {
        MigrationRun {
            migration: migration.into(),
            scale,
            repetition: None,
            seeded: Vec::new(),
            seed_ms: 0.0,
            warm_up_ms: 0.0,
            tail_ms: 0.0,
            traffic: Vec::new(),
            steps: durations
                .iter()
                .enumerate()
                .map(|(index, duration)| StepOutcome {
                    index: index + 1,
                    file: "m.sql".into(),
                    line: 1,
                    summary: format!("step {index}"),
                    sql: String::new(),
                    transaction: String::new(),
                    start_ms: 0.0,
                    end_ms: *duration,
                    error: None,
                    rows: None,
                    locks: Vec::new(),
                    declared_locks: Vec::new(),
                    waited_ms: 0.0,
                    waited_for: Vec::new(),
                    longest_stall: None,
                    latency: Latency::default(),
                    failures: Vec::new(),
                    explanation: Vec::new(),
                    over_limit: false,
                })
                .collect(),
            steps_not_run: 0,
            invariants: Vec::new(),
            timeline: Timeline::default(),
            sampler: Default::default(),
            stopped: None,
            warnings: Vec::new(),
            violations: Vec::new(),
        }
    }

    #[test]
    fn a_step_four_times_the_rows_sixteen_times_slower_is_super_linear_and_a_linear_one_is_not() {
        let runs = [
            run("shipped", 250_000, &[800.0, 50.0, 0.5]),
            run("shipped", 1_000_000, &[12_800.0, 200.0, 0.6]),
        ];
        let growth = growth(&runs);
        assert_eq!(growth.len(), 3);
        assert!((growth[0].exponent.unwrap() - 2.0).abs() < 1e-9);
        assert!(growth[0].super_linear);
        assert!((growth[1].exponent.unwrap() - 1.0).abs() < 1e-9);
        assert!(!growth[1].super_linear);
        assert_eq!(growth[2].exponent, None, "too short to fit");
    }

    #[test]
    fn a_step_that_waited_for_locks_is_not_judged_for_growth() {
        let mut runs = [
            run("safer", 250_000, &[2.0, 100.0]),
            run("safer", 1_000_000, &[2_000.0, 400.0]),
        ];
        // At 1,000,000 the first step retried behind a reader for most of its time.
        runs[1].steps[0].waited_ms = 500.0;
        let growth = growth(&runs);
        assert!((growth[0].exponent.unwrap() - 4.98).abs() < 0.01);
        assert!(!growth[0].super_linear);
        assert!(
            growth[0]
                .not_judged
                .as_deref()
                .unwrap()
                .contains("waited for locks")
        );
        assert_eq!(growth[1].not_judged, None);
    }

    #[test]
    fn repeated_runs_at_a_scale_count_once_with_their_median() {
        let runs = [
            run("shipped", 250_000, &[100.0]),
            run("shipped", 250_000, &[300.0]),
            run("shipped", 250_000, &[200.0]),
            run("shipped", 1_000_000, &[800.0]),
        ];
        let growth = growth(&runs);
        assert_eq!(growth.len(), 1);
        assert_eq!(growth[0].scales, [250_000, 1_000_000]);
        assert_eq!(growth[0].durations_ms, [200.0, 800.0]);
        assert!((growth[0].exponent.unwrap() - 1.0).abs() < 1e-9);
    }
}
