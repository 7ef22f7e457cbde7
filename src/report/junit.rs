//! The JUnit exporter (`plancheck scenario --junit FILE`): every check of every
//! scenario, variant (and, once a run covers several, PostgreSQL version) as one JUnit
//! test case, in the XML the Jenkins/Ant/Surefire family writes and every CI system
//! reads (`tests/data/junit/junit-10.xsd` is the schema it is tested against). Like
//! every exporter it is a pure function of report documents; [`write`] puts the file
//! in place whole.
//!
//! The mapping, documented in `docs/ci.md`:
//! - one `<testsuite>` per scenario run (`name` the scenario, `time` its phases'
//!   wall-clock time, `properties` the facts a reader needs to trust it);
//! - one `<testcase>` per check verdict: `classname` is `plancheck.<scenario>`, then
//!   `[<variant>]` for a variant matrix, then `.pg<version>` when the run labels its
//!   PostgreSQL version; `name` is `<check> <subject>`; `time` is what the server spent
//!   running the check's queries (EXPLAIN ANALYZE and every timed run);
//! - a failed check is a `<failure>` whose `message` is its one-sentence verdict and
//!   whose text adds the plan nodes it flagged; a check that could not judge in this
//!   run (a growth check at one scale) is `<skipped>` with its reason;
//! - a scenario an error ended is a suite of one `<error>` case ([`Unfinished`]).

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;

use super::document::{CheckReport, Report, VariantReport};
use crate::error::{Error, Result};

/// One scenario's report among a run's, with the label of the PostgreSQL version it
/// ran on when the run covers several (`15`, `17`), which goes into the cases'
/// classname.
pub struct Suite<'a> {
    pub report: &'a Report,
    pub version: Option<&'a str>,
}

/// A scenario the run started but did not finish (an error ended it: a lost server, a
/// failed statement): one errored case, so that CI shows it rather than leaving it
/// out.
pub struct Unfinished<'a> {
    pub scenario: &'a str,
    pub version: Option<&'a str>,
    pub error: String,
}

/// The JUnit document of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct TestSuites {
    pub suites: Vec<TestSuite>,
}

/// One scenario's run.
#[derive(Debug, Clone, PartialEq)]
pub struct TestSuite {
    pub name: String,
    /// Seconds.
    pub time: f64,
    pub properties: Vec<(String, String)>,
    pub cases: Vec<TestCase>,
}

/// One check's verdict on one variant (and version).
#[derive(Debug, Clone, PartialEq)]
pub struct TestCase {
    pub classname: String,
    pub name: String,
    /// Seconds.
    pub time: f64,
    pub result: CaseResult,
}

/// How a case ended.
#[derive(Debug, Clone, PartialEq)]
pub enum CaseResult {
    Passed,
    /// The check failed: its verdict, and the details below it.
    Failed {
        kind: String,
        message: String,
        detail: String,
    },
    /// The check could not judge in this run; the verdict says why.
    Skipped {
        message: String,
    },
    /// The scenario did not finish; the error says why.
    Error {
        message: String,
    },
}

impl TestSuite {
    fn count(&self, wanted: fn(&CaseResult) -> bool) -> usize {
        self.cases
            .iter()
            .filter(|case| wanted(&case.result))
            .count()
    }
    fn failures(&self) -> usize {
        self.count(|result| matches!(result, CaseResult::Failed { .. }))
    }
    fn skipped(&self) -> usize {
        self.count(|result| matches!(result, CaseResult::Skipped { .. }))
    }
    fn errors(&self) -> usize {
        self.count(|result| matches!(result, CaseResult::Error { .. }))
    }
}

/// The JUnit XML of `suites`, then of the scenario an error ended, if any.
pub fn render(suites: &[Suite], unfinished: Option<&Unfinished>) -> String {
    xml(&model(suites, unfinished))
}

