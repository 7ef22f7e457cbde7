//! One rehearsal from start to end: for each migration at each scale, seed the
//! pre-migration state, start the lock sampler and the traffic, wait out the warm-up
//! (and refuse traffic that fails or cannot keep its rate before anything changed),
//! run the steps one by one on a session of their own, keep the traffic going for the
//! tail, stop it, check the invariants, and drop the database. Then, once, measure
//! what the sampler costs the traffic.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio_postgres::types::Type;
use tokio_postgres::{Client, SimpleQueryMessage};

use super::analyze::{self, Observed, StepRun, StreamInfo};
use super::sampler::{DEFAULT_INTERVAL, LockSampler};
use super::steps::{self, StaticLocks, Step};
use super::traffic::{Binding, Execution, Pools, Stream, Traffic};
use crate::error::{Error, Result, ServerError};
use crate::input::rehearsal::{CountTerm, Invariant, RehearsalSpec, RehearsedMigration};
use crate::input::{Param, Scenario};
use crate::outcome::rehearsal::{
    FORMAT_VERSION, InvariantOutcome, Limits, MigrationRun, Rehearsal, SamplerOverhead,
    SamplerStats, TableRows,
};
use crate::pipeline::{PreparedDatabase, RunOptions};
use crate::progress::Progress;
use crate::provision::Server;
use crate::value::Value;

/// The most rows a pick gives traffic to draw its parameters from.
pub const POOL_ROWS: i64 = 10_000;
/// How long the traffic's last executions may take to finish once it is stopped
/// before they are cancelled.
const STOP_GRACE: Duration = Duration::from_secs(30);
/// How long each phase of the sampler's cost measurement runs; the phases alternate
/// without and with the sampler, [`OVERHEAD_PHASES`] of each, so that a drift of the
/// machine's speed over the measurement (another process, the server's own
/// housekeeping) falls on both sides alike.
const OVERHEAD_PHASE: Duration = Duration::from_secs(1);
const OVERHEAD_PHASES: usize = 6;

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
}

/// A rehearsal's result, and the error that stopped it early, if one did: the report
/// is written either way, with the steps done.
pub struct Rehearsed {
    pub rehearsal: Rehearsal,
    pub failure: Option<Error>,
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
    let migrations: Vec<&RehearsedMigration> = match options.migrations.is_empty() {
        true => spec.migrations.iter().collect(),
        false => options
            .migrations
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
            .collect::<Result<_>>()?,
    };
    let scales = options
        .scales
        .clone()
        .unwrap_or_else(|| spec.scales.clone());
    let before = before_migration(scenario, spec);
    let seed = options.seed.unwrap_or(scenario.dataset.model.seed);
    let mut rehearsal = Rehearsal {
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
        runs: Vec::new(),
        growth: Vec::new(),
        sampler_overhead: None,
        notes: Vec::new(),
    };
    let total = migrations.len() * scales.len();
    let mut failure = None;
    'runs: for migration in &migrations {
        for &scale in &scales {
            let last = rehearsal.runs.len() + 1 == total;
            options.progress.note(&format!(
                "rehearsing migration {} at {scale} rows of {}",
                migration.name,
                scenario.dataset.scale_table()
            ));
            let run_options = RunOptions {
                scale: Some(scale),
                seed: Some(seed),
                progress: options.progress,
                timing: Default::default(),
                keep: false,
                stability: None,
            };
            let seeding = Instant::now();
            let prepared = match PreparedDatabase::create(server, &[&before], &run_options).await {
                Ok(prepared) => prepared,
                Err(error) => {
                    failure = Some(error);
                    break 'runs;
                }
            };
            let seed_time = seeding.elapsed();
            rehearsal.server_version = prepared.environment.server_version.clone();
            let overhead = options.measure_overhead && last;
            let ran = rehearse_one(
                &prepared,
                &before,
                spec,
                migration,
                seed,
                overhead,
                options.progress,
            )
            .await;
            let discarded = prepared.discard().await;
            match ran {
                Ok((mut run, measured, error)) => {
                    run.seed_ms = seed_time.as_secs_f64() * 1000.0;
                    rehearsal.runs.push(run);
                    if measured.is_some() {
                        rehearsal.sampler_overhead = measured;
                    }
                    if let Some(error) = error {
                        failure = Some(error);
                        break 'runs;
                    }
                }
                Err(error) => {
                    failure = Some(error);
                    break 'runs;
                }
            }
            if let Err(error) = discarded {
                failure = Some(error);
                break 'runs;
            }
        }
    }
    rehearsal.growth = analyze::growth(&rehearsal.runs);
    rehearsal.notes.push(format!(
        "Stall: how much later a traffic statement finished than it would have if no statement on its connection had waited for a lock (lock waits as the sampler saw them, every {} ms); latency: from when it was due to when it finished.",
        DEFAULT_INTERVAL.as_millis()
    ));
    Ok(Rehearsed { rehearsal, failure })
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

