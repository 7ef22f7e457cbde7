//! Reads what `from-stats` fits a dataset to: for each named table its row estimate,
//! columns, `pg_stats` rows, keys, foreign keys, checks and indexes, in one query
//! that returns JSON. Never a row of the table's data: the server's statistics and
//! catalog only, which `pg_stats` shows for the columns the role may read.

use serde::Deserialize;
use tokio_postgres::Client;

use crate::error::{Error, Result};

/// The catalog query. `$1` is the table names as the user wrote them (resolved with
/// `to_regclass`, so the search path and quoting work as in SQL).
pub const STATS_SQL: &str = r#"
WITH named AS (
    SELECT name, ordinality, to_regclass(name) AS oid
    FROM unnest($1::text[]) WITH ORDINALITY AS t(name, ordinality)
)
SELECT coalesce(json_agg(json_build_object(
    'name', named.name,
    'found', c.oid IS NOT NULL,
    'kind', c.relkind,
    'schema', n.nspname,
    'table', c.relname,
    'reltuples', c.reltuples,
    'analyzed', (SELECT greatest(s.last_analyze, s.last_autoanalyze)::text
                 FROM pg_stat_all_tables s WHERE s.relid = c.oid),
    'role', current_user,
    'statistics_target', current_setting('default_statistics_target')::int,
    'can_select', CASE WHEN c.oid IS NULL THEN false ELSE has_table_privilege(c.oid, 'SELECT') END,
    'columns', (
        SELECT coalesce(json_agg(json_build_object(
            'name', a.attname,
            'type', format_type(bt.oid, m.typmod),
            'category', bt.typcategory,
            'max_length', CASE WHEN bt.typname IN ('bpchar', 'varchar') AND m.typmod > 4 THEN m.typmod - 4 END,
            'not_null', a.attnotnull,
            'has_default', a.atthasdef,
            'identity', a.attidentity <> '',
            'generated', a.attgenerated <> '',
            'readable', has_column_privilege(c.oid, a.attnum, 'SELECT'),
            'enum', bt.typtype = 'e',
            'unique', EXISTS (SELECT 1 FROM pg_index i
                              WHERE i.indrelid = c.oid AND i.indisunique AND i.indnatts = 1
                                AND i.indpred IS NULL AND i.indkey[0] = a.attnum),
            'stats', (
                SELECT json_build_object(
                    'null_frac', s.null_frac,
                    'n_distinct', s.n_distinct,
                    'avg_width', s.avg_width,
                    'correlation', s.correlation,
                    'mcv', CASE WHEN bt.typcategory <> 'A' THEN s.most_common_vals::text::text[] END,
                    'mcf', s.most_common_freqs,
                    'histogram', CASE WHEN bt.typcategory <> 'A' THEN s.histogram_bounds::text::text[] END)
                FROM pg_stats s
                WHERE s.schemaname = n.nspname AND s.tablename = c.relname
                  AND s.attname = a.attname AND s.inherited = (c.relkind = 'p'))
        ) ORDER BY a.attnum), '[]')
        FROM pg_attribute a
        JOIN pg_type t ON t.oid = a.atttypid
        -- A domain is read as its base type, as the loader does.
        JOIN pg_type bt ON bt.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END
        CROSS JOIN LATERAL (SELECT CASE WHEN t.typtype = 'd' THEN t.typtypmod ELSE a.atttypmod END AS typmod) m
        WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped),
    'unique_keys', (
        SELECT coalesce(json_agg((
            SELECT array_agg(a.attname ORDER BY k.i)
            FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS k(n, i)
            JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.n)), '[]')
        FROM pg_index i
        WHERE i.indrelid = c.oid AND i.indisunique AND i.indnatts > 1 AND i.indpred IS NULL),
    'foreign_keys', (
        SELECT coalesce(json_agg(json_build_object(
            'name', k.conname,
            'columns', (SELECT array_agg(a.attname ORDER BY u.i) FROM unnest(k.conkey) WITH ORDINALITY u(n, i)
                        JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.n),
            'to_oid', k.confrelid::bigint,
            'to_table', k.confrelid::regclass::text,
            'to_columns', (SELECT array_agg(a.attname ORDER BY u.i) FROM unnest(k.confkey) WITH ORDINALITY u(n, i)
                           JOIN pg_attribute a ON a.attrelid = k.confrelid AND a.attnum = u.n))
        ORDER BY k.conname), '[]')
        FROM pg_constraint k WHERE k.conrelid = c.oid AND k.contype = 'f'),
    'checks', (
        SELECT coalesce(json_agg(json_build_object(
            'name', k.conname,
            'columns', (SELECT coalesce(array_agg(a.attname ORDER BY a.attnum), '{}')
                        FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum = ANY (k.conkey)),
            'definition', pg_get_constraintdef(k.oid))
        ORDER BY k.conname), '[]')
        FROM pg_constraint k WHERE k.conrelid = c.oid AND k.contype = 'c'),
    'indexes', (
        SELECT coalesce(json_agg(pg_get_indexdef(i.indexrelid) ORDER BY i.indexrelid::regclass::text), '[]')
        FROM pg_index i WHERE i.indrelid = c.oid),
    'oid', c.oid::bigint
) ORDER BY named.ordinality), '[]')
FROM named
LEFT JOIN pg_class c ON c.oid = named.oid
LEFT JOIN pg_namespace n ON n.oid = c.relnamespace
"#;

