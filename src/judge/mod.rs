//! Stage 7: judge. Each check is a small named unit in its own file implementing
//! [`Check`]; [`REGISTRY`] below is the one place that names them (kebab-case, as
//! scenario files write them). Checks read plans, catalog facts, timings and result
//! digests only: they never open a connection, so they can judge stored plans and
//! plans brought from production.
//!
//! Adding a check: write `judge/<name>.rs` with a config struct implementing `Check`,
//! then add one line to `REGISTRY`.

pub mod baseline;
pub mod flip_search;
pub mod growth;
pub mod no_node;
pub mod no_slowdown;
pub mod ordered_walk;
pub mod row_amplification;
pub mod rows_examined;
pub mod same_results;
pub mod saved;
pub mod shared_buffers;
pub mod speedup;
pub mod stable;
pub mod time_budget;

use serde::de::DeserializeOwned;

use crate::outcome::stability::Stability;
use crate::outcome::sweep::Sweep;
use crate::outcome::{Evidence, Expect, Finding, QueryEvidence, Verdict};

/// A named check with its configuration from a scenario's `[[check]]`.
pub trait Check: std::fmt::Debug + Send + Sync {
    /// The kebab-case name scenario files use.
    fn name(&self) -> &'static str;
    /// The queries this check reads.
    fn queries(&self) -> Vec<&str>;
    /// Checks the configuration; the message says what would be accepted.
    fn validate(&self) -> Result<(), String> {
        Ok(())
    }
    /// Tables (and columns) the check names, as `(table, column)`: checked against the
    /// catalog before anything is seeded, since a misspelt name in a check that
    /// expects something absent would pass every plan.
    fn relations(&self) -> Vec<(&str, Option<&str>)> {
        Vec::new()
    }
    /// Result columns the check reads, as `(query, column)`: checked against the
    /// prepared queries before anything is seeded.
    fn result_columns(&self) -> Vec<(&str, &str)> {
        Vec::new()
    }
    /// The queries this check expects to be slow: a speedup's baseline, the query of
    /// a plan check that expects its problem `present`. For them, running past the
    /// time budget is the regression showing, not a failure.
    fn regressing_queries(&self) -> Vec<&str> {
        Vec::new()
    }
    /// The ratio of its two queries' medians this check's verdict turns on, if it
    /// compares timings: the timing loop stops sampling a query that is slower than
    /// the other by more than this ratio in every run (for every such check reading
    /// it), since more runs cannot change the verdict.
    fn timing_factor(&self) -> Option<f64> {
        None
    }
    /// The query a comparison measures its candidate against. A plan check that
    /// expects a problem in a baseline is the scenario's proof that the regression
    /// reproduces; in any other query it is a problem found or not found.
    fn baseline(&self) -> Option<&str> {
        None
    }

    /// The queries whose growth over a scale sweep this check reads: each must be
    /// one the sweep fits (the scenario's `[sweep] queries`).
    fn sweep_queries(&self) -> Vec<&str> {
        Vec::new()
    }
    /// What the check reads beyond one run, if anything, and the flag of `plancheck
    /// scenario` that gives it: `("a scale sweep", "--sweep")`. One saved plan never
    /// has it, so `plancheck judge` says which run would judge the check.
    fn reads_beyond_one_run(&self) -> Option<(&'static str, &'static str)> {
        None
    }
    /// What of a plan the check reads: its shape (a node, a walk), which an
    /// estimated plan (plain EXPLAIN: a stability round, a plan saved without ANALYZE)
    /// shows as well as an analysed one; its counts (rows, buffers), its cost, which
    /// only a plan that ran has; or no plan at all (comparisons, growth).
    fn reads(&self) -> PlanReading {
        PlanReading::Nothing
    }
    /// Judges one variant's evidence.
    fn judge(&self, evidence: &Evidence) -> Verdict;
    /// Judges one variant over a scale sweep, for a check that reads the sweep rather
    /// than one scale's evidence; `None` (the default) for a check of one scale, which
    /// a sweep judges at its largest scale with [`Check::judge`].
    fn judge_sweep(&self, _sweep: &Sweep, _variant: &[(String, String)]) -> Option<Verdict> {
        None
    }
    /// Judges one variant over the plans of repeated `ANALYZE` rounds
    /// (`--stability N`), for a check that reads them; `None` (the default) for the
    /// others, which judge the run's own evidence.
    fn judge_stability(
        &self,
        _stability: &Stability,
        _variant: &[(String, String)],
    ) -> Option<Verdict> {
        None
    }
}