async fn rehearse_one(
    prepared: &PreparedDatabase,
    scenario: &Scenario,
    spec: &RehearsalSpec,
    migration: &RehearsedMigration,
    seed: u64,
    measure_overhead: bool,
    progress: Progress,
) -> Result<OneRun> {
    let scratch = prepared
        .scratch()
        .ok_or_else(|| Error::Infrastructure("the rehearsal's database is gone".into()))?;
    let client = prepared.client();
    let server_major = server_major(client).await?;
    let steps = steps::migration_steps(&migration.fixtures, server_major);
    let target = prepared.target_values(scenario)?;
    let (pools, columns) = pools(client, scenario, &target).await?;
    let streams = streams(scenario, spec, migration, &steps, &target, &columns)?;
    check_on_schema_before(client, spec, &streams).await?;

    let stepper = scratch.connect().await?;
    let step_pid: i32 = stepper
        .query_one(
            "SELECT pg_backend_pid(), set_config('application_name', 'plancheck rehearsal: migration', false)",
            &[],
        )
        .await
        .map_err(Error::database("opening the migration's session"))?
        .get(0);
    let infos: Vec<StreamInfo> = spec
        .traffic
        .iter()
        .zip(&streams)
        .map(|(traffic, stream)| StreamInfo {
            name: traffic.name.clone(),
            sql: stream.sql.clone(),
            rate: traffic.rate,
            connections: traffic.connections,
            started_after: (stream.after_steps > 0)
                .then(|| analyze::summary(&steps[stream.after_steps - 1].sql)),
            table: written_table(&traffic.sql),
        })
        .collect();

    let clock = Instant::now();
    let sampler = LockSampler::start_watching(
        scratch.connect().await?,
        clock,
        DEFAULT_INTERVAL,
        vec![step_pid],
    )
    .await?;
    let (steps_done, steps_seen) = watch::channel(0usize);
    let pools = Arc::new(pools);
    let traffic = Traffic::start(
        scratch,
        &streams,
        Arc::clone(&pools),
        seed,
        clock,
        steps_seen,
    )
    .await?;
    let budget_end = clock + spec.time_budget;

    let phase = progress.phase("rehearsal: warm-up");
    tokio::time::sleep(spec.warm_up).await;
    phase.finish();
    check_warm_up(&traffic, spec, &streams)?;

    let sessions = Sessions {
        stepper: &stepper,
        observer: client,
        server_major,
    };
    let phase = progress.phase("rehearsal: migration steps");
    let mut runs: Vec<StepRun> = Vec::new();
    let mut stopped: Option<(String, Error)> = None;
    for (index, step) in steps.iter().enumerate() {
        let remaining = budget_end.saturating_duration_since(Instant::now());
        let budget = spec.step_budget.min(remaining);
        if budget < Duration::from_millis(1) {
            stopped = Some((
                format!(
                    "the rehearsal's time budget ({}) ran out before step {}",
                    crate::progress::duration(spec.time_budget),
                    index + 1
                ),
                Error::input(
                    &scenario.path,
                    format!(
                        "key `rehearsal.time_budget`: migration {} ran out of its {} before step {} ({}:{}); raise it or rehearse at a smaller scale",
                        migration.name,
                        crate::progress::duration(spec.time_budget),
                        index + 1,
                        step.file.display(),
                        step.line
                    ),
                ),
            ));
            break;
        }
        let run = run_step(&sessions, step, budget, clock).await?;
        let (error, timed_out) = (run.error.clone(), run.timed_out);
        runs.push(run);
        // Streams waiting for a step that failed are not started: the run stops.
        if error.is_none() {
            let _ = steps_done.send(index + 1);
        }
        if let Some(error) = error {
            let message = match timed_out {
                true => format!(
                    "step {} ({}:{}) of migration {} ran past its budget of {}: raise rehearsal.step_budget or rehearsal.time_budget, or rehearse at a smaller scale",
                    index + 1,
                    step.file.display(),
                    step.line,
                    migration.name,
                    crate::progress::duration(budget)
                ),
                false => format!(
                    "step {} of migration {} (line {}) failed: {error}",
                    index + 1,
                    migration.name,
                    step.line
                ),
            };
            stopped = Some((
                format!("step {} failed: {error}", index + 1),
                Error::input(&step.file, message),
            ));
            break;
        }
    }
    phase.finish();
    let steps_not_run = steps.len() - runs.len();

    let phase = progress.phase("rehearsal: tail");
    if stopped.is_none() {
        tokio::time::sleep(spec.tail).await;
    }
    let starts = traffic.starts();
    let pids = traffic.pids.clone();
    let executions = traffic.stop(STOP_GRACE).await;
    let end = clock.elapsed();
    let recording = sampler.stop().await?;
    phase.finish();

    let tables = tables_among(client, &recording).await?;
    let observed = Observed {
        steps: &runs,
        step_pid,
        streams: &infos,
        starts: &starts,
        pids: &pids,
        executions: &executions,
        spans: &recording.spans(),
        interval: DEFAULT_INTERVAL,
        tables: &tables,
        end,
        max_stall: spec.max_stall,
    };
    let step_outcomes = observed.step_outcomes();
    let traffic_summaries = observed.stream_summaries();
    let timeline = observed.timeline();

    let seeded = prepared.seeded.tables.clone();
    let invariants = match stopped {
        Some(_) => Vec::new(),
        None => check_invariants(scratch, scenario, spec, &seeded, &traffic_summaries).await?,
    };
    let stats = recording.interval_stats();
    let millis = |duration: Duration| duration.as_secs_f64() * 1000.0;
    let mut violations = Vec::new();
    for step in &step_outcomes {
        if let Some(stall) = step.longest_stall.as_ref().filter(|_| step.over_limit) {
            violations.push(format!(
                "step {} (`{}`): {} stalled {:.0} ms, over the limit of {:.0} ms",
                step.index,
                step.summary,
                stall.stream,
                stall.stall_ms,
                millis(spec.max_stall)
            ));
        }
    }
    let failed: u64 = traffic_summaries.iter().map(|stream| stream.failed).sum();
    if failed > spec.failed_statements {
        violations.push(format!(
            "{failed} traffic statement(s) failed, over the {} allowed",
            spec.failed_statements
        ));
    }
    for invariant in invariants.iter().filter(|invariant| !invariant.held) {
        violations.push(format!(
            "invariant {:?} does not hold: expected {}, found {}",
            invariant.name, invariant.expected, invariant.actual
        ));
    }
    let mut run = MigrationRun {
        migration: migration.name.clone(),
        scale: prepared.seeded.scale,
        seeded: seeded
            .iter()
            .map(|table| TableRows {
                table: table.name.clone(),
                rows: table.rows,
            })
            .collect(),
        seed_ms: 0.0,
        warm_up_ms: millis(spec.warm_up),
        tail_ms: millis(spec.tail),
        traffic: traffic_summaries,
        steps: step_outcomes,
        steps_not_run,
        invariants,
        timeline,
        sampler: SamplerStats {
            requested_interval_ms: millis(recording.requested_interval),
            ticks: stats.ticks,
            median_interval_ms: millis(stats.median_gap),
            p99_interval_ms: millis(stats.p99_gap),
            max_interval_ms: millis(stats.max_gap),
            median_query_ms: millis(stats.median_query),
        },
        stopped: None,
        violations,
    };
    let error = stopped.map(|(why, error)| {
        run.stopped = Some(why);
        error
    });
    let overhead = match (measure_overhead, &error) {
        (true, None) => Some(sampler_overhead(prepared, &streams, &pools, seed, progress).await?),
        _ => None,
    };
    Ok((run, overhead, error))
}

