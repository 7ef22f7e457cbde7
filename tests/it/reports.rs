//! Snapshot tests of the rendered reports, on an outcome assembled from plans captured
//! in real runs and fixed timings, so the snapshots are stable without redaction. The
//! sample has three variants, so the matrix table is covered too; in the third the old
//! query ran past the time budget, so its estimated plan is shown.

use std::time::Duration;

use chrono::{TimeZone, Utc};
use plancheck::judge;
use plancheck::outcome::{
    Cell, Environment, EstimateMethod, Evidence, Host, Outcome, Phase, QueryEvidence, ResultDigest,
    SamplingStop, SchemaState, Seeded, SizeCheck, TableFacts, Target, TimedOut, Timing,
};
use plancheck::plan::{Catalog, Plan};
use plancheck::provision::Backend;
use plancheck::report;
use plancheck::settings::Setting;

use crate::support::repo_path;

fn stored_query(name: &str, file: &str, samples_ms: Vec<f64>) -> QueryEvidence {
    let raw_explain = std::fs::read_to_string(repo_path("tests/data/plans").join(file)).unwrap();
    let samples_ms_first = samples_ms.first().copied();
    // EXPLAIN ANALYZE, then the plain run that is the first sample, then the rest.
    let executions = samples_ms.len() as u32 + 1;
    QueryEvidence {
        name: name.into(),
        file: format!("fixtures/queries/{name}.sql"),
        sql: sample_sql(name),
        state: SchemaState::Before,
        params: vec!["0c5f8f1e-2d6a-4b7c-9e3f-1a2b3c4d5e6f".into()],
        plan: Plan::from_explain_text(&raw_explain).unwrap(),
        raw_explain,
        timing: Timing {
            samples_ms,
            stopped: SamplingStop::LoopBudget,
        },
        results: Some(ResultDigest::from_rows(
            vec!["id".into()],
            vec![vec![Some("1".into())], vec![Some("2".into())]],
        )),
        warm_up_ms: samples_ms_first,
        timed_out: None,
        analyze_cancelled: None,
        executions,
    }
}

/// The SQL of the sparse-org scenario's query `name` (`old` or `new`), as capture
/// keeps it: without its trailing semicolon.
fn sample_sql(name: &str) -> String {
    let file = match name {
        "old" => "list_runs_by_org_exists.sql",
        _ => "list_runs_by_org_column.sql",
    };
    let text = std::fs::read_to_string(repo_path("fixtures/queries").join(file)).unwrap();
    text.trim_end().trim_end_matches(';').trim_end().to_owned()
}

/// A query that ran past a 60 s budget in its warm-up: its plan is the stored
/// estimated one, with no timings and no results.
fn timed_out_query(name: &str, file: &str) -> QueryEvidence {
    let mut query = stored_query(name, file, vec![]);
    query.timing.stopped = SamplingStop::TimedOut;
    query.results = None;
    query.warm_up_ms = None;
    query.timed_out = Some(TimedOut {
        budget: Duration::from_secs(60),
        during: "warm-up",
    });
    // EXPLAIN ANALYZE and the plain run, both cancelled at the budget.
    query.executions = 2;
    query
}

fn cell(group: &str, old: QueryEvidence) -> Cell {
    let scenario =
        plancheck::input::Scenario::load(&repo_path("scenarios/sparse-org.toml")).unwrap();
    let catalog: Catalog = serde_json::from_str(
        &std::fs::read_to_string(repo_path("tests/data/plans/desc-index.catalog.json")).unwrap(),
    )
    .unwrap();
    let evidence = Evidence {
        queries: vec![
            old,
            stored_query("new", "org-index.explain.json", vec![0.652, 0.61, 0.7]),
        ],
        catalog_before: catalog,
        catalog_after: None,
        baselines: vec!["old".into()],
    };
    // The checks of one plain run: sparse-org's growth and stable checks read a sweep
    // and ANALYZE rounds, which this sample has not.
    let checks: Vec<&dyn judge::Check> = scenario
        .checks
        .iter()
        .map(|entry| entry.check.as_ref())
        .filter(|check| check.sweep_queries().is_empty() && check.name() != "stable")
        .collect();
    let verdicts = judge::verdicts(&checks, &evidence);
    Cell {
        variant: vec![("tenant".into(), group.into())],
        target: Some(Target {
            table: "organizations".into(),
            group: Some(group.into()),
            index: 0,
            columns: vec![
                ("id".into(), "0c5f8f1e-2d6a-4b7c-9e3f-1a2b3c4d5e6f".into()),
                ("name".into(), "Herzog LLC".into()),
            ],
            group_rows: 10,
        }),
        picks: vec![],
        evidence,
        verdicts,
    }
}

