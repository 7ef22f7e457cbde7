//! Plan stability on a real server (`--stability N`): the rounds' plans in the
//! outcome and every report, the `stable` check's verdict over them (on both sides
//! of a migration), the verdict without them (not judged), and the refusals of bad
//! input before anything starts.

use predicates::str::contains;

use plancheck::pipeline::RunOptions;
use plancheck::pipeline::stability::StabilityRequest;
use plancheck::report;

use crate::support::{local_server, plancheck, quick_options, test_scenario};

#[tokio::test(flavor = "multi_thread")]
async fn five_analyze_rounds_keep_one_plan_per_query_and_the_stable_checks_pass() {
    let scenario = test_scenario("sparse-small-stable");
    let options = RunOptions {
        stability: Some(StabilityRequest {
            rounds: 5,
            statistics_target: None,
        }),
        ..quick_options()
    };
    let server = local_server().await;
    let run = plancheck::pipeline::run_scenario(&server, &scenario, &options).await;
    server.stop().await.unwrap();
    let run = run.unwrap();
    let stability = run.stability.as_ref().expect("the run carries its rounds");
    assert_eq!(stability.rounds, 5);
    // The scenario pins a target of 1000: at the test scale every row is read.
    assert_eq!(stability.database_statistics_target, "1000");
    for query in ["old", "new"] {
        let shapes = stability.query(&[], query).expect("every query explained");
        assert_eq!(shapes.shapes.len(), 1, "{query}: {shapes:?}");
        assert_eq!(shapes.shapes[0].rounds, 5);
        assert!(!shapes.shapes[0].flagged(), "{query}: {shapes:?}");
    }
    let old = &stability.query(&[], "old").unwrap().shapes[0].shape;
    assert!(
        old.contains("Index Scan using workflow_runs_created_at on workflow_runs"),
        "{old}"
    );
    let stable: Vec<_> = run.cells[0]
        .verdicts
        .iter()
        .filter(|verdict| verdict.check == "stable")
        .collect();
    assert_eq!(stable.len(), 2);
    for verdict in stable {
        assert!(verdict.passed && verdict.judged, "{}", verdict.summary);
        assert!(
            verdict
                .summary
                .contains("kept one plan over 5 ANALYZE rounds")
                && verdict.summary.contains("(5 of 5)"),
            "{}",
            verdict.summary
        );
    }
    assert!(run.passed());
    assert!(
        run.phases
            .iter()
            .any(|phase| phase.name == "stability: 5 ANALYZE rounds")
    );
    let document = report::document::report(&run);
    let markdown = report::markdown::render(&document);
    assert!(
        markdown
            .contains("#### Plan stability: 5 ANALYZE rounds at default_statistics_target 1000")
            && markdown.contains("| 5 of 5 | - |"),
        "{markdown}"
    );
    let html = report::html::render(&document);
    assert!(
        html.contains("<section id=\"stability\">") && html.contains("5 of 5"),
        "the html report has a stability section"
    );
    let json = serde_json::to_string(&document).unwrap();
    crate::support::assert_valid_report(&json);
}