async fn server_major(client: &Client) -> Result<u32> {
    let number: i32 = client
        .query_one("SELECT current_setting('server_version_num')::int", &[])
        .await
        .map_err(Error::database("reading the server version"))?
        .get(0);
    Ok((number / 10_000) as u32)
}

/// Each pick's rows (up to [`POOL_ROWS`]) and column names, its parameters bound to
/// the target row and to earlier picks' first rows.
async fn pools(
    client: &Client,
    scenario: &Scenario,
    target: &[Value],
) -> Result<(Pools, Vec<Vec<String>>)> {
    let mut pools = Pools::default();
    let mut names: Vec<Vec<String>> = Vec::new();
    for pick in &scenario.picks {
        let key = format!("key `pick \"{}\"`", pick.name);
        let values: Vec<Value> = pick
            .params
            .iter()
            .map(|param| bound_value(param, target, &pools, &names))
            .collect::<std::result::Result<_, String>>()
            .map_err(|message| Error::input(&scenario.path, format!("{key}: {message}")))?;
        let params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = values
            .iter()
            .map(|value| value as &(dyn tokio_postgres::types::ToSql + Sync))
            .collect();
        let sql = format!(
            "SELECT * FROM ({}) AS pick LIMIT {POOL_ROWS}",
            pick.sql.trim_end().trim_end_matches(';')
        );
        let rows = client.query(&sql, &params).await.map_err(|error| {
            Error::input(
                &scenario.path,
                format!(
                    "{key}: the server rejects its SQL on the pre-migration schema: {}",
                    ServerError(&error)
                ),
            )
        })?;
        let Some(first) = rows.first() else {
            return Err(Error::input(
                &scenario.path,
                format!(
                    "{key}: its SQL returned no row on the seeded pre-migration data; traffic draws its parameters from a pick's rows"
                ),
            ));
        };
        names.push(
            first
                .columns()
                .iter()
                .map(|column| column.name().to_owned())
                .collect(),
        );
        let values = rows
            .iter()
            .map(|row| {
                (0..row.len())
                    .map(|index| row.try_get::<_, Value>(index))
                    .collect::<std::result::Result<Vec<_>, _>>()
            })
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|error| Error::input(&scenario.path, format!("{key}: {error}")))?;
        pools.rows.push(values);
    }
    Ok((pools, names))
}

