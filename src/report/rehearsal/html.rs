//! `rehearsal.html`: the rehearsal as one self-contained page that opens from
//! `file://` with no network, like `report.html`. The same content as the Markdown
//! (verdict, comparison, each run's steps, traffic, invariants and sampler, growth),
//! with each run's timeline chart inline and every step's SQL in a `<details>`.
//! View structs are prepared here and rendered by minijinja
//! (`templates/rehearsal.html` holds markup and styles only).

use serde::Serialize;

use super::markdown::{EXPLANATIONS_SHOWN, FAILURES_SHOWN};
use super::{
    Compared, UNSEEN, blocks_writes, broken, compared, exponent_text, failed_statements,
    growth_words, held_text, latency_triple, limits_text, migrations, one_line, overhead_text,
    passed, repeated, repeated_text, repetition_words, sampler_text, scale_words, scales, seconds,
    step_failures, timeline_file, timeline_svg, traffic_alone, unseen_locks, verdict_text,
};
use crate::format::{format_count, format_ms};
use crate::outcome::rehearsal::{MigrationRun, Rehearsal, Stall, StepOutcome};

const TEMPLATE: &str = "rehearsal.html";

/// `rehearsal.html`'s text.
pub fn render(rehearsal: &Rehearsal) -> String {
    let page = page(rehearsal);
    let mut env = minijinja::Environment::new();
    env.add_template(TEMPLATE, include_str!("../templates/rehearsal.html"))
        .expect("the rehearsal template parses");
    env.get_template(TEMPLATE)
        .and_then(|template| template.render(&page))
        .expect("the rehearsal template renders")
}

#[derive(Serialize)]
struct Page {
    title: String,
    scenario: String,
    description: String,
    passed: bool,
    verdict: String,
    /// The runs that broke something: (anchor, name, what broke).
    broken: Vec<(String, String, Vec<String>)>,
    /// The runs asked for that did not run: (name, why).
    not_run: Vec<(String, String)>,
    /// With `--repeat`, how many times each migration ran at each scale, and per
    /// migration and scale how often each limit broke: (name, sentence).
    repeat: usize,
    repeated: Vec<(String, String)>,
    facts: Vec<String>,
    comparison: Option<ComparisonView>,
    runs: Vec<RunView>,
    growth: Vec<GrowthView>,
    overhead: Option<String>,
    notes: Vec<String>,
    environment: Vec<(String, String)>,
}

fn page(rehearsal: &Rehearsal) -> Page {
    let scales: Vec<String> = scales(rehearsal)
        .into_iter()
        .map(|scale| format_count(scale as f64))
        .collect();
    let scale_text = match super::scale_table(rehearsal) {
        Some(table) => format!("{} rows of {table}", scales.join(" / ")),
        None => format!("{} rows", scales.join(" / ")),
    };
    Page {
        title: format!(
            "plancheck rehearse · {} · {}",
            rehearsal.scenario,
            if passed(rehearsal) { "pass" } else { "fail" }
        ),
        scenario: rehearsal.scenario.clone(),
        description: rehearsal.description.trim().to_owned(),
        passed: passed(rehearsal),
        verdict: verdict_text(rehearsal),
        broken: broken(rehearsal)
            .into_iter()
            .map(|(run, reasons)| (run_anchor(run), run_name(run), reasons))
            .collect(),
        repeat: rehearsal.repeat,
        repeated: repeated_views(rehearsal),
        not_run: not_run_views(rehearsal),
        facts: vec![
            format!("PostgreSQL {}", rehearsal.server_version),
            format!("seed {}", rehearsal.seed),
            format!("scales {scale_text}"),
            format!("limits: {}", limits_text(&rehearsal.limits)),
        ],
        comparison: (migrations(rehearsal).len() >= 2).then(|| comparison(rehearsal)),
        runs: rehearsal
            .runs
            .iter()
            .map(|run| run_view(rehearsal, run))
            .collect(),
        growth: migrations(rehearsal)
            .into_iter()
            .filter_map(|migration| growth_view(rehearsal, migration))
            .collect(),
        overhead: rehearsal.sampler_overhead.as_ref().map(overhead_text),
        notes: rehearsal.notes.iter().map(|note| one_line(note)).collect(),
        environment: vec![
            (
                "Server".into(),
                format!("PostgreSQL {}", rehearsal.server_version),
            ),
            ("Backend".into(), rehearsal.backend.clone()),
            ("Host".into(), rehearsal.host.clone()),
            ("Seed".into(), rehearsal.seed.to_string()),
            ("Scales".into(), scale_text),
            ("Scenario".into(), rehearsal.scenario_file.clone()),
            ("Dataset".into(), rehearsal.dataset_file.clone()),
        ],
    }
}