/// A scenario with a migration: the old query's rounds run before the migration, on
/// the schema it was captured on, and the new query's after it, so both get a verdict.
#[tokio::test(flavor = "multi_thread")]
async fn with_a_migration_each_side_gets_its_rounds_on_its_own_schema() {
    let scenario = plancheck::input::Scenario::load(&crate::support::repo_path(
        "scenarios/orders-by-status.toml",
    ))
    .unwrap();
    let options = RunOptions {
        scale: scenario.min_scale,
        stability: Some(StabilityRequest {
            rounds: 3,
            statistics_target: None,
        }),
        ..quick_options()
    };
    let server = local_server().await;
    let run = plancheck::pipeline::run_scenario(&server, &scenario, &options).await;
    server.stop().await.unwrap();
    let run = run.unwrap();
    let stability = run.stability.as_ref().expect("the run carries its rounds");
    assert_eq!(stability.cells.len(), 2, "one per status");
    for cell in &stability.cells {
        let names: Vec<&str> = cell.queries.iter().map(|q| q.query.as_str()).collect();
        assert_eq!(
            names,
            ["old", "new"],
            "every query, in the scenario's order"
        );
        for query in &cell.queries {
            assert_eq!(query.shapes.len(), 1, "{:?}: {query:?}", cell.variant);
            assert_eq!(query.shapes[0].rounds, 3);
            assert!(!query.shapes[0].flagged(), "{:?}: {query:?}", cell.variant);
        }
    }
    // The old query was explained before the migration: its rounds never saw the
    // index the migration creates, which the new query's rounds use.
    let rare = vec![("status".to_owned(), "awaiting_transfer".to_owned())];
    let old = &stability.query(&rare, "old").unwrap().shapes[0].shape;
    assert!(
        old.contains("orders_created_at on orders") && !old.contains("orders_status_created_at"),
        "{old}"
    );
    let new = &stability.query(&rare, "new").unwrap().shapes[0].shape;
    assert!(new.contains("orders_status_created_at on orders"), "{new}");
    for cell in &run.cells {
        let stable: Vec<_> = cell
            .verdicts
            .iter()
            .filter(|verdict| verdict.check == "stable")
            .collect();
        assert_eq!(stable.len(), 2, "{}", cell.label());
        for verdict in stable {
            assert!(verdict.passed && verdict.judged, "{}", verdict.summary);
            assert!(verdict.summary.contains("(3 of 3)"), "{}", verdict.summary);
        }
    }
    // Each side's rounds are a phase of their own, in the order they ran.
    let names: Vec<&str> = run.phases.iter().map(|phase| phase.name.as_str()).collect();
    let position = |name: &str| {
        names
            .iter()
            .position(|phase| *phase == name)
            .unwrap_or_else(|| panic!("no phase {name:?} in {names:?}"))
    };
    assert!(
        position("stability: 3 ANALYZE rounds before") < position("migrate and analyze")
            && position("migrate and analyze") < position("stability: 3 ANALYZE rounds after"),
        "{names:?}"
    );
    let document = report::document::report(&run);
    let markdown = report::markdown::render(&document);
    assert!(
        markdown.contains("| `old` | before | status=awaiting_transfer |")
            && markdown.contains("| `new` | after | status=awaiting_transfer |"),
        "{markdown}"
    );
    crate::support::assert_valid_report(&serde_json::to_string(&document).unwrap());
}

#[test]
fn without_stability_the_stable_checks_are_not_judged_and_the_run_says_so() {
    let out = tempfile::tempdir().unwrap();
    // At the dataset's default scale, where the old query shows the regression.
    let assert = plancheck()
        .args([
            "scenario",
            "tests/data/scenarios/sparse-small-stable.toml",
            "--no-progress",
            "--out",
        ])
        .arg(out.path())
        .assert()
        .success()
        .stderr(contains(
            "2 stable check(s) not judged: they need --stability N",
        ));
    let stdout = String::from_utf8_lossy(&assert.get_output().stdout).into_owned();
    assert!(stdout.contains("not judged"), "{stdout}");
    let json = std::fs::read_to_string(out.path().join("sparse-small-stable/report.json")).unwrap();
    let document: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert!(document["stability"].is_null());
    let stable: Vec<&serde_json::Value> = document["variants"][0]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|verdict| verdict["check"] == "stable")
        .collect();
    assert_eq!(stable.len(), 2);
    for verdict in stable {
        assert_eq!(verdict["judged"], false, "{verdict}");
    }
}

#[test]
fn bad_stability_input_is_refused_with_exit_2_naming_the_flag() {
    let refused = |args: &[&str], says: &str| {
        plancheck()
            .args(["scenario", "tests/data/scenarios/sparse-small-stable.toml"])
            .args(args)
            .assert()
            .code(2)
            .stderr(contains(says.to_owned()));
    };
    refused(
        &["--stability", "0"],
        "--stability 0: give a number of ANALYZE rounds from 1 to 1000",
    );
    refused(&["--stability", "5000"], "--stability 5000");
    refused(&["--stability", "-3"], "--stability");
    refused(
        &["--stability", "5", "--scales", "10000,20000"],
        "cannot go with a sweep",
    );
    refused(
        &["--stability", "5", "--stability-target", "0"],
        "--stability-target 0",
    );
    refused(&["--stability-target", "10"], "--stability");
}
