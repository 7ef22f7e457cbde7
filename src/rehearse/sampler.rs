//! The lock sampler: a task on a connection of its own that reads the server's lock
//! table every few milliseconds (one query joining `pg_locks`, `pg_stat_activity` and
//! `pg_blocking_pids()`), so that a rehearsal can say which lock each step held on
//! which relation, from when to when, and who waited behind it.
//!
//! Every sample is stamped on one monotonic clock: the time since a start instant the
//! caller gives, which the traffic's timings share, so that a chart lines lock holds
//! up with latencies. A hold or a wait is seen from the first sample that shows it to
//! the last, so a span is short of the truth by less than one interval at each end.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;
use tokio_postgres::Client;

use crate::{Error, Result};

/// The interval the issue asks for: short against the stalls a rehearsal looks for
/// (a quarter of a second), long against the query's own cost.
pub const DEFAULT_INTERVAL: Duration = Duration::from_millis(10);

/// Relation locks on user relations (system catalogs, below the first normal OID
/// 16384, are locked by every statement's catalog reads and say nothing about a
/// migration) in the sampled database (`$2`), and every lock a session of that
/// database waits for, of every session but the sampler's own. The sessions are
/// looked up only when someone waits, since reading every backend's activity on
/// every tick costs more than the lock table itself. `$waited` is how long a waiter has waited, from
/// `pg_locks.waitstart` (PostgreSQL 14 and later).
///
/// While nobody waits, the weak locks that every read and write takes (ACCESS SHARE,
/// ROW SHARE, ROW EXCLUSIVE) are left out except for the sessions in `$1` (the
/// migration's): they block nobody then, and leaving them out keeps each reading
/// short (no name lookup for each of the traffic's index locks) and its answer small.
/// When anyone waits, every lock is kept, so that who held what is known.
const SAMPLE_SQL: &str = "\
WITH l AS MATERIALIZED (
    SELECT l.pid, l.locktype, l.mode, l.granted, l.relation,
           CASE WHEN NOT l.granted THEN $waited END AS waited
    FROM pg_locks l
    WHERE l.pid <> pg_backend_pid()
      AND ((l.locktype = 'relation' AND l.database = $2 AND l.relation >= 16384::oid)
           OR (NOT l.granted
               AND l.pid IN (SELECT pid FROM pg_stat_get_activity(NULL) WHERE datid = $2)))
)
SELECT pid, locktype, mode, granted,
       CASE WHEN relation IS NOT NULL THEN relation::regclass::text END,
       CASE WHEN NOT granted THEN pg_blocking_pids(pid) END,
       waited
FROM l
WHERE NOT granted
   OR mode NOT IN ('AccessShareLock', 'RowShareLock', 'RowExclusiveLock')
   OR pid = ANY($1)
   OR EXISTS (SELECT FROM l AS w WHERE NOT w.granted)";

/// One lock one session held or awaited when the lock table was read.
#[derive(Debug, Clone, PartialEq)]
pub struct LockSample {
    /// When the lock table was read, on the shared clock (the midpoint between
    /// sending the query and its answer).
    pub at: Duration,
    pub pid: i32,
    /// `pg_locks.locktype`: `relation`, `transactionid`, `tuple` …
    pub locktype: String,
    /// `pg_locks.mode` (`AccessExclusiveLock`); see [`super::LockMode::from_pg_name`].
    pub mode: String,
    /// The relation's name as `regclass` prints it, for relation locks.
    pub relation: Option<String>,
    pub granted: bool,
    /// For a waiter, the sessions it waits for (`pg_blocking_pids`): those holding a
    /// conflicting lock and those ahead of it in the queue.
    pub blocking_pids: Vec<i32>,
    /// For a waiter, when it began to wait, on the shared clock (PostgreSQL 14 and
    /// later; `None` before, and for a moment after a wait starts): `at` less the
    /// wait's age at the server, so off by up to half the reading's query time.
    pub wait_start: Option<Duration>,
}

/// One reading of the lock table.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tick {
    /// When, on the shared clock (as [`LockSample::at`]).
    pub at: Duration,
    /// How long the query took, from sending it to its last row.
    pub query_time: Duration,
}

/// What a sampler recorded from its start to its stop.
#[derive(Debug, Clone, PartialEq)]
pub struct LockRecording {
    pub requested_interval: Duration,
    pub ticks: Vec<Tick>,
    pub samples: Vec<LockSample>,
}

/// How regularly the sampler read the lock table and what each reading cost.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IntervalStats {
    pub ticks: usize,
    pub median_gap: Duration,
    pub p99_gap: Duration,
    pub max_gap: Duration,
    pub median_query: Duration,
    pub p99_query: Duration,
}

