//! A workload run: the workload's scenario (one query per query file and parameter
//! set) seeded, captured and briefly timed at each of its scales on one server, each
//! scale in a scratch database of its own; then `ANALYZE` rounds that find the other
//! plans a query takes on its own. Making baselines, every query goes through the
//! rounds, and each new plan is run once with EXPLAIN ANALYZE for what it reads.
//! Checking against baselines, only a query whose plan its baseline does not accept
//! does, until the rounds give one it accepts: a plan that moved with ANALYZE's sample
//! is then compared as the plan the baseline knows, and a regression (a dropped index)
//! never gives one.

use std::collections::BTreeMap;
use std::time::Duration;

use tokio_postgres::Client;

use super::{PreparedDatabase, RunOptions};
use crate::capture::{self, BoundQuery, timing::TimingOptions};
use crate::error::{Error, Result};
use crate::format::format_count;
use crate::input::workload::{Workload, WorkloadQuery};
use crate::judge::baseline::{self as rules, RunAtScale};
use crate::outcome::baseline::{self, Baseline, MadeWith, OtherPlan, Record, SetBaseline};
use crate::outcome::workload::{
    GrowthPair, RuleChange, ScaleCheck, Status, SubjectCheck, WorkloadCheck,
};
use crate::outcome::{Outcome, Phase, ResultDigest, Verdict};
use crate::plan::Plan;
use crate::plan::diff::diff_outlines;
use crate::provision::Server;

/// The timing of a workload's queries: reported, never gated, so a handful of runs
/// over a short time each (a workload may hold hundreds of queries).
pub const WORKLOAD_TIMING: TimingOptions = TimingOptions {
    min_rounds: 3,
    max_rounds: 50,
    min_samples: 5,
    sample_time: Duration::from_millis(20),
    loop_time: Duration::from_millis(50),
    statement_budget: None,
};

/// Per scale and query (`<query>.<set>`), the plans its baseline accepts.
pub type Accepted = BTreeMap<(u64, String), Vec<Vec<String>>>;

/// What the rounds are for.
pub enum Rounds<'a> {
    /// Making baselines: every query, every round, each new plan analysed once.
    Baseline(u32),
    /// Checking: only the queries whose plan their baseline does not accept, until a
    /// round gives one it does.
    Check(u32, &'a Accepted),
}

/// The workload at one scale.
pub struct ScaleRun {
    pub scale: u64,
    /// The run's outcome: per query, its evidence (plans, results, timing), no
    /// verdicts.
    pub outcome: Outcome,
    /// Per query, the other plans the rounds gave, each analysed once, with how many
    /// rounds gave it. Checking, a query's list holds the accepted plan a round gave,
    /// if one did.
    pub rounds: BTreeMap<String, Vec<RoundPlan>>,
    /// Rounds run.
    pub rounds_run: u32,
}

/// A plan an `ANALYZE` round gave, run once.
#[derive(Debug, Clone)]
pub struct RoundPlan {
    pub plan: Plan,
    pub rounds: u32,
}

/// Runs `workload` at each of its scales (or only `scales` when given) on `server`.
pub async fn run(
    server: &Server,
    workload: &Workload,
    options: &RunOptions,
    rounds: &Rounds<'_>,
) -> Result<Vec<ScaleRun>> {
    let mut runs = Vec::with_capacity(workload.scales.len());
    for &scale in &workload.scales {
        runs.push(run_at_scale(server, workload, options, rounds, scale).await?);
    }
    Ok(runs)
}