/// The JUnit model of `suites`: one suite per report, one case per check verdict; and
/// one suite with one errored case for the scenario an error ended.
pub fn model(suites: &[Suite], unfinished: Option<&Unfinished>) -> TestSuites {
    let mut model = TestSuites {
        suites: suites.iter().map(suite).collect(),
    };
    if let Some(unfinished) = unfinished {
        model.suites.push(TestSuite {
            name: suite_name(unfinished.scenario, unfinished.version),
            time: 0.0,
            properties: unfinished
                .version
                .map(|version| ("pg".to_owned(), version.to_owned()))
                .into_iter()
                .collect(),
            cases: vec![TestCase {
                classname: classname(unfinished.scenario, None, unfinished.version),
                name: "run".into(),
                time: 0.0,
                result: CaseResult::Error {
                    message: unfinished.error.clone(),
                },
            }],
        });
    }
    model
}

/// `sparse-org`, or `sparse-org (pg17)` in a run that labels versions.
fn suite_name(scenario: &str, version: Option<&str>) -> String {
    match version {
        Some(version) => format!("{scenario} (pg{version})"),
        None => scenario.to_owned(),
    }
}

fn suite(suite: &Suite) -> TestSuite {
    let report = suite.report;
    let mut properties = vec![
        (
            "scenario_file".to_owned(),
            report.dataset.scenario_file.clone(),
        ),
        ("seed".to_owned(), report.seed.to_string()),
        (
            "scale".to_owned(),
            format!("{} rows of {}", report.scale, report.scale_table),
        ),
        ("server".to_owned(), report.server.version.clone()),
        ("backend".to_owned(), report.server.backend_text()),
    ];
    if let Some(version) = suite.version {
        properties.push(("pg".to_owned(), version.to_owned()));
    }
    TestSuite {
        name: suite_name(&report.scenario, suite.version),
        time: report.phases_ms.iter().map(|phase| phase.ms).sum::<f64>() / 1000.0,
        properties,
        cases: report
            .variants
            .iter()
            .flat_map(|variant| {
                let classname = classname(&report.scenario, Some(variant), suite.version);
                variant
                    .checks
                    .iter()
                    .map(move |check| case(variant, check, classname.clone()))
            })
            .collect(),
    }
}

/// `plancheck.<scenario>[<variant>][.pg<version>]`.
fn classname(scenario: &str, variant: Option<&VariantReport>, version: Option<&str>) -> String {
    let mut name = format!("plancheck.{scenario}");
    if let Some(variant) = variant.filter(|variant| !variant.variant.is_empty()) {
        let _ = write!(name, "[{}]", variant.label());
    }
    if let Some(version) = version {
        let _ = write!(name, ".pg{version}");
    }
    name
}

fn case(variant: &VariantReport, check: &CheckReport, classname: String) -> TestCase {
    let result = if !check.judged {
        CaseResult::Skipped {
            message: check.summary.clone(),
        }
    } else if check.passed {
        CaseResult::Passed
    } else {
        let mut detail = check.summary.clone();
        for finding in &check.findings {
            let _ = write!(
                detail,
                "\n• {} at {} ({}): {}",
                finding.node_label, finding.node, finding.query, finding.message
            );
        }
        CaseResult::Failed {
            kind: check.check.clone(),
            message: check.summary.clone(),
            detail,
        }
    };
    TestCase {
        classname,
        name: format!("{} {}", check.check, check.subject),
        time: check_seconds(variant, check),
        result,
    }
}

/// What the server spent running the check's queries in this variant: the EXPLAIN
/// ANALYZE and every timed run of each (the timing loop's runs include the first
/// plain run).
fn check_seconds(variant: &VariantReport, check: &CheckReport) -> f64 {
    let ms: f64 = variant
        .queries
        .iter()
        .filter(|query| check.queries.contains(&query.name))
        .map(|query| query.execution_ms.unwrap_or(0.0) + query.samples_ms.iter().sum::<f64>())
        .sum();
    ms / 1000.0
}