fn bound_value(
    param: &Param,
    target: &[Value],
    pools: &Pools,
    names: &[Vec<String>],
) -> std::result::Result<Value, String> {
    match param {
        Param::Target(column, _) => Ok(target.get(*column).cloned().unwrap_or(Value::Null)),
        Param::Literal(value) => Ok(value.clone()),
        Param::Variant(_) => Err("a rehearsal has no variants".into()),
        Param::Pick(pick, column) => {
            let index = pick_column(&names[*pick], column)?;
            Ok(pools.rows[*pick][0][index].clone())
        }
    }
}

fn pick_column(names: &[String], column: &str) -> std::result::Result<usize, String> {
    names.iter().position(|name| name == column).ok_or_else(|| {
        format!(
            "the pick returns no column {column:?}; it returns {}",
            names.join(", ")
        )
    })
}

/// The traffic of `spec` as it runs against `migration`.
fn streams(
    scenario: &Scenario,
    spec: &RehearsalSpec,
    migration: &RehearsedMigration,
    steps: &[Step],
    target: &[Value],
    columns: &[Vec<String>],
) -> Result<Vec<Stream>> {
    spec.traffic
        .iter()
        .map(|traffic| {
            let params = traffic
                .params
                .iter()
                .map(|param| match param {
                    Param::Pick(pick, column) => {
                        pick_column(&columns[*pick], column).map(|column| Binding::Drawn {
                            pick: *pick,
                            column,
                        })
                    }
                    other => {
                        bound_value(other, target, &Pools::default(), columns).map(Binding::Fixed)
                    }
                })
                .collect::<std::result::Result<Vec<_>, String>>()
                .map_err(|message| {
                    Error::input(
                        &scenario.path,
                        format!(
                            "key `rehearsal.traffic \"{}\".params`: {message}",
                            traffic.name
                        ),
                    )
                })?;
            let after_steps = spec.start_step(traffic, migration).unwrap_or(0);
            debug_assert!(after_steps <= steps.len());
            Ok(Stream {
                name: traffic.name.clone(),
                sql: traffic.sql.trim_end().trim_end_matches(';').to_owned(),
                rate: traffic.rate,
                connections: traffic.connections,
                prepared: traffic.prepared,
                params,
                after_steps,
            })
        })
        .collect()
}

