//! The terminal summary: three tables (queries, checks, phases), coloured only when
//! the caller says colour is wanted.

use comfy_table::{Cell, Color, ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};

use crate::checks::{format_count, format_ms};
use crate::run::ScenarioRun;

/// The summary of one run, for stdout.
pub fn render(run: &ScenarioRun, colour: bool, width: Option<u16>) -> String {
    let verdict_cell = |passed: bool| {
        let cell = Cell::new(if passed { "PASS" } else { "FAIL" });
        match (colour, passed) {
            (false, _) => cell,
            (true, true) => cell.fg(Color::Green),
            (true, false) => cell.fg(Color::Red),
        }
    };
    let new_table = |header: Vec<&str>| {
        let mut table = Table::new();
        table
            .load_style(UTF8_FULL_CONDENSED)
            .set_content_arrangement(ContentArrangement::Dynamic);
        if let Some(width) = width {
            table.set_width(width);
        }
        if !colour {
            table.force_no_tty();
        }
        table.set_header(header);
        table
    };

    let mut queries = new_table(vec![
        "query",
        "access path",
        "rows examined",
        "rows returned",
        "buffers hit/read",
        "EXPLAIN ANALYZE",
        "median (runs)",
    ]);
    for query in &run.evidence.queries {
        let plan = &query.plan;
        let (hit, read) = plan.buffers();
        queries.add_row(vec![
            Cell::new(&query.name),
            Cell::new(plan.access_path().join("\n")),
            Cell::new(format_count(plan.rows_examined())),
            Cell::new(format_count(plan.rows_returned())),
            Cell::new(format!(
                "{} / {}",
                format_count(hit as f64),
                format_count(read as f64)
            )),
            Cell::new(format_ms(plan.execution_ms)),
            Cell::new(format!(
                "{} ({})",
                format_ms(query.timing.median_ms()),
                query.timing.samples_ms.len()
            )),
        ]);
    }

    let mut checks = new_table(vec!["check", "subject", "verdict", "detail"]);
    for verdict in &run.verdicts {
        let mut detail = verdict.summary.clone();
        for finding in &verdict.findings {
            detail.push_str(&format!("\n• {} at {}", finding.node_label, finding.node));
        }
        checks.add_row(vec![
            Cell::new(verdict.check),
            Cell::new(&verdict.subject),
            verdict_cell(verdict.passed),
            Cell::new(detail),
        ]);
    }

    let mut phases = new_table(vec!["phase", "time"]);
    let mut total = 0.0;
    for phase in &run.phases {
        total += phase.ms;
        phases.add_row(vec![Cell::new(&phase.name), Cell::new(format_ms(phase.ms))]);
    }
    phases.add_row(vec![Cell::new("total"), Cell::new(format_ms(total))]);

    let status = if run.passed() {
        "all checks passed"
    } else {
        "CHECKS FAILED"
    };
    format!(
        "scenario {} — {status}\n{} runs, seed {}, target {} ({} runs), PostgreSQL {} on {}\n{queries}\n{checks}\n{phases}\n",
        run.scenario,
        format_count(run.scale as f64),
        run.seeded.seed,
        run.target.name,
        format_count(run.target.runs as f64),
        run.environment.server_version,
        run.environment.backend,
    )
}
