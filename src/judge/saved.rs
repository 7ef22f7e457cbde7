//! Judging a plan saved elsewhere (`plancheck judge`): one plan of one query, with the
//! scenario's checks that read that query alone, and nothing else known about the run
//! (no timings, no results, perhaps no ANALYZE). Three rules keep such a verdict
//! honest:
//!
//! - A check that reads counts (rows examined, buffers) on a plan saved without
//!   ANALYZE says "not judged: needs ANALYZE", a check that reads more than one run
//!   (a sweep's growth, the stability rounds) says which run judges it, and a check
//!   whose relation the plan never reads says "not applicable": none is a pass.
//! - **Shape and cost.** A shape check (an ordered walk, a node type) that finds its
//!   problem where the scenario expects none is corroborated by the query's cost
//!   checks: when one of them judged the same plan and found its cost within bounds
//!   (a walk that reads 28 rows for 26 returned), the plan has the regression's shape
//!   without its cost and passes, saying so. Without a cost check that could judge
//!   (none declared, or no ANALYZE), the shape alone decides, and the verdict says the
//!   cost is unknown.
//! - The catalog the plan is read against is the one given (production's, exported
//!   with `plancheck catalog-sql`, or the scenario's schema on an empty database).

use super::{Check, PlanReading, evaluate};
use crate::outcome::saved::JudgedPlan;
use crate::outcome::{Evidence, Expect, QueryEvidence, SamplingStop, SchemaState, Timing, Verdict};
use crate::plan::{Catalog, Plan};

/// What is known of the query a saved plan belongs to.
pub struct SavedQuery<'a> {
    pub name: &'a str,
    pub state: SchemaState,
    /// The queries the scenario's comparisons measure against.
    pub baselines: Vec<String>,
}

/// Judges `plan` (from `source`, its JSON `text`) as `query` with `checks` (those of
/// the scenario that read this query alone) against `catalog`.
pub fn judge_plan(
    checks: &[&dyn Check],
    query: &SavedQuery,
    catalog: &Catalog,
    (source, text, plan): (&str, &str, &Plan),
) -> JudgedPlan {
    let evidence = Evidence {
        queries: vec![QueryEvidence {
            name: query.name.to_owned(),
            file: source.to_owned(),
            sql: String::new(),
            state: query.state,
            params: vec![],
            plan: plan.clone(),
            raw_explain: text.to_owned(),
            timing: Timing {
                samples_ms: vec![],
                stopped: SamplingStop::NotCompared,
            },
            results: None,
            warm_up_ms: None,
            timed_out: None,
            analyze_cancelled: None,
            // Plans brought from elsewhere: plancheck ran nothing.
            executions: 0,
        }],
        catalog_before: catalog.clone(),
        catalog_after: None,
        baselines: query.baselines.clone(),
    };
    let relations: Vec<&str> = plan
        .nodes()
        .filter_map(|(_, node)| node.relation.as_deref())
        .collect();
    let judged: Vec<(&dyn Check, Verdict)> = checks
        .iter()
        .map(|check| (*check, judge_one(*check, &evidence, plan, &relations)))
        .collect();
    JudgedPlan {
        source: source.to_owned(),
        analyzed: plan.analyzed,
        access_path: plan.access_path(),
        rows_examined: plan.analyzed.then(|| plan.rows_examined()),
        rows_returned: match plan.analyzed {
            true => plan.rows_returned(),
            false => plan.root.plan_rows,
        },
        verdicts: corroborate(judged),
    }
}

/// One check's verdict, or why it could not judge this plan.
fn judge_one(check: &dyn Check, evidence: &Evidence, plan: &Plan, relations: &[&str]) -> Verdict {
    // The check's own verdict keeps what it judged and expected (a growth's measure,
    // a problem expected absent); only what it found gives way to why it could not.
    let not_judged = |summary: String| Verdict {
        summary,
        passed: true,
        judged: false,
        findings: Vec::new(),
        ..evaluate(check, evidence)
    };
    if let Some((table, _)) = check
        .relations()
        .into_iter()
        .find(|(table, _)| !relations.contains(table))
    {
        return not_judged(format!(
            "not applicable: the plan reads no {table} (it reads {})",
            match relations.is_empty() {
                true => "no table".to_owned(),
                false => relations.join(", "),
            }
        ));
    }
    if let Some((what, flag)) = check.reads_beyond_one_run() {
        return not_judged(format!(
            "not judged: reads {what}, which a saved plan does not have (plancheck scenario {flag} judges it)"
        ));
    }
    if check.reads() == PlanReading::Counts && !plan.analyzed {
        return not_judged(
            "not judged: needs ANALYZE (the plan was saved from EXPLAIN without ANALYZE, so it counts no rows or buffers; save EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON))"
                .to_owned(),
        );
    }
    evaluate(check, evidence)
}

/// A shape finding the scenario expects absent is kept only when no cost check on the
/// same query judged the plan cheap.
fn corroborate(judged: Vec<(&dyn Check, Verdict)>) -> Vec<Verdict> {
    let cheap: Vec<String> = judged
        .iter()
        .filter(|(check, verdict)| {
            check.reads() == PlanReading::Counts
                && verdict.judged
                && verdict.passed
                && verdict.expect == Some(Expect::Absent)
        })
        .map(|(check, verdict)| format!("{}: {}", check.name(), verdict.summary))
        .collect();
    let cost_unknown = judged
        .iter()
        .any(|(check, verdict)| check.reads() == PlanReading::Counts && !verdict.judged);
    judged
        .into_iter()
        .map(|(check, mut verdict)| {
            let shape_problem = check.reads() == PlanReading::Shape
                && verdict.judged
                && !verdict.passed
                && verdict.expect == Some(Expect::Absent)
                && !verdict.findings.is_empty();
            match (shape_problem, cheap.is_empty(), cost_unknown) {
                (true, false, _) => {
                    verdict.passed = true;
                    verdict.summary = format!(
                        "the regression's shape without its cost, so not flagged: {}; but {}",
                        verdict.summary,
                        cheap.join("; ")
                    );
                }
                (true, true, true) => {
                    verdict.summary = format!(
                        "{}; its cost is unknown: the cost checks need ANALYZE",
                        verdict.summary
                    );
                }
                _ => {}
            }
            verdict
        })
        .collect()
}
