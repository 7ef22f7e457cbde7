//! GitHub Actions annotations: when `GITHUB_ACTIONS=true`, every failed check is an
//! `::error file=…,line=…,title=…::message` workflow command, which GitHub shows on
//! the scenario file's line of that `[[check]]` (in the pull request's diff when the
//! file is part of it) and in the run's summary. A pure function of the report and
//! the scenario it ran, whose [`crate::input::CheckEntry::line`]s say where each check
//! is written.

use std::fmt::Write as _;

use super::document::{CheckReport, Report};
use crate::input::Scenario;

/// Whether this process runs as a GitHub Actions step (`GITHUB_ACTIONS=true`).
pub fn enabled() -> bool {
    std::env::var("GITHUB_ACTIONS").is_ok_and(|value| value == "true")
}

/// One `::error` line per failed check of `report`, pointing at its entry in
/// `scenario`'s file; empty when every check passed.
pub fn render(report: &Report, scenario: &Scenario) -> String {
    let file = display_path(&scenario.path);
    let cells = scenario.cells();
    let mut out = String::new();
    for (index, variant) in report.variants.iter().enumerate() {
        let cell = cells.get(index);
        for (position, check) in variant.checks.iter().enumerate() {
            if !check.judged || check.passed {
                continue;
            }
            let line = cell.and_then(|cell| check_line(scenario, cell, &variant.checks, position));
            let mut title = format!("{}: {} {}", report.scenario, check.check, check.subject);
            if !variant.variant.is_empty() {
                let _ = write!(title, " [{}]", variant.label());
            }
            let mut properties = format!("file={}", property(&file));
            if let Some(line) = line {
                let _ = write!(properties, ",line={line}");
            }
            let _ = writeln!(
                out,
                "::error {properties},title={}::{}",
                property(&title),
                data(&message(check))
            );
        }
    }
    out
}

/// The check's verdict and the plan nodes it flagged, one per line.
fn message(check: &CheckReport) -> String {
    let mut text = check.summary.clone();
    for finding in &check.findings {
        let _ = write!(
            text,
            "\n• {} at {} ({})",
            finding.node_label, finding.node, finding.query
        );
    }
    text
}

/// The line of the `[[check]]` entry whose verdict is `checks[position]` in the cell
/// with these axis values. The judge gives one verdict per applicable entry, in the
/// file's order, among verdicts of its own (the time budget, the flip search), which
/// have no entry: the n-th verdict of a check name and queries is the n-th applicable
/// entry with that name and those queries.
fn check_line(
    scenario: &Scenario,
    cell: &[crate::value::Value],
    checks: &[CheckReport],
    position: usize,
) -> Option<usize> {
    let check = &checks[position];
    let same = |other: &&CheckReport| other.check == check.check && other.queries == check.queries;
    let nth = checks[..position].iter().filter(same).count();
    scenario
        .checks
        .iter()
        .filter(|entry| entry.applies_to(cell))
        .filter(|entry| {
            entry.check.name() == check.check
                && entry
                    .check
                    .queries()
                    .into_iter()
                    .eq(check.queries.iter().map(String::as_str))
        })
        .nth(nth)
        .map(|entry| entry.line)
}

/// The scenario file as GitHub takes it: relative to the workspace (the working
/// directory a step runs in), `/`-separated, without a leading `./`.
fn display_path(path: &std::path::Path) -> String {
    let relative = std::env::current_dir()
        .ok()
        .and_then(|cwd| {
            path.strip_prefix(&cwd)
                .ok()
                .map(std::path::Path::to_path_buf)
        })
        .unwrap_or_else(|| path.to_path_buf());
    let text = relative.to_string_lossy().replace('\\', "/");
    text.strip_prefix("./").unwrap_or(&text).to_owned()
}

/// A workflow command's message: `%`, `\r` and `\n` escaped as GitHub's runner
/// unescapes them.
pub fn data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// A workflow command's property value: as [`data`], and `:` and `,`, which end a
/// property, escaped too.
pub fn property(text: &str) -> String {
    data(text).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_and_properties_are_escaped_as_the_runner_unescapes_them() {
        assert_eq!(data("50% of\r\nrows: a, b"), "50%25 of%0D%0Arows: a, b");
        assert_eq!(
            property("sparse-org: speedup new vs old [a=1, b=2]\n"),
            "sparse-org%3A speedup new vs old [a=1%2C b=2]%0A"
        );
    }
}
