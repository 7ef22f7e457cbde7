//! The shipped scenarios judged on plans of several PostgreSQL major versions: the
//! plans `scripts/capture-version-plans.sh` captured on 13, 15 and 17
//! (tests/data/plans/pg<major>/) and those written from PostgreSQL 18's documentation
//! and source (pg18/, no archive here carries 18), judged offline by `plancheck judge`
//! with each scenario's checks and the catalog of the run that captured them. A
//! verdict must be the same on every version; where a version plans differently, the
//! test names the difference and checks that the plan shows it.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::support::{plancheck, repo_path};

/// The versions whose plans were captured from a real server.
const CAPTURED: [&str; 3] = ["pg13", "pg15", "pg17"];

/// What `plancheck judge --format json` said of one plan.
#[derive(Debug)]
struct Judged {
    /// `check subject: pass|FAIL|not judged`, in the scenario's order.
    verdicts: Vec<String>,
    access_path: Vec<String>,
    rows_examined: f64,
    rows_returned: f64,
}

fn plans_dir(version: &str) -> PathBuf {
    repo_path("tests/data/plans").join(version)
}

/// The version whose captured catalog goes with `version`'s plans: their own, but
/// 18's plans are 17's rewritten, and so is their catalog.
fn catalog_version(version: &str) -> &str {
    match version {
        "pg18" => "pg17",
        other => other,
    }
}

/// Judges `version`'s plan of `scenario`'s `query` captured at `scale` (for a
/// scenario with variants, the plan of `variant`, as the report names its file:
/// `status-shipped`), against the catalog of the same run, before or after its
/// migration as the query runs.
fn judge(version: &str, scenario: &str, scale: u32, plan: &str, catalog: &str) -> Judged {
    let dir = plans_dir(version);
    let plan_file = dir.join(format!("{scenario}.{scale}.{plan}.explain.json"));
    let query = plan.split('.').next().unwrap();
    let output = plancheck()
        .args(["judge", "--format", "json", "--scenario", scenario])
        .args(["--query", query, "--catalog"])
        .arg(plans_dir(catalog_version(version)).join(format!("{scenario}.{scale}.{catalog}")))
        .arg(&plan_file)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        matches!(output.status.code(), Some(0 | 1)),
        "{}: {}{}",
        plan_file.display(),
        stdout,
        String::from_utf8_lossy(&output.stderr)
    );
    let judgement: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let judged = &judgement["plans"][0];
    Judged {
        verdicts: judged["verdicts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|verdict| {
                let word = match (verdict["judged"].as_bool(), verdict["passed"].as_bool()) {
                    (Some(false), _) => "not judged",
                    (_, Some(true)) => "pass",
                    _ => "FAIL",
                };
                format!(
                    "{} {}: {word}",
                    verdict["check"].as_str().unwrap(),
                    verdict["subject"].as_str().unwrap()
                )
            })
            .collect(),
        access_path: judged["access_path"]
            .as_array()
            .unwrap()
            .iter()
            .map(|label| label.as_str().unwrap().to_owned())
            .collect(),
        rows_examined: judged["rows_examined"].as_f64().unwrap(),
        rows_returned: judged["rows_returned"].as_f64().unwrap(),
    }
}

/// Every plan the capture kept of the shipped scenarios, as `(scenario, scale, plan,
/// catalog)` with `plan` as in [`judge`].
fn captured_plans() -> Vec<(&'static str, u32, &'static str, &'static str)> {
    let mut plans = Vec::new();
    for scale in [20_000, 350_000] {
        for scenario in ["sparse-org", "dense-org"] {
            for query in ["old", "new"] {
                plans.push((scenario, scale, query, "catalog.json"));
            }
        }
    }
    for (plan, catalog) in [
        ("old.status-awaiting-transfer", "catalog.json"),
        ("old.status-shipped", "catalog.json"),
        ("new.status-awaiting-transfer", "catalog.after.json"),
        ("new.status-shipped", "catalog.after.json"),
    ] {
        plans.push(("orders-by-status", 20_000, plan, catalog));
    }
    plans
}

