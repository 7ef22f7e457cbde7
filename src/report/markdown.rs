//! `report.md`: the report for a pull-request comment. Verdicts first (the variant
//! matrix as one table when there is one), then the evidence a reviewer needs to
//! believe them: each check's expectation, the queries' figures, the plans in
//! `<details>`, the data's shape and the server. Never longer than GitHub's comment
//! limit: when the whole report would not fit, the least needed parts (plans first)
//! are left out, and a note says what was cut and where the rest is.

use std::fmt::Write;

use super::Exporter;
use super::comment;
use super::document::{CheckReport, QueryReport, Report, VariantReport};
use super::plan_tree;
use crate::format::{format_budget, format_bytes, format_count, format_ms};
use crate::outcome::EstimateMethod;
use crate::outcome::Expect;
use crate::outcome::stability::Stability;
use crate::outcome::sweep::{Sweep, variant_label};
use crate::plan::Plan;

pub use super::comment::MAX_CHARS;

/// Writes `report.md`.
pub struct Markdown;

impl Exporter for Markdown {
    fn name(&self) -> &'static str {
        "markdown"
    }

    fn files(&self, report: &Report) -> Vec<(String, String)> {
        vec![("report.md".to_owned(), render(report))]
    }
}

/// How much a part of the report is needed: the verdicts always, the plans least.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Need {
    Verdict,
    Checks,
    Figures,
    Context,
    Plan,
}

impl comment::Need for Need {
    fn words(self) -> (&'static str, &'static str) {
        match self {
            Need::Verdict => ("matrix row", "matrix rows"),
            Need::Checks => ("variant's checks", "variants' checks"),
            Need::Figures => ("query table", "query tables"),
            Need::Context => (
                "dataset or environment section",
                "dataset and environment sections",
            ),
            Need::Plan => ("plan", "plans"),
        }
    }
}

type Block = comment::Block<Need>;

/// `report.md`'s text.
pub fn render(report: &Report) -> String {
    let mut blocks = vec![Block {
        need: Need::Verdict,
        text: header(report),
    }];
    if report.has_variants() {
        matrix(&mut blocks, report);
    }
    let growth_summary = report.sweep.as_ref().map(|sweep| Block {
        need: Need::Checks,
        text: growth(sweep),
    });
    // With a matrix the sweep's summary follows the matrix; without, the checks.
    let mut growth_summary = match report.has_variants() {
        true => {
            blocks.extend(growth_summary);
            None
        }
        false => growth_summary,
    };
    for variant in &report.variants {
        let mut text = String::new();
        if report.has_variants() {
            let _ = writeln!(text, "\n### Variant {}\n", variant.label());
        }
        checks(&mut text, variant);
        blocks.push(Block {
            need: Need::Checks,
            text,
        });
        blocks.extend(growth_summary.take());
        blocks.push(Block {
            need: Need::Figures,
            text: queries(report, variant),
        });
        for query in &variant.queries {
            blocks.push(Block {
                need: Need::Plan,
                text: plan(report, query),
            });
        }
    }
    if let Some(stability) = &report.stability {
        blocks.push(Block {
            need: Need::Checks,
            text: stability_table(report, stability),
        });
    }
    if let Some(sweep) = &report.sweep {
        blocks.push(Block {
            need: Need::Figures,
            text: growth_details(sweep),
        });
    }
    blocks.push(Block {
        need: Need::Context,
        text: dataset(report),
    });
    blocks.push(Block {
        need: Need::Context,
        text: environment(report),
    });
    fit(blocks)
}

fn fit(blocks: Vec<Block>) -> String {
    comment::fit(
        blocks,
        &[
            Need::Plan,
            Need::Context,
            Need::Figures,
            Need::Checks,
            Need::Verdict,
        ],
        "The whole report is in `report.html` and `report.json`",
    )
}

fn mark(passed: bool) -> &'static str {
    if passed { "✅ pass" } else { "❌ fail" }
}

fn header(report: &Report) -> String {
    format!(
        "## plancheck · `{}` · {}\n\n{}\n\n",
        report.scenario,
        mark(report.passed),
        report.description.trim()
    )
}

/// One row per variant: its verdict, and each query's rows examined and median.
fn matrix(blocks: &mut Vec<Block>, report: &Report) {
    let names: Vec<&str> = report.variants[0]
        .queries
        .iter()
        .map(|query| query.name.as_str())
        .collect();
    let mut head = String::from("| Variant | Verdict | Checks |");
    for name in &names {
        let _ = write!(head, " `{name}` rows examined | `{name}` median (runs) |");
    }
    let _ = writeln!(head, "\n|---|---|--:|{}", "--:|--:|".repeat(names.len()));
    blocks.push(Block {
        need: Need::Verdict,
        text: head,
    });
    for variant in &report.variants {
        let mut row = format!(
            "| {} | {} | {} |",
            variant.label(),
            mark(variant.passed),
            variant.tally()
        );
        for name in &names {
            match variant.query(name) {
                Some(query) => {
                    let _ = write!(
                        row,
                        " {} | {} |",
                        rows_examined(query),
                        super::median_text(report, query)
                    );
                }
                None => row.push_str(" - | - |"),
            }
        }
        row.push('\n');
        blocks.push(Block {
            need: Need::Verdict,
            text: row,
        });
    }
}

