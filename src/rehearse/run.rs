//! One rehearsal from start to end: for each migration at each scale, seed the
//! pre-migration state, start the lock sampler and the traffic, wait out the warm-up
//! (refuse traffic that fails before anything changed, warn of a stream that cannot
//! keep its rate), run the steps one by one on a session of their own until one
//! fails, keep the traffic going for the tail, stop it, check the invariants, and drop
//! the database. Runs a stop left undone are listed with why. Then, once, measure
//! what the sampler costs the traffic.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio_postgres::Client;

use super::analyze::{self, Observed, StepRun, StreamInfo};
use super::invariants::check_invariants;
use super::migration::{Sessions, run_step, server_major};
use super::overhead::sampler_overhead;
use super::sampler::{DEFAULT_INTERVAL, LockRecording, LockSampler};
use super::setup::{
    check_on_schema_before, check_warm_up, pools, rate_warnings, stream_infos, streams,
};
use super::steps::{self, Step};
use super::traffic::{Execution, Pools, Stream, Traffic};
use crate::error::{Error, Result};
use crate::input::Scenario;
use crate::input::rehearsal::{Invariant, RehearsalSpec, RehearsedMigration};
use crate::outcome::rehearsal::{
    FORMAT_VERSION, InvariantOutcome, Limits, MigrationRun, NotRun, Rehearsal, SamplerOverhead,
    SamplerStats, StepOutcome, TableRows, TrafficStream, Violation,
};
use crate::pipeline::{PreparedDatabase, RunOptions};
use crate::progress::Progress;
use crate::provision::{ScratchDatabase, Server};

/// How long the traffic's last executions may take to finish once it is stopped
/// before they are cancelled.
const STOP_GRACE: Duration = Duration::from_secs(30);

/// What the user chose for one rehearsal, beyond the scenario file.
#[derive(Debug, Clone)]
pub struct RehearseOptions {
    /// The scales to rehearse at; the scenario's when `None`.
    pub scales: Option<Vec<u64>>,
    pub seed: Option<u64>,
    /// Only these migrations (by name); all when empty.
    pub migrations: Vec<String>,
    pub progress: Progress,
    /// Measure the lock sampler's cost to the traffic after the last run.
    pub measure_overhead: bool,
    /// Rehearse each migration at each scale this many times, each on a freshly
    /// seeded database (1: once).
    pub repeat: usize,
}

/// A rehearsal's result, and the error that stopped it early, if one did: the report
/// is written either way, with the steps done.
pub struct Rehearsed {
    pub rehearsal: Rehearsal,
    pub failure: Option<Error>,
}

/// What every run of one rehearsal shares.
#[derive(Clone, Copy)]
struct Context<'a> {
    server: &'a Server,
    /// The scenario as its pre-migration state (see [`before_migration`]).
    before: &'a Scenario,
    spec: &'a RehearsalSpec,
    seed: u64,
    progress: Progress,
}

/// Rehearses every migration of `scenario` at every scale on `server`.
pub async fn rehearse(
    server: &Server,
    scenario: &Scenario,
    options: &RehearseOptions,
) -> Result<Rehearsed> {
    let spec = scenario.rehearsal.as_ref().ok_or_else(|| {
        Error::input(
            &scenario.path,
            "declares no [rehearsal]; see docs/scenario-format.md for how to write one",
        )
    })?;
    let migrations = selected_migrations(scenario, spec, &options.migrations)?;
    let scales = options
        .scales
        .clone()
        .unwrap_or_else(|| spec.scales.clone());
    let before = before_migration(scenario, spec);
    let seed = options.seed.unwrap_or(scenario.dataset.model.seed);
    let context = Context {
        server,
        before: &before,
        spec,
        seed,
        progress: options.progress,
    };
    let mut rehearsal = empty_rehearsal(scenario, spec, server, seed);
    rehearsal.repeat = options.repeat.max(1);
    let planned = planned(&migrations, &scales, rehearsal.repeat);
    let total = planned.len();
    let mut failure: Option<(String, Error)> = None;
    for (position, planned) in planned.into_iter().enumerate() {
        if let Some((stopped, _)) = &failure {
            rehearsal.not_run.push(planned.not_run(stopped.clone()));
            continue;
        }
        let overhead = options.measure_overhead && position + 1 == total;
        let ran = run_at_scale(context, planned, overhead).await;
        let reached = ran.run.is_some();
        rehearsal.runs.extend(ran.run);
        if ran.overhead.is_some() {
            rehearsal.sampler_overhead = ran.overhead;
        }
        if let Some(server_version) = ran.server_version {
            rehearsal.server_version = server_version;
        }
        if let Some(error) = ran.failure {
            if !reached {
                rehearsal.not_run.push(planned.not_run(error.to_string()));
            }
            let stopped = format!("the rehearsal stopped at {}: {error}", planned.place());
            failure = Some((stopped, error));
        }
    }
    let failure = failure.map(|(_, error)| error);
    rehearsal.growth = analyze::growth(&rehearsal.runs);
    rehearsal.notes.push(format!(
        "Stall: the time a traffic statement spent waiting on a lock, its own waits (as the sampler saw them, every {} ms) and its queue on its connection behind an earlier statement's wait; zero for one that waited on no lock. Latency: from when it was due to when it finished.",
        DEFAULT_INTERVAL.as_millis()
    ));
    Ok(Rehearsed { rehearsal, failure })
}

