//! Stage 8: report. A run's [`Outcome`] becomes one [`Report`] document
//! (`document.rs`, saved as `report.json`); every exporter renders from that document
//! alone, so `plancheck report` can render a report again without the run. Exporters
//! are the one list [`EXPORTERS`]: each writes its files per scenario, and may write
//! run-level files over every scenario of a run (the index page). Only this module
//! knows about Markdown, HTML or the layout of `reports/`, and it never touches the
//! database.

pub mod annotations;
pub mod ci_json;
pub mod comment;
mod destination;
pub mod document;
pub mod html;
mod index;
pub mod json;
pub mod junit;
pub mod markdown;
pub mod plan_tree;
pub mod rehearsal;
pub mod saved;
pub mod terminal;
pub mod versions;

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::format::format_ms;
use crate::outcome::{Outcome, SamplingStop};

use crate::format::format_budget;
pub use destination::Claim;
use document::QueryReport;
pub use document::Report;

/// One kind of report file: a pure function of the document.
pub trait Exporter: Sync {
    /// A short name for messages: `markdown`, `html`.
    fn name(&self) -> &'static str;
    /// The files of one scenario's report, as `(file name, text)`.
    fn files(&self, report: &Report) -> Vec<(String, String)>;
    /// Files over every scenario of a run (or every report directory given to
    /// `plancheck report`), written beside the scenarios' directories; most exporters
    /// have none.
    fn run_files(&self, _reports: &[Placed]) -> Vec<(String, String)> {
        Vec::new()
    }
}

/// One scenario's report among a run's, with where its directory is from the
/// run-level files (a relative path with `/`, for links).
pub struct Placed<'a> {
    pub dir: String,
    pub report: &'a Report,
}

/// Every exporter, in the order their files are listed. Adding one is a file and a
/// line here.
pub const EXPORTERS: &[&dyn Exporter] =
    &[&json::Json, &markdown::Markdown, &html::Html, &index::Index];

/// The file holding the index facts the checks used, so the plans beside it can be
/// judged again without a server.
pub const CATALOG_FILE: &str = "catalog.json";

/// The index facts after the scenario's migration, when it has one.
pub const CATALOG_AFTER_FILE: &str = "catalog.after.json";

/// The schema state `query` ran on (`before`, `after`), as its variants' entries say:
/// the side of a migration its stability rounds ran on.
fn schema_state<'a>(report: &'a Report, query: &str) -> &'a str {
    report
        .variants
        .iter()
        .flat_map(|variant| &variant.queries)
        .find(|entry| entry.name == query)
        .map_or("-", |entry| entry.schema_state.as_str())
}

/// The time budget the report's measured queries ran under.
fn budget(report: &Report) -> std::time::Duration {
    std::time::Duration::from_millis(report.time_budget_ms)
}

/// `timed out after 60 s`, when a plain run of the query passed the time budget.
fn timed_out_text(report: &Report, query: &QueryReport) -> Option<String> {
    query
        .timed_out_during
        .as_ref()
        .map(|_| format!("timed out after {}", format_budget(budget(report))))
}

/// A query's EXPLAIN ANALYZE time, or why its plan is only estimated.
fn execution_text(report: &Report, query: &QueryReport) -> String {
    match (
        query.execution_ms,
        timed_out_text(report, query),
        query.analyze_cancelled_after_ms,
    ) {
        (Some(ms), _, _) => format_ms(ms),
        (None, Some(timed_out), _) => timed_out,
        (None, None, Some(limit_ms)) => format!(
            "not finished within {} (the query was)",
            format_budget(std::time::Duration::from_millis(limit_ms))
        ),
        (None, None, None) => "not run".into(),
    }
}

/// A query's median and number of timed runs, with the reason the loop stopped
/// early when it did; a query never timed says why.
fn median_text(report: &Report, query: &QueryReport) -> String {
    let (Some(median), runs) = (query.median_ms, query.samples_ms.len()) else {
        return timed_out_text(report, query).unwrap_or_else(|| "not timed".into());
    };
    match query.sampling_stopped {
        SamplingStop::MaxRounds | SamplingStop::LoopBudget => {
            format!("{} ({runs})", format_ms(median))
        }
        early => format!("{} ({runs}, {})", format_ms(median), early.describe()),
    }
}

/// Every file of one scenario's report, as (name, text), from every exporter.
pub fn files(report: &Report) -> Vec<(String, String)> {
    EXPORTERS
        .iter()
        .flat_map(|exporter| exporter.files(report))
        .collect()
}

