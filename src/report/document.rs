//! The report document: what a run found, as every exporter reads it. `report.json`
//! is this document serialized, so Markdown, HTML and the terminal summary can be
//! rendered again from `report.json` alone (`plancheck report`). A documented,
//! versioned format: `docs/report-format.md`, and the JSON Schema in
//! `docs/report.schema.json`, generated from these structs and checked current by a
//! test. Raise [`FORMAT_VERSION`] when a field changes meaning or goes away.

use std::path::Path;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::outcome::Expect;
use crate::outcome::stability::Stability;
use crate::outcome::sweep::Sweep;
use crate::outcome::{Cell, EstimateMethod, Outcome, QueryEvidence, SamplingStop};
use crate::plan::Catalog;

/// What every report names its format: `format` is this, `format_version` the number.
pub const FORMAT: &str = "plancheck.report";

/// The version of the document this build writes, and the newest it reads.
pub const FORMAT_VERSION: u32 = 6;

/// The file every report directory holds the document in.
pub const FILE: &str = "report.json";

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Report {
    /// Always `plancheck.report`.
    pub format: String,
    /// The document's version: a reader refuses a newer one.
    pub format_version: u32,
    pub scenario: String,
    pub description: String,
    pub passed: bool,
    pub seed: u64,
    /// Rows of the scale table.
    pub scale: u64,
    pub scale_table: String,
    /// How long one run of a measured query could take before the server cancelled it.
    pub time_budget_ms: u64,
    pub dataset: DatasetFacts,
    pub server: ServerFacts,
    pub host: HostFacts,
    /// Wall-clock time of each phase, in run order.
    pub phases_ms: Vec<PhaseTime>,
    /// One entry per variant (one without a variant matrix).
    pub variants: Vec<VariantReport>,
    /// The index facts the checks read, before the scenario's migration.
    pub catalog: Catalog,
    /// The index facts after the migration, when the scenario has one.
    pub catalog_after: Option<Catalog>,
    /// The scale sweep, for a run at several scales (`--scales`, `--sweep`): what
    /// each query did at each scale, the growth fitted to it, and the flip search.
    /// The rest of the document is the largest scale's run. `null` at one scale.
    pub sweep: Option<Sweep>,
    /// The plans each query took over repeated `ANALYZE` rounds (`--stability N`),
    /// after the run's own capture. `null` without `--stability`.
    pub stability: Option<Stability>,
    /// A workload checked against its committed baselines (`plancheck workload
    /// check`): per query and parameter set, what the regression rules found, each
    /// scale's record beside the baseline's with the plans' node-level diff, and the
    /// stale baselines. The variants then hold the largest scale's run, one verdict
    /// per query and set. Absent for a scenario.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload: Option<crate::outcome::workload::WorkloadCheck>,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DatasetFacts {
    pub scenario_file: String,
    pub dataset_file: String,
    /// The instant the data was generated as of.
    pub as_of: String,
    pub tables: Vec<TableReport>,
    /// The disk guard's estimate before seeding; null when no guard ran.
    pub size_check: Option<SizeCheckReport>,
    /// What the seeded-data cache did: `status` (`hit`: the data came from the cache
    /// and nothing was seeded; `stored`; `not-stored`; `off`), the entry's `key`, and a
    /// `note` saying why it was not stored or not used. Absent in reports written
    /// before the cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache: Option<crate::outcome::DataCache>,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SizeCheckReport {
    /// The seeded tables and indexes as estimated before seeding: compare with the
    /// sum of the tables' `table_bytes` and `index_bytes`.
    pub estimated_bytes: u64,
    /// How it was estimated: `upper-bound` (a generous bound from rows generated in
    /// memory, taken when it used under a quarter of the free room; built never to
    /// fall below the seeded size, about 2.5 times it on the test datasets) or
    /// `sample` (a sample seeded and measured, within 15%).
    pub method: EstimateMethod,
    /// Room seeding was expected to need at its peak (index sorts, a margin).
    pub required_bytes: u64,
    /// Free room on the server's storage before seeding; null when not measurable
    /// (`url` backend).
    pub available_bytes: Option<u64>,
    /// Where the free room was measured.
    pub checked_against: String,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TableReport {
    pub name: String,
    pub rows: u64,
    pub table_bytes: i64,
    pub index_bytes: i64,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServerFacts {
    /// `docker`, `local` or `url`.
    pub backend: String,
    /// Image, binary directory or host.
    pub backend_detail: String,
    pub backend_note: Option<String>,
    /// What plancheck could not set up or check as it wanted (a setting the role may
    /// not pin, free space it could not see).
    pub notes: Vec<String>,
    pub version: String,
    /// Every setting not at its built-in default.
    pub settings: Vec<SettingReport>,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingReport {
    pub name: String,
    pub value: String,
    /// Where the value comes from: `database`, `command line`, `configuration file`, …
    pub source: String,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HostFacts {
    pub cores: usize,
    pub memory_mib: u64,
    pub cpu: String,
    pub os: String,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PhaseTime {
    pub phase: String,
    pub ms: f64,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VariantReport {
    /// Variant axis → value; empty without a variant matrix.
    pub variant: serde_json::Map<String, serde_json::Value>,
    pub passed: bool,
    /// The generated row `target.*` parameters were bound to, if the scenario names one.
    pub target: Option<TargetReport>,
    /// The row each `[[pick]]` returned (column → value as text), in declaration order.
    pub picks: Vec<PickReport>,
    pub queries: Vec<QueryReport>,
    pub checks: Vec<CheckReport>,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PickReport {
    pub name: String,
    pub columns: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TargetReport {
    pub table: String,
    pub group: Option<String>,
    pub index: u64,
    /// Rows of the target's table in its group.
    pub group_rows: u64,
    /// The target row's generated columns as text.
    pub columns: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct QueryReport {
    pub name: String,
    pub file: String,
    /// The statement as it ran, with `$1`-style parameters (bound to `params`).
    /// Absent from reports written before it was added, hence the default.
    #[serde(default)]
    pub sql: String,
    /// `before` or `after` the scenario's migration.
    pub schema_state: String,
    /// The bound parameter values as text.
    pub params: Vec<String>,
    /// `pass` when every check reading this query passed, else `fail`.
    pub verdict: String,
    /// The step during which a plain run of the query exceeded the time budget
    /// (`warm-up`, `timing`); `null` when none did.
    pub timed_out_during: Option<String>,
    /// The limit, in milliseconds, of an EXPLAIN ANALYZE that did not finish although
    /// the plain query did within the time budget (instrumentation overhead): the plan
    /// is then `estimated` but the query is timed; `null` otherwise.
    pub analyze_cancelled_after_ms: Option<u64>,
    /// How long the first plain run (reading the results, after EXPLAIN ANALYZE
    /// warmed the cache) took; `null` when it ran past the time budget. It is also the
    /// first of `samples_ms` unless EXPLAIN ANALYZE ran past the budget before it.
    pub warm_up_ms: Option<f64>,
    /// How many times the server ran the query: EXPLAIN ANALYZE (each attempt), the
    /// plain run reading the results and the timing runs; plain EXPLAIN is not
    /// counted. `null` in reports written before it was counted, and 0 for plans
    /// judged offline.
    #[serde(default)]
    pub executions: Option<u32>,
    /// `analyzed` (EXPLAIN ANALYZE ran it), or `estimated` (plain EXPLAIN, when the
    /// query ran past the time budget first, or its EXPLAIN ANALYZE past its limit):
    /// the figures below that only a run can count are then `null`.
    pub plan: String,
    /// Server-side execution time under EXPLAIN ANALYZE.
    pub execution_ms: Option<f64>,
    pub planning_ms: Option<f64>,
    /// Median of the client-side timing loop; `null` when the query was never timed.
    pub median_ms: Option<f64>,
    pub samples_ms: Vec<f64>,
    /// Why the timing loop stopped sampling this query.
    pub sampling_stopped: SamplingStop,
    pub rows_examined: Option<f64>,
    /// Rows the plan returned; for an estimated plan, the planner's estimate.
    pub rows_returned: f64,
    pub shared_hit_blocks: Option<u64>,
    pub shared_read_blocks: Option<u64>,
    /// The scan nodes of the plan, outermost first.
    pub access_path: Vec<String>,
    /// Rows the plain query returned; `null` when it ran past the time budget first.
    pub result_rows: Option<u64>,
    /// The EXPLAIN document exactly as the server printed it (the input of PEV2 and
    /// explain.dalibo.com); also saved beside this report as `plan_file`.
    pub explain: String,
    /// The file beside this report holding `explain`.
    pub plan_file: String,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckReport {
    pub check: String,
    pub subject: String,
    /// What the check expected (`present`: its problem, or for `growth` a growth past
    /// `max_slope`, must
    /// show; `absent`: it must not); `null` for the comparisons, which take none.
    pub expect: Option<Expect>,
    /// The queries the check read.
    pub queries: Vec<String>,
    /// `false` when the check could not judge in this run (a growth check at one
    /// scale): it does not fail the run, and `passed` is then no pass.
    pub judged: bool,
    pub passed: bool,
    pub summary: String,
    pub findings: Vec<FindingReport>,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FindingReport {
    pub query: String,
    /// The node's position: `root/0/1`.
    pub node: String,
    pub node_label: String,
    pub message: String,
}

/// The file name of a query's raw plan in a cell.
pub fn plan_file_name(cell: &Cell, query: &str) -> String {
    match cell.slug() {
        slug if slug.is_empty() => format!("{query}.explain.json"),
        slug => format!("{query}.{slug}.explain.json"),
    }
}

/// The document of `outcome`.
pub fn report(outcome: &Outcome) -> Report {
    let environment = &outcome.environment;
    Report {
        format: FORMAT.to_owned(),
        format_version: FORMAT_VERSION,
        scenario: outcome.scenario.clone(),
        description: outcome.description.clone(),
        passed: outcome.passed(),
        seed: outcome.seeded.seed,
        scale: outcome.seeded.scale,
        scale_table: outcome.seeded.scale_table.clone(),
        time_budget_ms: outcome.time_budget.as_millis() as u64,
        dataset: DatasetFacts {
            scenario_file: outcome.scenario_file.clone(),
            dataset_file: outcome.dataset_file.clone(),
            as_of: outcome.seeded.as_of.to_rfc3339(),
            tables: outcome
                .seeded
                .tables
                .iter()
                .map(|table| TableReport {
                    name: table.name.clone(),
                    rows: table.rows,
                    table_bytes: table.table_bytes,
                    index_bytes: table.index_bytes,
                })
                .collect(),
            size_check: outcome
                .seeded
                .size_check
                .as_ref()
                .map(|check| SizeCheckReport {
                    estimated_bytes: check.estimated_bytes,
                    method: check.method,
                    required_bytes: check.required_bytes,
                    available_bytes: check.available_bytes,
                    checked_against: check.checked_against.clone(),
                }),
            cache: outcome.seeded.cache.clone(),
        },
        server: ServerFacts {
            backend: environment.backend.kind.clone(),
            backend_detail: environment.backend.detail.clone(),
            backend_note: environment.backend_note.clone(),
            notes: environment.notes.clone(),
            version: environment.server_version.clone(),
            settings: environment
                .settings
                .iter()
                .map(|setting| SettingReport {
                    name: setting.name.clone(),
                    value: setting.value.clone(),
                    source: setting.source.clone(),
                })
                .collect(),
        },
        host: HostFacts {
            cores: environment.host.cores,
            memory_mib: environment.host.memory_mib,
            cpu: environment.host.cpu.clone(),
            os: environment.host.os.clone(),
        },
        phases_ms: outcome
            .phases
            .iter()
            .map(|phase| PhaseTime {
                phase: phase.name.clone(),
                ms: round3(phase.ms),
            })
            .collect(),
        variants: outcome.cells.iter().map(variant_report).collect(),
        catalog: outcome
            .cells
            .first()
            .map(|cell| cell.evidence.catalog_before.clone())
            .unwrap_or_default(),
        catalog_after: outcome
            .cells
            .first()
            .and_then(|cell| cell.evidence.catalog_after.clone()),
        sweep: outcome.sweep.clone(),
        stability: outcome.stability.clone(),
        workload: outcome.workload.clone(),
    }
}

fn variant_report(cell: &Cell) -> VariantReport {
    VariantReport {
        variant: cell
            .variant
            .iter()
            .map(|(name, value)| (name.clone(), value.clone().into()))
            .collect(),
        passed: cell.passed(),
        target: cell.target.as_ref().map(|target| TargetReport {
            table: target.table.clone(),
            group: target.group.clone(),
            index: target.index,
            group_rows: target.group_rows,
            columns: target
                .columns
                .iter()
                .map(|(name, value)| (name.clone(), value.clone().into()))
                .collect(),
        }),
        picks: cell
            .picks
            .iter()
            .map(|pick| PickReport {
                name: pick.name.clone(),
                columns: pick
                    .columns
                    .iter()
                    .map(|(name, value)| (name.clone(), value.clone().into()))
                    .collect(),
            })
            .collect(),
        queries: cell
            .evidence
            .queries
            .iter()
            .map(|query| query_report(cell, query))
            .collect(),
        checks: cell
            .verdicts
            .iter()
            .map(|verdict| CheckReport {
                check: verdict.check.to_owned(),
                subject: verdict.subject.clone(),
                expect: verdict.expect,
                queries: verdict.queries.clone(),
                judged: verdict.judged,
                passed: verdict.passed,
                summary: verdict.summary.clone(),
                findings: verdict
                    .findings
                    .iter()
                    .map(|finding| FindingReport {
                        query: finding.query.clone(),
                        node: finding.node.to_string(),
                        node_label: finding.node_label.clone(),
                        message: finding.message.clone(),
                    })
                    .collect(),
            })
            .collect(),
    }
}

fn query_report(cell: &Cell, query: &QueryEvidence) -> QueryReport {
    let plan = &query.plan;
    let (hit, read) = plan.buffers();
    let counted = |value| plan.analyzed.then_some(value);
    QueryReport {
        name: query.name.clone(),
        file: query.file.clone(),
        sql: query.sql.clone(),
        schema_state: query.state.word().to_owned(),
        params: query.params.clone(),
        verdict: if cell.query_passed(&query.name) {
            "pass"
        } else {
            "fail"
        }
        .to_owned(),
        timed_out_during: query
            .timed_out
            .as_ref()
            .map(|timed_out| timed_out.during.to_owned()),
        analyze_cancelled_after_ms: query
            .analyze_cancelled
            .as_ref()
            .map(|cancelled| cancelled.limit.as_millis() as u64),
        warm_up_ms: query.warm_up_ms.map(round3),
        executions: Some(query.executions),
        plan: if plan.analyzed {
            "analyzed"
        } else {
            "estimated"
        }
        .to_owned(),
        execution_ms: counted(round3(plan.execution_ms)),
        planning_ms: counted(round3(plan.planning_ms)),
        median_ms: (!query.timing.samples_ms.is_empty()).then(|| round3(query.timing.median_ms())),
        samples_ms: query
            .timing
            .samples_ms
            .iter()
            .copied()
            .map(round3)
            .collect(),
        sampling_stopped: query.timing.stopped,
        rows_examined: counted(plan.rows_examined()),
        rows_returned: if plan.analyzed {
            plan.rows_returned()
        } else {
            plan.root.plan_rows
        },
        shared_hit_blocks: plan.analyzed.then_some(hit),
        shared_read_blocks: plan.analyzed.then_some(read),
        access_path: plan.access_path(),
        result_rows: query.results.as_ref().map(|results| results.total_rows),
        explain: query.raw_explain.clone(),
        plan_file: plan_file_name(cell, &query.name),
    }
}

impl Report {
    /// `report.json`'s text.
    pub fn to_json(&self) -> String {
        let mut text =
            serde_json::to_string_pretty(self).expect("reports contain only JSON-safe values");
        text.push('\n');
        text
    }

    /// Reads the document of the report in `dir`. A directory without `report.json`,
    /// a file that is not a plancheck report, or one of a newer format version than
    /// this build reads is bad input, named with its path.
    pub fn read(dir: &Path) -> Result<Report> {
        let path = dir.join(FILE);
        if !path.exists() {
            return Err(Error::Usage(format!(
                "{}: no report to read (it does not exist); `plancheck report` takes directories a run wrote",
                path.display()
            )));
        }
        let text = crate::input::file::read_text(&path, &super::REPORT_FILE)?;
        Report::parse(&text)
            .map_err(|message| Error::Usage(format!("{}: {message}", path.display())))
    }

    /// Parses `report.json`'s text, checking its format and version first so that a
    /// newer report is refused by its version rather than by a field this build does
    /// not know.
    pub fn parse(text: &str) -> std::result::Result<Report, String> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|error| format!("not JSON: {error}"))?;
        // The value found is said by its kind, never quoted: a JSON file that is not a
        // report may hold anything.
        let found = match value.get("format") {
            None => Some("missing"),
            Some(serde_json::Value::String(format)) if format.starts_with(FORMAT) => None,
            Some(serde_json::Value::String(_)) => Some("another string"),
            Some(_) => Some("not a string"),
        };
        if let Some(found) = found {
            return Err(format!(
                "not a plancheck report: key `format` is {found}, expected {FORMAT:?}"
            ));
        }
        match value
            .get("format_version")
            .and_then(serde_json::Value::as_u64)
        {
            Some(version) if version == u64::from(FORMAT_VERSION) => {}
            Some(version) if version > u64::from(FORMAT_VERSION) => {
                return Err(format!(
                    "key `format_version` is {version}, newer than this plancheck reads (format_version {FORMAT_VERSION}); render it with a newer plancheck"
                ));
            }
            version => {
                return Err(format!(
                    "key `format_version` is {}; this plancheck reads format_version {FORMAT_VERSION} only: run the scenario again to write a current report",
                    version.map_or("missing (a report older than version 5)".to_owned(), |v| v
                        .to_string())
                ));
            }
        }
        serde_json::from_value(value).map_err(|error| {
            format!(
                "does not match format_version {FORMAT_VERSION}: {}",
                crate::input::file::json_error(&error)
            )
        })
    }

    /// Whether the scenario declares a variant matrix.
    pub fn has_variants(&self) -> bool {
        self.variants
            .iter()
            .any(|variant| !variant.variant.is_empty())
    }
}

impl ServerFacts {
    /// `local (/usr/lib/postgresql/15/bin)`: the backend and where it ran.
    pub fn backend_text(&self) -> String {
        format!("{} ({})", self.backend, self.backend_detail)
    }
}

impl VariantReport {
    /// `state=error, depth=500`, or `-` without variants.
    pub fn label(&self) -> String {
        if self.variant.is_empty() {
            return "-".into();
        }
        self.variant
            .iter()
            .map(|(name, value)| format!("{name}={}", value.as_str().unwrap_or_default()))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// `5/5`: checks passed of those judged, and `5/5, 3 not judged` when some could
    /// not judge in this run (they are neither passes nor failures).
    pub fn tally(&self) -> String {
        let judged = self.checks.iter().filter(|check| check.judged);
        let passed = judged.clone().filter(|check| check.passed).count();
        let not_judged = self.checks.len() - judged.clone().count();
        match not_judged {
            0 => format!("{passed}/{}", judged.count()),
            _ => format!("{passed}/{}, {not_judged} not judged", judged.count()),
        }
    }

    /// The query named `name`.
    pub fn query(&self, name: &str) -> Option<&QueryReport> {
        self.queries.iter().find(|query| query.name == name)
    }
}

/// The JSON Schema of [`Report`], as `docs/report.schema.json` holds it.
pub fn schema() -> String {
    let schema = schemars::schema_for!(Report);
    let mut text = serde_json::to_string_pretty(&schema).expect("a schema is JSON");
    text.push('\n');
    text
}

fn round3(ms: f64) -> f64 {
    (ms * 1000.0).round() / 1000.0
}
