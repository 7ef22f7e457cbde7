//! `report.md`: the report for a pull-request comment. Verdicts first (the variant
//! matrix as one table when there is one), then the evidence a reviewer needs to
//! believe them: the plans' key nodes, timings, the data's shape and the server.

use std::fmt::Write;

use super::plan_tree;
use crate::judge::{format_bytes, format_count, format_ms};
use crate::outcome::{Cell, EstimateMethod, Outcome, QueryEvidence, format_budget};

/// `report.md`'s text.
pub fn render(outcome: &Outcome) -> String {
    let mut md = String::new();
    let status = if outcome.passed() {
        "✅ pass"
    } else {
        "❌ fail"
    };
    let _ = writeln!(md, "## plancheck · `{}` · {status}\n", outcome.scenario);
    let _ = writeln!(md, "{}\n", outcome.description.trim());
    if outcome.has_variants() {
        matrix(&mut md, outcome);
    }
    for cell in &outcome.cells {
        if outcome.has_variants() {
            let _ = writeln!(md, "\n### Variant {}\n", cell.label());
        }
        checks(&mut md, cell);
        queries(&mut md, cell);
        plans(&mut md, cell);
    }
    dataset(&mut md, outcome);
    environment(&mut md, outcome);
    let _ = writeln!(md, "\n### Timings\n\n| Phase | Time |\n|---|--:|");
    for phase in &outcome.phases {
        let _ = writeln!(md, "| {} | {} |", phase.name, format_ms(phase.ms));
    }
    md
}

fn mark(passed: bool) -> &'static str {
    if passed { "✅ pass" } else { "❌ fail" }
}

/// One row per variant: its verdict, and each query's rows examined and median.
fn matrix(md: &mut String, outcome: &Outcome) {
    let names: Vec<&str> = outcome.cells[0]
        .evidence
        .queries
        .iter()
        .map(|q| q.name.as_str())
        .collect();
    let _ = write!(md, "| Variant | Verdict | Checks |");
    for name in &names {
        let _ = write!(md, " `{name}` rows examined | `{name}` median (runs) |");
    }
    let _ = writeln!(md, "\n|---|---|--:|{}", "--:|--:|".repeat(names.len()));
    for cell in &outcome.cells {
        let passed = cell.verdicts.iter().filter(|v| v.passed).count();
        let _ = write!(
            md,
            "| {} | {} | {passed}/{} |",
            cell.label(),
            mark(cell.passed()),
            cell.verdicts.len()
        );
        for name in &names {
            match cell.evidence.query(name) {
                Some(query) => {
                    let _ = write!(
                        md,
                        " {} | {} |",
                        rows_examined(query),
                        super::median_text(query)
                    );
                }
                None => md.push_str(" - | - |"),
            }
        }
        md.push('\n');
    }
}

fn checks(md: &mut String, cell: &Cell) {
    let _ = writeln!(
        md,
        "| Check | Subject | Verdict | Detail |\n|---|---|---|---|"
    );
    for verdict in &cell.verdicts {
        let _ = writeln!(
            md,
            "| `{}` | {} | {} | {} |",
            verdict.check,
            verdict.subject,
            mark(verdict.passed),
            cell_text(&verdict.summary)
        );
    }
    let findings: Vec<_> = cell
        .verdicts
        .iter()
        .flat_map(|verdict| &verdict.findings)
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
}

fn queries(md: &mut String, cell: &Cell) {
    let _ = writeln!(md, "\n#### Queries\n");
    let _ = writeln!(
        md,
        "| Query | Schema | Access path | Rows examined | Rows returned | Buffers hit / read | EXPLAIN ANALYZE | Median (runs) |\n|---|---|---|--:|--:|--:|--:|--:|"
    );
    for query in &cell.evidence.queries {
        let plan = &query.plan;
        let (hit, read) = plan.buffers();
        let (returned, buffers) = if plan.analyzed {
            (
                format_count(plan.rows_returned()),
                format!(
                    "{} / {}",
                    format_count(hit as f64),
                    format_count(read as f64)
                ),
            )
        } else {
            (
                format!("~{} (estimated)", format_count(plan.root.plan_rows)),
                "-".to_owned(),
            )
        };
        let _ = writeln!(
            md,
            "| `{}` | {} | {} | {} | {returned} | {buffers} | {} | {} |",
            query.name,
            query.state.word(),
            cell_text(&plan.access_path().join("; ")),
            rows_examined(query),
            super::execution_text(query),
            super::median_text(query),
        );
    }
}