/// A lock one session held (or awaited) without a break, over consecutive ticks.
#[derive(Debug, Clone, PartialEq)]
pub struct LockSpan {
    pub pid: i32,
    pub locktype: String,
    pub mode: String,
    pub relation: Option<String>,
    pub granted: bool,
    /// The first and last tick that showed it.
    pub first_seen: Duration,
    pub last_seen: Duration,
    /// Every session any of its samples named as blocking it, in order of first mention.
    pub blocking_pids: Vec<i32>,
    /// The earliest wait start its samples gave.
    pub wait_start: Option<Duration>,
}

impl LockSpan {
    /// From the first sample that showed it to the last.
    pub fn seen_for(&self) -> Duration {
        self.last_seen.saturating_sub(self.first_seen)
    }
}

impl LockRecording {
    /// The gaps between consecutive ticks and the query's cost, as median and 99th
    /// percentile (nearest rank); zero for a recording of fewer than two ticks.
    pub fn interval_stats(&self) -> IntervalStats {
        let mut gaps: Vec<Duration> = self
            .ticks
            .windows(2)
            .map(|pair| pair[1].at.saturating_sub(pair[0].at))
            .collect();
        let mut queries: Vec<Duration> = self.ticks.iter().map(|tick| tick.query_time).collect();
        gaps.sort();
        queries.sort();
        IntervalStats {
            ticks: self.ticks.len(),
            median_gap: percentile(&gaps, 0.5),
            p99_gap: percentile(&gaps, 0.99),
            max_gap: gaps.last().copied().unwrap_or_default(),
            median_query: percentile(&queries, 0.5),
            p99_query: percentile(&queries, 0.99),
        }
    }

    /// The recording as spans: each (session, lock type, mode, relation, granted) over
    /// each run of consecutive ticks that showed it, in order of first sight.
    pub fn spans(&self) -> Vec<LockSpan> {
        let mut spans: Vec<LockSpan> = Vec::new();
        // The index of the tick each open span was last seen in, beside the span's index.
        let mut open: Vec<(usize, usize)> = Vec::new();
        let tick_index = |at: Duration| self.ticks.partition_point(|tick| tick.at < at);
        for sample in &self.samples {
            let tick = tick_index(sample.at);
            let continues = open.iter_mut().find(|(span, last_tick)| {
                let span = &spans[*span];
                *last_tick + 1 >= tick
                    && span.pid == sample.pid
                    && span.locktype == sample.locktype
                    && span.mode == sample.mode
                    && span.relation == sample.relation
                    && span.granted == sample.granted
            });
            match continues {
                Some((span, last_tick)) => {
                    *last_tick = tick;
                    let span = &mut spans[*span];
                    span.last_seen = sample.at;
                    for pid in &sample.blocking_pids {
                        if !span.blocking_pids.contains(pid) {
                            span.blocking_pids.push(*pid);
                        }
                    }
                    span.wait_start = match (span.wait_start, sample.wait_start) {
                        (Some(known), Some(new)) => Some(known.min(new)),
                        (known, new) => known.or(new),
                    };
                }
                None => {
                    open.push((spans.len(), tick));
                    spans.push(LockSpan {
                        pid: sample.pid,
                        locktype: sample.locktype.clone(),
                        mode: sample.mode.clone(),
                        relation: sample.relation.clone(),
                        granted: sample.granted,
                        first_seen: sample.at,
                        last_seen: sample.at,
                        blocking_pids: sample.blocking_pids.clone(),
                        wait_start: sample.wait_start,
                    });
                }
            }
            // A span not seen in the tick before this one has ended.
            open.retain(|(_, last_tick)| *last_tick + 1 >= tick);
        }
        spans
    }
}

/// The nearest-rank percentile `q` of sorted `values`; zero for none.
pub(super) fn percentile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// A running sampler; [`LockSampler::stop`] ends it and hands back what it recorded.
pub struct LockSampler {
    stop: Arc<AtomicBool>,
    task: JoinHandle<Result<LockRecording>>,
    backend_pid: i32,
}

impl LockSampler {
    /// Starts sampling on `client`, which the sampler keeps for itself, every
    /// `interval`, stamping samples with the time since `start`. Fails before the
    /// first tick if the server refuses the query.
    pub async fn start(client: Client, start: Instant, interval: Duration) -> Result<LockSampler> {
        LockSampler::start_watching(client, start, interval, Vec::new()).await
    }