pub(crate) fn sample_outcome() -> Outcome {
    let as_of = Utc.with_ymd_and_hms(2026, 6, 1, 0, 0, 0).unwrap();
    Outcome {
        scenario: "sparse-org".into(),
        database: "plancheck_sparse_org_test".into(),
        description: "First page of a sparse organization's runs.".into(),
        scenario_file: "scenarios/sparse-org.toml".into(),
        dataset_file: "fixtures/datasets/workflow-runs.toml".into(),
        seeded: Seeded {
            size_check: Some(SizeCheck {
                estimated_bytes: 1_650_000_000,
                method: EstimateMethod::Sample,
                required_bytes: 2_350_000_000,
                available_bytes: Some(75_000_000_000),
                checked_against: "free on the filesystem holding /tmp/plancheck-pg-test (the local server's data directory, under TMPDIR)".into(),
            }),
            seed: 20_261_124,
            cache: None,
            scale: 1_000_000,
            scale_table: "workflow_runs".into(),
            as_of,
            tables: vec![
                TableFacts {
                    name: "organizations".into(),
                    rows: 100,
                    table_bytes: 49_152,
                    index_bytes: 16_384,
                },
                TableFacts {
                    name: "workflow_runs".into(),
                    rows: 1_000_000,
                    table_bytes: 1_234_567_890,
                    index_bytes: 456_789_012,
                },
            ],
        },
        environment: Environment {
            backend: Backend::new("local", "/usr/lib/postgresql/15/bin"),
            backend_note: None,
            notes: vec![],
            server_version: "15.18".into(),
            settings: vec![
                Setting {
                    name: "jit".into(),
                    value: "off".into(),
                    source: "database".into(),
                },
                Setting {
                    name: "random_page_cost".into(),
                    value: "1.1".into(),
                    source: "database".into(),
                },
            ],
            host: Host {
                cores: 2,
                memory_mib: 24_000,
                cpu: "Test CPU".into(),
                os: "Linux 6.1".into(),
            },
        },
        cells: vec![
            cell(
                "sparse",
                stored_query(
                    "old",
                    "desc-index-forward-walk.explain.json",
                    vec![1864.2, 1901.7, 1850.3],
                ),
            ),
            cell(
                "dense",
                stored_query("old", "dense-short-walk.explain.json", vec![0.4, 0.5, 0.45]),
            ),
            cell(
                "huge",
                timed_out_query("old", "desc-index-forward-walk.estimated.json"),
            ),
        ],
        time_budget: Duration::from_secs(60),
        sweep: None,
        stability: None,
        workload: None,
        phases: vec![
            Phase {
                name: "seed: copy rows".into(),
                ms: 5601.0,
            },
            Phase {
                name: "capture and time".into(),
                ms: 2183.4,
            },
        ],
    }
}

#[test]
fn markdown_report() {
    insta::assert_snapshot!(report::markdown::render(&report::document::report(
        &sample_outcome()
    )));
}

#[test]
fn terminal_summary() {
    insta::assert_snapshot!(report::terminal::render(
        &report::document::report(&sample_outcome()),
        false,
        Some(140)
    ));
}

#[test]
fn json_report() {
    let outcome = sample_outcome();
    let text = report::document::report(&outcome).to_json();
    crate::support::assert_valid_report(&text);
    let parsed = report::Report::parse(&text).expect("deny_unknown_fields round trip");
    assert_eq!(parsed.format_version, report::document::FORMAT_VERSION);
    assert_eq!(parsed.variants.len(), 3);
    let timed_out = &parsed.variants[2].queries[0];
    assert_eq!(timed_out.plan, "estimated");
    assert_eq!(timed_out.timed_out_during.as_deref(), Some("warm-up"));
    assert_eq!(timed_out.median_ms, None);
    assert_eq!(parsed.time_budget_ms, 60_000);
    assert!(
        !parsed.passed,
        "the dense variant does not reproduce the walk"
    );
    insta::assert_snapshot!(text);
}

