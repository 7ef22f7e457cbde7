//! The CLI's timing: a short loop that runs the plain queries (not EXPLAIN, which adds
//! instrumentation overhead) in interleaved rounds, alternating their order each round,
//! so that both sides of a comparison see the same cache and the same machine noise.
//! Comparisons use medians. For statistically careful numbers use `cargo bench`.
//!
//! A query stops being sampled early when more runs cannot change a verdict and would
//! only cost time: it is slower, in every run, than each query a check compares it
//! with, by more than that check's ratio; or no check compares its time at all (see
//! [`early_stop`]).

use std::time::{Duration, Instant};

use tokio_postgres::Client;

use super::{BoundQuery, run_error, timed_out};
use crate::error::Result;
use crate::judge::Check;
use crate::outcome::{SamplingStop, Timing};

/// The per-statement time budget of the measured queries when neither the scenario nor
/// the command line sets one.
pub const DEFAULT_TIME_BUDGET: Duration = Duration::from_secs(60);

/// How much more than a check's ratio a query must be slower, in every run, to stop
/// before the loop's fewest rounds (which only a query too slow to repeat may do).
/// With one or two runs the spread of the times is not known yet; a run of seconds
/// rarely takes twice its typical time, so a separation twice the ratio holds for the
/// runs not taken. A 40 s query against a 0.3 ms one is timed once; 4.1 s against
/// 4.4 s under a 1.1 ratio is timed in full.
pub const UNREPEATED_MARGIN: f64 = 2.0;

/// How long measuring runs: the timing loop, and the budget of each measured statement.
#[derive(Debug, Clone, Copy)]
pub struct TimingOptions {
    /// Rounds always run, unless a query is already separated from every query it is
    /// compared with (see [`early_stop`]).
    pub min_rounds: usize,
    /// Rounds never exceeded.
    pub max_rounds: usize,
    /// The timing loop's length: rounds continue past `min_rounds` until this much
    /// time has passed.
    pub loop_time: Duration,
    /// The limit of each run of a measured query, overriding the scenario's
    /// `time_budget`; `None` takes the scenario's, or [`DEFAULT_TIME_BUDGET`].
    pub statement_budget: Option<Duration>,
}

impl Default for TimingOptions {
    fn default() -> Self {
        TimingOptions {
            min_rounds: 3,
            max_rounds: 25,
            loop_time: Duration::from_secs(4),
            statement_budget: None,
        }
    }
}

/// Two queries of one measured batch that a check compares by their timings, and the
/// ratio of medians its verdict turns on. A query the check names that is measured in
/// the other batch (on the other side of the migration) is `None`: nothing measured
/// here separates a query from it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Comparison {
    pub queries: [Option<usize>; 2],
    pub factor: f64,
}

/// The comparisons `checks` (those judging the cell measured) make between the queries
/// of one batch, named in order in `names`. A factor under 1 counts as 1, where two
/// queries would each be "slower" than the other.
pub fn comparisons(checks: &[&dyn Check], names: &[&str]) -> Vec<Comparison> {
    let index = |name: &str| names.iter().position(|known| *known == name);
    checks
        .iter()
        .filter_map(|check| {
            let factor = check.timing_factor()?.max(1.0);
            let queries = check.queries();
            let [first, second] = queries.as_slice() else {
                return None;
            };
            let queries = [index(first), index(second)];
            queries
                .iter()
                .any(Option::is_some)
                .then_some(Comparison { queries, factor })
        })
        .collect()
}

