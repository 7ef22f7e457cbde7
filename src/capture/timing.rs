//! The CLI's timing: a short loop that runs the plain queries (not EXPLAIN, which adds
//! instrumentation overhead) in interleaved rounds, alternating their order each round,
//! so that both sides of a comparison see the same cache and the same machine noise.
//! Comparisons use medians. For statistically careful numbers use `cargo bench`.
//!
//! A query stops being sampled early when more runs cannot change a verdict and would
//! only cost time: its own runs have taken the loop's whole time, or it is slower than
//! another query by more than the checks' factor in every run (see [`early_stop`]).

use std::time::{Duration, Instant};

use tokio_postgres::Client;

use super::{BoundQuery, is_timeout, run_error};
use crate::error::Result;
use crate::input::CheckEntry;
use crate::outcome::{SamplingStop, Timing};

/// The per-statement time budget of the measured queries when neither the scenario nor
/// the command line sets one.
pub const DEFAULT_TIME_BUDGET: Duration = Duration::from_secs(60);

/// The factor by which one query must be slower than another in every run before the
/// loop stops sampling it, when no check compares timings.
pub const DEFAULT_SEPARATION_FACTOR: f64 = 10.0;

/// How long measuring runs: the timing loop, and the budget of each measured statement.
#[derive(Debug, Clone, Copy)]
pub struct TimingOptions {
    /// Rounds always run, whatever the budget, unless a query stops early.
    pub min_rounds: usize,
    /// Rounds never exceeded.
    pub max_rounds: usize,
    /// Rounds continue past `min_rounds` until this much time has passed.
    pub budget: Duration,
    /// The time budget of each run of a measured query, overriding the scenario's
    /// `time_budget`; `None` takes the scenario's, or [`DEFAULT_TIME_BUDGET`].
    pub time_budget: Option<Duration>,
}

impl Default for TimingOptions {
    fn default() -> Self {
        TimingOptions {
            min_rounds: 3,
            max_rounds: 25,
            budget: Duration::from_secs(4),
            time_budget: None,
        }
    }
}

/// The factor the early stop waits for: the largest ratio of medians any of the
/// checks' verdicts turns on, so that no verdict can change once a query is that much
/// slower in every run. Never under 1, where two queries would each be "slower" than
/// the other.
pub fn separation_factor(checks: &[CheckEntry]) -> f64 {
    checks
        .iter()
        .filter_map(|entry| entry.check.timing_factor())
        .reduce(f64::max)
        .unwrap_or(DEFAULT_SEPARATION_FACTOR)
        .max(1.0)
}

/// Times every query not marked in `timed_out`, returning one `Timing` per query in
/// the order given. A run the time budget cancels ends that query's sampling with
/// [`SamplingStop::TimedOut`] and the loop goes on with the others.
pub async fn time_queries(
    client: &Client,
    queries: &[BoundQuery],
    timed_out: &[bool],
    options: TimingOptions,
    factor: f64,
) -> Result<Vec<Timing>> {
    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); queries.len()];
    let mut stops: Vec<Option<SamplingStop>> = timed_out
        .iter()
        .map(|&timed_out| timed_out.then_some(SamplingStop::TimedOut))
        .collect();
    let started = Instant::now();
    let mut round = 0;
    while stops.iter().any(Option::is_none) {
        let mut order: Vec<usize> = (0..queries.len()).collect();
        if round % 2 == 1 {
            order.reverse();
        }
        for index in order {
            if stops[index].is_some() {
                continue;
            }
            let query = &queries[index];
            let params = query.params();
            let clock = Instant::now();
            match client.query(&query.statement, &params).await {
                Ok(_) => samples[index].push(clock.elapsed().as_secs_f64() * 1000.0),
                Err(error) if is_timeout(&error) => stops[index] = Some(SamplingStop::TimedOut),
                Err(error) => return Err(run_error(query, "timing", error)),
            }
        }
        round += 1;
        for (index, stop) in stops.iter_mut().enumerate() {
            if stop.is_none() {
                *stop = early_stop(index, &samples, &options, factor);
            }
        }
        if round >= options.min_rounds {
            let loop_stop = if round >= options.max_rounds {
                Some(SamplingStop::MaxRounds)
            } else if started.elapsed() >= options.budget {
                Some(SamplingStop::LoopBudget)
            } else {
                None
            };
            for stop in stops.iter_mut().filter(|stop| stop.is_none()) {
                *stop = loop_stop;
            }
        }
    }
    Ok(samples
        .into_iter()
        .zip(stops)
        .map(|(samples_ms, stopped)| Timing {
            samples_ms,
            stopped: stopped.expect("the loop ends when every query has stopped"),
        })
        .collect())
}