/// One run the rehearsal asked for: a migration at a scale, and which of the
/// `--repeat` runs it is (`None` without `--repeat`).
#[derive(Clone, Copy)]
struct Planned<'a> {
    migration: &'a RehearsedMigration,
    scale: u64,
    repetition: Option<usize>,
}

impl Planned<'_> {
    /// `safer at 1,000,000 rows`, `safer at 1,000,000 rows, run 2`.
    fn place(&self) -> String {
        let mut place = format!(
            "{} at {} rows",
            self.migration.name,
            crate::format::format_count(self.scale as f64)
        );
        if let Some(repetition) = self.repetition {
            place.push_str(&format!(", run {repetition}"));
        }
        place
    }

    fn not_run(&self, reason: String) -> NotRun {
        NotRun {
            migration: self.migration.name.clone(),
            scale: self.scale,
            repetition: self.repetition,
            reason,
        }
    }
}

/// Every run, in order: each migration at each scale, `repeat` times in a row.
fn planned<'a>(
    migrations: &[&'a RehearsedMigration],
    scales: &[u64],
    repeat: usize,
) -> Vec<Planned<'a>> {
    let mut planned = Vec::new();
    for migration in migrations {
        for &scale in scales {
            for repetition in 1..=repeat {
                planned.push(Planned {
                    migration,
                    scale,
                    repetition: (repeat > 1).then_some(repetition),
                });
            }
        }
    }
    planned
}

