//! `plancheck dataset from-stats` round trips: seed a shipped dataset, fit a dataset to
//! its statistics, seed the fitted one, and compare what ANALYZE makes of both
//! (`pg_stats`, column by column) and the plans the shipped scenarios' queries get on
//! both, for targets chosen by one rule on both.

use std::collections::BTreeMap;
use std::path::Path;

use plancheck::describe::{FitOptions, from_stats};
use plancheck::pipeline::PreparedDatabase;
use plancheck::plan::Plan;

use predicates::prelude::*;
use predicates::str::contains;

use crate::support::{local_server, plancheck, quick_options, repo_path, superuser_url};

/// A column as ANALYZE saw it.
#[derive(Debug, Clone)]
struct ColumnStats {
    numeric: bool,
    /// The table's rows (`reltuples`).
    rows: f64,
    null_frac: f64,
    distinct: f64,
    /// Most common values' frequencies, most frequent first.
    top: Vec<f64>,
    /// Histogram bounds as numbers (instants as epoch seconds), for number and
    /// time columns.
    bounds: Vec<f64>,
    /// The most common values as numbers, in `top`'s order, for the same columns.
    common: Vec<f64>,
}

/// Every column's statistics of `tables`, by `table.column`.
async fn snapshot(
    client: &tokio_postgres::Client,
    tables: &[&str],
) -> BTreeMap<String, ColumnStats> {
    let tables: Vec<String> = tables.iter().map(|t| (*t).to_owned()).collect();
    let rows = client
        .query(
            "SELECT s.tablename || '.' || s.attname, \
                    t.typcategory IN ('N', 'D'), c.reltuples::float8, s.null_frac::float8, \
                    CASE WHEN s.n_distinct < 0 THEN -s.n_distinct * c.reltuples ELSE s.n_distinct END::float8, \
                    coalesce(s.most_common_freqs::float8[], '{}'), \
                    CASE WHEN t.typcategory = 'N' THEN s.histogram_bounds::text::float8[] \
                         WHEN t.typcategory = 'D' THEN (SELECT array_agg(extract(epoch FROM b)::float8 ORDER BY n) \
                              FROM unnest(s.histogram_bounds::text::timestamptz[]) WITH ORDINALITY AS u(b, n)) \
                    END, \
                    CASE WHEN t.typcategory = 'N' THEN s.most_common_vals::text::float8[] \
                         WHEN t.typcategory = 'D' THEN (SELECT array_agg(extract(epoch FROM v)::float8 ORDER BY n) \
                              FROM unnest(s.most_common_vals::text::timestamptz[]) WITH ORDINALITY AS u(v, n)) \
                    END \
             FROM pg_stats s \
             JOIN pg_class c ON c.relname = s.tablename AND c.relkind = 'r' \
             JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = s.attname \
             JOIN pg_type t ON t.oid = a.atttypid \
             WHERE s.schemaname = 'public' AND s.tablename = ANY($1)",
            &[&tables],
        )
        .await
        .unwrap();
    rows.iter()
        .map(|row| {
            (
                row.get::<_, String>(0),
                ColumnStats {
                    numeric: row.get(1),
                    rows: row.get(2),
                    null_frac: row.get(3),
                    distinct: row.get(4),
                    top: row.get(5),
                    bounds: row.get::<_, Option<Vec<f64>>>(6).unwrap_or_default(),
                    common: row.get::<_, Option<Vec<f64>>>(7).unwrap_or_default(),
                },
            )
        })
        .collect()
}

/// One shipped dataset's round trip: the scenario that seeds it, the scale, the tables,
/// and the queries whose plans must keep their shape, each with the rule that picks
/// its parameter (`SELECT <value>::text …`, run on each database).
struct Case {
    scenario: &'static str,
    scale: u64,
    schema: &'static [&'static str],
    tables: &'static [&'static str],
    queries: &'static [(&'static str, &'static str, &'static str)],
    /// Columns whose most common values' frequencies and distinct count the fit cannot
    /// keep, as they follow another column, with why.
    cross_column: &'static [(&'static str, &'static str)],
}

/// The plan shape of `query_file` with `$1` bound to what `rule` picks, and the rows
/// it examined.
async fn shape(
    client: &tokio_postgres::Client,
    query_file: &str,
    rule: &str,
) -> (String, String, f64) {
    let sql = std::fs::read_to_string(repo_path(query_file)).unwrap();
    shape_of(client, &sql, rule).await
}

/// The plan shape of `sql` with `$1` bound to what `rule` picks, and the rows it
/// examined.
async fn shape_of(client: &tokio_postgres::Client, sql: &str, rule: &str) -> (String, String, f64) {
    let target: String = client.query_one(rule, &[]).await.unwrap().get(0);
    let sql = sql.replace("$1", &format!("'{}'", target.replace('\'', "''")));
    let explained: serde_json::Value = client
        .query_one(&format!("EXPLAIN (ANALYZE, FORMAT JSON) {sql}"), &[])
        .await
        .unwrap()
        .get(0);
    let plan = Plan::from_explain(&explained).unwrap();
    (target, plan.shape(), plan.rows_examined())
}

