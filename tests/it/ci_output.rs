//! What CI reads: `--junit` (validated against a real JUnit XML schema with xmllint),
//! `list --format json` and `scenario --format json` (parsed here with
//! `deny_unknown_fields` structs of the test's own, written from docs/cli-json.md, so
//! a field added, renamed or dropped fails a test), and GitHub Actions annotations.

use std::path::Path;
use std::process::Command;

use predicates::prelude::PredicateBooleanExt as _;
use predicates::str::contains;
use serde::Deserialize;

use crate::support::{plancheck, repo_path};

/// `plancheck list --format json`, as docs/cli-json.md describes it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Listing {
    format: String,
    format_version: u32,
    scenarios: Vec<ListedScenario>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListedScenario {
    name: String,
    description: String,
    gate: bool,
    min_scale: Option<u64>,
    variants: serde_json::Map<String, serde_json::Value>,
    file: String,
    command: String,
    rehearsal: bool,
}

/// `plancheck scenario --format json`, as docs/cli-json.md describes it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Summary {
    format: String,
    format_version: u32,
    passed: bool,
    error: Option<String>,
    scenarios: Vec<ScenarioSummary>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // Every field is parsed so that none can go unnoticed.
struct ScenarioSummary {
    scenario: String,
    file: String,
    passed: bool,
    report_dir: String,
    pg: Option<String>,
    server_version: String,
    backend: String,
    seed: u64,
    scale: u64,
    scale_table: String,
    duration_ms: f64,
    variants: Vec<VariantSummary>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct VariantSummary {
    variant: serde_json::Map<String, serde_json::Value>,
    passed: bool,
    queries: Vec<QuerySummary>,
    checks: Vec<CheckSummary>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct QuerySummary {
    name: String,
    plan: String,
    access_path: Vec<String>,
    rows_examined: Option<f64>,
    rows_returned: f64,
    execution_ms: Option<f64>,
    median_ms: Option<f64>,
    runs: usize,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckSummary {
    check: String,
    subject: String,
    verdict: String,
    summary: String,
}

/// `xmllint`, which the JUnit tests need (Debian's libxml2-utils; `.ci/run` installs
/// it). Its absence fails the test with what to install, never passes it.
fn xmllint() -> Command {
    let found = Command::new("xmllint").arg("--version").output();
    assert!(
        found.is_ok_and(|output| output.status.success()),
        "xmllint is needed to validate the JUnit file: apt-get install libxml2-utils (bash .ci/run does)"
    );
    Command::new("xmllint")
}

/// Validates `file` against tests/data/junit/junit-10.xsd, panicking with xmllint's
/// complaints.
fn assert_valid_junit(file: &Path) {
    let output = xmllint()
        .args(["--noout", "--schema"])
        .arg(repo_path("tests/data/junit/junit-10.xsd"))
        .arg(file)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "the JUnit file is not valid against junit-10.xsd:\n{}\n{}",
        String::from_utf8_lossy(&output.stderr),
        std::fs::read_to_string(file).unwrap_or_default()
    );
}

/// What an XPath expression evaluates to in `file`.
fn xpath(file: &Path, expression: &str) -> String {
    let output = xmllint()
        .args(["--xpath", expression])
        .arg(file)
        .output()
        .unwrap();
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// The 1-based lines of `file` that read `check = "<name>"`.
fn check_lines(file: &Path, name: &str) -> Vec<usize> {
    std::fs::read_to_string(file)
        .unwrap()
        .lines()
        .enumerate()
        .filter(|(_, line)| line.trim() == format!("check = \"{name}\""))
        .map(|(index, _)| index + 1)
        .collect()
}

#[test]
fn junit_and_json_summary_of_a_failing_and_a_passing_scenario() {
    let out = tempfile::tempdir().unwrap();
    let junit = out.path().join("results/plancheck.xml");
    std::fs::create_dir(out.path().join("results")).unwrap();
    // A previous file is replaced whole.
    std::fs::write(&junit, "previous").unwrap();
    let output = plancheck()
        .args([
            "scenario",
            "tests/data/scenarios/sparse-small.toml",
            "tests/data/scenarios/dense-small.toml",
            "--scale",
            "5000",
            "--no-progress",
            "--format",
            "json",
            "--junit",
        ])
        .arg(&junit)
        .arg("--out")
        .arg(out.path())
        .env_remove("GITHUB_ACTIONS")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    // At 5,000 runs sparse-small's regression does not reproduce: a check fails.
    assert_eq!(output.status.code(), Some(1), "stderr:\n{stderr}");

    // stdout is one JSON document and nothing else; the tables went to stderr.
    let summary: Summary = serde_json::from_str(&stdout)
        .unwrap_or_else(|error| panic!("stdout is the summary ({error}):\n{stdout}"));
    assert_eq!(summary.format, "plancheck.summary");
    assert_eq!(summary.format_version, 1);
    assert!(!summary.passed);
    assert_eq!(summary.error, None);
    assert!(stderr.contains("regression not reproduced"), "{stderr}");
    assert!(!stdout.contains('\u{1b}'), "no colour in JSON");
    assert!(
        !format!("{stdout}{stderr}").contains("::error"),
        "no annotations outside GitHub Actions"
    );
    let names: Vec<&str> = summary
        .scenarios
        .iter()
        .map(|s| s.scenario.as_str())
        .collect();
    assert_eq!(names, ["sparse-small", "dense-small"]);
    let [sparse, dense] = &summary.scenarios[..] else {
        unreachable!()
    };
    assert!(!sparse.passed && dense.passed);
    assert_eq!(sparse.scale, 5000);
    assert!(
        sparse.server_version.contains('.'),
        "{}",
        sparse.server_version
    );
    assert_eq!(sparse.backend, "local");
    assert_eq!(sparse.pg, None);
    assert!(Path::new(&sparse.report_dir).join("report.json").is_file());
    assert!(sparse.file.ends_with("sparse-small.toml"));
    let failed: Vec<&CheckSummary> = sparse.variants[0]
        .checks
        .iter()
        .filter(|check| check.verdict == "fail")
        .collect();
    assert!(
        failed
            .iter()
            .any(|check| check.check == "ordered-walk" && check.subject == "old"),
        "{failed:?}"
    );

    // The JUnit file: valid against the schema, one case per check, failures with the
    // check's verdict as their message.
    assert_valid_junit(&junit);
    let checks: usize = summary
        .scenarios
        .iter()
        .flat_map(|scenario| &scenario.variants)
        .map(|variant| variant.checks.len())
        .sum();
    assert_eq!(xpath(&junit, "count(//testcase)"), checks.to_string());
    assert_eq!(xpath(&junit, "count(//testsuite)"), "2");
    assert_eq!(
        xpath(&junit, "count(//testcase/failure)"),
        failed.len().to_string()
    );
    assert_eq!(
        xpath(&junit, "string(/testsuites/@failures)"),
        failed.len().to_string()
    );
    let walk = &failed
        .iter()
        .find(|check| check.check == "ordered-walk")
        .unwrap()
        .summary;
    assert_eq!(
        xpath(
            &junit,
            "string(//testcase[@classname='plancheck.sparse-small'][@name='ordered-walk old']/failure/@message)"
        ),
        *walk
    );
    assert_eq!(
        xpath(
            &junit,
            "count(//testsuite[@name='dense-small']/testcase[failure])"
        ),
        "0"
    );
    // Every case took some of the server's time: its queries' EXPLAIN ANALYZE and runs.
    let times = xpath(&junit, "//testcase/@time");
    assert!(
        times
            .split_whitespace()
            .all(|time| time.starts_with("time=\"") && time != "time=\"0.000\""),
        "{times}"
    );
    // Nothing but the file is left in its directory (no temporary file).
    let left: Vec<_> = std::fs::read_dir(junit.parent().unwrap())
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .collect();
    assert_eq!(left, [std::ffi::OsString::from("plancheck.xml")]);
}

/// The `[[check]]` entries of a scenario file with the line of each one's `check = "…"`
/// key, in the file's order.
fn check_entries(file: &Path) -> Vec<(usize, toml::Table)> {
    let text = std::fs::read_to_string(file).unwrap();
    let lines = text
        .lines()
        .enumerate()
        .filter(|(_, line)| line.trim_start().starts_with("check = "))
        .map(|(index, _)| index + 1);
    let raw: toml::Table = toml::from_str(&text).unwrap();
    let entries = raw["check"].as_array().unwrap().iter();
    lines
        .zip(entries)
        .map(|(line, entry)| (line, entry.as_table().unwrap().clone()))
        .collect()
}

/// `old` for a check of one query, `new vs old` for a comparison.
fn subject_of(entry: &toml::Table) -> String {
    match (
        entry.get("query"),
        entry.get("candidate"),
        entry.get("baseline"),
    ) {
        (Some(query), _, _) => query.as_str().unwrap().to_owned(),
        (None, Some(candidate), Some(baseline)) => format!(
            "{} vs {}",
            candidate.as_str().unwrap(),
            baseline.as_str().unwrap()
        ),
        _ => panic!("an entry without a query: {entry:?}"),
    }
}

#[test]
fn annotations_point_at_the_failing_checks_lines_in_github_actions() {
    let out = tempfile::tempdir().unwrap();
    // At 5,000 rows neither regression reproduces; orders-by-status has a variant
    // matrix and checks limited to one variant (`only`), so the n-th verdict of a kind
    // must be matched to the right entry.
    let sparse = "tests/data/scenarios/sparse-small.toml";
    let output = plancheck()
        .args([
            "scenario",
            sparse,
            "orders-by-status",
            "--scale",
            "5000",
            "--no-progress",
            "--out",
        ])
        .arg(out.path())
        .env("GITHUB_ACTIONS", "true")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let annotations: Vec<&str> = stdout
        .lines()
        .filter(|line| line.starts_with("::error "))
        .collect();
    let walk_old = check_lines(&repo_path(sparse), "ordered-walk")[0];
    let expected = format!(
        "::error file={sparse},line={walk_old},title=sparse-small%3A ordered-walk old::regression not reproduced"
    );
    assert!(
        annotations.iter().any(|line| line.starts_with(&expected)),
        "expected a line starting with\n{expected}\nin\n{}",
        annotations.join("\n")
    );
    assert!(
        annotations
            .iter()
            .any(|line| line.starts_with("::error file=scenarios/orders-by-status.toml,line=")),
        "{stdout}"
    );
    // Every annotation is one line, at the entry of its own check, subject and variant.
    for annotation in &annotations {
        let (properties, message) = annotation["::error ".len()..].split_once("::").unwrap();
        assert!(!message.is_empty() && !message.contains('\n'));
        let file = properties
            .strip_prefix("file=")
            .unwrap()
            .split(',')
            .next()
            .unwrap();
        let line: usize = properties
            .split(',')
            .find_map(|property| property.strip_prefix("line="))
            .expect("a line")
            .parse()
            .unwrap();
        let title = properties
            .split_once(",title=")
            .unwrap()
            .1
            .replace("%3A", ":")
            .replace("%2C", ",");
        let (_, rest) = title.split_once(": ").unwrap();
        let (check_and_subject, variant) = match rest.split_once(" [") {
            Some((head, variant)) => (head, Some(variant.trim_end_matches(']'))),
            None => (rest, None),
        };
        let (check, subject) = check_and_subject.split_once(' ').unwrap();
        let entries = check_entries(&repo_path(file));
        let (_, entry) = entries
            .iter()
            .find(|(at, _)| *at == line)
            .unwrap_or_else(|| panic!("{annotation}: line {line} is no [[check]]'s `check` key"));
        assert_eq!(entry["check"].as_str().unwrap(), check, "{annotation}");
        assert_eq!(subject_of(entry), subject, "{annotation}");
        if let (Some(variant), Some(only)) = (variant, entry.get("only")) {
            let (axis, value) = variant.split_once('=').unwrap();
            let accepted = only[axis].as_array().unwrap();
            assert!(
                accepted
                    .iter()
                    .any(|accepted| accepted.as_str() == Some(value)),
                "{annotation}: the entry at line {line} is only for {accepted:?}"
            );
        }
    }
}

#[test]
fn junit_to_an_unwritable_path_fails_before_any_server_starts() {
    let out = tempfile::tempdir().unwrap();
    let missing_dir = out.path().join("no/such/dir/results.xml");
    for (path, why) in [
        (missing_dir.as_path(), "does not exist"),
        (out.path(), "is a directory"),
        // Not even root can create a file there.
        (
            Path::new("/proc/plancheck-results.xml"),
            "cannot create a file",
        ),
    ] {
        plancheck()
            .args([
                "scenario",
                "tests/data/scenarios/dense-small.toml",
                "--no-progress",
                "--junit",
            ])
            .arg(path)
            .arg("--out")
            .arg(out.path())
            .assert()
            .code(2)
            .stderr(contains(format!("--junit {}", path.display())))
            .stderr(contains(why))
            .stderr(contains("starting PostgreSQL").not());
    }
    // Bad input leaves a previous file as it was.
    let junit = out.path().join("previous.xml");
    std::fs::write(&junit, "previous").unwrap();
    plancheck()
        .args(["scenario", "no-such-scenario", "--junit"])
        .arg(&junit)
        .assert()
        .code(2);
    assert_eq!(std::fs::read_to_string(&junit).unwrap(), "previous");
}

#[test]
fn list_format_json_gives_each_scenario_for_a_matrix() {
    let output = plancheck()
        .args(["list", "--format", "json"])
        .assert()
        .code(0)
        .get_output()
        .stdout
        .clone();
    let listing: Listing = serde_json::from_slice(&output).expect("the documented listing");
    assert_eq!(listing.format, "plancheck.list");
    assert_eq!(listing.format_version, 1);
    let shipped: Vec<String> = std::fs::read_dir(repo_path("scenarios"))
        .unwrap()
        .filter_map(|entry| {
            let name = entry.unwrap().file_name().to_string_lossy().into_owned();
            name.strip_suffix(".toml").map(str::to_owned)
        })
        .collect();
    assert_eq!(listing.scenarios.len(), shipped.len());
    for scenario in &listing.scenarios {
        assert!(shipped.contains(&scenario.name), "{}", scenario.name);
        assert_eq!(scenario.file, format!("scenarios/{}.toml", scenario.name));
        let raw: toml::Table =
            toml::from_str(&std::fs::read_to_string(repo_path(&scenario.file)).unwrap()).unwrap();
        assert_eq!(
            scenario.description,
            raw["description"].as_str().unwrap().trim()
        );
        assert_eq!(
            scenario.gate,
            raw.get("gate")
                .and_then(toml::Value::as_bool)
                .unwrap_or(false)
        );
        assert_eq!(
            scenario.min_scale,
            raw.get("min_scale")
                .and_then(toml::Value::as_integer)
                .map(|n| n as u64)
        );
        let axes: Vec<&String> = scenario.variants.keys().collect();
        let declared: Vec<&String> = raw
            .get("variants")
            .and_then(toml::Value::as_table)
            .map(|table| table.keys().collect())
            .unwrap_or_default();
        assert_eq!(axes, declared);
        assert_eq!(
            scenario.command,
            match raw.contains_key("query") {
                true => "scenario",
                false => "rehearse",
            }
        );
        assert_eq!(scenario.rehearsal, raw.contains_key("rehearsal"));
    }
    let sparse = listing
        .scenarios
        .iter()
        .find(|scenario| scenario.name == "sparse-org")
        .unwrap();
    assert!(sparse.gate && sparse.command == "scenario");
}

#[test]
fn list_format_json_fails_on_a_scenario_that_does_not_load() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("broken.toml"), "description = 1\n").unwrap();
    plancheck()
        .args(["list", "--format", "json", "--scenarios-dir"])
        .arg(dir.path())
        .assert()
        .code(2)
        .stdout("")
        .stderr(contains("broken.toml"));
}

#[test]
fn cli_json_docs_name_every_field() {
    let docs = std::fs::read_to_string(repo_path("docs/cli-json.md")).unwrap();
    let fields = [
        // The listing.
        "format",
        "format_version",
        "scenarios",
        "name",
        "description",
        "gate",
        "min_scale",
        "variants",
        "file",
        "command",
        "rehearsal",
        // The summary.
        "passed",
        "error",
        "scenario",
        "report_dir",
        "pg",
        "server_version",
        "backend",
        "seed",
        "scale",
        "scale_table",
        "duration_ms",
        "variant",
        "queries",
        "checks",
        "plan",
        "access_path",
        "rows_examined",
        "rows_returned",
        "execution_ms",
        "median_ms",
        "runs",
        "check",
        "subject",
        "verdict",
        "summary",
    ];
    for field in fields {
        assert!(
            docs.contains(&format!("`{field}`")),
            "docs/cli-json.md does not describe `{field}`"
        );
    }
}

#[test]
fn junit_and_json_keep_the_finished_scenarios_and_name_the_one_an_error_ended() {
    let out = tempfile::tempdir().unwrap();
    // dense-small, with a pick the server rejects: found once the schema is built,
    // after the server started and dense-small ran.
    let text = std::fs::read_to_string(repo_path("tests/data/scenarios/dense-small.toml"))
        .unwrap()
        .replace(
            "\"../datasets/small.toml\"",
            &format!("{:?}", repo_path("tests/data/datasets/small.toml")),
        )
        .replace(
            "\"../../../fixtures/",
            &format!("\"{}/", repo_path("fixtures").display()),
        )
        .replacen(
            "[[query]]",
            "[[pick]]\nname = \"cursor\"\nsql = \"SELECT created FROM workflow_runs LIMIT 1\"\n\n[[query]]",
            1,
        );
    let broken = out.path().join("broken.toml");
    std::fs::write(&broken, text).unwrap();
    let junit = out.path().join("junit.xml");
    let output = plancheck()
        .args([
            "scenario",
            "tests/data/scenarios/dense-small.toml",
            broken.to_str().unwrap(),
            "--scale",
            "5000",
            "--no-progress",
            "--format",
            "json",
            "--junit",
            junit.to_str().unwrap(),
            "--out",
        ])
        .arg(out.path().join("reports"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    let summary: Summary = serde_json::from_slice(&output.stdout).unwrap();
    assert!(!summary.passed);
    let error = summary.error.expect("the error that ended the run");
    assert!(error.contains("pick \"cursor\""), "{error}");
    assert_eq!(summary.scenarios.len(), 1);
    assert_eq!(summary.scenarios[0].scenario, "dense-small");

    assert_valid_junit(&junit);
    assert_eq!(xpath(&junit, "count(//testsuite)"), "2");
    assert_eq!(xpath(&junit, "string(/testsuites/@errors)"), "1");
    assert_eq!(
        xpath(&junit, "count(//testsuite[@name='dense-small']/testcase)"),
        summary.scenarios[0].variants[0].checks.len().to_string()
    );
    assert_eq!(
        xpath(
            &junit,
            "string(//testsuite[@name='broken']/testcase[@classname='plancheck.broken']/error/@message)"
        ),
        error
    );
}

#[test]
fn annotations_match_the_nth_verdict_of_a_kind_to_the_nth_entry_of_that_kind() {
    use plancheck::report::document::CheckReport;
    // sparse-small with a second row-amplification check on the same query: verdicts
    // of one name and query are told apart by their order alone.
    let dir = tempfile::tempdir().unwrap();
    let mut text = std::fs::read_to_string(repo_path("tests/data/scenarios/sparse-small.toml"))
        .unwrap()
        .replace(
            "\"../datasets/small.toml\"",
            &format!("{:?}", repo_path("tests/data/datasets/small.toml")),
        )
        .replace(
            "\"../../../fixtures/",
            &format!("\"{}/", repo_path("fixtures").display()),
        );
    text.push_str("\n[[check]]\ncheck = \"row-amplification\"\nquery = \"old\"\nmax_ratio = 100\nexpect = \"present\"\n");
    let file = dir.path().join("twice.toml");
    std::fs::write(&file, &text).unwrap();
    let scenario = plancheck::input::Scenario::load(&file).unwrap();
    let lines = check_lines(&file, "row-amplification");
    let (first, second) = (lines[0], *lines.last().unwrap());
    assert!(second > first);

    let mut document = plancheck::report::document::report(&crate::reports::sample_outcome());
    document.scenario = "twice".into();
    document.variants.truncate(1);
    document.variants[0].variant = serde_json::Map::new();
    let check = |name: &str, passed: bool, summary: &str| CheckReport {
        check: name.into(),
        subject: "old".into(),
        expect: None,
        queries: vec!["old".into()],
        judged: true,
        passed,
        summary: summary.into(),
        findings: vec![],
    };
    document.variants[0].checks = vec![
        // A verdict of the judge's own, with no entry: it points at the file alone.
        check("time-budget", false, "timed out after 60 s"),
        check("row-amplification", true, "first passed"),
        check("row-amplification", false, "second failed"),
    ];
    let annotations = plancheck::report::annotations::render(&document, &scenario);
    let lines: Vec<&str> = annotations.lines().collect();
    assert_eq!(lines.len(), 2, "{annotations}");
    assert!(
        lines[0].contains(",title=twice%3A time-budget old::timed out after 60 s")
            && !lines[0].contains(",line="),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].contains(&format!(
            ",line={second},title=twice%3A row-amplification old::second failed"
        )),
        "{} (the second entry is at line {second}, the first at {first})",
        lines[1]
    );
}

/// Runs dense-small with stdout on /dev/full (every write to it fails: No space left on
/// device) and `extra` arguments; the exit code and stderr.
fn run_onto_a_full_device(out: &Path, extra: &[&std::ffi::OsStr]) -> (i32, String) {
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let output = crate::support::plancheck_process()
        .args([
            "scenario",
            "tests/data/scenarios/dense-small.toml",
            "--scale",
            "5000",
            "--no-progress",
            "--out",
        ])
        .arg(out)
        .args(extra)
        .stdout(full)
        .output()
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// A write that fails (a full device, a full disk, a full stdout) is said once as what
/// it is, with exit code 3, and nothing says "written" before or after it: `--junit`
/// through a symlink to /dev/full writes the device (it is not replaced by a file),
/// the JSON summary lost to a full stdout is said, and so is the text summary.
#[test]
fn a_failed_write_is_said_once_as_what_it_is_with_exit_code_3() {
    let out = tempfile::tempdir().unwrap();
    let junit = out.path().join("junit.xml");
    std::os::unix::fs::symlink("/dev/full", &junit).unwrap();
    let (code, err) = run_onto_a_full_device(
        out.path(),
        &[
            "--junit".as_ref(),
            junit.as_os_str(),
            "--format".as_ref(),
            "json".as_ref(),
        ],
    );
    assert_eq!(code, 3, "{err}");
    let junit_failed = format!(
        "could not write JUnit results to {}: No space left on device",
        junit.display()
    );
    let json_failed =
        "could not write the JSON summary to standard output: No space left on device";
    assert_eq!(err.matches(&junit_failed).count(), 1, "{err}");
    assert_eq!(err.matches(json_failed).count(), 1, "{err}");
    assert!(!err.contains("JUnit results written"), "{err}");
    // The report is in place, and said to be, though the CI outputs were lost.
    assert!(err.contains("report written to"), "{err}");
    assert!(out.path().join("dense-small/report.json").exists(), "{err}");
    assert_eq!(
        std::fs::read_link(&junit).unwrap(),
        Path::new("/dev/full"),
        "the symlink to the device was replaced"
    );

    let (code, err) = run_onto_a_full_device(out.path(), &[]);
    assert_eq!(code, 3, "{err}");
    let summary_failed = "could not write the summary to standard output: No space left on device";
    assert_eq!(err.matches(summary_failed).count(), 1, "{err}");
    // The report itself was written: only the summary was lost.
    assert!(out.path().join("dense-small/report.json").exists(), "{err}");
}