async fn run_at_scale(
    server: &Server,
    workload: &Workload,
    options: &RunOptions,
    rounds: &Rounds<'_>,
    scale: u64,
) -> Result<ScaleRun> {
    let options = RunOptions {
        scale: Some(scale),
        timing: TimingOptions {
            statement_budget: options.timing.statement_budget,
            ..WORKLOAD_TIMING
        },
        stability: None,
        ..*options
    };
    crate::say!(
        "workload {}: {} rows of {}",
        workload.name,
        crate::format::format_count(scale as f64),
        workload.scenario.dataset.model.tables[workload.scenario.dataset.model.scale_table].name
    );
    let mut prepared = PreparedDatabase::create(server, &[&workload.scenario], &options).await?;
    let run = async {
        let mut outcome = prepared.judge(&workload.scenario, options.timing).await?;
        let phase = options.progress.phase("ANALYZE rounds");
        let (found, rounds_run) =
            analyze_rounds(&prepared, workload, &outcome, rounds, scale).await?;
        outcome.phases.push(phase.finish());
        Ok::<_, Error>(ScaleRun {
            scale,
            outcome,
            rounds: found,
            rounds_run,
        })
    }
    .await;
    let released = match options.keep {
        true => prepared.keep().await.map(|_| ()),
        false => prepared.discard().await,
    };
    let run = run?;
    released?;
    Ok(run)
}

/// The rounds `rounds` asks for at `scale`, after the capture in `outcome`.
async fn analyze_rounds(
    prepared: &PreparedDatabase,
    workload: &Workload,
    outcome: &Outcome,
    rounds: &Rounds<'_>,
    scale: u64,
) -> Result<(BTreeMap<String, Vec<RoundPlan>>, u32)> {
    let captured: BTreeMap<&str, Vec<String>> = outcome.cells[0]
        .evidence
        .queries
        .iter()
        .map(|query| (query.name.as_str(), query.plan.outline()))
        .collect();
    let (count, pending): (u32, Vec<&str>) = match rounds {
        Rounds::Baseline(count) => (*count, captured.keys().copied().collect()),
        Rounds::Check(count, accepted) => (
            *count,
            captured
                .iter()
                .filter(|(name, outline)| {
                    accepted
                        .get(&(scale, name.to_string()))
                        .is_some_and(|plans| !plans.contains(outline))
                })
                .map(|(name, _)| *name)
                .collect(),
        ),
    };
    if count == 0 || pending.is_empty() {
        return Ok((BTreeMap::new(), 0));
    }
    let bound: Vec<BoundQuery> = prepared
        .bind_first_variant(&workload.scenario)
        .await?
        .into_iter()
        .filter(|query| pending.contains(&query.name.as_str()))
        .collect();
    let client = prepared.client();
    let budget = capture::effective_budget(
        client,
        workload
            .scenario
            .time_budget
            .unwrap_or(capture::timing::DEFAULT_TIME_BUDGET),
    )
    .await?;
    capture::limit_statements(client, budget).await?;
    let found = each_round(client, &bound, &captured, rounds, scale, count).await;
    capture::lift_limit(client).await?;
    Ok((found?, count))
}

/// `count` rounds of `ANALYZE`, then plain EXPLAIN of each query in `bound`: a plan
/// not seen before is run once with EXPLAIN ANALYZE. Checking, a query leaves the
/// rounds once a round gives a plan its baseline accepts.
async fn each_round(
    client: &Client,
    bound: &[BoundQuery],
    captured: &BTreeMap<&str, Vec<String>>,
    rounds: &Rounds<'_>,
    scale: u64,
    count: u32,
) -> Result<BTreeMap<String, Vec<RoundPlan>>> {
    let mut found: BTreeMap<String, Vec<RoundPlan>> = BTreeMap::new();
    let mut done: Vec<&str> = Vec::new();
    for _ in 0..count {
        client
            .batch_execute("ANALYZE")
            .await
            .map_err(Error::database("ANALYZE between the workload's rounds"))?;
        for query in bound {
            if done.contains(&query.name.as_str()) {
                continue;
            }
            let (_, plan) = capture::estimated_plan(client, query).await?;
            let outline = plan.outline();
            let plans = found.entry(query.name.clone()).or_default();
            if let Some(seen) = plans.iter_mut().find(|seen| seen.plan.outline() == outline) {
                seen.rounds += 1;
                continue;
            }
            let wanted = match rounds {
                Rounds::Baseline(_) => captured.get(query.name.as_str()) != Some(&outline),
                Rounds::Check(_, accepted) => accepted
                    .get(&(scale, query.name.clone()))
                    .is_some_and(|plans| plans.contains(&outline)),
            };
            if !wanted {
                continue;
            }
            let (_, analyzed) = capture::analyzed_plan(client, query).await?;
            plans.push(RoundPlan {
                plan: analyzed,
                rounds: 1,
            });
            if matches!(rounds, Rounds::Check(..)) {
                done.push(&query.name);
            }
        }
    }
    found.retain(|_, plans| !plans.is_empty());
    Ok(found)
}