/// What of a plan a check reads (see [`Check::reads`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlanReading {
    /// No plan: timings, results, a sweep's fits.
    Nothing,
    /// The plan's shape: which nodes, which index, which direction.
    Shape,
    /// What the plan counted when it ran: rows, buffers.
    Counts,
}

type Parse = fn(toml::Value) -> Result<Box<dyn Check>, String>;

/// Every check, by the name scenario files give it.
pub const REGISTRY: &[(&str, Parse)] = &[
    ("ordered-walk", parse::<ordered_walk::OrderedWalk>),
    (
        "row-amplification",
        parse::<row_amplification::RowAmplification>,
    ),
    ("rows-examined", parse::<rows_examined::RowsExamined>),
    ("no-node", parse::<no_node::NoNode>),
    ("shared-buffers", parse::<shared_buffers::SharedBuffers>),
    ("speedup", parse::<speedup::Speedup>),
    ("no-slowdown", parse::<no_slowdown::NoSlowdown>),
    ("same-results", parse::<same_results::SameResults>),
    ("growth", parse::<growth::Growth>),
    ("stable", parse::<stable::Stable>),
];

fn parse<T: Check + DeserializeOwned + 'static>(
    value: toml::Value,
) -> Result<Box<dyn Check>, String> {
    let check =
        T::deserialize(value).map_err(|error| crate::format::serde_words(&error.to_string()))?;
    check.validate()?;
    Ok(Box::new(check))
}

/// Parses a `[[check]]` table without its `check` and `only` keys into the named
/// check.
pub fn parse_check(name: &str, table: toml::Table) -> Result<Box<dyn Check>, String> {
    let (_, parse) = REGISTRY
        .iter()
        .find(|(known, _)| *known == name)
        .ok_or_else(|| {
            let known: Vec<&str> = REGISTRY.iter().map(|(known, _)| *known).collect();
            format!("unknown check {name:?}; known checks: {}", known.join(", "))
        })?;
    parse(toml::Value::Table(table))
}

/// Every verdict a cell gets from `checks`: first whether each query kept to the time
/// budget, then each check's own.
pub fn verdicts(checks: &[&dyn Check], evidence: &Evidence) -> Vec<Verdict> {
    verdicts_over_sweep(checks, evidence, None)
}

/// [`verdicts`] of the largest scale of a sweep, when `sweep` gives the sweep and the
/// cell's variant: the checks that read a sweep ([`Check::judge_sweep`]) judge it,
/// the others `evidence`.
pub fn verdicts_over_sweep(
    checks: &[&dyn Check],
    evidence: &Evidence,
    sweep: Option<(&Sweep, &[(String, String)])>,
) -> Vec<Verdict> {
    let mut verdicts = time_budget::verdicts(checks, evidence);
    verdicts.extend(checks.iter().map(|check| {
        let over_sweep = sweep.and_then(|(sweep, variant)| check.judge_sweep(sweep, variant));
        match over_sweep {
            Some(mut verdict) => {
                verdict.queries = check.queries().into_iter().map(str::to_owned).collect();
                verdict
            }
            None => evaluate(*check, evidence),
        }
    }));
    verdicts
}

/// [`verdicts`] of a run with `--stability N`: the checks that read the stability
/// rounds ([`Check::judge_stability`]) judge `stability` in `variant`, the others
/// `evidence`.
pub fn verdicts_over_stability(
    checks: &[&dyn Check],
    evidence: &Evidence,
    stability: &Stability,
    variant: &[(String, String)],
) -> Vec<Verdict> {
    let mut verdicts = time_budget::verdicts(checks, evidence);
    verdicts.extend(
        checks
            .iter()
            .map(|check| match check.judge_stability(stability, variant) {
                Some(mut verdict) => {
                    verdict.queries = check.queries().into_iter().map(str::to_owned).collect();
                    verdict
                }
                None => evaluate(*check, evidence),
            }),
    );
    verdicts
}

