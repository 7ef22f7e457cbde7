//! Plan stability (`--stability N`): after a run's own capture, so that its verdicts
//! stay those of the statistics the load's `VACUUM (ANALYZE)` (or the migration's
//! `ANALYZE`) made, the database is analysed N more times and every query of every
//! variant is explained (plain EXPLAIN, same bound parameters) after each round. The
//! distinct plans and how often each appeared go into [`Stability`]; the `stable`
//! check judges them.
//!
//! Why the rounds differ: `ANALYZE` reads a random sample of 300 ×
//! `default_statistics_target` rows per table, drawn from the server process's own
//! random state (seeded when the backend starts, advanced by each draw, and not
//! touched by `setseed()`, which seeds only `random()`), so each round in the session
//! samples anew. A table no larger than the sample is read whole, and its statistics
//! are the same every round: only tables past 300 × the target vary, which is why
//! `--stability-target` can lower the target for the rounds (and only for them: it
//! is a session setting, reset after each side's rounds, so the migration's own
//! `ANALYZE` keeps the database's target).
//!
//! A scenario with a migration has two sides, each analysed on its own schema: the
//! `before` queries' rounds run once their capture is done and before the migration
//! is applied, the `after` queries' once theirs is done on the migrated schema. The
//! database keeps the last round's statistics (which matters only with `--keep`).

use tokio_postgres::Client;

use super::{
    Captured, PreparedDatabase, TIMEOUTS_FROM_DATABASE, TIMEOUTS_OFF, set_on_all, variant_pairs,
};
use crate::capture::{self, Bindings, BoundQuery};
use crate::error::{Error, Result};
use crate::input::Scenario;
use crate::judge::{self, Check, PlanReading};
use crate::outcome::stability::{QueryShapes, ShapeCount, Stability, StabilityCell};
use crate::outcome::{Evidence, Outcome, Phase, SchemaState};
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

/// The plans the rounds found so far, side by side: the `before` queries' after the
/// rounds before a migration, then the `after` queries' after those on the migrated
/// schema.
pub(super) struct Rounds {
    request: StabilityRequest,
    /// The run's own `default_statistics_target`, read before the first round.
    database_statistics_target: String,
    /// Per cell, each query's distinct plans.
    cells: Vec<Vec<QueryShapes>>,
}

impl Rounds {
    /// The rounds as the outcome keeps them: per variant, the queries in the
    /// scenario's order.
    pub(super) fn into_stability(self, scenario: &Scenario, values: &[Vec<Value>]) -> Stability {
        let order = |name: &str| scenario.queries.iter().position(|query| query.name == name);
        Stability {
            rounds: self.request.rounds,
            statistics_target: self.request.statistics_target,
            database_statistics_target: self.database_statistics_target,
            cells: values
                .iter()
                .zip(self.cells)
                .map(|(cell, mut queries)| {
                    queries.sort_by_key(|query| order(&query.query));
                    StabilityCell {
                        variant: variant_pairs(scenario, cell),
                        queries,
                    }
                })
                .collect(),
        }
    }
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
    /// Runs the rounds `request` asks for on the schema as it stands, after the
    /// capture of the queries that run on it (`state`), and adds their plans to
    /// `captured.rounds`. Returns the rounds' phase, named with `suffix` as that
    /// state's capture phases are; nothing when no query runs on `state`.
    pub(super) async fn stability_rounds(
        &self,
        scenario: &Scenario,
        state: SchemaState,
        values: &[Vec<Value>],
        captured: &mut Captured,
        request: StabilityRequest,
        suffix: &str,
    ) -> Result<Option<Phase>> {
        if !scenario.queries.iter().any(|query| query.state == state) {
            return Ok(None);
        }
        let phase = self.progress.phase(&format!(
            "stability: {} ANALYZE rounds{suffix}",
            request.rounds
        ));
        let client = &self.clients[0];
        if captured.rounds.is_none() {
            let database_statistics_target: String = client
                .query_one("SHOW default_statistics_target", &[])
                .await
                .map_err(Error::database("reading default_statistics_target"))?
                .get(0);
            captured.rounds = Some(Rounds {
                request,
                database_statistics_target,
                cells: vec![Vec::new(); values.len()],
            });
        }
        let mut bound = Vec::with_capacity(values.len());
        let mut evidence = Vec::with_capacity(values.len());
        for (index, cell) in values.iter().enumerate() {
            let bindings = Bindings {
                target: &captured.targets[index].1,
                variant: cell,
                picks: captured.pick_rows[index].clone(),
            };
            bound.push(capture::bind(client, scenario, state, &bindings).await?);
            // The run's evidence of this side's queries, whose plans each round
            // replaces; the catalogs are the ones the plan checks read.
            evidence.push(Evidence {
                queries: captured.queries[index]
                    .iter()
                    .filter(|query| query.state == state)
                    .cloned()
                    .collect(),
                catalog_before: captured.catalog_before.clone(),
                catalog_after: captured.catalog_after.clone(),
                baselines: scenario.baselines(),
            });
        }
        set_on_all(&self.clients[..1], TIMEOUTS_OFF).await?;
        let tallies = rounds(client, scenario, values, &bound, &evidence, request).await;
        // The target was the rounds' alone (not the migration's ANALYZE's, which
        // may come next); the database's own comes back even when a round failed,
        // though the run is then over.
        let reset = client
            .batch_execute("RESET default_statistics_target")
            .await
            .map_err(Error::database("resetting default_statistics_target"));
        set_on_all(&self.clients[..1], TIMEOUTS_FROM_DATABASE).await?;
        let tallies = tallies?;
        reset?;
        if let Some(rounds) = &mut captured.rounds {
            for (cell, queries) in rounds.cells.iter_mut().zip(tallies) {
                cell.extend(queries);
            }
        }
        Ok(Some(phase.finish()))
    }
}

/// The rounds themselves: `ANALYZE`, then every variant's queries explained; per
/// variant, each query's distinct plans.
async fn rounds(
    client: &Client,
    scenario: &Scenario,
    values: &[Vec<Value>],
    bound: &[Vec<BoundQuery>],
    evidence: &[Evidence],
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
            let checks = scenario.checks_for(&values[index]);
            let plans = explain_round(client, &checks, queries, &evidence[index]).await?;
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
/// `captured` is the run's evidence of these queries, whose plans the round's replace.
async fn explain_round(
    client: &Client,
    checks: &[&dyn Check],
    queries: &[BoundQuery],
    captured: &Evidence,
) -> Result<Vec<(String, String, Vec<String>)>> {
    let mut evidence = Evidence {
        queries: Vec::with_capacity(queries.len()),
        catalog_before: captured.catalog_before.clone(),
        catalog_after: captured.catalog_after.clone(),
        baselines: captured.baselines.clone(),
    };
    for query in queries {
        let (raw_explain, plan) = capture::estimated_plan(client, query).await?;
        let Some(run) = captured.query(&query.name) else {
            continue;
        };
        let mut estimated = run.clone();
        estimated.plan = plan;
        estimated.raw_explain = raw_explain;
        estimated.timed_out = None;
        estimated.analyze_cancelled = None;
        evidence.queries.push(estimated);
    }
    // Only the checks on this side's queries: the other side's are not explained
    // here and would only fail for want of a plan.
    let verdicts: Vec<_> = checks
        .iter()
        .filter(|check| check.reads() == PlanReading::Shape)
        .filter(|check| {
            check
                .queries()
                .iter()
                .all(|name| evidence.query(name).is_some())
        })
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
