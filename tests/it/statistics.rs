//! What PostgreSQL's ANALYZE makes of generated columns: a generator meant to
//! reproduce production's statistics must give back, through `pg_stats`, what it was
//! configured with.

use plancheck::pipeline::PreparedDatabase;

use crate::support::{local_server, quick_options};

/// Bounds of the test's histograms: uneven widths, so that a uniform draw over the
/// whole range would put the middle quantiles far from them.
const AMOUNT_BOUNDS: [i64; 6] = [
    0,
    10_000_000,
    100_000_000,
    200_000_000,
    5_000_000_000,
    100_000_000_000,
];
const RATIO_BOUNDS: [f64; 5] = [0.0, 0.01, 0.5, 0.51, 100.0];
const AT_BOUNDS: [&str; 5] = [
    "2024-01-01T00:00:00Z",
    "2025-06-01T00:00:00Z",
    "2025-12-01T00:00:00Z",
    "2025-12-08T00:00:00Z",
    "2026-06-01T00:00:00Z",
];

/// Writes a one-table dataset whose columns are histograms of the bounds above, with a
/// scenario over it, into `dir`; returns the scenario's path.
fn write_histogram_dataset(dir: &std::path::Path) -> std::path::PathBuf {
    std::fs::write(
        dir.join("schema.sql"),
        "CREATE TABLE samples (id bigint PRIMARY KEY, amount bigint NOT NULL, \
         ratio double precision NOT NULL, at timestamptz NOT NULL);\n",
    )
    .unwrap();
    let list = |items: Vec<String>| items.join(", ");
    std::fs::write(
        dir.join("dataset.toml"),
        format!(
            "description = \"Histograms, for pg_stats to read back.\"\n\
             schema = [\"schema.sql\"]\nseed = 15\nas_of = \"2026-06-01T00:00:00Z\"\n\
             scale_table = \"samples\"\n\n\
             [[table]]\nname = \"samples\"\nrows = 20_000\ncolumns.id = \"sequence\"\n\
             columns.amount = {{ kind = \"histogram\", bounds = [{}] }}\n\
             columns.ratio = {{ kind = \"histogram\", bounds = [{}] }}\n\
             columns.at = {{ kind = \"histogram\", bounds = [{}] }}\n",
            list(AMOUNT_BOUNDS.iter().map(ToString::to_string).collect()),
            list(RATIO_BOUNDS.iter().map(|b| format!("{b:?}")).collect()),
            list(AT_BOUNDS.iter().map(|b| format!("\"{b}\"")).collect()),
        ),
    )
    .unwrap();
    std::fs::write(dir.join("count.sql"), "SELECT count(*) FROM samples").unwrap();
    let scenario = dir.join("histograms.toml");
    std::fs::write(
        &scenario,
        "description = \"Seeds histograms.\"\ndataset = \"dataset.toml\"\n\n\
         [[query]]\nname = \"count\"\nfile = \"count.sql\"\n\n\
         [[check]]\ncheck = \"no-node\"\nquery = \"count\"\nnode_type = \"Sort\"\n",
    )
    .unwrap();
    scenario
}

/// `pg_stats`'s histogram bounds of `column`, as numbers (instants as seconds since
/// the epoch). Values this spread out seldom repeat, so few if any are listed as most
/// common values, which the histogram would leave out.
async fn histogram_bounds(client: &tokio_postgres::Client, column: &str) -> Vec<f64> {
    let row = client
        .query_one(
            "SELECT CASE WHEN attname = 'at' \
                    THEN (SELECT array_agg(extract(epoch FROM b)::float8 ORDER BY n) \
                          FROM unnest(histogram_bounds::text::timestamptz[]) WITH ORDINALITY AS u(b, n)) \
                    ELSE histogram_bounds::text::float8[] END \
             FROM pg_stats WHERE tablename = 'samples' AND attname = $1",
            &[&column],
        )
        .await
        .unwrap();
    row.get(0)
}

/// Checks that `observed` (N·k+1 equally populated bounds from `pg_stats`) puts each
/// configured bound within a tenth of a bucket of where it was configured.
fn assert_reproduces(column: &str, configured: &[f64], observed: &[f64]) {
    let buckets = configured.len() - 1;
    assert_eq!(
        (observed.len() - 1) % buckets,
        0,
        "{column}: {} pg_stats bounds do not split into {buckets} buckets: {observed:?}",
        observed.len()
    );
    let step = (observed.len() - 1) / buckets;
    for (index, bound) in configured.iter().enumerate() {
        let seen = observed[index * step];
        let below = if index == 0 {
            0.0
        } else {
            (bound - configured[index - 1]) / 10.0
        };
        let above = if index == buckets {
            0.0
        } else {
            (configured[index + 1] - bound) / 10.0
        };
        assert!(
            seen >= bound - below && seen <= bound + above,
            "{column}: pg_stats puts bound {index} at {seen}, configured {bound} (allowed {}..={}); all: {observed:?}",
            bound - below,
            bound + above
        );
    }
}

/// A dataset using `histogram` for an integer, a number and a timestamp column is
/// seeded and analyzed; `pg_stats.histogram_bounds`, read at the configured buckets'
/// quantiles, gives back the configured bounds within a tenth of a bucket, though the
/// buckets differ in width by orders of magnitude.
#[tokio::test(flavor = "multi_thread")]
async fn histogram_columns_give_back_their_bounds_through_pg_stats() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = plancheck::input::Scenario::load(&write_histogram_dataset(dir.path())).unwrap();
    let server = local_server().await;
    let prepared = PreparedDatabase::create(&server, &[&scenario], &quick_options())
        .await
        .unwrap();
    let amount = histogram_bounds(prepared.client(), "amount").await;
    let ratio = histogram_bounds(prepared.client(), "ratio").await;
    let at = histogram_bounds(prepared.client(), "at").await;
    prepared.discard().await.unwrap();
    server.stop().await.unwrap();

    let amount_bounds: Vec<f64> = AMOUNT_BOUNDS.iter().map(|b| *b as f64).collect();
    assert_reproduces("amount", &amount_bounds, &amount);
    assert_reproduces("ratio", &RATIO_BOUNDS, &ratio);
    let at_bounds: Vec<f64> = AT_BOUNDS
        .iter()
        .map(|b| {
            chrono::DateTime::parse_from_rfc3339(b)
                .unwrap()
                .timestamp_micros() as f64
                / 1e6
        })
        .collect();
    assert_reproduces("at", &at_bounds, &at);
}
