//! Scale sweeps on a real server (`--scales`, `--sweep`, `--find-flip`): the growth
//! fitted from the test dataset, the `growth` checks' verdicts, the flip search, and
//! the refusals of bad input before anything starts.

use predicates::prelude::PredicateBooleanExt;
use predicates::str::contains;

use plancheck::outcome::Outcome;
use plancheck::outcome::sweep::{FlipResult, Measure};
use plancheck::pipeline::sweep::{self, SweepRequest};

use crate::support::{local_server, plancheck, quick_options, repo_path, test_scenario};

/// A copy of test scenario `name` in `dir`, its relative paths made absolute, with
/// `edit` applied to its text; returns its path.
fn edited_scenario(
    dir: &std::path::Path,
    name: &str,
    edit: impl Fn(String) -> String,
) -> std::path::PathBuf {
    let text = std::fs::read_to_string(repo_path(&format!("tests/data/scenarios/{name}.toml")))
        .unwrap()
        .replace(
            "\"../../../fixtures/",
            &format!("\"{}/", repo_path("fixtures").display()),
        )
        .replace(
            "\"../datasets/",
            &format!("\"{}/", repo_path("tests/data/datasets").display()),
        );
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, edit(text)).unwrap();
    path
}

async fn swept(name: &str, request: SweepRequest) -> Outcome {
    let scenario = test_scenario(name);
    let plan = sweep::plan(&scenario, &request, None)
        .unwrap()
        .expect("a sweep was asked for");
    let server = local_server().await;
    let outcome = sweep::run(&server, &scenario, &quick_options(), &plan).await;
    server.stop().await.unwrap();
    outcome.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sweep_finds_the_old_query_growing_with_the_table_and_the_new_one_flat() {
    let run = swept(
        "sparse-small-sweep",
        SweepRequest {
            sweep: true,
            ..SweepRequest::default()
        },
    )
    .await;
    let sweep = run.sweep.as_ref().expect("a swept run carries its sweep");
    assert_eq!(sweep.scales, [10_000, 20_000, 40_000]);
    // The verdict is the largest scale's.
    assert_eq!(run.seeded.scale, 40_000);
    assert_eq!(sweep.points.len(), 3);
    for at in &sweep.points {
        let old = &at.cells[0].queries[0];
        assert!(
            old.shape
                .contains("Index Scan using workflow_runs_created_at on workflow_runs")
                && old.flagged,
            "the old plan walks at {}: {old:?}",
            at.scale
        );
    }
    let slope = |query: &str, measure| sweep.fit(query, &[], measure).unwrap().slope;
    let old_rows = slope("old", Measure::RowsExamined);
    let new_rows = slope("new", Measure::RowsExamined);
    assert!(
        (0.8..1.2).contains(&old_rows),
        "old rows examined slope {old_rows}"
    );
    assert!(new_rows.abs() < 0.1, "new rows examined slope {new_rows}");
    assert!(slope("old", Measure::Buffers) > 0.8);

    let growth: Vec<_> = run.cells[0]
        .verdicts
        .iter()
        .filter(|verdict| verdict.check == "growth")
        .collect();
    assert_eq!(growth.len(), 2, "{growth:#?}");
    assert!(growth.iter().all(|verdict| verdict.passed), "{growth:#?}");
    assert!(
        growth[0]
            .summary
            .starts_with("old rows examined grows faster than slope 0.5, as expected: old grows with the table (slope"),
        "{}",
        growth[0].summary
    );
    assert!(run.passed(), "{:#?}", run.cells[0].verdicts);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_flip_search_names_a_scale_within_ten_percent_inside_the_bracket() {
    let run = swept(
        "sparse-small",
        SweepRequest {
            scales: Some(vec![2_000, 20_000]),
            find_flip: Some("old".into()),
            ..SweepRequest::default()
        },
    )
    .await;
    let flip = run.sweep.as_ref().unwrap().flip.as_ref().unwrap();
    let FlipResult::Found { scale, clean_below } = flip.result else {
        panic!("the flip lies inside the bracket: {flip:#?}");
    };
    assert!(
        2_000 <= clean_below && clean_below < scale && scale <= 20_000,
        "{flip:#?}"
    );
    assert!(scale as f64 <= clean_below as f64 * 1.1, "{flip:#?}");
    let probe = |at| flip.probes.iter().find(|probe| probe.scale == at).unwrap();
    assert!(probe(scale).regressed && !probe(clean_below).regressed);
    assert!(
        probe(scale).shapes[0]
            .shape
            .contains("workflow_runs_created_at")
    );
    assert!(
        !probe(clean_below).shapes[0]
            .shape
            .contains("workflow_runs_created_at")
    );
    // The sweep's two scales and at least one probe between them, plans only.
    assert!(flip.probes.iter().filter(|probe| !probe.from_sweep).count() >= 1);
    assert_eq!(flip.min_scale_holds, None);
    assert!(run.passed());
}

#[test]
fn a_min_scale_below_the_flip_fails_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let path = edited_scenario(dir.path(), "sparse-small", |text| {
        text.replace("[settings]", "min_scale = 3_000\n\n[settings]")
    });
    plancheck()
        .arg("scenario")
        .arg(&path)
        .args([
            "--scales",
            "2000,20000",
            "--find-flip",
            "old",
            "--no-progress",
            "--out",
        ])
        .arg(dir.path().join("reports"))
        .assert()
        .code(1)
        .stderr(contains("old's plan shows the regression from"))
        .stderr(contains("min_scale 3,000 is too low"));
}

#[test]
fn growth_the_data_contradicts_fails_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let path = edited_scenario(dir.path(), "sparse-small-sweep", |text| {
        text + "\n[[check]]\ncheck = \"growth\"\nquery = \"old\"\nmeasure = \"rows-examined\"\nmax_slope = 0.5\nexpect = \"absent\"\n"
    });
    plancheck()
        .arg("scenario")
        .arg(&path)
        .args(["--scales", "10000,40000", "--no-progress", "--out"])
        .arg(dir.path().join("reports"))
        .assert()
        .code(1)
        .stdout(contains(
            "old rows examined grows faster than slope 0.5: old grows",
        ))
        .stderr(contains("rows examined: old grows with the table"));
}