/// One named table as the catalog describes it.
#[derive(Debug, Clone, Deserialize)]
pub struct TableFacts {
    /// As the user wrote it.
    pub name: String,
    pub found: bool,
    pub kind: Option<String>,
    pub schema: Option<String>,
    pub table: Option<String>,
    pub reltuples: Option<f64>,
    /// When the table was last analyzed (manually or by autovacuum), if ever.
    pub analyzed: Option<String>,
    pub role: String,
    pub statistics_target: i32,
    pub can_select: bool,
    pub columns: Option<Vec<ColumnFacts>>,
    pub unique_keys: Option<Vec<Vec<String>>>,
    pub foreign_keys: Option<Vec<ForeignKey>>,
    pub checks: Option<Vec<CheckConstraint>>,
    pub indexes: Option<Vec<String>>,
    pub oid: Option<i64>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ColumnFacts {
    pub name: String,
    /// `format_type`: `integer`, `timestamp with time zone`, `character varying(20)`.
    #[serde(rename = "type")]
    pub sql_type: String,
    /// `pg_type.typcategory`: N numeric, S string, D date/time, B boolean, U user
    /// (uuid, json), A array, E enum, …
    pub category: String,
    /// The declared length of a `char(n)` or `varchar(n)` column.
    pub max_length: Option<i32>,
    pub not_null: bool,
    pub has_default: bool,
    pub identity: bool,
    pub generated: bool,
    pub readable: bool,
    #[serde(rename = "enum")]
    pub is_enum: bool,
    /// A unique single-column index (or key) covers it.
    pub unique: bool,
    pub stats: Option<ColumnStats>,
}

/// A `pg_stats` row.
#[derive(Debug, Clone, Deserialize)]
pub struct ColumnStats {
    pub null_frac: f64,
    pub n_distinct: f64,
    pub avg_width: f64,
    pub correlation: Option<f64>,
    pub mcv: Option<Vec<String>>,
    pub mcf: Option<Vec<f64>>,
    pub histogram: Option<Vec<String>>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ForeignKey {
    pub name: String,
    pub columns: Vec<String>,
    pub to_oid: i64,
    /// `regclass` text: schema-qualified only when off the search path.
    pub to_table: String,
    pub to_columns: Vec<String>,
}

/// A table's CHECK constraint.
#[derive(Debug, Clone, Deserialize)]
pub struct CheckConstraint {
    pub name: String,
    /// The columns it reads.
    pub columns: Vec<String>,
    /// `pg_get_constraintdef`: `CHECK ((plan = ANY (ARRAY['free'::text, 'pro'::text])))`.
    pub definition: String,
}

/// A table that exists, has been analyzed and whose statistics the role can read.
#[derive(Debug, Clone)]
pub struct Table {
    /// The name the dataset file uses: `table`, or `schema.table` off `public`.
    pub name: String,
    pub oid: i64,
    pub rows: f64,
    pub analyzed: String,
    /// `default_statistics_target`: ANALYZE samples 300 times this many rows.
    pub statistics_target: i32,
    pub columns: Vec<ColumnFacts>,
    /// Unique keys of several columns (a composite primary key).
    pub unique_keys: Vec<Vec<String>>,
    pub foreign_keys: Vec<ForeignKey>,
    pub checks: Vec<CheckConstraint>,
    /// `pg_get_indexdef` of each index.
    pub indexes: Vec<String>,
}

/// Reads the statistics of `names`, refusing (exit 2, naming the table) one that does
/// not exist, is not a table, was never analyzed, or whose statistics the role may
/// not read.
pub async fn read(client: &Client, names: &[String]) -> Result<Vec<Table>> {
    if names.is_empty() {
        return Err(Error::Usage(
            "--tables names no table; give the tables to fit, comma-separated".into(),
        ));
    }
    client
        .batch_execute("SET DateStyle = ISO; SET TimeZone = 'UTC'; SET extra_float_digits = 3")
        .await
        .map_err(|error| Error::Database {
            during: "preparing to read statistics".into(),
            error,
        })?;
    let row = client
        .query_one(STATS_SQL, &[&names])
        .await
        .map_err(|error| Error::Database {
            during: "reading table statistics".into(),
            error,
        })?;
    let json: serde_json::Value = row.get(0);
    let facts: Vec<TableFacts> = serde_json::from_value(json).map_err(|error| {
        Error::Infrastructure(format!(
            "the statistics query gave unexpected JSON: {error}"
        ))
    })?;
    let tables = facts
        .into_iter()
        .map(checked)
        .collect::<Result<Vec<Table>>>()?;
    for (index, table) in tables.iter().enumerate() {
        if let Some(twice) = tables[..index]
            .iter()
            .find(|earlier| earlier.oid == table.oid)
        {
            return Err(Error::Usage(format!(
                "--tables names {} twice ({:?} and {:?}); name each table once",
                table.name,
                names[tables.iter().position(|t| t.oid == twice.oid).unwrap_or(0)],
                names[index]
            )));
        }
    }
    Ok(tables)
}

/// One table's facts, or the error that says what is wrong and how to fix it.
fn checked(facts: TableFacts) -> Result<Table> {
    let name = facts.name.clone();
    let usage = |message: String| Err(Error::Usage(format!("--tables: {message}")));
    if !facts.found {
        return usage(format!(
            "table {name:?} does not exist on this server (looked up as to_regclass({name:?}), in the connecting role's search path): check the name; a table in another schema needs it (schema.table), and a mixed-case name its double quotes ('\"Users\"')"
        ));
    }
    if matches!(
        facts.schema.as_deref(),
        Some("pg_catalog" | "information_schema" | "pg_toast")
    ) {
        return usage(format!(
            "{name:?} is a system catalog, not a table of yours"
        ));
    }
    if !matches!(facts.kind.as_deref(), Some("r" | "p")) {
        return usage(format!(
            "{name:?} is not a table (pg_class.relkind {:?}); name the tables behind it",
            facts.kind.unwrap_or_default()
        ));
    }
    let columns = facts.columns.unwrap_or_default();
    let reltuples = facts.reltuples.unwrap_or(-1.0);
    let has_stats = columns.iter().any(|column| column.stats.is_some());
    if !has_stats && columns.iter().all(|column| !column.readable) {
        return usage(format!(
            "role {role} cannot read the statistics of {name}: pg_stats shows a column's statistics only to roles that may SELECT it. Ask for GRANT SELECT ON {name} TO {role} (plancheck reads pg_stats and the catalog, never a row)",
            role = facts.role
        ));
    }
    let unreadable: Vec<&str> = columns
        .iter()
        .filter(|column| !column.readable)
        .map(|column| column.name.as_str())
        .collect();
    if !unreadable.is_empty() {
        return usage(format!(
            "role {role} cannot read the statistics of {name}'s columns {}: pg_stats shows a column's statistics only to roles that may SELECT it. Ask for GRANT SELECT ({}) ON {name} TO {role} (plancheck reads pg_stats and the catalog, never a row)",
            unreadable.join(", "),
            unreadable.join(", "),
            role = facts.role
        ));
    }
    if reltuples < 0.0 || (!has_stats && facts.analyzed.is_none()) {
        return usage(format!(
            "table {name} has never been analyzed, so it has no statistics to fit: run ANALYZE {name}; and try again"
        ));
    }
    let schema = facts.schema.unwrap_or_default();
    let table = facts.table.unwrap_or_default();
    Ok(Table {
        name: if schema == "public" {
            table
        } else {
            format!("{schema}.{table}")
        },
        oid: facts.oid.unwrap_or_default(),
        rows: reltuples.max(0.0),
        analyzed: facts.analyzed.unwrap_or_else(|| "never".into()),
        statistics_target: facts.statistics_target.max(1),
        columns,
        unique_keys: facts.unique_keys.unwrap_or_default(),
        foreign_keys: facts.foreign_keys.unwrap_or_default(),
        checks: facts.checks.unwrap_or_default(),
        indexes: facts.indexes.unwrap_or_default(),
    })
}