/// Seeds `case`'s dataset, fits a dataset to its statistics, seeds that, and returns
/// every difference beyond the tolerances, as sentences.
async fn round_trip(case: &Case, dir: &Path) -> Vec<String> {
    let server = local_server().await;
    let scenario = plancheck::input::Scenario::load(&repo_path(case.scenario)).unwrap();
    let mut options = quick_options();
    options.scale = Some(case.scale);
    let original = PreparedDatabase::create(&server, &[&scenario], &options)
        .await
        .unwrap();
    let fit = FitOptions {
        anonymize: false,
        keep_values: Vec::new(),
        schema: case
            .schema
            .iter()
            .map(|path| repo_path(path).display().to_string())
            .collect(),
        seed: 1,
    };
    let tables: Vec<String> = case.tables.iter().map(|t| (*t).to_owned()).collect();
    let (text, warnings) = from_stats(original.client(), &tables, &fit, "test")
        .await
        .unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    let before = snapshot(original.client(), case.tables).await;
    let mut shapes_before = Vec::new();
    for (query, rule, _) in case.queries {
        shapes_before.push(shape(original.client(), query, rule).await);
    }
    original.discard().await.unwrap();

    std::fs::write(dir.join("dataset.toml"), &text).unwrap();
    std::fs::write(dir.join("count.sql"), "SELECT 1").unwrap();
    std::fs::write(
        dir.join("fitted.toml"),
        "description = \"Seeds the fitted dataset.\"\ndataset = \"dataset.toml\"\n\n\
         [[query]]\nname = \"one\"\nfile = \"count.sql\"\n\n\
         [[check]]\ncheck = \"no-node\"\nquery = \"one\"\nnode_type = \"Sort\"\n",
    )
    .unwrap();
    let fitted = plancheck::input::Scenario::load(&dir.join("fitted.toml"))
        .unwrap_or_else(|error| panic!("the fitted dataset loads: {error}\n{text}"));
    let copy = PreparedDatabase::create(&server, &[&fitted], &quick_options())
        .await
        .unwrap_or_else(|error| panic!("the fitted dataset seeds: {error}\n{text}"));
    let after = snapshot(copy.client(), case.tables).await;
    let mut shapes_after = Vec::new();
    for (query, rule, _) in case.queries {
        shapes_after.push(shape(copy.client(), query, rule).await);
    }
    copy.discard().await.unwrap();
    server.stop().await.unwrap();

    let mut differences = Vec::new();
    let mut worst = [0.0f64; 3];
    for (column, seen) in &before {
        let Some(fitted) = after.get(column) else {
            differences.push(format!("{column}: no statistics after the round trip"));
            continue;
        };
        worst[0] = worst[0].max((seen.null_frac - fitted.null_frac).abs());
        if !case.cross_column.iter().any(|(name, _)| name == column) {
            worst[1] =
                worst[1].max((seen.distinct - fitted.distinct).abs() / seen.distinct.max(1.0));
            for (was, now) in seen.top.iter().zip(&fitted.top).take(5) {
                worst[2] = worst[2].max((was - now).abs());
            }
        }
        if (seen.null_frac - fitted.null_frac).abs() > 0.01 {
            differences.push(format!(
                "{column}: null fraction {:.4} became {:.4}",
                seen.null_frac, fitted.null_frac
            ));
        }
        // Within 10%, or 15% in a table under 1,000 rows, where a value of two or three
        // rows is left out of e^-2 of the draws (289 projects with 93 names lose 5-9).
        let tolerance = if seen.rows < 1_000.0 { 0.15 } else { 0.1 };
        let cross_column = case.cross_column.iter().any(|(name, _)| name == column);
        if !cross_column
            && (seen.distinct - fitted.distinct).abs() > tolerance * seen.distinct.max(1.0)
        {
            differences.push(format!(
                "{column}: {:.0} distinct values became {:.0}",
                seen.distinct, fitted.distinct
            ));
        }
        for (rank, (was, now)) in seen.top.iter().zip(&fitted.top).take(5).enumerate() {
            // Within 0.01, or four standard errors of the difference of two sampled
            // frequencies: 400 products put a 3% name at 12 rows, and a draw of 400
            // rows moves it by 3 either way.
            let error = 4.0 * (2.0 * was * (1.0 - was) / sampled(seen)).sqrt();
            if !cross_column && (was - now).abs() > error.max(0.01) {
                differences.push(format!(
                    "{column}: the most common value {} has frequency {now:.4}, was {was:.4}",
                    rank + 1
                ));
            }
        }
        if seen.numeric && seen.bounds.len() > 2 && fitted.bounds.len() > 2 {
            differences.extend(quantiles_differ(column, seen, fitted));
        }
    }
    eprintln!(
        "{}: {} columns; worst null fraction difference {:.4}, distinct count {:.1}%, top-5 frequency {:.4}",
        case.scenario,
        before.len(),
        worst[0],
        worst[1] * 100.0,
        worst[2]
    );
    for ((query, rule, why), (before, after)) in case
        .queries
        .iter()
        .zip(shapes_before.iter().zip(&shapes_after))
    {
        eprintln!(
            "{query} for {why}: {} | {}; rows examined {} | {}",
            before.1, after.1, before.2, after.2
        );
        if before.1 != after.1 {
            differences.push(format!(
                "{query} ({why}, {rule}): the plan was {:?} for {}, and is {:?} for {} on the fitted data",
                before.1, before.0, after.1, after.0
            ));
        }
    }
    differences
}

/// The non-NULL rows ANALYZE read of `column`'s table: 300 × the statistics target
/// (100), or all of a smaller table. Both sides' statistics are estimates from such a
/// sample (and the fitted side's rows a draw too), so their differences are compared
/// with what sampling alone moves.
fn sampled(column: &ColumnStats) -> f64 {
    (column.rows.min(30_000.0) * (1.0 - column.null_frac)).max(1.0)
}