/// Per migration and scale of repeated runs, how often each limit broke: (name,
/// sentence).
fn repeated_views(rehearsal: &Rehearsal) -> Vec<(String, String)> {
    repeated(rehearsal)
        .iter()
        .map(|repeated| {
            let name = format!(
                "{} at {} rows",
                repeated.migration,
                format_count(repeated.scale as f64)
            );
            (name, repeated_text(repeated))
        })
        .collect()
}

/// The runs asked for that did not run: (name, why).
fn not_run_views(rehearsal: &Rehearsal) -> Vec<(String, String)> {
    rehearsal
        .not_run
        .iter()
        .map(|not_run| {
            let name = format!(
                "{} at {} rows{}",
                not_run.migration,
                format_count(not_run.scale as f64),
                repetition_words(not_run.repetition)
            );
            (name, not_run.reason.clone())
        })
        .collect()
}

/// `shipped at 1,000,000 rows`.
fn run_name(run: &MigrationRun) -> String {
    format!(
        "{} at {} rows{}",
        run.migration,
        format_count(run.scale as f64),
        repetition_words(run.repetition)
    )
}

fn run_anchor(run: &MigrationRun) -> String {
    format!(
        "run-{}-{}{}",
        crate::slug::slug(&run.migration),
        run.scale,
        run.repetition
            .map_or(String::new(), |repetition| format!("-{repetition}"))
    )
}

#[derive(Serialize)]
struct ComparisonView {
    heading: String,
    rows: Vec<ComparisonRow>,
}

#[derive(Serialize)]
struct ComparisonRow {
    anchor: String,
    migration: String,
    passed: bool,
    /// `✔ pass`, or with repeated runs `✘ fail in 4 of 5 runs`.
    verdict: String,
    /// `1413 ms`, or `-` without a stall.
    stall: String,
    stall_over: bool,
    stream: String,
    cause: String,
    failed: String,
    growing: Vec<String>,
}

fn comparison(rehearsal: &Rehearsal) -> ComparisonView {
    let compared = compared(rehearsal);
    let largest = compared.iter().map(|row| row.run.scale).max().unwrap_or(0);
    ComparisonView {
        heading: format!("Migrations compared at {}", scale_words(rehearsal, largest)),
        rows: compared
            .iter()
            .map(|row| comparison_row(rehearsal, row, largest))
            .collect(),
    }
}

fn comparison_row(rehearsal: &Rehearsal, row: &Compared, largest: u64) -> ComparisonRow {
    let (stall, stall_over, stream, cause) = match row.worst {
        Some((step, stall)) => (
            format_ms(stall.stall_ms),
            stall.stall_ms > rehearsal.limits.max_stall_ms,
            stall.stream.clone(),
            format!("step {}: {}", step.index, step.summary),
        ),
        None => ("-".into(), false, String::new(), "-".into()),
    };
    ComparisonRow {
        anchor: run_anchor(row.run),
        migration: match row.run.scale == largest {
            true => row.run.migration.clone(),
            false => format!(
                "{} (at {})",
                row.run.migration,
                format_count(row.run.scale as f64)
            ),
        },
        passed: row.broken == 0,
        verdict: row.verdict("✔ pass", "✘ fail"),
        stall,
        stall_over,
        stream,
        cause,
        failed: format_count(row.failed as f64),
        growing: row
            .super_linear
            .iter()
            .map(|growth| format!("step {} (exponent {})", growth.step, exponent_text(growth)))
            .collect(),
    }
}