/// The phases of every scale, each named with its scale.
pub fn phases(runs: &[ScaleRun]) -> Vec<Phase> {
    runs.iter()
        .flat_map(|run| {
            run.outcome.phases.iter().map(move |phase| Phase {
                name: format!(
                    "{} ({})",
                    phase.name,
                    crate::format::format_count(run.scale as f64)
                ),
                ms: phase.ms,
            })
        })
        .collect()
}

/// What a workload's run is compared with: each query's baseline, by query name.
pub type Baselines = BTreeMap<String, Baseline>;

/// What this run is made with, to be written in baselines and compared with theirs.
pub fn made_with(workload: &Workload, postgres: u32, seed: u64) -> MadeWith {
    let model = &workload.scenario.dataset.model;
    MadeWith {
        dataset: workload.dataset_name.clone(),
        dataset_digest: workload.dataset_digest.clone(),
        postgres,
        scale_table: model.tables[model.scale_table].name.clone(),
        scales: workload.scales.clone(),
        seed,
        settings: workload.scenario.settings.iter().cloned().collect(),
    }
}

/// The plans each query's baseline accepts, per scale: what [`Rounds::Check`] reads.
pub fn accepted(workload: &Workload, baselines: &Baselines) -> Accepted {
    let mut accepted = Accepted::new();
    for query in &workload.queries {
        let Some(baseline) = baselines.get(&query.name) else {
            continue;
        };
        for (set, entry) in &baseline.sets {
            for (scale, record) in &entry.scales {
                let Ok(scale) = scale.parse::<u64>() else {
                    continue;
                };
                let plans = std::iter::once(record.plan.clone())
                    .chain(record.other_plans.iter().map(|other| other.plan.clone()))
                    .collect();
                accepted.insert((scale, query.subject(set)), plans);
            }
        }
    }
    accepted
}

/// What one query with one parameter set did at each scale: its record (the plan a
/// round gave instead, when checking found one its baseline accepts), the plan the
/// record came from, and the timing median.
struct Measured<'a> {
    scale: u64,
    record: Record,
    plan: &'a Plan,
    median_ms: Option<f64>,
    /// Set when a round's plan stood in for the captured one.
    moved: bool,
}

/// The records of `subject` at each scale, or the sentence saying why it has none
/// (it did not finish within the time budget).
fn measured<'a>(
    runs: &'a [ScaleRun],
    subject: &str,
) -> std::result::Result<Vec<Measured<'a>>, String> {
    let mut measured = Vec::with_capacity(runs.len());
    for run in runs {
        let evidence = run.outcome.cells[0]
            .evidence
            .query(subject)
            .ok_or_else(|| format!("was not captured at {}", format_count(run.scale as f64)))?;
        let unfinished = || {
            format!(
                "did not finish within the time budget ({}) at {}",
                crate::format::format_budget(run.outcome.time_budget),
                format_count(run.scale as f64)
            )
        };
        let results = evidence.results.as_ref().ok_or_else(unfinished)?;
        let stood_in = run.rounds.get(subject).and_then(|plans| plans.first());
        let (plan, moved) = match stood_in {
            Some(round) => (&round.plan, true),
            None => (&evidence.plan, false),
        };
        let mut record = Record::from_plan(plan, results).ok_or_else(unfinished)?;
        if !moved {
            record.other_plans = other_plans(run, subject, results);
        }
        measured.push(Measured {
            scale: run.scale,
            record,
            plan,
            median_ms: (!evidence.timing.samples_ms.is_empty())
                .then(|| evidence.timing.median_ms()),
            moved,
        });
    }
    Ok(measured)
}

