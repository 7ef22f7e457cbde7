//! What `plancheck judge` prints: per saved plan, its access path and each check's
//! verdict, as a terminal table, Markdown (for a pull-request or an incident note) or
//! JSON. Not judged and not applicable verdicts are shown as such, never as passes.

use std::fmt::Write;

use comfy_table::{ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};

use crate::format::format_count;
use crate::outcome::saved::{JudgedPlan, Judgement};
use crate::outcome::{Expect, Verdict};

fn mark(verdict: &Verdict) -> &'static str {
    match (verdict.judged, verdict.passed) {
        (false, _) => "not judged",
        (true, true) => "pass",
        (true, false) => "FAIL",
    }
}

fn expect(verdict: &Verdict) -> &'static str {
    match verdict.expect {
        Some(Expect::Present) => "present",
        Some(Expect::Absent) => "absent",
        None => "-",
    }
}

/// What a check judged beyond the query's name (a growth's measure: `new shared
/// buffers` gives `shared buffers`), so that two checks of one kind tell apart.
fn subject<'a>(verdict: &'a Verdict, query: &str) -> Option<&'a str> {
    let subject = verdict.subject.as_str();
    let beyond = subject
        .strip_prefix(query)
        .and_then(|rest| rest.strip_prefix(' '))
        .unwrap_or(subject);
    (subject != query && !beyond.is_empty()).then_some(beyond)
}

/// A plan in one line: rows examined and returned, or that it did not run.
fn figures(plan: &JudgedPlan) -> String {
    match plan.rows_examined {
        Some(examined) => format!(
            "EXPLAIN ANALYZE: {} rows examined for {} returned",
            format_count(examined),
            format_count(plan.rows_returned)
        ),
        None => format!(
            "EXPLAIN without ANALYZE: ~{} rows returned (estimated)",
            format_count(plan.rows_returned)
        ),
    }
}

/// The terminal summary.
pub fn terminal(judgement: &Judgement) -> String {
    let mut text = format!(
        "judge {} of scenario {} — {}\ncatalog: {}\n",
        judgement.query,
        judgement.scenario,
        if judgement.passed() {
            "all judged checks passed"
        } else {
            "CHECKS FAILED"
        },
        judgement.catalog_from
    );
    for plan in &judgement.plans {
        let mut table = Table::new();
        table
            .load_style(UTF8_FULL_CONDENSED)
            .set_content_arrangement(ContentArrangement::Dynamic)
            .force_no_tty()
            .set_header(vec!["check", "expect", "verdict", "detail"]);
        for verdict in &plan.verdicts {
            table.add_row(vec![
                match subject(verdict, &judgement.query) {
                    Some(subject) => format!("{} ({subject})", verdict.check),
                    None => verdict.check.to_owned(),
                },
                expect(verdict).to_owned(),
                mark(verdict).to_owned(),
                verdict.summary.clone(),
            ]);
        }
        let _ = write!(
            text,
            "{}\n{}\n{}\n{table}\n",
            plan.source,
            figures(plan),
            plan.access_path.join("; ")
        );
    }
    text
}

/// The Markdown summary.
pub fn markdown(judgement: &Judgement) -> String {
    let mut md = format!(
        "## plancheck judge · `{}` of `{}` · {}\n\nCatalog: {}.\n",
        judgement.query,
        judgement.scenario,
        if judgement.passed() {
            "✅ pass"
        } else {
            "❌ fail"
        },
        judgement.catalog_from
    );
    for plan in &judgement.plans {
        let scans: Vec<String> = plan
            .access_path
            .iter()
            .map(|scan| format!("`{scan}`"))
            .collect();
        let _ = writeln!(
            md,
            "\n### `{}`\n\n{}.\n\nAccess path: {}.\n\n| Check | Expect | Verdict | Detail |\n|---|---|---|---|",
            plan.source,
            figures(plan),
            scans.join("; ")
        );
        for verdict in &plan.verdicts {
            let _ = writeln!(
                md,
                "| `{}`{} | {} | {} | {} |",
                verdict.check,
                match subject(verdict, &judgement.query) {
                    Some(subject) => format!(" ({})", cell_text(subject)),
                    None => String::new(),
                },
                expect(verdict),
                match (verdict.judged, verdict.passed) {
                    (false, _) => "➖ not judged",
                    (true, true) => "✅ pass",
                    (true, false) => "❌ fail",
                },
                cell_text(&verdict.summary)
            );
        }
    }
    md
}

/// `text` as one Markdown table cell: no line break, no column separator.
fn cell_text(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

/// The JSON document.
pub fn json(judgement: &Judgement) -> String {
    let mut text = serde_json::to_string_pretty(judgement).expect("a judgement is JSON-safe");
    text.push('\n');
    text
}
