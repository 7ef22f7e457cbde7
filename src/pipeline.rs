//! The pipeline: input → provision → schema → datagen + load → capture → judge →
//! outcome. Each stage is a module taking plain data in and giving plain data out;
//! this module only wires them together and keeps the clock. Reports are written by
//! the caller from the [`Outcome`] this returns, so they never touch the database.

mod cached;
pub mod saved;
pub mod stability;
pub mod sweep;
pub mod workload;

use std::time::{Duration, Instant};

use tokio_postgres::Client;

use crate::capture::{
    self, Bindings,
    timing::{self, TimingOptions},
};
use crate::datagen::{Capture, Datagen};
use crate::disk_guard;
use crate::error::{Error, Result};
use crate::input::{PickSource, Scenario, TargetSpec};
use crate::judge;
use crate::load;
use crate::outcome::stability::Stability;
use crate::outcome::{
    CacheStatus, Cell, DataCache, Environment, Evidence, Host, Outcome, Phase, Picked,
    QueryEvidence, SchemaState, Seeded, Target,
};
use crate::progress::Progress;
use crate::provision::{ScratchDatabase, Server};
use crate::schema;
use crate::settings;
use crate::value::Value;

/// What the user chose for one run, beyond the scenario file.
#[derive(Debug, Clone, Copy)]
pub struct RunOptions {
    /// Rows of the dataset's scale table; the dataset's default when `None`.
    pub scale: Option<u64>,
    /// The dataset's default when `None`.
    pub seed: Option<u64>,
    /// How phases and rows are shown on stderr.
    pub progress: Progress,
    pub timing: TimingOptions,
    /// Keep the scratch database after the run instead of dropping it.
    pub keep: bool,
    /// `--stability N`: `ANALYZE` rounds after the capture, each query's plan taken
    /// after every one; `None` for none.
    pub stability: Option<stability::StabilityRequest>,
}

/// Whether a capture times the queries or takes only their plans.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Measuring {
    Timed,
    PlansOnly,
}

/// How many connections build indexes in parallel: one sort per core is what a
/// two-core machine can feed.
fn index_build_lanes() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |cores| cores.get())
        .clamp(1, 4)
}

/// A scratch database with the schema built and the dataset seeded: the state the
/// queries of one or more scenarios (sharing a dataset and settings) are measured on.
pub struct PreparedDatabase {
    scratch: Option<ScratchDatabase>,
    clients: Vec<Client>,
    dataset_file: std::path::PathBuf,
    settings: Vec<(String, String)>,
    /// Whether a scenario's migration has changed the schema.
    migrated: bool,
    pub seeded: Seeded,
    pub environment: Environment,
    /// The target rows every prepared scenario's variants ask for.
    targets: Vec<TargetRow>,
    /// Provision, schema and seed phases.
    pub phases: Vec<Phase>,
    progress: Progress,
}

/// Every generated row `scenarios` may ask for (targets and `row` picks), over all
/// their variants.
fn captures(scenarios: &[&Scenario]) -> Vec<Capture> {
    let mut captures = Vec::new();
    for scenario in scenarios {
        for spec in scenario.generated_rows() {
            for cell in scenario.cells() {
                let capture = Capture {
                    table: spec.table,
                    group: scenario.row_group(spec, &cell),
                    index: spec.index,
                };
                if !captures.contains(&capture) {
                    captures.push(capture);
                }
            }
        }
    }
    captures
}

