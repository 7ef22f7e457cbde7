//! Plan stability (`--stability N`): after a run's own capture, so that its verdicts
//! stay those of the statistics the load's `VACUUM (ANALYZE)` made, the database is
//! analysed N more times and every query of every variant is explained (plain
//! EXPLAIN, same bound parameters) after each round. The distinct plans and how often
//! each appeared go into [`Stability`]; the `stable` check judges them.
//!
//! Why the rounds differ: `ANALYZE` reads a random sample of 300 ×
//! `default_statistics_target` rows per table, drawn from the server process's own
//! random state (seeded when the backend starts, advanced by each draw, and not
//! touched by `setseed()`, which seeds only `random()`), so each round in the session
//! samples anew. A table no larger than the sample is read whole, and its statistics
//! are the same every round: only tables past 300 × the target vary, which is why
//! `--stability-target` can lower the target for the rounds (and only for them: it
//! is a session setting, reset afterwards).
//!
//! A scenario with a migration is analysed after it: the rounds explain only the
//! queries of the migrated schema and say which they skipped. The database keeps the
//! last round's statistics (which matters only with `--keep`).

use tokio_postgres::Client;

use super::{PreparedDatabase, TIMEOUTS_FROM_DATABASE, TIMEOUTS_OFF, set_on_all};
use crate::capture::{self, Bindings, BoundQuery};
use crate::error::{Error, Result};
use crate::input::Scenario;
use crate::judge;
use crate::outcome::stability::{QueryShapes, ShapeCount, Stability, StabilityCell};
use crate::outcome::{Cell, Evidence, Outcome, Phase, SchemaState};
use crate::value::Value;

/// The most rounds `--stability` takes: each is an `ANALYZE` of the whole database.
pub const MAX_ROUNDS: u32 = 1000;

/// PostgreSQL's bounds on `default_statistics_target`.
const TARGET_RANGE: std::ops::RangeInclusive<u32> = 1..=10_000;

/// What the command line asked of the stability rounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StabilityRequest {
    /// `--stability N`: how many `ANALYZE` rounds.
    pub rounds: u32,
    /// `--stability-target T`: the `default_statistics_target` of the rounds.
    pub statistics_target: Option<u32>,
}

/// Checks `--stability` and `--stability-target` before anything starts. A sweep is
/// refused: its verdict is the largest scale's, and rounds at every scale would
/// multiply its cost for a question (does the plan move with the sample?) that one
/// scale answers; run `--stability` with `--scale` instead.
pub fn request(
    rounds: Option<u32>,
    statistics_target: Option<u32>,
    sweep: bool,
) -> Result<Option<StabilityRequest>> {
    let Some(rounds) = rounds else {
        return match statistics_target {
            Some(target) => Err(Error::Usage(format!(
                "--stability-target {target} sets the statistics target of the stability rounds; add --stability N to run them"
            ))),
            None => Ok(None),
        };
    };
    if rounds == 0 || rounds > MAX_ROUNDS {
        return Err(Error::Usage(format!(
            "--stability {rounds}: give a number of ANALYZE rounds from 1 to {MAX_ROUNDS} (20 shows most flips)"
        )));
    }
    if let Some(target) = statistics_target.filter(|target| !TARGET_RANGE.contains(target)) {
        return Err(Error::Usage(format!(
            "--stability-target {target}: PostgreSQL's default_statistics_target goes from {} to {}",
            TARGET_RANGE.start(),
            TARGET_RANGE.end()
        )));
    }
    if sweep {
        return Err(Error::Usage(format!(
            "--stability {rounds} cannot go with a sweep (--scales, --sweep, --find-flip): a sweep's verdict is its largest scale's, so run --stability at that scale with --scale"
        )));
    }
    Ok(Some(StabilityRequest {
        rounds,
        statistics_target,
    }))
}

/// What each variant's queries are bound from, kept from the run's capture so the
/// rounds explain the queries with the same parameters.
pub(super) struct CellBindings {
    pub target: Vec<Value>,
    pub picks: Vec<(Vec<String>, Vec<Value>)>,
}

/// What a run says on stderr about stability after its report: the plans each query
/// took; or, without `--stability`, how many `stable` checks were not judged.
pub fn summary(outcome: &Outcome) -> Vec<String> {
    if let Some(stability) = &outcome.stability {
        return stability.sentences();
    }
    let unjudged = outcome
        .cells
        .iter()
        .flat_map(|cell| &cell.verdicts)
        .filter(|verdict| verdict.summary == judge::stable::NOT_JUDGED)
        .count();
    match unjudged {
        0 => Vec::new(),
        count => vec![format!(
            "{count} stable check(s) not judged: they need --stability N; they do not fail a run without it"
        )],
    }
}