/// Every statement that runs from the start must be valid on the pre-migration schema.
async fn check_on_schema_before(
    client: &Client,
    spec: &RehearsalSpec,
    streams: &[Stream],
) -> Result<()> {
    for (traffic, stream) in spec.traffic.iter().zip(streams) {
        if stream.after_steps > 0 {
            continue;
        }
        let statement = client.prepare(&stream.sql).await.map_err(|error| {
            Error::input(
                &traffic.origin,
                format!(
                    "traffic {:?} fails on the pre-migration schema, before the migration starts: {}; if it needs the migration, give it start_after = \"<text of the step it needs>\"",
                    traffic.name,
                    ServerError(&error)
                ),
            )
        })?;
        if statement.params().len() != stream.params.len() {
            return Err(Error::input(
                &traffic.origin,
                format!(
                    "traffic {:?} takes {} parameter(s) and its params give {}",
                    traffic.name,
                    statement.params().len(),
                    stream.params.len()
                ),
            ));
        }
    }
    Ok(())
}

/// After the warm-up: no traffic may have failed yet (nothing has changed), and every
/// stream must keep its rate.
fn check_warm_up(traffic: &Traffic, spec: &RehearsalSpec, streams: &[Stream]) -> Result<()> {
    let executions = traffic.executions();
    if let Some(failed) = executions
        .iter()
        .find(|execution| execution.error.is_some())
    {
        let declared = &spec.traffic[failed.stream];
        return Err(Error::input(
            &declared.origin,
            format!(
                "traffic {:?} failed during the warm-up, before the migration started: {}",
                declared.name,
                failed.error.as_deref().unwrap_or_default()
            ),
        ));
    }
    for (index, stream) in streams.iter().enumerate() {
        let Some(backlog) = traffic.backlog(index) else {
            continue;
        };
        let done = executions
            .iter()
            .filter(|execution| execution.stream == index)
            .count() as f64;
        let seconds = spec.warm_up.as_secs_f64();
        let expected = stream.rate * seconds;
        let falling_behind = backlog >= 1.0 || (expected >= 10.0 && done < 0.8 * expected);
        if falling_behind {
            let declared = &spec.traffic[index];
            return Err(Error::input(
                &declared.origin,
                format!(
                    "traffic {:?}: a rate of {} per second is above what its {} connection(s) can do: {:.1} per second during the {} warm-up, with nothing else changing; lower the rate or add connections",
                    declared.name,
                    stream.rate,
                    stream.connections,
                    done / seconds,
                    crate::progress::duration(spec.warm_up)
                ),
            ));
        }
    }
    Ok(())
}

/// Runs one step on the migration's session, as psql would: one statement in
/// autocommit, under `budget`.
/// The session that ran the steps and the one that looks at the catalog and the
/// counters around them: a migration may open a transaction block of its own
/// (`BEGIN;` is a step like any other), and nothing of plancheck's must run inside it.
struct Sessions<'a> {
    stepper: &'a Client,
    observer: &'a Client,
    server_major: u32,
}