/// The run-level files over `reports`, from every exporter.
pub fn run_files(reports: &[Placed]) -> Vec<(String, String)> {
    EXPORTERS
        .iter()
        .flat_map(|exporter| exporter.run_files(reports))
        .collect()
}

/// Writes `run`'s report into `<root>/<scenario>/`, whole or not at all, keeping
/// what the user added there (see [`Claim`]). A run that must not lose its
/// destination to another between start and end claims it first and calls
/// [`Claim::install`] instead.
pub fn write(run: &Outcome, root: &Path) -> Result<PathBuf> {
    Claim::take(root, &run.scenario)?.install(&files(&document::report(run)))
}

/// Writes the run-level files over `reports` into `root` (see [`index`]).
pub fn write_run_files(root: &Path, reports: &[Placed]) -> Result<Vec<PathBuf>> {
    index::write(root, &run_files(reports))
}

/// The path from directory `from` to `to`, `/`-separated, for a link in a page
/// written in `from` (`../other/sparse-org`).
pub fn link(from: &Path, to: &Path) -> String {
    let absolute = |path: &Path| std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let relative = pathdiff::diff_paths(absolute(to), absolute(from)).unwrap_or_default();
    let parts: Vec<String> = relative
        .components()
        .map(|part| part.as_os_str().to_string_lossy().into_owned())
        .collect();
    match parts.is_empty() {
        true => ".".to_owned(),
        false => parts.join("/"),
    }
}

/// Refuses, before a run of several scenarios, an `index.html` or `summary.md` in
/// `root` that plancheck did not write: the run's summary would go there.
pub fn check_run_destination(root: &Path) -> Result<()> {
    index::check(root)
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

/// An empty directory, or one holding a report plancheck wrote (of any version).
fn is_replaceable(dir: &Path) -> bool {
    let Ok(mut entries) = std::fs::read_dir(dir) else {
        return false;
    };
    let empty = entries.next().is_none();
    empty
        || read_own(&dir.join(document::FILE))
            .is_some_and(|text| text.contains(&format!("\"format\": \"{}", document::FORMAT)))
        || read_own(&dir.join(destination::REHEARSAL_FILES[2]))
            .is_some_and(|text| text.contains("\"format_version\"") && text.contains("\"runs\""))
        || read_own(&dir.join(versions::FILES[1]))
            .is_some_and(|text| text.contains(&format!("\"format\": \"{}", versions::FORMAT_NAME)))
}

/// What a report's files are read as: a report holds every cell's plans and timing
/// samples, so its limit is above that of the files a user writes.
const REPORT_FILE: crate::input::file::Kind = crate::input::file::Kind {
    what: "a report file",
    limit: 256 * 1024 * 1024,
    stdin: false,
};

/// The text of a file a report directory should hold (`report.json`,
/// `rehearsal.json`), if it is a regular file plancheck can read: a FIFO or a device
/// put in its place is not waited on.
fn read_own(path: &Path) -> Option<String> {
    crate::input::file::read_text(path, &REPORT_FILE).ok()
}

#[cfg(test)]
mod tests {
    use super::is_replaceable;

    /// A comparison across versions written by an earlier plancheck (format 1) is still
    /// plancheck's to replace; a directory of someone else's JSON is not.
    #[test]
    fn a_versions_directory_of_any_format_version_is_replaceable_and_others_are_not() {
        let dir = tempfile::tempdir().unwrap();
        let write = |text: &str| std::fs::write(dir.path().join("versions.json"), text).unwrap();
        write("{\n  \"format\": \"plancheck-versions 1\",\n  \"scenario\": \"x\"\n}\n");
        assert!(is_replaceable(dir.path()));
        write(&super::versions::json(&sample()));
        assert!(is_replaceable(dir.path()));
        write("{\n  \"format\": \"someone-else 1\"\n}\n");
        assert!(!is_replaceable(dir.path()));
    }

    fn sample() -> crate::outcome::versions::Versions {
        crate::outcome::versions::Versions {
            scenario: "x".into(),
            rows: 1,
            scale_table: "t".into(),
            seed: 1,
            versions: Vec::new(),
            not_run: Vec::new(),
            verdicts: Vec::new(),
            shapes: Vec::new(),
            sweep: None,
            stability: Vec::new(),
            differences: Vec::new(),
        }
    }
}
