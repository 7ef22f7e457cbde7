//! `report.md`: the report for a pull-request comment. Verdicts first, then the
//! evidence a reviewer needs to believe them: the plans' key nodes, timings, the data's
//! shape and the server it ran on.

use std::fmt::Write;

use super::plan_tree;
use crate::checks::{format_count, format_ms};
use crate::run::ScenarioRun;

/// `report.md`'s text.
pub fn render(run: &ScenarioRun) -> String {
    let mut md = String::new();
    let status = if run.passed() { "✅ pass" } else { "❌ fail" };
    let _ = writeln!(md, "## plancheck · `{}` · {status}\n", run.scenario);
    let _ = writeln!(md, "{}\n", run.description.trim());

    let _ = writeln!(
        md,
        "| Check | Subject | Verdict | Detail |\n|---|---|---|---|"
    );
    for verdict in &run.verdicts {
        let mark = if verdict.passed {
            "✅ pass"
        } else {
            "❌ fail"
        };
        let _ = writeln!(
            md,
            "| `{}` | {} | {mark} | {} |",
            verdict.check,
            verdict.subject,
            cell(&verdict.summary)
        );
    }
    let findings: Vec<_> = run
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

    let _ = writeln!(md, "\n### Queries\n");
    let _ = writeln!(
        md,
        "| Query | Access path | Rows examined | Rows returned | Buffers hit / read | EXPLAIN ANALYZE | Median (runs) |\n|---|---|--:|--:|--:|--:|--:|"
    );
    for query in &run.evidence.queries {
        let plan = &query.plan;
        let (hit, read) = plan.buffers();
        let _ = writeln!(
            md,
            "| `{}` | {} | {} | {} | {} / {} | {} | {} ({}) |",
            query.name,
            cell(&plan.access_path().join("; ")),
            format_count(plan.rows_examined()),
            format_count(plan.rows_returned()),
            format_count(hit as f64),
            format_count(read as f64),
            format_ms(plan.execution_ms),
            format_ms(query.timing.median_ms()),
            query.timing.samples_ms.len(),
        );
    }
    for query in &run.evidence.queries {
        let file = run
            .query_files
            .iter()
            .find(|(name, _)| *name == query.name)
            .map_or("", |(_, file)| file.as_str());
        let _ = writeln!(
            md,
            "\n<details><summary>Plan of <code>{}</code> ({})</summary>\n\n```\n{}```\n\nRaw plan: `{}`\n</details>",
            query.name,
            file,
            plan_tree::render(&query.plan),
            super::json::plan_file_name(&query.name),
        );
    }

    let seeded = &run.seeded;
    let _ = writeln!(md, "\n### Dataset\n");
    let _ = writeln!(
        md,
        "Seed {} · {} workflow runs · data as of {} · dataset `{}`\n",
        seeded.seed,
        format_count(run.scale as f64),
        seeded.as_of.format("%Y-%m-%d %H:%M UTC"),
        run.dataset_file
    );
    let rows: Vec<String> = seeded
        .rows
        .iter()
        .map(|(table, rows)| format!("{table} {}", format_count(*rows as f64)))
        .collect();
    let _ = writeln!(
        md,
        "Rows: {}. `workflow_runs` takes {} MiB, its indexes {} MiB.\n",
        rows.join(", "),
        format_count(seeded.runs_table_bytes as f64 / 1_048_576.0),
        format_count(seeded.runs_index_bytes as f64 / 1_048_576.0)
    );
    let target = &run.target;
    let _ = writeln!(
        md,
        "Target: organization **{}** (`{}`), profile `{}`, {} runs between {} and {}, {} of its {} workflows soft-deleted.",
        target.name,
        target.id,
        target.profile,
        format_count(target.runs as f64),
        target.oldest.format("%Y-%m-%d"),
        target.newest.format("%Y-%m-%d"),
        target.deleted_workflows,
        target.workflows,
    );

    let environment = &run.environment;
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
    if let Some(note) = &environment.backend_note {
        let _ = writeln!(md, "\n{}", note);
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
            cell(&setting.value),
            setting.source
        );
    }
    let _ = writeln!(md, "</details>");

    let _ = writeln!(md, "\n### Timings\n\n| Phase | Time |\n|---|--:|");
    for phase in &run.phases {
        let _ = writeln!(md, "| {} | {} |", phase.name, format_ms(phase.ms));
    }
    md
}

/// Makes text safe inside a Markdown table cell.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}