async fn run_step(
    sessions: &Sessions<'_>,
    step: &Step,
    budget: Duration,
    clock: Instant,
) -> Result<StepRun> {
    let Sessions {
        stepper,
        observer,
        server_major,
    } = *sessions;
    stepper
        .batch_execute(&format!(
            "SET statement_timeout = {}",
            budget.as_millis().max(1)
        ))
        .await
        .map_err(Error::database("setting the step's time budget"))?;
    let not_null_proof = not_null_proof(observer, &step.sql).await?;
    let written_before = rows_written(observer).await?;
    let start = clock.elapsed();
    let result = stepper.simple_query(&step.sql).await;
    let end = clock.elapsed();
    // Only the statement timeout plancheck set cancels a step (SQLSTATE 57014).
    let timed_out = result.as_ref().err().and_then(tokio_postgres::Error::code)
        == Some(&tokio_postgres::error::SqlState::QUERY_CANCELED);
    let (rows, error) = match result {
        Ok(messages) => {
            let rows: u64 = messages
                .iter()
                .filter_map(|message| match message {
                    SimpleQueryMessage::CommandComplete(rows) => Some(*rows),
                    _ => None,
                })
                .sum();
            let writes = matches!(&step.locks, StaticLocks::Known(locks) if locks.iter().any(|lock| lock.mode == super::LockMode::RowExclusive));
            match writes || rows > 0 {
                true => (Some(rows), None),
                // A DO block or a procedure reports no rows: its tables' counters do.
                false => {
                    // The step's session flushes its counters on request from 15 on
                    // (before, within half a second of going idle).
                    if server_major >= 15 {
                        let _ = stepper
                            .batch_execute("SELECT pg_stat_force_next_flush()")
                            .await;
                    }
                    let written = rows_written(observer).await?.saturating_sub(written_before);
                    ((written > 0).then_some(written), None)
                }
            }
        }
        // What the step's SQL did wrong; a server that went away or ran out of
        // something (classes 53, 57P, 58) is not the migration's fault.
        Err(error)
            if error.as_db_error().is_some()
                && !error.code().is_some_and(|code| {
                    let code = code.code();
                    code.starts_with("53") || code.starts_with("57P") || code.starts_with("58")
                }) =>
        {
            (None, Some(ServerError(&error).to_string()))
        }
        Err(error) => {
            return Err(Error::database(format!(
                "running step at line {}",
                step.line
            ))(error));
        }
    };
    // After a failure the run stops, and inside a failed transaction block of the
    // migration's own the server would refuse the RESET.
    if error.is_none() {
        stepper
            .batch_execute("RESET statement_timeout")
            .await
            .map_err(Error::database("resetting the step's time budget"))?;
    }
    Ok(StepRun {
        step: step.clone(),
        start,
        end,
        rows,
        error,
        timed_out,
        not_null_proof,
    })
}

/// Rows updated or deleted in the database's tables so far, by the server's counters,
/// with this session's own counts flushed first (PostgreSQL 15 and later flush on
/// request; before, a backend flushes at most twice a second, so a short step's rows
/// may be missed). Traffic that only inserts adds nothing to them.
async fn rows_written(client: &Client) -> Result<u64> {
    let _ = client
        .batch_execute("SELECT pg_stat_force_next_flush()")
        .await;
    let rows: i64 = client
        .query_one(
            "SELECT coalesce(sum(n_tup_upd + n_tup_del), 0)::bigint FROM pg_stat_user_tables",
            &[],
        )
        .await
        .map_err(Error::database("reading the tables' write counters"))?
        .get(0);
    Ok(rows.max(0) as u64)
}

