//! `report.html`: the whole report as one self-contained page that opens from
//! `file://` with no network (a CI artifact on an air-gapped runner). Verdicts first
//! (the variant matrix as one table linking to each variant), then per variant the
//! queries' plan trees side by side with the flagged nodes highlighted, every timed
//! run as a strip plot, the sweep plot when there is one, the data and the server,
//! and each raw plan as EXPLAIN printed it with a copy button.
//!
//! The page is rendered by minijinja from view structs prepared here
//! (`templates/report.html` holds markup only); charts are plotters SVG inlined in
//! the page; styles and the few lines of script (copy) are inline too. It reads the
//! document alone, like every exporter.

pub mod charts;
pub mod tree;

use std::collections::HashMap;

use serde::Serialize;

use super::Exporter;
use super::document::{CheckReport, QueryReport, Report, VariantReport};
use crate::format::format_budget;
use crate::format::{format_bytes, format_count, format_ms};
use crate::outcome::EstimateMethod;
use crate::outcome::Expect;
use crate::outcome::stability::Stability;
use crate::outcome::sweep::{Measure, Sweep, variant_label};
use crate::plan::Plan;
use charts::{FittedLine, SeriesPoint, SweepMeasure, SweepSeries};
use tree::{Flag, NodeView};

/// The file this exporter writes.
pub const FILE: &str = "report.html";

/// Writes `report.html`.
pub struct Html;

impl Exporter for Html {
    fn name(&self) -> &'static str {
        "html"
    }

    fn files(&self, report: &Report) -> Vec<(String, String)> {
        vec![(FILE.to_owned(), render(report))]
    }
}

/// `report.html`'s text.
pub fn render(report: &Report) -> String {
    let page = Page {
        title: format!(
            "plancheck · {} · {}",
            report.scenario,
            if report.passed { "pass" } else { "fail" }
        ),
        scenario: report.scenario.clone(),
        description: report.description.trim().to_owned(),
        passed: report.passed,
        facts: headline_facts(report),
        matrix: report.has_variants().then(|| matrix(report)),
        variants: report
            .variants
            .iter()
            .enumerate()
            .map(|(index, variant)| variant_view(report, index, variant))
            .collect(),
        sweep: report.sweep.as_ref().and_then(sweep_view),
        stability: report
            .stability
            .as_ref()
            .map(|stability| stability_view(report, stability)),
        dataset: dataset_view(report),
        environment: environment_view(report),
    };
    let mut env = minijinja::Environment::new();
    env.add_template(FILE, include_str!("templates/report.html"))
        .expect("the report template parses");
    env.get_template(FILE)
        .and_then(|template| template.render(&page))
        .expect("the report template renders")
}

#[derive(Serialize)]
struct Page {
    title: String,
    scenario: String,
    description: String,
    passed: bool,
    facts: Vec<String>,
    matrix: Option<Matrix>,
    variants: Vec<VariantView>,
    sweep: Option<SweepView>,
    stability: Option<StabilityView>,
    dataset: DatasetView,
    environment: EnvironmentView,
}

/// The stability section: the rounds in words and one row per distinct plan.
#[derive(Serialize)]
struct StabilityView {
    heading: String,
    rows: Vec<StabilityRow>,
}

#[derive(Serialize)]
struct StabilityRow {
    query: String,
    /// The schema state the rounds explained the query on.
    schema_state: String,
    variant: String,
    shape: String,
    /// `18 of 20`.
    rounds: String,
    /// The plan checks' objections, joined; empty when none.
    flags: String,
}

fn stability_view(report: &Report, stability: &Stability) -> StabilityView {
    let rows = stability
        .cells
        .iter()
        .flat_map(|cell| {
            cell.queries.iter().flat_map(move |query| {
                query.shapes.iter().map(move |shape| StabilityRow {
                    query: query.query.clone(),
                    schema_state: super::schema_state(report, &query.query).to_owned(),
                    variant: match cell.variant.is_empty() {
                        true => "-".to_owned(),
                        false => variant_label(&cell.variant),
                    },
                    shape: shape.shape.clone(),
                    rounds: format!("{} of {}", shape.rounds, stability.rounds),
                    flags: shape.flags.join("; "),
                })
            })
        })
        .collect();
    StabilityView {
        heading: stability.heading(),
        rows,
    }
}