/// The sweep: each fit in words with its spread, every plan shape per scale (so a
/// plan that changes between scales is seen), and the flip search.
/// The sweep in short: each fit in words with its spread, and where the plan flips.
fn growth(sweep: &Sweep) -> String {
    let scales: Vec<String> = sweep
        .scales
        .iter()
        .map(|scale| format_count(*scale as f64))
        .collect();
    let mut md = format!(
        "\n### Growth across scales\n\nSeeded afresh at {} rows of `{}` (seed {}); slopes fitted on log-log axes, ± half the 95% interval.\n\n| Query | Measure | Slope | 95% interval | r² | Scales | Reads as |\n|---|---|--:|--:|--:|--:|---|\n",
        scales.join(" / "),
        sweep.scale_table,
        sweep.seed
    );
    for fit in &sweep.fits {
        let query = match fit.variant.is_empty() {
            true => format!("`{}`", fit.query),
            false => format!("`{}` ({})", fit.query, variant_label(&fit.variant)),
        };
        let interval = fit.interval.map_or("unknown".to_owned(), |[low, high]| {
            format!("{low:.2} … {high:.2}")
        });
        let r_squared = fit.r_squared.map_or("-".to_owned(), |r| format!("{r:.3}"));
        let _ = writeln!(
            md,
            "| {query} | {} | {:.2} | {interval} | {r_squared} | {} | {} |",
            fit.measure.words(),
            fit.slope,
            fit.points,
            cell_text(&fit.sentence())
        );
    }
    if let Some(flip) = &sweep.flip {
        let _ = writeln!(
            md,
            "\n**Where the plan flips:** {}.",
            flip.sentence(&sweep.scale_table)
        );
        if let Some(min_scale) = flip.min_scale_sentence() {
            let _ = writeln!(md, "\n{min_scale}.");
        }
    }
    md
}

/// The plans each query took over the stability rounds: one row per distinct plan.
fn stability_table(report: &Report, stability: &Stability) -> String {
    let mut md = format!("\n#### Plan stability: {}\n", stability.heading());
    let _ = writeln!(
        md,
        "\n| Query | Schema | Variant | Plan shape | Rounds | Flagged |\n|---|---|---|---|--:|---|"
    );
    for cell in &stability.cells {
        for query in &cell.queries {
            for shape in &query.shapes {
                let _ = writeln!(
                    md,
                    "| `{}` | {} | {} | {} | {} of {} | {} |",
                    query.query,
                    super::schema_state(report, &query.query),
                    match cell.variant.is_empty() {
                        true => "-".to_owned(),
                        false => variant_label(&cell.variant),
                    },
                    cell_text(&shape.shape),
                    shape.rounds,
                    stability.rounds,
                    match shape.flagged() {
                        true => format!("⚑ {}", cell_text(&shape.flags.join("; "))),
                        false => "-".to_owned(),
                    },
                );
            }
        }
    }
    md
}

/// The sweep's evidence: every plan shape per scale (so a plan that changes between
/// scales is seen) and every scale the flip search looked at.
fn growth_details(sweep: &Sweep) -> String {
    let mut md = String::from("\n#### Growth: each scale\n");
    let _ = writeln!(
        md,
        "\n| Scale | Variant | Query | Plan shape | Rows examined | Buffers | Median ± spread |\n|--:|---|---|---|--:|--:|--:|"
    );
    for at in &sweep.points {
        for cell in &at.cells {
            for point in &cell.queries {
                let time = point.time_text();
                let _ = writeln!(
                    md,
                    "| {} | {} | `{}` | {}{} | {} | {} | {time} |",
                    format_count(at.scale as f64),
                    match cell.variant.is_empty() {
                        true => "-".to_owned(),
                        false => variant_label(&cell.variant),
                    },
                    point.query,
                    cell_text(&point.shape),
                    if point.flagged { " ⚑" } else { "" },
                    point.rows_examined.map_or("-".to_owned(), format_count),
                    point
                        .buffers
                        .map_or("-".to_owned(), |buffers| format_count(buffers as f64)),
                );
            }
        }
    }
    md.push_str("\n⚑: a plan check found its problem in this plan.\n");
    for line in sweep.shape_changes() {
        let _ = writeln!(md, "\n- {}", cell_text(&line));
    }
    if let Some(flip) = &sweep.flip {
        let _ = writeln!(
            md,
            "\n| Scale | Shows the regression | `{}` plan shape |\n|--:|---|---|",
            flip.query
        );
        let mut probes: Vec<_> = flip.probes.iter().collect();
        probes.sort_by_key(|probe| probe.scale);
        for probe in probes {
            let shapes: Vec<String> = probe
                .shapes
                .iter()
                .map(|shape| match shape.variant.is_empty() {
                    true => shape.shape.clone(),
                    false => format!("{}: {}", variant_label(&shape.variant), shape.shape),
                })
                .collect();
            let _ = writeln!(
                md,
                "| {} | {} | {} |",
                format_count(probe.scale as f64),
                if probe.regressed { "yes" } else { "no" },
                cell_text(&shapes.join(" · "))
            );
        }
    }
    md
}