/// For `ALTER TABLE t ALTER [COLUMN] c SET NOT NULL`: the validated CHECK constraint
/// on `t` whose expression is `c IS NOT NULL`, which lets the server skip the scan
/// (PostgreSQL 12 and later); `Some(None)` when there is none.
async fn not_null_proof(client: &Client, sql: &str) -> Result<Option<Option<String>>> {
    let Some((table, columns)) = steps::set_not_null(sql) else {
        return Ok(None);
    };
    let mut proofs = Vec::new();
    for column in &columns {
        let row = client
            .query_opt(
                "SELECT conname::text FROM pg_constraint \
                 WHERE conrelid = to_regclass($1) AND contype = 'c' AND convalidated \
                   AND regexp_replace(pg_get_constraintdef(oid), '[()\\s\"]', '', 'g') ILIKE 'CHECK' || $2 || 'ISNOTNULL' \
                 LIMIT 1",
                &[&crate::load::quoted(&table), column],
            )
            .await
            .map_err(Error::database("looking for a CHECK constraint that proves NOT NULL"))?;
        match row {
            Some(row) => proofs.push(row.get::<_, String>(0)),
            // One column without a proof is enough for the scan.
            None => return Ok(Some(None)),
        }
    }
    Ok(Some(Some(proofs.join(", "))))
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

/// The table an INSERT, UPDATE, DELETE or MERGE statement writes, as it names it.
pub fn written_table(sql: &str) -> Option<String> {
    match steps::static_locks(sql) {
        StaticLocks::Known(locks) => locks
            .into_iter()
            .find(|lock| lock.mode == super::LockMode::RowExclusive)
            .map(|lock| lock.relation),
        StaticLocks::Unknown => None,
    }
}

/// Whether a traffic statement is an INSERT (its first word, comments aside).
fn is_insert(sql: &str) -> bool {
    analyze::summary(sql)
        .split_whitespace()
        .next()
        .is_some_and(|word| word.eq_ignore_ascii_case("insert"))
}

/// A table name as written (`public.workflow_runs`, `"Runs"`) compared with another.
fn same_table(a: &str, b: &str) -> bool {
    let plain = |name: &str| {
        let name = name.strip_prefix("public.").unwrap_or(name);
        name.trim_matches('"').to_owned()
    };
    plain(a) == plain(b)
}

/// Every invariant of the scenario, then plancheck's own: every constraint validated
/// and every index valid.
async fn check_invariants(
    scratch: &crate::provision::ScratchDatabase,
    scenario: &Scenario,
    spec: &RehearsalSpec,
    seeded: &[crate::outcome::TableFacts],
    traffic: &[crate::outcome::rehearsal::TrafficStream],
) -> Result<Vec<InvariantOutcome>> {
    let client = scratch.connect().await?;
    let mut outcomes = Vec::new();
    for invariant in &spec.invariants {
        outcomes.push(check_invariant(&client, scenario, invariant, seeded, traffic).await?);
    }
    let invalid: Vec<String> = client
        .query(
            "SELECT format('constraint %s on %s is not validated', conname, conrelid::regclass) \
             FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace \
             WHERE NOT c.convalidated AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
             UNION ALL \
             SELECT format('index %s is not valid', indexrelid::regclass) FROM pg_index WHERE NOT indisvalid \
             ORDER BY 1",
            &[],
        )
        .await
        .map_err(Error::database("checking constraints and indexes"))?
        .iter()
        .map(|row| row.get(0))
        .collect();
    outcomes.push(InvariantOutcome {
        name: "every constraint validated and every index valid".into(),
        sql: "pg_constraint.convalidated, pg_index.indisvalid".into(),
        expected: "none invalid".into(),
        actual: match invalid.is_empty() {
            true => "none invalid".into(),
            false => invalid.join("; "),
        },
        held: invalid.is_empty(),
    });
    Ok(outcomes)
}

async fn check_invariant(
    client: &Client,
    scenario: &Scenario,
    invariant: &Invariant,
    seeded: &[crate::outcome::TableFacts],
    traffic: &[crate::outcome::rehearsal::TrafficStream],
) -> Result<InvariantOutcome> {
    let key = format!(
        "line {}: key `rehearsal.invariant \"{}\"`",
        invariant.line, invariant.name
    );
    let bad = |message: String| Error::input(&scenario.path, format!("{key}: {message}"));
    let rows = client
        .query(invariant.sql.trim_end().trim_end_matches(';'), &[])
        .await
        .map_err(|error| {
            bad(format!(
                "the server rejects its SQL after the migration: {}",
                ServerError(&error)
            ))
        })?;
    let shape = "an invariant returns one row of one boolean (true when it holds) or one count";
    let [row] = &rows[..] else {
        return Err(bad(format!("returned {} rows; {shape}", rows.len())));
    };
    if row.len() != 1 {
        return Err(bad(format!("returned {} columns; {shape}", row.len())));
    }
    let ty = row.columns()[0].type_().clone();
    if ty == Type::BOOL {
        if invariant.expect.is_some() {
            return Err(bad(format!(
                "returns a boolean, so `expect` (a count) does not apply; {shape}"
            )));
        }
        let held: Option<bool> = row.get(0);
        return Ok(InvariantOutcome {
            name: invariant.name.clone(),
            sql: invariant.sql.clone(),
            expected: "true".into(),
            actual: held.map_or("NULL".into(), |held| held.to_string()),
            held: held == Some(true),
        });
    }
    let actual: Option<i64> = match ty {
        Type::INT8 => row.get(0),
        Type::INT4 => row.get::<_, Option<i32>>(0).map(i64::from),
        Type::INT2 => row.get::<_, Option<i16>>(0).map(i64::from),
        other => return Err(bad(format!("returns {}; {shape}", other.name()))),
    };
    let terms = invariant
        .expect
        .clone()
        .unwrap_or_else(|| vec![CountTerm::Number(0)]);
    let mut expected = 0i64;
    let mut parts = Vec::new();
    for term in &terms {
        let (value, words) = match term {
            CountTerm::Number(number) => (*number, number.to_string()),
            CountTerm::Seeded(table) => {
                let rows = seeded
                    .iter()
                    .find(|facts| same_table(&facts.name, table))
                    .map_or(0, |facts| facts.rows as i64);
                (rows, format!("seeded {rows}"))
            }
            CountTerm::Inserted(table) => {
                // Only INSERT streams: an UPDATE's or DELETE's rows are not new ones.
                let inserting: Vec<&crate::outcome::rehearsal::TrafficStream> = traffic
                    .iter()
                    .filter(|stream| {
                        is_insert(&stream.sql)
                            && stream
                                .table
                                .as_deref()
                                .is_some_and(|written| same_table(written, table))
                    })
                    .collect();
                if inserting.is_empty() {
                    return Err(bad(format!(
                        "`expect` counts inserted({table}), but no traffic stream inserts into {table}"
                    )));
                }
                let rows: u64 = inserting
                    .iter()
                    .map(|stream| stream.rows_acknowledged)
                    .sum();
                (rows as i64, format!("inserted {rows}"))
            }
        };
        expected += value;
        parts.push(words);
    }
    let expected_text = match parts.len() {
        1 if matches!(terms[0], CountTerm::Number(_)) => expected.to_string(),
        _ => format!("{expected} = {}", parts.join(" + ")),
    };
    Ok(InvariantOutcome {
        name: invariant.name.clone(),
        sql: invariant.sql.clone(),
        expected: expected_text,
        actual: actual.map_or("NULL".into(), |actual| actual.to_string()),
        held: actual == Some(expected),
    })
}

/// The traffic's throughput flat out, without the sampler, with it, and without it
/// again, on the database as the last run left it (migrated, so every stream can
/// run): the sampler's cost is the ratio of the middle phase to the mean of the
/// others.
async fn sampler_overhead(
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
    // Writers, when there are any: a slow reader's count in a second and a half says
    // nothing.
    let writers: Vec<&Stream> = streams
        .iter()
        .filter(|stream| written_table(&stream.sql).is_some())
        .collect();
    let measured: Vec<&Stream> = match writers.is_empty() {
        true => streams.iter().collect(),
        false => writers,
    };
    let flat_out: Vec<Stream> = measured
        .into_iter()
        .map(|stream| Stream {
            rate: 1.0e6,
            after_steps: 0,
            ..stream.clone()
        })
        .collect();
    let mut rates = (Vec::new(), Vec::new());
    let mut intervals = Vec::new();
    for with_sampler in [false, true].repeat(OVERHEAD_PHASES) {
        let clock = Instant::now();
        let sampler = match with_sampler {
            true => {
                Some(LockSampler::start(scratch.connect().await?, clock, DEFAULT_INTERVAL).await?)
            }
            false => None,
        };
        let (_done, seen) = watch::channel(0usize);
        let traffic =
            Traffic::start(scratch, &flat_out, Arc::clone(pools), seed, clock, seen).await?;
        tokio::time::sleep(OVERHEAD_PHASE).await;
        let stopping = clock.elapsed();
        let executions: Vec<Execution> = traffic.stop(STOP_GRACE).await;
        // What finished within the phase; the executions under way at its end are not.
        let ok = executions
            .iter()
            .filter(|execution| execution.error.is_none() && execution.finished <= stopping)
            .count();
        let rate = ok as f64 / OVERHEAD_PHASE.as_secs_f64();
        match sampler {
            Some(sampler) => {
                rates.1.push(rate);
                intervals.push(sampler.stop().await?.interval_stats().median_gap);
            }
            None => rates.0.push(rate),
        }
    }
    phase.finish();
    // Medians, and the median of each pair's ratio (a phase disturbed by something
    // else on the machine moves one pair, not the figure).
    let median = |mut values: Vec<f64>| {
        values.sort_by(f64::total_cmp);
        match values.len() {
            0 => 0.0,
            n if n % 2 == 1 => values[n / 2],
            n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
        }
    };
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
