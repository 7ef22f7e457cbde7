//! A rehearsal made by hand for the reports' tests: a `NOT NULL` column added to
//! `workflow_runs` by two migrations at 250,000 and 1,000,000 rows while an old
//! replica inserts without the column, a point lookup runs and a slow reader reports.
//!
//! `shipped` backfills the column with one `UPDATE` (growing faster than the table)
//! and then sets it `NOT NULL`: that step queues for ACCESS EXCLUSIVE behind the
//! reader, every writer queues behind it (the old replica stalls 1.4 s, past the
//! 1 s limit), and the old replica's inserts fail from then on. `safer` adds the
//! column with a default under a lock timeout and indexes it concurrently: nothing
//! stalls past the limit and nothing fails.
//!
//! Every figure is computed from a script (when each stream was due, what held it up),
//! so the aggregates agree with the points the chart draws, and nothing is random.

use crate::outcome::rehearsal::{
    DeclaredLock, FORMAT_VERSION, HeldLock, InvariantOutcome, Latency, LatencyPoint, Limits,
    MigrationRun, Rehearsal, SamplerOverhead, SamplerStats, Stall, StepGrowth, StepOutcome,
    TableRows, Timeline, TimelineLock, TrafficFailure, TrafficStream, Violation,
};

const OLD_REPLICA: usize = 0;
const LOOKUP: usize = 1;
const READER: usize = 2;
const STREAMS: [&str; 3] = ["old replica", "lookup", "reader"];
const NOT_NULL_ERROR: &str = "ERROR: null value in column \"priority\" of relation \"workflow_runs\" violates not-null constraint (23502)";

/// The whole rehearsal: both migrations at both scales, and their growth.
pub fn rehearsal() -> Rehearsal {
    let runs = vec![
        shipped(250_000),
        shipped(1_000_000),
        safer(250_000),
        safer(1_000_000),
    ];
    let growth = growth(&runs);
    Rehearsal {
        format_version: FORMAT_VERSION,
        scenario: "add-priority".to_owned(),
        description: "Adds a NOT NULL priority to workflow_runs while the old replica keeps inserting without it.".to_owned(),
        scenario_file: "scenarios/add-priority.toml".to_owned(),
        dataset_file: "fixtures/datasets/workflow-runs.toml".to_owned(),
        seed: 42,
        server_version: "16.4 (Debian 16.4-1.pgdg120+2)".to_owned(),
        backend: "local (PostgreSQL 16.4 at /usr/lib/postgresql/16/bin)".to_owned(),
        host: "4 cores, 15.6 GiB, AMD EPYC 7B13 · Linux 6.1".to_owned(),
        limits: limits(),
        repeat: 1,
        runs,
        not_run: Vec::new(),
        growth,
        sampler_overhead: Some(SamplerOverhead {
            without_per_s: 1_840.0,
            with_per_s: 1_795.0,
            ratio: 1_795.0 / 1_840.0,
            median_interval_ms: 10.1,
        }),
        notes: vec![
            "Stall: the time a traffic statement spent waiting on a lock, its own waits (as the sampler saw them, every 10 ms) and its queue on its connection behind an earlier statement's wait; zero for one that waited on no lock. Latency: from when it was due to when it finished.".to_owned(),
        ],
    }
}

fn limits() -> Limits {
    Limits {
        max_stall_ms: 1_000.0,
        failed_statements: 0,
    }
}

/// What a run's steps do, before the traffic's figures are worked out.
struct StepScript {
    line: usize,
    summary: &'static str,
    sql: &'static str,
    transaction: &'static str,
    start_ms: f64,
    end_ms: f64,
    rows: Option<u64>,
    locks: Vec<HeldLock>,
    waited_ms: f64,
    waited_for: Vec<String>,
    explanation: Vec<String>,
}

/// A run as a script: its steps, and what held each stream up.
struct Script {
    migration: &'static str,
    file: &'static str,
    scale: u64,
    steps: Vec<StepScript>,
    /// The reader's baseline, and its statements that took longer: (due, latency).
    reader_ms: f64,
    reader_slow: Vec<(f64, f64)>,
    reader_offset_ms: f64,
    /// Statements of a stream due in a window that queued until a moment: (stream,
    /// from, to, released at, the lock they waited for, first in the queue).
    queued: Vec<(usize, f64, f64, f64, &'static str, &'static str)>,
    /// The old replica's inserts fail from this moment on.
    replica_fails_from: Option<f64>,
    holds: Vec<TimelineLock>,
}