/// A query whose EXPLAIN ANALYZE alone ran past its limit: every report says so, and
/// none calls it timed out; its runs are shown as usual.
#[test]
fn an_explain_analyze_past_its_limit_is_reported_as_such() {
    let mut outcome = sample_outcome();
    let mut old = stored_query(
        "old",
        "desc-index-forward-walk.estimated.json",
        vec![1864.2, 1901.7, 1850.3],
    );
    old.analyze_cancelled = Some(plancheck::outcome::AnalyzeCancelled {
        limit: Duration::from_secs(180),
    });
    outcome.cells = vec![cell("sparse", old)];
    let markdown = report::markdown::render(&report::document::report(&outcome));
    assert!(
        markdown.contains("estimated plan (EXPLAIN without ANALYZE): EXPLAIN ANALYZE did not finish within 180 s (even with TIMING OFF), though the query itself finished within the time budget")
            && markdown.contains("| not finished within 180 s (the query was) | 1864 ms (3) |")
            && !markdown.contains("timed out"),
        "{markdown}"
    );
    let terminal = report::terminal::render(&report::document::report(&outcome), false, Some(200));
    assert!(
        terminal.contains("not finished within 180 s") && !terminal.contains("timed out"),
        "{terminal}"
    );
    let parsed = report::document::report(&outcome);
    let old = &parsed.variants[0].queries[0];
    assert_eq!(
        (old.plan.as_str(), old.timed_out_during.as_deref()),
        ("estimated", None)
    );
    assert_eq!(old.analyze_cancelled_after_ms, Some(180_000));
}

#[test]
fn the_schema_file_is_current() {
    let file = std::fs::read_to_string(repo_path("docs/report.schema.json")).unwrap();
    assert!(
        file == report::document::schema(),
        "docs/report.schema.json is stale: run `cargo run -- report --schema > docs/report.schema.json`"
    );
}

/// A 200-variant matrix with every plan would run far past a comment's length: the
/// Markdown stays within GitHub's limit, keeps the verdicts, and says what it cut.
#[test]
fn markdown_fits_a_pull_request_comment_even_for_a_200_variant_matrix() {
    let mut outcome = sample_outcome();
    let template = outcome.cells[0].clone();
    outcome.cells = (0..200)
        .map(|index| {
            let mut cell = template.clone();
            cell.variant = vec![("tenant".into(), format!("tenant-{index:03}"))];
            cell
        })
        .collect();
    let document = report::document::report(&outcome);
    let markdown = report::markdown::render(&document);
    assert!(
        markdown.chars().count() <= report::markdown::MAX_CHARS,
        "{} characters",
        markdown.chars().count()
    );
    assert!(markdown.starts_with("## plancheck · `sparse-org` · ✅ pass"));
    for index in [0, 199] {
        assert!(
            markdown.contains(&format!("| tenant=tenant-{index:03} | ✅ pass | 5/5 |")),
            "matrix row {index} kept"
        );
    }
    assert!(
        markdown.contains("✂️ Cut to fit a 65536-character pull-request comment: 400 plans"),
        "{}",
        &markdown[markdown.len() - 600..]
    );
    // Without the cap the same report is several times longer.
    let uncut: usize = document.variants.len() * 2;
    assert!(uncut > 0);
}

/// `plancheck report` renders a report again from its report.json alone: the same
/// Markdown, a user's file kept; a report of a newer format version is refused.
#[test]
fn a_report_renders_again_from_its_json_alone() {
    let out = tempfile::tempdir().unwrap();
    let dir = report::write(&sample_outcome(), out.path()).unwrap();
    let markdown = std::fs::read_to_string(dir.join("report.md")).unwrap();
    let written = std::fs::read_to_string(dir.join("report.json")).unwrap();
    std::fs::remove_file(dir.join("report.md")).unwrap();
    std::fs::write(dir.join("notes.txt"), "mine").unwrap();
    crate::support::plancheck()
        .args(["report"])
        .arg(&dir)
        .assert()
        .code(1);
    assert_eq!(
        std::fs::read_to_string(dir.join("report.md")).unwrap(),
        markdown
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("notes.txt")).unwrap(),
        "mine"
    );
    // The document itself comes out as it went in, to the last digit of every float.
    let json = std::fs::read_to_string(dir.join("report.json")).unwrap();
    assert_eq!(json, written);

    std::fs::write(
        dir.join("report.json"),
        json.replace("\"format_version\": 6", "\"format_version\": 99"),
    )
    .unwrap();
    crate::support::plancheck()
        .args(["report"])
        .arg(&dir)
        .assert()
        .code(2)
        .stderr(predicates::str::contains(
            "key `format_version` is 99, newer than this plancheck reads (format_version 6)",
        ));
    let empty = tempfile::tempdir().unwrap();
    crate::support::plancheck()
        .args(["report"])
        .arg(empty.path())
        .assert()
        .code(2)
        .stderr(predicates::str::contains("report.json: no report to read"));
}