/// Rows examined, which only a plan that ran can tell.
fn rows_examined(query: &QueryEvidence) -> String {
    if query.plan.analyzed {
        format_count(query.plan.rows_examined())
    } else {
        "- (estimated plan)".into()
    }
}

fn plans(md: &mut String, cell: &Cell) {
    for query in &cell.evidence.queries {
        let params = if query.params.is_empty() {
            String::new()
        } else {
            format!("; parameters: {}", query.params.join(", "))
        };
        let estimated = match (
            &query.timed_out,
            &query.analyze_cancelled,
            query.plan.analyzed,
        ) {
            (_, _, true) => String::new(),
            (Some(timed_out), _, false) => format!(
                "; estimated plan (EXPLAIN without ANALYZE): {}",
                timed_out.verdict()
            ),
            (None, Some(cancelled), false) => format!(
                "; estimated plan (EXPLAIN without ANALYZE): {}",
                cancelled.reason()
            ),
            (None, None, false) => "; estimated plan (EXPLAIN without ANALYZE)".into(),
        };
        let _ = writeln!(
            md,
            "\n<details><summary>Plan of <code>{}</code> ({}{params}{estimated})</summary>\n\n```\n{}```\n\nRaw plan: `{}`\n</details>",
            query.name,
            query.file,
            plan_tree::render(&query.plan),
            super::json::plan_file_name(cell, &query.name),
        );
    }
}

fn dataset(md: &mut String, outcome: &Outcome) {
    let seeded = &outcome.seeded;
    let _ = writeln!(md, "\n### Dataset\n");
    let _ = writeln!(
        md,
        "Seed {} · scale {} rows of `{}` · data as of {} · dataset `{}`\n",
        seeded.seed,
        format_count(seeded.scale as f64),
        seeded.scale_table,
        seeded.as_of.format("%Y-%m-%d %H:%M UTC"),
        outcome.dataset_file
    );
    let _ = writeln!(md, "| Table | Rows | Heap | Indexes |\n|---|--:|--:|--:|");
    for table in &seeded.tables {
        let _ = writeln!(
            md,
            "| `{}` | {} | {} MiB | {} MiB |",
            table.name,
            format_count(table.rows as f64),
            format_count(table.table_bytes as f64 / 1_048_576.0),
            format_count(table.index_bytes as f64 / 1_048_576.0)
        );
    }
    if let Some(check) = &seeded.size_check {
        let seeded_bytes: i64 = seeded
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
            "
Size: {} seeded; {} estimated before seeding ({}), {} needed while seeding.{available}",
            format_bytes(seeded_bytes as f64),
            format_bytes(check.estimated_bytes as f64),
            match check.method {
                EstimateMethod::UpperBound => "an upper bound from rows generated in memory",
                EstimateMethod::Sample => "from a seeded sample",
            },
            format_bytes(check.required_bytes as f64),
        );
    }
    let mut seen = Vec::new();
    for cell in &outcome.cells {
        let Some(target) = &cell.target else {
            continue;
        };
        if seen.contains(&target) {
            continue;
        }
        seen.push(target);
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
            .map(|(name, value)| format!("{name} `{}`", cell_text(value)))
            .collect();
        let _ = writeln!(
            md,
            "\nTarget: row {} of `{}`{group}: {}.",
            target.index,
            target.table,
            columns.join(", ")
        );
    }
}

fn environment(md: &mut String, outcome: &Outcome) {
    let environment = &outcome.environment;
    let host = &environment.host;
    let _ = writeln!(md, "\n### Environment\n");
    let _ = writeln!(
        md,
        "PostgreSQL {} on the {} backend · {} cores, {} MiB, {} · {}",
        environment.server_version,
        environment.backend,
        host.cores,
        format_count(host.memory_mib as f64),
        host.cpu,
        host.os
    );
    let _ = writeln!(
        md,
        "\nTime budget per run of a measured query: {}",
        format_budget(outcome.time_budget)
    );
    if let Some(note) = &environment.backend_note {
        let _ = writeln!(md, "\n{note}");
    }
    for note in &environment.notes {
        let _ = writeln!(md, "\n⚠️ {note}");
    }
    let _ = writeln!(
        md,
        "\n<details><summary>Non-default settings ({})</summary>\n\n| Setting | Value | Source |\n|---|---|---|",
        environment.settings.len()
    );
    for setting in &environment.settings {
        let _ = writeln!(
            md,
            "| `{}` | `{}` | {} |",
            setting.name,
            cell_text(&setting.value),
            setting.source
        );
    }
    let _ = writeln!(md, "</details>");
}

/// Makes text safe inside a Markdown table cell.
fn cell_text(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}