impl PreparedDatabase {
    /// Creates a scratch database on `server`, pins the scenarios' settings, builds
    /// the schema and seeds the dataset. Every scenario must share the first one's
    /// dataset and settings. When the server keeps data in the cache (the local
    /// backend without `--no-cache`), a database seeded before under the same key is
    /// taken from the cache instead, and a freshly seeded one is stored there.
    pub async fn create(
        server: &Server,
        scenarios: &[&Scenario],
        options: &RunOptions,
    ) -> Result<PreparedDatabase> {
        if scenarios.is_empty() {
            return Err(Error::Usage("no scenario to prepare a database for".into()));
        }
        let cache = match server.data_cache() {
            Ok(cache) => cache,
            Err(reason) => {
                let mut prepared = Self::seeded(server, scenarios, options).await?;
                prepared.seeded.cache = Some(DataCache {
                    status: CacheStatus::Off,
                    key: None,
                    note: Some(reason),
                });
                return Ok(prepared);
            }
        };
        let key = cached::seeded_key(server, scenarios, options)?;
        let filler = match Self::claim(server, cache, scenarios, options, &key).await? {
            Ok(prepared) => return Ok(prepared),
            Err(filler) => filler,
        };
        let replacing = filler.replacing().map(str::to_owned);
        let mut prepared = Self::seeded(server, scenarios, options).await?;
        let stored = prepared.store(server, filler, &key).await;
        match stored {
            Ok(mut cache_use) => {
                if cache_use.note.is_none() {
                    cache_use.note = replacing;
                }
                prepared.seeded.cache = Some(cache_use);
                Ok(prepared)
            }
            Err(error) => {
                let _ = prepared.discard().await;
                Err(error)
            }
        }
    }

    /// A scratch database seeded afresh.
    async fn seeded(
        server: &Server,
        scenarios: &[&Scenario],
        options: &RunOptions,
    ) -> Result<PreparedDatabase> {
        let scratch = server.create_scratch(&scenarios[0].name).await?;
        match Self::build(server, &scratch, scenarios, options).await {
            Ok(mut prepared) => {
                prepared.scratch = Some(scratch);
                Ok(prepared)
            }
            Err(error) => {
                let _ = scratch.drop_database().await;
                Err(error)
            }
        }
    }

    async fn build(
        server: &Server,
        scratch: &ScratchDatabase,
        scenarios: &[&Scenario],
        options: &RunOptions,
    ) -> Result<PreparedDatabase> {
        let scenario = scenarios[0];
        let mut phases = vec![Phase::new("start server", server.startup)];
        let (mut clients, mut notes) =
            connect_and_pin(scratch, scenario, options, &mut phases).await?;
        let phase = options.progress.phase("apply schema");
        schema::apply(&clients[0], &scenario.dataset.schema).await?;
        let types = check_schema(&clients[0], scenarios).await?;
        phases.push(phase.finish());
        let phase = options.progress.phase("estimate size");
        let disk = disk_guard::check(
            server,
            &clients[0],
            scenario,
            &types,
            options.scale.unwrap_or(scenario.dataset.default_scale),
            options.seed.unwrap_or(scenario.dataset.model.seed),
            clients.len(),
        )
        .await?;
        notes.extend(disk.warning());
        phases.push(phase.finish());
        let (mut seeded, targets, load_phases) =
            seed(&mut clients, scenarios, &types, options).await?;
        seeded.size_check = Some(disk.facts());
        phases.extend(load_phases);
        finish(
            server,
            clients,
            scenario,
            (seeded, targets, phases),
            notes,
            options,
        )
        .await
    }

    /// Captures, times and judges `scenario` on this database, variant by variant:
    /// first the queries on the schema as seeded, then, when the scenario has a
    /// migration, the `after` queries once it is applied and the tables analysed.
    pub async fn judge(&mut self, scenario: &Scenario, timing: TimingOptions) -> Result<Outcome> {
        self.judge_with(scenario, timing, Measuring::Timed, None)
            .await
    }

    /// Captures and judges `scenario` as [`PreparedDatabase::judge`] does, but takes
    /// only the plans: no query is timed, so the checks that compare timings fail for
    /// want of samples. For a sweep's probes, which ask only what plan a query gets.
    pub async fn judge_plans(
        &mut self,
        scenario: &Scenario,
        timing: TimingOptions,
    ) -> Result<Outcome> {
        self.judge_with(scenario, timing, Measuring::PlansOnly, None)
            .await
    }

