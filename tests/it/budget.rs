//! The per-statement time budget: a query past it is stopped there, judged on its
//! estimated plan and given the verdict "timed out after N s", and the run goes on;
//! the budget never reaches the seed.

use std::time::Duration;

use predicates::str::contains;

use plancheck::capture::{self, BoundQuery};
use plancheck::outcome::SchemaState;
use plancheck::pipeline::{PreparedDatabase, run_scenario};
use plancheck::report;

use crate::support::{local_server, plancheck, quick_options, repo_path, test_scenario};

/// The old query of `sparse-small-paused` pauses 3 s; under a 1 s budget it times out
/// in its warm-up. The checks expect it to be the slow one, so its timeout is the
/// regression showing: the walk is found in its estimated plan, the speedup is shown
/// on the bound, the new query is measured in full, and the run passes.
#[test]
fn a_query_past_the_budget_is_judged_on_its_estimated_plan_and_the_run_goes_on() {
    let out = tempfile::tempdir().unwrap();
    plancheck()
        .args([
            "scenario",
            "tests/data/scenarios/sparse-small-paused.toml",
            "--time-budget",
            "1",
            "--backend",
            "local",
            "--no-progress",
            "--out",
        ])
        .arg(out.path())
        .timeout(Duration::from_secs(120))
        .assert()
        .code(0)
        .stdout(contains("time budget 1 s"))
        .stdout(contains("timed out after 1 s"))
        .stdout(contains("(estimated plan)"));

    let dir = out.path().join("sparse-small-paused");
    let markdown = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(
        markdown.contains("estimated plan (EXPLAIN without ANALYZE): timed out after 1 s")
            && markdown.contains(
                "Index Scan using workflow_runs_created_at on workflow_runs (estimated rows="
            ),
        "{markdown}"
    );
    let json = std::fs::read_to_string(dir.join("report.json")).unwrap();
    crate::support::assert_valid_report(&json);
    let parsed = report::Report::parse(&json).unwrap();
    assert_eq!(parsed.time_budget_ms, 1000);
    let variant = &parsed.variants[0];
    let (old, new) = (&variant.queries[0], &variant.queries[1]);
    assert_eq!(old.plan, "estimated");
    assert_eq!(old.timed_out_during.as_deref(), Some("warm-up"));
    assert_eq!((old.median_ms, old.result_rows), (None, None));
    assert_eq!(new.plan, "analyzed");
    assert!(new.median_ms.is_some() && new.result_rows == Some(26));
    let timed_out = &variant.checks[0];
    assert_eq!(
        (timed_out.check.as_str(), timed_out.passed),
        ("time-budget", true)
    );
    assert!(
        timed_out.summary.starts_with("timed out after 1 s"),
        "{}",
        timed_out.summary
    );
}

/// Without a check that expects the old query to be slow, running past the budget is
/// a failure of its own, and the checks that need what it did not give say so.
#[tokio::test(flavor = "multi_thread")]
async fn a_query_no_check_expects_to_be_slow_fails_for_running_past_the_budget() {
    let mut scenario = test_scenario("sparse-small-paused");
    scenario
        .checks
        .retain(|entry| entry.check.regressing_queries().is_empty());
    let mut options = quick_options();
    options.timing.statement_budget = Some(Duration::from_secs(1));
    let server = local_server().await;
    let run = run_scenario(&server, &scenario, &options).await;
    server.stop().await.unwrap();
    let run = run.expect("a timeout does not stop the run");

    assert!(!run.passed());
    let cell = &run.cells[0];
    let timed_out = &cell.verdicts[0];
    assert_eq!(
        (timed_out.check, timed_out.subject.as_str()),
        ("time-budget", "old")
    );
    assert!(!timed_out.passed);
    assert!(
        timed_out
            .summary
            .starts_with("timed out after 1 s (during warm-up)"),
        "{}",
        timed_out.summary
    );
    assert!(!cell.query_passed("old") && cell.query_passed("new"));
    let old = cell.evidence.query("old").unwrap();
    assert!(!old.plan.analyzed && old.results.is_none() && old.timing.samples_ms.is_empty());
    let new = cell.evidence.query("new").unwrap();
    assert!(new.plan.analyzed && !new.timing.samples_ms.is_empty());
}

/// A budget of one millisecond cancels the measured queries, never the seed (COPY,
/// index builds, VACUUM ANALYZE take seconds): the run completes with its verdicts.
/// Set in the scenario file, so the key is read end to end.
#[tokio::test(flavor = "multi_thread")]
async fn a_tiny_budget_reaches_the_queries_but_not_the_seed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tiny-budget.toml");
    let text = std::fs::read_to_string(repo_path("tests/data/scenarios/dense-small.toml"))
        .unwrap()
        .replace(
            "../datasets/",
            &format!("{}/", repo_path("tests/data/datasets").display()),
        )
        .replace(
            "../../../fixtures/",
            &format!("{}/", repo_path("fixtures").display()),
        )
        .replace("[settings]\n", "time_budget = \"1ms\"\n\n[settings]\n");
    std::fs::write(&path, text).unwrap();
    let scenario = plancheck::input::Scenario::load(&path).unwrap();
    assert_eq!(scenario.time_budget, Some(Duration::from_millis(1)));
    let server = local_server().await;
    let prepared = PreparedDatabase::create(&server, &[&scenario], &quick_options()).await;
    let mut prepared = prepared.expect("the seed is not cut by a 1 ms budget");
    let run = prepared.judge(&scenario, quick_options().timing).await;
    prepared.discard().await.unwrap();
    server.stop().await.unwrap();
    let run = run.expect("queries past the budget do not stop the run");
    assert_eq!(run.time_budget, Duration::from_millis(1));
    assert!(run.seeded.tables.iter().all(|table| table.rows > 0));
}

