//! The JSON that CI reads without scraping, documented in `docs/cli-json.md` and
//! locked by tests that parse it with `deny_unknown_fields`:
//! - `plancheck list --format json`: the scenarios, to build a job matrix from
//!   ([`Listing`]);
//! - `plancheck scenario --format json`: the run's summary on stdout ([`Summary`]),
//!   rendered from the reports' documents alone.
//!
//! Both name their format and version; a field that changes meaning or goes away
//! raises the version.

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

use super::document::Report;
use crate::input::Scenario;

/// `format` of `plancheck list --format json`.
pub const LIST_FORMAT: &str = "plancheck.list";
/// `format` of `plancheck scenario --format json`.
pub const SUMMARY_FORMAT: &str = "plancheck.summary";
/// The version of both documents this build writes.
pub const FORMAT_VERSION: u32 = 1;

/// `plancheck list --format json`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Listing {
    /// Always `plancheck.list`.
    pub format: String,
    pub format_version: u32,
    pub scenarios: Vec<ListedScenario>,
}

/// One scenario file of the scenarios directory.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListedScenario {
    /// What `plancheck scenario` and `plancheck rehearse` take: the file stem.
    pub name: String,
    pub description: String,
    /// Whether `cargo bench`, the performance gate, judges it.
    pub gate: bool,
    /// The smallest `--scale` at which it proves anything, if declared.
    pub min_scale: Option<u64>,
    /// Variant axis → its values, in the file's order; empty without a matrix.
    pub variants: IndexMap<String, Vec<serde_json::Value>>,
    /// The scenario file, as found (relative to the working directory when the
    /// scenarios directory is).
    pub file: String,
    /// The command that runs it: `scenario` (it declares queries and checks) or
    /// `rehearse` (it only declares a `[rehearsal]`).
    pub command: String,
    /// Whether it also declares a `[rehearsal]` for `plancheck rehearse`.
    pub rehearsal: bool,
}

impl ListedScenario {
    /// The listing entry of a loaded scenario.
    pub fn of(scenario: &Scenario) -> ListedScenario {
        ListedScenario {
            name: scenario.name.clone(),
            description: scenario.description.trim().to_owned(),
            gate: scenario.gate,
            min_scale: scenario.min_scale,
            variants: scenario
                .variants
                .iter()
                .map(|axis| {
                    (
                        axis.name.clone(),
                        axis.values
                            .iter()
                            .map(crate::value::Value::to_json)
                            .collect(),
                    )
                })
                .collect(),
            file: scenario.path.display().to_string(),
            command: match scenario.queries.is_empty() {
                true => "rehearse",
                false => "scenario",
            }
            .to_owned(),
            rehearsal: scenario.rehearsal.is_some(),
        }
    }
}

/// The JSON of a listing, one document ending in a newline.
pub fn listing(scenarios: Vec<ListedScenario>) -> String {
    pretty(&Listing {
        format: LIST_FORMAT.to_owned(),
        format_version: FORMAT_VERSION,
        scenarios,
    })
}

/// `plancheck scenario --format json`: what the run came to.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Summary {
    /// Always `plancheck.summary`.
    pub format: String,
    pub format_version: u32,
    /// Every scenario ran to its report and every check that judged passed; the exit
    /// code is 0 exactly then.
    pub passed: bool,
    /// The error that ended the run early (the scenarios after it did not run), as
    /// stderr says it; `null` when none did.
    pub error: Option<String>,
    /// The scenarios that ran to their report, in run order.
    pub scenarios: Vec<ScenarioSummary>,
}

/// One scenario's run.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioSummary {
    pub scenario: String,
    /// The scenario file, as the report records it.
    pub file: String,
    pub passed: bool,
    /// The report directory (`report.json`, `report.md`, `report.html`).
    pub report_dir: String,
    /// The PostgreSQL version label of a run over several versions; `null` otherwise.
    pub pg: Option<String>,
    /// `SELECT version()`.
    pub server_version: String,
    /// `local`, `docker` or `url`.
    pub backend: String,
    pub seed: u64,
    /// Rows of `scale_table`.
    pub scale: u64,
    pub scale_table: String,
    /// Wall-clock milliseconds of the run's phases.
    pub duration_ms: f64,
    pub variants: Vec<VariantSummary>,
}