fn lock(relation: &str, mode: &str, from_ms: f64, to_ms: f64) -> HeldLock {
    HeldLock {
        relation: relation.to_owned(),
        mode: mode.to_owned(),
        from_ms,
        to_ms,
    }
}

fn hold(holder: &str, mode: &str, granted: bool, (from_ms, to_ms): (f64, f64)) -> TimelineLock {
    TimelineLock {
        holder: holder.to_owned(),
        relation: "workflow_runs".to_owned(),
        mode: mode.to_owned(),
        granted,
        from_ms,
        to_ms,
    }
}

const IN_BLOCK: &str = "in a transaction block";

/// When `shipped`'s steps run at `scale`: the backfill's end, when SET NOT NULL
/// starts, when the reader it queues behind finishes, and its end.
#[derive(Clone, Copy)]
struct ShippedTimes {
    backfill_end: f64,
    set_start: f64,
    reader_done: f64,
    set_end: f64,
}

impl ShippedTimes {
    fn at(scale: u64) -> ShippedTimes {
        // At 1,000,000 rows the backfill leaves the reader's statement due at 7.445 s
        // running 1.27 s; SET NOT NULL asks for ACCESS EXCLUSIVE at 7.45 s behind it.
        let (backfill_end, set_start, reader_done, set_end) = match scale == 1_000_000 {
            true => (7_440.0, 7_450.0, 8_710.0, 8_902.0),
            false => (2_410.0, 2_420.0, 2_715.0, 2_766.0),
        };
        ShippedTimes {
            backfill_end,
            set_start,
            reader_done,
            set_end,
        }
    }

    /// When SET NOT NULL got its lock, and when its scan ended.
    fn granted(&self) -> f64 {
        self.reader_done + 1.0
    }

    fn scan_end(&self) -> f64 {
        self.set_end - 2.0
    }
}

fn shipped(scale: u64) -> MigrationRun {
    let large = scale == 1_000_000;
    let times = ShippedTimes::at(scale);
    let ShippedTimes {
        backfill_end,
        set_start,
        reader_done,
        set_end,
    } = times;
    let (granted, scan_end) = (times.granted(), times.scan_end());
    let queue_end = set_end + 0.5;
    let script = Script {
        migration: "shipped",
        file: "fixtures/migrations/shipped.sql",
        scale,
        steps: shipped_steps(scale, &times),
        reader_ms: if large { 880.0 } else { 310.0 },
        reader_slow: match large {
            true => vec![(7_445.0, reader_done - 7_445.0)],
            false => vec![(2_130.0, reader_done - 2_130.0)],
        },
        reader_offset_ms: if large { 1_445.0 } else { 130.0 },
        queued: vec![
            (
                OLD_REPLICA,
                set_start,
                set_end,
                queue_end,
                "ROW EXCLUSIVE on workflow_runs",
                "reader",
            ),
            (
                LOOKUP,
                set_start,
                set_end,
                queue_end,
                "ACCESS SHARE on workflow_runs",
                "reader",
            ),
        ],
        replica_fails_from: Some(set_end),
        holds: vec![
            hold("step 1", "ACCESS EXCLUSIVE", true, (2_001.1, 2_001.1)),
            hold(
                "step 2",
                "ROW EXCLUSIVE",
                true,
                (2_012.4, backfill_end - 3.0),
            ),
            hold(
                "step 3",
                "ACCESS EXCLUSIVE",
                false,
                (set_start + 1.5, reader_done),
            ),
            hold("step 3", "ACCESS EXCLUSIVE", true, (granted, scan_end)),
            hold(
                "old replica",
                "ROW EXCLUSIVE",
                false,
                (set_start + 11.0, scan_end),
            ),
            hold(
                "lookup",
                "ACCESS SHARE",
                false,
                (set_start + 46.0, scan_end),
            ),
        ],
    };
    run(script)
}

