//! One step judged: the locks its session held, how long it waited and for whom, the
//! traffic's worst stall and failures blamed on it, and the sentences that explain
//! them. Each is a decision of its own below; [`Observed::outcome_of`] puts them
//! together.

use std::collections::BTreeMap;
use std::time::Duration;

use super::{Observed, StepRun, WORTH_SAYING, latency, lock_name, ms, summary};
use crate::outcome::rehearsal::{DeclaredLock, HeldLock, Stall, StepOutcome, TrafficFailure};
use crate::rehearse::LockMode;
use crate::rehearse::sampler::LockSpan;
use crate::rehearse::steps::{StaticLocks, Transaction, same_relation};
use crate::rehearse::traffic::Execution;

/// A step's place on the clock.
#[derive(Debug, Clone, Copy)]
struct Window {
    /// When the step started and ended.
    from: Duration,
    to: Duration,
    /// Up to the next step's start: a stall that began by then is this step's.
    until: Duration,
}

/// How long the step's own session waited for locks, behind whom.
struct OwnWaits<'a> {
    spans: Vec<&'a LockSpan>,
    waited: Duration,
    waited_for: Vec<String>,
}

impl Observed<'_> {
    /// The step at `index` judged, given every execution's stall and when the
    /// trouble behind it began (see [`Observed::stalls`]).
    pub(super) fn outcome_of(
        &self,
        index: usize,
        stalls: &[Duration],
        blames: &[Duration],
    ) -> StepOutcome {
        let run = &self.steps[index];
        let window = self.window(index);
        let locks = self.held_locks(window);
        let waits = self.own_waits(window);
        let longest = self.longest_blamed(window, stalls, blames);
        let failures = self.failures_of(index, window);
        let declared = declared_locks(run, &locks);
        let mut explanation = self.wait_sentences(run, window, &waits, stalls);
        explanation.extend(hold_sentence(run, &locks));
        explanation.extend(self.unseen_sentences(run, &declared));
        explanation.extend(self.stall_sentence(longest, &explanation));
        explanation.extend(failures.iter().map(|failure| {
            format!(
                "{} execution(s) of {} failed: {}.",
                failure.count, failure.stream, failure.error
            )
        }));
        StepOutcome {
            index: index + 1,
            file: run.step.file.display().to_string(),
            line: run.step.line,
            summary: summary(&run.step.sql),
            sql: run.step.sql.clone(),
            transaction: match run.step.transaction {
                Transaction::InBlock => "in a transaction block".into(),
                Transaction::Outside(why) => format!("outside a transaction block: {why}"),
            },
            start_ms: ms(window.from),
            end_ms: ms(window.to),
            error: run.error.clone(),
            rows: run.rows,
            declared_locks: declared,
            locks: locks.into_iter().map(|(_, lock)| lock).collect(),
            waited_ms: ms(waits.waited),
            waited_for: waits.waited_for,
            longest_stall: longest.map(|(stall, execution)| self.stall_of(stall, execution)),
            latency: self.latency_during(window),
            failures,
            explanation,
            over_limit: longest.is_some_and(|(stall, _)| stall > self.max_stall),
        }
    }

    fn window(&self, index: usize) -> Window {
        let run = &self.steps[index];
        let until = self
            .steps
            .get(index + 1)
            .map_or(run.end, |next| next.start.max(run.end));
        Window {
            from: run.start,
            to: run.end,
            until,
        }
    }

    /// The strongest mode the step's session held per table during the step, from its
    /// first sight to its last, strongest first.
    fn held_locks(&self, window: Window) -> Vec<(LockMode, HeldLock)> {
        let Window { from, to, .. } = window;
        let mut strongest: BTreeMap<String, (LockMode, Duration, Duration)> = BTreeMap::new();
        for span in self.spans.iter().filter(|span| {
            span.pid == self.step_pid
                && span.granted
                && span.first_seen <= to
                && span.last_seen >= from
        }) {
            let (Some(relation), Some(mode)) = (&span.relation, LockMode::from_pg_name(&span.mode))
            else {
                continue;
            };
            if !self.tables.contains(relation) {
                continue;
            }
            // A span can run on into the next step when both hold the same lock (the
            // sampler does not know where steps end): each step gets its own part.
            let (first, last) = (span.first_seen.max(from), span.last_seen.min(to));
            let entry = strongest
                .entry(relation.clone())
                .or_insert((mode, first, last));
            if mode > entry.0 {
                *entry = (mode, first, last);
            } else if mode == entry.0 {
                entry.1 = entry.1.min(first);
                entry.2 = entry.2.max(last);
            }
        }
        let mut locks: Vec<(LockMode, HeldLock)> = strongest
            .into_iter()
            .map(|(relation, (mode, first, last))| {
                let lock = HeldLock {
                    relation,
                    mode: mode.sql_name().into(),
                    from_ms: ms(first),
                    to_ms: ms(last),
                };
                (mode, lock)
            })
            .collect();
        locks.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.relation.cmp(&b.1.relation)));
        locks
    }

    /// The step's own lock waits during its window, how long they took in all and
    /// whom they were behind.
    fn own_waits(&self, window: Window) -> OwnWaits<'_> {
        let Window { from, to, .. } = window;
        let spans: Vec<&LockSpan> = self
            .spans
            .iter()
            .filter(|span| self.is_wait_during(span, self.step_pid, from, to))
            .collect();
        let waited: Duration = spans
            .iter()
            .map(|span| {
                self.wait_end(span)
                    .min(to)
                    .saturating_sub(self.wait_begin(span).max(from))
            })
            .sum();
        let mut waited_for: Vec<String> = Vec::new();
        for span in &spans {
            for pid in &span.blocking_pids {
                let who = self.who(*pid, span.first_seen);
                if !waited_for.contains(&who) {
                    waited_for.push(who);
                }
            }
        }
        OwnWaits {
            spans,
            waited,
            waited_for,
        }
    }

    /// Latencies of the executions that ran, at least partly, during the step.
    fn latency_during(&self, window: Window) -> crate::outcome::rehearsal::Latency {
        latency(
            self.executions
                .iter()
                .filter(|execution| execution.due <= window.to && execution.finished >= window.from)
                .map(|execution| execution.finished.saturating_sub(execution.due)),
        )
    }

    /// The longest stall blamed on the step, and its execution; none when nothing
    /// blamed on it stalled. Stalls belong to the
    /// step they began in: an execution's stall to the step running when its lock wait
    /// began (or, with none, when it was due), up to the next step's start.
    fn longest_blamed(
        &self,
        window: Window,
        stalls: &[Duration],
        blames: &[Duration],
    ) -> Option<(Duration, &Execution)> {
        let Window { from, to, until } = window;
        self.executions
            .iter()
            .zip(stalls.iter().zip(blames))
            .filter(|(execution, _)| execution.due <= to && execution.finished >= from)
            .filter(|(_, (_, blame))| {
                from <= **blame && **blame < until.max(from + Duration::from_nanos(1))
            })
            .map(|(execution, (stall, _))| (*stall, execution))
            .filter(|(stall, _)| !stall.is_zero())
            .max_by_key(|(stall, _)| *stall)
    }

    fn stall_of(&self, stall: Duration, execution: &Execution) -> Stall {
        let (lock, first) = self.stall_cause(execution);
        Stall {
            stream: self.streams[execution.stream].name.clone(),
            due_ms: ms(execution.due),
            stall_ms: ms(stall),
            latency_ms: ms(execution.finished.saturating_sub(execution.due)),
            waited_for_lock: lock,
            first_in_queue: first,
        }
    }

    /// The traffic's failures that came back during the step, one entry per stream
    /// and error. The last step's include the tail's: a statement the migration broke
    /// goes on failing after it.
    fn failures_of(&self, index: usize, window: Window) -> Vec<TrafficFailure> {
        let failures_until = match index + 1 == self.steps.len() {
            true => self.end.max(window.until),
            false => window.until,
        };
        let mut failures: Vec<TrafficFailure> = Vec::new();
        for execution in self.executions.iter().filter(|execution| {
            execution.error.is_some()
                && window.from <= execution.finished
                && execution.finished <= failures_until
        }) {
            let stream = &self.streams[execution.stream].name;
            let error = execution.error.clone().unwrap_or_default();
            match failures
                .iter_mut()
                .find(|failure| &failure.stream == stream && failure.error == error)
            {
                Some(failure) => failure.count += 1,
                None => failures.push(TrafficFailure {
                    stream: stream.clone(),
                    at_ms: ms(execution.finished),
                    error,
                    count: 1,
                }),
            }
        }
        failures
    }

    /// What the step waited for and behind whom, and the traffic that queued behind
    /// it meanwhile; nothing for a wait too short to matter.
    fn wait_sentences(
        &self,
        run: &StepRun,
        window: Window,
        waits: &OwnWaits,
        stalls: &[Duration],
    ) -> Vec<String> {
        let Some(span) = waits.spans.iter().max_by_key(|span| span.seen_for()) else {
            return Vec::new();
        };
        if waits.waited < WORTH_SAYING {
            return Vec::new();
        }
        let holders: Vec<String> = span
            .blocking_pids
            .iter()
            .map(|pid| {
                let who = self.who(*pid, span.first_seen);
                match self.held_mode(*pid, span) {
                    Some(mode) => format!("{who} ({} held)", mode.sql_name()),
                    None => who,
                }
            })
            .collect();
        let mut sentences = vec![format!(
            "`{}` waited {:.0} ms for {} behind {}.",
            summary(&run.step.sql),
            ms(waits.waited),
            lock_name(span),
            match holders.is_empty() {
                true => "a session that ended before it was named".into(),
                false => holders.join(", "),
            }
        )];
        let queued = self.queued_behind(self.step_pid, window.from, window.to, stalls);
        if !queued.is_empty() {
            sentences.push(format!(
                "Traffic queued behind the waiting step, since a lock request waits for the ones ahead of it: {}. Their stall is the holder's remaining time plus the step's own.",
                queued
                    .iter()
                    .map(|(stream, stall)| format!("{stream} stalled up to {stall:.0} ms"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        sentences
    }

    /// The stall past the limit and what it waited for, unless a sentence about the
    /// queue behind the step already says so.
    fn stall_sentence(
        &self,
        longest: Option<(Duration, &Execution)>,
        said: &[String],
    ) -> Option<String> {
        let (stall, execution) = longest.filter(|(stall, _)| *stall > self.max_stall)?;
        if said
            .iter()
            .any(|sentence| sentence.contains("queued behind"))
        {
            return None;
        }
        let (lock, first) = self.stall_cause(execution);
        Some(format!(
            "{} stalled {:.0} ms{}{}.",
            self.streams[execution.stream].name,
            ms(stall),
            lock.map_or(String::new(), |lock| format!(" waiting for {lock}")),
            first.map_or(String::new(), |first| format!(" behind {first}")),
        ))
    }

    /// A lock the step's SQL takes that the sampler did not see, when it blocks
    /// something: the sampler reads between statements, so a hold of a millisecond
    /// falls between two readings.
    fn unseen_sentences(&self, run: &StepRun, declared: &[DeclaredLock]) -> Vec<String> {
        let StaticLocks::Known(locks) = &run.step.locks else {
            return Vec::new();
        };
        locks
            .iter()
            .zip(declared)
            .filter(|(lock, declared)| !declared.seen && lock.mode >= LockMode::ShareUpdateExclusive)
            .map(|(lock, _)| {
                format!(
                    "`{}` takes {} on {} (its SQL says so); the sampler, reading every {:.0} ms, did not see it during the step's {}: it blocks {} while held.",
                    summary(&run.step.sql),
                    lock.mode.sql_name(),
                    lock.relation,
                    ms(self.interval),
                    crate::format::format_ms(ms(run.end.saturating_sub(run.start))),
                    blocks(lock.mode)
                )
            })
            .collect()
    }

    /// The mode `pid` held on `span`'s relation while `span` was seen.
    fn held_mode(&self, pid: i32, span: &LockSpan) -> Option<LockMode> {
        self.spans
            .iter()
            .filter(|other| {
                other.pid == pid
                    && other.granted
                    && other.relation == span.relation
                    && other.first_seen <= span.last_seen
                    && other.last_seen >= span.first_seen
            })
            .filter_map(|other| LockMode::from_pg_name(&other.mode))
            .max()
    }

    /// Each stream whose sessions waited behind `pid` between `from` and `to`, with
    /// its longest stall then.
    fn queued_behind(
        &self,
        pid: i32,
        from: Duration,
        to: Duration,
        stalls: &[Duration],
    ) -> Vec<(String, f64)> {
        let mut queued: Vec<(String, f64)> = Vec::new();
        for (index, stream) in self.streams.iter().enumerate() {
            let pids = self.pids_of(index);
            let behind = self
                .waits_of(&pids, from, to)
                .any(|span| span.blocking_pids.contains(&pid));
            if !behind {
                continue;
            }
            let worst = self
                .executions
                .iter()
                .zip(stalls)
                .filter(|(execution, _)| {
                    execution.stream == index && execution.due <= to && execution.finished >= from
                })
                .map(|(_, stall)| ms(*stall))
                .fold(0.0, f64::max);
            queued.push((stream.name.clone(), worst));
        }
        queued
    }
}

/// The strongest lock the step held, for how long and what it blocks, when it was
/// strong enough and long enough to matter (and, for `SET NOT NULL`, whether the
/// table was scanned under it).
fn hold_sentence(run: &StepRun, locks: &[(LockMode, HeldLock)]) -> Option<String> {
    let (mode, lock) = locks.first()?;
    if *mode < LockMode::ShareUpdateExclusive || lock.held_ms() < ms(WORTH_SAYING) {
        return None;
    }
    let blocks = blocks(*mode);
    let why = match &run.not_null_proof {
        Some(None) => " while it scanned the table: no validated CHECK constraint proves the column has no NULL".to_owned(),
        Some(Some(name)) => format!(
            " without a scan: the validated CHECK constraint {name} proves the column has no NULL"
        ),
        None => String::new(),
    };
    Some(format!(
        "`{}` held {} on {} for {:.0} ms{why}; it blocks {blocks}.",
        summary(&run.step.sql),
        lock.mode,
        lock.relation,
        lock.held_ms(),
    ))
}

/// What a mode of SHARE UPDATE EXCLUSIVE or stronger blocks.
fn blocks(mode: LockMode) -> &'static str {
    match mode {
        LockMode::AccessExclusive => "every reader and writer",
        LockMode::Exclusive | LockMode::ShareRowExclusive | LockMode::Share => "every writer",
        _ => "other schema changes, VACUUM and ANALYZE (not reads or writes)",
    }
}

/// The locks the step's SQL alone says it takes, each seen when the sampler saw the
/// step hold that mode or a stronger one on the relation.
fn declared_locks(run: &StepRun, held: &[(LockMode, HeldLock)]) -> Vec<DeclaredLock> {
    let StaticLocks::Known(locks) = &run.step.locks else {
        return Vec::new();
    };
    locks
        .iter()
        .map(|lock| DeclaredLock {
            relation: lock.relation.clone(),
            mode: lock.mode.sql_name().into(),
            seen: held.iter().any(|(mode, seen)| {
                *mode >= lock.mode && same_relation(&seen.relation, &lock.relation)
            }),
        })
        .collect()
}
