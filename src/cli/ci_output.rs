//! What `plancheck scenario` says for CI, beside the reports: the terminal summary (on
//! stderr when stdout carries JSON), GitHub Actions annotations for failed checks,
//! the `--junit` file (rewritten whole after each scenario, so the scenarios that
//! finished are in it whatever happens to the next one) and, at the end, the
//! `--format json` summary.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use super::{OutputFormat, print_stdout};
use crate::error::{Error, Result};
use crate::input::Scenario;
use crate::progress::write_stderr;
use crate::report::{self, Report, annotations, ci_json, junit};

/// The run's CI outputs, checked before anything starts.
pub(super) struct CiOutput {
    junit: Option<PathBuf>,
    json: bool,
    annotate: bool,
    /// Whether the JUnit file holds what was last written to it: the end of the run
    /// says where it is only then.
    junit_current: AtomicBool,
}

impl CiOutput {
    /// Refuses a `--junit` destination that could not be written (exit 2, naming it)
    /// before any server starts.
    pub(super) fn new(junit: Option<PathBuf>, format: OutputFormat) -> Result<CiOutput> {
        if let Some(path) = &junit {
            junit::check_destination(path)?;
        }
        Ok(CiOutput {
            junit,
            json: format == OutputFormat::Json,
            annotate: annotations::enabled(),
            junit_current: AtomicBool::new(false),
        })
    }

    /// Whether the terminal summary may be coloured: never beside JSON, never off a
    /// terminal, never with `NO_COLOR` or `TERM=dumb`.
    pub(super) fn colour(&self) -> bool {
        use std::io::IsTerminal;
        !self.json
            && std::io::stdout().is_terminal()
            && std::env::var_os("NO_COLOR").is_none()
            && std::env::var("TERM").map_or(true, |term| term != "dumb")
    }

    /// After one scenario's report: its summary, its annotations, and the JUnit file
    /// over every scenario finished so far (`reports`, this one last, each with the
    /// PostgreSQL major version it ran on under `--pg`). Both are tried; a failed write
    /// is the error (the other one, when both fail, is said).
    pub(super) fn scenario_done(
        &self,
        scenario: &Scenario,
        reports: &[(&Report, Option<String>)],
    ) -> Result<()> {
        let Some((document, _)) = reports.last() else {
            return Ok(());
        };
        let summary = report::terminal::render(document, self.colour(), None);
        // Workflow commands go where the summary goes; GitHub's runner reads them on
        // both streams, and stdout must stay one JSON document with --format json.
        let commands = match self.annotate {
            true => annotations::render(document, scenario),
            false => String::new(),
        };
        let printed = match self.json {
            true => {
                write_stderr(&format!("{summary}{commands}"));
                Ok(())
            }
            false => print_stdout(&format!("{summary}{commands}"), "the summary"),
        };
        let written = self.write_junit(&junit::render(&suites(reports), None));
        match printed {
            Err(error) => Err(super::said_beside(error, &written)),
            Ok(()) => written,
        }
    }

    /// Replaces the `--junit` file (if one was asked for) with `text`, remembering
    /// whether that worked.
    fn write_junit(&self, text: &str) -> Result<()> {
        let Some(path) = &self.junit else {
            return Ok(());
        };
        let written = junit::write(path, text);
        self.junit_current.store(written.is_ok(), Ordering::Relaxed);
        written
    }

    /// After an error ended `scenario` (the scenarios after it do not run): the JUnit
    /// file over the scenarios finished before it, and it as an errored case.
    pub(super) fn scenario_failed(
        &self,
        scenario: &Scenario,
        version: Option<&str>,
        reports: &[(&Report, Option<String>)],
        error: &Error,
    ) {
        let unfinished = junit::Unfinished {
            scenario: &scenario.name,
            version,
            error: error.to_string(),
        };
        // The run's own error is the one to report; this one is only said.
        if let Err(written) = self.write_junit(&junit::render(&suites(reports), Some(&unfinished)))
        {
            crate::say!("error: {written}");
        }
    }

    /// At the end of the run: the JSON summary on stdout with `--format json`, and
    /// where the JUnit file is, if it was written. A summary that cannot be written is
    /// the error, or, beside the run's own `failure`, said.
    pub(super) fn finish(
        &self,
        reports: &[(&Report, String, Option<String>)],
        failure: Option<&Error>,
    ) -> Result<()> {
        if let (Some(path), true) = (&self.junit, self.junit_current.load(Ordering::Relaxed)) {
            crate::say!("JUnit results written to {}", path.display());
        }
        if !self.json {
            return Ok(());
        }
        let ran: Vec<ci_json::Ran> = reports
            .iter()
            .map(|(report, dir, version)| ci_json::Ran {
                report,
                dir: dir.clone(),
                pg: version.as_deref(),
            })
            .collect();
        let printed = print_stdout(
            &ci_json::summary(&ran, failure.map(ToString::to_string)),
            "the JSON summary",
        );
        match (printed, failure) {
            (Err(error), Some(_)) => {
                crate::say!("error: {error}");
                Ok(())
            }
            (printed, _) => printed,
        }
    }
}

/// The JUnit suites of `reports`, each with the version it ran on.
fn suites<'a>(reports: &'a [(&'a Report, Option<String>)]) -> Vec<junit::Suite<'a>> {
    reports
        .iter()
        .map(|(report, version)| junit::Suite {
            report,
            version: version.as_deref(),
        })
        .collect()
}