/// Whether to stop sampling query `index` after a round, given every query's samples
/// so far (in milliseconds).
///
/// - Its runs alone have taken the loop's whole time: one run of a 40 s query says
///   what three would, and three would cost two minutes.
/// - After `min_rounds`, its fastest run is more than `factor` times slower than the
///   slowest run of another query with `min_rounds` runs: the two ranges do not
///   overlap even stretched by the factor, so the ratio of medians is past it and
///   more runs of the slow query cannot bring it back. The faster query goes on, as
///   its median is the one a verdict reads closely.
pub fn early_stop(
    index: usize,
    samples: &[Vec<f64>],
    options: &TimingOptions,
    factor: f64,
) -> Option<SamplingStop> {
    let own = &samples[index];
    if own.iter().sum::<f64>() >= options.budget.as_secs_f64() * 1000.0 && !own.is_empty() {
        return Some(SamplingStop::SlowQuery);
    }
    if own.len() < options.min_rounds {
        return None;
    }
    let fastest = own.iter().copied().fold(f64::INFINITY, f64::min);
    let separated = samples
        .iter()
        .enumerate()
        .filter(|(other, runs)| *other != index && runs.len() >= options.min_rounds)
        .any(|(_, runs)| fastest > factor * runs.iter().copied().fold(0.0, f64::max));
    separated.then_some(SamplingStop::Separated { factor })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> TimingOptions {
        TimingOptions {
            min_rounds: 3,
            max_rounds: 25,
            budget: Duration::from_secs(4),
            time_budget: None,
        }
    }

    #[test]
    fn a_query_slower_by_the_factor_in_every_run_stops_after_min_rounds() {
        let samples = vec![vec![120.0, 100.0, 130.0], vec![1.0, 9.0, 2.0]];
        assert_eq!(
            early_stop(0, &samples, &options(), 10.0),
            Some(SamplingStop::Separated { factor: 10.0 })
        );
        assert_eq!(
            early_stop(1, &samples, &options(), 10.0),
            None,
            "the faster query is sampled on"
        );
    }

    #[test]
    fn overlapping_spreads_or_too_few_runs_keep_sampling() {
        // The medians are 100x apart, but one run of the fast query was slow: the
        // spread does not rule out a ratio under the factor.
        let outlier = vec![vec![100.0, 100.0, 100.0], vec![1.0, 1.0, 50.0]];
        assert_eq!(early_stop(0, &outlier, &options(), 10.0), None);
        let early = vec![vec![100.0, 100.0], vec![1.0, 1.0]];
        assert_eq!(early_stop(0, &early, &options(), 10.0), None);
        let within = vec![vec![100.0, 100.0, 100.0], vec![20.0, 20.0, 20.0]];
        assert_eq!(early_stop(0, &within, &options(), 10.0), None);
    }

    #[test]
    fn a_query_whose_runs_fill_the_loop_is_not_repeated() {
        let one_slow_run = vec![vec![40_000.0], vec![1.0]];
        assert_eq!(
            early_stop(0, &one_slow_run, &options(), 10.0),
            Some(SamplingStop::SlowQuery)
        );
        let two_runs = vec![vec![1_900.0, 2_100.0], vec![1.0, 1.0]];
        assert_eq!(
            early_stop(0, &two_runs, &options(), 10.0),
            Some(SamplingStop::SlowQuery)
        );
        let not_yet = vec![vec![1_900.0], vec![1.0]];
        assert_eq!(early_stop(0, &not_yet, &options(), 10.0), None);
    }

    #[test]
    fn a_query_without_runs_does_not_separate_another() {
        let timed_out = vec![vec![], vec![1.0, 1.0, 1.0]];
        assert_eq!(early_stop(1, &timed_out, &options(), 10.0), None);
    }
}
