//! The migration fixture on real data, and the claim that loading straight into the
//! post-migration schema leaves the old query's plan as it was in production.

use plancheck::input::Fixture;
use plancheck::pipeline::{PreparedDatabase, run_scenario};
use plancheck::plan::{Node, Plan};
use plancheck::schema;

use crate::support::{local_server, quick_options, repo_path, test_scenario};

fn fixture(relative: &str) -> Fixture {
    let path = repo_path(relative);
    let sql = std::fs::read_to_string(&path).unwrap();
    Fixture { path, sql }
}

#[tokio::test(flavor = "multi_thread")]
async fn migration_applies_cleanly_to_the_seeded_pre_migration_schema() {
    let server = local_server().await;
    let mut options = quick_options();
    options.scale = Some(12_000);
    let scenario = test_scenario("sparse-small-pre-migration");
    let prepared = PreparedDatabase::create(&server, &[&scenario], &options)
        .await
        .unwrap();
    let client = prepared.client();

    schema::apply_fixture(
        client,
        &fixture("fixtures/migrations/denormalize_organization_id.sql"),
    )
    .await
    .unwrap();

    // Every run was backfilled with its workflow's organization, in batches.
    let row = client
        .query_one(
            "SELECT count(*), count(*) FILTER (WHERE wr.organization_id = w.organization_id) \
             FROM workflow_runs wr JOIN workflows w ON w.id = wr.workflow_id",
            &[],
        )
        .await
        .unwrap();
    let (total, matching): (i64, i64) = (row.get(0), row.get(1));
    assert_eq!((total, matching), (12_000, 12_000));
    let facts = client
        .query_one(
            "SELECT (SELECT convalidated FROM pg_constraint WHERE conname = 'workflow_runs_organization_id_fkey'), \
                    (SELECT attnotnull FROM pg_attribute WHERE attrelid = 'workflow_runs'::regclass AND attname = 'organization_id'), \
                    (SELECT indisvalid FROM pg_index WHERE indexrelid = 'workflow_runs_organization_id_created_at'::regclass), \
                    (SELECT pg_get_indexdef('workflow_runs_organization_id_created_at'::regclass))",
            &[],
        )
        .await
        .unwrap();
    assert!(facts.get::<_, bool>(0), "foreign key validated");
    assert!(facts.get::<_, bool>(1), "column NOT NULL");
    assert!(facts.get::<_, bool>(2), "index valid");
    assert!(
        facts
            .get::<_, String>(3)
            .ends_with("(organization_id, created_at DESC)")
    );

    // A writer on the old release inserts without the column: the trigger fills it.
    let filled: uuid::Uuid = client
        .query_one(
            "INSERT INTO workflow_runs (id, created_at, state, contract_revision_used, contract_revision_latest, version_id, workflow_id) \
             SELECT gen_random_uuid(), now(), 'initialized', 1, 1, v.id, w.id \
             FROM workflows w JOIN project_versions v ON v.project_id = w.project_id LIMIT 1 \
             RETURNING organization_id",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let expected: uuid::Uuid = client
        .query_one("SELECT w.organization_id FROM workflows w JOIN project_versions v ON v.project_id = w.project_id LIMIT 1", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(filled, expected);

    // The follow-up release drops the trigger and its function.
    schema::apply_fixture(
        client,
        &fixture("fixtures/migrations/drop_organization_id_trigger.sql"),
    )
    .await
    .unwrap();
    let leftovers: i64 = client
        .query_one(
            "SELECT (SELECT count(*) FROM pg_trigger WHERE tgname = 'workflow_runs_fill_organization_id') \
                  + (SELECT count(*) FROM pg_proc WHERE proname = 'workflow_runs_fill_organization_id')",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(leftovers, 0);
    prepared.discard().await.unwrap();
    server.stop().await.unwrap();
}

/// Node types, indexes and relations, without numbers: what "the same plan" means.
fn shape(node: &Node, depth: usize, out: &mut Vec<String>) {
    out.push(format!(
        "{}{} {} {} {:?}",
        "  ".repeat(depth),
        node.node_type,
        node.index_name.as_deref().unwrap_or("-"),
        node.relation.as_deref().unwrap_or("-"),
        node.scan_direction
    ));
    for child in &node.children {
        shape(child, depth + 1, out);
    }
}

fn plan_shape(plan: &Plan) -> Vec<String> {
    let mut out = Vec::new();
    shape(&plan.root, 0, &mut out);
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn old_query_plan_is_the_same_on_the_pre_and_post_migration_schema() {
    let server = local_server().await;
    let pre = run_scenario(
        &server,
        &test_scenario("sparse-small-pre-migration"),
        &quick_options(),
    )
    .await
    .unwrap();
    let post = run_scenario(&server, &test_scenario("sparse-small"), &quick_options())
        .await
        .unwrap();
    server.stop().await.unwrap();
    let pre_old = &pre.cells[0].evidence.query("old").unwrap().plan;
    let post_old = &post.cells[0].evidence.query("old").unwrap().plan;
    assert_eq!(plan_shape(pre_old), plan_shape(post_old));
    assert_eq!(
        pre_old.rows_examined(),
        post_old.rows_examined(),
        "same seed, same rows, same walk"
    );
    assert!(pre.passed(), "{:#?}", pre.cells[0].verdicts);
}