    async fn judge_with(
        &mut self,
        scenario: &Scenario,
        timing: TimingOptions,
        measuring: Measuring,
        stability: Option<stability::StabilityRequest>,
    ) -> Result<Outcome> {
        if scenario.dataset.path != self.dataset_file
            || scenario.settings != self.settings
            || self.migrated
        {
            return Err(Error::Usage(format!(
                "scenario {} needs a database of its own (another dataset, other settings, or a migrated schema)",
                scenario.name
            )));
        }
        let mut phases = Vec::new();
        let values = scenario.cells();
        let requested = timing
            .statement_budget
            .or(scenario.time_budget)
            .unwrap_or(timing::DEFAULT_TIME_BUDGET);
        let time_budget = capture::effective_budget(&self.clients[0], requested).await?;
        let mut captured = self
            .capture(
                scenario,
                &values,
                (timing, measuring, stability),
                time_budget,
                &mut phases,
            )
            .await?;
        let mut environment = self.environment.clone();
        environment.notes.extend(Host::busy_note());
        let stability = captured
            .rounds
            .take()
            .map(|rounds| rounds.into_stability(scenario, &values));
        let phase = self.progress.phase("judge");
        let cells = judge_cells(scenario, &values, captured, stability.as_ref());
        phases.push(phase.finish());
        Ok(Outcome {
            scenario: scenario.name.clone(),
            description: scenario.description.clone(),
            scenario_file: scenario.path.display().to_string(),
            dataset_file: scenario.dataset.path.display().to_string(),
            database: self
                .scratch
                .as_ref()
                .map(|scratch| scratch.name.clone())
                .unwrap_or_default(),
            seeded: self.seeded.clone(),
            environment,
            cells,
            phases: self.phases.iter().cloned().chain(phases).collect(),
            time_budget,
            sweep: None,
            stability,
            workload: None,
        })
    }

    /// Captures every cell's queries: first those on the schema as seeded, then, when
    /// the scenario has a migration, the `after` queries once it is applied. Picks and
    /// the queries run under `time_budget`; the migration, like the seed, runs without
    /// a timeout. With `--stability N`, each schema state's queries go through the
    /// `ANALYZE` rounds once that state's capture is done, so the `before` queries'
    /// rounds run on the schema before the migration and the `after` queries' on the
    /// migrated one.
    async fn capture(
        &mut self,
        scenario: &Scenario,
        cells: &[Vec<Value>],
        (timing, measuring, stability): (
            TimingOptions,
            Measuring,
            Option<stability::StabilityRequest>,
        ),
        time_budget: Duration,
        phases: &mut Vec<Phase>,
    ) -> Result<Captured> {
        let picking = Instant::now();
        let mut captured = self.pick(scenario, cells, time_budget).await?;
        let picked = Phase::new(capture::CAPTURE_PHASE, picking.elapsed());
        for state in [SchemaState::Before, SchemaState::After] {
            if state == SchemaState::After {
                if !scenario.has_after_state() {
                    break;
                }
                let migrating = self.progress.phase("migrate and analyze");
                set_on_all(&self.clients[..1], TIMEOUTS_OFF).await?;
                self.migrate(scenario).await?;
                set_on_all(&self.clients[..1], TIMEOUTS_FROM_DATABASE).await?;
                captured.catalog_after = Some(capture::catalog(&self.clients[0]).await?);
                phases.push(migrating.finish());
            }
            // Per cell on stderr; added up per phase (and schema state) for the report.
            let suffix = match (scenario.has_after_state(), state) {
                (false, _) => "",
                (true, SchemaState::Before) => " before",
                (true, SchemaState::After) => " after",
            };
            let mut totals: Vec<Phase> = Vec::new();
            if state == SchemaState::Before {
                totals.push(picked.clone());
            }
            for (index, cell) in cells.iter().enumerate() {
                let bindings = Bindings {
                    target: &captured.targets[index].1,
                    variant: cell,
                    picks: captured.pick_rows[index].clone(),
                };
                let label = format!("{suffix}{}", variant_label(scenario, cell));
                let (evidence, measured) = self
                    .capture_cell(
                        scenario,
                        state,
                        &bindings,
                        (timing, measuring),
                        time_budget,
                        &label,
                    )
                    .await?;
                captured.queries[index].extend(evidence);
                for phase in measured {
                    match totals.iter_mut().find(|total| total.name == phase.name) {
                        Some(total) => total.ms += phase.ms,
                        None => totals.push(phase),
                    }
                }
            }
            phases.extend(totals.into_iter().map(|total| Phase {
                name: format!("{}{suffix}", total.name),
                ms: total.ms,
            }));
            if let Some(request) = stability {
                let phase = self
                    .stability_rounds(scenario, state, cells, &mut captured, request, suffix)
                    .await?;
                phases.extend(phase);
            }
        }
        Ok(captured)
    }