/// Times every query not marked in `skipped`, returning one `Timing` per query in
/// the order given. A run past the time `budget` ends that query's sampling with
/// [`SamplingStop::TimedOut`] and the loop goes on with the others.
pub async fn time_queries(
    client: &Client,
    queries: &[BoundQuery],
    skipped: &[bool],
    options: TimingOptions,
    budget: Duration,
    comparisons: &[Comparison],
) -> Result<Vec<Timing>> {
    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); queries.len()];
    let mut stops: Vec<Option<SamplingStop>> = skipped
        .iter()
        .map(|&skipped| skipped.then_some(SamplingStop::TimedOut))
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
                Err(error) if timed_out(&error, clock.elapsed(), budget) => {
                    stops[index] = Some(SamplingStop::TimedOut);
                }
                Err(error) => return Err(run_error(query, "timing", error)),
            }
        }
        round += 1;
        for (index, stop) in stops.iter_mut().enumerate() {
            if stop.is_none() {
                *stop = early_stop(index, &samples, comparisons, &options);
            }
        }
        if round >= options.min_rounds {
            let loop_stop = if round >= options.max_rounds {
                Some(SamplingStop::MaxRounds)
            } else if started.elapsed() >= options.loop_time {
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
/// so far (in milliseconds) and the checks' comparisons.
///
/// - No comparison reads it: after `min_rounds` its median is what the report needs.
/// - For every comparison that reads it, its fastest run is more than the
///   comparison's factor times slower than the slowest run of the other query: the
///   ranges do not overlap even stretched by the factor, so the ratio of medians is
///   past it and more runs of the slow query cannot bring it back. The faster query
///   goes on, as its median is the one a verdict reads closely.
///
/// Before `min_rounds` only a query too slow to repeat (its runs have taken the loop's
/// time) may stop, and only when separated by [`UNREPEATED_MARGIN`] times the factor,
/// as the spread of its runs is not known yet. Being slow alone never stops it: one
/// run of each of two close queries would decide a verdict on noise, and a fast query
/// costs too little to cut short on a noisy run.
pub fn early_stop(
    index: usize,
    samples: &[Vec<f64>],
    comparisons: &[Comparison],
    options: &TimingOptions,
) -> Option<SamplingStop> {
    let min_rounds = options.min_rounds;
    let own = &samples[index];
    let partners: Vec<(Option<usize>, f64)> = comparisons
        .iter()
        .filter_map(|comparison| match comparison.queries {
            [Some(first), other] if first == index => Some((other, comparison.factor)),
            [other, Some(second)] if second == index => Some((other, comparison.factor)),
            _ => None,
        })
        .collect();
    if partners.is_empty() {
        return (own.len() >= min_rounds).then_some(SamplingStop::NotCompared);
    }
    let too_slow_to_repeat = own.iter().sum::<f64>() >= options.loop_time.as_secs_f64() * 1000.0;
    let fastest = own.iter().copied().fold(f64::INFINITY, f64::min);
    let separated_from = |(partner, factor): &(Option<usize>, f64)| {
        let Some(runs) = partner.map(|partner| &samples[partner]) else {
            return false;
        };
        let margin = match own.len().min(runs.len()) >= min_rounds {
            true => 1.0,
            false if too_slow_to_repeat => UNREPEATED_MARGIN,
            false => return false,
        };
        !own.is_empty()
            && !runs.is_empty()
            && fastest > factor * margin * runs.iter().copied().fold(0.0, f64::max)
    };
    partners
        .iter()
        .all(separated_from)
        .then(|| SamplingStop::Separated {
            factor: partners
                .iter()
                .map(|(_, factor)| *factor)
                .fold(1.0, f64::max),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> TimingOptions {
        TimingOptions {
            min_rounds: 3,
            max_rounds: 25,
            loop_time: Duration::from_secs(4),
            statement_budget: None,
        }
    }

    /// Queries 0 and 1 compared by `factor`.
    fn pair(factor: f64) -> Vec<Comparison> {
        vec![Comparison {
            queries: [Some(0), Some(1)],
            factor,
        }]
    }

    #[test]
    fn a_query_slower_by_the_factor_in_every_run_stops_after_min_rounds() {
        let samples = vec![vec![120.0, 100.0, 130.0], vec![1.0, 9.0, 2.0]];
        assert_eq!(
            early_stop(0, &samples, &pair(10.0), &options()),
            Some(SamplingStop::Separated { factor: 10.0 })
        );
        assert_eq!(
            early_stop(1, &samples, &pair(10.0), &options()),
            None,
            "the faster query is sampled on"
        );
    }

    #[test]
    fn overlapping_spreads_keep_sampling() {
        // The medians are 100x apart, but one run of the fast query was slow: the
        // spread does not rule out a ratio under the factor.
        let outlier = vec![vec![100.0, 100.0, 100.0], vec![1.0, 1.0, 50.0]];
        assert_eq!(early_stop(0, &outlier, &pair(10.0), &options()), None);
        let within = vec![vec![100.0, 100.0, 100.0], vec![20.0, 20.0, 20.0]];
        assert_eq!(early_stop(0, &within, &pair(10.0), &options()), None);
    }

    /// Before min_rounds only a clear separation stops a query: a slow query is not
    /// cut to one run when its rival is close, as one noisy run would then decide.
    #[test]
    fn being_slow_alone_never_stops_a_query_before_min_rounds() {
        let close = vec![vec![4_100.0], vec![4_400.0]];
        assert_eq!(early_stop(0, &close, &pair(1.1), &options()), None);
        assert_eq!(early_stop(1, &close, &pair(1.1), &options()), None);
        // Past the ratio by one run, but not by the margin an unknown spread needs.
        let barely = vec![vec![4_100.0], vec![4_600.0]];
        assert_eq!(early_stop(1, &barely, &pair(1.1), &options()), None);
        let two_runs = vec![vec![1_900.0, 2_100.0], vec![1_000.0, 1_000.0]];
        assert_eq!(early_stop(0, &two_runs, &pair(1.5), &options()), None);
        // Far past the ratio, but one noisy run of a fast query is no reason to stop.
        let noisy = vec![vec![0.55, 0.5], vec![4.1]];
        assert_eq!(early_stop(1, &noisy, &pair(2.0), &options()), None);
    }

    #[test]
    fn a_clearly_separated_slow_query_is_timed_once() {
        let one_slow_run = vec![vec![40_000.0], vec![0.3]];
        assert_eq!(
            early_stop(0, &one_slow_run, &pair(100.0), &options()),
            Some(SamplingStop::Separated { factor: 100.0 })
        );
        assert_eq!(early_stop(1, &one_slow_run, &pair(100.0), &options()), None);
    }

    /// A query stops for its separation from the queries checks compare it with, not
    /// from any other query; a query no check compares stops after min_rounds.
    #[test]
    fn only_the_compared_pairs_decide_the_early_stop() {
        // speedup new vs old at_least 2; new2 is compared with nothing.
        let samples = vec![
            vec![100.0, 100.0, 100.0],
            vec![60.0, 60.0, 60.0],
            vec![1.0, 1.0, 1.0],
        ];
        let speedup = pair(2.0);
        assert_eq!(early_stop(0, &samples, &speedup, &options()), None);
        assert_eq!(early_stop(1, &samples, &speedup, &options()), None);
        assert_eq!(
            early_stop(2, &samples, &speedup, &options()),
            Some(SamplingStop::NotCompared)
        );
        let early = vec![vec![100.0], vec![60.0], vec![1.0]];
        assert_eq!(early_stop(2, &early, &speedup, &options()), None);
        // Separated from one compared query but not the other: sampled on.
        let both = vec![
            Comparison {
                queries: [Some(0), Some(1)],
                factor: 2.0,
            },
            Comparison {
                queries: [Some(2), Some(0)],
                factor: 2.0,
            },
        ];
        let samples = vec![vec![100.0; 3], vec![10.0; 3], vec![60.0; 3]];
        assert_eq!(early_stop(0, &samples, &both, &options()), None);
    }

    #[test]
    fn a_query_without_runs_or_measured_elsewhere_separates_nothing() {
        let timed_out = vec![vec![], vec![1.0, 1.0, 1.0]];
        assert_eq!(early_stop(1, &timed_out, &pair(10.0), &options()), None);
        let across = vec![Comparison {
            queries: [Some(0), None],
            factor: 10.0,
        }];
        let samples = vec![vec![100.0; 3]];
        assert_eq!(early_stop(0, &samples, &across, &options()), None);
    }

    #[test]
    fn comparisons_name_the_batch_queries_each_timing_check_reads() {
        let table = |text: &str| toml::from_str::<toml::Table>(text).unwrap();
        let speedup = crate::judge::parse_check(
            "speedup",
            table("baseline = \"old\"\ncandidate = \"new\"\nat_least = 100.0"),
        )
        .unwrap();
        let slowdown = crate::judge::parse_check(
            "no-slowdown",
            table("baseline = \"old\"\ncandidate = \"after\"\nmax_ratio = 1.1"),
        )
        .unwrap();
        let walk =
            crate::judge::parse_check("ordered-walk", table("query = \"old\"\ncolumn = \"t.c\""))
                .unwrap();
        let checks = [speedup.as_ref(), slowdown.as_ref(), walk.as_ref()];
        assert_eq!(
            comparisons(&checks, &["new", "old"]),
            vec![
                Comparison {
                    queries: [Some(1), Some(0)],
                    factor: 100.0
                },
                Comparison {
                    queries: [Some(1), None],
                    factor: 1.1
                },
            ]
        );
    }
}
