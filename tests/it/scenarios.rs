//! Whole scenarios on a real server: the regression is reproduced and the fix proven,
//! whatever the direction of the created_at index, and the data is deterministic.

use plancheck::outcome::Outcome;
use plancheck::outcome::Verdict;
use plancheck::pipeline::{PreparedDatabase, run_scenario};
use plancheck::plan::Plan;
use plancheck::report;

use crate::support::{local_server, quick_options, test_scenario};

fn verdict<'a>(run: &'a Outcome, check: &str, subject: &str) -> &'a Verdict {
    run.cells[0]
        .verdicts
        .iter()
        .find(|verdict| verdict.check == check && verdict.subject == subject)
        .unwrap_or_else(|| {
            panic!(
                "no {check} verdict on {subject}: {:#?}",
                run.cells[0].verdicts
            )
        })
}

#[tokio::test(flavor = "multi_thread")]
async fn sparse_org_reproduces_the_walk_and_proves_the_fix() {
    let server = local_server().await;
    let run = run_scenario(&server, &test_scenario("sparse-small"), &quick_options())
        .await
        .unwrap();
    server.stop().await.unwrap();

    assert!(run.passed(), "{:#?}", run.cells[0].verdicts);
    let walk = verdict(&run, "ordered-walk", "old");
    assert!(
        walk.summary.starts_with("regression reproduced"),
        "{}",
        walk.summary
    );
    assert_eq!(walk.findings.len(), 1);
    assert!(
        walk.findings[0]
            .message
            .starts_with("Forward scan of workflow_runs_created_at (created_at DESC)")
    );
    let old = run.cells[0].evidence.query("old").unwrap();
    let new = run.cells[0].evidence.query("new").unwrap();
    assert!(old.plan.rows_examined() > 1000.0 * old.plan.rows_returned());
    assert!(new.plan.rows_examined() <= 10.0 * new.plan.rows_returned());

    // The report lands whole, and report.json keeps its documented shape.
    let out = tempfile::tempdir().unwrap();
    let dir = report::write(&run, out.path()).unwrap();
    let json = std::fs::read_to_string(dir.join("report.json")).unwrap();
    crate::support::assert_valid_report(&json);
    let parsed = report::Report::parse(&json).expect("report.json matches its documented format");
    assert!(parsed.passed);
    assert_eq!(parsed.scale, 60_000);
    let runs = parsed
        .dataset
        .tables
        .iter()
        .find(|table| table.name == "workflow_runs")
        .unwrap();
    assert_eq!(runs.rows, 60_000);
    for query in &parsed.variants[0].queries {
        let raw: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join(&query.plan_file)).unwrap())
                .unwrap();
        Plan::from_explain(&raw).expect("saved raw plans load again");
    }
    assert!(dir.join("report.md").is_file() && dir.join(report::CATALOG_FILE).is_file());
}