/// Judges `evidence` with `check`. A query the evidence lacks yields a failed verdict
/// rather than a panic, so that judging a stored run with missing parts still reports.
pub fn evaluate(check: &dyn Check, evidence: &Evidence) -> Verdict {
    let missing = check
        .queries()
        .into_iter()
        .find(|name| evidence.query(name).is_none());
    let mut verdict = match missing {
        Some(name) => Verdict::new(
            check.name(),
            check.queries().join(" vs "),
            false,
            format!("no plan or timing was captured for query {name:?}"),
        ),
        None => check.judge(evidence),
    };
    verdict.queries = check.queries().into_iter().map(str::to_owned).collect();
    verdict
}

/// The evidence of a query the check names; `evaluate` has made sure it exists.
pub(crate) fn query<'a>(evidence: &'a Evidence, name: &str) -> &'a QueryEvidence {
    evidence
        .query(name)
        .expect("evaluate checks that every named query has evidence")
}

/// Turns a plan check's findings into a verdict against the scenario's expectation.
/// `found` is an error when the check could not judge (for instance, a plan names an
/// index the catalog does not know), which always fails. A regression that is not
/// reproduced says which plan the query got instead. `baseline` says whether the
/// query is one the scenario's comparisons measure against: only there is an expected
/// problem the proof that the regression reproduces.
pub(crate) fn expectation_verdict(
    check: &'static str,
    query: &QueryEvidence,
    baseline: bool,
    expect: Expect,
    found: Result<Vec<Finding>, String>,
    problem: &str,
) -> Verdict {
    let name = &query.name;
    let judged = found.is_ok();
    let (reproduced, not_reproduced) = if baseline {
        ("regression reproduced", "regression not reproduced")
    } else {
        ("problem found", "problem not found")
    };
    let consequence = if baseline {
        ", so this scenario proves nothing"
    } else {
        ""
    };
    let (passed, summary, findings) = match (expect, found) {
        (_, Err(reason)) => (false, format!("cannot judge {name}: {reason}"), vec![]),
        (Expect::Present, Ok(findings)) if findings.is_empty() => (
            false,
            format!(
                "{not_reproduced}: the {name} plan shows no {problem}{consequence}; {}",
                reads_through(&query.plan)
            ),
            findings,
        ),
        (Expect::Present, Ok(findings)) => (
            true,
            format!("{reproduced}: the {name} plan shows {problem}"),
            findings,
        ),
        (Expect::Absent, Ok(findings)) if findings.is_empty() => (
            true,
            format!("the {name} plan shows no {problem}"),
            findings,
        ),
        (Expect::Absent, Ok(findings)) => {
            (false, format!("the {name} plan shows {problem}"), findings)
        }
    };
    let summary = match (estimated_because(query), query.plan.analyzed) {
        // A check that could not judge has said why already.
        _ if !judged => summary,
        (Some(why), false) => format!("{summary} (judged on its estimated plan: {why})"),
        (None, false) => format!("{summary} (judged on an estimated plan, which did not run)"),
        (_, true) => summary,
    };
    Verdict {
        check,
        subject: name.clone(),
        passed,
        queries: vec![],
        summary,
        findings,
        expect: Some(expect),
        judged: true,
    }
}

/// Why a query measured here has an estimated plan: a plain run past the time budget
/// (`old timed out after 60 s`), or an EXPLAIN ANALYZE past its allowance. `None` for
/// a plan that ran, or one brought without ANALYZE.
fn estimated_because(query: &QueryEvidence) -> Option<String> {
    match (&query.timed_out, &query.analyze_cancelled) {
        (Some(timed_out), _) => Some(format!("{} {}", query.name, timed_out.verdict())),
        (None, Some(cancelled)) => Some(format!("{}: {}", query.name, cancelled.reason())),
        (None, None) => None,
    }
}

