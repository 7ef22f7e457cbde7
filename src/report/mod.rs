//! Stage 8: report. Exporters are pure functions of an [`Outcome`]; `write` puts
//! their output in place. Only this module knows about Markdown, HTML or the layout of
//! `reports/`, and it never touches the database.

mod destination;
pub mod json;
pub mod markdown;
pub mod plan_tree;
pub mod terminal;

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::judge::format_ms;
use crate::outcome::{Outcome, QueryEvidence, SamplingStop, format_budget};

pub use destination::Claim;

/// The file holding the index facts the checks used, so the plans beside it can be
/// judged again without a server.
pub const CATALOG_FILE: &str = "catalog.json";

/// The index facts after the scenario's migration, when it has one.
pub const CATALOG_AFTER_FILE: &str = "catalog.after.json";

/// A query's EXPLAIN ANALYZE time, or why its plan is only estimated.
fn execution_text(query: &QueryEvidence) -> String {
    match (
        &query.timed_out,
        &query.analyze_cancelled,
        query.plan.analyzed,
    ) {
        (_, _, true) => format_ms(query.plan.execution_ms),
        (Some(timed_out), _, false) => timed_out.verdict(),
        (None, Some(cancelled), false) => format!(
            "not finished within {} (the query was)",
            format_budget(cancelled.limit)
        ),
        (None, None, false) => "not run".into(),
    }
}

/// A query's median and number of timed runs, with the reason the loop stopped
/// early when it did; a query never timed says why.
fn median_text(query: &QueryEvidence) -> String {
    let timing = &query.timing;
    if timing.samples_ms.is_empty() {
        return match &query.timed_out {
            Some(timed_out) => timed_out.verdict(),
            None => "not timed".into(),
        };
    }
    let runs = timing.samples_ms.len();
    match timing.stopped {
        SamplingStop::MaxRounds | SamplingStop::LoopBudget => {
            format!("{} ({runs})", format_ms(timing.median_ms()))
        }
        early => format!(
            "{} ({runs}, {})",
            format_ms(timing.median_ms()),
            early.describe()
        ),
    }
}

fn pretty(value: &impl serde::Serialize) -> String {
    let mut text = serde_json::to_string_pretty(value).expect("reports hold JSON-safe values");
    text.push('\n');
    text
}

/// Every file of `run`'s report, as (name, text): `report.md`, `report.json`,
/// `catalog.json` (and `catalog.after.json`) and one `<query>.explain.json` per query
/// and variant.
pub fn files(run: &Outcome) -> Vec<(String, String)> {
    let mut files = vec![
        ("report.md".to_owned(), markdown::render(run)),
        ("report.json".to_owned(), json::render(run)),
    ];
    if let Some(cell) = run.cells.first() {
        files.push((
            CATALOG_FILE.to_owned(),
            pretty(&cell.evidence.catalog_before),
        ));
        if let Some(after) = &cell.evidence.catalog_after {
            files.push((CATALOG_AFTER_FILE.to_owned(), pretty(after)));
        }
    }
    for cell in &run.cells {
        for query in &cell.evidence.queries {
            files.push((
                json::plan_file_name(cell, &query.name),
                pretty(&query.raw_explain),
            ));
        }
    }
    files
}

/// Writes `run`'s report into `<root>/<scenario>/`, whole or not at all, keeping
/// what the user added there (see [`Claim`]). A run that must not lose its
/// destination to another between start and end claims it first and calls
/// [`Claim::install`] instead.
pub fn write(run: &Outcome, root: &Path) -> Result<PathBuf> {
    Claim::take(root, &run.scenario)?.install(&files(run))
}

/// Where `scenario`'s report goes under `root`, or an error if something that is not a
/// plancheck report is already there. Call it before a run to fail before the work.
pub fn check_destination(root: &Path, scenario: &str) -> Result<PathBuf> {
    if root.exists() && !root.is_dir() {
        return Err(Error::Usage(format!(
            "--out {} is a file, not a directory for reports",
            root.display()
        )));
    }
    let target = root.join(scenario);
    if target.exists() && !is_replaceable(&target) {
        return Err(Error::Usage(format!(
            "{} exists and does not hold a plancheck report; refusing to replace it (choose another --out)",
            target.display()
        )));
    }
    Ok(target)
}

/// An empty directory, or one holding a report plancheck wrote.
fn is_replaceable(dir: &Path) -> bool {
    let Ok(mut entries) = std::fs::read_dir(dir) else {
        return false;
    };
    let empty = entries.next().is_none();
    empty
        || std::fs::read_to_string(dir.join("report.json"))
            .is_ok_and(|text| text.contains("\"format\": \"plancheck.report.v"))
}