/// What a check required, in the words of its `expect`.
fn expectation(check: &CheckReport) -> &'static str {
    match check.expect {
        Some(Expect::Present) => "present",
        Some(Expect::Absent) => "absent",
        None => "-",
    }
}

fn checks(md: &mut String, variant: &VariantReport) {
    let _ = writeln!(
        md,
        "| Check | Subject | Expect | Verdict | Detail |\n|---|---|---|---|---|"
    );
    for check in &variant.checks {
        let _ = writeln!(
            md,
            "| `{}` | {} | {} | {} | {} |",
            check.check,
            check.subject,
            expectation(check),
            match check.judged {
                true => mark(check.passed),
                false => "➖ not judged",
            },
            cell_text(&check.summary)
        );
    }
    let findings: Vec<_> = variant
        .checks
        .iter()
        .flat_map(|check| &check.findings)
        .collect();
    if !findings.is_empty() {
        let _ = writeln!(md, "\nFindings:\n");
        for finding in findings {
            let _ = writeln!(
                md,
                "- **{}** at `{}` ({}): {}",
                finding.query, finding.node_label, finding.node, finding.message
            );
        }
    }
    for pick in &variant.picks {
        let columns: Vec<String> = pick
            .columns
            .iter()
            .map(|(name, value)| format!("{name} `{}`", cell_text(&text_of(value))))
            .collect();
        let _ = writeln!(md, "\nPick `{}`: {}.", pick.name, columns.join(", "));
    }
}

fn queries(report: &Report, variant: &VariantReport) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "\n#### Queries\n");
    let _ = writeln!(
        md,
        "| Query | Schema | Access path | Rows examined | Rows returned | Buffers hit / read | EXPLAIN ANALYZE | Median (runs) |\n|---|---|---|--:|--:|--:|--:|--:|"
    );
    for query in &variant.queries {
        let (returned, buffers) = match (query.shared_hit_blocks, query.shared_read_blocks) {
            (Some(hit), Some(read)) => (
                format_count(query.rows_returned),
                format!(
                    "{} / {}",
                    format_count(hit as f64),
                    format_count(read as f64)
                ),
            ),
            _ => (
                format!("~{} (estimated)", format_count(query.rows_returned)),
                "-".to_owned(),
            ),
        };
        let _ = writeln!(
            md,
            "| `{}` | {} | {} | {} | {returned} | {buffers} | {} | {} |",
            query.name,
            query.schema_state,
            cell_text(&query.access_path.join("; ")),
            rows_examined(query),
            super::execution_text(report, query),
            super::median_text(report, query),
        );
    }
    md
}

/// Rows examined, which only a plan that ran can tell.
fn rows_examined(query: &QueryReport) -> String {
    match query.rows_examined {
        Some(rows) => format_count(rows),
        None => "- (estimated plan)".into(),
    }
}

fn plan(report: &Report, query: &QueryReport) -> String {
    let params = if query.params.is_empty() {
        String::new()
    } else {
        format!("; parameters: {}", query.params.join(", "))
    };
    let estimated = match (
        super::timed_out_text(report, query),
        query.analyze_cancelled_after_ms,
        query.plan.as_str(),
    ) {
        (_, _, "analyzed") => String::new(),
        (Some(timed_out), _, _) => {
            format!("; estimated plan (EXPLAIN without ANALYZE): {timed_out}")
        }
        (None, Some(limit_ms), _) => format!(
            "; estimated plan (EXPLAIN without ANALYZE): EXPLAIN ANALYZE did not finish within {} (even with TIMING OFF), though the query itself finished within the time budget",
            format_budget(std::time::Duration::from_millis(limit_ms))
        ),
        (None, None, _) => "; estimated plan (EXPLAIN without ANALYZE)".into(),
    };
    let tree = match Plan::from_explain_text(&query.explain) {
        Ok(plan) => plan_tree::render(&plan),
        Err(error) => format!("(the saved plan does not parse: {error})\n"),
    };
    format!(
        "\n<details><summary>Plan of <code>{}</code> ({}{params}{estimated})</summary>\n\n```\n{tree}```\n\nRaw plan: `{}`\n</details>\n",
        query.name, query.file, query.plan_file,
    )
}

