//! `report.json`: the machine-readable report. This is a documented format (see
//! README): its shape is these structs, locked by a test that parses reports with
//! `deny_unknown_fields`. Change `FORMAT` when a field changes meaning or goes away.

use serde::{Deserialize, Serialize};

use crate::run::ScenarioRun;

/// The format identifier written into every report.
pub const FORMAT: &str = "plancheck.report.v1";

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Report {
    pub format: String,
    pub scenario: String,
    pub description: String,
    pub passed: bool,
    pub seed: u64,
    /// Workflow runs seeded.
    pub scale: u64,
    pub dataset: DatasetFacts,
    pub target: Target,
    pub server: ServerFacts,
    pub host: HostFacts,
    /// Wall-clock time of each phase, in run order.
    pub phases_ms: Vec<PhaseTime>,
    pub queries: Vec<QueryReport>,
    pub checks: Vec<CheckReport>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatasetFacts {
    pub scenario_file: String,
    pub dataset_file: String,
    /// The instant the data was generated as of.
    pub as_of: String,
    /// Rows per table.
    pub rows: serde_json::Map<String, serde_json::Value>,
    /// `workflow_runs` without indexes, after the load.
    pub workflow_runs_table_bytes: i64,
    /// All indexes of `workflow_runs`.
    pub workflow_runs_index_bytes: i64,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    pub profile: String,
    pub organization_id: String,
    pub organization_name: String,
    pub runs: u64,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerFacts {
    /// `docker`, `local` or `url`.
    pub backend: String,
    /// Image, binary directory or host.
    pub backend_detail: String,
    pub backend_note: Option<String>,
    pub version: String,
    /// Every setting not at its built-in default: name → value.
    pub settings: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostFacts {
    pub cores: usize,
    pub memory_mib: u64,
    pub cpu: String,
    pub os: String,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhaseTime {
    pub phase: String,
    pub ms: f64,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueryReport {
    pub name: String,
    pub file: String,
    /// `pass` when every check reading this query passed, else `fail`.
    pub verdict: String,
    /// Server-side execution time under EXPLAIN ANALYZE.
    pub execution_ms: f64,
    pub planning_ms: f64,
    /// Median of the client-side timing loop.
    pub median_ms: f64,
    pub samples_ms: Vec<f64>,
    pub rows_examined: f64,
    pub rows_returned: f64,
    pub shared_hit_blocks: u64,
    pub shared_read_blocks: u64,
    /// The scan nodes of the plan, outermost first.
    pub access_path: Vec<String>,
    /// The raw EXPLAIN document, beside this report.
    pub plan_file: String,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckReport {
    pub check: String,
    pub subject: String,
    pub passed: bool,
    pub summary: String,
    pub findings: Vec<FindingReport>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FindingReport {
    pub query: String,
    /// The node's position: `root/0/1`.
    pub node: String,
    pub node_label: String,
    pub message: String,
}

/// The file name of a query's raw plan.
pub fn plan_file_name(query: &str) -> String {
    format!("{query}.explain.json")
}

/// The report as a value.
pub fn report(run: &ScenarioRun) -> Report {
    let environment = &run.environment;
    let (backend, backend_detail) = match &environment.backend {
        crate::provision::Backend::Docker { image } => ("docker", image.clone()),
        crate::provision::Backend::Local { bindir } => ("local", bindir.display().to_string()),
        crate::provision::Backend::Url { host } => ("url", host.clone()),
    };
    Report {
        format: FORMAT.to_owned(),
        scenario: run.scenario.clone(),
        description: run.description.clone(),
        passed: run.passed(),
        seed: run.seeded.seed,
        scale: run.scale,
        dataset: DatasetFacts {
            scenario_file: run.scenario_file.clone(),
            dataset_file: run.dataset_file.clone(),
            as_of: run.seeded.as_of.to_rfc3339(),
            rows: run
                .seeded
                .rows
                .iter()
                .map(|(table, rows)| (table.clone(), serde_json::Value::from(*rows)))
                .collect(),
            workflow_runs_table_bytes: run.seeded.runs_table_bytes,
            workflow_runs_index_bytes: run.seeded.runs_index_bytes,
        },
        target: Target {
            profile: run.target.profile.clone(),
            organization_id: run.target.id.to_string(),
            organization_name: run.target.name.clone(),
            runs: run.target.runs,
        },
        server: ServerFacts {
            backend: backend.to_owned(),
            backend_detail,
            backend_note: environment.backend_note.clone(),
            version: environment.server_version.clone(),
            settings: environment
                .settings
                .iter()
                .map(|setting| {
                    (
                        setting.name.clone(),
                        serde_json::Value::from(setting.value.clone()),
                    )
                })
                .collect(),
        },
        host: HostFacts {
            cores: environment.host.cores,
            memory_mib: environment.host.memory_mib,
            cpu: environment.host.cpu.clone(),
            os: environment.host.os.clone(),
        },
        phases_ms: run
            .phases
            .iter()
            .map(|phase| PhaseTime {
                phase: phase.name.clone(),
                ms: round3(phase.ms),
            })
            .collect(),
        queries: run
            .evidence
            .queries
            .iter()
            .map(|query| {
                let plan = &query.plan;
                let (hit, read) = plan.buffers();
                QueryReport {
                    name: query.name.clone(),
                    file: run
                        .query_files
                        .iter()
                        .find(|(name, _)| *name == query.name)
                        .map(|(_, file)| file.clone())
                        .unwrap_or_default(),
                    verdict: if run.query_passed(&query.name) {
                        "pass"
                    } else {
                        "fail"
                    }
                    .to_owned(),
                    execution_ms: round3(plan.execution_ms),
                    planning_ms: round3(plan.planning_ms),
                    median_ms: round3(query.timing.median_ms()),
                    samples_ms: query
                        .timing
                        .samples_ms
                        .iter()
                        .copied()
                        .map(round3)
                        .collect(),
                    rows_examined: plan.rows_examined(),
                    rows_returned: plan.rows_returned(),
                    shared_hit_blocks: hit,
                    shared_read_blocks: read,
                    access_path: plan.access_path(),
                    plan_file: plan_file_name(&query.name),
                }
            })
            .collect(),
        checks: run
            .verdicts
            .iter()
            .map(|verdict| CheckReport {
                check: verdict.check.to_owned(),
                subject: verdict.subject.clone(),
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

/// `report.json`'s text.
pub fn render(run: &ScenarioRun) -> String {
    let mut text =
        serde_json::to_string_pretty(&report(run)).expect("reports contain only JSON-safe values");
    text.push('\n');
    text
}

fn round3(ms: f64) -> f64 {
    (ms * 1000.0).round() / 1000.0
}
