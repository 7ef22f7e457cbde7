//! The CLI's timing: a short loop that runs the plain queries (not EXPLAIN, which adds
//! instrumentation overhead) in interleaved rounds, alternating their order each round,
//! so that both sides of a comparison see the same cache and the same machine noise.
//! Comparisons use medians. For statistically careful numbers use `cargo bench`.

use std::time::{Duration, Instant};

use tokio_postgres::Client;

use super::{BoundQuery, run_error};
use crate::error::Result;
use crate::outcome::Timing;

/// How long the loop runs.
#[derive(Debug, Clone, Copy)]
pub struct TimingOptions {
    /// Rounds always run, whatever the budget.
    pub min_rounds: usize,
    /// Rounds never exceeded.
    pub max_rounds: usize,
    /// Rounds continue past `min_rounds` until this much time has passed.
    pub budget: Duration,
}

impl Default for TimingOptions {
    fn default() -> Self {
        TimingOptions {
            min_rounds: 3,
            max_rounds: 25,
            budget: Duration::from_secs(4),
        }
    }
}

/// Times every query, returning one `Timing` per query in the order given.
pub async fn time_queries(
    client: &Client,
    queries: &[BoundQuery],
    options: TimingOptions,
) -> Result<Vec<Timing>> {
    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); queries.len()];
    let started = Instant::now();
    let mut round = 0;
    while round < options.min_rounds
        || (round < options.max_rounds && started.elapsed() < options.budget)
    {
        let mut order: Vec<usize> = (0..queries.len()).collect();
        if round % 2 == 1 {
            order.reverse();
        }
        for index in order {
            let query = &queries[index];
            let params = query.params();
            let clock = Instant::now();
            client
                .query(&query.statement, &params)
                .await
                .map_err(|error| run_error(query, "timing", error))?;
            samples[index].push(clock.elapsed().as_secs_f64() * 1000.0);
        }
        round += 1;
    }
    Ok(samples
        .into_iter()
        .map(|samples_ms| Timing { samples_ms })
        .collect())
}