/// `shipped`'s steps: the column added, backfilled in one `UPDATE`, then set
/// `NOT NULL` behind the reader.
fn shipped_steps(scale: u64, times: &ShippedTimes) -> Vec<StepScript> {
    let large = scale == 1_000_000;
    let ShippedTimes {
        backfill_end,
        set_start,
        reader_done,
        set_end,
    } = *times;
    vec![
        StepScript {
            line: 1,
            summary: "ALTER TABLE workflow_runs ADD COLUMN priority integer",
            sql: "ALTER TABLE workflow_runs ADD COLUMN priority integer;",
            transaction: IN_BLOCK,
            start_ms: 2_000.0,
            end_ms: if large { 2_003.2 } else { 2_002.1 },
            rows: None,
            locks: vec![lock("workflow_runs", "ACCESS EXCLUSIVE", 2_001.1, 2_001.1)],
            waited_ms: 0.0,
            waited_for: vec![],
            explanation: vec![],
        },
        StepScript {
            line: 3,
            summary: "UPDATE workflow_runs SET priority = 0 WHERE priority IS NULL",
            sql: "UPDATE workflow_runs\n   SET priority = 0\n WHERE priority IS NULL;",
            transaction: IN_BLOCK,
            start_ms: 2_010.0,
            end_ms: backfill_end,
            rows: Some(scale),
            locks: vec![lock("workflow_runs", "ROW EXCLUSIVE", 2_012.4, backfill_end - 3.0)],
            waited_ms: 0.0,
            waited_for: vec![],
            explanation: vec![format!(
                "The backfill rewrote all {} rows in one transaction, leaving as many dead row versions behind for the reader to skip.",
                crate::format::format_count(scale as f64)
            )],
        },
        StepScript {
            line: 7,
            summary: "ALTER TABLE workflow_runs ALTER COLUMN priority SET NOT NULL",
            sql: "ALTER TABLE workflow_runs\n  ALTER COLUMN priority SET NOT NULL;",
            transaction: IN_BLOCK,
            start_ms: set_start,
            end_ms: set_end,
            rows: None,
            locks: vec![lock("workflow_runs", "ACCESS EXCLUSIVE", times.granted(), times.scan_end())],
            waited_ms: reader_done - set_start,
            waited_for: vec!["reader".to_owned()],
            explanation: vec![
                format!(
                    "Step 3 asked for ACCESS EXCLUSIVE on workflow_runs while reader held ACCESS SHARE on it, and waited {} ms for reader's query to finish.",
                    (reader_done - set_start).round()
                ),
                format!(
                    "Every statement on workflow_runs queued behind step 3's request until it committed: the old replica's inserts and the lookups waited out the reader's query and the {} ms scan that checks the column.",
                    (times.scan_end() - times.granted()).round()
                ),
                "From then on the old replica's inserts failed: they leave out priority, which is now NOT NULL.".to_owned(),
            ],
        },
    ]
}

fn safer(scale: u64) -> MigrationRun {
    let large = scale == 1_000_000;
    let index_end = if large { 3_310.0 } else { 2_330.0 };
    let steps = vec![
        StepScript {
            line: 1,
            summary: "SET lock_timeout = '100ms'",
            sql: "SET lock_timeout = '100ms';",
            transaction: IN_BLOCK,
            start_ms: 2_000.0,
            end_ms: 2_000.2,
            rows: None,
            locks: vec![],
            waited_ms: 0.0,
            waited_for: vec![],
            explanation: vec![],
        },
        StepScript {
            line: 2,
            summary: "ALTER TABLE workflow_runs ADD COLUMN priority integer NOT NULL DEFAULT 0",
            sql: "ALTER TABLE workflow_runs\n  ADD COLUMN priority integer NOT NULL DEFAULT 0;",
            transaction: IN_BLOCK,
            start_ms: 2_001.0,
            end_ms: if large { 2_003.4 } else { 2_003.1 },
            rows: None,
            locks: vec![lock("workflow_runs", "ACCESS EXCLUSIVE", 2_002.1, 2_002.1)],
            waited_ms: 0.0,
            waited_for: vec![],
            explanation: vec![],
        },
        StepScript {
            line: 5,
            summary: "CREATE INDEX CONCURRENTLY workflow_runs_priority ON workflow_runs (priority)",
            sql: "CREATE INDEX CONCURRENTLY workflow_runs_priority\n    ON workflow_runs (priority);",
            transaction: "outside a transaction block: CREATE INDEX CONCURRENTLY cannot run inside one",
            start_ms: 2_010.0,
            end_ms: index_end,
            rows: None,
            locks: vec![lock(
                "workflow_runs",
                "SHARE UPDATE EXCLUSIVE",
                2_011.0,
                index_end - 2.0,
            )],
            waited_ms: 0.0,
            waited_for: vec![],
            explanation: vec![],
        },
    ];
    let script = Script {
        migration: "safer",
        file: "fixtures/migrations/safer.sql",
        scale,
        steps,
        reader_ms: if large { 880.0 } else { 310.0 },
        reader_slow: vec![],
        reader_offset_ms: if large { 1_450.0 } else { 130.0 },
        queued: vec![],
        replica_fails_from: None,
        holds: vec![
            hold("step 2", "ACCESS EXCLUSIVE", true, (2_002.1, 2_002.1)),
            hold(
                "step 3",
                "SHARE UPDATE EXCLUSIVE",
                true,
                (2_011.0, index_end - 2.0),
            ),
        ],
    };
    run(script)
}

