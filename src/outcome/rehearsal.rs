//! What `plancheck rehearse` found: for each migration at each scale, what its steps
//! did (duration, locks, rows) and what the traffic running meanwhile felt (latency,
//! stalls behind the steps' locks, errors), the invariants checked afterwards, and how
//! each step's duration grew with the table. Plain data, filled by `rehearse` and read
//! by the rehearsal reports; nothing here talks to a server.
//!
//! Times are milliseconds on one clock per run: from the moment the traffic started,
//! shared by the traffic's timings and the lock sampler, so a chart lines them up.

use serde::{Deserialize, Serialize};

/// The version of the rehearsal's JSON document; raised when a field changes meaning
/// or goes away.
pub const FORMAT_VERSION: u32 = 2;

/// Everything one `plancheck rehearse` found: the input of every rehearsal report.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Rehearsal {
    pub format_version: u32,
    pub scenario: String,
    pub description: String,
    pub scenario_file: String,
    pub dataset_file: String,
    pub seed: u64,
    /// `server_version` as the server reports it.
    pub server_version: String,
    /// Which backend ran the server, in words (`local (PostgreSQL 15.8 …)`).
    pub backend: String,
    /// The machine, in words (`2 cores, 23.4 GiB, …`).
    pub host: String,
    pub limits: Limits,
    /// How many times each migration was rehearsed at each scale (`--repeat`); 1
    /// without.
    pub repeat: usize,
    /// One run per migration per scale (and repetition), migrations in declaration
    /// order, each at every scale in increasing order.
    pub runs: Vec<MigrationRun>,
    /// The runs asked for that did not happen, because the rehearsal stopped before
    /// them (bad input found on the way, a server lost), and why.
    pub not_run: Vec<NotRun>,
    /// Each step's duration across the scales, per migration; empty with one scale.
    pub growth: Vec<StepGrowth>,
    /// The lock sampler's cost to traffic throughput, measured once per rehearsal.
    pub sampler_overhead: Option<SamplerOverhead>,
    /// What the reader should know about how the figures were taken.
    pub notes: Vec<String>,
}

impl Rehearsal {
    /// Whether every run asked for ran, stayed within its limits and kept every
    /// invariant.
    pub fn passed(&self) -> bool {
        self.not_run.is_empty() && self.runs.iter().all(MigrationRun::passed)
    }
}

/// A migration at a scale that was asked for and not rehearsed.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct NotRun {
    pub migration: String,
    pub scale: u64,
    /// Which of the `--repeat` runs (from 1); `None` without `--repeat`.
    pub repetition: Option<usize>,
    /// Why: what stopped the rehearsal, and where.
    pub reason: String,
}

/// What the traffic may feel, as the scenario sets it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// The longest stall (see [`Stall`]) any traffic statement may see during a step.
    pub max_stall_ms: f64,
    /// Failed traffic statements allowed over the whole run.
    pub failed_statements: u64,
}

/// One migration rehearsed at one scale.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MigrationRun {
    /// The migration's name in the scenario (`shipped`, `safer`).
    pub migration: String,
    /// Rows of the dataset's scale table.
    pub scale: u64,
    /// Which of the `--repeat` runs of this migration at this scale it is (from 1);
    /// `None` without `--repeat`.
    pub repetition: Option<usize>,
    /// Rows seeded per table, in the dataset's order.
    pub seeded: Vec<TableRows>,
    /// How long seeding the pre-migration state took.
    pub seed_ms: f64,
    /// Traffic ran alone for this long before the first step.
    pub warm_up_ms: f64,
    /// And this long after the last step.
    pub tail_ms: f64,
    pub traffic: Vec<TrafficStream>,
    /// Every step that started, in order (a failed step is the last).
    pub steps: Vec<StepOutcome>,
    /// Steps of the migration that never ran because an earlier one failed or the time
    /// budget ran out.
    pub steps_not_run: usize,
    pub invariants: Vec<InvariantOutcome>,
    pub timeline: Timeline,
    pub sampler: SamplerStats,
    /// Why the run stopped before its last step, if it did.
    pub stopped: Option<String>,
    /// What the reader should weigh the figures by, though no limit broke: traffic
    /// that could not keep its rate before anything changed.
    pub warnings: Vec<String>,
    /// Every limit or invariant the run broke; empty when it passed.
    pub violations: Vec<Violation>,
}