/// The value below which a share `q` of the non-NULL rows lie, from the most common
/// values (each its frequency at one point) and the histogram (the rest spread evenly
/// over its buckets, uniformly within each): the column's whole distribution, so
/// that which values ANALYZE happened to list as most common does not move it.
fn quantile(column: &ColumnStats, q: f64) -> f64 {
    let listed: f64 = column.top.iter().sum();
    let non_null = (1.0 - column.null_frac).max(f64::MIN_POSITIVE);
    let buckets = column.bounds.len().saturating_sub(1).max(1) as f64;
    let per_bucket = (non_null - listed).max(0.0) / buckets;
    // Pieces in value order: (from, to, mass).
    let mut pieces: Vec<(f64, f64, f64)> = column
        .bounds
        .windows(2)
        .map(|pair| (pair[0], pair[1], per_bucket))
        .collect();
    // An integer listed as common though hardly above its bucket's density per value
    // is a sample's winner (a normal column's centre lists a hundred such values at
    // 1.6 times their share, different ones in each sample): read as part of its
    // bucket on both sides, as the fit does, not as a spike.
    let integers = column.bounds.iter().all(|bound| bound.fract() == 0.0);
    for (value, mass) in column.common.iter().zip(&column.top) {
        let bucket = pieces
            .iter()
            .position(|(from, to, _)| value >= from && value <= to);
        match bucket {
            Some(index)
                if integers
                    && *mass < 2.0 * per_bucket / (pieces[index].1 - pieces[index].0).max(1.0) =>
            {
                pieces[index].2 += mass;
            }
            _ => pieces.push((*value, *value, *mass)),
        }
    }
    pieces.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
    let total: f64 = pieces.iter().map(|piece| piece.2).sum();
    let mut wanted = q * total;
    for (from, to, mass) in &pieces {
        if wanted <= *mass {
            return from + (to - from) * (wanted / mass.max(f64::MIN_POSITIVE));
        }
        wanted -= mass;
    }
    pieces.last().map_or(0.0, |piece| piece.1)
}