    /// Every cell's target row and picks (each pick under `time_budget`), with the
    /// catalog of the schema as seeded: a [`Captured`] with no query yet.
    async fn pick(
        &self,
        scenario: &Scenario,
        cells: &[Vec<Value>],
        time_budget: Duration,
    ) -> Result<Captured> {
        let mut captured = Captured {
            queries: vec![Vec::new(); cells.len()],
            targets: Vec::new(),
            picks: Vec::new(),
            pick_rows: Vec::new(),
            catalog_before: capture::catalog(&self.clients[0]).await?,
            catalog_after: None,
            rounds: None,
        };
        capture::limit_statements(&self.clients[0], time_budget).await?;
        for cell in cells {
            let (target, values) = self.target(scenario, cell)?;
            let generated = self.generated_picks(scenario, cell)?;
            let rows = capture::picks(
                &self.clients[0],
                scenario,
                (&values, cell),
                &generated,
                time_budget,
            )
            .await?;
            captured.picks.push(
                scenario
                    .picks
                    .iter()
                    .zip(&rows)
                    .map(|(pick, (columns, values))| Picked {
                        name: pick.name.clone(),
                        columns: columns
                            .iter()
                            .cloned()
                            .zip(values.iter().map(Value::to_string))
                            .collect(),
                    })
                    .collect(),
            );
            captured.pick_rows.push(rows);
            captured.targets.push((target, values));
        }
        capture::lift_limit(&self.clients[0]).await?;
        Ok(captured)
    }

    /// Per pick of `scenario`, the values of its generated row in `cell` when it is a
    /// `row` pick (`None` for the others).
    pub fn generated_picks(
        &self,
        scenario: &Scenario,
        cell: &[Value],
    ) -> Result<Vec<Option<Vec<Value>>>> {
        scenario
            .picks
            .iter()
            .map(|pick| match &pick.source {
                PickSource::Row(spec) => self.generated_row(scenario, spec, cell).map(Some),
                _ => Ok(None),
            })
            .collect()
    }

    /// The generated row `spec` names in `cell`.
    fn generated_row(
        &self,
        scenario: &Scenario,
        spec: &TargetSpec,
        cell: &[Value],
    ) -> Result<Vec<Value>> {
        let capture = Capture {
            table: spec.table,
            group: scenario.row_group(spec, cell),
            index: spec.index,
        };
        self.targets
            .iter()
            .find(|row| row.capture == capture)
            .map(|row| row.values.clone())
            .ok_or_else(|| {
                Error::Usage(format!(
                    "scenario {} was not prepared with this database",
                    scenario.name
                ))
            })
    }

    /// The target row of `cell` and its values (none, and no values, when the scenario
    /// names no target).
    fn target(&self, scenario: &Scenario, cell: &[Value]) -> Result<(Option<Target>, Vec<Value>)> {
        let Some(spec) = &scenario.target else {
            return Ok((None, Vec::new()));
        };
        let capture = Capture {
            table: spec.table,
            group: scenario.target_group(cell),
            index: spec.index,
        };
        let row = self
            .targets
            .iter()
            .find(|row| row.capture == capture)
            .ok_or_else(|| {
                Error::Usage(format!(
                    "scenario {} was not prepared with this database",
                    scenario.name
                ))
            })?;
        let table = &scenario.dataset.model.tables[capture.table];
        let target = Target {
            table: table.name.clone(),
            group: capture
                .group
                .map(|label| scenario.group_labels()[label as usize].clone()),
            index: capture.index,
            columns: table
                .columns
                .iter()
                .zip(&row.values)
                .map(|(column, value)| (column.name.clone(), value.to_string()))
                .collect(),
            group_rows: row.group_rows,
        };
        Ok((Some(target), row.values.clone()))
    }

    async fn migrate(&mut self, scenario: &Scenario) -> Result<()> {
        self.migrated = true;
        schema::migrate(&self.clients[0], &scenario.migration).await?;
        capture::check_relations(&self.clients[0], scenario, SchemaState::After).await
    }