#[derive(Serialize)]
struct RunView {
    anchor: String,
    name: String,
    passed: bool,
    facts: Vec<String>,
    stopped: Option<String>,
    violations: Vec<String>,
    warnings: Vec<String>,
    svg: String,
    svg_file: String,
    steps: Vec<StepView>,
    not_run: Option<String>,
    traffic: Vec<TrafficView>,
    failed_total: String,
    invariants: Vec<InvariantView>,
    sampler: String,
}

fn run_view(rehearsal: &Rehearsal, run: &MigrationRun) -> RunView {
    let seeded: Vec<String> = run
        .seeded
        .iter()
        .map(|table| format!("{} {}", format_count(table.rows as f64), table.table))
        .collect();
    RunView {
        anchor: run_anchor(run),
        name: run_name(run),
        passed: run.passed(),
        facts: vec![
            format!("seeded {} in {}", seeded.join(", "), seconds(run.seed_ms)),
            traffic_alone(run),
        ],
        stopped: run.stopped.clone(),
        violations: run
            .violations
            .iter()
            .map(|violation| violation.text.clone())
            .collect(),
        warnings: run.warnings.clone(),
        svg: timeline_svg(run, &rehearsal.limits),
        svg_file: timeline_file(run),
        steps: run
            .steps
            .iter()
            .map(|step| step_view(rehearsal, step))
            .collect(),
        not_run: (run.steps_not_run > 0).then(|| {
            format!(
                "{} of the migration's steps did not run.",
                format_count(run.steps_not_run as f64)
            )
        }),
        traffic: run
            .traffic
            .iter()
            .enumerate()
            .map(|(index, stream)| TrafficView {
                name: stream.name.clone(),
                sql: stream.sql.clone(),
                colour: super::timeline::stream_colour(index).to_owned(),
                rate: format!("{}/s", rate(stream.rate)),
                achieved: format!("{}/s", rate(stream.achieved_rate)),
                connections: stream.connections,
                started: match &stream.started_after {
                    Some(step) => format!("{}, after {step}", seconds(stream.started_ms)),
                    None => seconds(stream.started_ms),
                },
                executed: format_count(stream.executed as f64),
                failed: format_count(stream.failed as f64),
                any_failed: stream.failed > 0,
                rows: match &stream.table {
                    Some(table) => format!(
                        "{} in {table}",
                        format_count(stream.rows_acknowledged as f64)
                    ),
                    None => "-".into(),
                },
                p50: format_ms(stream.latency.p50_ms),
                p99: format_ms(stream.latency.p99_ms),
                max: format_ms(stream.latency.max_ms),
            })
            .collect(),
        failed_total: format_count(failed_statements(run) as f64),
        invariants: run
            .invariants
            .iter()
            .map(|invariant| InvariantView {
                name: invariant.name.clone(),
                expected: invariant.expected.clone(),
                actual: invariant.actual.clone(),
                held: invariant.held,
                sql: invariant.sql.clone(),
            })
            .collect(),
        sampler: sampler_text(&run.sampler),
    }
}

/// A rate per second with the precision its size needs.
fn rate(per_s: f64) -> String {
    match per_s {
        r if r >= 100.0 => format_count(r),
        r if r >= 10.0 => format!("{r:.1}"),
        r => format!("{r:.2}"),
    }
}

#[derive(Serialize)]
struct StepView {
    index: usize,
    summary: String,
    location: String,
    transaction: String,
    outside: bool,
    error: Option<String>,
    took: String,
    locks: Vec<LockView>,
    waited: String,
    stall: Option<StallView>,
    latency: String,
    failed: String,
    rows: String,
    over_limit: bool,
    explanation: Vec<String>,
    failures: Vec<String>,
    sql: String,
}

#[derive(Serialize)]
struct LockView {
    mode: String,
    relation: String,
    held: String,
    /// The mode blocks the traffic's writes.
    strong: bool,
    /// Known from the step's SQL only: the sampler did not see it.
    declared: bool,
}

#[derive(Serialize)]
struct StallView {
    stream: String,
    ms: String,
    over: bool,
    /// `behind reader`, `waiting for ROW EXCLUSIVE on workflow_runs`.
    detail: Vec<String>,
}