/// The other plans the baseline rounds gave `subject`, with what each read.
fn other_plans(run: &ScaleRun, subject: &str, results: &ResultDigest) -> Vec<OtherPlan> {
    run.rounds
        .get(subject)
        .into_iter()
        .flatten()
        .filter_map(|round| Record::from_plan(&round.plan, results))
        .map(|record| OtherPlan {
            buffers: record.buffers,
            plan: record.plan,
            rows_examined: record.rows_examined,
        })
        .collect()
}

/// The growth exponent of rows examined between the smallest and the largest scale,
/// to two decimals (rows taken as at least one); `None` at one scale.
fn growth(measured: &[Measured]) -> Option<f64> {
    let (first, last) = (measured.first()?, measured.last()?);
    if first.scale == last.scale {
        return None;
    }
    let rows = |m: &Measured| (m.record.rows_examined as f64).max(1.0);
    let exponent = (rows(last) / rows(first)).ln() / (last.scale as f64 / first.scale as f64).ln();
    Some((exponent * 100.0).round() / 100.0)
}

/// The baselines of `workload` from `runs`: one per query, made with `made_with`, each
/// keeping `reason`.
pub fn make_baselines(
    workload: &Workload,
    runs: &[ScaleRun],
    made_with: &MadeWith,
    reason: &str,
) -> Result<Vec<Baseline>> {
    let mut baselines = Vec::with_capacity(workload.queries.len());
    for query in &workload.queries {
        let mut sets = BTreeMap::new();
        for set in &query.sets {
            let subject = query.subject(set);
            let measured = measured(runs, &subject).map_err(|why| {
                Error::input(
                    &query.path,
                    format!("parameter set {set:?} {why}: a baseline needs a query that runs to its end (raise the workload's time_budget, or fix the query)"),
                )
            })?;
            let largest = runs.last().expect("a workload has a scale");
            let params = largest.outcome.cells[0]
                .evidence
                .query(&subject)
                .map(|evidence| evidence.params.clone())
                .unwrap_or_default();
            sets.insert(
                set.clone(),
                SetBaseline {
                    growth: growth(&measured),
                    params,
                    scales: measured
                        .into_iter()
                        .map(|m| (m.scale.to_string(), m.record))
                        .collect(),
                },
            );
        }
        baselines.push(Baseline {
            accepted: reason.to_owned(),
            format: format!("{}{}", baseline::FORMAT_NAME, baseline::FORMAT_VERSION),
            made_with: made_with.clone(),
            query: query.name.clone(),
            sets,
            sql: query.sql_digest.clone(),
        });
    }
    Ok(baselines)
}

/// `runs` compared with `baselines`: per query and parameter set, what the rules
/// found, and its verdict (the workload's verdicts, one per query and set).
pub fn check(
    workload: &Workload,
    runs: &[ScaleRun],
    baselines: &Baselines,
    made_with: &MadeWith,
) -> (WorkloadCheck, Vec<Verdict>) {
    let mut subjects = Vec::new();
    let mut verdicts = Vec::new();
    for query in &workload.queries {
        for set in &query.sets {
            let then = baselines
                .get(&query.name)
                .and_then(|baseline| baseline.sets.get(set));
            let (subject, verdict) = check_subject(query, set, runs, then);
            subjects.push(subject);
            verdicts.extend(verdict);
        }
    }
    subjects.sort_by_key(|subject| {
        (
            subject.status != Status::Regressed,
            subject.status != Status::New,
        )
    });
    let check = WorkloadCheck {
        workload: workload.name.clone(),
        file: workload.path.display().to_string(),
        made_with: made_with.clone(),
        subjects,
        stale: stale(workload, baselines),
        baselines: pathdiff::diff_paths(
            &workload.baselines,
            workload.path.parent().unwrap_or(std::path::Path::new(".")),
        )
        .unwrap_or_else(|| workload.baselines.clone())
        .display()
        .to_string(),
    };
    (check, verdicts)
}