/// A query prepared on `client` for `capture::measure`, without parameters.
async fn bound(client: &tokio_postgres::Client, name: &str, sql: &str) -> BoundQuery {
    BoundQuery {
        name: name.into(),
        file: format!("{name}.sql"),
        state: SchemaState::Before,
        sql: sql.into(),
        statement: client.prepare(sql).await.unwrap(),
        values: vec![],
    }
}

/// A query that sleeps `seconds` only under EXPLAIN: `current_query()` is the text the
/// client sent, the plain statement's own or the EXPLAIN around it. It stands for
/// a query whose instrumentation costs more than the query.
fn slow_only_under_explain(seconds: f64) -> String {
    format!("SELECT pg_sleep(CASE WHEN current_query() LIKE 'EXPLAIN%' THEN {seconds} ELSE 0 END)")
}

/// Only a plain run past the budget is a timeout. An EXPLAIN ANALYZE past it is tried
/// again with TIMING OFF under three times the budget; when that does not finish
/// either, the plan is estimated and says why, and the query is still timed.
#[tokio::test(flavor = "multi_thread")]
async fn an_explain_analyze_past_the_budget_does_not_time_the_query_out() {
    let server = local_server().await;
    let scratch = server.create_scratch("explain-allowance").await.unwrap();
    let client = scratch.connect().await.unwrap();
    let queries = vec![
        bound(&client, "retried", &slow_only_under_explain(2.0)).await,
        bound(&client, "unexplained", &slow_only_under_explain(10.0)).await,
    ];
    let measured = capture::measure(
        &client,
        queries,
        Duration::from_secs(1),
        quick_options().timing,
        &[],
        &capture::Shown::silent(),
    )
    .await;
    drop(client);
    scratch.drop_database().await.unwrap();
    server.stop().await.unwrap();
    let (measured, _) = measured.expect("a slow EXPLAIN ANALYZE does not stop the run");

    let retried = &measured[0];
    assert!(retried.timed_out.is_none() && retried.analyze_cancelled.is_none());
    assert!(retried.plan.analyzed, "finished within 3 s with TIMING OFF");
    let unexplained = &measured[1];
    assert!(
        unexplained.timed_out.is_none(),
        "its plain runs took no time"
    );
    assert_eq!(
        unexplained.analyze_cancelled.as_ref().map(|cut| cut.limit),
        Some(Duration::from_secs(3))
    );
    assert!(!unexplained.plan.analyzed);
    assert!(unexplained.results.is_some() && unexplained.warm_up_ms.is_some());
    assert_eq!(unexplained.timing.samples_ms.len(), 3, "timed as usual");
}

/// A cancel sent from outside (pg_cancel_backend, an administrator) long before the
/// budget is not a timeout but an infrastructure error that says so.
#[tokio::test(flavor = "multi_thread")]
async fn a_cancel_from_outside_is_not_a_timeout() {
    let server = local_server().await;
    let scratch = server.create_scratch("outside-cancel").await.unwrap();
    let client = scratch.connect().await.unwrap();
    let queries = vec![bound(&client, "sleeper", "SELECT pg_sleep(5)").await];
    let token = client.cancel_token();
    let canceller = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(500)).await;
        token.cancel_query(tokio_postgres::NoTls).await
    });
    let measured = capture::measure(
        &client,
        queries,
        Duration::from_secs(60),
        quick_options().timing,
        &[],
        &capture::Shown::silent(),
    )
    .await;
    canceller.await.unwrap().unwrap();
    drop(client);
    scratch.drop_database().await.unwrap();
    server.stop().await.unwrap();
    let Err(error) = measured else {
        panic!("a cancel half a second into a 60 s budget is not a timeout");
    };
    assert_eq!(
        error.kind(),
        plancheck::ErrorKind::Infrastructure,
        "{error}"
    );
    assert!(
        error
            .to_string()
            .contains("cancel came from outside plancheck"),
        "{error}"
    );
}

#[test]
fn a_bad_time_budget_on_the_command_line_is_a_usage_error() {
    for bad in ["0", "-1", "soon", "5 sec"] {
        plancheck()
            .args(["scenario", "sparse-org", &format!("--time-budget={bad}")])
            .assert()
            .code(2)
            .stderr(contains("--time-budget"))
            .stderr(contains(format!("{bad:?} is not a time budget")));
    }
}

/// A pick runs under the budget too, so a run cannot hang on one; past it, the
/// scenario's pick is at fault (exit 2), named with its key.
#[tokio::test(flavor = "multi_thread")]
async fn a_pick_past_the_budget_is_bad_input_naming_the_pick() {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(repo_path("tests/data/custom")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.path().join(entry.file_name())).unwrap();
    }
    let path = dir.path().join("scenario.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let slow_pick = "WHERE id < 1003 AND (SELECT pg_sleep(3)::text) IS NOT NULL\"";
    let text = text.replacen("WHERE id < 1003\"", slow_pick, 1).replacen(
        "[settings]",
        "time_budget = \"500ms\"\n\n[settings]",
        1,
    );
    assert!(text.contains(slow_pick) && text.contains("time_budget"));
    std::fs::write(&path, text).unwrap();
    let scenario = plancheck::input::Scenario::load(&path).unwrap();
    let server = local_server().await;
    let run = run_scenario(&server, &scenario, &quick_options()).await;
    server.stop().await.unwrap();
    let error = run.expect_err("the pick runs past the budget");
    assert_eq!(error.kind(), plancheck::ErrorKind::BadInput, "{error}");
    let message = error.to_string();
    assert!(
        message.contains("key `pick \"busy\"`") && message.contains("time budget"),
        "{message}"
    );
}