/// A report.json that is not plancheck's, or whose value is a string where another
/// type belongs, is refused without quoting the string: it is the file's content.
#[test]
fn a_report_json_with_a_string_out_of_place_is_refused_without_quoting_it() {
    let out = tempfile::tempdir().unwrap();
    let dir = report::write(&sample_outcome(), out.path()).unwrap();
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap();
    let secret = "hunter2-in-a-report";
    for (key, said) in [
        (
            "format",
            "not a plancheck report: key `format` is another string",
        ),
        ("seed", "invalid type: a string, expected"),
    ] {
        let mut edited = written.clone();
        edited[key] = secret.into();
        std::fs::write(dir.join("report.json"), edited.to_string()).unwrap();
        let output = crate::support::plancheck()
            .args(["report"])
            .arg(&dir)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{key}: {stderr}");
        assert!(stderr.contains(said), "{key}: {stderr}");
        assert!(!stderr.contains("hunter2"), "{key} is quoted: {stderr}");
    }
}

/// With several report directories, `plancheck report` writes a run-level index and
/// summary beside them, one line per scenario; an `index.html` that plancheck did not
/// write is never replaced.
#[test]
fn several_reports_get_an_index_and_a_summary() {
    let out = tempfile::tempdir().unwrap();
    let mut dirs = Vec::new();
    for name in ["first-case", "second-case"] {
        let mut outcome = sample_outcome();
        outcome.scenario = name.into();
        if name == "second-case" {
            outcome.cells.truncate(1);
        }
        dirs.push(report::write(&outcome, out.path()).unwrap());
    }
    crate::support::plancheck()
        .arg("report")
        .args(&dirs)
        .assert()
        .code(1);
    let index = std::fs::read_to_string(out.path().join("index.html")).unwrap();
    assert!(
        index.contains("href=\"first-case/report.html\"")
            && index.contains("href=\"second-case/report.html\""),
        "{index}"
    );
    let summary = std::fs::read_to_string(out.path().join("summary.md")).unwrap();
    assert!(
        summary.contains("| [`first-case`](first-case/report.md) | ❌ fail | 13/16 |")
            && summary.contains("| [`second-case`](second-case/report.md) | ✅ pass | 5/5 |"),
        "{summary}"
    );

    // Reports of the same scenario from two runs elsewhere, indexed in a third place:
    // each link leads to its own directory.
    let elsewhere = tempfile::tempdir().unwrap();
    let (one, two, index) = (
        elsewhere.path().join("run-1"),
        elsewhere.path().join("run-2"),
        elsewhere.path().join("index"),
    );
    std::fs::create_dir(&index).unwrap();
    let again = [
        report::write(&sample_outcome(), &one).unwrap(),
        report::write(&sample_outcome(), &two).unwrap(),
    ];
    crate::support::plancheck()
        .args(["report", "--index-dir"])
        .arg(&index)
        .args(&again)
        .assert()
        .code(1);
    // minijinja writes `/` in attributes as `&#x2f;`, which browsers read as `/`.
    let page = std::fs::read_to_string(index.join("index.html"))
        .unwrap()
        .replace("&#x2f;", "/");
    assert!(
        page.contains("href=\"../run-1/sparse-org/report.html\"")
            && page.contains("href=\"../run-2/sparse-org/report.html\""),
        "{page}"
    );
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(index.join("index.html"))
            .unwrap()
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o644, "readable like the reports");

    std::fs::write(out.path().join("index.html"), "<p>my own page</p>").unwrap();
    crate::support::plancheck()
        .arg("report")
        .args(&dirs)
        .assert()
        .code(2)
        .stderr(predicates::str::contains(
            "index.html exists and was not written by plancheck",
        ));
    assert_eq!(
        std::fs::read_to_string(out.path().join("index.html")).unwrap(),
        "<p>my own page</p>"
    );
}