/// One query with one parameter set against its baseline (`then`, `None` when it has
/// none): what the rules found and the verdict (none for a new query).
fn check_subject(
    query: &WorkloadQuery,
    set: &str,
    runs: &[ScaleRun],
    then: Option<&SetBaseline>,
) -> (SubjectCheck, Option<Verdict>) {
    let subject = query.subject(set);
    let mut check = SubjectCheck {
        subject: subject.clone(),
        query: query.name.clone(),
        set: set.to_owned(),
        file: query.path.display().to_string(),
        status: Status::New,
        changes: Vec::new(),
        scales: Vec::new(),
        growth: None,
        note: None,
    };
    let measured = match measured(runs, &subject) {
        Ok(measured) => measured,
        Err(why) => {
            check.status = Status::Regressed;
            check.changes.push(RuleChange {
                rule: "time-budget".into(),
                message: format!("{subject} {why}"),
            });
            let verdict = Verdict::new(
                rules::CHECK,
                subject.clone(),
                false,
                check.changes[0].message.clone(),
            );
            return (check, Some(verdict));
        }
    };
    let now_growth = growth(&measured);
    check.scales = measured.iter().map(|m| scale_check(m, then)).collect();
    check.note = measured.iter().find(|m| m.moved).map(|m| {
        format!(
            "the first plan at {} was one the baseline does not know; an ANALYZE round gave one it does, and that plan is compared (the plan moves with ANALYZE's sample)",
            format_count(m.scale as f64)
        )
    });
    let Some(then) = then else {
        return (check, None);
    };
    check.growth = then
        .growth
        .zip(now_growth)
        .map(|(baseline, now)| GrowthPair { baseline, now });
    let at_scales: Vec<RunAtScale> = measured
        .iter()
        .map(|m| RunAtScale {
            scale: m.scale,
            record: &m.record,
            plan: m.plan,
        })
        .collect();
    let changes = rules::changes(then, &at_scales, now_growth, &query.limits);
    let largest = measured.last().expect("a workload has a scale");
    let verdict = rules::verdict(&subject, &changes, largest.plan);
    check.status = match changes.is_empty() {
        true => Status::Unchanged,
        false => Status::Regressed,
    };
    check.changes = changes
        .iter()
        .map(|change| RuleChange {
            rule: change.rule.to_owned(),
            message: change.message.clone(),
        })
        .collect();
    (check, Some(verdict))
}

fn scale_check(measured: &Measured, then: Option<&SetBaseline>) -> ScaleCheck {
    let baseline = then
        .and_then(|then| then.scales.get(&measured.scale.to_string()))
        .cloned();
    let diff = match &baseline {
        Some(baseline) if !baseline.accepts(&measured.record.plan) => {
            diff_outlines(&baseline.plan, &measured.record.plan)
        }
        _ => Vec::new(),
    };
    ScaleCheck {
        scale: measured.scale,
        now: measured.record.clone(),
        baseline,
        diff,
        median_ms: measured.median_ms,
    }
}

/// The baselines (and their parameter sets) no query file of the workload has.
fn stale(workload: &Workload, baselines: &Baselines) -> Vec<String> {
    let mut stale = Vec::new();
    for (name, baseline) in baselines {
        let query = workload.query(name);
        for set in baseline.sets.keys() {
            if query.is_none_or(|query| !query.sets.contains(set)) {
                stale.push(format!("{name}.{set}"));
            }
        }
    }
    stale
}
