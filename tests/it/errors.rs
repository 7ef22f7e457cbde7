//! Bad input is reported with the file, the key or line, and the value.

use plancheck::Error;
use plancheck::run::PreparedDatabase;
use plancheck::scenario::Scenario;

use crate::support::{local_server, quick_options, repo_path};

/// A copy of the test data in a temporary directory, to break on purpose.
fn scratch_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for sub in ["datasets", "scenarios", "fixtures"] {
        std::fs::create_dir_all(dir.path().join("tests/data").join(sub)).unwrap();
        for entry in std::fs::read_dir(repo_path("tests/data").join(sub)).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(
                entry.path(),
                dir.path()
                    .join("tests/data")
                    .join(sub)
                    .join(entry.file_name()),
            )
            .unwrap();
        }
    }
    // The test datasets point at the real fixtures three levels up.
    let fixtures = dir.path().join("fixtures");
    std::os::unix::fs::symlink(repo_path("fixtures"), &fixtures).unwrap();
    dir
}

fn edit(path: &std::path::Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "{from:?} not in {}", path.display());
    std::fs::write(path, text.replacen(from, to, 1)).unwrap();
}

#[test]
fn unknown_scenario_key_names_file_key_and_line() {
    let dir = scratch_copy();
    let path = dir.path().join("tests/data/scenarios/sparse-small.toml");
    edit(
        &path,
        "[target]\nprofile = \"sparse\"",
        "[target]\nprofile = \"sparse\"\nprofle = \"dense\"",
    );
    let error = Scenario::load(&path).unwrap_err();
    let message = error.to_string();
    assert!(matches!(error, Error::InvalidInput { .. }), "{error:?}");
    assert!(
        message.starts_with(&path.display().to_string()),
        "{message}"
    );
    assert!(
        message.contains("profle") && message.contains("line"),
        "{message}"
    );
}

#[test]
fn wrong_type_and_bad_values_name_the_key_and_value() {
    let dir = scratch_copy();
    let path = dir.path().join("tests/data/scenarios/sparse-small.toml");
    edit(&path, "max_ratio = 10", "max_ratio = \"ten\"");
    let message = Scenario::load(&path).unwrap_err().to_string();
    assert!(message.contains("ten"), "{message}");

    let dataset = dir.path().join("tests/data/datasets/small.toml");
    edit(&dataset, "success = 0.80", "success = 0.90");
    let message = Scenario::load(&dir.path().join("tests/data/scenarios/dense-small.toml"))
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("small.toml") && message.contains("`states`") && message.contains("1.1"),
        "{message}"
    );
}

#[test]
fn missing_fixture_and_unknown_query_reference_are_named() {
    let dir = scratch_copy();
    let path = dir.path().join("tests/data/scenarios/sparse-small.toml");
    edit(
        &path,
        "list_runs_by_org_column.sql",
        "list_runs_by_org_colum.sql",
    );
    let message = Scenario::load(&path).unwrap_err().to_string();
    assert!(
        message.contains("query \"new\".file") && message.contains("list_runs_by_org_colum.sql"),
        "{message}"
    );

    let path = dir.path().join("tests/data/scenarios/dense-small.toml");
    edit(&path, "candidate = \"new\"", "candidate = \"newer\"");
    let message = Scenario::load(&path).unwrap_err().to_string();
    assert!(
        message.contains("check[2] (no-slowdown)") && message.contains("\"newer\""),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sql_error_in_a_fixture_names_the_file_and_line() {
    let dir = scratch_copy();
    let broken = dir
        .path()
        .join("tests/data/fixtures/created_at_ascending.sql");
    // The statement starts on line 4; its syntax error is on line 5, and the server's
    // error position lets plancheck point there.
    std::fs::write(&broken, "-- line 1\n-- line 2\nDROP INDEX workflow_runs_created_at;\nCREATE INDEX workflow_runs_created_at\n    ON workflow_runs USING (created_at);\n").unwrap();
    let scenario = Scenario::load(
        &dir.path()
            .join("tests/data/scenarios/sparse-small-ascending.toml"),
    )
    .unwrap();
    let server = local_server().await;
    let error = match PreparedDatabase::create(&server, &scenario, &quick_options()).await {
        Ok(_) => panic!("a broken fixture must not load"),
        Err(error) => error,
    };
    server.stop().await.unwrap();
    match &error {
        Error::FixtureSql {
            file,
            line,
            message,
        } => {
            assert_eq!(file, &broken);
            assert_eq!(*line, 5, "the line of the syntax error");
            assert!(
                message.contains("syntax error") && message.contains("42601"),
                "{message}"
            );
        }
        other => panic!("expected a fixture error, got {other:?}"),
    }
    assert_eq!(error.kind(), plancheck::ErrorKind::BadInput);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_setting_the_server_rejects_names_the_scenario_key() {
    let dir = scratch_copy();
    let path = dir.path().join("tests/data/scenarios/dense-small.toml");
    edit(
        &path,
        "[settings]",
        "[settings]\nrandom_page_cost = \"cheap\"",
    );
    let scenario = Scenario::load(&path).unwrap();
    let server = local_server().await;
    let outcome = PreparedDatabase::create(&server, &scenario, &quick_options()).await;
    server.stop().await.unwrap();
    let message = outcome
        .err()
        .expect("the server rejects the value")
        .to_string();
    assert!(
        message.contains("settings.random_page_cost") && message.contains("cheap"),
        "{message}"
    );
}
