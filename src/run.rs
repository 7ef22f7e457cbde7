//! The pipeline: provision → schema → seed → capture → time → judge. Each stage is a
//! module taking plain data in and giving plain data out; this module only strings
//! them together and keeps the clock. Reports are written by the caller from the
//! [`ScenarioRun`] this returns, so they never touch the database.

use std::time::Instant;

use serde::Serialize;
use tokio_postgres::Client;

use crate::capture;
use crate::checks::Verdict;
use crate::error::{Error, Result};
use crate::evidence::{Evidence, Phase, QueryEvidence};
use crate::provision::{Backend, ScratchDatabase, Server};
use crate::scenario::Scenario;
use crate::schema;
use crate::seed::{self, SeedOptions, Seeded, SeededOrganization};
use crate::settings::{self, Setting};
use crate::timing::{self, TimingOptions};

/// What the user chose for one run, beyond the scenario file.
#[derive(Debug, Clone, Copy)]
pub struct RunOptions {
    /// Workflow runs to seed; the dataset's default when `None`.
    pub scale: Option<u64>,
    /// The dataset's default when `None`.
    pub seed: Option<u64>,
    pub progress: bool,
    pub timing: TimingOptions,
    /// Keep the scratch database after the run instead of dropping it.
    pub keep: bool,
}

/// Everything one scenario run found: the input of every report.
#[derive(Debug, Clone)]
pub struct ScenarioRun {
    pub scenario: String,
    /// The scratch database the scenario ran in.
    pub database: String,
    pub description: String,
    pub scenario_file: String,
    pub dataset_file: String,
    pub scale: u64,
    pub environment: Environment,
    pub seeded: Seeded,
    pub target: SeededOrganization,
    pub evidence: Evidence,
    /// Query file per query name, in scenario order.
    pub query_files: Vec<(String, String)>,
    pub verdicts: Vec<Verdict>,
    pub phases: Vec<Phase>,
}

impl ScenarioRun {
    /// Whether every check passed.
    pub fn passed(&self) -> bool {
        self.verdicts.iter().all(|verdict| verdict.passed)
    }

    /// Whether every check that read `query` passed.
    pub fn query_passed(&self, query: &str) -> bool {
        self.verdicts
            .iter()
            .filter(|verdict| verdict.queries.iter().any(|name| name == query))
            .all(|verdict| verdict.passed)
    }
}

/// The facts a reader needs to trust the numbers.
#[derive(Debug, Clone, Serialize)]
pub struct Environment {
    pub backend: Backend,
    /// Why `--backend auto` chose this backend, when it passed one over.
    pub backend_note: Option<String>,
    pub server_version: String,
    /// Every setting not at its built-in default.
    pub settings: Vec<Setting>,
    pub host: Host,
}

/// A summary of the machine plancheck ran on.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Host {
    pub cores: usize,
    pub memory_mib: u64,
    pub cpu: String,
    pub os: String,
}

impl Host {
    /// Reads the summary from the running system (Linux `/proc` where available).
    pub fn current() -> Host {
        let cores = std::thread::available_parallelism().map_or(1, |cores| cores.get());
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let memory_mib = meminfo
            .lines()
            .find_map(|line| line.strip_prefix("MemTotal:"))
            .and_then(|rest| {
                rest.trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<u64>()
                    .ok()
            })
            .map_or(0, |kib| kib / 1024);
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find_map(|line| line.strip_prefix("model name"))
            .map(|rest| rest.trim_start_matches([' ', '\t', ':']).to_owned())
            .unwrap_or_else(|| std::env::consts::ARCH.to_owned());
        let os = nix::sys::utsname::uname()
            .map(|name| {
                format!(
                    "{} {}",
                    name.sysname().to_string_lossy(),
                    name.release().to_string_lossy()
                )
            })
            .unwrap_or_else(|_| std::env::consts::OS.to_owned());
        Host {
            cores,
            memory_mib,
            cpu,
            os,
        }
    }
}

/// A scratch database with the schema built and the dataset seeded: the state every
/// query of a scenario is measured on. Several scenarios that share a dataset and
/// settings can be judged on one (the benchmarks do).
pub struct PreparedDatabase {
    scratch: Option<ScratchDatabase>,
    clients: Vec<Client>,
    dataset_file: std::path::PathBuf,
    settings: Vec<(String, String)>,
    pub scale: u64,
    pub seeded: Seeded,
    pub environment: Environment,
    /// Provision, schema and seed phases.
    pub phases: Vec<Phase>,
}

/// What `PreparedDatabase::build` produces.
struct PreparedParts {
    clients: Vec<Client>,
    scale: u64,
    seeded: Seeded,
    environment: Environment,
    phases: Vec<Phase>,
}

/// How many connections seed indexes in parallel: one sort per core is what a
/// two-core machine can feed.
fn index_build_lanes() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |cores| cores.get())
        .clamp(1, 4)
}

impl PreparedDatabase {
    /// Creates a scratch database on `server` for `scenario`, pins settings, builds
    /// the schema and seeds the dataset.
    pub async fn create(
        server: &Server,
        scenario: &Scenario,
        options: &RunOptions,
    ) -> Result<PreparedDatabase> {
        let scratch = server.create_scratch(&scenario.name).await?;
        match Self::build(server, &scratch, scenario, options).await {
            Ok(parts) => Ok(PreparedDatabase {
                scratch: Some(scratch),
                clients: parts.clients,
                dataset_file: scenario.dataset.path.clone(),
                settings: scenario.settings.clone(),
                scale: parts.scale,
                seeded: parts.seeded,
                environment: parts.environment,
                phases: parts.phases,
            }),
            Err(error) => {
                let _ = scratch.drop_database().await;
                Err(error)
            }
        }
    }