/// The facts under the title: seed, scale, server.
fn headline_facts(report: &Report) -> Vec<String> {
    vec![
        format!(
            "scale {} rows of {}",
            format_count(report.scale as f64),
            report.scale_table
        ),
        format!("seed {}", report.seed),
        format!(
            "PostgreSQL {} ({})",
            report.server.version, report.server.backend
        ),
        format!("time budget {}", format_budget(super::budget(report))),
    ]
}

#[derive(Serialize)]
struct Matrix {
    queries: Vec<String>,
    rows: Vec<MatrixRow>,
}

#[derive(Serialize)]
struct MatrixRow {
    anchor: String,
    label: String,
    passed: bool,
    checks: String,
    /// Per query of `Matrix::queries`: its anchor, rows examined and median.
    cells: Vec<MatrixCell>,
}

#[derive(Serialize)]
struct MatrixCell {
    anchor: Option<String>,
    passed: bool,
    rows_examined: String,
    median: String,
}

/// The variant matrix: one row per variant, each cell linking to its query's plans.
fn matrix(report: &Report) -> Matrix {
    let queries: Vec<String> = report.variants[0]
        .queries
        .iter()
        .map(|query| query.name.clone())
        .collect();
    let rows = report
        .variants
        .iter()
        .enumerate()
        .map(|(index, variant)| MatrixRow {
            anchor: variant_anchor(index),
            label: variant.label(),
            passed: variant.passed,
            checks: checks_count(variant),
            cells: queries
                .iter()
                .map(|name| match variant.query(name) {
                    Some(query) => MatrixCell {
                        anchor: Some(query_anchor(index, name)),
                        passed: query.verdict == "pass",
                        rows_examined: rows_examined(query),
                        median: super::median_text(report, query),
                    },
                    None => MatrixCell {
                        anchor: None,
                        passed: true,
                        rows_examined: "-".into(),
                        median: "-".into(),
                    },
                })
                .collect(),
        })
        .collect();
    Matrix { queries, rows }
}

fn checks_count(variant: &VariantReport) -> String {
    variant.tally()
}

fn variant_anchor(index: usize) -> String {
    format!("variant-{}", index + 1)
}

fn query_anchor(variant: usize, query: &str) -> String {
    format!("{}-{}", variant_anchor(variant), crate::slug::slug(query))
}

/// Rows examined, which only a plan that ran can tell.
fn rows_examined(query: &QueryReport) -> String {
    query
        .rows_examined
        .map_or_else(|| "- (estimated plan)".into(), format_count)
}

#[derive(Serialize)]
struct VariantView {
    anchor: String,
    /// `tenant=sparse`; empty without a variant matrix.
    label: String,
    passed: bool,
    checks_count: String,
    checks: Vec<CheckView>,
    /// The target row and picks the parameters were bound from.
    bindings: Vec<String>,
    queries: Vec<QueryView>,
    timing_svg: Option<String>,
}

fn variant_view(report: &Report, index: usize, variant: &VariantReport) -> VariantView {
    let anchor = variant_anchor(index);
    let query_anchors: HashMap<&str, String> = variant
        .queries
        .iter()
        .map(|query| (query.name.as_str(), query_anchor(index, &query.name)))
        .collect();
    let bar_max = variant
        .queries
        .iter()
        .filter_map(|query| Plan::from_explain_text(&query.explain).ok())
        .map(|plan| tree::max_flow(&plan))
        .fold(0.0, f64::max);
    let timings: Vec<(String, Vec<f64>)> = variant
        .queries
        .iter()
        .map(|query| (query.name.clone(), query.samples_ms.clone()))
        .collect();
    VariantView {
        label: if report.has_variants() {
            variant.label()
        } else {
            String::new()
        },
        passed: variant.passed,
        checks_count: checks_count(variant),
        checks: variant
            .checks
            .iter()
            .map(|check| check_view(check, &query_anchors))
            .collect(),
        bindings: bindings(variant),
        queries: variant
            .queries
            .iter()
            .enumerate()
            .map(|(position, query)| {
                let anchor = &query_anchors[query.name.as_str()];
                query_view(report, variant, query, (anchor, position), bar_max)
            })
            .collect(),
        timing_svg: charts::timing_strip(&timings),
        anchor,
    }
}

#[derive(Serialize)]
struct CheckView {
    check: String,
    subject: String,
    expect: &'static str,
    passed: bool,
    /// Whether the check could judge in this run.
    judged: bool,
    summary: String,
    findings: Vec<FindingView>,
}

