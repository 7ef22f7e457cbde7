//! The terminal summary: per variant, a table of queries and one of checks, then the
//! phases; coloured only when the caller says colour is wanted.

use comfy_table::{
    Cell as TableCell, Color, ContentArrangement, Table, presets::UTF8_FULL_CONDENSED,
};

use crate::judge::{format_count, format_ms};
use crate::outcome::{Cell, Outcome, format_budget};

/// The summary of one run, for stdout.
pub fn render(outcome: &Outcome, colour: bool, width: Option<u16>) -> String {
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
    let status = if outcome.passed() {
        "all checks passed"
    } else {
        "CHECKS FAILED"
    };
    let mut text = format!(
        "scenario {} — {status}\n{} rows of {}, seed {}, PostgreSQL {} on {}, time budget {}\n",
        outcome.scenario,
        format_count(outcome.seeded.scale as f64),
        outcome.seeded.scale_table,
        outcome.seeded.seed,
        outcome.environment.server_version,
        outcome.environment.backend,
        format_budget(outcome.time_budget),
    );
    for note in &outcome.environment.notes {
        text.push_str(&format!("note: {note}\n"));
    }
    for cell in &outcome.cells {
        if outcome.has_variants() {
            text.push_str(&format!("variant {}\n", cell.label()));
        }
        text.push_str(&format!(
            "{}\n{}\n",
            queries(cell, &new_table),
            checks(cell, colour, &new_table)
        ));
    }
    let mut phases = new_table(vec!["phase", "time"]);
    let mut total = 0.0;
    for phase in &outcome.phases {
        total += phase.ms;
        phases.add_row(vec![
            TableCell::new(&phase.name),
            TableCell::new(format_ms(phase.ms)),
        ]);
    }
    phases.add_row(vec![
        TableCell::new("total"),
        TableCell::new(format_ms(total)),
    ]);
    text.push_str(&format!("{phases}\n"));
    text
}

fn queries(cell: &Cell, new_table: &dyn Fn(Vec<&str>) -> Table) -> Table {
    let mut table = new_table(vec![
        "query",
        "access path",
        "rows examined",
        "rows returned",
        "buffers hit/read",
        "EXPLAIN ANALYZE",
        "median (runs)",
    ]);
    for query in &cell.evidence.queries {
        let plan = &query.plan;
        let (hit, read) = plan.buffers();
        let mut name = query.name.clone();
        if query.state == crate::outcome::SchemaState::After {
            name.push_str(" (after)");
        }
        let counts = if plan.analyzed {
            [
                format_count(plan.rows_examined()),
                format_count(plan.rows_returned()),
                format!(
                    "{} / {}",
                    format_count(hit as f64),
                    format_count(read as f64)
                ),
            ]
        } else {
            name.push_str("\n(estimated plan)");
            [
                "-".into(),
                format!("~{} (est.)", format_count(plan.root.plan_rows)),
                "-".into(),
            ]
        };
        let [examined, returned, buffers] = counts;
        table.add_row(vec![
            TableCell::new(name),
            TableCell::new(plan.access_path().join("\n")),
            TableCell::new(examined),
            TableCell::new(returned),
            TableCell::new(buffers),
            TableCell::new(super::execution_text(query)),
            TableCell::new(super::median_text(query)),
        ]);
    }
    table
}

fn checks(cell: &Cell, colour: bool, new_table: &dyn Fn(Vec<&str>) -> Table) -> Table {
    let mut table = new_table(vec!["check", "subject", "verdict", "detail"]);
    for verdict in &cell.verdicts {
        let mut detail = verdict.summary.clone();
        for finding in &verdict.findings {
            detail.push_str(&format!("\n• {} at {}", finding.node_label, finding.node));
        }
        let mark = TableCell::new(if verdict.passed { "PASS" } else { "FAIL" });
        let mark = match (colour, verdict.passed) {
            (false, _) => mark,
            (true, true) => mark.fg(Color::Green),
            (true, false) => mark.fg(Color::Red),
        };
        table.add_row(vec![
            TableCell::new(verdict.check),
            TableCell::new(&verdict.subject),
            mark,
            TableCell::new(detail),
        ]);
    }
    table
}
