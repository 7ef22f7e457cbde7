//! The terminal summary: per variant, a table of queries and one of checks, then the
//! phases; coloured only when the caller says colour is wanted.

use comfy_table::{
    Cell as TableCell, Color, ContentArrangement, Table, presets::UTF8_FULL_CONDENSED,
};

use super::document::{Report, VariantReport};
use crate::format::format_budget;
use crate::format::{format_count, format_ms};

/// The summary of one run, for stdout.
pub fn render(report: &Report, colour: bool, width: Option<u16>) -> String {
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
    let status = if report.passed {
        "all checks passed"
    } else {
        "CHECKS FAILED"
    };
    let mut text = format!(
        "scenario {} — {status}\n{} rows of {}, seed {}, PostgreSQL {} on {}, time budget {}\n",
        report.scenario,
        format_count(report.scale as f64),
        report.scale_table,
        report.seed,
        report.server.version,
        report.server.backend_text(),
        format_budget(super::budget(report)),
    );
    for note in &report.server.notes {
        text.push_str(&format!("note: {note}\n"));
    }
    for variant in &report.variants {
        if report.has_variants() {
            text.push_str(&format!("variant {}\n", variant.label()));
        }
        text.push_str(&format!(
            "{}\n{}\n",
            queries(report, variant, &new_table),
            checks(variant, colour, &new_table)
        ));
    }
    let mut phases = new_table(vec!["phase", "time"]);
    let mut total = 0.0;
    for phase in &report.phases_ms {
        total += phase.ms;
        phases.add_row(vec![
            TableCell::new(&phase.phase),
            TableCell::new(format_ms(phase.ms)),
        ]);
    }
    phases.add_row(vec![
        TableCell::new("total"),
        TableCell::new(format_ms(total)),
    ]);
    text.push_str(&format!("{phases}\n"));
    if let Some(cache) = &report.dataset.cache {
        text.push_str(&format!("data: {}\n", cache.describe()));
    }
    text
}

fn queries(
    report: &Report,
    variant: &VariantReport,
    new_table: &dyn Fn(Vec<&str>) -> Table,
) -> Table {
    let mut table = new_table(vec![
        "query",
        "access path",
        "rows examined",
        "rows returned",
        "buffers hit/read",
        "EXPLAIN ANALYZE",
        "median (runs)",
    ]);
    for query in &variant.queries {
        let mut name = query.name.clone();
        if query.schema_state == "after" {
            name.push_str(" (after)");
        }
        let counts = match (
            query.rows_examined,
            query.shared_hit_blocks,
            query.shared_read_blocks,
        ) {
            (Some(examined), Some(hit), Some(read)) => [
                format_count(examined),
                format_count(query.rows_returned),
                format!(
                    "{} / {}",
                    format_count(hit as f64),
                    format_count(read as f64)
                ),
            ],
            _ => {
                name.push_str("\n(estimated plan)");
                [
                    "-".into(),
                    format!("~{} (est.)", format_count(query.rows_returned)),
                    "-".into(),
                ]
            }
        };
        let [examined, returned, buffers] = counts;
        table.add_row(vec![
            TableCell::new(name),
            TableCell::new(query.access_path.join("\n")),
            TableCell::new(examined),
            TableCell::new(returned),
            TableCell::new(buffers),
            TableCell::new(super::execution_text(report, query)),
            TableCell::new(super::median_text(report, query)),
        ]);
    }
    table
}

fn checks(variant: &VariantReport, colour: bool, new_table: &dyn Fn(Vec<&str>) -> Table) -> Table {
    let mut table = new_table(vec!["check", "subject", "verdict", "detail"]);
    for check in &variant.checks {
        let mut detail = check.summary.clone();
        for finding in &check.findings {
            detail.push_str(&format!("\n• {} at {}", finding.node_label, finding.node));
        }
        let mark = TableCell::new(match (check.judged, check.passed) {
            (false, _) => "NOT JUDGED",
            (true, true) => "PASS",
            (true, false) => "FAIL",
        });
        let mark = match (colour, check.judged, check.passed) {
            (false, _, _) | (true, false, _) => mark,
            (true, true, true) => mark.fg(Color::Green),
            (true, true, false) => mark.fg(Color::Red),
        };
        table.add_row(vec![
            TableCell::new(&check.check),
            TableCell::new(&check.subject),
            mark,
            TableCell::new(detail),
        ]);
    }
    table
}