#[tokio::test(flavor = "multi_thread")]
async fn dense_org_keeps_the_common_case_fast() {
    let server = local_server().await;
    let run = run_scenario(&server, &test_scenario("dense-small"), &quick_options())
        .await
        .unwrap();
    server.stop().await.unwrap();
    assert!(run.passed(), "{:#?}", run.cells[0].verdicts);
    let new = run.cells[0].evidence.query("new").unwrap();
    assert!(new.plan.rows_examined() <= 3.0 * new.plan.rows_returned());
    let same = verdict(&run, "same-results", "new vs old");
    assert!(
        same.passed && same.summary.starts_with("same 26 rows"),
        "{}",
        same.summary
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn backward_walk_of_an_ascending_index_is_the_same_regression() {
    let server = local_server().await;
    let run = run_scenario(
        &server,
        &test_scenario("sparse-small-ascending"),
        &quick_options(),
    )
    .await
    .unwrap();
    server.stop().await.unwrap();
    let walk = verdict(&run, "ordered-walk", "old");
    assert!(walk.passed, "{}", walk.summary);
    assert!(
        walk.findings[0]
            .message
            .starts_with("Backward scan of workflow_runs_created_at (created_at)"),
        "{}",
        walk.findings[0].message
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn same_seed_same_rows() {
    let server = local_server().await;
    let scenario = test_scenario("dense-small");
    let mut options = quick_options();
    options.scale = Some(5_000);
    let fingerprint = |seed| {
        let (server, scenario) = (&server, &scenario);
        async move {
            let prepared = PreparedDatabase::create(
                server,
                &[scenario],
                &plancheck::pipeline::RunOptions {
                    seed: Some(seed),
                    ..options
                },
            )
            .await
            .unwrap();
            let row = prepared
                .client()
                .query_one(
                    "SELECT md5(string_agg(r::text, '|' ORDER BY r.id)), \
                            (SELECT md5(string_agg(w::text, '|' ORDER BY w.id)) FROM workflows w) \
                     FROM workflow_runs r",
                    &[],
                )
                .await
                .unwrap();
            let fingerprint: (String, String) = (row.get(0), row.get(1));
            prepared.discard().await.unwrap();
            fingerprint
        }
    };
    let first = fingerprint(11).await;
    assert_eq!(first, fingerprint(11).await);
    assert_ne!(first, fingerprint(12).await);
    server.stop().await.unwrap();
}

/// The second example domain, written only as files: at its declared smallest scale,
/// the rare status walks created_at before the migration and reads a page after it,
/// and the common status stays fast on both schemas.
#[tokio::test(flavor = "multi_thread")]
async fn orders_by_status_flags_the_old_schema_and_passes_the_fix_at_its_min_scale() {
    let scenario = plancheck::input::Scenario::load(&crate::support::repo_path(
        "scenarios/orders-by-status.toml",
    ))
    .unwrap();
    let mut options = quick_options();
    options.scale = scenario.min_scale;
    // The speedup is judged across the migration, so its two sides are not
    // interleaved: take enough runs that a median outlasts the other tests' load.
    options.timing.min_rounds = 7;
    options.timing.max_rounds = 25;
    options.timing.loop_time = std::time::Duration::from_secs(1);
    let server = local_server().await;
    let run = run_scenario(&server, &scenario, &options).await.unwrap();
    server.stop().await.unwrap();
    assert_eq!(run.cells.len(), 2);
    for cell in &run.cells {
        assert!(cell.passed(), "{}: {:#?}", cell.label(), cell.verdicts);
        let new = cell.evidence.query("new").unwrap();
        assert_eq!(new.state, plancheck::outcome::SchemaState::After);
        assert_eq!(
            new.plan.access_path(),
            vec!["Index Scan using orders_status_created_at on orders"]
        );
    }
    let rare = &run.cells[0];
    assert_eq!(rare.label(), "status=awaiting_transfer");
    let walk = rare
        .verdicts
        .iter()
        .find(|v| v.check == "ordered-walk")
        .unwrap();
    assert!(
        walk.summary.starts_with("regression reproduced"),
        "{}",
        walk.summary
    );
}

/// A schema unlike the shipped ones (a schema-qualified, mixed-case table, bigint
/// keys, numeric and jsonb columns, a time-sorted heap) and parameters from a pick:
/// every name is quoted, every generator's values fit, and the picked cursor binds.
#[tokio::test(flavor = "multi_thread")]
async fn a_schema_of_its_own_with_quoted_names_and_a_picked_cursor() {
    let scenario = plancheck::input::Scenario::load(&crate::support::repo_path(
        "tests/data/custom/scenario.toml",
    ))
    .unwrap();
    let server = local_server().await;
    let run = run_scenario(&server, &scenario, &quick_options())
        .await
        .unwrap();
    server.stop().await.unwrap();
    assert!(
        run.passed(),
        "{:#?}",
        run.cells.iter().map(|c| &c.verdicts).collect::<Vec<_>>()
    );
    let events = run
        .seeded
        .tables
        .iter()
        .find(|t| t.name == "app.events")
        .unwrap();
    assert_eq!(events.rows, 20_000);
    for cell in &run.cells {
        let page = cell.evidence.query("page").unwrap();
        assert_eq!(
            page.params[0],
            cell.target.as_ref().unwrap().columns[0].1,
            "the target's id is bound"
        );
        assert!(page.plan.rows_returned() <= 10.0);
    }
    let busy = run.cells[0].evidence.query("busy_accounts").unwrap();
    assert_eq!(
        busy.params,
        vec!["{1000,1001,1002}", "{free,team,enterprise}"],
        "arrays bind"
    );
    assert_eq!(busy.results.as_ref().unwrap().total_rows, 3);
    assert_eq!(
        run.cells[0].target.as_ref().unwrap().group.as_deref(),
        Some("busy")
    );
    assert_eq!(
        run.cells[0].target.as_ref().unwrap().columns[0],
        ("id".to_owned(), "1000".to_owned())
    );
}

/// A scenario's statement_timeout is for its measured queries: the seed, whose COPY
/// and index builds take longer, is not cut by it, and the queries still run under it.
#[tokio::test(flavor = "multi_thread")]
async fn a_scenario_timeout_applies_to_the_queries_not_to_the_seed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("timeout.toml");
    let text = std::fs::read_to_string(crate::support::repo_path(
        "tests/data/scenarios/dense-small.toml",
    ))
    .unwrap();
    let text = text
        .replace(
            "../datasets/",
            &format!(
                "{}/",
                crate::support::repo_path("tests/data/datasets").display()
            ),
        )
        .replace(
            "../../../fixtures/",
            &format!("{}/", crate::support::repo_path("fixtures").display()),
        )
        .replace(
            "[settings]\n",
            "[settings]\nstatement_timeout = \"150ms\"\n",
        );
    std::fs::write(&path, text).unwrap();
    let scenario = plancheck::input::Scenario::load(&path).unwrap();
    let server = local_server().await;
    let run = run_scenario(&server, &scenario, &quick_options()).await;
    server.stop().await.unwrap();
    let run = run.expect("the seed is not cut by the scenario's statement_timeout");
    let timeout = run
        .environment
        .settings
        .iter()
        .find(|setting| setting.name == "statement_timeout")
        .unwrap();
    assert_eq!(timeout.value, "150ms", "the measured queries ran under it");
    assert!(run.passed(), "{:#?}", run.cells[0].verdicts);
}

/// sparse-org declares the smallest scale at which it proves anything; at that scale
/// it does.
#[tokio::test(flavor = "multi_thread")]
async fn sparse_org_reproduces_at_its_declared_min_scale() {
    let scenario =
        plancheck::input::Scenario::load(&crate::support::repo_path("scenarios/sparse-org.toml"))
            .unwrap();
    let mut options = quick_options();
    options.scale = scenario.min_scale;
    assert!(options.scale.is_some(), "sparse-org declares min_scale");
    let server = local_server().await;
    let run = run_scenario(&server, &scenario, &options).await.unwrap();
    server.stop().await.unwrap();
    assert!(run.passed(), "{:#?}", run.cells[0].verdicts);
}

/// Writes a dataset of `tables` small tables into `dir` (schema, dataset, scenario),
/// returning the schema SQL. Every table has a primary key and an index on `v`; all but
/// the first have a foreign key to the first, whose `code` is unique; every tenth table
/// has a trigger, the one on t010 firing always, and t020 has a second trigger that is
/// disabled and must stay so. `notes`, outside the dataset, references the first table.
fn write_many_small_tables(dir: &std::path::Path, tables: usize) -> String {
    let mut schema = String::from(
        "CREATE FUNCTION keep_row() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;\n",
    );
    let mut dataset = String::from(
        "description = \"Many small tables, each with a key, an index and a foreign key.\"\n\
         schema = [\"schema.sql\"]\nseed = 7\nas_of = \"2026-06-01T00:00:00Z\"\nscale_table = \"t000\"\n",
    );
    for table in 0..tables {
        let name = format!("t{table:03}");
        if table == 0 {
            schema.push_str(&format!(
                "CREATE TABLE {name} (id bigint PRIMARY KEY, v int NOT NULL, code bigint NOT NULL UNIQUE);\n"
            ));
        } else {
            schema.push_str(&format!(
                "CREATE TABLE {name} (id bigint PRIMARY KEY, v int NOT NULL, \
                 parent_id bigint NOT NULL REFERENCES t000 (id));\n"
            ));
        }
        schema.push_str(&format!("CREATE INDEX {name}_v ON {name} (v);\n"));
        if table % 10 == 0 {
            schema.push_str(&format!(
                "CREATE TRIGGER {name}_keep BEFORE INSERT ON {name} FOR EACH ROW EXECUTE FUNCTION keep_row();\n"
            ));
        }
        dataset.push_str(&format!(
            "\n[[table]]\nname = \"{name}\"\nrows = {}\ncolumns.id = \"sequence\"\n\
             columns.v = {{ kind = \"int\", range = [1, 100] }}\n",
            if table == 0 { 5 } else { 3 }
        ));
        dataset.push_str(if table == 0 {
            "columns.code = { kind = \"sequence\", start = 100 }\n"
        } else {
            "columns.parent_id = { kind = \"reference\", to = \"t000.id\" }\n"
        });
    }
    schema.push_str(
        "ALTER TABLE t010 ENABLE ALWAYS TRIGGER t010_keep;\n\
         CREATE TRIGGER t020_off BEFORE INSERT ON t020 FOR EACH ROW EXECUTE FUNCTION keep_row();\n\
         ALTER TABLE t020 DISABLE TRIGGER t020_off;\n\
         CREATE TABLE notes (id bigint PRIMARY KEY, t000_code bigint REFERENCES t000 (code));\n",
    );
    std::fs::write(dir.join("schema.sql"), &schema).unwrap();
    std::fs::write(dir.join("dataset.toml"), dataset).unwrap();
    std::fs::write(dir.join("count.sql"), "SELECT count(*) FROM t000").unwrap();
    std::fs::write(
        dir.join("many-small-tables.toml"),
        "description = \"Seeds many small tables.\"\ndataset = \"dataset.toml\"\n\n\
         [[query]]\nname = \"count\"\nfile = \"count.sql\"\n\n\
         [[check]]\ncheck = \"no-node\"\nquery = \"count\"\nnode_type = \"Sort\"\n",
    )
    .unwrap();
    schema
}

/// What the load detaches and must put back, as the catalog says: indexes, constraints
/// (and whether validated), user triggers with their mode, and how many internal
/// (foreign key) triggers there are, whose names change when a foreign key is re-added.
async fn attachments(
    client: &tokio_postgres::Client,
) -> (Vec<String>, Vec<String>, Vec<String>, i64) {
    let rows = |sql: &'static str| async move {
        client
            .query(sql, &[])
            .await
            .unwrap()
            .iter()
            .map(|row| row.get::<_, String>(0))
            .collect::<Vec<String>>()
    };
    let indexes =
        rows("SELECT indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY indexname")
            .await;
    let constraints = rows(
        "SELECT conrelid::regclass::text || ' ' || conname || ' ' || pg_get_constraintdef(oid) \
         || CASE WHEN convalidated THEN '' ELSE ' (not validated)' END \
         FROM pg_constraint WHERE connamespace = 'public'::regnamespace ORDER BY 1",
    )
    .await;
    let triggers = rows(
        "SELECT pg_get_triggerdef(oid) || ' enabled ' || tgenabled::text \
         FROM pg_trigger WHERE NOT tgisinternal ORDER BY 1",
    )
    .await;
    let internal: i64 = client
        .query_one("SELECT count(*) FROM pg_trigger WHERE tgisinternal", &[])
        .await
        .unwrap()
        .get(0);
    (indexes, constraints, triggers, internal)
}

/// The seed detaches indexes, keys, foreign keys and triggers in batches; on 300 small
/// tables every one of them is back afterwards, as the schema alone makes them (read
/// from a database that only ran the schema), triggers in the mode they had.
#[tokio::test(flavor = "multi_thread")]
async fn many_small_tables_get_every_index_key_foreign_key_and_trigger_back() {
    let dir = tempfile::tempdir().unwrap();
    let schema = write_many_small_tables(dir.path(), 300);
    let scenario =
        plancheck::input::Scenario::load(&dir.path().join("many-small-tables.toml")).unwrap();
    let server = local_server().await;

    let schema_only = server.create_scratch("schema-only").await.unwrap();
    let client = schema_only.connect().await.unwrap();
    client.batch_execute(&schema).await.unwrap();
    let expected = attachments(&client).await;
    drop(client);
    schema_only.drop_database().await.unwrap();

    let prepared = PreparedDatabase::create(&server, &[&scenario], &quick_options())
        .await
        .unwrap();
    let seeded = attachments(prepared.client()).await;
    let rows: i64 = prepared
        .client()
        .query_one("SELECT count(*) FROM t299", &[])
        .await
        .unwrap()
        .get(0);
    prepared.discard().await.unwrap();
    server.stop().await.unwrap();

    let (indexes, constraints, triggers, internal) = &expected;
    assert_eq!(
        indexes.len(),
        300 + 300 + 1 + 1,
        "keys, indexes, unique, notes"
    );
    assert_eq!(constraints.len(), 300 + 299 + 1 + 1 + 1);
    assert_eq!(triggers.len(), 30 + 1);
    assert_eq!(*internal, 4 * (299 + 1));
    assert!(
        triggers
            .iter()
            .any(|t| t.contains("t010_keep") && t.ends_with("enabled A"))
    );
    assert!(
        triggers
            .iter()
            .any(|t| t.contains("t020_off") && t.ends_with("enabled D"))
    );
    assert_eq!(rows, 3, "the tables were seeded");
    assert_eq!(seeded.0, expected.0, "indexes");
    assert_eq!(seeded.1, expected.1, "constraints");
    assert_eq!(seeded.2, expected.2, "triggers");
    assert_eq!(
        seeded.3, expected.3,
        "internal triggers of the foreign keys"
    );
}

/// Foreign keys come back many to a round trip; when the rows break one, the error still
/// names its statement, and it is the dataset's fault (bad input), not the server's.
#[tokio::test(flavor = "multi_thread")]
async fn a_foreign_key_the_rows_break_is_named_though_restored_in_a_batch() {
    let dir = tempfile::tempdir().unwrap();
    let schema = write_many_small_tables(dir.path(), 300);
    // t150's rows reference t000's ids, but its foreign key now points at the codes.
    let broken = schema.replace(
        "CREATE TABLE t150 (id bigint PRIMARY KEY, v int NOT NULL, parent_id bigint NOT NULL REFERENCES t000 (id));",
        "CREATE TABLE t150 (id bigint PRIMARY KEY, v int NOT NULL, parent_id bigint NOT NULL REFERENCES t000 (code));",
    );
    assert_ne!(broken, schema);
    std::fs::write(dir.path().join("schema.sql"), broken).unwrap();
    let scenario =
        plancheck::input::Scenario::load(&dir.path().join("many-small-tables.toml")).unwrap();
    let server = local_server().await;
    let error = PreparedDatabase::create(&server, &[&scenario], &quick_options())
        .await
        .err()
        .expect("the rows break t150's foreign key");
    server.stop().await.unwrap();
    let message = error.to_string();
    assert_eq!(
        error.kind(),
        plancheck::error::ErrorKind::BadInput,
        "{message}"
    );
    assert!(
        message.contains(
            "restoring after the load: ALTER TABLE t150 ADD CONSTRAINT t150_parent_id_fkey FOREIGN KEY (parent_id) REFERENCES t000(code), ENABLE TRIGGER t150_keep: \
             the generated rows break a constraint"
        ),
        "{message}"
    );
}

/// Groups on child tables, seeded on a real server: in every organization the busy
/// workflow has 80% of that organization's runs (the dense one has half of all runs)
/// and its name from the nearer group, every sparse tenant's first 5 items are live
/// and the rest deleted, and a target can be taken from a child table's group.
#[tokio::test(flavor = "multi_thread")]
async fn groups_on_child_tables_seed_exact_counts() {
    let dir = tempfile::tempdir().unwrap();
    let dataset = crate::support::repo_path("tests/data/datasets/child-groups.toml");
    std::fs::write(
        dir.path().join("busy.sql"),
        "SELECT name FROM workflows WHERE id = $1",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("child-groups.toml"),
        format!(
            "description = \"Seeds groups on child tables.\"\ndataset = {:?}\n\n\
             [target]\ntable = \"workflows\"\ngroup = \"busy\"\nindex = 3\n\n\
             [[query]]\nname = \"busy\"\nfile = \"busy.sql\"\nparams = [\"target.id\"]\n\n\
             [[check]]\ncheck = \"no-node\"\nquery = \"busy\"\nnode_type = \"Sort\"\n",
            dataset.display().to_string()
        ),
    )
    .unwrap();
    let scenario = plancheck::input::Scenario::load(&dir.path().join("child-groups.toml")).unwrap();
    let server = local_server().await;
    let mut options = quick_options();
    options.scale = Some(10_000);
    let prepared = PreparedDatabase::create(&server, &[&scenario], &options)
        .await
        .unwrap();
    let client = prepared.client();
    let per_organization = client
        .query(
            "WITH counted AS (
                 SELECT w.organization_id, w.name, count(r.id) AS runs
                 FROM workflows w LEFT JOIN workflow_runs r ON r.workflow_id = w.id
                 GROUP BY w.id, w.organization_id, w.name)
             SELECT o.name,
                    sum(runs)::bigint,
                    sum(runs) FILTER (WHERE counted.name LIKE 'busy-%')::bigint,
                    count(*) FILTER (WHERE counted.name LIKE 'busy-%'),
                    count(*) FILTER (WHERE counted.name LIKE 'dense-%')
             FROM counted JOIN organizations o ON o.id = counted.organization_id
             GROUP BY o.name ORDER BY o.name",
            &[],
        )
        .await
        .unwrap();
    let tenants = client
        .query(
            "SELECT t.name,
                    count(*),
                    count(*) FILTER (WHERE i.deleted_at IS NULL),
                    count(*) FILTER (WHERE i.deleted_at IS NULL AND i.position <=
                        (SELECT min(position) + 4 FROM items WHERE tenant_id = t.id))
             FROM tenants t JOIN items i ON i.tenant_id = t.id
             GROUP BY t.id, t.name ORDER BY t.name",
            &[],
        )
        .await
        .unwrap();
    let bound = prepared.bind_first_variant(&scenario).await.unwrap();
    let target_id = bound[0].values[0].to_string();
    let target: String = client
        .query_one(
            "SELECT name FROM workflows WHERE id = $1::text::uuid",
            &[&target_id],
        )
        .await
        .unwrap()
        .get(0);
    prepared.discard().await.unwrap();
    server.stop().await.unwrap();

    assert_eq!(per_organization.len(), 20);
    let mut dense = 0;
    for row in &per_organization {
        let (name, total, busy): (String, i64, i64) = (row.get(0), row.get(1), row.get(2));
        let (busy_workflows, dense_workflows): (i64, i64) = (row.get(3), row.get(4));
        assert_eq!(busy_workflows, 1, "{name}");
        assert_eq!(busy, total * 8 / 10, "{name}: {busy} of {total}");
        if dense_workflows > 0 {
            assert_eq!((dense_workflows, total), (9, 5_000), "{name}");
            dense += 1;
        }
    }
    assert_eq!(dense, 1);
    assert_eq!(tenants.len(), 10);
    let sparse: Vec<(i64, i64, i64)> = tenants
        .iter()
        .map(|row| (row.get(1), row.get(2), row.get(3)))
        .filter(|(items, _, _)| *items == 200)
        .collect();
    assert_eq!(sparse, vec![(200, 5, 5); 3], "{tenants:?}");
    assert!(target.starts_with("busy-"), "{target}");
}

/// Every kind of pick binds what its rule says on the seeded rows: the state most and
/// fewest runs hold, a revision no run used, the generated sparse and dense
/// organizations, and an SQL pick bound to a generated row.
#[tokio::test(flavor = "multi_thread")]
async fn picks_of_every_kind_bind_what_their_rule_says() {
    let scenario = crate::support::test_scenario("every-pick");
    let server = local_server().await;
    let run = run_scenario(&server, &scenario, &quick_options())
        .await
        .unwrap();
    server.stop().await.unwrap();
    let cell = &run.cells[0];
    let answer = |query: &str| {
        let evidence = cell.evidence.query(query).unwrap();
        let rows = &evidence.results.as_ref().unwrap().rows;
        let count: u64 = rows[0][0].as_deref().unwrap().parse().unwrap();
        (evidence.params[0].clone(), count)
    };
    assert_eq!(answer("busiest").0, "success");
    assert_eq!(answer("rarest").0, "initialized");
    assert!(answer("busiest").1 > 40_000, "{:?}", answer("busiest"));
    assert!(answer("rarest").1 < 2_000, "{:?}", answer("rarest"));
    assert_eq!(
        answer("unused"),
        ("21".to_owned(), 0),
        "revisions run 1 to 20"
    );
    assert_eq!(answer("sparse").1, 40, "a sparse organization has 40 runs");
    assert_eq!(
        answer("dense").1,
        53_928,
        "the dense one 90% of the 59,920 runs the sparse ones leave"
    );
    let picked: Vec<&str> = cell.picks.iter().map(|pick| pick.name.as_str()).collect();
    assert_eq!(
        picked,
        ["busiest", "rarest", "unused", "sparse", "dense", "newest"]
    );
}