/// A number in [0, 1) that depends only on `k` and `salt`: jitter without a random
/// source.
fn jitter(k: usize, salt: usize) -> f64 {
    ((k * 7_919 + salt * 104_729) % 1_000) as f64 / 1_000.0
}

/// Every execution of every stream: (stream, due, stall, failed), and for queued ones
/// the lock and the queue's head.
fn points(script: &Script, duration_ms: f64) -> Vec<Point<'_>> {
    let backfill = script
        .steps
        .iter()
        .find(|step| step.rows.is_some())
        .map(|step| (step.start_ms, step.end_ms));
    let mut points = Vec::new();
    for (stream, period, offset) in [
        (OLD_REPLICA, 50.0, 40.0),
        (LOOKUP, 100.0, 25.0),
        (READER, 2_000.0, script.reader_offset_ms),
    ] {
        let mut k = 0;
        loop {
            let due = offset + period * k as f64;
            if due >= duration_ms {
                break;
            }
            let busy = backfill.is_some_and(|(from, to)| due >= from && due < to);
            let mut latency = match stream {
                OLD_REPLICA => 1.2 + 1.6 * jitter(k, 1) + if busy { 2.5 } else { 0.0 },
                LOOKUP => 0.3 + 0.6 * jitter(k, 2),
                _ => script
                    .reader_slow
                    .iter()
                    .find(|(at, _)| *at == due)
                    .map_or(script.reader_ms * (0.95 + 0.1 * jitter(k, 3)), |(_, ms)| {
                        *ms
                    }),
            };
            // Only the executions queued behind a lock stall, for as long as they
            // queued; every other one's time is latency alone.
            let (mut stall, mut why) = (0.0, None);
            if let Some((_, _, _, released, lock, head)) = script
                .queued
                .iter()
                .find(|(queued, from, to, ..)| *queued == stream && due >= *from && due < *to)
            {
                stall = released - due;
                latency = stall + latency.min(1.0);
                why = Some((*lock, *head));
            }
            let failed = stream == OLD_REPLICA
                && script
                    .replica_fails_from
                    .is_some_and(|from| due + latency >= from);
            points.push((
                LatencyPoint {
                    stream,
                    due_ms: due,
                    latency_ms: (latency * 10.0).round() / 10.0,
                    stall_ms: (stall * 10.0).round() / 10.0,
                    failed,
                },
                why,
            ));
            k += 1;
        }
    }
    points.sort_by(|(a, _), (b, _)| a.due_ms.total_cmp(&b.due_ms));
    points
}