/// The XML of `suites`.
pub fn xml(suites: &TestSuites) -> String {
    let tests: usize = suites.suites.iter().map(|suite| suite.cases.len()).sum();
    let failures: usize = suites.suites.iter().map(TestSuite::failures).sum();
    let errors: usize = suites.suites.iter().map(TestSuite::errors).sum();
    let time: f64 = suites.suites.iter().map(|suite| suite.time).sum();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"plancheck\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\" time=\"{}\">",
        seconds(time)
    );
    for suite in &suites.suites {
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{}\">",
            attribute(&suite.name),
            suite.cases.len(),
            suite.failures(),
            suite.errors(),
            suite.skipped(),
            seconds(suite.time)
        );
        out.push_str("    <properties>\n");
        for (name, value) in &suite.properties {
            let _ = writeln!(
                out,
                "      <property name=\"{}\" value=\"{}\"/>",
                attribute(name),
                attribute(value)
            );
        }
        out.push_str("    </properties>\n");
        for case in &suite.cases {
            let _ = write!(
                out,
                "    <testcase classname=\"{}\" name=\"{}\" time=\"{}\"",
                attribute(&case.classname),
                attribute(&case.name),
                seconds(case.time)
            );
            match &case.result {
                CaseResult::Passed => out.push_str("/>\n"),
                CaseResult::Error { message } => {
                    let _ = writeln!(
                        out,
                        ">\n      <error type=\"error\" message=\"{}\">{}</error>\n    </testcase>",
                        attribute(message),
                        text(message)
                    );
                }
                CaseResult::Skipped { message } => {
                    let _ = writeln!(
                        out,
                        ">\n      <skipped message=\"{}\"/>\n    </testcase>",
                        attribute(message)
                    );
                }
                CaseResult::Failed {
                    kind,
                    message,
                    detail,
                } => {
                    let _ = writeln!(
                        out,
                        ">\n      <failure type=\"{}\" message=\"{}\">{}</failure>\n    </testcase>",
                        attribute(kind),
                        attribute(message),
                        text(detail)
                    );
                }
            }
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

/// Seconds with at most three decimals, as Surefire's `time` type allows.
fn seconds(value: f64) -> String {
    format!("{:.3}", value.max(0.0))
}

/// `text` as XML character data: markup escaped, and the characters XML 1.0 cannot
/// hold at all (control characters other than tab and line breaks) left out.
fn text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
    out
}

/// `text` as an attribute value in double quotes; line breaks and tabs as character
/// references, so that a reader's attribute normalization keeps them.
fn attribute(value: &str) -> String {
    text(value)
        .replace('"', "&quot;")
        .replace('\n', "&#10;")
        .replace('\r', "&#13;")
        .replace('\t', "&#9;")
}

/// Refuses, before anything starts, a `--junit` destination this run could not write:
/// a directory, a path whose directory does not exist, one where no file can be
/// created, or a file that cannot be replaced; a device or FIFO (`/dev/stdout`) that
/// cannot be opened for writing. Nothing is changed.
pub fn check_destination(path: &Path) -> Result<()> {
    let refuse = |why: String| {
        Error::Usage(format!(
            "--junit {}: {why}; give a file in a writable directory",
            path.display()
        ))
    };
    if path.is_dir() {
        return Err(refuse("is a directory".into()));
    }
    if crate::input::file::special_kind(path).is_some() {
        return nix::unistd::access(path, nix::unistd::AccessFlags::W_OK)
            .map_err(|error| refuse(format!("cannot be written: {}", error.desc())));
    }
    let dir = directory_of(path);
    if !dir.is_dir() {
        return Err(refuse(format!(
            "directory {} does not exist",
            dir.display()
        )));
    }
    // Creating (and at once removing) a file beside it proves the rename that puts the
    // report in place will work; the file's own write bit does not matter to a rename.
    tempfile::Builder::new()
        .prefix(".plancheck-junit-")
        .tempfile_in(&dir)
        .map(drop)
        .map_err(|error| {
            refuse(format!(
                "cannot create a file in {}: {error}",
                dir.display()
            ))
        })
}