/// Refuses an estimated plan (plain EXPLAIN: the query or its EXPLAIN ANALYZE ran past
/// its limit, or the plan was brought without ANALYZE) to a check that reads what a
/// plan did. Its actual counts read as zero, and a budget judged on zeros would pass
/// for lack of data.
pub(crate) fn needs_analyzed(query: &QueryEvidence, counted: &str) -> Result<(), String> {
    if query.plan.analyzed {
        return Ok(());
    }
    let why = match (&query.timed_out, estimated_because(query)) {
        (Some(_), Some(why)) => format!(
            "{why} before its plan could run to completion; raise the time budget to count them"
        ),
        (None, Some(why)) => format!("{why}; raise the time budget to count them"),
        (_, None) => "it was captured without ANALYZE".to_owned(),
    };
    Err(format!(
        "its plan is estimated, and {counted} are counted only when a plan runs: {why}"
    ))
}

/// The least a query's typical run took, in milliseconds: its median; or, when a
/// plain run was cancelled at the time budget, the budget, lowered to the fastest run
/// seen to finish (the warm-up, a timing run), as a bound must never claim more than
/// was observed.
pub(crate) fn lower_bound_ms(query: &QueryEvidence) -> f64 {
    match &query.timed_out {
        None => query.timing.median_ms(),
        Some(timed_out) => query
            .timing
            .samples_ms
            .iter()
            .copied()
            .chain(query.warm_up_ms)
            .fold(timed_out.budget.as_secs_f64() * 1000.0, f64::min),
    }
}

/// `1 run`, `3 runs`.
fn runs(count: usize) -> String {
    if count == 1 {
        "1 run".to_owned()
    } else {
        format!("{count} runs")
    }
}

/// What two compared queries' timings mean together: a note when they were not
/// timed side by side (one before, one after the scenario's migration).
pub(crate) fn timing_note(baseline: &QueryEvidence, candidate: &QueryEvidence) -> String {
    let (baseline_runs, candidate_runs) = (
        baseline.timing.samples_ms.len(),
        candidate.timing.samples_ms.len(),
    );
    if baseline.state == candidate.state && baseline_runs == candidate_runs {
        format!("{baseline_runs} interleaved runs each")
    } else if baseline.state == candidate.state {
        format!(
            "interleaved: {} of {}, {candidate_runs} of {}",
            runs(baseline_runs),
            baseline.name,
            candidate.name
        )
    } else {
        format!(
            "not interleaved: {} ran {} the migration, {} {}; {} and {} runs",
            baseline.name,
            baseline.state.word(),
            candidate.name,
            candidate.state.word(),
            baseline.timing.samples_ms.len(),
            candidate.timing.samples_ms.len()
        )
    }
}

/// A comparison needs two different queries.
pub(crate) fn distinct(baseline: &str, candidate: &str) -> Result<(), String> {
    if baseline == candidate {
        return Err(format!(
            "baseline and candidate are both {baseline:?}; compare two different queries"
        ));
    }
    Ok(())
}

/// Evidence built from plans captured in real runs (`tests/data/plans`), shared by
/// the checks' tests.
/// How `plan` reads its rows, for a verdict that found nothing: its scans, or that it
/// reads no table.
fn reads_through(plan: &crate::plan::Plan) -> String {
    let scans = plan.access_path();
    match scans.is_empty() {
        true => "it reads no table".into(),
        false => format!("it reads its rows through {}", scans.join("; ")),
    }
}

#[cfg(test)]
pub(crate) mod stored {
    use crate::outcome::{
        AnalyzeCancelled, Evidence, QueryEvidence, SamplingStop, SchemaState, TimedOut, Timing,
    };
    use crate::plan::{Catalog, Plan};

    fn read(file: &str) -> String {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/plans")
            .join(file);
        std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
    }

    /// The stored plan `file` as query `name`'s evidence, with the given timings.
    pub fn query(name: &str, file: &str, samples_ms: &[f64]) -> QueryEvidence {
        let raw_explain = read(file);
        QueryEvidence {
            name: name.to_owned(),
            file: format!("{name}.sql"),
            sql: String::new(),
            state: SchemaState::Before,
            params: vec![],
            plan: Plan::from_explain_text(&raw_explain).expect("stored plans parse"),
            raw_explain,
            timing: Timing {
                samples_ms: samples_ms.to_vec(),
                stopped: SamplingStop::MaxRounds,
            },
            results: Some(crate::outcome::ResultDigest::from_rows(vec![], vec![])),
            warm_up_ms: None,
            timed_out: None,
            analyze_cancelled: None,
            executions: 0,
        }
    }

