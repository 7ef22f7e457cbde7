//! What the traffic felt, from what a run recorded: each step's window on the clock,
//! every traffic execution, and the lock sampler's spans. Pure functions over plain
//! data, so each rule is tested without a server.
//!
//! A traffic execution's *latency* runs from when it was due to when it finished. Its
//! *stall* is the time it spent waiting on a lock: its own waits as the sampler saw
//! them, and the time it queued on its connection behind an earlier execution's wait
//! (see [`Observed::stalls`]). Limits judge stalls, so a reader that is slow on its
//! own, or a client that starts an execution late, is not stalled, and a writer
//! waiting behind a lock, or queued behind one that waited, is.

mod growth;
mod step;

use std::time::Duration;

use super::LockMode;
use super::sampler::{LockSpan, percentile};
use super::steps::Step;
use super::traffic::Execution;
use crate::outcome::rehearsal::{
    Latency, LatencyPoint, StepOutcome, Timeline, TimelineLock, TrafficStream,
};

pub use growth::growth;

/// A step's wait or hold shorter than this is not worth a sentence.
const WORTH_SAYING: Duration = Duration::from_millis(10);
/// The exponent above which a step is said to grow faster than the table: clear of
/// the noise of two timings on a busy machine (linear scans measured 0.93-1.36
/// between 250,000 and 1,000,000 rows under the shipped rehearsal's traffic), well
/// short of the square.
pub const SUPER_LINEAR: f64 = 1.5;
/// Steps shorter than this at the largest scale are not judged for growth: their
/// timings are mostly fixed costs.
pub(super) const GROWTH_FLOOR_MS: f64 = 20.0;
/// A step that spent this share of its time waiting for locks at some scale is not
/// judged for growth.
pub(super) const WAITED_SHARE: f64 = 0.1;

/// One step as it ran.
#[derive(Debug, Clone)]
pub struct StepRun {
    pub step: Step,
    pub start: Duration,
    pub end: Duration,
    pub rows: Option<u64>,
    pub error: Option<String>,
    /// The SQLSTATE of its error, when the server gave one.
    pub sqlstate: Option<String>,
    /// The step ran past its time budget (its error says so too).
    pub timed_out: bool,
    /// For `ALTER TABLE … SET NOT NULL`: the validated CHECK constraint that proved
    /// before the step that the column has no NULL (`Some(None)`: none did).
    pub not_null_proof: Option<Option<String>>,
}

/// A traffic stream as the analysis names it.
#[derive(Debug, Clone)]
pub struct StreamInfo {
    pub name: String,
    pub sql: String,
    pub rate: f64,
    pub connections: u32,
    /// The summary of the step it started after.
    pub started_after: Option<String>,
    /// The table its statement writes, if it writes one.
    pub table: Option<String>,
}

/// Everything one run recorded.
#[derive(Debug, Clone)]
pub struct Observed<'a> {
    pub steps: &'a [StepRun],
    /// The session that ran the steps.
    pub step_pid: i32,
    pub streams: &'a [StreamInfo],
    /// When each stream started, if it did.
    pub starts: &'a [Option<Duration>],
    /// Each traffic connection's session and its stream.
    pub pids: &'a [(i32, usize)],
    pub executions: &'a [Execution],
    pub spans: &'a [LockSpan],
    /// The sampler's interval: a wait is seen to end within one of its last sight.
    pub interval: Duration,
    /// Relations that are tables (not indexes or sequences).
    pub tables: &'a [String],
    /// When the traffic stopped.
    pub end: Duration,
    pub max_stall: Duration,
}

/// Milliseconds to the microsecond: finer than any clock here is worth, and it keeps
/// the JSON of tens of thousands of executions small.
fn ms(duration: Duration) -> f64 {
    (duration.as_secs_f64() * 1_000_000.0).round() / 1000.0
}

/// The statement's first line, at most 90 characters.
pub fn summary(sql: &str) -> String {
    let line = sql
        .lines()
        .map(str::trim)
        .find(|line| !line.is_empty() && !line.starts_with("--"))
        .unwrap_or("");
    let flat: String = line.split_whitespace().collect::<Vec<_>>().join(" ");
    match flat.chars().count() > 90 {
        true => format!("{}…", flat.chars().take(89).collect::<String>()),
        false => flat,
    }
}