/// A hand-made sweep of the sample: the old query's plan changes from a workflow_id
/// lookup to the created_at walk between 100,000 and 400,000 rows and grows with the
/// table; the new one stays flat. The flip search found 280,000.
pub(crate) fn sample_sweep() -> plancheck::outcome::sweep::Sweep {
    use plancheck::outcome::sweep::{
        CellPoints, Fit, FlipProbe, FlipResult, FlipSearch, Measure, ProbeShape, QueryPoint,
        ScalePoints, Sweep,
    };
    let scales = [50_000u64, 100_000, 200_000, 400_000];
    let point = |query: &str, scale: u64| {
        let ratio = scale as f64 / 50_000.0;
        let (shape, rows, ms, flagged) = match (query, scale) {
            ("old", 50_000 | 100_000) => (
                "Index Scan using workflow_runs_workflow_id on workflow_runs",
                48_000.0 * ratio.powf(0.98),
                160.0 * ratio.powf(0.98),
                false,
            ),
            ("old", _) => (
                "Index Scan using workflow_runs_created_at on workflow_runs",
                48_000.0 * ratio.powf(0.98),
                160.0 * ratio.powf(0.98),
                true,
            ),
            _ => (
                "Index Scan using workflow_runs_organization_id_created_at on workflow_runs wr",
                52.0,
                0.6,
                false,
            ),
        };
        QueryPoint {
            query: query.into(),
            shape: shape.into(),
            flagged,
            analyzed: true,
            rows_examined: Some(rows.round()),
            buffers: Some((rows / 2.0).round() as u64),
            samples_ms: vec![ms * 0.98, ms, ms * 1.03],
            median_ms: Some(ms),
            spread_ms: Some(ms * 0.02),
            timed_out: false,
        }
    };
    let fit = |query: &str, measure, slope: f64, first: f64, half: f64| Fit {
        query: query.into(),
        variant: vec![],
        measure,
        slope,
        intercept: first.ln() - slope * 50_000f64.ln(),
        std_error: Some(half / 4.3),
        interval: Some([slope - half, slope + half]),
        r_squared: Some(0.998),
        points: 4,
    };
    Sweep {
        scales: scales.to_vec(),
        scale_table: "workflow_runs".into(),
        seed: 20_261_124,
        queries: vec!["old".into(), "new".into()],
        points: scales
            .iter()
            .map(|&scale| ScalePoints {
                scale,
                cells: vec![CellPoints {
                    variant: vec![],
                    queries: vec![point("old", scale), point("new", scale)],
                }],
            })
            .collect(),
        fits: vec![
            fit("old", Measure::RowsExamined, 0.98, 48_000.0, 0.02),
            fit("new", Measure::RowsExamined, 0.0, 52.0, 0.0),
            fit("old", Measure::Buffers, 0.98, 24_000.0, 0.02),
            fit("new", Measure::Buffers, 0.0, 26.0, 0.0),
            fit("old", Measure::Time, 0.98, 160.0, 0.03),
            fit("new", Measure::Time, 0.0, 0.6, 0.05),
        ],
        flip: Some(FlipSearch {
            query: "old".into(),
            low: 50_000,
            high: 400_000,
            precision: 1.1,
            probes: [
                (50_000, false),
                (400_000, true),
                (260_000, false),
                (280_000, true),
            ]
            .iter()
            .map(|&(scale, regressed)| FlipProbe {
                scale,
                regressed,
                shapes: vec![ProbeShape {
                    variant: vec![],
                    shape: point("old", if regressed { 400_000 } else { 50_000 }).shape,
                }],
                from_sweep: scale == 50_000 || scale == 400_000,
            })
            .collect(),
            result: FlipResult::Found {
                scale: 280_000,
                clean_below: 260_000,
            },
            min_scale: Some(350_000),
            min_scale_holds: Some(true),
        }),
    }
}

#[test]
fn markdown_report_with_a_sweep() {
    let mut outcome = sample_outcome();
    outcome.cells.truncate(1);
    outcome.sweep = Some(sample_sweep());
    let document = report::document::report(&outcome);
    crate::support::assert_valid_report(&document.to_json());
    insta::assert_snapshot!(report::markdown::render(&document));
}