/// Each percentile of the fitted column's distribution lies within one percentile
/// (a bucket of the default histogram) of the same percentile of the seen one, or
/// within five standard errors of the difference of two sampled quantiles when that
/// is wider: 400 products put a bucket at 4 rows, and 30,000 sampled rows of 100,000
/// orders move a quantile by 0.3% on each side. Five, not three: a round trip makes
/// about a thousand such comparisons, and at three standard errors one would fail
/// by chance in most runs (measured: `orders.total_cents` half the time, by a few
/// cents, while its actual percentiles agreed within a third of a bucket).
fn quantiles_differ(column: &str, seen: &ColumnStats, fitted: &ColumnStats) -> Option<String> {
    let rows = sampled(seen);
    for percent in 1..100 {
        let q = f64::from(percent) / 100.0;
        let value = quantile(fitted, q);
        let error = 5.0 * (2.0 * q * (1.0 - q) / rows).sqrt();
        let slack = 0.01f64.max(error);
        let (low, high) = (
            quantile(seen, (q - slack).max(0.0)),
            quantile(seen, (q + slack).min(1.0)),
        );
        if value < low || value > high {
            return Some(format!(
                "{column}: the {percent}% quantile is {value}, outside {low}..{high}, the same quantile ± {:.1}% of the original",
                slack * 100.0
            ));
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread")]
async fn the_orders_dataset_round_trips_through_its_statistics() {
    let dir = tempfile::tempdir().unwrap();
    let case = Case {
        scenario: "scenarios/orders-by-status.toml",
        scale: 100_000,
        schema: &["fixtures/schema/orders.sql"],
        tables: &["customers", "products", "orders"],
        queries: &[
            (
                "fixtures/queries/orders_by_status.sql",
                "SELECT status FROM orders GROUP BY status ORDER BY count(*), status LIMIT 1",
                "the rarest status",
            ),
            (
                "fixtures/queries/orders_by_status.sql",
                "SELECT status FROM orders GROUP BY status ORDER BY count(*) DESC, status LIMIT 1",
                "the commonest status",
            ),
        ],
        cross_column: &[],
    };
    let differences = round_trip(&case, dir.path()).await;
    assert!(differences.is_empty(), "{}", differences.join("\n"));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_workflow_runs_dataset_round_trips_through_its_statistics() {
    let dir = tempfile::tempdir().unwrap();
    let case = Case {
        scenario: "scenarios/sparse-org.toml",
        scale: 350_000,
        schema: &[
            "fixtures/schema/workflow_runs.sql",
            "fixtures/migrations/denormalize_organization_id.sql",
            "fixtures/migrations/drop_organization_id_trigger.sql",
        ],
        tables: &[
            "organizations",
            "projects",
            "project_versions",
            "workflows",
            "workflow_runs",
        ],
        queries: &[
            (
                "fixtures/queries/list_runs_by_org_exists.sql",
                "SELECT organization_id::text FROM workflow_runs GROUP BY 1 ORDER BY count(*), 1 LIMIT 1",
                "the organization with the fewest runs",
            ),
            (
                "fixtures/queries/list_runs_by_org_column.sql",
                "SELECT organization_id::text FROM workflow_runs GROUP BY 1 ORDER BY count(*), 1 LIMIT 1",
                "the organization with the fewest runs",
            ),
            (
                "fixtures/queries/list_runs_by_org_column.sql",
                "SELECT organization_id::text FROM workflow_runs GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1",
                "the organization with the most runs",
            ),
        ],
        // Statistics are per column: that a run picks among its own organization's
        // workflows and versions (the dense organization's 60 workflows share 90% of
        // the runs, 1.5% each) is a correlation across columns. The fit keeps each
        // column's top share and spreads the rest on a zipf curve over all of them.
        cross_column: &[
            (
                "workflow_runs.workflow_id",
                "picked within the run's organization",
            ),
            (
                "workflow_runs.version_id",
                "picked within the run's organization",
            ),
        ],
    };
    let differences = round_trip(&case, dir.path()).await;
    assert!(differences.is_empty(), "{}", differences.join("\n"));
}

/// Bad input names the table and says how to fix it (exit 2); a server out of reach is
/// exit 3; `--anonymize` replaces the values of text columns but the schema's own
/// vocabulary (a CHECK constraint's) and what `--keep-values` names.
#[tokio::test(flavor = "multi_thread")]
async fn from_stats_refuses_what_it_cannot_fit_and_anonymizes_what_it_fits() {
    let server = local_server().await;
    let url = superuser_url(&server);
    let config = plancheck::provision::parse_database_url(&url).unwrap();
    let client = plancheck::provision::connect(&config).await.unwrap();
    client
        .batch_execute(
            "CREATE TABLE accounts (id bigint PRIMARY KEY, email text NOT NULL, \
                 plan text NOT NULL CHECK (plan IN ('free', 'pro')), region text NOT NULL);
             INSERT INTO accounts SELECT g, 'user' || (g % 50) || '@example.com', \
                 CASE WHEN g % 10 = 0 THEN 'pro' ELSE 'free' END, \
                 CASE WHEN g % 3 = 0 THEN 'eu-west' ELSE 'us-east' END \
             FROM generate_series(1, 5000) g;
             ANALYZE accounts;
             CREATE TABLE invoices (id bigint PRIMARY KEY, account_id bigint NOT NULL REFERENCES accounts (id));
             ANALYZE invoices;
             CREATE TABLE notes (id bigint PRIMARY KEY, account_id bigint REFERENCES accounts (id));
             INSERT INTO notes SELECT g, NULL FROM generate_series(1, 10) g;
             ANALYZE notes;
             CREATE TABLE fresh (id int);
             INSERT INTO fresh VALUES (1);
             CREATE TABLE secret (id int);
             INSERT INTO secret SELECT generate_series(1, 100);
             ANALYZE secret;
             CREATE ROLE reader LOGIN PASSWORD 'reader-password';
             GRANT SELECT ON accounts, fresh TO reader;",
        )
        .await
        .unwrap();
    let run = |url: &str, extra: &[&str]| {
        let mut command = plancheck();
        command.args(["dataset", "from-stats", "--database-url", url]);
        command.args(extra);
        command.assert()
    };
    run(&url, &["--tables", "accounts,nope"])
        .code(2)
        .stderr(contains("table \"nope\" does not exist"));
    run(&url, &["--tables", "fresh"])
        .code(2)
        .stderr(contains("fresh has never been analyzed").and(contains("run ANALYZE fresh")));
    run(&url, &["--tables", "invoices"]).code(2).stderr(
        contains("invoices.account_id references accounts").and(contains("--tables leaves out")),
    );
    let notes = run(&url, &["--tables", "notes"])
        .code(0)
        .get_output()
        .stdout
        .clone();
    let notes = String::from_utf8(notes).unwrap();
    assert!(
        notes.contains(
            "# account_id: left out, it references accounts, which --tables leaves out: NULL here"
        ),
        "{notes}"
    );
    let reader = url
        .split_whitespace()
        .map(|pair| match pair {
            _ if pair.starts_with("user=") => "user=reader",
            _ if pair.starts_with("password=") => "password=reader-password",
            _ => pair,
        })
        .collect::<Vec<_>>()
        .join(" ");
    run(&reader, &["--tables", "secret"])
        .code(2)
        .stderr(contains("GRANT SELECT ON secret TO reader"));
    run(
        "host=127.0.0.1 port=1 user=x dbname=x connect_timeout=2",
        &["--tables", "accounts"],
    )
    .code(3);
    run(
        &url,
        &[
            "--tables",
            "accounts",
            "--anonymize",
            "--keep-values",
            "accounts.nope",
        ],
    )
    .code(2)
    .stderr(contains("accounts.nope"));

    let plain = run(&reader, &["--tables", "accounts"])
        .code(0)
        .get_output()
        .stdout
        .clone();
    let plain = String::from_utf8(plain).unwrap();
    assert!(
        plain.contains("@example.com") && plain.contains("eu-west"),
        "{plain}"
    );
    let anonymized = run(&url, &["--tables", "accounts", "--anonymize"])
        .code(0)
        .get_output()
        .stdout
        .clone();
    let anonymized = String::from_utf8(anonymized).unwrap();
    assert!(
        !anonymized.contains("example.com") && !anonymized.contains("eu-west"),
        "{anonymized}"
    );
    assert!(
        anonymized.contains("\"pro\"") && anonymized.contains("\"free\""),
        "{anonymized}"
    );
    let kept = run(
        &url,
        &[
            "--tables",
            "accounts",
            "--anonymize",
            "--keep-values",
            "accounts.region",
        ],
    )
    .code(0)
    .get_output()
    .stdout
    .clone();
    let kept = String::from_utf8(kept).unwrap();
    assert!(
        kept.contains("eu-west") && !kept.contains("example.com"),
        "{kept}"
    );
    toml::from_str::<toml::Table>(&anonymized).expect("the file is TOML");
    server.stop().await.unwrap();
}

/// A schema unlike the shipped ones (identity keys other tables reference, a key of
/// two columns, short unique codes, a domain, an enum, a self-reference, a heavy
/// tenant, a time-sorted heap, a partitioned table with a foreign key) fits into a
/// file that loads and seeds as written.
#[tokio::test(flavor = "multi_thread")]
async fn a_schema_of_its_own_fits_into_a_file_that_seeds_as_written() {
    const SCHEMA: &str = "\
        CREATE DOMAIN posint AS integer CHECK (VALUE > 0);
        CREATE TYPE tier AS ENUM ('free', 'pro', 'enterprise');
        CREATE TABLE tenants (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, \
            name text NOT NULL, tier tier NOT NULL, created_at timestamptz NOT NULL);
        CREATE TABLE regions (country char(2) NOT NULL, code varchar(4) NOT NULL, label text, \
            PRIMARY KEY (country, code));
        CREATE TABLE items (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, \
            tenant_id bigint NOT NULL REFERENCES tenants, parent_id bigint REFERENCES items, \
            sku char(6) NOT NULL UNIQUE, qty posint NOT NULL, price numeric(12, 2), \
            active boolean NOT NULL, made date, created_at timestamptz NOT NULL);
        CREATE INDEX items_created_at ON items (created_at);
        CREATE TABLE visits (tenant_id bigint NOT NULL REFERENCES tenants, at timestamptz NOT NULL) \
            PARTITION BY RANGE (at);
        CREATE TABLE visits_2026 PARTITION OF visits FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
    ";
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("schema.sql"), SCHEMA).unwrap();
    let server = local_server().await;
    let url = superuser_url(&server);
    let config = plancheck::provision::parse_database_url(&url).unwrap();
    let client = plancheck::provision::connect(&config).await.unwrap();
    client.batch_execute(SCHEMA).await.unwrap();
    client
        .batch_execute(
            "INSERT INTO tenants (name, tier, created_at) \
                 SELECT 'tenant ' || g, (ARRAY['free', 'pro', 'enterprise']::tier[])[1 + g % 3], \
                        now() - g * interval '1 day' FROM generate_series(1, 50) g;
             INSERT INTO regions SELECT c, 'r' || g, CASE WHEN g % 4 = 0 THEN NULL ELSE 'Region ' || g END \
                 FROM unnest(ARRAY['DE', 'FR', 'GB', 'US', 'NL']) c, generate_series(1, 40) g;
             INSERT INTO items (tenant_id, parent_id, sku, qty, price, active, made, created_at) \
                 SELECT CASE WHEN g % 5 = 0 THEN 2 + g % 49 ELSE 1 END, NULL, lpad(g::text, 6, '0'), \
                        1 + g % 17, CASE WHEN g % 10 = 0 THEN NULL ELSE (g % 1000) / 4.0 END, \
                        g % 3 = 0, date '2026-01-01' + g % 300, \
                        timestamptz '2026-01-01' + g * interval '5 minutes' \
                 FROM generate_series(1, 50000) g;
             INSERT INTO visits SELECT 1 + g % 50, timestamptz '2026-01-01' + g * interval '1 hour' \
                 FROM generate_series(1, 5000) g;
             ANALYZE tenants, regions, items, visits;",
        )
        .await
        .unwrap();
    let fit = FitOptions {
        anonymize: false,
        keep_values: Vec::new(),
        schema: vec!["schema.sql".into()],
        seed: 1,
    };
    let tables: Vec<String> = ["items", "regions", "tenants", "visits"]
        .map(String::from)
        .to_vec();
    let (text, warnings) = from_stats(&client, &tables, &fit, "test").await.unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    assert!(
        text.contains("write_order = \"sorted\"\nsorted_by = \"created_at\""),
        "{text}"
    );
    assert!(
        text.contains("# parent_id: left out, it references its own table"),
        "{text}"
    );
    std::fs::write(dir.path().join("dataset.toml"), &text).unwrap();
    std::fs::write(dir.path().join("one.sql"), "SELECT 1").unwrap();
    std::fs::write(
        dir.path().join("fitted.toml"),
        "description = \"Seeds the fitted dataset.\"\ndataset = \"dataset.toml\"\n\n\
         [[query]]\nname = \"one\"\nfile = \"one.sql\"\n\n\
         [[check]]\ncheck = \"no-node\"\nquery = \"one\"\nnode_type = \"Sort\"\n",
    )
    .unwrap();
    let scenario = plancheck::input::Scenario::load(&dir.path().join("fitted.toml"))
        .unwrap_or_else(|error| panic!("the fitted dataset loads: {error}\n{text}"));
    let copy = PreparedDatabase::create(&server, &[&scenario], &quick_options())
        .await
        .unwrap_or_else(|error| panic!("the fitted dataset seeds: {error}\n{text}"));
    let row = copy
        .client()
        .query_one(
            "SELECT (SELECT max(n)::float8 / sum(n) FROM (SELECT count(*) AS n FROM items GROUP BY tenant_id) t), \
                    (SELECT correlation::float8 FROM pg_stats WHERE tablename = 'items' AND attname = 'created_at'), \
                    (SELECT count(*) FROM regions) + (SELECT count(*) FROM visits_2026)",
            &[],
        )
        .await
        .unwrap();
    let (heavy, correlation, regions): (f64, f64, i64) = (row.get(0), row.get(1), row.get(2));
    copy.discard().await.unwrap();
    server.stop().await.unwrap();
    assert!((heavy - 0.8).abs() < 0.02, "the heavy tenant holds {heavy}");
    assert!(correlation > 0.99, "created_at correlation {correlation}");
    assert_eq!(
        regions,
        200 + 5000,
        "every region, and every visit in its partition"
    );
}

/// The pg_dump command the file's header advises writes a schema that loads: for
/// tables in `public`, a dump of every schema (`--schema=public` would write `CREATE
/// SCHEMA public`, which a new database already has); its empty `search_path` does not
/// reach a query naming a table unqualified.
#[tokio::test(flavor = "multi_thread")]
async fn the_advised_pg_dump_of_a_public_schema_loads_and_seeds() {
    let dir = tempfile::tempdir().unwrap();
    let server = local_server().await;
    let url = superuser_url(&server);
    let config = plancheck::provision::parse_database_url(&url).unwrap();
    let client = plancheck::provision::connect(&config).await.unwrap();
    client
        .batch_execute(
            "CREATE TYPE mood AS ENUM ('calm', 'busy');
             CREATE TABLE dumped (id int PRIMARY KEY, mood mood NOT NULL, note text);
             INSERT INTO dumped SELECT g, (ARRAY['calm', 'busy']::mood[])[1 + g % 2], 'n' || g % 7 \
                 FROM generate_series(1, 2000) g;
             ANALYZE dumped;",
        )
        .await
        .unwrap();
    let fit = FitOptions {
        anonymize: false,
        keep_values: Vec::new(),
        schema: vec!["schema.sql".into()],
        seed: 1,
    };
    let (text, _) = from_stats(&client, &["dumped".to_owned()], &fit, "test")
        .await
        .unwrap();
    let advised = text
        .lines()
        .find_map(|line| line.trim_start_matches('#').trim().strip_prefix("pg_dump "))
        .and_then(|rest| rest.strip_suffix("> schema.sql"))
        .unwrap_or_else(|| panic!("the header advises a pg_dump: {text}"));
    let dumped = std::process::Command::new("pg_dump")
        .args(advised.split_whitespace())
        .arg("--dbname")
        .arg(&url)
        .arg("--file")
        .arg(dir.path().join("schema.sql"))
        .status()
        .unwrap();
    assert!(dumped.success(), "pg_dump {advised}");
    std::fs::write(dir.path().join("dataset.toml"), &text).unwrap();
    std::fs::write(
        dir.path().join("busy.sql"),
        "SELECT count(*) FROM dumped WHERE mood = 'busy'",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("fitted.toml"),
        "description = \"Seeds the fitted dataset.\"\ndataset = \"dataset.toml\"\n\n\
         [[query]]\nname = \"busy\"\nfile = \"busy.sql\"\n\n\
         [[check]]\ncheck = \"no-node\"\nquery = \"busy\"\nnode_type = \"Sort\"\n",
    )
    .unwrap();
    let scenario = plancheck::input::Scenario::load(&dir.path().join("fitted.toml"))
        .unwrap_or_else(|error| panic!("the fitted dataset loads: {error}\n{text}"));
    let copy = PreparedDatabase::create(&server, &[&scenario], &quick_options())
        .await
        .unwrap_or_else(|error| panic!("the advised dump seeds: {error}\n{advised}"));
    let busy: i64 = copy
        .client()
        .query_one("SELECT count(*) FROM dumped WHERE mood = 'busy'", &[])
        .await
        .unwrap_or_else(|error| panic!("an unqualified name after the dump: {error}"))
        .get(0);
    copy.discard().await.unwrap();
    drop(client);
    server.stop().await.unwrap();
    assert!((900..=1100).contains(&busy), "{busy} busy rows");
}

/// A CHECK that holds a text column to a pattern (`LIKE`, a regular expression) is
/// one the generated values must follow for the file to load: where they may not (a
/// `hex` for values beyond the common ones, stand-ins that change letters the pattern
/// names), the file says so before it loads; where they do (production's own values,
/// stand-ins that keep the `@` of `LIKE '%@%'`), it says nothing.
#[tokio::test(flavor = "multi_thread")]
async fn a_pattern_check_the_generated_values_may_break_is_said_before_the_file_loads() {
    let server = local_server().await;
    let url = superuser_url(&server);
    let config = plancheck::provision::parse_database_url(&url).unwrap();
    let client = plancheck::provision::connect(&config).await.unwrap();
    client
        .batch_execute(
            "CREATE TABLE coded (id int PRIMARY KEY, \
                 many text NOT NULL CHECK (many LIKE 'QZ-%'), \
                 few text NOT NULL CHECK (few ~ '^QZ-[0-9]+$'), \
                 mail text NOT NULL CHECK (mail LIKE '%@%' AND mail NOT LIKE '%@x.test'));
             INSERT INTO coded SELECT g, 'QZ-' || g, 'QZ-' || g % 10, 'u' || g % 20 || '@mail.test' \
                 FROM generate_series(1, 3000) g;
             ANALYZE coded;",
        )
        .await
        .unwrap();
    let warnings = |anonymize: bool| {
        let fit = FitOptions {
            anonymize,
            keep_values: Vec::new(),
            schema: vec!["schema.sql".into()],
            seed: 1,
        };
        let client = &client;
        async move {
            let tables = ["coded".to_owned()];
            let (_, warnings) = from_stats(client, &tables, &fit, "test").await.unwrap();
            warnings
                .iter()
                .filter(|warning| warning.contains("pattern"))
                .map(|warning| warning.split(':').next().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    let plain = warnings(false).await;
    let anonymized = warnings(true).await;
    drop(client);
    server.stop().await.unwrap();
    assert_eq!(plain, ["coded.many"]);
    assert_eq!(anonymized, ["coded.many", "coded.few"]);
}

/// An outsider's three-level hierarchy: 200 accounts, 2,000 projects spread over them
/// by a uniform reference, 200,000 tickets of which one project holds half and the
/// others share the rest at random. The uniform reference is no skew, however its top
/// value lands by sampling; the tickets' skew is placed on the projects, so the fitted
/// data keeps every column's top-five frequencies within 0.01 and the busy and sparse
/// projects with their plans.
#[tokio::test(flavor = "multi_thread")]
async fn a_three_level_hierarchy_keeps_its_busy_and_sparse_tenants() {
    const SCHEMA: &str = "\
        CREATE TABLE accounts (id bigint PRIMARY KEY, name text NOT NULL);
        CREATE TABLE projects (id bigint PRIMARY KEY, \
            account_id bigint NOT NULL REFERENCES accounts, name text NOT NULL);
        CREATE TABLE tickets (id bigint PRIMARY KEY, \
            project_id bigint NOT NULL REFERENCES projects, created_at timestamptz NOT NULL);
        CREATE INDEX tickets_project_id ON tickets (project_id);
        CREATE INDEX tickets_created_at ON tickets (created_at);
    ";
    const QUERY: &str =
        "SELECT id FROM tickets WHERE project_id = $1::bigint ORDER BY created_at DESC LIMIT 20";
    const RULES: [(&str, &str); 2] = [
        (
            "SELECT project_id::text FROM tickets GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1",
            "the busy project",
        ),
        (
            "SELECT project_id::text FROM tickets GROUP BY 1 ORDER BY count(*), 1 LIMIT 1",
            "the sparsest project",
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("schema.sql"), SCHEMA).unwrap();
    let server = local_server().await;
    let config = plancheck::provision::parse_database_url(&superuser_url(&server)).unwrap();
    let client = plancheck::provision::connect(&config).await.unwrap();
    client.batch_execute(SCHEMA).await.unwrap();
    client
        .batch_execute(
            "SELECT setseed(0.26);
             INSERT INTO accounts SELECT g, 'account ' || g FROM generate_series(1, 200) g;
             INSERT INTO projects SELECT g, 1 + floor(random() * 200)::int, 'project ' || g \
                 FROM generate_series(1, 2000) g;
             INSERT INTO tickets SELECT g, \
                 CASE WHEN g % 2 = 0 THEN 1 ELSE 2 + floor(random() * 1999)::int END, \
                 timestamptz '2026-01-01' + random() * interval '150 days' \
             FROM generate_series(1, 200000) g;
             ANALYZE accounts, projects, tickets;",
        )
        .await
        .unwrap();
    let tables = ["accounts", "projects", "tickets"];
    let fit = FitOptions {
        anonymize: false,
        keep_values: Vec::new(),
        schema: vec!["schema.sql".into()],
        seed: 1,
    };
    let names: Vec<String> = tables.map(String::from).to_vec();
    let (text, warnings) = from_stats(&client, &names, &fit, "test").await.unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    let before = snapshot(&client, &tables).await;
    // The fitted side runs in a scratch database with plancheck's pinned planner
    // settings; the original side plans with the same.
    for (name, value) in plancheck::settings::PINNED {
        client
            .batch_execute(&format!("SET {name} = '{value}'"))
            .await
            .unwrap();
    }
    let mut shapes_before = Vec::new();
    for (rule, _) in RULES {
        shapes_before.push(shape_of(&client, QUERY, rule).await);
    }

    std::fs::write(dir.path().join("dataset.toml"), &text).unwrap();
    std::fs::write(dir.path().join("one.sql"), "SELECT 1").unwrap();
    std::fs::write(
        dir.path().join("fitted.toml"),
        "description = \"Seeds the fitted dataset.\"\ndataset = \"dataset.toml\"\n\n\
         [[query]]\nname = \"one\"\nfile = \"one.sql\"\n\n\
         [[check]]\ncheck = \"no-node\"\nquery = \"one\"\nnode_type = \"Sort\"\n",
    )
    .unwrap();
    let scenario = plancheck::input::Scenario::load(&dir.path().join("fitted.toml"))
        .unwrap_or_else(|error| panic!("the fitted dataset loads: {error}\n{text}"));
    let copy = PreparedDatabase::create(&server, &[&scenario], &quick_options())
        .await
        .unwrap_or_else(|error| panic!("the fitted dataset seeds: {error}\n{text}"));
    let after = snapshot(copy.client(), &tables).await;
    let mut shapes_after = Vec::new();
    for (rule, _) in RULES {
        shapes_after.push(shape_of(copy.client(), QUERY, rule).await);
    }
    copy.discard().await.unwrap();
    server.stop().await.unwrap();

    let mut differences = Vec::new();
    let mut worst = BTreeMap::new();
    for (column, seen) in &before {
        let fitted = &after[column];
        let top_five = seen.top.iter().zip(&fitted.top).take(5);
        let difference = top_five
            .map(|(was, now)| (was - now).abs())
            .fold(0.0, f64::max);
        worst.insert(column.clone(), difference);
        if (seen.null_frac - fitted.null_frac).abs() > 0.01 {
            differences.push(format!(
                "{column}: null fraction {:.4} became {:.4}",
                seen.null_frac, fitted.null_frac
            ));
        }
        for (rank, (was, now)) in seen.top.iter().zip(&fitted.top).take(5).enumerate() {
            if (was - now).abs() > 0.01 {
                differences.push(format!(
                    "{column}: the most common value {} has frequency {now:.4}, was {was:.4}",
                    rank + 1
                ));
            }
        }
        if seen.top.first().is_some_and(|top| *top > 0.01) && fitted.top.is_empty() {
            differences.push(format!(
                "{column}: the most common value held {:.4}, and no value is common now",
                seen.top[0]
            ));
        }
    }
    eprintln!("the worst top-five frequency difference by column: {worst:.4?}");
    for ((_, why), (before, after)) in RULES.iter().zip(shapes_before.iter().zip(&shapes_after)) {
        eprintln!(
            "{why}: {} | {}; rows examined {} | {}",
            before.1, after.1, before.2, after.2
        );
        if before.1 != after.1 {
            differences.push(format!(
                "{why}: the plan was {:?} for {}, and is {:?} for {} on the fitted data",
                before.1, before.0, after.1, after.0
            ));
        }
    }
    assert!(differences.is_empty(), "{}\n{text}", differences.join("\n"));
}

/// Every value `pg_stats` lists for `table` (most common values and histogram bounds,
/// as text), by column, as the catalog prints them.
async fn real_values(client: &tokio_postgres::Client, table: &str) -> Vec<(String, String)> {
    let rows = client
        .query(
            "SELECT s.attname::text, v \
             FROM pg_stats s, \
                  unnest(coalesce(s.most_common_vals::text::text[], '{}') \
                         || coalesce(s.histogram_bounds::text::text[], '{}')) AS v \
             WHERE s.schemaname = 'public' AND s.tablename = $1",
            &[&table],
        )
        .await
        .unwrap();
    rows.iter().map(|row| (row.get(0), row.get(1))).collect()
}

/// Whether `text` holds `value` as a whole token: text anywhere; a number as a number
/// of its own (not the digits of a longer one); an instant in `pg_stats`'s form or in
/// RFC 3339's.
fn holds(text: &str, value: &str) -> bool {
    if value.parse::<f64>().is_ok() {
        return text
            .split(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-'))
            .any(|token| token == value);
    }
    let rfc3339 = value.replacen(' ', "T", 1).replace("+00", "Z");
    text.contains(value) || (rfc3339 != value && text.contains(&rfc3339))
}

/// With `--anonymize`, no value `pg_stats` lists appears in the file (nor a partial
/// index's literal) but the enum labels and a CHECK's `IN` list, which the header
/// names with why; without it, the header says which columns' real values it writes,
/// and stderr warns of the ones that look personal.
#[tokio::test(flavor = "multi_thread")]
async fn anonymize_keeps_only_what_the_schema_needs_and_a_plain_fit_says_what_it_copies() {
    let server = local_server().await;
    let url = superuser_url(&server);
    let config = plancheck::provision::parse_database_url(&url).unwrap();
    let client = plancheck::provision::connect(&config).await.unwrap();
    client
        .batch_execute(
            "CREATE TYPE account_state AS ENUM ('active', 'closed', 'frozen');
             CREATE TABLE people (id bigint PRIMARY KEY, \
                 email text NOT NULL CHECK (email LIKE '%@%'), \
                 plan text NOT NULL CHECK (plan IN ('free', 'pro')), \
                 state account_state NOT NULL, phone text, city text NOT NULL, \
                 score bigint NOT NULL, balance numeric(12, 2) NOT NULL, \
                 signed_up timestamptz NOT NULL);
             CREATE INDEX people_email ON people (email) WHERE email <> 'secret@x';
             CREATE INDEX people_city ON people (id) WHERE city = 'Secretville';
             CREATE INDEX people_score ON people (id) WHERE score > 4242420;
             SELECT setseed(0.1);
             INSERT INTO people SELECT 1000000006 + g, \
                 CASE WHEN g % 5 = 0 THEN 'secret-alice@example.com' ELSE 'user' || g || '@corp.example' END, \
                 CASE WHEN g % 4 = 0 THEN 'pro' ELSE 'free' END, \
                 (ARRAY['active', 'active', 'closed', 'frozen']::account_state[])[1 + g % 4], \
                 '+44 20 7946 ' || lpad((g % 30)::text, 4, '0'), \
                 CASE WHEN g % 10 < 4 THEN 'Secretville' WHEN g % 10 < 7 THEN 'Hiddenham' \
                      ELSE 'town ' || (g % 50) END, \
                 CASE WHEN g % 3 = 0 THEN 4242421 ELSE 1000003 * (g % 997) END, \
                 CASE WHEN g % 5 = 1 THEN 31337.77 ELSE (g % 2000) * 7.13 + 0.01 END, \
                 timestamptz '2020-01-01' + random() * interval '1800 days' \
             FROM generate_series(1, 20000) g;
             ANALYZE people;",
        )
        .await
        .unwrap();
    let run = |extra: &[&str]| {
        let mut command = plancheck();
        command.args([
            "dataset",
            "from-stats",
            "--database-url",
            &url,
            "--tables",
            "people",
        ]);
        command.args(extra);
        let output = command.assert().code(0).get_output().clone();
        (
            String::from_utf8(output.stdout).unwrap(),
            String::from_utf8(output.stderr).unwrap(),
        )
    };
    let kept = ["active", "closed", "frozen", "free", "pro"];
    let mut real = real_values(&client, "people").await;
    real.push(("email".into(), "secret@x".into()));
    real.push(("city".into(), "Secretville".into()));
    real.push(("score".into(), "4242420".into()));
    assert!(
        real.iter()
            .any(|(_, value)| value == "secret-alice@example.com")
    );

    let (anonymized, stderr) = run(&["--anonymize"]);
    let leaked: Vec<&(String, String)> = real
        .iter()
        .filter(|(_, value)| !kept.contains(&value.as_str()) && holds(&anonymized, value))
        .collect();
    assert!(
        leaked.is_empty(),
        "real values in the file: {leaked:?}\n{anonymized}"
    );
    assert!(
        anonymized.contains(
            "people.plan: \"free\", \"pro\" (named by the IN list of CHECK people_plan_check)"
        ) && anonymized.contains("people.state: \"active\", \"closed\", \"frozen\" (enum labels)"),
        "{anonymized}"
    );
    assert!(!stderr.contains("look personal"), "{stderr}");
    toml::from_str::<toml::Table>(&anonymized).expect("the file is TOML");

    let (plain, stderr) = run(&[]);
    assert!(!plain.contains("never a row of data"), "{plain}");
    assert!(
        plain.contains("secret-alice@example.com") && plain.contains("Real values"),
        "{plain}"
    );
    assert!(
        stderr.contains("people.email (emails)") && stderr.contains("people.phone (phone numbers)"),
        "{stderr}"
    );
    assert!(!stderr.contains("people.city"), "{stderr}");
    assert!(
        plain.contains("# - people (index definitions): their literals"),
        "{plain}"
    );
    server.stop().await.unwrap();
}

/// A `--tables` entry that is not a table name as PostgreSQL reads one (`to_regclass`
/// would raise "invalid name syntax") is bad input, refused before any connection.
#[test]
fn a_table_name_the_server_could_not_read_is_bad_input() {
    for tables in [
        "accounts;drop table x",
        "orders,\"unclosed",
        "a.b.c.d",
        "public.",
    ] {
        crate::support::plancheck()
            .args(["dataset", "from-stats", "--tables", tables])
            .args([
                "--database-url",
                "host=/nonexistent-socket-dir user=x dbname=x",
            ])
            .timeout(std::time::Duration::from_secs(60))
            .assert()
            .code(2)
            .stderr(predicates::str::contains("is not a table name"));
    }
}