/// The migrations `names` asks for, in the order given; all of the scenario's when
/// it names none. A name the scenario does not declare is a usage error, found
/// before any server starts.
pub fn selected_migrations<'a>(
    scenario: &Scenario,
    spec: &'a RehearsalSpec,
    names: &[String],
) -> Result<Vec<&'a RehearsedMigration>> {
    if names.is_empty() {
        return Ok(spec.migrations.iter().collect());
    }
    names
        .iter()
        .map(|name| {
            spec.migrations
                .iter()
                .find(|migration| &migration.name == name)
                .ok_or_else(|| {
                    Error::Usage(format!(
                        "--migration {name}: scenario {} rehearses {}",
                        scenario.name,
                        spec.migrations
                            .iter()
                            .map(|migration| migration.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
                })
        })
        .collect()
}

/// The rehearsal's document before any run: what it is, where and under which limits.
fn empty_rehearsal(
    scenario: &Scenario,
    spec: &RehearsalSpec,
    server: &Server,
    seed: u64,
) -> Rehearsal {
    Rehearsal {
        format_version: FORMAT_VERSION,
        scenario: scenario.name.clone(),
        description: scenario.description.clone(),
        scenario_file: scenario.path.display().to_string(),
        dataset_file: scenario.dataset.path.display().to_string(),
        seed,
        server_version: String::new(),
        backend: server.backend().to_string(),
        host: host_summary(),
        limits: Limits {
            max_stall_ms: spec.max_stall.as_secs_f64() * 1000.0,
            failed_statements: spec.failed_statements,
        },
        repeat: 1,
        runs: Vec::new(),
        not_run: Vec::new(),
        growth: Vec::new(),
        sampler_overhead: None,
        notes: Vec::new(),
    }
}

/// What one migration at one scale gave: its run when it got that far, the
/// sampler's cost when measured, the server's version once seeded, and the error
/// that stops the rehearsal, if one does.
#[derive(Default)]
struct AtScale {
    run: Option<MigrationRun>,
    overhead: Option<SamplerOverhead>,
    server_version: Option<String>,
    failure: Option<Error>,
}

/// One migration at one scale, on a database seeded for it alone and dropped after.
async fn run_at_scale(
    context: Context<'_>,
    planned: Planned<'_>,
    measure_overhead: bool,
) -> AtScale {
    let Planned {
        migration, scale, ..
    } = planned;
    context.progress.note(&format!(
        "rehearsing migration {} at {scale} rows of {}{}",
        migration.name,
        context.before.dataset.scale_table(),
        planned
            .repetition
            .map_or(String::new(), |repetition| format!(", run {repetition}"))
    ));
    let run_options = RunOptions {
        scale: Some(scale),
        seed: Some(context.seed),
        progress: context.progress,
        timing: Default::default(),
        keep: false,
        stability: None,
    };
    let seeding = Instant::now();
    let prepared =
        match PreparedDatabase::create(context.server, &[context.before], &run_options).await {
            Ok(prepared) => prepared,
            Err(error) => {
                return AtScale {
                    failure: Some(error),
                    ..AtScale::default()
                };
            }
        };
    let seed_time = seeding.elapsed();
    let mut at = AtScale {
        server_version: Some(prepared.environment.server_version.clone()),
        ..AtScale::default()
    };
    let ran = rehearse_one(&prepared, context, migration, measure_overhead).await;
    let discarded = prepared.discard().await;
    match ran {
        Ok((mut run, overhead, error)) => {
            run.seed_ms = seed_time.as_secs_f64() * 1000.0;
            run.repetition = planned.repetition;
            at.run = Some(run);
            at.overhead = overhead;
            at.failure = error;
        }
        Err(error) => at.failure = Some(error),
    }
    if at.failure.is_none() {
        at.failure = discarded.err();
    }
    at
}

/// The scenario as the pre-migration state: its rehearsal's schema, its dataset
/// without the columns the migration adds, its picks and target, no queries.
fn before_migration(scenario: &Scenario, spec: &RehearsalSpec) -> Scenario {
    Scenario {
        name: scenario.name.clone(),
        path: scenario.path.clone(),
        description: scenario.description.clone(),
        gate: false,
        min_scale: None,
        time_budget: None,
        dataset: scenario
            .dataset
            .before_migration(spec.schema.clone(), spec.leave_out.clone()),
        target: scenario.target.clone(),
        settings: scenario.settings.clone(),
        migration: Vec::new(),
        variants: Vec::new(),
        picks: scenario.picks.clone(),
        queries: Vec::new(),
        checks: Vec::new(),
        sweep: None,
        rehearsal: None,
    }
}

fn host_summary() -> String {
    let host = crate::outcome::Host::current();
    format!(
        "{} cores, {:.1} GiB, {}, {}",
        host.cores,
        host.memory_mib as f64 / 1024.0,
        host.cpu,
        host.os
    )
}

/// The run, the sampler's measured cost when asked, and the error that stopped the
/// run early (a failed step, the time budget).
type OneRun = (MigrationRun, Option<SamplerOverhead>, Option<Error>);

/// What a run needs before its clock starts: the steps, the traffic's streams bound
/// to the picks' rows, and the streams as the analysis names them.
struct Setup {
    steps: Vec<Step>,
    streams: Vec<Stream>,
    infos: Vec<StreamInfo>,
    pools: Arc<Pools>,
    server_major: u32,
}

impl Setup {
    async fn prepare(
        prepared: &PreparedDatabase,
        context: Context<'_>,
        migration: &RehearsedMigration,
    ) -> Result<Setup> {
        let (scenario, spec) = (context.before, context.spec);
        let client = prepared.client();
        let server_major = server_major(client).await?;
        let steps = steps::migration_steps(&migration.fixtures, server_major);
        let target = prepared.target_values(scenario)?;
        let generated = prepared.generated_picks(scenario, &[])?;
        let (pools, columns) = pools(client, scenario, &target, &generated).await?;
        let streams = streams(scenario, spec, migration, &steps, &target, &columns)?;
        check_on_schema_before(client, spec, &streams).await?;
        Ok(Setup {
            infos: stream_infos(spec, &streams, &steps),
            steps,
            streams,
            pools: Arc::new(pools),
            server_major,
        })
    }
}

/// The traffic and the sampler running on one clock, and the migration's session.
struct Running {
    clock: Instant,
    sampler: LockSampler,
    traffic: Traffic,
    /// Tells the streams that wait for a step how many steps have finished.
    steps_done: watch::Sender<usize>,
    stepper: Client,
    step_pid: i32,
}

impl Running {
    /// Opens the migration's session, then starts the sampler (watching it) and the
    /// traffic.
    async fn start(scratch: &ScratchDatabase, setup: &Setup, seed: u64) -> Result<Running> {
        let stepper = scratch.connect().await?;
        let step_pid: i32 = stepper
            .query_one(
                "SELECT pg_backend_pid(), set_config('application_name', 'plancheck rehearsal: migration', false)",
                &[],
            )
            .await
            .map_err(Error::database("opening the migration's session"))?
            .get(0);
        let clock = Instant::now();
        let sampler = LockSampler::start_watching(
            scratch.connect().await?,
            clock,
            DEFAULT_INTERVAL,
            vec![step_pid],
        )
        .await?;
        let (steps_done, steps_seen) = watch::channel(0usize);
        let traffic = Traffic::start(
            scratch,
            &setup.streams,
            Arc::clone(&setup.pools),
            seed,
            clock,
            steps_seen,
        )
        .await?;
        Ok(Running {
            clock,
            sampler,
            traffic,
            steps_done,
            stepper,
            step_pid,
        })
    }

    /// Stops the traffic, then the sampler, and hands back what they recorded.
    async fn stop(self) -> Result<Recorded> {
        let starts = self.traffic.starts();
        let pids = self.traffic.pids.clone();
        let executions = self.traffic.stop(STOP_GRACE).await;
        let end = self.clock.elapsed();
        let recording = self.sampler.stop().await?;
        Ok(Recorded {
            starts,
            pids,
            executions,
            end,
            recording,
        })
    }
}

/// What the traffic and the sampler recorded over a run.
struct Recorded {
    starts: Vec<Option<Duration>>,
    pids: Vec<(i32, usize)>,
    executions: Vec<Execution>,
    /// When the traffic stopped.
    end: Duration,
    recording: LockRecording,
}

/// The steps that ran, and why the run stopped before the last, if it did.
struct StepsRan {
    runs: Vec<StepRun>,
    stopped: Option<Stop>,
}

/// Why a run stopped before its last step.
enum Stop {
    /// The migration failed (a step's error on this data or under this traffic, its
    /// budget, the time budget): a finding. The run goes on to its tail and its
    /// invariants, and the rehearsal to the next run.
    Failed(String),
    /// The input is wrong (a step's SQL the server refuses whatever the data): the
    /// rehearsal stops with this error.
    Input(String, Error),
}

impl Stop {
    fn why(&self) -> &str {
        match self {
            Stop::Failed(why) | Stop::Input(why, _) => why,
        }
    }
}

/// One migration on a seeded database: warm-up, steps, tail, then the invariants and
/// the verdict (unless bad input stopped it, which is handed back), and the sampler's
/// cost when asked and the migration completed.
async fn rehearse_one(
    prepared: &PreparedDatabase,
    context: Context<'_>,
    migration: &RehearsedMigration,
    measure_overhead: bool,
) -> Result<OneRun> {
    let (spec, progress) = (context.spec, context.progress);
    let scratch = prepared
        .scratch()
        .ok_or_else(|| Error::Infrastructure("the rehearsal's database is gone".into()))?;
    let setup = Setup::prepare(prepared, context, migration).await?;
    let running = Running::start(scratch, &setup, context.seed).await?;
    let budget_end = running.clock + spec.time_budget;

    let phase = progress.phase("rehearsal: warm-up");
    tokio::time::sleep(spec.warm_up).await;
    phase.finish();
    check_warm_up(&running.traffic, spec)?;
    let warnings = rate_warnings(&running.traffic, spec, &setup.streams);

    let phase = progress.phase("rehearsal: migration steps");
    let ran = run_steps(prepared, context, migration, &setup, &running, budget_end).await?;
    phase.finish();

    // The traffic runs on after a failed migration too: what it left (an invalid
    // index still maintained on every write, a column half filled) is what
    // production would run on.
    let phase = progress.phase("rehearsal: tail");
    if !matches!(ran.stopped, Some(Stop::Input(..))) {
        tokio::time::sleep(spec.tail).await;
    }
    let step_pid = running.step_pid;
    let recorded = running.stop().await?;
    phase.finish();

    let mut run = analyzed(
        prepared, context, migration, &setup, &ran, step_pid, &recorded,
    )
    .await?;
    run.stopped = ran.stopped.as_ref().map(|stop| stop.why().to_owned());
    run.warnings = warnings;
    let error = match ran.stopped {
        Some(Stop::Input(_, error)) => Some(error),
        stopped => {
            conclude(prepared, context, migration, &mut run, stopped.is_some()).await?;
            None
        }
    };
    let overhead = match (measure_overhead, &run.stopped) {
        (true, None) => Some(
            sampler_overhead(
                prepared,
                &setup.streams,
                &setup.pools,
                context.seed,
                progress,
            )
            .await?,
        ),
        _ => None,
    };
    Ok((run, overhead, error))
}

/// Checks the invariants on what the run left and says what it broke; after a failed
/// migration, the failed step also says what it left behind when plancheck's own
/// invariant found something invalid.
async fn conclude(
    prepared: &PreparedDatabase,
    context: Context<'_>,
    migration: &RehearsedMigration,
    run: &mut MigrationRun,
    migration_failed: bool,
) -> Result<()> {
    let scratch = prepared
        .scratch()
        .ok_or_else(|| Error::Infrastructure("the rehearsal's database is gone".into()))?;
    let (scenario, spec) = (context.before, context.spec);
    let seeded = &prepared.seeded.tables;
    let invariants: Vec<&Invariant> = spec
        .invariants
        .iter()
        .chain(&migration.invariants)
        .collect();
    run.invariants = check_invariants(
        scratch,
        scenario,
        &invariants,
        seeded,
        &run.traffic,
        migration_failed,
    )
    .await?;
    run.violations = violations(spec, &run.steps, &run.traffic, &run.invariants);
    let left = run
        .invariants
        .iter()
        .find(|invariant| invariant.builtin && !invariant.held)
        .map(|invariant| invariant.actual.clone());
    if let (Some(left), Some(failed)) =
        (left, run.steps.iter_mut().find(|step| step.error.is_some()))
    {
        failed.explanation.push(format!("It left behind: {left}."));
    }
    Ok(())
}

/// Runs the migration's steps in order, each under the step budget and what is left
/// of the time budget, until one fails or the time budget runs out. After a failure
/// the migration's session rolls back what its own open transaction block did, as
/// the session of a migration tool that stops at the first error does when it
/// disconnects.
async fn run_steps(
    prepared: &PreparedDatabase,
    context: Context<'_>,
    migration: &RehearsedMigration,
    setup: &Setup,
    running: &Running,
    budget_end: Instant,
) -> Result<StepsRan> {
    let spec = context.spec;
    let sessions = Sessions {
        stepper: &running.stepper,
        observer: prepared.client(),
        server_major: setup.server_major,
    };
    let mut runs: Vec<StepRun> = Vec::new();
    for (index, step) in setup.steps.iter().enumerate() {
        let remaining = budget_end.saturating_duration_since(Instant::now());
        let budget = spec.step_budget.min(remaining);
        let not_run = setup.steps.len() - index;
        if budget < Duration::from_millis(1) {
            roll_back(&running.stepper).await?;
            return Ok(StepsRan {
                runs,
                stopped: Some(out_of_time(context, index, not_run)),
            });
        }
        let run = run_step(&sessions, step, budget, running.clock).await?;
        let failed = run
            .error
            .is_some()
            .then(|| step_failed(migration, index, &run, budget, not_run - 1));
        runs.push(run);
        // Streams waiting for a step that failed are not started: the run stops.
        if let Some(stop) = failed {
            roll_back(&running.stepper).await?;
            return Ok(StepsRan {
                runs,
                stopped: Some(stop),
            });
        }
        let _ = running.steps_done.send(index + 1);
    }
    Ok(StepsRan {
        runs,
        stopped: None,
    })
}

/// Ends the migration's open transaction block, if it has one, as its session's end
/// would: nothing it did there is kept, and no lock it took is held on through the
/// tail. Outside a block the server only warns.
async fn roll_back(stepper: &Client) -> Result<()> {
    stepper
        .batch_execute("ROLLBACK")
        .await
        .map_err(Error::database(
            "rolling back the stopped migration's session",
        ))
}

/// Why the run stopped when the time budget ran out before step `index`.
fn out_of_time(context: Context<'_>, index: usize, not_run: usize) -> Stop {
    Stop::Failed(format!(
        "the rehearsal's time budget ({}, rehearsal.time_budget) ran out before step {}; {}",
        crate::progress::duration(context.spec.time_budget),
        index + 1,
        steps_not_run(not_run)
    ))
}

/// `2 steps did not run`.
fn steps_not_run(count: usize) -> String {
    match count {
        0 => "no step was left to run".to_owned(),
        1 => "1 step did not run".to_owned(),
        n => format!("{n} steps did not run"),
    }
}

/// Why the run stopped when step `index` failed. A statement the server refuses
/// whatever the data (see [`refused_whatever_the_data`]) is bad input; any other
/// failure is the migration's, a finding.
fn step_failed(
    migration: &RehearsedMigration,
    index: usize,
    run: &StepRun,
    budget: Duration,
    not_run: usize,
) -> Stop {
    let step = &run.step;
    // A server detail ends with a period, and the sentence goes on after it.
    let error = run
        .error
        .as_deref()
        .unwrap_or_default()
        .trim_end_matches('.');
    let at = format!("{}:{}", step.file.display(), step.line);
    if run.timed_out {
        return Stop::Failed(format!(
            "step {} ({at}) ran past its budget of {}: raise rehearsal.step_budget or rehearsal.time_budget, or rehearse at a smaller scale; {}",
            index + 1,
            crate::progress::duration(budget),
            steps_not_run(not_run)
        ));
    }
    if refused_whatever_the_data(run.sqlstate.as_deref()) {
        return Stop::Input(
            format!("step {} failed: {error}", index + 1),
            Error::input(
                &step.file,
                format!(
                    "step {} of migration {} (line {}) failed: {error}",
                    index + 1,
                    migration.name,
                    step.line
                ),
            ),
        );
    }
    Stop::Failed(format!(
        "step {} ({at}) failed: {error}; {}",
        index + 1,
        steps_not_run(not_run)
    ))
}

/// Whether an error's SQLSTATE says the server refuses the statement itself, on any
/// data: a syntax error or a name the schema does not have (class 42), or a statement
/// that cannot run inside a transaction block (25001). Such a step is a mistake in
/// the migration or the scenario, not a finding about the data.
fn refused_whatever_the_data(sqlstate: Option<&str>) -> bool {
    sqlstate.is_some_and(|code| code.starts_with("42") || code == "25001")
}

/// The run as the analysis sees what was recorded: its steps, traffic and timeline,
/// with no invariant or verdict yet.
async fn analyzed(
    prepared: &PreparedDatabase,
    context: Context<'_>,
    migration: &RehearsedMigration,
    setup: &Setup,
    ran: &StepsRan,
    step_pid: i32,
    recorded: &Recorded,
) -> Result<MigrationRun> {
    let tables = tables_among(prepared.client(), &recorded.recording).await?;
    let observed = Observed {
        steps: &ran.runs,
        step_pid,
        streams: &setup.infos,
        starts: &recorded.starts,
        pids: &recorded.pids,
        executions: &recorded.executions,
        spans: &recorded.recording.spans(),
        interval: DEFAULT_INTERVAL,
        tables: &tables,
        end: recorded.end,
        max_stall: context.spec.max_stall,
    };
    Ok(MigrationRun {
        migration: migration.name.clone(),
        scale: prepared.seeded.scale,
        repetition: None,
        seeded: prepared
            .seeded
            .tables
            .iter()
            .map(|table| TableRows {
                table: table.name.clone(),
                rows: table.rows,
            })
            .collect(),
        seed_ms: 0.0,
        // As they were, not as asked: from the first stream's start (its connections
        // open after the clock starts) to the first step, and from the last step that
        // ran to the traffic's stop, which an input error brings at once.
        warm_up_ms: millis(
            ran.runs
                .first()
                .map_or(recorded.end, |step| step.start)
                .saturating_sub(
                    recorded
                        .starts
                        .iter()
                        .flatten()
                        .min()
                        .copied()
                        .unwrap_or_default(),
                ),
        ),
        tail_ms: millis(
            recorded
                .end
                .saturating_sub(ran.runs.last().map_or(Duration::ZERO, |step| step.end)),
        ),
        traffic: observed.stream_summaries(),
        steps: observed.step_outcomes(),
        steps_not_run: setup.steps.len() - ran.runs.len(),
        invariants: Vec::new(),
        timeline: observed.timeline(),
        sampler: sampler_stats(&recorded.recording),
        stopped: None,
        warnings: Vec::new(),
        violations: Vec::new(),
    })
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// How regularly the sampler read the lock table during the run.
fn sampler_stats(recording: &LockRecording) -> SamplerStats {
    let stats = recording.interval_stats();
    SamplerStats {
        requested_interval_ms: millis(recording.requested_interval),
        ticks: stats.ticks,
        median_interval_ms: millis(stats.median_gap),
        p99_interval_ms: millis(stats.p99_gap),
        max_interval_ms: millis(stats.max_gap),
        median_query_ms: millis(stats.median_query),
    }
}

/// Every limit and invariant the run broke, each named the same way in every run of
/// the migration.
fn violations(
    spec: &RehearsalSpec,
    steps: &[StepOutcome],
    traffic: &[TrafficStream],
    invariants: &[InvariantOutcome],
) -> Vec<Violation> {
    let max_stall = millis(spec.max_stall);
    let mut violations = Vec::new();
    for step in steps {
        if let Some(stall) = step.longest_stall.as_ref().filter(|_| step.over_limit) {
            violations.push(Violation {
                limit: format!(
                    "stall ≤ {max_stall:.0} ms during step {} (`{}`)",
                    step.index, step.summary
                ),
                text: format!(
                    "step {} (`{}`): {} stalled {:.0} ms, over the limit of {max_stall:.0} ms",
                    step.index, step.summary, stall.stream, stall.stall_ms,
                ),
            });
        }
    }
    let failed: u64 = traffic.iter().map(|stream| stream.failed).sum();
    if failed > spec.failed_statements {
        violations.push(Violation {
            limit: format!("failed statements ≤ {}", spec.failed_statements),
            text: format!(
                "{failed} traffic statement(s) failed, over the {} allowed",
                spec.failed_statements
            ),
        });
    }
    for invariant in invariants.iter().filter(|invariant| !invariant.held) {
        violations.push(Violation {
            limit: format!("invariant {:?}", invariant.name),
            text: format!(
                "invariant {:?} does not hold: expected {}, found {}",
                invariant.name, invariant.expected, invariant.actual
            ),
        });
    }
    violations
}

/// The relations the sampler saw that are tables (of any kind), not indexes.
async fn tables_among(
    client: &Client,
    recording: &super::sampler::LockRecording,
) -> Result<Vec<String>> {
    let mut names: Vec<String> = recording
        .samples
        .iter()
        .filter_map(|sample| sample.relation.clone())
        .collect();
    names.sort();
    names.dedup();
    let rows = client
        .query(
            "SELECT c.oid::regclass::text FROM pg_class c \
             WHERE c.oid::regclass::text = ANY($1) AND c.relkind IN ('r', 'p', 'm', 'f')",
            &[&names],
        )
        .await
        .map_err(Error::database("reading which locked relations are tables"))?;
    Ok(rows.iter().map(|row| row.get(0)).collect())
}