    /// The stored estimated plan `file` as the evidence of query `name` that ran past
    /// a time budget of `budget_s` seconds in its warm-up: no timings, no results.
    pub fn timed_out(name: &str, file: &str, budget_s: u64) -> QueryEvidence {
        let mut query = query(name, file, &[]);
        assert!(!query.plan.analyzed, "{file} is an estimated plan");
        query.timing.stopped = SamplingStop::TimedOut;
        query.results = None;
        query.timed_out = Some(TimedOut {
            budget: std::time::Duration::from_secs(budget_s),
            during: "warm-up",
        });
        query
    }

    /// The stored estimated plan `file` as the evidence of query `name` whose plain
    /// runs took `samples_ms` (within a 1 s budget) but whose EXPLAIN ANALYZE did not
    /// finish within 3 s.
    pub fn analyze_cancelled(name: &str, file: &str, samples_ms: &[f64]) -> QueryEvidence {
        let mut query = query(name, file, samples_ms);
        assert!(!query.plan.analyzed, "{file} is an estimated plan");
        query.analyze_cancelled = Some(AnalyzeCancelled {
            limit: std::time::Duration::from_secs(3),
        });
        query
    }

    /// The stored catalog facts `file`.
    pub fn catalog(file: &str) -> Catalog {
        serde_json::from_str(&read(file)).expect("stored catalogs parse")
    }