fn step_view(rehearsal: &Rehearsal, step: &StepOutcome) -> StepView {
    StepView {
        index: step.index,
        summary: step.summary.clone(),
        location: format!("{}:{}", step.file, step.line),
        transaction: step.transaction.clone(),
        outside: step.transaction.starts_with("outside"),
        error: step.error.clone(),
        took: format_ms(step.duration_ms()),
        locks: step
            .locks
            .iter()
            .map(|lock| LockView {
                mode: lock.mode.clone(),
                relation: lock.relation.clone(),
                held: held_text(lock),
                strong: blocks_writes(&lock.mode),
                declared: false,
            })
            .chain(unseen_locks(step).map(|lock| LockView {
                mode: lock.mode.clone(),
                relation: lock.relation.clone(),
                held: UNSEEN.to_owned(),
                strong: blocks_writes(&lock.mode),
                declared: true,
            }))
            .collect(),
        waited: match step.waited_ms > 0.0 {
            true if step.waited_for.is_empty() => format_ms(step.waited_ms),
            true => format!(
                "{} for {}",
                format_ms(step.waited_ms),
                step.waited_for.join(", ")
            ),
            false => "-".into(),
        },
        stall: step
            .longest_stall
            .as_ref()
            .map(|stall| stall_view(rehearsal, stall)),
        latency: match step.latency.count {
            0 => "-".into(),
            _ => latency_triple(
                step.latency.p50_ms,
                step.latency.p99_ms,
                step.latency.max_ms,
            ),
        },
        failed: format_count(step_failures(step) as f64),
        rows: step
            .rows
            .map_or("-".into(), |rows| format_count(rows as f64)),
        over_limit: step.over_limit,
        explanation: explanation(step),
        failures: failures(step),
        sql: step.sql.clone(),
    }
}

fn stall_view(rehearsal: &Rehearsal, stall: &Stall) -> StallView {
    StallView {
        stream: stall.stream.clone(),
        ms: format_ms(stall.stall_ms),
        over: stall.stall_ms > rehearsal.limits.max_stall_ms,
        detail: stall
            .first_in_queue
            .iter()
            .map(|head| format!("behind {head}"))
            .chain(
                stall
                    .waited_for_lock
                    .iter()
                    .map(|lock| format!("waiting for {lock}")),
            )
            .collect(),
    }
}

/// The step's sentences, the first [`EXPLANATIONS_SHOWN`], the rest counted.
fn explanation(step: &StepOutcome) -> Vec<String> {
    let mut explanation: Vec<String> = step
        .explanation
        .iter()
        .take(EXPLANATIONS_SHOWN)
        .map(|sentence| one_line(sentence))
        .collect();
    if step.explanation.len() > EXPLANATIONS_SHOWN {
        explanation.push(format!(
            "(And {} more sentences in rehearsal.json.)",
            step.explanation.len() - EXPLANATIONS_SHOWN
        ));
    }
    explanation
}

/// The step's kinds of traffic failure, the first [`FAILURES_SHOWN`], the rest
/// counted.
fn failures(step: &StepOutcome) -> Vec<String> {
    let mut failures: Vec<String> = step
        .failures
        .iter()
        .take(FAILURES_SHOWN)
        .map(|failure| {
            format!(
                "{} ×{} from {}: {}",
                failure.stream,
                format_count(failure.count as f64),
                seconds(failure.at_ms),
                one_line(&failure.error)
            )
        })
        .collect();
    if step.failures.len() > FAILURES_SHOWN {
        let rest = &step.failures[FAILURES_SHOWN..];
        failures.push(format!(
            "and {} more errors ({} statements)",
            rest.len(),
            format_count(rest.iter().map(|failure| failure.count).sum::<u64>() as f64)
        ));
    }
    failures
}

#[derive(Serialize)]
struct TrafficView {
    name: String,
    sql: String,
    colour: String,
    rate: String,
    achieved: String,
    connections: u32,
    started: String,
    executed: String,
    failed: String,
    any_failed: bool,
    rows: String,
    p50: String,
    p99: String,
    max: String,
}

#[derive(Serialize)]
struct InvariantView {
    name: String,
    expected: String,
    actual: String,
    held: bool,
    sql: String,
}

