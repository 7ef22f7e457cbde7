//! Bad input is reported with the file, the key or line, and the value.

use plancheck::Error;
use plancheck::input::Scenario;
use plancheck::pipeline::PreparedDatabase;

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
        "[target]\ntable = \"organizations\"",
        "[target]\ntable = \"organizations\"\ntabel = \"workflows\"",
    );
    let error = Scenario::load(&path).unwrap_err();
    let message = error.to_string();
    assert!(matches!(error, Error::InvalidInput { .. }), "{error:?}");
    assert!(
        message.starts_with(&path.display().to_string()),
        "{message}"
    );
    assert!(
        message.contains("tabel") && message.contains("line"),
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
    edit(
        &dataset,
        "weights = [80, 10, 2, 5, 3]",
        "weights = [80, 10, 2, 5]",
    );
    let message = Scenario::load(&dir.path().join("tests/data/scenarios/dense-small.toml"))
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("small.toml: line ")
            && message.contains("table \"workflow_runs\".columns.state")
            && message.contains("5 values but 4 weights"),
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
    let error = match PreparedDatabase::create(&server, &[&scenario], &quick_options()).await {
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
    let outcome = PreparedDatabase::create(&server, &[&scenario], &quick_options()).await;
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

/// Loads `scenario` (in a scratch copy) after replacing `from` with `to` in `file`,
/// and returns the error message, which must be bad input naming the edited file.
fn broken(file: &str, scenario: &str, from: &str, to: &str) -> String {
    let dir = scratch_copy();
    let path = dir.path().join(file);
    edit(&path, from, to);
    let error = Scenario::load(&dir.path().join(scenario)).expect_err("the edit breaks the input");
    assert_eq!(error.kind(), plancheck::ErrorKind::BadInput, "{error}");
    let message = error.to_string();
    assert!(
        message.starts_with(&path.display().to_string()),
        "names {}: {message}",
        path.display()
    );
    message
}

#[test]
fn every_bad_dataset_input_names_the_key_and_value() {
    const DATASET: &str = "tests/data/datasets/small.toml";
    const SCENARIO: &str = "tests/data/scenarios/sparse-small.toml";
    let cases: &[(&str, &str, &[&str])] = &[
        // An unknown generator kind, and an unknown key of a known one.
        (
            "columns.id = \"uuid\"",
            "columns.id = \"uuuid\"",
            &["line ", "columns.id", "uuuid", "known kinds"],
        ),
        (
            "columns.name = { kind = \"fake\", fake = \"company_name\", unique = true }",
            "columns.name = { kind = \"fake\", fake = \"company_name\", uniq = true }",
            &["columns.name", "uniq"],
        ),
        // A reference to an unknown table, and to an unknown column.
        (
            "to = \"workflows.id\", within",
            "to = \"workflowz.id\", within",
            &["workflowz"],
        ),
        (
            "to = \"projects.id\", within",
            "to = \"projects.uuid\", within",
            &["projects.uuid", "declares id"],
        ),
        // A cycle: organizations copies from workflows, which is a child of organizations.
        (
            "columns.created_at = { kind = \"timestamp\", days_ago = [400, 800] }",
            "columns.created_at = { kind = \"copy\", from = \"workflows.created_at\" }",
            &["cycle", "organizations -> workflows -> organizations"],
        ),
        // Group shares above 1.
        (
            "children.workflow_runs = { share = 0.10 }",
            "children.workflow_runs = { share = 0.20 }",
            &["add up to 1.1"],
        ),
        // A template naming a column declared later.
        (
            "template = \"pipeline-{n}\"",
            "template = \"pipeline-{deleted_at}\"",
            &["deleted_at", "before this one"],
        ),
        // A count that is not a count.
        (
            "per_parent = [1, 4]",
            "per_parent = [4, 1]",
            &["per_parent", "[4, 1]"],
        ),
    ];
    for (from, to, expected) in cases {
        let message = broken(DATASET, SCENARIO, from, to);
        assert_mentions(&message, to, expected);
    }
}

#[test]
fn every_bad_scenario_input_names_the_key_and_value() {
    const SCENARIO: &str = "tests/data/scenarios/sparse-small.toml";
    let cases: &[(&str, &str, &[&str])] = &[
        // A parameter naming a column the target table does not generate.
        (
            "params = [\"target.id\"]",
            "params = [\"target.slug\"]",
            &[
                "query \"old\".params",
                "slug",
                "generates id, name, created_at",
            ],
        ),
        (
            "group = \"sparse\"",
            "group = \"sprase\"",
            &["target.group", "sprase", "dense, medium, sparse"],
        ),
        (
            "group = \"sparse\"",
            "group = \"variant.tenant\"",
            &["variant.tenant", "no variant axis"],
        ),
        (
            "[target]",
            "[variants]\na = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]\nb = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]\nc = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]\n\n[target]",
            &["1100 cells", "at most 1000"],
        ),
        (
            "check = \"speedup\"",
            "check = \"speedupp\"",
            &["speedupp", "known checks"],
        ),
        // A time budget of nothing, below nothing, without a unit, or not a time.
        (
            "[settings]",
            "time_budget = \"0s\"\n\n[settings]",
            &["line 11: key `time_budget`", "\"0s\"", "positive number"],
        ),
        (
            "[settings]",
            "time_budget = \"-5s\"\n\n[settings]",
            &["line 11: key `time_budget`", "\"-5s\""],
        ),
        (
            "[settings]",
            "time_budget = 60\n\n[settings]",
            &["line 11: key `time_budget`", "60", "\"60s\""],
        ),
        (
            "[settings]",
            "time_budget = \"a while\"\n\n[settings]",
            &["line 11: key `time_budget`", "\"a while\""],
        ),
    ];
    for (from, to, expected) in cases {
        let message = broken(SCENARIO, SCENARIO, from, to);
        assert_mentions(&message, to, expected);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn data_errors_found_on_the_server_name_the_column_or_query() {
    let server = local_server().await;
    let cases: &[(&str, &str, &str, &[&str])] = &[
        // A generator whose values do not fit the column type.
        (
            "tests/data/datasets/small.toml",
            "columns.contract_revision_latest = { kind = \"int\", range = [1, 20] }",
            "columns.contract_revision_latest = \"uuid\"",
            &[
                "small.toml: line ",
                "columns.contract_revision_latest",
                "workflow_runs.contract_revision_latest is int4",
                "uuids",
            ],
        ),
        // A sequence that would run past the bigint range and repeat its last value.
        (
            "tests/data/datasets/small.toml",
            "columns.contract_revision_latest = { kind = \"int\", range = [1, 20] }",
            "columns.contract_revision_latest = { kind = \"sequence\", start = 9223372036854775000 }",
            &[
                "small.toml",
                "workflow_runs.contract_revision_latest",
                "runs past the bigint range",
            ],
        ),
        // Text that the column's type cannot read, found per value.
        (
            "tests/data/datasets/small.toml",
            "columns.created_at = { kind = \"timestamp\", days_ago = [366, 700] }",
            "columns.created_at = { kind = \"template\", template = \"day-{n}\" }",
            &["workflows.created_at", "day-1", "timestamptz"],
        ),
        // A value out of the column type's range, found per value.
        (
            "tests/data/datasets/small.toml",
            "columns.contract_revision_used = { kind = \"int\", range = [1, 20] }",
            "columns.contract_revision_used = { kind = \"int\", range = [3000000000, 3000000001] }",
            &["workflow_runs.contract_revision_used", "int4"],
        ),
        // A column the schema does not have.
        (
            "tests/data/datasets/small.toml",
            "columns.description =",
            "columns.summary =",
            &[
                "small.toml: line ",
                "columns.summary",
                "workflows.summary",
                "not in the schema",
            ],
        ),
        // A scenario target index beyond its group.
        (
            "tests/data/scenarios/sparse-small.toml",
            "group = \"sparse\"",
            "group = \"sparse\"\nindex = 5",
            &["sparse", "has 2 rows", "row 5"],
        ),
    ];
    for (file, from, to, expected) in cases {
        let dir = scratch_copy();
        edit(&dir.path().join(file), from, to);
        let scenario =
            Scenario::load(&dir.path().join("tests/data/scenarios/sparse-small.toml")).unwrap();
        let error = match PreparedDatabase::create(&server, &[&scenario], &quick_options()).await {
            Ok(_) => panic!("{to}: the run must fail"),
            Err(error) => error,
        };
        assert_eq!(
            error.kind(),
            plancheck::ErrorKind::BadInput,
            "{to}: {error}"
        );
        let message = error.to_string();
        assert_mentions(&message, to, expected);
    }
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn an_error_in_a_querys_sql_at_run_time_is_bad_input_naming_the_file_and_line() {
    let dir = scratch_copy();
    let query = dir.path().join("broken.sql");
    std::fs::write(&query, "-- divides by zero only when it runs\nSELECT id,\n       1 / (count(*) OVER () - count(*) OVER ()) AS boom\nFROM organizations WHERE id = $1\n").unwrap();
    let path = dir.path().join("tests/data/scenarios/sparse-small.toml");
    edit(
        &path,
        "../../../fixtures/queries/list_runs_by_org_column.sql",
        query.to_str().unwrap(),
    );
    let scenario = Scenario::load(&path).unwrap();
    let server = local_server().await;
    let outcome = plancheck::pipeline::run_scenario(&server, &scenario, &quick_options()).await;
    server.stop().await.unwrap();
    let error = outcome.expect_err("division by zero fails the run");
    assert_eq!(error.kind(), plancheck::ErrorKind::BadInput, "{error}");
    let message = error.to_string();
    assert!(
        message.starts_with(&format!("{}:", query.display()))
            && message.contains("division by zero"),
        "{message}"
    );
}

#[test]
fn more_bad_dataset_and_scenario_inputs_name_the_key_and_value() {
    const DATASET: &str = "tests/data/datasets/small.toml";
    const SCENARIO: &str = "tests/data/scenarios/sparse-small.toml";
    let cases: &[(&str, &str, &str, &[&str])] = &[
        // A group declared twice.
        (
            DATASET,
            "name = \"medium\"",
            "name = \"dense\"",
            &["group \"dense\"", "declared twice"],
        ),
        // Shares that leave rows with no group: every group gives the runs a count.
        (
            DATASET,
            "rows = 9\nchildren.workflow_runs = { share = 0.10 }",
            "rows = 9\nchildren.workflow_runs = { share = 0.05 }",
            &["add up to 0.95", "must add up to 1"],
        ),
        // A condition that can never hold: state is text.
        (
            DATASET,
            "when = { column = \"state\", in = [\"error\", \"expired\", \"cancelled\"] }",
            "when = { column = \"state\", in = [1, 2] }",
            &["columns.reason", "could never hold"],
        ),
        // A split on a table that has no rows to split.
        (
            DATASET,
            "per_parent = 10\n",
            "per_parent = 10\nsplit = { zipf = 1.1 }\n",
            &["split", "splits rows = N"],
        ),
        // A copy through a column that is not a reference to the copied table.
        (
            DATASET,
            "columns.organization_id = { kind = \"reference\", to = \"organizations.id\" }\ncolumns.project_id",
            "columns.organization_id = { kind = \"copy\", from = \"projects.organization_id\", via = \"id\" }\ncolumns.project_id",
            &["via = \"id\"", "reference column"],
        ),
        // A key that does not apply to the generator's form.
        (
            DATASET,
            "seconds = [20, 4000], distribution = \"log-uniform\"",
            "seconds = [20, 4000], spread = \"recent\"",
            &["spread goes with days_ago"],
        ),
        // Groups on a child table: more first rows than a parent row can have children
        // (per_parent 10, the dense organizations' 60), shares of each parent's children
        // above 1, `under` naming no ancestor's group, a name an ancestor's group has.
        (
            DATASET,
            "days_ago = [366, 700] }\n",
            "days_ago = [366, 700] }\n\n[[table.group]]\nname = \"busy\"\nrows = 61\n",
            &["line ", "group \"busy\".rows", "61", "60 children"],
        ),
        (
            DATASET,
            "days_ago = [366, 700] }\n",
            "days_ago = [366, 700] }\n\n[[table.group]]\nname = \"a\"\nshare = 0.6\n\n[[table.group]]\nname = \"b\"\nshare = 0.6\n",
            &["line ", "group \"b\".share", "0.6", "1.2, above 1"],
        ),
        (
            DATASET,
            "days_ago = [366, 700] }\n",
            "days_ago = [366, 700] }\n\n[[table.group]]\nname = \"busy\"\nrows = 1\nunder = \"sprase\"\n",
            &[
                "line ",
                "group \"busy\".under",
                "sprase",
                "dense, medium, sparse",
            ],
        ),
        (
            DATASET,
            "name = \"dense\"\nrows = 1\n",
            "name = \"dense\"\nrows = 1\nunder = \"medium\"\n",
            &["line ", "group \"dense\".under", "has no parent"],
        ),
        (
            DATASET,
            "days_ago = [366, 700] }\n",
            "days_ago = [366, 700] }\n\n[[table.group]]\nname = \"sparse\"\nrows = 1\n",
            &[
                "line ",
                "group \"sparse\".name",
                "already a group of organizations",
            ],
        ),
        // A migration that no query runs after.
        (
            SCENARIO,
            "[target]",
            "[migration]\nfixtures = [\"../../../fixtures/migrations/drop_organization_id_trigger.sql\"]\n\n[target]",
            &["migration", "schema = \"after\""],
        ),
    ];
    for (file, from, to, expected) in cases {
        let message = broken(file, SCENARIO, from, to);
        assert_mentions(&message, to, expected);
    }
}

#[test]
fn a_scenario_without_checks_is_refused() {
    let dir = scratch_copy();
    let path = dir
        .path()
        .join("tests/data/scenarios/sparse-small-pre-migration.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, &text[..text.find("[[check]]").unwrap()]).unwrap();
    let message = Scenario::load(&path).unwrap_err().to_string();
    assert!(message.contains("no [[check]] is declared"), "{message}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_literal_of_the_wrong_type_is_bad_input_naming_the_parameter() {
    let dir = scratch_copy();
    let path = dir.path().join("tests/data/scenarios/sparse-small.toml");
    edit(
        &path,
        "params = [\"target.id\"]",
        "params = [{ literal = \"not-a-uuid\" }]",
    );
    let scenario = Scenario::load(&path).unwrap();
    let server = local_server().await;
    let outcome = plancheck::pipeline::run_scenario(&server, &scenario, &quick_options()).await;
    server.stop().await.unwrap();
    let error = outcome.expect_err("a text literal does not bind as a uuid");
    assert_eq!(error.kind(), plancheck::ErrorKind::BadInput, "{error}");
    let message = error.to_string();
    assert!(
        message.contains("query old: parameter $1") && message.contains("not-a-uuid"),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn mistakes_that_need_the_schema_are_found_before_seeding() {
    let server = local_server().await;
    let cases: &[(&str, &str, &[&str])] = &[
        // A same-results order_by column the queries do not return.
        (
            "order_by = [\"created_at\"]",
            "order_by = [\"created\"]",
            &["check[3] (same-results)", "\"created\"", "does not return"],
        ),
        // A pick whose SQL the server rejects.
        (
            "[[query]]\nname = \"old\"",
            "[[pick]]\nname = \"cursor\"\nsql = \"SELECT created FROM workflow_runs LIMIT 1\"\n\n[[query]]\nname = \"old\"",
            &["pick \"cursor\".sql", "created"],
        ),
    ];
    for (from, to, expected) in cases {
        let dir = scratch_copy();
        let path = dir.path().join("tests/data/scenarios/dense-small.toml");
        edit(&path, from, to);
        let scenario = Scenario::load(&path).unwrap();
        let started = std::time::Instant::now();
        let error = match PreparedDatabase::create(&server, &[&scenario], &quick_options()).await {
            Ok(_) => panic!("{to}: the run must fail"),
            Err(error) => error,
        };
        assert_eq!(
            error.kind(),
            plancheck::ErrorKind::BadInput,
            "{to}: {error}"
        );
        let message = error.to_string();
        assert_mentions(&message, to, expected);
        // Found on the empty schema: nothing was seeded (a seed takes seconds).
        assert!(started.elapsed() < std::time::Duration::from_secs(30));
    }
    server.stop().await.unwrap();
}

#[test]
fn as_of_may_be_a_toml_date_time_and_enum_mistakes_speak_of_values() {
    let dir = scratch_copy();
    let dataset = dir.path().join("tests/data/datasets/small.toml");
    edit(
        &dataset,
        "as_of = \"2026-06-01T00:00:00Z\"",
        "as_of = 2026-06-01T00:00:00Z",
    );
    let scenario =
        Scenario::load(&dir.path().join("tests/data/scenarios/sparse-small.toml")).unwrap();
    assert_eq!(
        scenario.dataset.model.as_of.to_rfc3339(),
        "2026-06-01T00:00:00+00:00"
    );
    let message = broken(
        "tests/data/scenarios/sparse-small.toml",
        "tests/data/scenarios/sparse-small.toml",
        "expect = \"present\"",
        "expect = \"presnt\"",
    );
    assert!(
        message.contains("unknown value `presnt`") && !message.contains("variant"),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_misspelt_table_or_column_in_a_check_is_refused_not_passed() {
    let server = local_server().await;
    for (to, expected) in [
        (
            "column = \"workflow_run.created_at\"",
            "table \"workflow_run\" is not in the schema",
        ),
        (
            "column = \"workflow_runs.created\"",
            "table workflow_runs has no column \"created\"",
        ),
    ] {
        let dir = scratch_copy();
        let path = dir.path().join("tests/data/scenarios/sparse-small.toml");
        edit(
            &path,
            "column = \"workflow_runs.created_at\"\nexpect = \"absent\"",
            &format!("{to}\nexpect = \"absent\""),
        );
        let scenario = Scenario::load(&path).unwrap();
        let error = match PreparedDatabase::create(&server, &[&scenario], &quick_options()).await {
            Ok(_) => panic!("{to}: the run must fail before seeding"),
            Err(error) => error,
        };
        assert_eq!(error.kind(), plancheck::ErrorKind::BadInput);
        let message = error.to_string();
        assert!(
            message.contains("(ordered-walk)") && message.contains(expected),
            "{message}"
        );
    }
    server.stop().await.unwrap();
}

#[test]
fn a_target_parameter_without_a_target_is_refused() {
    let message = broken(
        "tests/data/scenarios/sparse-small.toml",
        "tests/data/scenarios/sparse-small.toml",
        "[target]\ntable = \"organizations\"\ngroup = \"sparse\"\n",
        "",
    );
    assert!(
        message.contains("\"target.id\"") && message.contains("no [target]"),
        "{message}"
    );
}

/// Asserts that an error message (for the edit `to`) mentions every part.
fn assert_mentions(message: &str, to: &str, parts: &[&str]) {
    for part in parts {
        assert!(
            message.contains(part),
            "{to}: expected {part:?} in {message}"
        );
    }
}

#[test]
fn an_unknown_key_inside_a_check_points_at_its_own_line() {
    let dir = scratch_copy();
    let path = dir.path().join("tests/data/scenarios/sparse-small.toml");
    edit(&path, "at_least = 5", "at_least = 5\natleast = 5");
    let text = std::fs::read_to_string(&path).unwrap();
    let line = text
        .lines()
        .position(|line| line.starts_with("atleast"))
        .unwrap()
        + 1;
    let message = Scenario::load(&path).unwrap_err().to_string();
    assert!(
        message.contains(&format!("line {line}: ")) && message.contains("atleast"),
        "line {line}: {message}"
    );
}

/// A query file holds exactly one statement: an empty one, or one with two, is named
/// before any server starts.
#[test]
fn a_query_file_must_hold_exactly_one_statement() {
    for (text, expected) in [
        ("-- nothing yet\n", "holds no SQL statement"),
        (
            "SELECT 1;\nSELECT 2;\n",
            "holds 2 statements, the second on line 2",
        ),
    ] {
        let dir = scratch_copy();
        let query = dir.path().join("tests/data/fixtures/query.sql");
        std::fs::write(&query, text).unwrap();
        let scenario = dir.path().join("tests/data/scenarios/sparse-small.toml");
        edit(
            &scenario,
            "file = \"../../../fixtures/queries/list_runs_by_org_exists.sql\"",
            "file = \"../fixtures/query.sql\"",
        );
        let error = Scenario::load(&scenario).expect_err("the query file is refused");
        assert_eq!(error.kind(), plancheck::ErrorKind::BadInput);
        let message = error.to_string();
        assert!(
            message.starts_with(&query.display().to_string())
                && message.contains(expected)
                && message.contains("query \"old\".file"),
            "{message}"
        );
    }
}

/// serde's Rust type names are said in words.
#[test]
fn a_wrongly_typed_value_says_what_to_write() {
    let message = broken(
        "tests/data/scenarios/sparse-small.toml",
        "tests/data/scenarios/sparse-small.toml",
        "at_least = 5",
        "at_least = \"5\"",
    );
    assert!(message.contains("expected a number"), "{message}");
    assert!(!message.contains("f64"), "{message}");
}

/// `plancheck list` over `dir` (so that every scenario there is loaded) with a secret
/// in the environment, `bounded`: the exit code and what was said.
fn list_with_a_secret(dir: &std::path::Path) -> (i32, String) {
    let mut command = crate::support::plancheck_process();
    command
        .args(["list", "--scenarios-dir"])
        .arg(dir)
        .env("PLANCHECK_TEST_SECRET", "hunter2-in-the-environment");
    // Bounded: the files named may be /dev/zero or a FIFO nobody writes.
    let output = crate::support::bounded(&command).output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code().unwrap_or(-1), said)
}

/// A scenario may name any file as its dataset, and any file may be named as a
/// scenario: one that is not UTF-8 text, not TOML, or TOML of another kind is said to
/// be so, and nothing it holds is printed (the environment of /proc/self/environ, a
/// .pgpass line, a token in a TOML file of someone else's).
#[test]
fn a_file_that_is_not_a_dataset_or_scenario_is_refused_without_quoting_it() {
    let dir = tempfile::tempdir().unwrap();
    let pgpass = "db.internal:5432:app:app:hunter2-in-a-pgpass\n";
    let other_toml = "[registry]\ntoken = \"hunter2-in-toml\"\n";
    std::fs::write(dir.path().join("pgpass"), pgpass).unwrap();
    std::fs::write(dir.path().join("other.toml.txt"), other_toml).unwrap();
    std::fs::write(dir.path().join("binary"), b"\xff\xfehunter2-in-binary\n").unwrap();
    let cases = [
        ("/proc/self/environ", "is not text (byte "),
        ("pgpass", "is not valid TOML (line 1, column "),
        ("other.toml.txt", "is TOML, but not a dataset file"),
        ("binary", "is not UTF-8 text (byte 1 is not)"),
    ];
    for (dataset, said) in cases {
        let scenario = dir.path().join("leaky.toml");
        std::fs::write(
            &scenario,
            format!(
                "description = \"x\"\ndataset = \"{dataset}\"\n[[query]]\nname = \"q\"\nfile = \"q.sql\"\n[[check]]\ncheck = \"ordered-walk\"\nquery = \"q\"\nexpect = \"absent\"\n"
            ),
        )
        .unwrap();
        let (code, out) = list_with_a_secret(dir.path());
        assert_eq!(code, 2, "{dataset}: {out}");
        assert!(out.contains(said), "{dataset}: {out}");
        assert!(!out.contains("hunter2"), "{dataset} is quoted: {out}");
    }
    // The same files named as scenarios.
    std::fs::remove_file(dir.path().join("leaky.toml")).unwrap();
    for (file, said) in [
        ("pgpass", "is not valid TOML (line 1, column "),
        ("other.toml.txt", "is TOML, but not a scenario file"),
        ("binary", "is not UTF-8 text (byte 1 is not)"),
    ] {
        let scenario = dir.path().join("named.toml");
        std::fs::copy(dir.path().join(file), &scenario).unwrap();
        let (code, out) = list_with_a_secret(dir.path());
        assert_eq!(code, 2, "{file}: {out}");
        assert!(out.contains(said), "{file}: {out}");
        assert!(!out.contains("hunter2"), "{file} is quoted: {out}");
    }
}

/// A file named as SQL (a schema fixture, a query file, a migration) whose statement
/// does not begin with an SQL command is refused before any server sees it, without
/// quoting it: the server's syntax error would quote its first word, and a token file
/// or a .pgpass named by mistake is nothing but that word.
#[test]
fn a_file_named_as_sql_that_is_not_sql_is_refused_without_quoting_it() {
    let dir = tempfile::tempdir().unwrap();
    let dataset = repo_path("tests/data/datasets/small.toml");
    std::fs::write(dir.path().join("token"), "ghp_hunter2TokenOnItsOwn\n").unwrap();
    std::fs::write(
        dir.path().join("pgpass"),
        "-- a comment first\nhunter2.internal:5432:app:app:secret\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("q.sql"), "SELECT 1").unwrap();
    std::fs::write(
        dir.path().join("schema.sql"),
        "CREATE TABLE t (a int);\n\nSELECT 1;\nhunter2 x;\n",
    )
    .unwrap();
    let scenario = |query: &str, migration: &str| {
        format!(
            "description = \"x\"\ndataset = \"{}\"\n[migration]\nfixtures = [\"{migration}\"]\n[[query]]\nname = \"q\"\nfile = \"{query}\"\n[[check]]\ncheck = \"ordered-walk\"\nquery = \"q\"\nexpect = \"absent\"\n",
            dataset.display()
        )
    };
    for (text, said) in [
        (scenario("token", "q.sql"), "token:1: "),
        (scenario("pgpass", "q.sql"), "pgpass:2: "),
        (scenario("q.sql", "schema.sql"), "schema.sql:4: "),
    ] {
        std::fs::write(dir.path().join("named.toml"), text).unwrap();
        let (code, out) = list_with_a_secret(dir.path());
        assert_eq!(code, 2, "{said}: {out}");
        assert!(out.contains(said), "{said}: {out}");
        assert!(out.contains("does not begin with an SQL command"), "{out}");
        assert!(!out.contains("hunter2"), "{said} is quoted: {out}");
    }
}

/// A device, a FIFO or a directory named where a file belongs (a scenario, its
/// dataset, a query file) is refused by what it is before anything reads it, so that
/// /dev/zero cannot fill memory and a FIFO nobody writes cannot hang the run.
#[test]
fn a_device_a_fifo_or_a_directory_where_a_file_belongs_is_refused_by_what_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = |dataset: &str, query: &str| {
        format!(
            "description = \"x\"\ndataset = \"{dataset}\"\n[[query]]\nname = \"q\"\nfile = \"{query}\"\n[[check]]\ncheck = \"ordered-walk\"\nquery = \"q\"\nexpect = \"absent\"\n"
        )
    };
    let dataset = repo_path("tests/data/datasets/small.toml");
    let dataset = dataset.to_str().unwrap();
    std::fs::create_dir(dir.path().join("queries")).unwrap();
    let path = dir.path().join("special.toml");
    for (text, said) in [
        (
            scenario("/dev/zero", "q.sql"),
            "key `dataset`: fixture \"/dev/zero\" is a character device, not a regular file",
        ),
        (
            scenario(dataset, "queries"),
            "key `query \"q\".file`: fixture \"queries\" is a directory, not a regular file",
        ),
    ] {
        std::fs::write(&path, text).unwrap();
        let (code, out) = list_with_a_secret(dir.path());
        assert_eq!(code, 2, "{out}");
        assert!(out.contains(said), "{out}");
    }
    std::fs::remove_file(&path).unwrap();
    nix::unistd::mkfifo(&path, nix::sys::stat::Mode::S_IRWXU).unwrap();
    let (code, out) = list_with_a_secret(dir.path());
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("special.toml: is a FIFO (named pipe), not a regular file; plancheck reads a scenario file only from a regular file"),
        "{out}"
    );
}

/// A pick gives exactly one source, names a table the dataset seeds and a group that
/// table has, and takes params only for its own SQL; each mistake names the pick's
/// key and the value.
#[test]
fn every_bad_pick_names_its_key_and_value() {
    let cases = [
        (
            "most_common = \"workflow_runs.state\"",
            "most_common = \"workflow_runs.state\"\nabsent = \"workflow_runs.state\"",
            "pick \"busiest\".sql`: a pick has exactly one source",
        ),
        (
            "most_common = \"workflow_runs.state\"",
            "most_common = \"workflow_run.state\"",
            "\"workflow_run\" is not a table of",
        ),
        (
            "most_common = \"workflow_runs.state\"",
            "most_common = \"workflow_runs\"",
            "\"workflow_runs\": write table.column",
        ),
        (
            "row = { table = \"organizations\", group = \"sparse\" }",
            "row = { table = \"organizations\", group = \"spares\" }",
            "pick \"sparse\".row.group`: \"spares\" is not a group of organizations",
        ),
        (
            "absent = \"workflow_runs.contract_revision_used\"",
            "absent = \"workflow_runs.contract_revision_used\"\nparams = [\"dense.id\"]",
            "params bind the parameters of a pick's own sql",
        ),
    ];
    for (from, to, expected) in cases {
        let dir = scratch_copy();
        let path = dir.path().join("tests/data/scenarios/every-pick.toml");
        edit(&path, from, to);
        let message = Scenario::load(&path).unwrap_err().to_string();
        assert!(
            message.starts_with(&path.display().to_string()) && message.contains(expected),
            "{to}: {message}"
        );
    }
}