impl PreparedDatabase {
    /// Runs the rounds `request` asks for on this database, after the run's capture,
    /// and judges `cells` again with the checks that read them.
    pub(super) async fn stability(
        &self,
        scenario: &Scenario,
        values: &[Vec<Value>],
        bindings: &[CellBindings],
        cells: &mut [Cell],
        request: StabilityRequest,
    ) -> Result<(Stability, Phase)> {
        let phase = self
            .progress
            .phase(&format!("stability: {} ANALYZE rounds", request.rounds));
        let client = &self.clients[0];
        let database_statistics_target: String = client
            .query_one("SHOW default_statistics_target", &[])
            .await
            .map_err(Error::database("reading default_statistics_target"))?
            .get(0);
        // The rounds explain the schema as it now stands: migrated, if the scenario
        // has a migration.
        let state = match scenario.has_after_state() {
            true => SchemaState::After,
            false => SchemaState::Before,
        };
        let skipped = scenario
            .queries
            .iter()
            .filter(|query| query.state != state)
            .map(|query| {
                format!(
                    "{} runs before the scenario's migration; the rounds run after it, so it was not explained",
                    query.name
                )
            })
            .collect();
        let mut bound = Vec::with_capacity(bindings.len());
        for (cell, binding) in values.iter().zip(bindings) {
            let bindings = Bindings {
                target: &binding.target,
                variant: cell,
                picks: binding.picks.clone(),
            };
            bound.push(capture::bind(client, scenario, state, &bindings).await?);
        }
        set_on_all(&self.clients[..1], TIMEOUTS_OFF).await?;
        let tallies = rounds(client, scenario, values, &bound, cells, request).await;
        // The target was the rounds' alone; the database's own comes back even when
        // a round failed, though the run is then over.
        let reset = client
            .batch_execute("RESET default_statistics_target")
            .await
            .map_err(Error::database("resetting default_statistics_target"));
        set_on_all(&self.clients[..1], TIMEOUTS_FROM_DATABASE).await?;
        let tallies = tallies?;
        reset?;
        let stability = Stability {
            rounds: request.rounds,
            statistics_target: request.statistics_target,
            database_statistics_target,
            cells: cells
                .iter()
                .zip(tallies)
                .map(|(cell, queries)| StabilityCell {
                    variant: cell.variant.clone(),
                    queries,
                })
                .collect(),
            skipped,
        };
        for (cell_values, cell) in values.iter().zip(cells.iter_mut()) {
            cell.verdicts = judge::verdicts_over_stability(
                &scenario.checks_for(cell_values),
                &cell.evidence,
                &stability,
                &cell.variant,
            );
        }
        Ok((stability, phase.finish()))
    }
}

/// The rounds themselves: `ANALYZE`, then every variant's queries explained; per
/// variant, each query's distinct plans.
async fn rounds(
    client: &Client,
    scenario: &Scenario,
    values: &[Vec<Value>],
    bound: &[Vec<BoundQuery>],
    cells: &[Cell],
    request: StabilityRequest,
) -> Result<Vec<Vec<QueryShapes>>> {
    if let Some(target) = request.statistics_target {
        client
            .batch_execute(&format!("SET default_statistics_target = {target}"))
            .await
            .map_err(Error::database("lowering default_statistics_target"))?;
    }
    let mut tallies: Vec<Vec<QueryShapes>> = bound
        .iter()
        .map(|queries| {
            queries
                .iter()
                .map(|query| QueryShapes {
                    query: query.name.clone(),
                    shapes: Vec::new(),
                })
                .collect()
        })
        .collect();
    for round in 1..=request.rounds {
        client
            .batch_execute("ANALYZE")
            .await
            .map_err(Error::database("analysing for a stability round"))?;
        for (index, queries) in bound.iter().enumerate() {
            let plans =
                explain_round(client, scenario, &values[index], queries, &cells[index]).await?;
            for (name, shape, flags) in plans {
                if let Some(tally) = tallies[index].iter_mut().find(|t| t.query == name) {
                    count(tally, shape, flags, round);
                }
            }
        }
    }
    Ok(tallies)
}

/// Adds one round's plan of a query to its tally.
fn count(tally: &mut QueryShapes, shape: String, flags: Vec<String>, round: u32) {
    match tally
        .shapes
        .iter_mut()
        .find(|seen| seen.shape == shape && seen.flags == flags)
    {
        Some(seen) => seen.rounds += 1,
        None => tally.shapes.push(ShapeCount {
            shape,
            rounds: 1,
            first_round: round,
            flags,
        }),
    }
}

/// One variant's queries explained after a round: per query, its name, its plan's
/// shape and what the plan checks that judge estimated plans say against it.
async fn explain_round(
    client: &Client,
    scenario: &Scenario,
    values: &[Value],
    queries: &[BoundQuery],
    cell: &Cell,
) -> Result<Vec<(String, String, Vec<String>)>> {
    let mut evidence = Evidence {
        queries: Vec::with_capacity(queries.len()),
        ..cell.evidence.clone()
    };
    evidence.queries.clear();
    for query in queries {
        let (raw_explain, plan) = capture::estimated_plan(client, query).await?;
        let Some(run) = cell.evidence.query(&query.name) else {
            continue;
        };
        let mut estimated = run.clone();
        estimated.plan = plan;
        estimated.raw_explain = raw_explain;
        estimated.timed_out = None;
        estimated.analyze_cancelled = None;
        evidence.queries.push(estimated);
    }
    let checks: Vec<_> = scenario
        .checks_for(values)
        .into_iter()
        .filter(|check| check.reads() == crate::judge::PlanReading::Shape)
        .collect();
    let verdicts: Vec<_> = checks
        .iter()
        .map(|check| (check.queries(), judge::evaluate(*check, &evidence)))
        .collect();
    Ok(evidence
        .queries
        .iter()
        .map(|query| {
            let flags = verdicts
                .iter()
                .filter(|(names, verdict)| !verdict.passed && names.contains(&query.name.as_str()))
                .map(|(_, verdict)| {
                    // Every round's plan is estimated; saying so on each flag is noise.
                    let summary = verdict.summary.split(" (judged on").next().unwrap_or("");
                    format!("{}: {summary}", verdict.check)
                })
                .collect();
            (query.name.clone(), query.plan.shape(), flags)
        })
        .collect())
}