/// Nearest-rank percentiles of `latencies`.
fn latency(latencies: &[f64]) -> Latency {
    let mut sorted = latencies.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank =
        |p: f64| sorted[((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1];
    match sorted.len() {
        0 => Latency::default(),
        n => Latency {
            count: n as u64,
            p50_ms: rank(0.5),
            p99_ms: rank(0.99),
            max_ms: sorted[n - 1],
        },
    }
}

/// An execution as the sample draws it, with the lock it queued for and the head of
/// that queue when it queued.
type Point<'a> = (LatencyPoint, Option<(&'a str, &'a str)>);

fn run(script: Script) -> MigrationRun {
    let last_end = script.steps.last().map_or(2_000.0, |step| step.end_ms);
    let tail_ms = 2_000.0;
    let duration_ms = last_end + tail_ms;
    let points = points(&script, duration_ms);
    let steps: Vec<StepOutcome> = script
        .steps
        .iter()
        .enumerate()
        .map(|(position, step)| step_outcome(&script, position, step, &points))
        .collect();
    let traffic = traffic(&points, duration_ms);
    let invariants = invariants(script.scale, traffic[OLD_REPLICA].rows_acknowledged);
    let violations = violations(&steps, &traffic);
    let sampler_ticks = (duration_ms / 10.3) as usize;
    MigrationRun {
        migration: script.migration.to_owned(),
        scale: script.scale,
        repetition: None,
        seeded: vec![
            TableRows {
                table: "organizations".to_owned(),
                rows: script.scale / 500,
            },
            TableRows {
                table: "workflow_runs".to_owned(),
                rows: script.scale,
            },
        ],
        seed_ms: script.scale as f64 * 0.041,
        warm_up_ms: 2_000.0,
        tail_ms,
        traffic,
        steps,
        steps_not_run: 0,
        invariants,
        timeline: Timeline {
            duration_ms,
            points: points.into_iter().map(|(point, _)| point).collect(),
            holds: script.holds,
        },
        sampler: SamplerStats {
            requested_interval_ms: 10.0,
            ticks: sampler_ticks,
            median_interval_ms: 10.2,
            p99_interval_ms: 13.9,
            max_interval_ms: 24.1,
            median_query_ms: 1.1,
        },
        stopped: None,
        warnings: Vec::new(),
        violations,
    }
}

/// One step with the traffic's figures during it worked out from the points.
fn step_outcome(
    script: &Script,
    position: usize,
    step: &StepScript,
    points: &[Point],
) -> StepOutcome {
    let limit = limits().max_stall_ms;
    let during: Vec<&Point> = points
        .iter()
        .filter(|(point, _)| {
            point.due_ms <= step.end_ms && point.due_ms + point.latency_ms >= step.start_ms
        })
        .collect();
    let longest = during
        .iter()
        .filter(|(point, _)| point.stall_ms > 0.0)
        .max_by(|(a, _), (b, _)| a.stall_ms.total_cmp(&b.stall_ms))
        .map(|(point, why)| Stall {
            stream: STREAMS[point.stream].to_owned(),
            due_ms: point.due_ms,
            stall_ms: point.stall_ms,
            latency_ms: point.latency_ms,
            waited_for_lock: why.map(|(lock, _)| lock.to_owned()),
            first_in_queue: why.map(|(_, head)| head.to_owned()),
        });
    let latencies: Vec<f64> = during.iter().map(|(point, _)| point.latency_ms).collect();
    StepOutcome {
        index: position + 1,
        file: script.file.to_owned(),
        line: step.line,
        summary: step.summary.to_owned(),
        sql: step.sql.to_owned(),
        transaction: step.transaction.to_owned(),
        start_ms: step.start_ms,
        end_ms: step.end_ms,
        error: None,
        rows: step.rows,
        locks: step.locks.clone(),
        declared_locks: Vec::new(),
        waited_ms: step.waited_ms,
        waited_for: step.waited_for.clone(),
        over_limit: longest.as_ref().is_some_and(|stall| stall.stall_ms > limit),
        longest_stall: longest,
        latency: latency(&latencies),
        failures: failures(step, &during),
        explanation: step.explanation.clone(),
    }
}

/// The old replica's failed inserts due during the step, as one kind of failure.
fn failures(step: &StepScript, during: &[&Point]) -> Vec<TrafficFailure> {
    let failed: Vec<&LatencyPoint> = during
        .iter()
        .map(|(point, _)| point)
        .filter(|point| {
            point.failed && point.due_ms >= step.start_ms && point.due_ms <= step.end_ms
        })
        .collect();
    match failed.first() {
        Some(first) => vec![TrafficFailure {
            stream: STREAMS[first.stream].to_owned(),
            at_ms: first.due_ms + first.latency_ms,
            error: NOT_NULL_ERROR.to_owned(),
            count: failed.len() as u64,
        }],
        None => vec![],
    }
}

/// Each stream over the whole run.
fn traffic(points: &[Point], duration_ms: f64) -> Vec<TrafficStream> {
    STREAMS
        .iter()
        .enumerate()
        .map(|(index, name)| {
            let mine: Vec<&LatencyPoint> = points
                .iter()
                .map(|(point, _)| point)
                .filter(|point| point.stream == index)
                .collect();
            let failed = mine.iter().filter(|point| point.failed).count() as u64;
            let executed = mine.len() as u64;
            let latencies: Vec<f64> = mine.iter().map(|point| point.latency_ms).collect();
            TrafficStream {
                name: (*name).to_owned(),
                sql: [
                    "INSERT INTO workflow_runs (id, created_at, state, workflow_id) VALUES (gen_random_uuid(), now(), 'initialized', $1)",
                    "SELECT state FROM workflow_runs WHERE id = $1",
                    "SELECT workflow_runs.* FROM workflow_runs WHERE EXISTS (SELECT 1 FROM workflows WHERE workflows.id = workflow_runs.workflow_id AND workflows.organization_id = $1) ORDER BY created_at DESC LIMIT 26",
                ][index]
                    .to_owned(),
                rate: [20.0, 10.0, 0.5][index],
                connections: [2, 1, 1][index],
                started_ms: 0.0,
                started_after: None,
                executed,
                failed,
                achieved_rate: executed as f64 / (duration_ms / 1_000.0),
                table: (index == OLD_REPLICA).then(|| "workflow_runs".to_owned()),
                rows_acknowledged: if index == OLD_REPLICA {
                    executed - failed
                } else {
                    0
                },
                latency: latency(&latencies),
                max_stall_ms: mine.iter().map(|point| point.stall_ms).fold(0.0, f64::max),
            }
        })
        .collect()
}

/// The two invariants, both held: every row kept, every priority filled.
fn invariants(scale: u64, inserted: u64) -> Vec<InvariantOutcome> {
    vec![
        InvariantOutcome {
            name: "rows kept".to_owned(),
            sql: "SELECT count(*) FROM workflow_runs".to_owned(),
            expected: format!(
                "{} = seeded {scale} + inserted {inserted}",
                scale + inserted
            ),
            actual: (scale + inserted).to_string(),
            held: true,
            builtin: false,
        },
        InvariantOutcome {
            name: "priority filled".to_owned(),
            sql: "SELECT count(*) = 0 FROM workflow_runs WHERE priority IS NULL".to_owned(),
            expected: "true".to_owned(),
            actual: "true".to_owned(),
            held: true,
            builtin: false,
        },
    ]
}

/// The first step over the limit and the failed statements, in words.
fn violations(steps: &[StepOutcome], traffic: &[TrafficStream]) -> Vec<Violation> {
    let limit = limits().max_stall_ms;
    let mut violations = Vec::new();
    if let Some(step) = steps.iter().find(|step| step.over_limit) {
        let stall = step
            .longest_stall
            .as_ref()
            .expect("an over-limit step stalled");
        violations.push(Violation {
            limit: format!(
                "stall ≤ {} during step {} (`{}`)",
                crate::format::format_ms(limit),
                step.index,
                step.summary
            ),
            text: format!(
                "{} stalled {} during step {}, over the {} limit",
                stall.stream,
                crate::format::format_ms(stall.stall_ms),
                step.index,
                crate::format::format_ms(limit)
            ),
        });
    }
    let failed: u64 = traffic.iter().map(|stream| stream.failed).sum();
    if failed > 0 {
        violations.push(Violation {
            limit: "failed statements ≤ 0".to_owned(),
            text: format!("{failed} traffic statements failed, over the 0 allowed"),
        });
    }
    violations
}

/// Each step's duration across the scales, fitted on log-log axes through the two
/// points.
fn growth(runs: &[MigrationRun]) -> Vec<StepGrowth> {
    let mut growth = Vec::new();
    for migration in ["shipped", "safer"] {
        let mine: Vec<&MigrationRun> = runs
            .iter()
            .filter(|run| run.migration == migration)
            .collect();
        for (position, step) in mine[0].steps.iter().enumerate() {
            let durations_ms: Vec<f64> = mine
                .iter()
                .map(|run| run.steps[position].duration_ms())
                .collect();
            let scales: Vec<u64> = mine.iter().map(|run| run.scale).collect();
            let exponent = (durations_ms.iter().all(|ms| *ms >= 1.0)).then(|| {
                let rise = (durations_ms[1] / durations_ms[0]).ln();
                let run = (scales[1] as f64 / scales[0] as f64).ln();
                (rise / run * 100.0).round() / 100.0
            });
            growth.push(StepGrowth {
                migration: migration.to_owned(),
                step: step.index,
                summary: step.summary.clone(),
                scales,
                durations_ms,
                super_linear: exponent.is_some_and(|exponent| exponent > 1.3),
                exponent,
                not_judged: None,
            });
        }
    }
    growth
}

/// `shipped` at 250,000 rows alone, its `ADD COLUMN` never seen by the sampler: the
/// lock is known from the step's SQL only, and nothing else locked or waited.
pub fn unseen_add_column() -> Rehearsal {
    let mut rehearsal = rehearsal();
    rehearsal.runs.truncate(1);
    rehearsal.growth.clear();
    let run = &mut rehearsal.runs[0];
    run.steps.truncate(1);
    run.steps[0].locks.clear();
    run.steps[0].declared_locks = vec![DeclaredLock {
        relation: "workflow_runs".to_owned(),
        mode: "ACCESS EXCLUSIVE".to_owned(),
        seen: false,
    }];
    run.timeline.holds.clear();
    rehearsal
}
