//! Stage 5: capture plans. Binds each query to the seeded target, warms the cache by
//! running every query once, then runs `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON)` on
//! each and reads the catalog facts the checks need.

use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Statement};

use crate::error::{Error, Result};
use crate::plan::{Catalog, IndexFacts, IndexKey, Plan};
use crate::scenario::{Param, Query, Scenario};
use crate::schema::sql_error;
use crate::seed::SeededOrganization;

/// A query prepared on the server with its parameter values.
pub struct BoundQuery {
    pub name: String,
    /// The SQL without a trailing semicolon.
    pub sql: String,
    pub statement: Statement,
    params: Vec<Box<dyn ToSql + Sync + Send>>,
}

impl BoundQuery {
    /// The parameter values as tokio-postgres takes them.
    pub fn params(&self) -> Vec<&(dyn ToSql + Sync)> {
        self.params
            .iter()
            .map(|param| param.as_ref() as &(dyn ToSql + Sync))
            .collect()
    }
}

/// Prepares every query of the scenario and binds its parameters to `target`. SQL
/// errors name the query file and line; a parameter-count mismatch names the
/// scenario key.
pub async fn bind(
    client: &Client,
    scenario: &Scenario,
    target: &SeededOrganization,
) -> Result<Vec<BoundQuery>> {
    let mut bound = Vec::with_capacity(scenario.queries.len());
    for query in &scenario.queries {
        bound.push(bind_one(client, scenario, query, target).await?);
    }
    Ok(bound)
}

async fn bind_one(
    client: &Client,
    scenario: &Scenario,
    query: &Query,
    target: &SeededOrganization,
) -> Result<BoundQuery> {
    let sql = query
        .sql
        .trim_end()
        .trim_end_matches(';')
        .trim_end()
        .to_owned();
    let statement = client
        .prepare(&sql)
        .await
        .map_err(|error| sql_error(&query.path, &sql, 1, &error))?;
    if statement.params().len() != query.params.len() {
        return Err(Error::input(
            &scenario.path,
            format!(
                "key `query \"{}\".params`: {} uses {} parameter(s) but params lists {}",
                query.name,
                query.path.display(),
                statement.params().len(),
                query.params.len()
            ),
        ));
    }
    let params = query
        .params
        .iter()
        .map(|param| match param {
            Param::OrganizationId => Box::new(target.id) as Box<dyn ToSql + Sync + Send>,
        })
        .collect();
    Ok(BoundQuery {
        name: query.name.clone(),
        sql,
        statement,
        params,
    })
}

/// Runs every query once and discards the rows, so that both sides of a comparison
/// start from the same, warm cache.
pub async fn warm_up(client: &Client, queries: &[BoundQuery]) -> Result<()> {
    for query in queries {
        client
            .query(&query.statement, &query.params())
            .await
            .map_err(Error::database(format!("warming up query {}", query.name)))?;
    }
    Ok(())
}

/// EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) of one query: the raw document and its
/// parsed plan.
pub async fn explain(client: &Client, query: &BoundQuery) -> Result<(serde_json::Value, Plan)> {
    let sql = format!("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {}", query.sql);
    let row = client
        .query_one(&sql, &query.params())
        .await
        .map_err(Error::database(format!("explaining query {}", query.name)))?;
    let document: serde_json::Value = row.get(0);
    let plan = Plan::from_explain(&document).map_err(|error| {
        Error::Infrastructure(format!(
            "the server's EXPLAIN output for {} did not parse: {error}",
            query.name
        ))
    })?;
    Ok((document, plan))
}

/// The key columns and their declared order of every index outside the system
/// schemas.
pub async fn catalog(client: &Client) -> Result<Catalog> {
    let rows = client
        .query(
            "SELECT ci.relname::text, ct.relname::text, i.indisunique, \
                    pg_get_expr(i.indpred, i.indrelid), a.attname::text, \
                    (i.indoption[k.n - 1] & 1) = 1 \
             FROM pg_index i \
             JOIN pg_class ci ON ci.oid = i.indexrelid \
             JOIN pg_class ct ON ct.oid = i.indrelid \
             JOIN pg_namespace ns ON ns.oid = ct.relnamespace \
             CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, n) \
             LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum AND k.attnum > 0 \
             WHERE ns.nspname NOT IN ('pg_catalog', 'information_schema') \
               AND ns.nspname NOT LIKE 'pg_toast%' \
               AND k.n <= i.indnkeyatts \
             ORDER BY ci.relname, k.n",
            &[],
        )
        .await
        .map_err(Error::database("reading index facts from the catalog"))?;
    let mut indexes: Vec<IndexFacts> = Vec::new();
    for row in rows {
        let name: String = row.get(0);
        let key = IndexKey {
            column: row.get(4),
            descending: row.get(5),
        };
        match indexes.last_mut() {
            Some(last) if last.name == name => last.keys.push(key),
            _ => indexes.push(IndexFacts {
                name,
                table: row.get(1),
                unique: row.get(2),
                predicate: row.get(3),
                keys: vec![key],
            }),
        }
    }
    Ok(Catalog { indexes })
}