#[test]
fn at_one_scale_growth_checks_say_they_were_not_judged_and_do_not_fail() {
    let out = tempfile::tempdir().unwrap();
    plancheck()
        .args([
            "scenario",
            "tests/data/scenarios/sparse-small-sweep.toml",
            "--scale",
            "20000",
            "--no-progress",
            "--out",
        ])
        .arg(out.path())
        .assert()
        .code(0)
        .stdout(contains("not judged: needs a sweep"))
        .stderr(contains("2 growth check(s) not judged"));
}

/// Refused before a server starts, naming the flag (or file and key) and the value.
#[test]
fn bad_sweeps_are_usage_errors_that_name_the_flag_and_value() {
    let scenario = "tests/data/scenarios/sparse-small.toml";
    let refused = |args: &[&str], words: &[&str]| {
        let mut assert = plancheck()
            .args(["scenario", scenario, "--no-progress"])
            .args(args)
            .assert()
            .code(2)
            .stderr(contains("starting PostgreSQL").not());
        for word in words {
            assert = assert.stderr(contains(*word));
        }
    };
    refused(&["--scales", "10000"], &["--scales 10000", "at least two"]);
    refused(
        &["--scales", "20000,10000"],
        &[
            "--scales 20000,10000",
            "scales must increase, and 10000 comes after 20000",
        ],
    );
    refused(
        &["--scales", "50,20000"],
        &["--scales 50,20000", "the smallest scale, 50, is too small"],
    );
    refused(&["--scales", "0,100"], &["positive whole number of rows"]);
    refused(&["--scale", "5000", "--scales", "1000,2000"], &["--scale"]);
    refused(&["--sweep"], &["--sweep", "declares no [sweep]"]);
    refused(
        &["--scales", "2000,20000", "--find-flip", "new"],
        &["--find-flip new", "no plan check", "queries with one: old"],
    );
    refused(
        &["--scales", "2000,20000", "--find-flip", "older"],
        &["--find-flip older", "declares no query \"older\""],
    );
}

#[test]
fn bad_sweep_sections_name_the_file_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let decreasing = edited_scenario(dir.path(), "sparse-small-sweep", |text| {
        text.replace(
            "scales = [10_000, 20_000, 40_000]",
            "scales = [20_000, 10_000]",
        )
    });
    plancheck()
        .arg("scenario")
        .arg(&decreasing)
        .arg("--sweep")
        .assert()
        .code(2)
        .stderr(contains("sparse-small-sweep.toml"))
        .stderr(contains("key `sweep.scales`"))
        .stderr(contains("10000 comes after 20000"));
    let unknown = edited_scenario(dir.path(), "sparse-small-sweep", |text| {
        text.replace(
            "queries = [\"old\", \"new\"]",
            "queries = [\"old\"]\nscale = 5",
        )
    });
    plancheck()
        .arg("scenario")
        .arg(&unknown)
        .assert()
        .code(2)
        .stderr(contains("unknown field `scale`"));
    let unfitted = edited_scenario(dir.path(), "sparse-small-sweep", |text| {
        text.replace("queries = [\"old\", \"new\"]", "queries = [\"old\"]")
    });
    plancheck()
        .arg("scenario")
        .arg(&unfitted)
        .assert()
        .code(2)
        .stderr(contains("key `sweep.queries`"))
        .stderr(contains("(growth) reads the growth of query \"new\""));
    let too_small = edited_scenario(dir.path(), "sparse-small-sweep", |text| {
        text.replace("scales = [10_000, 20_000, 40_000]", "scales = [50, 20_000]")
    });
    plancheck()
        .arg("scenario")
        .arg(&too_small)
        .arg("--sweep")
        .assert()
        .code(2)
        .stderr(contains("key `sweep.scales`"))
        .stderr(contains("the smallest scale, 50, is too small"));
}

/// A dataset whose every count is fixed seeds the same rows at every scale.
#[test]
fn a_dataset_that_does_not_grow_cannot_be_swept() {
    let dir = tempfile::tempdir().unwrap();
    let dataset = std::fs::read_to_string(repo_path("tests/data/datasets/small.toml"))
        .unwrap()
        .replace(
            "\"../../../fixtures/",
            &format!("\"{}/", repo_path("fixtures").display()),
        )
        .replace(
            "children.workflow_runs = { share = 0.90 }",
            "children.workflow_runs = 500",
        )
        .replace(
            "children.workflow_runs = { share = 0.10 }",
            "children.workflow_runs = 50",
        );
    let dataset_path = dir.path().join("fixed.toml");
    std::fs::write(&dataset_path, dataset).unwrap();
    let path = edited_scenario(dir.path(), "sparse-small", |text| {
        text.replace(
            &format!(
                "\"{}/small.toml\"",
                repo_path("tests/data/datasets").display()
            ),
            &format!("\"{}\"", dataset_path.display()),
        )
    });
    plancheck()
        .arg("scenario")
        .arg(&path)
        .args(["--scales", "1000,2000"])
        .assert()
        .code(2)
        .stderr(contains("--scales 1000,2000"))
        .stderr(contains("seeds the same 1,342 rows at 1000 as at 2000"));
}