/// Renders one plan's verdicts per version, for a failure message.
fn by_version(judged: &BTreeMap<&str, Judged>) -> String {
    judged
        .iter()
        .map(|(version, judged)| {
            format!(
                "{version}: {} | {} rows examined, {} returned | {}",
                judged.verdicts.join(", "),
                judged.rows_examined,
                judged.rows_returned,
                judged.access_path.join("; ")
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// What the scenarios' checks say of the plans of 13, 15 and 17 alike, for the cases
/// whose verdict is the point: below sparse-org's min_scale the old query reads the
/// organization's runs through `workflow_runs_workflow_id` and the regression does
/// not reproduce; at it, it walks the time index on every version; orders-by-status
/// walks for a rare status before its migration and not after.
const EXPECTED: [(&str, u32, &str, &[&str]); 5] = [
    (
        "sparse-org",
        20_000,
        "old",
        &["ordered-walk old: FAIL", "row-amplification old: FAIL"],
    ),
    (
        "sparse-org",
        350_000,
        "old",
        &["ordered-walk old: pass", "row-amplification old: pass"],
    ),
    (
        "sparse-org",
        350_000,
        "new",
        &["ordered-walk new: pass", "row-amplification new: pass"],
    ),
    (
        "orders-by-status",
        20_000,
        "old.status-awaiting-transfer",
        &["ordered-walk old: pass", "rows-examined old: pass"],
    ),
    (
        "orders-by-status",
        20_000,
        "new.status-awaiting-transfer",
        &["rows-examined new: pass", "no-node new: pass"],
    ),
];

#[test]
fn the_shipped_scenarios_get_the_same_verdicts_on_13_15_and_17() {
    for (scenario, scale, plan, catalog) in captured_plans() {
        let judged: BTreeMap<&str, Judged> = CAPTURED
            .iter()
            .map(|version| (*version, judge(version, scenario, scale, plan, catalog)))
            .collect();
        let first = &judged[CAPTURED[0]];
        assert!(
            !first.verdicts.is_empty(),
            "{scenario} at {scale}: {plan} has no check to judge it"
        );
        for (version, other) in &judged {
            assert_eq!(
                other.verdicts,
                first.verdicts,
                "{scenario} at {scale}, {plan}: {version}'s verdicts differ from {}'s:\n{}",
                CAPTURED[0],
                by_version(&judged)
            );
        }
        if let Some((.., expected)) = EXPECTED
            .iter()
            .find(|(s, n, p, _)| (*s, *n, *p) == (scenario, scale, plan))
        {
            for verdict in *expected {
                assert!(
                    first.verdicts.iter().any(|v| v == verdict),
                    "{scenario} at {scale}, {plan}: expected {verdict}:\n{}",
                    by_version(&judged)
                );
            }
        }
    }
}

/// The one plan shape that differs between the captured versions, and why the
/// verdicts still agree: for the old query's inner side (is this run's workflow in
/// the organization?), 13 reads the organization's live workflows once and keeps them
/// in a Materialize node; 14 added Memoize, and 15 and 17 look each distinct workflow
/// up once through it (980 lookups at 350,000 runs; 21 of 30 at 20,000 in dense-org,
/// the rest cache hits). The walk of the time index, the regression, is the same.
#[test]
fn where_13_plans_differently_the_plans_show_it_and_the_walk_is_the_same() {
    let node_types = |version: &str, file: &str| -> Vec<String> {
        let text = std::fs::read_to_string(plans_dir(version).join(file)).unwrap();
        let plan = plancheck::plan::Plan::from_explain_text(&text).unwrap();
        plan.nodes()
            .map(|(_, node)| node.node_type.clone())
            .collect()
    };
    for file in [
        "sparse-org.350000.old.explain.json",
        "dense-org.20000.old.explain.json",
        "dense-org.350000.old.explain.json",
    ] {
        let old_13 = node_types("pg13", file);
        assert!(
            !old_13.contains(&"Memoize".to_owned()),
            "{file}: {old_13:?}"
        );
        for version in ["pg15", "pg17"] {
            let types = node_types(version, file);
            assert!(
                types.contains(&"Memoize".to_owned()),
                "{version} {file}: {types:?}"
            );
        }
    }
    assert!(
        node_types("pg13", "sparse-org.350000.old.explain.json")
            .contains(&"Materialize".to_owned())
    );

    let walk: BTreeMap<&str, Judged> = CAPTURED
        .iter()
        .map(|version| {
            (
                *version,
                judge(version, "sparse-org", 350_000, "old", "catalog.json"),
            )
        })
        .collect();
    for judged in walk.values() {
        assert_eq!(
            judged.access_path[0],
            "Index Scan using workflow_runs_created_at on workflow_runs",
            "{}",
            by_version(&walk)
        );
    }
    // Rows examined differ by what each plan counts on the inner side: 13 read 3
    // workflows once; 15 and 17 read them in 980 lookups that EXPLAIN prints, rounded
    // per loop, as 0 rows each. The walk itself read 347,156 runs on all three.
    assert_eq!(
        walk["pg13"].rows_examined,
        347_159.0,
        "{}",
        by_version(&walk)
    );
    assert_eq!(
        walk["pg15"].rows_examined,
        347_156.0,
        "{}",
        by_version(&walk)
    );
    assert_eq!(
        walk["pg17"].rows_examined,
        347_156.0,
        "{}",
        by_version(&walk)
    );
}

/// PostgreSQL 18's plans (written from captured 17 plans, see tests/data/plans/README.md):
/// fractional per-loop rows count exactly, a node marked `"Disabled": true` is judged
/// like any other, and the verdicts are 17's.
#[test]
fn plans_as_18_prints_them_get_17s_verdicts_with_exact_row_counts() {
    for (scenario, scale, plan) in [
        ("sparse-org", 20_000, "old"),
        ("sparse-org", 20_000, "new"),
        ("sparse-org", 350_000, "old"),
    ] {
        let of_18 = judge("pg18", scenario, scale, plan, "catalog.json");
        let of_17 = judge("pg17", scenario, scale, plan, "catalog.json");
        assert_eq!(of_18.verdicts, of_17.verdicts, "{scenario} {scale} {plan}");
        assert_eq!(
            of_18.access_path, of_17.access_path,
            "{scenario} {scale} {plan}"
        );
    }

    // Below the flip, the old query's inner index scan returns 40 runs in 3 loops:
    // 17 prints 13 per loop (39 in all), 18 prints 13.33 (39.99), with the
    // organization's 3 workflows on top.
    let of_17 = judge("pg17", "sparse-org", 20_000, "old", "catalog.json");
    let of_18 = judge("pg18", "sparse-org", 20_000, "old", "catalog.json");
    assert_eq!(of_17.rows_examined, 42.0);
    assert!(
        (of_18.rows_examined - 42.99).abs() < 1e-9,
        "{}",
        of_18.rows_examined
    );

    // With the index scan disabled (enable_indexscan = off, nothing else left enabled),
    // the planner still walks orders_created_at: a disabled walk is still the walk.
    let disabled = "old.status-awaiting-transfer.disabled";
    let walk = judge("pg18", "orders-by-status", 20_000, disabled, "catalog.json");
    assert!(
        walk.verdicts.contains(&"ordered-walk old: pass".to_owned()),
        "{walk:?}"
    );
    assert!(
        walk.verdicts
            .contains(&"rows-examined old: pass".to_owned()),
        "{walk:?}"
    );
    assert_eq!(walk.rows_examined, 19_374.0, "{walk:?}");
}

/// `versions.json` as docs/report-format.md describes it; unknown fields fail.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct VersionsDocument {
    format: String,
    scenario: String,
    rows: u64,
    scale_table: String,
    seed: u64,
    versions: Vec<VersionRun>,
    #[serde(default)]
    not_run: Vec<u32>,
    verdicts: Vec<VerdictRow>,
    shapes: Vec<ShapeRow>,
    sweep: Option<SweepAcross>,
    #[serde(default)]
    stability: Vec<StabilityRow>,
    differences: Vec<String>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct StabilityRow {
    variant: String,
    query: String,
    plans: Vec<String>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct SweepAcross {
    scales: Vec<u64>,
    growth: Vec<GrowthRow>,
    flip: Option<FlipRow>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct GrowthRow {
    query: String,
    variant: String,
    measure: String,
    exponents: Vec<String>,
    plan_changes: Vec<bool>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct FlipRow {
    query: String,
    found: Vec<String>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct VersionRun {
    major: u32,
    server_version: String,
    backend: String,
    passed: bool,
    report: String,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct VerdictRow {
    check: String,
    variant: String,
    subject: String,
    verdicts: Vec<String>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct ShapeRow {
    variant: String,
    query: String,
    shapes: Vec<String>,
}

/// `--pg 15,17` on the docker backend: one server per version, the same rows on both
/// (the seeded tables' facts agree), each version's report under `pg<N>/`, the
/// comparison beside them with a column per version (verdicts, plan shapes and the
/// plans of `--stability`'s rounds), a JUnit case per check and version, and over the
/// two scenarios run, an index row per scenario and version.
#[test]
fn docker_runs_scenarios_on_each_version_asked_and_compares_them() {
    let Some(_fifteen) = crate::support::docker_image() else {
        return;
    };
    crate::support::ensure_built("plancheck/postgres:17");
    let out = tempfile::tempdir().unwrap();
    let junit = out.path().join("junit.xml");
    let output = plancheck()
        .args([
            "scenario",
            "tests/data/scenarios/sparse-small.toml",
            "tests/data/scenarios/dense-small.toml",
            "--scale",
            "20000",
        ])
        .args(crate::support::ON_15_AND_17)
        .args(["--stability", "2", "--junit"])
        .arg(&junit)
        .arg("--out")
        .arg(out.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        matches!(output.status.code(), Some(0 | 1)),
        "stderr:\n{stderr}"
    );
    let dir = out.path().join("sparse-small");
    let document: VersionsDocument =
        serde_json::from_str(&std::fs::read_to_string(dir.join("versions.json")).unwrap()).unwrap();
    assert_eq!(document.format, "plancheck-versions 2");
    assert!(document.sweep.is_none(), "a run at one scale has no sweep");
    // Each version's ANALYZE rounds, per query; at a statistics target that reads every
    // row, one plan each.
    let queries: Vec<&str> = document
        .stability
        .iter()
        .map(|row| row.query.as_str())
        .collect();
    assert_eq!(queries, ["old", "new"]);
    for row in &document.stability {
        assert_eq!(row.plans, ["1 plan", "1 plan"], "{}", row.query);
    }
    let majors: Vec<u32> = document.versions.iter().map(|v| v.major).collect();
    assert_eq!(majors, [15, 17]);
    assert!(document.versions[0].server_version.starts_with("15."));
    assert!(document.versions[1].server_version.starts_with("17."));
    for version in &document.versions {
        assert!(dir.join(&version.report).is_file(), "{}", version.report);
        assert!(
            version
                .backend
                .contains(&format!("plancheck/postgres:{}", version.major))
        );
    }
    let facts = |major: u32| -> serde_json::Value {
        let report: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dir.join(format!("pg{major}/report.json"))).unwrap(),
        )
        .unwrap();
        report["dataset"]["tables"].clone()
    };
    assert_eq!(facts(15), facts(17), "the same rows on both versions");
    let ordered_walk = document
        .verdicts
        .iter()
        .find(|row| row.check == "ordered-walk" && row.subject == "new")
        .expect("the new query's ordered-walk verdict");
    assert_eq!(ordered_walk.verdicts.len(), 2);
    // What differs is said, and only that.
    for row in &document.verdicts {
        let differs = row
            .verdicts
            .iter()
            .any(|verdict| *verdict != row.verdicts[0]);
        let said = document
            .differences
            .iter()
            .any(|line| line.starts_with(&format!("{} on {}", row.check, row.subject)));
        assert_eq!(
            differs, said,
            "{} {}: {:?}",
            row.check, row.subject, row.verdicts
        );
    }
    let markdown = std::fs::read_to_string(dir.join("versions.md")).unwrap();
    assert!(
        markdown.contains("| check | variant | subject | PG 15 | PG 17 |"),
        "{markdown}"
    );
    let xml = std::fs::read_to_string(&junit).unwrap();
    for major in ["15", "17"] {
        assert!(
            xml.contains(&format!("plancheck.sparse-small.pg{major}")),
            "{xml}"
        );
    }
    let summary = std::fs::read_to_string(out.path().join("summary.md")).unwrap();
    assert!(
        summary.contains("## plancheck · 2 scenarios · 4 reports"),
        "{summary}"
    );
    for (scenario, major) in [
        ("sparse-small", 15),
        ("sparse-small", 17),
        ("dense-small", 15),
        ("dense-small", 17),
    ] {
        let link = format!("({scenario}/pg{major}/report.md)");
        assert!(summary.contains(&link), "{link} in {summary}");
        assert!(
            out.path().join(&link[1..link.len() - 1]).is_file(),
            "{link}"
        );
    }
    let rows: Vec<&str> = summary
        .lines()
        .filter(|line| line.starts_with("| [`"))
        .collect();
    assert!(
        rows[0].contains("PostgreSQL 15.") && rows[1].contains("PostgreSQL 17."),
        "{summary}"
    );
}

/// A sweep with its flip search runs whole on each version; the comparison gives each
/// version's growth exponents and flip, and `--keep` keeps each version's server with
/// the last scale's database, each reachable with the command printed for it, each
/// removed with its own removal command.
#[test]
fn docker_sweeps_and_searches_the_flip_on_each_version_and_keeps_each_server() {
    let Some(_fifteen) = crate::support::docker_image() else {
        return;
    };
    crate::support::ensure_built("plancheck/postgres:17");
    let out = tempfile::tempdir().unwrap();
    let output = plancheck()
        .args([
            "scenario",
            "tests/data/scenarios/sparse-small.toml",
            "--scales",
            "2000,20000",
            "--find-flip",
            "old",
        ])
        .args(crate::support::ON_15_AND_17)
        .args(["--keep"])
        .arg("--out")
        .arg(out.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    // Each kept server: the psql command after its line, and the removal after that.
    let mut kept = Vec::new();
    let lines: Vec<&str> = stderr.lines().collect();
    for (index, line) in lines.iter().enumerate() {
        if let Some(rest) = line.split("kept the PostgreSQL ").nth(1) {
            let major: u32 = rest.split(' ').next().unwrap().parse().unwrap();
            let psql = lines[index + 1].trim().to_owned();
            let remove = lines[index + 3].trim().to_owned();
            kept.push((major, psql, remove, lines[index + 2]));
        }
    }
    let _removed = Removals(
        kept.iter()
            .map(|(_, _, remove, _)| remove.clone())
            .collect(),
    );
    for (_, _, _, between) in &kept {
        assert_eq!(*between, "Remove it when done with:", "{stderr}");
    }
    assert!(
        matches!(output.status.code(), Some(0 | 1)),
        "stderr:\n{stderr}"
    );
    assert_eq!(
        kept.iter()
            .map(|(major, _, _, _)| *major)
            .collect::<Vec<_>>(),
        [15, 17],
        "{stderr}"
    );
    for (major, psql, _, _) in &kept {
        let said = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!(
                "{psql} -Atc \"SELECT current_setting('server_version_num')::int / 10000, count(*) FROM workflow_runs\""
            ))
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&said.stdout).trim(),
            format!("{major}|20000"),
            "{psql}: {}",
            String::from_utf8_lossy(&said.stderr)
        );
    }

    let dir = out.path().join("sparse-small");
    let document: VersionsDocument =
        serde_json::from_str(&std::fs::read_to_string(dir.join("versions.json")).unwrap()).unwrap();
    assert_eq!(document.rows, 20_000, "verdicts are the largest scale's");
    let sweep = document.sweep.expect("the sweep's comparison");
    assert_eq!(sweep.scales, [2_000, 20_000]);
    let walk = sweep
        .growth
        .iter()
        .find(|row| row.query == "old" && row.measure == "rows-examined")
        .expect("the old query's rows examined, fitted");
    assert_eq!(walk.exponents.len(), 2);
    // Between 2,000 and 20,000 rows the old query's plan turns into the walk.
    assert_eq!(walk.plan_changes, [true, true]);
    let steady = sweep
        .growth
        .iter()
        .find(|row| row.query == "new" && row.measure == "rows-examined")
        .expect("the new query's rows examined, fitted");
    assert_eq!(steady.plan_changes, [false, false], "the new plan stays");
    assert!(
        markdown_has_plan_change(&dir),
        "versions.md marks the exponent"
    );
    for exponent in &walk.exponents {
        let exponent: f64 = exponent.parse().unwrap();
        assert!(
            exponent > 1.0,
            "the walk grows faster than the table: {exponent}"
        );
    }
    let flip = sweep.flip.expect("the flip search, per version");
    assert_eq!(flip.query, "old");
    assert_eq!(flip.found.len(), 2);
    for found in &flip.found {
        assert!(found.starts_with("from "), "{found}");
    }
    // The same flip is no difference (one within the search's precision, as ANALYZE's
    // sample can move it between reruns, is not either: see the unit tests).
    if flip.found[0] == flip.found[1] {
        assert!(
            !document
                .differences
                .iter()
                .any(|line| line.starts_with("old's plan shows the regression")),
            "{:?}",
            document.differences
        );
    }
    let markdown = std::fs::read_to_string(dir.join("versions.md")).unwrap();
    assert!(
        markdown.contains("| query | variant | measure | PG 15 | PG 17 |"),
        "{markdown}"
    );
    assert!(
        markdown.contains("Swept at 2,000, 20,000 rows"),
        "{markdown}"
    );
}

/// Whether `versions.md` in `dir` marks an exponent that spans two plans.
fn markdown_has_plan_change(dir: &std::path::Path) -> bool {
    std::fs::read_to_string(dir.join("versions.md"))
        .unwrap()
        .contains("(plan changes) |")
}

/// Runs each removal command `--keep` printed when dropped, pass or fail.
struct Removals(Vec<String>);

impl Drop for Removals {
    fn drop(&mut self) {
        for remove in &self.0 {
            let _ = std::process::Command::new("sh")
                .arg("-c")
                .arg(remove)
                .output();
        }
    }
}

/// A version asked for that is not here is bad input, before anything starts: it says
/// which images are here and how to build the one asked for.
#[test]
fn docker_refuses_a_version_without_an_image_and_says_how_to_build_it() {
    let Some(_image) = crate::support::docker_image() else {
        return;
    };
    let out = tempfile::tempdir().unwrap();
    plancheck()
        .args([
            "scenario",
            "tests/data/scenarios/sparse-small.toml",
            "--backend",
            "docker",
            "--image",
            "plancheck/postgres:15",
            "--pg",
            "15,12",
        ])
        .arg("--out")
        .arg(out.path())
        .assert()
        .code(2)
        .stderr(predicates::str::contains(
            "scripts/build-postgres-image.sh 12",
        ))
        .stderr(predicates::str::contains(
            "Images of plancheck/postgres here:",
        ));
    assert!(
        !out.path().join("sparse-small").exists(),
        "nothing was written"
    );
}

/// The local backend looks for the version's host binaries and names what it found.
#[test]
fn local_refuses_a_version_whose_binaries_are_not_installed() {
    let missing = (10..100)
        .find(|major| !std::path::Path::new(&format!("/usr/lib/postgresql/{major}")).exists())
        .unwrap();
    let out = tempfile::tempdir().unwrap();
    plancheck()
        .args([
            "scenario",
            "tests/data/scenarios/sparse-small.toml",
            "--pg",
            &missing.to_string(),
        ])
        .arg("--out")
        .arg(out.path())
        .assert()
        .code(2)
        .stderr(predicates::str::contains(format!(
            "no PostgreSQL {missing} server binaries"
        )))
        .stderr(predicates::str::contains("found: "));
}

/// A server --database-url names runs one version: `--pg` naming another is bad input,
/// found before any version runs (the 15 that matches does not run first).
#[tokio::test(flavor = "multi_thread")]
async fn a_database_url_of_another_version_is_refused_before_anything_runs() {
    let server = crate::support::local_server().await;
    let url = crate::support::superuser_url(&server);
    let out = tempfile::tempdir().unwrap();
    let output = plancheck()
        .args([
            "scenario",
            "tests/data/scenarios/sparse-small.toml",
            "--backend",
            "url",
            "--database-url",
            &url,
            "--pg",
            "15,17",
        ])
        .arg("--out")
        .arg(out.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--pg 17: the server --database-url names runs PostgreSQL 15"),
        "{stderr}"
    );
    assert!(!stderr.contains("running scenario"), "{stderr}");
    assert!(
        !out.path().join("sparse-small").exists(),
        "nothing was written"
    );
    server.stop().await.unwrap();
}