    async fn capture_cell(
        &self,
        scenario: &Scenario,
        state: SchemaState,
        bindings: &Bindings<'_>,
        (timing, measuring): (TimingOptions, Measuring),
        time_budget: Duration,
        label: &str,
    ) -> Result<(Vec<QueryEvidence>, Vec<Phase>)> {
        let client = &self.clients[0];
        let bound = capture::bind(client, scenario, state, bindings).await?;
        let checks = scenario.checks_for(bindings.variant);
        let names: Vec<&str> = bound.iter().map(|query| query.name.as_str()).collect();
        let comparisons = timing::comparisons(&checks, &names);
        let shown = capture::Shown {
            progress: self.progress,
            label,
        };
        match measuring {
            Measuring::Timed => {
                capture::measure(client, bound, time_budget, timing, &comparisons, &shown)
                    .await
                    .map(|(evidence, phases)| (evidence, phases.into()))
            }
            Measuring::PlansOnly => capture::plans(client, bound, time_budget, &shown)
                .await
                .map(|(evidence, phase)| (evidence, vec![phase])),
        }
    }

    /// A connection to the prepared database, for inspecting it.
    pub fn client(&self) -> &Client {
        &self.clients[0]
    }

    /// The scratch database, for opening more connections to it (a rehearsal's
    /// traffic).
    pub fn scratch(&self) -> Option<&ScratchDatabase> {
        self.scratch.as_ref()
    }

    /// The values of `scenario`'s target row (none when it names no target), for a
    /// scenario without variants.
    pub fn target_values(&self, scenario: &Scenario) -> Result<Vec<Value>> {
        self.target(scenario, &[]).map(|(_, values)| values)
    }

    /// The target values of `scenario`'s first variant, for binding outside a run
    /// (the benchmarks).
    pub async fn bind_first_variant(
        &self,
        scenario: &Scenario,
    ) -> Result<Vec<capture::BoundQuery>> {
        let cell = scenario.cells().into_iter().next().unwrap_or_default();
        let (_, target) = self.target(scenario, &cell)?;
        let generated = self.generated_picks(scenario, &cell)?;
        // The picks run without a time budget here: no limit (zero) to cancel them.
        let picks = capture::picks(
            &self.clients[0],
            scenario,
            (&target, &cell),
            &generated,
            Duration::ZERO,
        )
        .await?;
        let bindings = Bindings {
            target: &target,
            variant: &cell,
            picks,
        };
        capture::bind(&self.clients[0], scenario, SchemaState::Before, &bindings).await
    }