fn dataset(report: &Report) -> String {
    let mut md = String::new();
    let dataset = &report.dataset;
    let _ = writeln!(md, "\n### Dataset\n");
    let _ = writeln!(
        md,
        "Seed {} · scale {} rows of `{}` · data as of {} · dataset `{}`\n",
        report.seed,
        format_count(report.scale as f64),
        report.scale_table,
        as_of(&dataset.as_of),
        dataset.dataset_file
    );
    let _ = writeln!(md, "| Table | Rows | Heap | Indexes |\n|---|--:|--:|--:|");
    for table in &dataset.tables {
        let _ = writeln!(
            md,
            "| `{}` | {} | {} MiB | {} MiB |",
            table.name,
            format_count(table.rows as f64),
            format_count(table.table_bytes as f64 / 1_048_576.0),
            format_count(table.index_bytes as f64 / 1_048_576.0)
        );
    }
    if let Some(check) = &dataset.size_check {
        let seeded_bytes: i64 = dataset
            .tables
            .iter()
            .map(|table| table.table_bytes + table.index_bytes)
            .sum();
        let available = check.available_bytes.map_or(String::new(), |bytes| {
            format!(
                " {} was {}.",
                format_bytes(bytes as f64),
                check.checked_against
            )
        });
        let _ = writeln!(
            md,
            "\nSize: {} seeded; {} estimated before seeding ({}), {} needed while seeding.{available}",
            format_bytes(seeded_bytes as f64),
            format_bytes(check.estimated_bytes as f64),
            match check.method {
                EstimateMethod::UpperBound => "an upper bound from rows generated in memory",
                EstimateMethod::Sample => "from a seeded sample",
            },
            format_bytes(check.required_bytes as f64),
        );
    }
    if let Some(cache) = &dataset.cache {
        let _ = writeln!(md, "\nData: {}.", cache.describe());
    }
    let mut seen = Vec::new();
    for variant in &report.variants {
        let Some(target) = &variant.target else {
            continue;
        };
        let key = (&target.table, &target.group, target.index);
        if seen.contains(&key) {
            continue;
        }
        seen.push(key);
        let group = target.group.as_ref().map_or(String::new(), |group| {
            format!(
                " of group `{group}` ({} rows)",
                format_count(target.group_rows as f64)
            )
        });
        let columns: Vec<String> = target
            .columns
            .iter()
            .take(4)
            .map(|(name, value)| format!("{name} `{}`", cell_text(&text_of(value))))
            .collect();
        let _ = writeln!(
            md,
            "\nTarget: row {} of `{}`{group}: {}.",
            target.index,
            target.table,
            columns.join(", ")
        );
    }
    md
}

/// `2026-06-01 00:00 UTC` from the document's RFC 3339 instant.
pub(super) fn as_of(instant: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(instant).map_or_else(
        |_| instant.to_owned(),
        |time| {
            time.with_timezone(&chrono::Utc)
                .format("%Y-%m-%d %H:%M UTC")
                .to_string()
        },
    )
}

fn environment(report: &Report) -> String {
    let mut md = String::new();
    let server = &report.server;
    let host = &report.host;
    let _ = writeln!(md, "\n### Environment\n");
    let _ = writeln!(
        md,
        "PostgreSQL {} on the {} backend · {} cores, {} MiB, {} · {}",
        server.version,
        server.backend_text(),
        host.cores,
        format_count(host.memory_mib as f64),
        host.cpu,
        host.os
    );
    let _ = writeln!(
        md,
        "\nTime budget per run of a measured query: {}",
        format_budget(super::budget(report))
    );
    if let Some(note) = &server.backend_note {
        let _ = writeln!(md, "\n{note}");
    }
    for note in &server.notes {
        let _ = writeln!(md, "\n⚠️ {note}");
    }
    let _ = writeln!(
        md,
        "\n<details><summary>Non-default settings ({})</summary>\n\n| Setting | Value | Source |\n|---|---|---|",
        server.settings.len()
    );
    for setting in &server.settings {
        let _ = writeln!(
            md,
            "| `{}` | `{}` | {} |",
            setting.name,
            cell_text(&setting.value),
            setting.source
        );
    }
    let _ = writeln!(md, "</details>");
    let _ = writeln!(md, "\n### Timings\n\n| Phase | Time |\n|---|--:|");
    for phase in &report.phases_ms {
        let _ = writeln!(md, "| {} | {} |", phase.phase, format_ms(phase.ms));
    }
    md
}

/// A JSON value of the document as text: strings without their quotes.
fn text_of(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// Makes text safe inside a Markdown table cell.
pub(crate) fn cell_text(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}