/// Writes `text` to `path` whole: to a temporary file beside it, then renamed over it,
/// so a reader (or a run that fails midway) never sees half a file. A device or a FIFO
/// (`/dev/stdout`, a pipe to another program) is written in place: a rename would
/// replace the device itself.
pub fn write(path: &Path, text: &str) -> Result<()> {
    let failed = |error: std::io::Error| {
        Error::Infrastructure(format!(
            "could not write JUnit results to {}: {error}",
            path.display()
        ))
    };
    if crate::input::file::special_kind(path).is_some() {
        return write_in_place(path, text).map_err(failed);
    }
    let mut file = tempfile::Builder::new()
        .prefix(".plancheck-junit-")
        .tempfile_in(directory_of(path))
        .map_err(failed)?;
    file.write_all(text.as_bytes()).map_err(failed)?;
    file.as_file().sync_all().map_err(failed)?;
    // A temporary file is private (0600); a report is as readable as any other file.
    let _ = std::fs::set_permissions(
        file.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    );
    file.persist(path).map_err(|error| failed(error.error))?;
    Ok(())
}

/// Writes `text` into the device or FIFO at `path`. It is opened without blocking,
/// so that a FIFO nobody reads fails at once (rather than hold the run where no
/// interrupt reaches it), then written as usual.
fn write_in_place(path: &Path, text: &str) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(nix::libc::O_NONBLOCK)
        .open(path)?;
    nix::fcntl::fcntl(
        &file,
        nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::empty()),
    )?;
    file.write_all(text.as_bytes())?;
    file.flush()
}

/// The directory a file path is in (`.` for a bare name).
fn directory_of(path: &Path) -> std::path::PathBuf {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> TestSuites {
        TestSuites {
            suites: vec![TestSuite {
                name: "sparse-org".into(),
                time: 12.3456,
                properties: vec![("seed".into(), "7".into())],
                cases: vec![
                    TestCase {
                        classname: "plancheck.sparse-org".into(),
                        name: "ordered-walk old".into(),
                        time: 1.5,
                        result: CaseResult::Passed,
                    },
                    TestCase {
                        classname: "plancheck.sparse-org[state=error]".into(),
                        name: "speedup new vs old".into(),
                        time: 0.0004,
                        result: CaseResult::Failed {
                            kind: "speedup".into(),
                            message: "new is 2x \"faster\" & <slower>\nthan required".into(),
                            detail: "line one\n• node\u{1}".into(),
                        },
                    },
                    TestCase {
                        classname: "plancheck.sparse-org".into(),
                        name: "growth old".into(),
                        time: 0.0,
                        result: CaseResult::Skipped {
                            message: "not judged: needs a sweep".into(),
                        },
                    },
                ],
            }],
        }
    }

    #[test]
    fn the_xml_counts_cases_and_escapes_what_the_messages_hold() {
        insta::assert_snapshot!(xml(&sample()));
    }

    #[test]
    fn a_version_label_goes_into_the_classname_and_the_suite_name() {
        let variant = VariantReport {
            variant: serde_json::Map::from_iter([("state".to_owned(), "error".into())]),
            passed: true,
            target: None,
            picks: vec![],
            queries: vec![],
            checks: vec![],
        };
        assert_eq!(
            classname("sparse-org", Some(&variant), Some("17")),
            "plancheck.sparse-org[state=error].pg17"
        );
        assert_eq!(
            classname(
                "sparse-org",
                Some(&VariantReport {
                    variant: serde_json::Map::new(),
                    ..variant
                }),
                None
            ),
            "plancheck.sparse-org"
        );
        assert_eq!(suite_name("sparse-org", Some("17")), "sparse-org (pg17)");
    }

    #[test]
    fn a_scenario_an_error_ended_is_one_errored_case() {
        let unfinished = Unfinished {
            scenario: "dense-org",
            version: None,
            error: "lost the connection to the server".into(),
        };
        let model = model(&[], Some(&unfinished));
        assert_eq!(model.suites.len(), 1);
        assert_eq!(model.suites[0].errors(), 1);
        assert_eq!(model.suites[0].cases[0].classname, "plancheck.dense-org");
        let xml = xml(&model);
        assert!(xml.contains(r#"<testsuites name="plancheck" tests="1" failures="0" errors="1""#));
        assert!(
            xml.contains(r#"<error type="error" message="lost the connection to the server">"#)
        );
    }
}
