//! How each step's duration grew with the table: per migration, each step's duration
//! at each scale and the exponent fitted on log-log axes, with no database.

use super::{GROWTH_FLOOR_MS, SUPER_LINEAR, WAITED_SHARE};
use crate::fit;
use crate::outcome::rehearsal::{MigrationRun, StepGrowth, StepOutcome};

/// Each step's duration across the scales, per migration, with its growth exponent.
/// Runs are grouped by migration; steps are matched by their index.
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
            let mut of: Vec<&MigrationRun> = runs
                .iter()
                .filter(|run| run.migration == migration)
                .collect();
            of.sort_by_key(|run| run.scale);
            migration_growth(migration, &of)
        })
        .collect()
}

/// Every step of one migration whose runs, in increasing scale, reached it; nothing
/// with fewer than two runs.
fn migration_growth(migration: &str, of: &[&MigrationRun]) -> Vec<StepGrowth> {
    if of.len() < 2 {
        return Vec::new();
    }
    let steps = of
        .iter()
        .map(|run| run.steps.len() + run.steps_not_run)
        .max()
        .unwrap_or(0);
    (0..steps)
        .filter_map(|step| {
            let found: Vec<Option<&StepOutcome>> = of
                .iter()
                .map(|run| {
                    run.steps
                        .get(step)
                        .filter(|outcome| outcome.error.is_none())
                })
                .collect();
            step_growth(migration, step, of, &found)
        })
        .collect()
}

/// One step's growth from its outcome in each run (`None` where a run did not reach
/// it or it failed there); `None` when no run reached it.
fn step_growth(
    migration: &str,
    step: usize,
    of: &[&MigrationRun],
    found: &[Option<&StepOutcome>],
) -> Option<StepGrowth> {
    let first = found.iter().flatten().next()?;
    let durations: Vec<f64> = found
        .iter()
        .map(|outcome| outcome.map_or(f64::NAN, StepOutcome::duration_ms))
        .collect();
    let fitted = durations.iter().all(|duration| *duration >= 1.0);
    let exponent = fitted
        .then(|| {
            let points: Vec<(f64, f64)> = of
                .iter()
                .zip(&durations)
                .map(|(run, duration)| (run.scale as f64, *duration))
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
        scales: of.iter().map(|run| run.scale).collect(),
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
}