/// The summary of a rehearsal, for stdout: one row per migration and scale with its
/// worst stall and what broke, then each broken limit or invariant.
pub fn rehearsal(rehearsal: &crate::outcome::rehearsal::Rehearsal) -> String {
    let mut table = Table::new();
    table
        .load_style(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .force_no_tty()
        .set_header(vec![
            "migration",
            "rows",
            "steps",
            "took",
            "worst stall",
            "failed",
            "invariants",
            "verdict",
        ]);
    for run in &rehearsal.runs {
        table.add_row(rehearsal_row(run));
    }
    let mut text = format!(
        "rehearsal {} — {}\nseed {}, PostgreSQL {} on {}; stall limit {}, failed statements allowed {}\n{table}\n",
        rehearsal.scenario,
        match rehearsal.passed() {
            true => "every limit and invariant held",
            false => "LIMITS OR INVARIANTS BROKEN",
        },
        rehearsal.seed,
        rehearsal.server_version,
        rehearsal.backend,
        format_ms(rehearsal.limits.max_stall_ms),
        rehearsal.limits.failed_statements,
    );
    text.push_str(&rehearsal_findings(rehearsal));
    text
}

/// One run's row of the rehearsal's table.
fn rehearsal_row(run: &crate::outcome::rehearsal::MigrationRun) -> Vec<String> {
    let worst = crate::report::rehearsal::worst_stall(run);
    let took: f64 = run.steps.iter().map(|step| step.duration_ms()).sum();
    vec![
        match run.repetition {
            Some(repetition) => format!("{} (run {repetition})", run.migration),
            None => run.migration.clone(),
        },
        format_count(run.scale as f64),
        format!(
            "{}/{}",
            run.steps.len(),
            run.steps.len() + run.steps_not_run
        ),
        format_ms(took),
        worst.map_or("-".into(), |(step, stall)| {
            format!(
                "{} ({}, step {})",
                format_ms(stall.stall_ms),
                stall.stream,
                step.index
            )
        }),
        run.traffic
            .iter()
            .map(|stream| stream.failed)
            .sum::<u64>()
            .to_string(),
        format!(
            "{}/{} held",
            run.invariants
                .iter()
                .filter(|invariant| invariant.held)
                .count(),
            run.invariants.len()
        ),
        match (run.passed(), &run.stopped) {
            (_, Some(_)) => "stopped".into(),
            (true, None) => "passed".into(),
            (false, None) => "FAILED".into(),
        },
    ]
}

/// Under the rehearsal's table: each run's broken limits and invariants and why it
/// stopped, the steps that grow faster than the table, the sampler's cost.
fn rehearsal_findings(rehearsal: &crate::outcome::rehearsal::Rehearsal) -> String {
    let mut text = String::new();
    for run in &rehearsal.runs {
        for violation in &run.violations {
            text.push_str(&format!("{}: {}\n", run_place(run), violation.text));
        }
        if let Some(why) = &run.stopped {
            text.push_str(&format!("{}: stopped: {why}\n", run_place(run)));
        }
        for warning in &run.warnings {
            text.push_str(&format!("{}: warning: {warning}\n", run_place(run)));
        }
    }
    for repeated in crate::report::rehearsal::repeated_lines(rehearsal) {
        text.push_str(&repeated);
        text.push('\n');
    }
    for not_run in &rehearsal.not_run {
        text.push_str(&format!(
            "{} at {}{}: not run: {}\n",
            not_run.migration,
            format_count(not_run.scale as f64),
            crate::report::rehearsal::repetition_words(not_run.repetition),
            not_run.reason
        ));
    }
    for growth in rehearsal.growth.iter().filter(|growth| growth.super_linear) {
        text.push_str(&format!(
            "{} step {} (`{}`) grows faster than the table: exponent {:.2}\n",
            growth.migration,
            growth.step,
            growth.summary,
            growth.exponent.unwrap_or(f64::NAN)
        ));
    }
    if let Some(overhead) = &rehearsal.sampler_overhead {
        text.push_str(&format!(
            "lock sampler: traffic ran at {:.0}/s with it, {:.0}/s without (ratio {:.3}), median interval {:.1} ms\n",
            overhead.with_per_s, overhead.without_per_s, overhead.ratio, overhead.median_interval_ms
        ));
    }
    text
}

/// `shipped at 250,000`, and `, run 2` with `--repeat`.
fn run_place(run: &crate::outcome::rehearsal::MigrationRun) -> String {
    format!(
        "{} at {}{}",
        run.migration,
        format_count(run.scale as f64),
        crate::report::rehearsal::repetition_words(run.repetition)
    )
}

#[cfg(test)]
mod tests {
    use crate::report::rehearsal::sample;

    #[test]
    fn a_rehearsal_prints_a_row_per_run_and_what_broke() {
        insta::assert_snapshot!(super::rehearsal(&sample::rehearsal()));
    }
}
