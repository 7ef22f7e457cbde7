//! What the lock sampler costs the traffic: the writing streams run flat out in
//! alternating phases without and with the sampler, on the database as the last run
//! left it, and the throughputs are compared.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::sampler::{DEFAULT_INTERVAL, LockSampler};
use super::steps::written_table;
use super::traffic::{Execution, Pools, Stream, Traffic};
use crate::error::{Error, Result};
use crate::outcome::rehearsal::SamplerOverhead;
use crate::pipeline::PreparedDatabase;
use crate::progress::Progress;
use crate::provision::ScratchDatabase;

/// How long the traffic's last executions may take to finish once it is stopped
/// before they are cancelled.
const STOP_GRACE: Duration = Duration::from_secs(30);
/// How long each phase of the sampler's cost measurement runs; the phases alternate
/// without and with the sampler, [`OVERHEAD_PHASES`] of each, so that a drift of the
/// machine's speed over the measurement (another process, the server's own
/// housekeeping) falls on both sides alike.
const OVERHEAD_PHASE: Duration = Duration::from_secs(1);
const OVERHEAD_PHASES: usize = 6;

/// The traffic's throughput flat out in alternating phases without and with the
/// sampler, on the database as the last run left it (migrated, so every stream can
/// run): the sampler's cost is the median over the pairs of phases of the ratio.
pub async fn sampler_overhead(
    prepared: &PreparedDatabase,
    streams: &[Stream],
    pools: &Arc<Pools>,
    seed: u64,
    progress: Progress,
) -> Result<SamplerOverhead> {
    let phase = progress.phase("rehearsal: sampler cost");
    let scratch = prepared
        .scratch()
        .ok_or_else(|| Error::Infrastructure("the rehearsal's database is gone".into()))?;
    let flat_out = flat_out(streams);
    let mut rates = (Vec::new(), Vec::new());
    let mut intervals = Vec::new();
    for with_sampler in [false, true].repeat(OVERHEAD_PHASES) {
        let (rate, interval) = measure_phase(scratch, &flat_out, pools, seed, with_sampler).await?;
        match interval {
            Some(interval) => {
                rates.1.push(rate);
                intervals.push(interval);
            }
            None => rates.0.push(rate),
        }
    }
    phase.finish();
    // Medians, and the median of each pair's ratio (a phase disturbed by something
    // else on the machine moves one pair, not the figure).
    let ratios: Vec<f64> = rates
        .0
        .iter()
        .zip(&rates.1)
        .filter(|(without, _)| **without > 0.0)
        .map(|(without, with)| with / without)
        .collect();
    intervals.sort();
    Ok(SamplerOverhead {
        without_per_s: median(rates.0),
        with_per_s: median(rates.1),
        ratio: median(ratios),
        median_interval_ms: intervals
            .get(intervals.len() / 2)
            .map_or(0.0, |interval| interval.as_secs_f64() * 1000.0),
    })
}

/// The streams measured, each asked for far more than it can run, from the start:
/// the writers when there are any, since a slow reader's count in a second says
/// nothing.
fn flat_out(streams: &[Stream]) -> Vec<Stream> {
    let writers: Vec<&Stream> = streams
        .iter()
        .filter(|stream| written_table(&stream.sql).is_some())
        .collect();
    let measured: Vec<&Stream> = match writers.is_empty() {
        true => streams.iter().collect(),
        false => writers,
    };
    measured
        .into_iter()
        .map(|stream| Stream {
            rate: 1.0e6,
            after_steps: 0,
            ..stream.clone()
        })
        .collect()
}

/// One phase: the statements per second that finished within it, and, with the
/// sampler, its median interval.
async fn measure_phase(
    scratch: &ScratchDatabase,
    flat_out: &[Stream],
    pools: &Arc<Pools>,
    seed: u64,
    with_sampler: bool,
) -> Result<(f64, Option<Duration>)> {
    let clock = Instant::now();
    let sampler = match with_sampler {
        true => Some(LockSampler::start(scratch.connect().await?, clock, DEFAULT_INTERVAL).await?),
        false => None,
    };
    let (_done, seen) = watch::channel(0usize);
    let traffic = Traffic::start(scratch, flat_out, Arc::clone(pools), seed, clock, seen).await?;
    tokio::time::sleep(OVERHEAD_PHASE).await;
    let stopping = clock.elapsed();
    let executions: Vec<Execution> = traffic.stop(STOP_GRACE).await;
    // What finished within the phase; the executions under way at its end are not.
    let ok = executions
        .iter()
        .filter(|execution| execution.error.is_none() && execution.finished <= stopping)
        .count();
    let rate = ok as f64 / OVERHEAD_PHASE.as_secs_f64();
    let interval = match sampler {
        Some(sampler) => Some(sampler.stop().await?.interval_stats().median_gap),
        None => None,
    };
    Ok((rate, interval))
}

/// The median of `values`; 0 for none.
fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => 0.0,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}