    /// Evidence of the given queries on `catalog`.
    pub fn evidence(queries: Vec<QueryEvidence>, catalog: Catalog) -> Evidence {
        Evidence {
            queries,
            catalog_before: catalog,
            catalog_after: None,
            baselines: vec!["old".to_owned()],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The registry names each check once, and that name is the check's own: a
    /// minimal configuration of every registered check parses into a check that
    /// calls itself by the registry's name. A new check without a sample here fails.
    #[test]
    fn a_plan_that_scans_no_table_is_said_to_read_none() {
        let plan = crate::plan::Plan::from_explain_text(
            r#"[{"Plan": {"Node Type": "Result", "Actual Rows": 1, "Actual Loops": 1}}]"#,
        )
        .unwrap();
        assert_eq!(super::reads_through(&plan), "it reads no table");
    }

    #[test]
    fn every_registered_check_is_called_by_its_registry_name() {
        let samples: &[(&str, &str)] = &[
            ("ordered-walk", "query = \"q\"\ncolumn = \"t.c\""),
            ("row-amplification", "query = \"q\"\nmax_ratio = 10"),
            ("rows-examined", "query = \"q\"\nmax_rows = 10"),
            ("no-node", "query = \"q\"\nnode_type = \"Seq Scan\""),
            ("shared-buffers", "query = \"q\"\nmax_buffers = 10"),
            (
                "speedup",
                "baseline = \"a\"\ncandidate = \"b\"\nat_least = 2",
            ),
            (
                "no-slowdown",
                "baseline = \"a\"\ncandidate = \"b\"\nmax_ratio = 1.2",
            ),
            ("same-results", "baseline = \"a\"\ncandidate = \"b\""),
            (
                "growth",
                "query = \"q\"\nmeasure = \"rows-examined\"\nmax_slope = 0.5",
            ),
            ("stable", "query = \"q\""),
        ];
        let registered: Vec<&str> = REGISTRY.iter().map(|(name, _)| *name).collect();
        let sampled: Vec<&str> = samples.iter().map(|(name, _)| *name).collect();
        assert_eq!(
            registered, sampled,
            "add a sample for every registered check"
        );
        for (name, sample) in samples {
            let check = parse_check(name, toml::from_str(sample).unwrap())
                .unwrap_or_else(|message| panic!("{name}: {message}"));
            assert_eq!(check.name(), *name);
        }
    }

    #[test]
    fn check_entries_are_parsed_strictly() {
        let table = |text: &str| toml::from_str::<toml::Table>(text).unwrap();
        let walk = parse_check(
            "ordered-walk",
            table("query = \"old\"\ncolumn = \"t.c\"\nexpect = \"present\""),
        );
        assert_eq!(walk.unwrap().name(), "ordered-walk");
        let message = parse_check(
            "ordered-walk",
            table("query = \"old\"\ncolumn = \"t.c\"\ncolum = \"x\""),
        )
        .unwrap_err();
        assert!(message.contains("colum"), "{message}");
        let message = parse_check("ordered-stroll", table("query = \"old\"")).unwrap_err();
        assert!(
            message.contains("ordered-stroll") && message.contains("ordered-walk"),
            "{message}"
        );
    }

    /// On an estimated plan (the old query ran past the time budget), the checks that
    /// read the plan's shape judge it and say so; the checks that count what it did
    /// cannot, and fail rather than pass on its zeros.
    #[test]
    fn an_estimated_plan_is_judged_by_shape_and_never_passes_on_missing_counts() {
        let timed_out = stored::timed_out("old", "desc-index-forward-walk.estimated.json", 1);
        let new = stored::query("new", "org-index.explain.json", &[1.0]);
        let evidence = stored::evidence(
            vec![timed_out, new],
            stored::catalog("desc-index.catalog.json"),
        );
        let table = |text: &str| toml::from_str::<toml::Table>(text).unwrap();
        let judge = |name: &str, config: &str| {
            evaluate(
                parse_check(name, table(config)).unwrap().as_ref(),
                &evidence,
            )
        };
        let walk = judge(
            "ordered-walk",
            "query = \"old\"\ncolumn = \"workflow_runs.created_at\"\nexpect = \"present\"",
        );
        assert!(walk.passed, "{}", walk.summary);
        assert!(
            walk.summary
                .contains("judged on its estimated plan: old timed out after 1 s"),
            "{}",
            walk.summary
        );
        assert!(
            walk.findings[0].message.contains("estimated plan"),
            "{}",
            walk.findings[0].message
        );
        for (name, config) in [
            ("row-amplification", "query = \"old\"\nmax_ratio = 10.0"),
            (
                "row-amplification",
                "query = \"old\"\nmax_ratio = 10.0\nexpect = \"present\"",
            ),
            ("rows-examined", "query = \"old\"\nmax_rows = 1000.0"),
            ("shared-buffers", "query = \"old\"\nmax_buffers = 100"),
            ("same-results", "baseline = \"old\"\ncandidate = \"new\""),
        ] {
            let verdict = judge(name, config);
            assert!(!verdict.passed, "{name}: {}", verdict.summary);
            assert!(
                verdict.summary.contains("old timed out after 1 s")
                    && verdict.summary.contains("raise the time budget"),
                "{name}: {}",
                verdict.summary
            );
        }
    }

    /// A query whose EXPLAIN ANALYZE alone ran past its limit is not "timed out": the
    /// checks that count say why they cannot judge it.
    #[test]
    fn an_explain_analyze_past_its_limit_is_named_as_such() {
        let old =
            stored::analyze_cancelled("old", "desc-index-forward-walk.estimated.json", &[1960.0]);
        let evidence = stored::evidence(vec![old], stored::catalog("desc-index.catalog.json"));
        let table = |text: &str| toml::from_str::<toml::Table>(text).unwrap();
        let check = parse_check("rows-examined", table("query = \"old\"\nmax_rows = 1000.0"));
        let verdict = evaluate(check.unwrap().as_ref(), &evidence);
        assert!(!verdict.passed);
        assert!(
            verdict.summary.contains(
                "old: EXPLAIN ANALYZE did not finish within 3 s (even with TIMING OFF), though the query itself finished"
            ) && !verdict.summary.contains("timed out"),
            "{}",
            verdict.summary
        );
    }

    #[test]
    fn plans_tell_whether_they_ran() {
        assert!(
            stored::query("old", "org-index.explain.json", &[])
                .plan
                .analyzed
        );
        assert!(
            !stored::timed_out("old", "org-index.estimated.json", 1)
                .plan
                .analyzed
        );
    }

    #[test]
    fn every_registered_name_is_unique_and_kebab_case() {
        let names: Vec<&str> = REGISTRY.iter().map(|(name, _)| *name).collect();
        let unique: std::collections::HashSet<&&str> = names.iter().collect();
        assert_eq!(unique.len(), names.len());
        assert!(
            names
                .iter()
                .all(|name| name.chars().all(|c| c.is_ascii_lowercase() || c == '-'))
        );
    }
}