#[derive(Serialize)]
struct GrowthView {
    migration: String,
    scales: Vec<String>,
    rows: Vec<GrowthRow>,
    sentences: Vec<String>,
}

#[derive(Serialize)]
struct GrowthRow {
    step: usize,
    summary: String,
    durations: Vec<String>,
    exponent: String,
    super_linear: bool,
}

fn growth_view(rehearsal: &Rehearsal, migration: &str) -> Option<GrowthView> {
    let scales = scales(rehearsal);
    let rows: Vec<_> = rehearsal
        .growth
        .iter()
        .filter(|growth| growth.migration == migration)
        .collect();
    if rows.is_empty() {
        return None;
    }
    Some(GrowthView {
        migration: migration.to_owned(),
        scales: scales
            .iter()
            .map(|scale| format_count(*scale as f64))
            .collect(),
        rows: rows
            .iter()
            .map(|growth| GrowthRow {
                step: growth.step,
                summary: growth.summary.clone(),
                durations: scales
                    .iter()
                    .map(|scale| {
                        growth
                            .scales
                            .iter()
                            .position(|at| at == scale)
                            .and_then(|position| growth.durations_ms.get(position))
                            .map_or("-".into(), |ms| format_ms(*ms))
                    })
                    .collect(),
                exponent: exponent_text(growth),
                super_linear: growth.super_linear,
            })
            .collect(),
        sentences: rows
            .iter()
            .filter_map(|growth| {
                growth_words(growth)
                    .map(|words| format!("Step {} ({}) {words}.", growth.step, growth.summary))
            })
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::super::sample;
    use super::*;

    /// The page's text without its charts, one element a line: what a reader sees,
    /// not the bytes of the SVG (which the timeline's own snapshot holds).
    fn outline(html: &str) -> String {
        let mut text = String::new();
        let mut rest = html;
        while let Some(start) = rest.find("<svg") {
            text.push_str(&rest[..start]);
            text.push_str("<svg …/>");
            let end = rest[start..].find("</svg>").expect("an svg ends") + start;
            rest = &rest[end + "</svg>".len()..];
        }
        text.push_str(rest);
        let body = &text[text.find("<body>").expect("a body")..];
        // Lines keep their spaces: a step's SQL is shown as written.
        body.lines()
            .filter(|line| !line.trim().is_empty())
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn the_sample_rehearsal_page_outside_its_charts() {
        insta::assert_snapshot!(outline(&render(&sample::rehearsal())));
    }

    #[test]
    fn the_page_inlines_every_timeline_and_the_steps_sql() {
        let rehearsal = sample::rehearsal();
        let page = render(&rehearsal);
        assert_eq!(page.matches("<svg").count(), rehearsal.runs.len());
        assert!(page.contains("<details class=\"raw\"><summary>SQL of step 3"));
        assert!(page.contains("ALTER COLUMN priority SET NOT NULL;</pre>"));
        // Nothing is fetched: no stylesheet, script, image or font from elsewhere (the
        // SVG namespace is a name, not a fetch).
        for fetch in ["<link", "<script", "<img", "src=", "url(http", "@import"] {
            assert!(!page.contains(fetch), "the page fetches with {fetch}");
        }
    }

    #[test]
    fn text_from_the_run_is_escaped() {
        let mut rehearsal = sample::rehearsal();
        rehearsal.runs[0].steps[0].summary = "<script>alert(1)</script>".to_owned();
        let page = render(&rehearsal);
        // In the tables (minijinja) and in the chart's tooltips (the SVG's own escaping).
        assert!(!page.contains("<script"));
        assert!(page.contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt;"));
        assert!(page.contains("step 1: &lt;script&gt;alert(1)&lt;/script&gt;"));
    }

    #[test]
    fn the_page_lists_a_lock_the_steps_sql_takes_but_the_sampler_did_not_see() {
        let page = render(&sample::unseen_add_column());
        assert!(
            page.contains(
                "<div class=\"lock strong declared\"><span class=\"mode\">ACCESS EXCLUSIVE</span> <code>workflow_runs</code> by its SQL, not seen</div>"
            ),
            "{}",
            outline(&page)
        );
    }
}