impl Observed<'_> {
    /// Who a session is: a stream's name, `step N` for the migration's session at
    /// `at`, or `pid N`.
    fn who(&self, pid: i32, at: Duration) -> String {
        if pid == self.step_pid {
            return match self.step_at(at) {
                Some(index) => format!("step {}", index + 1),
                None => "the migration".into(),
            };
        }
        match self.pids.iter().find(|(seen, _)| *seen == pid) {
            Some((_, stream)) => self.streams[*stream].name.clone(),
            None => format!("pid {pid}"),
        }
    }

    /// The step the migration's session was in at `at`: the last one started by then,
    /// give or take half a sampling interval (a sample is stamped at its query's
    /// midpoint, so a step of a millisecond can be seen just before it started).
    fn step_at(&self, at: Duration) -> Option<usize> {
        let at = at + self.interval / 2;
        self.steps.iter().rposition(|step| step.start <= at)
    }

    fn pids_of(&self, stream: usize) -> Vec<i32> {
        self.pids
            .iter()
            .filter(|(_, of)| *of == stream)
            .map(|(pid, _)| *pid)
            .collect()
    }

    /// The sessions' lock waits overlapping `from..to`.
    fn waits_of<'s>(
        &'s self,
        pids: &'s [i32],
        from: Duration,
        to: Duration,
    ) -> impl Iterator<Item = &'s LockSpan> + 's {
        self.spans.iter().filter(move |span| {
            pids.iter()
                .any(|pid| self.is_wait_during(span, *pid, from, to))
        })
    }

    /// Whether `span` is a lock wait of `pid` that overlaps `from..to`.
    fn is_wait_during(&self, span: &LockSpan, pid: i32, from: Duration, to: Duration) -> bool {
        !span.granted && span.pid == pid && span.first_seen <= to && self.wait_end(span) >= from
    }

    fn wait_begin(&self, span: &LockSpan) -> Duration {
        span.wait_start
            .unwrap_or(span.first_seen)
            .min(span.first_seen)
    }

    fn wait_end(&self, span: &LockSpan) -> Duration {
        span.last_seen + self.interval / 2
    }

    /// When `execution`'s own lock wait began, if it waited.
    fn wait_began(&self, execution: &Execution) -> Option<Duration> {
        let pids = [execution.pid];
        self.waits_of(&pids, execution.started, execution.finished)
            .map(|span| self.wait_begin(span).max(execution.started))
            .min()
    }

    /// How long `execution` waited for locks while it ran, as the sampler saw it.
    fn lock_wait(&self, execution: &Execution) -> Duration {
        let mut waited = Duration::ZERO;
        let pids = [execution.pid];
        for span in self.waits_of(&pids, execution.started, execution.finished) {
            let begin = self.wait_begin(span).max(execution.started);
            let end = self.wait_end(span).min(execution.finished);
            waited += end.saturating_sub(begin);
        }
        waited.min(execution.finished.saturating_sub(execution.started))
    }

    /// Every execution's stall, in `executions`' order: the time it spent waiting on
    /// a lock, its own or one an earlier execution on its connection waited for. Each
    /// connection's executions are replayed in order with their lock waits taken out
    /// and nothing else changed: an execution becomes ready when it is due or when the
    /// one before it finished, and starts as long after that as it did in fact (the
    /// client's own lateness: a timer that fired late, a busy machine). The stall is
    /// the actual finish less the replayed one, so it is zero for every execution of a
    /// connection on which no lock was waited for; a writer queued behind an earlier
    /// one that waited for a lock is stalled, and a reader that falls behind its rate
    /// because it got slower on its own is not.
    pub fn stalls(&self) -> Vec<Duration> {
        self.replay().0
    }

    /// Every execution's stall (see [`Observed::stalls`]) and when the trouble behind
    /// it began: its own lock wait; for one queued behind an earlier execution that
    /// waited, that one's; with neither, when it was due.
    fn replay(&self) -> (Vec<Duration>, Vec<Duration>) {
        let mut order: Vec<usize> = (0..self.executions.len()).collect();
        order.sort_by_key(|index| {
            let execution = &self.executions[*index];
            (execution.pid, execution.started)
        });
        let mut stalls = vec![Duration::ZERO; self.executions.len()];
        let mut blames = vec![Duration::ZERO; self.executions.len()];
        let mut connection = None;
        // When the connection's previous execution finished, in fact and replayed.
        let (mut free, mut replayed_free) = (Duration::ZERO, Duration::ZERO);
        let mut inherited = None;
        for index in order {
            let execution = &self.executions[index];
            if connection != Some(execution.pid) {
                connection = Some(execution.pid);
                (free, replayed_free) = (Duration::ZERO, Duration::ZERO);
                inherited = None;
            }
            let ready = execution.due.max(free);
            let replayed_ready = execution.due.max(replayed_free);
            let lateness = execution.started.saturating_sub(ready);
            let work = execution
                .finished
                .saturating_sub(execution.started)
                .saturating_sub(self.lock_wait(execution));
            let replayed = replayed_ready + lateness + work;
            let stall = execution.finished.saturating_sub(replayed);
            let blame = match (self.wait_began(execution), inherited) {
                (Some(began), _) => began,
                (None, Some(earlier)) if !stall.is_zero() => earlier,
                _ => execution.due,
            };
            inherited = (!stall.is_zero()).then_some(blame);
            stalls[index] = stall;
            blames[index] = blame;
            (free, replayed_free) = (execution.finished, replayed);
        }
        (stalls, blames)
    }

    /// `execution`'s stall; it must be one of this run's (see [`Observed::stalls`]).
    pub fn stall(&self, execution: &Execution) -> Duration {
        let index = self
            .executions
            .iter()
            .position(|candidate| candidate == execution)
            .expect("an execution of this run");
        self.stalls()[index]
    }

    /// The lock `execution` (or, for a queued one, its connection's earlier
    /// execution) waited for longest, and who was first ahead of it.
    fn stall_cause(&self, execution: &Execution) -> (Option<String>, Option<String>) {
        let pids = [execution.pid];
        let Some(span) = self
            .waits_of(&pids, execution.due, execution.finished)
            .max_by_key(|span| span.seen_for())
        else {
            return (None, None);
        };
        let lock = lock_name(span);
        let first = span.blocking_pids.first().map(|pid| {
            let who = self.who(*pid, span.first_seen);
            match self.is_waiting(*pid, span) {
                true => format!("{who} (itself waiting)"),
                false => who,
            }
        });
        // The step ahead in the queue is the one to name, even when the holder it
        // waits for comes first in pg_blocking_pids' order.
        let first = match span.blocking_pids.contains(&self.step_pid)
            && self.is_waiting(self.step_pid, span)
        {
            true => Some(format!(
                "{} (itself waiting)",
                self.who(self.step_pid, span.first_seen)
            )),
            false => first,
        };
        (Some(lock), first)
    }

    /// Whether `pid` was itself waiting for a lock while `span` was seen.
    fn is_waiting(&self, pid: i32, span: &LockSpan) -> bool {
        self.spans.iter().any(|other| {
            other.pid == pid
                && !other.granted
                && other.first_seen <= span.last_seen
                && other.last_seen >= span.first_seen
        })
    }

    /// Every step that ran, judged.
    pub fn step_outcomes(&self) -> Vec<StepOutcome> {
        let (stalls, blames) = self.replay();
        (0..self.steps.len())
            .map(|index| self.outcome_of(index, &stalls, &blames))
            .collect()
    }

    /// Each stream over the whole run.
    pub fn stream_summaries(&self) -> Vec<TrafficStream> {
        let stalls = self.stalls();
        self.streams
            .iter()
            .enumerate()
            .map(|(index, stream)| {
                let executions: Vec<&Execution> = self
                    .executions
                    .iter()
                    .filter(|execution| execution.stream == index)
                    .collect();
                let start = self.starts.get(index).copied().flatten();
                let ran_for =
                    start.map_or(0.0, |start| (self.end.saturating_sub(start)).as_secs_f64());
                TrafficStream {
                    name: stream.name.clone(),
                    sql: stream.sql.clone(),
                    rate: stream.rate,
                    connections: stream.connections,
                    started_ms: start.map_or(0.0, ms),
                    started_after: stream.started_after.clone(),
                    executed: executions.len() as u64,
                    failed: executions
                        .iter()
                        .filter(|execution| execution.error.is_some())
                        .count() as u64,
                    achieved_rate: match ran_for > 0.0 {
                        true => executions.len() as f64 / ran_for,
                        false => 0.0,
                    },
                    table: stream.table.clone(),
                    rows_acknowledged: executions
                        .iter()
                        .filter(|execution| execution.error.is_none())
                        .map(|execution| execution.rows)
                        .sum(),
                    latency: latency(
                        executions
                            .iter()
                            .map(|execution| execution.finished.saturating_sub(execution.due)),
                    ),
                    max_stall_ms: self
                        .executions
                        .iter()
                        .zip(&stalls)
                        .filter(|(execution, _)| execution.stream == index)
                        .map(|(_, stall)| ms(*stall))
                        .fold(0.0, f64::max),
                }
            })
            .collect()
    }

    /// What the chart draws.
    pub fn timeline(&self) -> Timeline {
        let points = self
            .executions
            .iter()
            .zip(self.stalls())
            .map(|(execution, stall)| LatencyPoint {
                stream: execution.stream,
                due_ms: ms(execution.due),
                latency_ms: ms(execution.finished.saturating_sub(execution.due)),
                stall_ms: ms(stall),
                failed: execution.error.is_some(),
            })
            .collect();
        let holds = self
            .spans
            .iter()
            .filter(|span| {
                let Some(relation) = &span.relation else {
                    return !span.granted;
                };
                let strong = LockMode::from_pg_name(&span.mode)
                    .is_some_and(|mode| mode >= LockMode::RowExclusive);
                match span.granted {
                    true => span.pid == self.step_pid && strong && self.tables.contains(relation),
                    false => true,
                }
            })
            .flat_map(|span| {
                let from = match span.granted {
                    true => span.first_seen,
                    false => self.wait_begin(span),
                };
                // A hold of the migration's session seen across a step's start is cut
                // there, so that each piece is named after the step that held it: two
                // steps' locks sampled with no gap between them merge into one span.
                let mut cuts = vec![from];
                if span.granted && span.pid == self.step_pid {
                    cuts.extend(
                        self.steps
                            .iter()
                            .map(|step| step.start)
                            .filter(|start| *start > from && *start < span.last_seen),
                    );
                }
                let ends: Vec<Duration> = cuts
                    .iter()
                    .skip(1)
                    .copied()
                    .chain([span.last_seen])
                    .collect();
                cuts.into_iter()
                    .zip(ends)
                    .map(|(from, to)| TimelineLock {
                        holder: self.who(span.pid, from),
                        relation: span
                            .relation
                            .clone()
                            .unwrap_or_else(|| span.locktype.clone()),
                        mode: LockMode::from_pg_name(&span.mode)
                            .map_or_else(|| span.mode.clone(), |mode| mode.sql_name().to_owned()),
                        granted: span.granted,
                        from_ms: ms(from),
                        to_ms: ms(to),
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        Timeline {
            duration_ms: ms(self.end),
            points,
            holds,
        }
    }
}

/// `ROW EXCLUSIVE on workflow_runs`, or the lock type for a lock on no relation.
fn lock_name(span: &LockSpan) -> String {
    let mode = LockMode::from_pg_name(&span.mode)
        .map_or_else(|| span.mode.clone(), |mode| mode.sql_name().to_owned());
    match &span.relation {
        Some(relation) => format!("{mode} on {relation}"),
        None => format!("{mode} ({} lock)", span.locktype),
    }
}

/// Nearest-rank percentiles.
pub fn latency(values: impl Iterator<Item = Duration>) -> Latency {
    let mut sorted: Vec<Duration> = values.collect();
    sorted.sort();
    Latency {
        count: sorted.len() as u64,
        p50_ms: ms(percentile(&sorted, 0.5)),
        p99_ms: ms(percentile(&sorted, 0.99)),
        max_ms: ms(sorted.last().copied().unwrap_or_default()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rehearse::steps::{StaticLocks, Transaction};

    fn ms(millis: u64) -> Duration {
        Duration::from_millis(millis)
    }

    fn span(pid: i32, mode: &str, granted: bool, from: u64, to: u64, blocking: &[i32]) -> LockSpan {
        LockSpan {
            pid,
            locktype: "relation".into(),
            mode: mode.into(),
            relation: Some("t".into()),
            granted,
            first_seen: ms(from),
            last_seen: ms(to),
            blocking_pids: blocking.to_vec(),
            wait_start: (!granted).then(|| ms(from)),
        }
    }

    fn execution(stream: usize, pid: i32, due: u64, started: u64, finished: u64) -> Execution {
        Execution {
            stream,
            pid,
            due: ms(due),
            started: ms(started),
            finished: ms(finished),
            rows: 1,
            error: None,
        }
    }

    /// The lock queue of the issue: a reader (pid 20) holds ACCESS SHARE from 0 to
    /// 1300 ms; the step (pid 10) asks for ACCESS EXCLUSIVE at 500 and gets it at 1300,
    /// holding it to 1500; a writer (pid 30) due at 600 waits behind the step until
    /// 1500.
    fn queue() -> (Vec<StepRun>, Vec<StreamInfo>, Vec<Execution>, Vec<LockSpan>) {
        let steps = vec![StepRun {
            step: Step {
                file: "m.sql".into(),
                line: 3,
                sql: "ALTER TABLE t ALTER COLUMN c SET NOT NULL".into(),
                transaction: Transaction::InBlock,
                locks: StaticLocks::Unknown,
            },
            start: ms(500),
            end: ms(1500),
            rows: None,
            error: None,
            sqlstate: None,
            timed_out: false,
            not_null_proof: Some(None),
        }];
        let streams = vec![
            StreamInfo {
                name: "reader".into(),
                sql: String::new(),
                rate: 0.5,
                connections: 1,
                started_after: None,
                table: None,
            },
            StreamInfo {
                name: "writer".into(),
                sql: String::new(),
                rate: 10.0,
                connections: 1,
                started_after: None,
                table: Some("t".into()),
            },
        ];
        let executions = vec![
            execution(0, 20, 0, 0, 1300),
            execution(1, 30, 600, 600, 1500),
            // Queued on the writer's busy connection from 700 to 1500.
            execution(1, 30, 700, 1500, 1501),
            execution(1, 30, 1600, 1600, 1601),
        ];
        let spans = vec![
            span(20, "AccessShareLock", true, 0, 1290, &[]),
            span(10, "AccessExclusiveLock", false, 500, 1290, &[20]),
            span(10, "AccessExclusiveLock", true, 1300, 1490, &[]),
            span(30, "RowExclusiveLock", false, 600, 1490, &[10]),
        ];
        (steps, streams, executions, spans)
    }

    fn observed<'a>(
        steps: &'a [StepRun],
        streams: &'a [StreamInfo],
        executions: &'a [Execution],
        spans: &'a [LockSpan],
        tables: &'a [String],
    ) -> Observed<'a> {
        Observed {
            steps,
            step_pid: 10,
            streams,
            starts: &[Some(Duration::ZERO), Some(Duration::ZERO)],
            pids: &[(20, 0), (30, 1)],
            executions,
            spans,
            interval: ms(10),
            tables,
            end: ms(2000),
            max_stall: ms(250),
        }
    }

    #[test]
    fn a_writer_queued_behind_a_waiting_step_stalls_for_the_readers_rest_and_the_steps_own() {
        let (steps, streams, executions, spans) = queue();
        let tables = vec!["t".to_owned()];
        let observed = observed(&steps, &streams, &executions, &spans, &tables);
        let outcome = &observed.step_outcomes()[0];
        assert_eq!(outcome.locks.len(), 1);
        assert_eq!(outcome.locks[0].mode, "ACCESS EXCLUSIVE");
        assert!(
            (outcome.waited_ms - 795.0).abs() < 1.0,
            "{}",
            outcome.waited_ms
        );
        assert_eq!(outcome.waited_for, ["reader"]);
        let stall = outcome.longest_stall.as_ref().expect("a stall");
        assert_eq!(stall.stream, "writer");
        // The writer due at 600 waited for its lock until 1495; the one due at 700
        // queued on the busy connection until 1500 (800 ms) and waited no more.
        assert!((stall.stall_ms - 895.0).abs() < 2.0, "{}", stall.stall_ms);
        assert_eq!(
            stall.first_in_queue.as_deref(),
            Some("step 1 (itself waiting)")
        );
        assert!((ms_of(observed.stall(&executions[2])) - 800.0).abs() < 1.0);
        assert!(outcome.over_limit);
        // The reader's own 1.3 s is latency, not stall.
        let reader = execution(0, 20, 0, 0, 1300);
        assert_eq!(observed.stall(&reader), Duration::ZERO);
        let text = outcome.explanation.join(" ");
        assert!(
            text.contains(
                "waited 795 ms for ACCESS EXCLUSIVE on t behind reader (ACCESS SHARE held)"
            ),
            "{text}"
        );
        assert!(text.contains("writer stalled up to"), "{text}");
        assert!(text.contains("while it scanned the table: no validated CHECK constraint proves the column has no NULL"), "{text}");
    }

    #[test]
    fn the_writer_that_waited_names_the_step_first_in_its_queue() {
        let (steps, streams, executions, spans) = queue();
        let tables = vec!["t".to_owned()];
        let observed = observed(&steps, &streams, &executions, &spans, &tables);
        let (lock, first) = observed.stall_cause(&executions[1]);
        assert_eq!(lock.as_deref(), Some("ROW EXCLUSIVE on t"));
        assert_eq!(first.as_deref(), Some("step 1 (itself waiting)"));
        // Waited 600-1495: the stall is the wait.
        assert!((ms_of(observed.stall(&executions[1])) - 895.0).abs() < 2.0);
    }

    fn ms_of(duration: Duration) -> f64 {
        duration.as_secs_f64() * 1000.0
    }

    #[test]
    fn streams_count_what_their_acknowledged_executions_wrote() {
        let (steps, streams, mut executions, spans) = queue();
        executions[3].error = Some("boom".into());
        executions[3].rows = 0;
        let tables = vec!["t".to_owned()];
        let observed = observed(&steps, &streams, &executions, &spans, &tables);
        let summaries = observed.stream_summaries();
        assert_eq!(summaries[1].executed, 3);
        assert_eq!(summaries[1].failed, 1);
        assert_eq!(summaries[1].rows_acknowledged, 2);
        assert!((summaries[1].achieved_rate - 1.5).abs() < 1e-9);
    }

    #[test]
    fn a_reader_that_falls_behind_its_rate_on_its_own_is_late_but_not_stalled() {
        let (steps, streams, _, _) = queue();
        // Due every second, each taking 1.5 s with no lock wait: each starts later.
        let mut executions = Vec::new();
        let mut free = 0;
        for turn in 0..5 {
            let due = turn * 1000;
            let started = due.max(free);
            free = started + 1500;
            executions.push(execution(0, 20, due, started, free));
        }
        let tables = vec!["t".to_owned()];
        let observed = observed(&steps, &streams, &executions, &[], &tables);
        assert!(observed.stalls().iter().all(|stall| stall.is_zero()));
        let summary = &observed.stream_summaries()[0];
        assert_eq!(summary.max_stall_ms, 0.0);
        assert_eq!(
            summary.latency.max_ms, 3500.0,
            "the last one finished 3.5 s after it was due"
        );
    }

    #[test]
    fn a_stall_inherited_through_a_queue_is_blamed_on_the_step_that_caused_it() {
        let (mut steps, streams, _, _) = queue();
        steps[0].start = ms(1000);
        steps[0].end = ms(1600);
        let mut earlier = steps[0].clone();
        (earlier.start, earlier.end, earlier.not_null_proof) = (ms(0), ms(999), None);
        steps.insert(0, earlier);
        // A slow reader, already behind its rate: the second execution waits for a
        // lock during the second step, and the third, queued behind it, inherits that.
        let executions = vec![
            execution(0, 20, 0, 0, 900),
            execution(0, 20, 100, 900, 1500),
            execution(0, 20, 200, 1500, 2000),
        ];
        let spans = vec![span(20, "AccessShareLock", false, 1000, 1395, &[10])];
        let tables = vec!["t".to_owned()];
        let observed = observed(&steps, &streams, &executions, &spans, &tables);
        let stalls: Vec<f64> = observed.stalls().into_iter().map(ms_of).collect();
        assert_eq!(stalls[0], 0.0);
        assert!(
            (stalls[1] - 400.0).abs() < 1.0 && (stalls[2] - 400.0).abs() < 1.0,
            "{stalls:?}"
        );
        let outcomes = observed.step_outcomes();
        assert!(
            outcomes[0]
                .longest_stall
                .as_ref()
                .is_none_or(|stall| stall.stall_ms == 0.0),
            "{:?}",
            outcomes[0].longest_stall
        );
        assert!((outcomes[1].longest_stall.as_ref().unwrap().stall_ms - 400.0).abs() < 1.0);
    }

    #[test]
    fn an_execution_that_waited_on_no_lock_has_no_stall_however_late_it_started() {
        let (steps, streams, _, _) = queue();
        // A client that starts each execution a little after it was due (a timer that
        // fires late, a busy machine), and once 35 ms late: lateness, not a lock.
        let executions = vec![
            execution(1, 30, 0, 2, 3),
            execution(1, 30, 10, 11, 12),
            execution(1, 30, 20, 55, 56),
            execution(1, 30, 30, 56, 57),
        ];
        let tables = vec!["t".to_owned()];
        let observed = observed(&steps, &streams, &executions, &[], &tables);
        let stalls: Vec<f64> = observed.stalls().into_iter().map(ms_of).collect();
        assert_eq!(stalls, [0.0; 4]);
        assert_eq!(observed.stream_summaries()[1].max_stall_ms, 0.0);
    }

    #[test]
    fn a_stall_is_the_lock_wait_and_the_queue_behind_it_without_the_clients_lateness() {
        let (steps, streams, _, _) = queue();
        // Due at 0, started 1 ms late, waited for a lock from 1 to 101 (seen until 96,
        // so until half an interval after); the next, due at 50, queued behind it and
        // started half a millisecond after it finished.
        let executions = vec![
            execution(1, 30, 0, 1, 102),
            Execution {
                started: Duration::from_micros(102_500),
                finished: Duration::from_micros(103_500),
                ..execution(1, 30, 50, 0, 0)
            },
        ];
        let spans = vec![span(30, "RowExclusiveLock", false, 1, 96, &[10])];
        let tables = vec!["t".to_owned()];
        let observed = observed(&steps, &streams, &executions, &spans, &tables);
        let stalls: Vec<f64> = observed.stalls().into_iter().map(ms_of).collect();
        // Its own wait; and the 52 ms it queued for the first beyond the 2 ms that one
        // would have taken without its wait.
        assert!((stalls[0] - 100.0).abs() < 1e-6, "{stalls:?}");
        assert!((stalls[1] - 52.0).abs() < 1e-6, "{stalls:?}");
    }

    #[test]
    fn a_lock_the_steps_sql_takes_is_marked_seen_only_when_the_sampler_saw_it() {
        let (mut steps, streams, executions, spans) = queue();
        steps[0].step.locks = StaticLocks::Known(vec![super::super::steps::TableLock {
            relation: "t".into(),
            mode: LockMode::AccessExclusive,
        }]);
        let tables = vec!["t".to_owned()];
        let seen = observed(&steps, &streams, &executions, &spans, &tables).step_outcomes();
        assert_eq!(
            seen[0].declared_locks,
            [crate::outcome::rehearsal::DeclaredLock {
                relation: "t".into(),
                mode: "ACCESS EXCLUSIVE".into(),
                seen: true,
            }]
        );
        // Held for a millisecond between two readings: only the SQL says so.
        (steps[0].start, steps[0].end) = (
            Duration::from_micros(500_000),
            Duration::from_micros(501_100),
        );
        let unseen = observed(&steps, &streams, &executions, &[], &tables).step_outcomes();
        assert!(!unseen[0].declared_locks[0].seen);
        let text = unseen[0].explanation.join(" ");
        assert!(
            text.contains("takes ACCESS EXCLUSIVE on t (its SQL says so); the sampler, reading every 10 ms, did not see it during the step's 1.1 ms: it blocks every reader and writer while held."),
            "{text}"
        );
    }

    #[test]
    fn summaries_take_the_first_line_that_is_not_a_comment() {
        assert_eq!(
            summary("-- why\nALTER TABLE t\n  ADD c int"),
            "ALTER TABLE t"
        );
        assert_eq!(summary(&"x".repeat(200)).chars().count(), 90);
    }
}