/// One variant (the only one without a variant matrix).
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VariantSummary {
    /// Axis → value; empty without a matrix.
    pub variant: serde_json::Map<String, serde_json::Value>,
    pub passed: bool,
    pub queries: Vec<QuerySummary>,
    pub checks: Vec<CheckSummary>,
}

/// What one query measured.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuerySummary {
    pub name: String,
    /// `analyzed` or `estimated`.
    pub plan: String,
    /// The scan nodes of the plan, outermost first.
    pub access_path: Vec<String>,
    /// `null` for an estimated plan.
    pub rows_examined: Option<f64>,
    pub rows_returned: f64,
    /// EXPLAIN ANALYZE's execution time; `null` for an estimated plan.
    pub execution_ms: Option<f64>,
    /// Median of the timed runs; `null` when the query was never timed.
    pub median_ms: Option<f64>,
    pub runs: usize,
}

/// One check's verdict.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckSummary {
    pub check: String,
    /// The query judged, or `candidate vs baseline`.
    pub subject: String,
    /// `pass`, `fail`, or `not-judged` (a check that could not judge in this run; it
    /// fails nothing).
    pub verdict: String,
    /// One sentence: what was found and what was required.
    pub summary: String,
}

/// One scenario's report among the run's, where it was written, and the version
/// label of a run over several PostgreSQL versions.
pub struct Ran<'a> {
    pub report: &'a Report,
    pub dir: String,
    pub pg: Option<&'a str>,
}

/// The summary of a run: `ran` in run order, and the error that ended it early.
pub fn summary(ran: &[Ran], error: Option<String>) -> String {
    pretty(&Summary {
        format: SUMMARY_FORMAT.to_owned(),
        format_version: FORMAT_VERSION,
        passed: error.is_none() && ran.iter().all(|entry| entry.report.passed),
        error,
        scenarios: ran.iter().map(scenario_summary).collect(),
    })
}

fn scenario_summary(ran: &Ran) -> ScenarioSummary {
    let report = ran.report;
    ScenarioSummary {
        scenario: report.scenario.clone(),
        file: report.dataset.scenario_file.clone(),
        passed: report.passed,
        report_dir: ran.dir.clone(),
        pg: ran.pg.map(str::to_owned),
        server_version: report.server.version.clone(),
        backend: report.server.backend.clone(),
        seed: report.seed,
        scale: report.scale,
        scale_table: report.scale_table.clone(),
        duration_ms: report.phases_ms.iter().map(|phase| phase.ms).sum(),
        variants: report
            .variants
            .iter()
            .map(|variant| VariantSummary {
                variant: variant.variant.clone(),
                passed: variant.passed,
                queries: variant
                    .queries
                    .iter()
                    .map(|query| QuerySummary {
                        name: query.name.clone(),
                        plan: query.plan.clone(),
                        access_path: query.access_path.clone(),
                        rows_examined: query.rows_examined,
                        rows_returned: query.rows_returned,
                        execution_ms: query.execution_ms,
                        median_ms: query.median_ms,
                        runs: query.samples_ms.len(),
                    })
                    .collect(),
                checks: variant
                    .checks
                    .iter()
                    .map(|check| CheckSummary {
                        check: check.check.clone(),
                        subject: check.subject.clone(),
                        verdict: match (check.judged, check.passed) {
                            (false, _) => "not-judged",
                            (true, true) => "pass",
                            (true, false) => "fail",
                        }
                        .to_owned(),
                        summary: check.summary.clone(),
                    })
                    .collect(),
            })
            .collect(),
    }
}

fn pretty(value: &impl Serialize) -> String {
    let mut text = serde_json::to_string_pretty(value).expect("summaries hold JSON-safe values");
    text.push('\n');
    text
}