/// A limit or an invariant a run broke.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Violation {
    /// Which, in the same words in every run of the migration, so that repeated runs
    /// can be counted by it: `stall ≤ 250 ms during step 3 (ALTER TABLE …)`,
    /// `failed statements ≤ 0`, `invariant "nothing lost"`.
    pub limit: String,
    /// What broke it, in words.
    pub text: String,
}

impl MigrationRun {
    pub fn passed(&self) -> bool {
        self.violations.is_empty() && self.stopped.is_none()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TableRows {
    pub table: String,
    pub rows: u64,
}

/// One named traffic statement over the whole run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TrafficStream {
    pub name: String,
    /// The statement it ran.
    pub sql: String,
    /// Executions per second asked for.
    pub rate: f64,
    pub connections: u32,
    /// When it started on the run's clock: 0, or the end of the step it waits for.
    pub started_ms: f64,
    /// The step it started after (its summary), if it waited for one.
    pub started_after: Option<String>,
    /// Executions finished (successful or not).
    pub executed: u64,
    pub failed: u64,
    /// Executions per second it achieved while it ran.
    pub achieved_rate: f64,
    /// The table its statement writes, when it is an INSERT, UPDATE or DELETE.
    pub table: Option<String>,
    /// Rows its successful executions reported (the `INSERT 0 n` count).
    pub rows_acknowledged: u64,
    /// Latency (from when an execution was due to when it finished) over the whole run.
    pub latency: Latency,
    /// The longest stall over the whole run (see [`Stall`]).
    pub max_stall_ms: f64,
}

/// Percentiles (nearest rank) of traffic latencies, in milliseconds: from when an
/// execution was due to when it finished, so time spent queued for a busy connection
/// counts.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct Latency {
    pub count: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// One step of a migration (one statement, split the way psql splits a file).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StepOutcome {
    /// 1-based, within the migration.
    pub index: usize,
    pub file: String,
    /// 1-based line of the statement's first character in `file`.
    pub line: usize,
    /// The statement's first line, shortened: what a table row shows.
    pub summary: String,
    pub sql: String,
    /// `in a transaction block`, or `outside a transaction block: <why>`.
    pub transaction: String,
    pub start_ms: f64,
    pub end_ms: f64,
    /// The server's error, when the step failed.
    pub error: Option<String>,
    /// Rows the step wrote, where the server reports them (a DML command's tag) or
    /// its tables' write counters show them; `None` when neither says.
    pub rows: Option<u64>,
    /// The strongest lock the step's session held on each relation, strongest first,
    /// as the sampler saw it.
    pub locks: Vec<HeldLock>,
    /// The locks the statement's kind takes, from its SQL alone (`ACCESS EXCLUSIVE on
    /// workflow_runs`), each marked seen or not: a lock held for less than the
    /// sampler's interval may not be seen. Empty when the SQL does not say (a `DO`
    /// block).
    pub declared_locks: Vec<DeclaredLock>,
    /// How long the step's session waited for a lock before it could go on.
    pub waited_ms: f64,
    /// Who the step waited for: traffic stream names (or `pid N` for sessions
    /// plancheck did not start).
    pub waited_for: Vec<String>,
    /// The traffic statement that stalled longest while the step ran.
    pub longest_stall: Option<Stall>,
    /// Latencies of traffic statements that ran (at least partly) during the step.
    pub latency: Latency,
    /// Traffic statements that failed during the step.
    pub failures: Vec<TrafficFailure>,
    /// Why the traffic stalled or failed during the step, in sentences.
    pub explanation: Vec<String>,
    /// Whether a traffic stall during the step went past `max_stall_ms`.
    pub over_limit: bool,
}

impl StepOutcome {
    pub fn duration_ms(&self) -> f64 {
        self.end_ms - self.start_ms
    }
}

/// A lock a step's SQL alone says it takes.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DeclaredLock {
    /// The relation as the statement names it.
    pub relation: String,
    /// The mode as SQL names it: `ACCESS EXCLUSIVE`.
    pub mode: String,
    /// Whether the sampler saw the step's session hold this mode, or a stronger one,
    /// on the relation during the step.
    pub seen: bool,
}

