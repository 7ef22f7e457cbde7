//! How the load leaves the seeded tables: the state the planner reads, written the
//! cheapest way.

use plancheck::pipeline::PreparedDatabase;

use crate::support::{local_server, quick_options, test_scenario};

/// The load writes a plain table with COPY FREEZE: after seeding, every page of every
/// seeded table is all-visible (as the VACUUM after the load would leave it) and also
/// all-frozen, which no VACUUM of young rows does, so the frozen bits can only come
/// from the COPY, and the VACUUM found nothing left to do.
#[tokio::test(flavor = "multi_thread")]
async fn seeded_tables_are_written_frozen_with_every_page_all_visible() {
    let scenario = test_scenario("sparse-small");
    let server = local_server().await;
    let prepared = PreparedDatabase::create(&server, &[&scenario], &quick_options())
        .await
        .unwrap();
    let client = prepared.client();
    client
        .batch_execute("CREATE EXTENSION pg_visibility")
        .await
        .unwrap();
    let rows = client
        .query(
            "SELECT c.relname::text, c.relpages, c.relallvisible, \
                    (pg_relation_size(c.oid) / current_setting('block_size')::int)::int, \
                    v.all_visible::int, v.all_frozen::int \
             FROM pg_class c, pg_visibility_map_summary(c.oid) v \
             WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r' \
             ORDER BY 1",
            &[],
        )
        .await
        .unwrap();
    prepared.discard().await.unwrap();
    server.stop().await.unwrap();

    assert!(!rows.is_empty());
    let mut seeded = 0;
    for row in &rows {
        let (table, relpages, relallvisible, pages, all_visible, all_frozen): (
            String,
            i32,
            i32,
            i32,
            i32,
            i32,
        ) = (
            row.get(0),
            row.get(1),
            row.get(2),
            row.get(3),
            row.get(4),
            row.get(5),
        );
        if pages == 0 {
            continue;
        }
        seeded += 1;
        assert_eq!(
            (relpages, relallvisible, all_visible, all_frozen),
            (pages, pages, pages, pages),
            "{table}: pg_class pages and all-visible pages, then the visibility map's all-visible and all-frozen pages, out of {pages}"
        );
    }
    assert!(seeded > 0, "no seeded table has a page: {rows:?}");
}