    /// Closes the connections and keeps the scratch database; returns its name.
    pub async fn keep(mut self) -> Result<String> {
        self.clients.clear();
        match self.scratch.take() {
            Some(scratch) => scratch.keep().await,
            None => Ok(String::new()),
        }
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

/// ` (axis=value, …)` for a scenario with variants, to tell its cells apart on stderr;
/// nothing for one without.
fn variant_label(scenario: &Scenario, cell: &[Value]) -> String {
    if scenario.variants.is_empty() {
        return String::new();
    }
    let values: Vec<String> = scenario
        .variants
        .iter()
        .zip(cell)
        .map(|(axis, value)| format!("{}={value}", axis.name))
        .collect();
    format!(" ({})", values.join(", "))
}

/// `(axis, value)` per variant axis of `cell`, as the outcome names a variant.
fn variant_pairs(scenario: &Scenario, cell: &[Value]) -> Vec<(String, String)> {
    scenario
        .variants
        .iter()
        .zip(cell)
        .map(|(axis, value)| (axis.name.clone(), value.to_string()))
        .collect()
}

/// The connections a prepared database works with (one per index build lane), its
/// settings pinned: the `create database` phase. Returns them with the pinning's notes.
async fn connect_and_pin(
    scratch: &ScratchDatabase,
    scenario: &Scenario,
    options: &RunOptions,
    phases: &mut Vec<Phase>,
) -> Result<(Vec<Client>, Vec<String>)> {
    let phase = options.progress.phase("create database");
    let admin = scratch.connect().await?;
    let notes = settings::pin(&admin, &scratch.name, &scenario.settings, &scenario.path).await?;
    drop(admin);
    let mut clients = Vec::new();
    for _ in 0..index_build_lanes() {
        clients.push(scratch.connect().await?);
    }
    phases.push(phase.finish());
    Ok((clients, notes))
}

/// The prepared database, once seeded (or restored): its environment read.
async fn finish(
    server: &Server,
    clients: Vec<Client>,
    scenario: &Scenario,
    (seeded, targets, phases): (Seeded, Vec<TargetRow>, Vec<Phase>),
    notes: Vec<String>,
    options: &RunOptions,
) -> Result<PreparedDatabase> {
    let environment = Environment {
        backend: server.backend().clone(),
        backend_note: server.selection_note.clone(),
        server_version: server.version().text.clone(),
        settings: settings::non_default(&clients[0]).await?,
        notes,
        host: Host::current(),
    };
    Ok(PreparedDatabase {
        scratch: None,
        clients,
        dataset_file: scenario.dataset.path.clone(),
        settings: scenario.settings.clone(),
        migrated: false,
        seeded,
        environment,
        targets,
        phases,
        progress: options.progress,
    })
}

/// Checks on the schema what needs no data: the queries' SQL and the dataset's
/// columns, so such errors come in a second, not after the seed. Returns each table's
/// column types.
async fn check_schema(
    client: &Client,
    scenarios: &[&Scenario],
) -> Result<Vec<Vec<(String, tokio_postgres::types::Type)>>> {
    let dataset = &scenarios[0].dataset;
    for scenario in scenarios {
        for query in scenario
            .queries
            .iter()
            .filter(|query| query.state == SchemaState::Before)
        {
            let statement = capture::prepare(client, scenario, query).await?;
            capture::check_result_columns(scenario, &[(query.name.as_str(), &statement)])?;
        }
        capture::prepare_picks(client, scenario).await?;
        capture::check_relations(client, scenario, SchemaState::Before).await?;
    }
    load::column_types(client, dataset).await
}

/// The generator for `scenarios`' dataset at the run's scale and seed, the target
/// rows it is to capture, the rows of each target's group, and what is seeded (the
/// tables' facts still empty).
fn datagen_for(
    scenarios: &[&Scenario],
    options: &RunOptions,
) -> Result<(Datagen, Vec<Capture>, Vec<u64>, Seeded)> {
    let dataset = &scenarios[0].dataset;
    let scale = options.scale.unwrap_or(dataset.default_scale);
    let seed = options.seed.unwrap_or(dataset.model.seed);
    let captures = captures(scenarios);
    let datagen = Datagen::new(&dataset.model, scale, seed, captures.clone()).map_err(|error| {
        Error::input(
            &dataset.path,
            format!(
                "table {}: {} (at --scale {scale})",
                error.table, error.message
            ),
        )
    })?;
    let group_rows: Vec<u64> = captures
        .iter()
        .map(|capture| datagen.rows_labelled(capture.table, capture.group))
        .collect();
    let seeded = Seeded {
        seed,
        scale,
        scale_table: dataset.scale_table().to_owned(),
        as_of: dataset.model.as_of,
        tables: Vec::new(),
        size_check: None,
        cache: None,
    };
    Ok((datagen, captures, group_rows, seeded))
}

/// The target rows the generator captured.
fn target_rows(captures: Vec<Capture>, datagen: &Datagen, group_rows: Vec<u64>) -> Vec<TargetRow> {
    captures
        .into_iter()
        .zip(datagen.captured().iter().cloned())
        .zip(group_rows)
        .map(|((capture, row), group_rows)| TargetRow {
            capture,
            values: row.unwrap_or_default(),
            group_rows,
        })
        .collect()
}

/// Generates and loads the dataset; returns what was seeded, the target rows every
/// scenario's variants ask for, and the load's phases.
async fn seed(
    clients: &mut [Client],
    scenarios: &[&Scenario],
    types: &[Vec<(String, tokio_postgres::types::Type)>],
    options: &RunOptions,
) -> Result<(Seeded, Vec<TargetRow>, Vec<Phase>)> {
    let (datagen, captures, group_rows, mut seeded) = datagen_for(scenarios, options)?;
    // A scenario's timeouts are for its measured queries, never for the seed.
    set_on_all(clients, TIMEOUTS_OFF).await?;
    let (tables, phases, datagen) = load::load(
        clients,
        &scenarios[0].dataset,
        types,
        datagen,
        options.progress,
    )
    .await?;
    set_on_all(clients, TIMEOUTS_FROM_DATABASE).await?;
    seeded.tables = tables;
    Ok((seeded, target_rows(captures, &datagen, group_rows), phases))
}

/// Session settings that lift any timeout the scenario pins on its database.
const TIMEOUTS_OFF: &str =
    "SET statement_timeout = 0; SET lock_timeout = 0; SET idle_in_transaction_session_timeout = 0";
/// Back to the database's settings: the scenario's, for the measured queries.
const TIMEOUTS_FROM_DATABASE: &str =
    "RESET statement_timeout; RESET lock_timeout; RESET idle_in_transaction_session_timeout";

async fn set_on_all(clients: &[Client], statements: &str) -> Result<()> {
    for client in clients {
        client
            .batch_execute(statements)
            .await
            .map_err(Error::database("setting the session's timeouts"))?;
    }
    Ok(())
}

/// A generated row a scenario's parameters may bind to.
struct TargetRow {
    capture: Capture,
    values: Vec<Value>,
    /// Rows of the row's table in its group.
    group_rows: u64,
}

/// What capture found for every cell of a scenario.
struct Captured {
    /// Per cell, the evidence of each query.
    queries: Vec<Vec<QueryEvidence>>,
    /// Per cell, the target row and its values.
    targets: Vec<(Option<Target>, Vec<Value>)>,
    /// Per cell, the row each `[[pick]]` returned.
    picks: Vec<Vec<Picked>>,
    /// Per cell, each pick's columns and values, as the queries were bound from.
    pick_rows: Vec<Vec<(Vec<String>, Vec<Value>)>>,
    catalog_before: crate::plan::Catalog,
    catalog_after: Option<crate::plan::Catalog>,
    /// With `--stability N`, the plans each query took over the `ANALYZE` rounds.
    rounds: Option<stability::Rounds>,
}

/// Judges every cell with the checks that apply to it; with `--stability N`, the
/// checks that read the rounds judge `stability`.
fn judge_cells(
    scenario: &Scenario,
    cells: &[Vec<Value>],
    captured: Captured,
    stability: Option<&Stability>,
) -> Vec<Cell> {
    let Captured {
        queries,
        targets,
        picks,
        catalog_before,
        catalog_after,
        ..
    } = captured;
    cells
        .iter()
        .zip(queries)
        .zip(targets)
        .zip(picks)
        .map(|(((values, mut queries), (target, _)), picks)| {
            queries.sort_by_key(|query| scenario.queries.iter().position(|q| q.name == query.name));
            let evidence = Evidence {
                queries,
                catalog_before: catalog_before.clone(),
                catalog_after: catalog_after.clone(),
                baselines: scenario.baselines(),
            };
            let variant = variant_pairs(scenario, values);
            let checks = scenario.checks_for(values);
            let verdicts = match stability {
                Some(stability) => {
                    judge::verdicts_over_stability(&checks, &evidence, stability, &variant)
                }
                None => judge::verdicts(&checks, &evidence),
            };
            Cell {
                variant,
                target,
                picks,
                evidence,
                verdicts,
            }
        })
        .collect()
}

/// Runs one scenario on `server` in its own scratch database, which is dropped
/// afterwards whatever the outcome, unless `options.keep` asks to keep it.
pub async fn run_scenario(
    server: &Server,
    scenario: &Scenario,
    options: &RunOptions,
) -> Result<Outcome> {
    let mut prepared = PreparedDatabase::create(server, &[scenario], options).await?;
    let outcome = prepared
        .judge_with(
            scenario,
            options.timing,
            Measuring::Timed,
            options.stability,
        )
        .await;
    if options.keep {
        let kept = prepared.keep().await;
        let outcome = outcome?;
        kept?;
        return Ok(outcome);
    }
    let dropped = prepared.discard().await;
    let outcome = outcome?;
    dropped?;
    Ok(outcome)
}