    /// As [`LockSampler::start`], keeping every lock of the sessions `watched` (the
    /// migration's) in every reading, weak ones included.
    pub async fn start_watching(
        client: Client,
        start: Instant,
        interval: Duration,
        watched: Vec<i32>,
    ) -> Result<LockSampler> {
        let facts = client
            .query_one(
                "SELECT current_setting('server_version_num')::int, pg_backend_pid(), \
                        oid FROM pg_database WHERE datname = current_database()",
                &[],
            )
            .await
            .map_err(Error::database("reading the sampler's server version"))?;
        let (version, backend_pid, database): (i32, i32, tokio_postgres::types::Oid) =
            (facts.get(0), facts.get(1), facts.get(2));
        // No reading may hang the rehearsal; the session is named for whoever looks
        // at pg_stat_activity meanwhile.
        client
            .batch_execute(
                "SET statement_timeout = '5s'; SET application_name = 'plancheck lock sampler'",
            )
            .await
            .map_err(Error::database("setting up the lock sampler's session"))?;
        let waited = if version >= 140_000 {
            "extract(epoch FROM clock_timestamp() - l.waitstart)::float8"
        } else {
            "NULL::float8"
        };
        let statement = client
            .prepare(&SAMPLE_SQL.replace("$waited", waited))
            .await
            .map_err(Error::database("preparing the lock sampler's query"))?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let task = tokio::spawn(async move {
            let mut recording = LockRecording {
                requested_interval: interval,
                ticks: Vec::new(),
                samples: Vec::new(),
            };
            let mut ticker = tokio::time::interval(interval);
            // A reading that comes late is not made up for with a burst of readings.
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            while !stopped.load(Ordering::Acquire) {
                ticker.tick().await;
                let sent = start.elapsed();
                let rows = client
                    .query(&statement, &[&watched, &database])
                    .await
                    .map_err(Error::database("sampling pg_locks"))?;
                let answered = start.elapsed();
                let at = sent + (answered - sent) / 2;
                recording.ticks.push(Tick {
                    at,
                    query_time: answered - sent,
                });
                for row in rows {
                    let waited: Option<f64> = row.get(6);
                    recording.samples.push(LockSample {
                        at,
                        pid: row.get(0),
                        locktype: row.get(1),
                        mode: row.get(2),
                        granted: row.get(3),
                        relation: row.get(4),
                        blocking_pids: row.get::<_, Option<Vec<i32>>>(5).unwrap_or_default(),
                        wait_start: waited
                            .filter(|seconds| seconds.is_finite() && *seconds >= 0.0)
                            .map(|seconds| at.saturating_sub(Duration::from_secs_f64(seconds))),
                    });
                }
            }
            Ok(recording)
        });
        Ok(LockSampler {
            stop,
            task,
            backend_pid,
        })
    }

    /// The sampler's own session, which it leaves out of its samples.
    pub fn backend_pid(&self) -> i32 {
        self.backend_pid
    }

    /// Stops after the reading under way and returns the recording.
    pub async fn stop(mut self) -> Result<LockRecording> {
        self.stop.store(true, Ordering::Release);
        (&mut self.task)
            .await
            .map_err(|error| Error::Infrastructure(format!("the lock sampler failed: {error}")))?
    }
}

impl Drop for LockSampler {
    /// A sampler dropped without `stop` (an error or an interrupt elsewhere) still
    /// ends after its reading under way, and its session with it.
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(millis: u64) -> Duration {
        Duration::from_millis(millis)
    }

    fn sample(at: u64, pid: i32, granted: bool) -> LockSample {
        LockSample {
            at: ms(at),
            pid,
            locktype: "relation".into(),
            mode: if granted {
                "AccessExclusiveLock".into()
            } else {
                "AccessShareLock".into()
            },
            relation: Some("t".into()),
            granted,
            blocking_pids: if granted { vec![] } else { vec![1] },
            wait_start: (!granted).then(|| ms(at - 3)),
        }
    }

    #[test]
    fn spans_join_consecutive_ticks_and_break_where_a_tick_missed_the_lock() {
        let ticks = (0..6)
            .map(|index| Tick {
                at: ms(10 * index),
                query_time: ms(1),
            })
            .collect();
        // pid 1 holds in every tick; pid 2 waits in ticks 1-2, is gone in 3, waits again in 4.
        let mut samples = Vec::new();
        for tick in 0..6 {
            samples.push(sample(10 * tick, 1, true));
            if [1, 2, 4].contains(&tick) {
                samples.push(sample(10 * tick, 2, false));
            }
        }
        let recording = LockRecording {
            requested_interval: ms(10),
            ticks,
            samples,
        };
        let spans: Vec<(i32, Duration, Duration, Option<Duration>)> = recording
            .spans()
            .iter()
            .map(|span| (span.pid, span.first_seen, span.seen_for(), span.wait_start))
            .collect();
        assert_eq!(
            spans,
            [
                (1, ms(0), ms(50), None),
                (2, ms(10), ms(10), Some(ms(7))),
                (2, ms(40), ms(0), Some(ms(37))),
            ]
        );
        let stats = recording.interval_stats();
        assert_eq!(
            (stats.median_gap, stats.p99_gap, stats.ticks),
            (ms(10), ms(10), 6)
        );
    }

    #[test]
    fn percentiles_take_the_nearest_rank() {
        let values: Vec<Duration> = (1..=100).map(ms).collect();
        assert_eq!(percentile(&values, 0.5), ms(50));
        assert_eq!(percentile(&values, 0.99), ms(99));
        assert_eq!(percentile(&values[..1], 0.99), ms(1));
        assert_eq!(percentile(&[], 0.5), Duration::ZERO);
    }
}