#[derive(Serialize)]
struct FindingView {
    query: String,
    node_label: String,
    /// The flagged node's anchor in its plan tree.
    anchor: Option<String>,
    message: String,
}

fn check_view(check: &CheckReport, query_anchors: &HashMap<&str, String>) -> CheckView {
    CheckView {
        check: check.check.clone(),
        subject: check.subject.clone(),
        expect: match check.expect {
            Some(Expect::Present) => "present",
            Some(Expect::Absent) => "absent",
            None => "",
        },
        passed: check.passed,
        judged: check.judged,
        summary: check.summary.clone(),
        findings: check
            .findings
            .iter()
            .map(|finding| FindingView {
                query: finding.query.clone(),
                node_label: finding.node_label.clone(),
                anchor: query_anchors
                    .get(finding.query.as_str())
                    .map(|anchor| tree::node_anchor(anchor, &finding.node)),
                message: finding.message.clone(),
            })
            .collect(),
    }
}

/// The target row and each pick, as short sentences.
fn bindings(variant: &VariantReport) -> Vec<String> {
    let columns = |columns: &serde_json::Map<String, serde_json::Value>| {
        columns
            .iter()
            .take(4)
            .map(|(name, value)| format!("{name} = {}", text_of(value)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let target = variant.target.iter().map(|target| {
        let group = target.group.as_ref().map_or(String::new(), |group| {
            format!(
                " of group {group} ({} rows)",
                format_count(target.group_rows as f64)
            )
        });
        format!(
            "Target: row {} of {}{group}: {}",
            target.index,
            target.table,
            columns(&target.columns)
        )
    });
    let picks = variant
        .picks
        .iter()
        .map(|pick| format!("Pick {}: {}", pick.name, columns(&pick.columns)));
    target.chain(picks).collect()
}

/// A JSON value of the document as text: strings without their quotes.
fn text_of(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

#[derive(Serialize)]
struct QueryView {
    anchor: String,
    name: String,
    colour: String,
    passed: bool,
    file: String,
    schema_state: String,
    params: Vec<String>,
    facts: Vec<(String, String)>,
    /// Why the plan is only estimated, when it is.
    estimated: Option<String>,
    tree: Option<NodeView>,
    tree_error: Option<String>,
    /// Findings on nodes the plan does not have (a plan that changed shape).
    unplaced: Vec<Flag>,
    sql: String,
    explain: String,
    plan_file: String,
}

fn query_view(
    report: &Report,
    variant: &VariantReport,
    query: &QueryReport,
    (anchor, position): (&str, usize),
    bar_max: f64,
) -> QueryView {
    let flags = flags(variant, &query.name);
    let (tree, tree_error, unplaced) = match Plan::from_explain_text(&query.explain) {
        Ok(plan) => {
            let (placed, unplaced): (HashMap<_, _>, HashMap<_, _>) = flags
                .into_iter()
                .partition(|(path, _)| plan.nodes().any(|(node, _)| node.to_string() == *path));
            let tree = tree::tree(&plan, anchor, &placed, bar_max);
            (Some(tree), None, unplaced.into_values().flatten().collect())
        }
        Err(error) => (
            None,
            Some(format!("the saved plan does not parse: {error}")),
            flags.into_values().flatten().collect(),
        ),
    };
    QueryView {
        anchor: anchor.to_owned(),
        name: query.name.clone(),
        colour: charts::css_colour(position),
        passed: query.verdict == "pass",
        file: query.file.clone(),
        schema_state: query.schema_state.clone(),
        params: query.params.clone(),
        facts: query_facts(report, query),
        estimated: estimated_note(report, query),
        tree,
        tree_error,
        unplaced,
        sql: query.sql.clone(),
        explain: query.explain.clone(),
        plan_file: query.plan_file.clone(),
    }
}

/// The findings of every check on query `name`, by node path.
fn flags(variant: &VariantReport, name: &str) -> HashMap<String, Vec<Flag>> {
    let mut flags: HashMap<String, Vec<Flag>> = HashMap::new();
    for check in &variant.checks {
        for finding in check
            .findings
            .iter()
            .filter(|finding| finding.query == name)
        {
            flags.entry(finding.node.clone()).or_default().push(Flag {
                check: check.check.clone(),
                passed: check.passed,
                message: finding.message.clone(),
            });
        }
    }
    flags
}

/// The figures a reviewer compares between queries.
fn query_facts(report: &Report, query: &QueryReport) -> Vec<(String, String)> {
    let buffers = match (query.shared_hit_blocks, query.shared_read_blocks) {
        (Some(hit), Some(read)) => format!(
            "{} hit · {} read",
            format_count(hit as f64),
            format_count(read as f64)
        ),
        _ => "-".into(),
    };
    let returned = match query.plan.as_str() {
        "analyzed" => format_count(query.rows_returned),
        _ => format!("~{} (estimate)", format_count(query.rows_returned)),
    };
    vec![
        ("Rows examined".into(), rows_examined(query)),
        ("Rows returned".into(), returned),
        ("Buffers".into(), buffers),
        (
            "EXPLAIN ANALYZE".into(),
            super::execution_text(report, query),
        ),
        ("Median (runs)".into(), super::median_text(report, query)),
        ("Access path".into(), query.access_path.join("; ")),
    ]
}

/// Why a plan is only the planner's estimate, or `None` for a plan that ran.
fn estimated_note(report: &Report, query: &QueryReport) -> Option<String> {
    if query.plan == "analyzed" {
        return None;
    }
    let reason = match (
        super::timed_out_text(report, query),
        query.analyze_cancelled_after_ms,
    ) {
        (Some(timed_out), _) => format!("the query {timed_out}"),
        (None, Some(limit_ms)) => format!(
            "EXPLAIN ANALYZE did not finish within {} (even with TIMING OFF), though the query itself finished within the time budget",
            format_budget(std::time::Duration::from_millis(limit_ms))
        ),
        (None, None) => "it was not run".into(),
    };
    Some(format!(
        "Estimated plan (EXPLAIN without ANALYZE): {reason}. Rows are the planner's estimates per loop."
    ))
}

#[derive(Serialize)]
struct SweepView {
    time_svg: Option<String>,
    rows_svg: Option<String>,
    buffers_svg: Option<String>,
    /// `old: time slope 0.98`, one line per fitted series.
    slopes: Vec<String>,
    shapes: Vec<(String, String, String, bool)>,
    flip: Vec<String>,
}

/// The sweep's plots (time, rows examined and buffers against scale, with the fitted
/// lines) and its words: each fit with its spread, the plan shape at each scale, the
/// flip search and its probes. `None` when there is nothing to plot.
fn sweep_view(sweep: &Sweep) -> Option<SweepView> {
    let plot = |measure, chart| charts::sweep_plot(chart, &sweep_series(sweep, measure));
    let view = SweepView {
        time_svg: plot(Measure::Time, SweepMeasure::TimeMs),
        rows_svg: plot(Measure::RowsExamined, SweepMeasure::RowsExamined),
        buffers_svg: plot(Measure::Buffers, SweepMeasure::Buffers),
        slopes: sweep
            .fits
            .iter()
            .map(|fit| format!("{}: {}", fit.measure.words(), fit.sentence()))
            .collect(),
        shapes: sweep_shapes(sweep),
        flip: flip_lines(sweep),
    };
    (view.time_svg.is_some() || view.rows_svg.is_some()).then_some(view)
}

/// Each fitted query's `measure` at every scale, with its fitted line.
fn sweep_series(sweep: &Sweep, measure: Measure) -> Vec<SweepSeries> {
    sweep
        .fits
        .iter()
        .filter(|fit| fit.measure == measure)
        .map(|fit| SweepSeries {
            label: match fit.variant.is_empty() {
                true => fit.query.clone(),
                false => format!("{} ({})", fit.query, variant_label(&fit.variant)),
            },
            points: sweep
                .points_of(&fit.query, &fit.variant)
                .filter_map(|(scale, point)| {
                    Some(SeriesPoint {
                        scale: scale as f64,
                        value: point.value(measure)?,
                    })
                })
                .collect(),
            fit: Some(FittedLine {
                slope: fit.slope,
                intercept: fit.intercept,
            }),
        })
        .collect()
}

/// `(scale, query, shape, flagged)` for every fitted query at every scale.
fn sweep_shapes(sweep: &Sweep) -> Vec<(String, String, String, bool)> {
    sweep
        .points
        .iter()
        .flat_map(|at| {
            at.cells.iter().flat_map(move |cell| {
                cell.queries.iter().map(move |point| {
                    let query = match cell.variant.is_empty() {
                        true => point.query.clone(),
                        false => format!("{} ({})", point.query, variant_label(&cell.variant)),
                    };
                    (
                        format_count(at.scale as f64),
                        query,
                        point.shape.clone(),
                        point.flagged,
                    )
                })
            })
        })
        .collect()
}

/// Where the plan flips, what that says of `min_scale`, and every probe by scale.
fn flip_lines(sweep: &Sweep) -> Vec<String> {
    let Some(flip) = &sweep.flip else {
        return Vec::new();
    };
    let mut probes: Vec<_> = flip.probes.iter().collect();
    probes.sort_by_key(|probe| probe.scale);
    std::iter::once(flip.sentence(&sweep.scale_table))
        .chain(flip.min_scale_sentence())
        .chain(probes.into_iter().map(|probe| {
            let shapes: Vec<&str> = probe
                .shapes
                .iter()
                .map(|shape| shape.shape.as_str())
                .collect();
            format!(
                "at {}: {} ({})",
                format_count(probe.scale as f64),
                if probe.regressed {
                    "regression shows"
                } else {
                    "no regression"
                },
                shapes.join(" · ")
            )
        }))
        .collect()
}

#[derive(Serialize)]
struct DatasetView {
    facts: Vec<(String, String)>,
    tables: Vec<[String; 4]>,
    size: Option<String>,
}

fn dataset_view(report: &Report) -> DatasetView {
    let dataset = &report.dataset;
    let mib = |bytes: i64| format_bytes(bytes as f64);
    DatasetView {
        facts: vec![
            ("Dataset".into(), dataset.dataset_file.clone()),
            ("Scenario".into(), dataset.scenario_file.clone()),
            ("Seed".into(), report.seed.to_string()),
            (
                "Scale".into(),
                format!(
                    "{} rows of {}",
                    format_count(report.scale as f64),
                    report.scale_table
                ),
            ),
            ("Data as of".into(), super::markdown::as_of(&dataset.as_of)),
        ]
        .into_iter()
        .chain(
            dataset
                .cache
                .as_ref()
                .map(|cache| ("Data".to_owned(), cache.describe())),
        )
        .collect(),
        tables: dataset
            .tables
            .iter()
            .map(|table| {
                [
                    table.name.clone(),
                    format_count(table.rows as f64),
                    mib(table.table_bytes),
                    mib(table.index_bytes),
                ]
            })
            .collect(),
        size: dataset.size_check.as_ref().map(|check| {
            let seeded: i64 = dataset
                .tables
                .iter()
                .map(|table| table.table_bytes + table.index_bytes)
                .sum();
            format!(
                "{} seeded; {} estimated before seeding ({}), {} needed while seeding.",
                mib(seeded),
                format_bytes(check.estimated_bytes as f64),
                match check.method {
                    EstimateMethod::UpperBound => "an upper bound from rows generated in memory",
                    EstimateMethod::Sample => "from a seeded sample",
                },
                format_bytes(check.required_bytes as f64)
            )
        }),
    }
}

#[derive(Serialize)]
struct EnvironmentView {
    facts: Vec<(String, String)>,
    notes: Vec<String>,
    settings: Vec<[String; 3]>,
    phases: Vec<(String, String)>,
}

fn environment_view(report: &Report) -> EnvironmentView {
    let (server, host) = (&report.server, &report.host);
    EnvironmentView {
        facts: vec![
            ("Server".into(), format!("PostgreSQL {}", server.version)),
            ("Backend".into(), server.backend_text()),
            (
                "Host".into(),
                format!(
                    "{} cores, {} MiB, {} · {}",
                    host.cores,
                    format_count(host.memory_mib as f64),
                    host.cpu,
                    host.os
                ),
            ),
            (
                "Time budget".into(),
                format!(
                    "{} per run of a measured query",
                    format_budget(super::budget(report))
                ),
            ),
        ],
        notes: server
            .backend_note
            .iter()
            .chain(&server.notes)
            .cloned()
            .collect(),
        settings: server
            .settings
            .iter()
            .map(|setting| {
                [
                    setting.name.clone(),
                    setting.value.clone(),
                    setting.source.clone(),
                ]
            })
            .collect(),
        phases: report
            .phases_ms
            .iter()
            .map(|phase| (phase.phase.clone(), format_ms(phase.ms)))
            .collect(),
    }
}