/// A lock a step held on a relation, as the sampler saw it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HeldLock {
    pub relation: String,
    /// The mode as SQL names it: `ACCESS EXCLUSIVE`.
    pub mode: String,
    /// From the first sample that showed it granted to the last.
    pub from_ms: f64,
    pub to_ms: f64,
}

impl HeldLock {
    pub fn held_ms(&self) -> f64 {
        self.to_ms - self.from_ms
    }
}

/// One traffic statement's stall: the time it spent waiting on a lock, its own waits
/// as the lock sampler saw them and the time it queued on its connection behind an
/// earlier execution that waited. Zero for a statement that neither waited nor queued
/// behind a wait: a slow reader's own 1.3 s is latency, not stall, and so is the queue
/// of a reader that falls behind its rate because it got slower on its own, or the
/// lateness of a client that started it after it was due.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Stall {
    pub stream: String,
    /// When it was due.
    pub due_ms: f64,
    pub stall_ms: f64,
    /// From when it was due to when it finished.
    pub latency_ms: f64,
    /// The lock it was seen waiting for (`ROW EXCLUSIVE on workflow_runs`), if any.
    pub waited_for_lock: Option<String>,
    /// Who was first in the queue ahead of it: the step, a traffic stream, or `pid N`.
    pub first_in_queue: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TrafficFailure {
    pub stream: String,
    pub at_ms: f64,
    pub error: String,
    /// How many executions failed with this error during the step (the first shown).
    pub count: u64,
}

/// An invariant checked after the run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct InvariantOutcome {
    pub name: String,
    pub sql: String,
    /// `true`, or a count with how it is made up (`1000042 = seeded 1000000 + inserted 42`).
    pub expected: String,
    pub actual: String,
    pub held: bool,
    /// plancheck's own (every constraint validated and every index valid), not the
    /// scenario's.
    pub builtin: bool,
}

/// What the timeline chart draws.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct Timeline {
    /// From the traffic's start to its stop.
    pub duration_ms: f64,
    /// Every traffic execution: stream (index into `traffic`), when it was due, its
    /// latency and its stall.
    pub points: Vec<LatencyPoint>,
    /// Locks of ROW EXCLUSIVE strength or more that the steps' sessions held, and
    /// every wait of any session, for the chart's lock lanes.
    pub holds: Vec<TimelineLock>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LatencyPoint {
    pub stream: usize,
    pub due_ms: f64,
    pub latency_ms: f64,
    pub stall_ms: f64,
    pub failed: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TimelineLock {
    /// Whose: `step 4`, a traffic stream's name, or `pid N`.
    pub holder: String,
    pub relation: String,
    /// SQL name of the mode.
    pub mode: String,
    /// Held (true) or waited for (false).
    pub granted: bool,
    pub from_ms: f64,
    pub to_ms: f64,
}

/// How regularly the lock sampler read `pg_locks` during the run.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct SamplerStats {
    pub requested_interval_ms: f64,
    pub ticks: usize,
    pub median_interval_ms: f64,
    pub p99_interval_ms: f64,
    pub max_interval_ms: f64,
    pub median_query_ms: f64,
}

/// A step's duration at each scale and the exponent fitted on log-log axes.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StepGrowth {
    pub migration: String,
    pub step: usize,
    pub summary: String,
    pub scales: Vec<u64>,
    /// At each scale: the step's duration, the median of the runs there that ran it
    /// (several with `--repeat`); 0 where none did.
    pub durations_ms: Vec<f64>,
    /// duration ∝ scale^exponent; `None` when a duration is too short to fit (below a
    /// millisecond at some scale) or a run did not reach the step.
    pub exponent: Option<f64>,
    /// The exponent is clearly above 1 (the step grows faster than the table).
    pub super_linear: bool,
    /// Why the exponent is not judged, when it is not: the step waited for locks at
    /// some scale, so its duration measures the traffic's timing, not the table.
    pub not_judged: Option<String>,
}

/// Traffic throughput with and without the lock sampler, measured in one run: the
/// traffic's writers flat out in alternating phases of a second without and with it.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SamplerOverhead {
    /// Statements per second the writers managed without the sampler (the median phase).
    pub without_per_s: f64,
    /// And with it.
    pub with_per_s: f64,
    /// The median over the pairs of phases of `with / without`: 0.95 means a 5% cost.
    pub ratio: f64,
    /// The sampler's median interval while it measured.
    pub median_interval_ms: f64,
}