    /// Pins settings, connects, builds the schema and seeds, in `scratch`.
    async fn build(
        server: &Server,
        scratch: &ScratchDatabase,
        scenario: &Scenario,
        options: &RunOptions,
    ) -> Result<PreparedParts> {
        let mut clock = Instant::now();
        // The server may be shared by several scenarios of one run; each report shows
        // what it took to start.
        let mut phases = vec![Phase::new("start server", server.startup)];
        let admin = scratch.connect().await?;
        settings::pin(&admin, &scratch.name, &scenario.settings, &scenario.path).await?;
        drop(admin);
        let mut clients = Vec::new();
        for _ in 0..index_build_lanes() {
            clients.push(scratch.connect().await?);
        }
        let server_version: String = clients[0]
            .query_one("SELECT current_setting('server_version')", &[])
            .await
            .map_err(Error::database("reading the server version"))?
            .get(0);
        phases.push(Phase::new("create database", clock.elapsed()));
        clock = Instant::now();

        schema::apply(&clients[0], &scenario.dataset.schema).await?;
        phases.push(Phase::new("apply schema", clock.elapsed()));

        let scale = options.scale.unwrap_or(scenario.dataset.default_runs);
        let seed_options = SeedOptions {
            runs: scale,
            seed: options.seed.unwrap_or(scenario.dataset.default_seed),
            progress: options.progress,
        };
        let seeded = seed::seed(&mut clients, &scenario.dataset, seed_options).await?;
        phases.extend(seeded.phases.iter().map(|phase| Phase {
            name: format!("seed: {}", phase.name),
            ms: phase.ms,
        }));
        let environment = Environment {
            backend: server.backend().clone(),
            backend_note: server.selection_note.clone(),
            server_version,
            settings: settings::non_default(&clients[0]).await?,
            host: Host::current(),
        };
        Ok(PreparedParts {
            clients,
            scale,
            seeded,
            environment,
            phases,
        })
    }

    /// Captures, times and judges `scenario` on this database. The scenario must use
    /// the dataset and settings the database was prepared with.
    pub async fn judge(&self, scenario: &Scenario, timing: TimingOptions) -> Result<ScenarioRun> {
        if scenario.dataset.path != self.dataset_file || scenario.settings != self.settings {
            return Err(Error::Usage(format!(
                "scenario {} uses another dataset or other settings than the database was prepared for",
                scenario.name
            )));
        }
        let client = &self.clients[0];
        let mut phases = Vec::new();
        let mut clock = Instant::now();
        let target = self
            .seeded
            .first_of(&scenario.target_profile)
            .cloned()
            .ok_or_else(|| {
                Error::input(
                    &scenario.path,
                    format!(
                        "key `target.profile`: no organization of profile {:?} was seeded",
                        scenario.target_profile
                    ),
                )
            })?;
        let bound = capture::bind(client, scenario, &target).await?;
        capture::warm_up(client, &bound).await?;
        let mut plans = Vec::with_capacity(bound.len());
        for query in &bound {
            plans.push(capture::explain(client, query).await?);
        }
        let catalog = capture::catalog(client).await?;
        phases.push(Phase::new("capture plans", clock.elapsed()));
        clock = Instant::now();

        let timings = timing::time_queries(client, &bound, timing).await?;
        phases.push(Phase::new("time queries", clock.elapsed()));
        clock = Instant::now();

        let queries = bound
            .iter()
            .zip(plans)
            .zip(timings)
            .map(|((query, (raw_explain, plan)), timing)| QueryEvidence {
                name: query.name.clone(),
                plan,
                raw_explain,
                timing,
            })
            .collect();
        let evidence = Evidence { queries, catalog };
        let verdicts = scenario
            .checks
            .iter()
            .map(|check| check.evaluate(&evidence))
            .collect();
        phases.push(Phase::new("judge", clock.elapsed()));

        Ok(ScenarioRun {
            scenario: scenario.name.clone(),
            database: self
                .scratch
                .as_ref()
                .map(|scratch| scratch.name.clone())
                .unwrap_or_default(),
            description: scenario.description.clone(),
            scenario_file: scenario.path.display().to_string(),
            dataset_file: scenario.dataset.path.display().to_string(),
            scale: self.scale,
            environment: self.environment.clone(),
            seeded: self.seeded.clone(),
            target,
            evidence,
            query_files: scenario
                .queries
                .iter()
                .map(|query| (query.name.clone(), query.path.display().to_string()))
                .collect(),
            verdicts,
            phases: self.phases.iter().cloned().chain(phases).collect(),
        })
    }

    /// A connection to the prepared database, for inspecting it.
    pub fn client(&self) -> &Client {
        &self.clients[0]
    }

    /// Closes the connections and keeps the scratch database; returns its name.
    pub fn keep(mut self) -> String {
        self.clients.clear();
        self.scratch
            .take()
            .map(|scratch| scratch.keep())
            .unwrap_or_default()
    }

    /// Closes the connections and drops the scratch database.
    pub async fn discard(mut self) -> Result<()> {
        self.clients.clear();
        match self.scratch.take() {
            Some(scratch) => scratch.drop_database().await,
            None => Ok(()),
        }
    }
}

/// Runs one scenario on `server` in its own scratch database, which is dropped
/// afterwards whatever the outcome, unless `options.keep` asks to keep it.
pub async fn run_scenario(
    server: &Server,
    scenario: &Scenario,
    options: &RunOptions,
) -> Result<ScenarioRun> {
    let prepared = PreparedDatabase::create(server, scenario, options).await?;
    let outcome = prepared.judge(scenario, options.timing).await;
    if options.keep {
        prepared.keep();
        return outcome;
    }
    let dropped = prepared.discard().await;
    let run = outcome?;
    dropped?;
    Ok(run)
}
