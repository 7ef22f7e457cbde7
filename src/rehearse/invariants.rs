//! The invariants checked after a rehearsed migration: the scenario's queries, each
//! one row of one boolean (it must be true) or one count (it must equal its
//! `expect`, a sum of numbers, seeded rows and the traffic's acknowledged inserts),
//! then plancheck's own, every constraint validated and every index valid.

use tokio_postgres::Client;
use tokio_postgres::types::Type;

use super::analyze;
use super::steps::same_relation;
use crate::error::{Error, Result, ServerError};
use crate::input::Scenario;
use crate::input::rehearsal::{CountTerm, Invariant};
use crate::outcome::TableFacts;
use crate::outcome::rehearsal::{InvariantOutcome, TrafficStream};
use crate::provision::ScratchDatabase;

/// What an invariant's query must return, for the errors that say otherwise.
const SHAPE: &str = "an invariant returns one row of one boolean (true when it holds) or one count";

/// Every invariant of the scenario, then the migration's own, then plancheck's: every
/// constraint validated and every index valid. After a failed migration an invariant
/// whose SQL the server rejects (a column the migration never added) is broken, not
/// bad input.
pub async fn check_invariants(
    scratch: &ScratchDatabase,
    scenario: &Scenario,
    invariants: &[&Invariant],
    seeded: &[TableFacts],
    traffic: &[TrafficStream],
    migration_failed: bool,
) -> Result<Vec<InvariantOutcome>> {
    let client = scratch.connect().await?;
    let mut outcomes = Vec::new();
    for invariant in invariants {
        let checked = match migration_failed {
            true => check_after_failure(&client, scenario, invariant, seeded, traffic).await?,
            false => check_invariant(&client, scenario, invariant, seeded, traffic).await?,
        };
        outcomes.push(checked);
    }
    outcomes.push(all_valid(&client).await?);
    Ok(outcomes)
}

/// plancheck's own invariant: no constraint left `NOT VALID` and no index left
/// invalid, as a forgotten `VALIDATE` or a failed `CREATE INDEX CONCURRENTLY` leave
/// them.
async fn all_valid(client: &Client) -> Result<InvariantOutcome> {
    let invalid: Vec<String> = client
        .query(
            "SELECT format('constraint %s on %s is not validated', conname, conrelid::regclass) \
             FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace \
             WHERE NOT c.convalidated AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
             UNION ALL \
             SELECT format('index %s is not valid', indexrelid::regclass) FROM pg_index WHERE NOT indisvalid \
             ORDER BY 1",
            &[],
        )
        .await
        .map_err(Error::database("checking constraints and indexes"))?
        .iter()
        .map(|row| row.get(0))
        .collect();
    Ok(InvariantOutcome {
        name: "every constraint validated and every index valid".into(),
        sql: "pg_constraint.convalidated, pg_index.indisvalid".into(),
        expected: "none invalid".into(),
        actual: match invalid.is_empty() {
            true => "none invalid".into(),
            false => invalid.join("; "),
        },
        held: invalid.is_empty(),
        builtin: true,
    })
}

/// An invariant checked on what a failed migration left: one the server cannot run
/// there is broken, with the server's reason as what was found.
async fn check_after_failure(
    client: &Client,
    scenario: &Scenario,
    invariant: &Invariant,
    seeded: &[TableFacts],
    traffic: &[TrafficStream],
) -> Result<InvariantOutcome> {
    if let Err(error) = client
        .prepare(invariant.sql.trim_end().trim_end_matches(';'))
        .await
    {
        return Ok(InvariantOutcome {
            name: invariant.name.clone(),
            sql: invariant.sql.clone(),
            expected: "a result".into(),
            actual: format!(
                "not checked: the server rejects its SQL on what the failed migration left: {}",
                ServerError(&error)
            ),
            held: false,
            builtin: false,
        });
    }
    check_invariant(client, scenario, invariant, seeded, traffic).await
}

/// One of the scenario's invariants, run and judged; an error for a query the
/// server rejects or whose result is neither one boolean nor one count.
async fn check_invariant(
    client: &Client,
    scenario: &Scenario,
    invariant: &Invariant,
    seeded: &[TableFacts],
    traffic: &[TrafficStream],
) -> Result<InvariantOutcome> {
    let key = format!("line {}: key `{}`", invariant.line, invariant.key);
    let bad = |message: String| Error::input(&scenario.path, format!("{key}: {message}"));
    let rows = client
        .query(invariant.sql.trim_end().trim_end_matches(';'), &[])
        .await
        .map_err(|error| {
            bad(format!(
                "the server rejects its SQL after the migration: {}",
                ServerError(&error)
            ))
        })?;
    let [row] = &rows[..] else {
        return Err(bad(format!("returned {} rows; {SHAPE}", rows.len())));
    };
    if row.len() != 1 {
        return Err(bad(format!("returned {} columns; {SHAPE}", row.len())));
    }
    let ty = row.columns()[0].type_().clone();
    if ty == Type::BOOL {
        if invariant.expect.is_some() {
            return Err(bad(format!(
                "returns a boolean, so `expect` (a count) does not apply; {SHAPE}"
            )));
        }
        let held: Option<bool> = row.get(0);
        return Ok(InvariantOutcome {
            name: invariant.name.clone(),
            sql: invariant.sql.clone(),
            expected: "true".into(),
            actual: held.map_or("NULL".into(), |held| held.to_string()),
            held: held == Some(true),
            builtin: false,
        });
    }
    let actual: Option<i64> = match ty {
        Type::INT8 => row.get(0),
        Type::INT4 => row.get::<_, Option<i32>>(0).map(i64::from),
        Type::INT2 => row.get::<_, Option<i16>>(0).map(i64::from),
        other => return Err(bad(format!("returns {}; {SHAPE}", other.name()))),
    };
    let (expected, expected_text) = expected_count(invariant, seeded, traffic).map_err(bad)?;
    Ok(InvariantOutcome {
        name: invariant.name.clone(),
        sql: invariant.sql.clone(),
        expected: expected_text,
        actual: actual.map_or("NULL".into(), |actual| actual.to_string()),
        held: actual == Some(expected),
        builtin: false,
    })
}

/// The count an invariant expects, and how it is made up (`1042 = seeded 1000 +
/// inserted 42`; a plain number alone); what is wrong with its `expect` otherwise.
fn expected_count(
    invariant: &Invariant,
    seeded: &[TableFacts],
    traffic: &[TrafficStream],
) -> std::result::Result<(i64, String), String> {
    let terms = invariant
        .expect
        .clone()
        .unwrap_or_else(|| vec![CountTerm::Number(0)]);
    let mut expected = 0i64;
    let mut parts = Vec::new();
    for term in &terms {
        let (value, words) = match term {
            CountTerm::Number(number) => (*number, number.to_string()),
            CountTerm::Seeded(table) => {
                let rows = seeded
                    .iter()
                    .find(|facts| same_relation(&facts.name, table))
                    .map_or(0, |facts| facts.rows as i64);
                (rows, format!("seeded {rows}"))
            }
            CountTerm::Inserted(table) => {
                let rows = inserted(table, traffic)?;
                (rows as i64, format!("inserted {rows}"))
            }
        };
        expected += value;
        parts.push(words);
    }
    let text = match parts.len() {
        1 if matches!(terms[0], CountTerm::Number(_)) => expected.to_string(),
        _ => format!("{expected} = {}", parts.join(" + ")),
    };
    Ok((expected, text))
}

/// The rows the traffic's acknowledged INSERTs reported writing into `table`. Only
/// INSERT streams count: an UPDATE's or DELETE's rows are not new ones.
fn inserted(table: &str, traffic: &[TrafficStream]) -> std::result::Result<u64, String> {
    let inserting: Vec<&TrafficStream> = traffic
        .iter()
        .filter(|stream| {
            is_insert(&stream.sql)
                && stream
                    .table
                    .as_deref()
                    .is_some_and(|written| same_relation(written, table))
        })
        .collect();
    if inserting.is_empty() {
        return Err(format!(
            "`expect` counts inserted({table}), but no traffic stream inserts into {table}"
        ));
    }
    Ok(inserting
        .iter()
        .map(|stream| stream.rows_acknowledged)
        .sum())
}

/// Whether a traffic statement is an INSERT (its first word, comments aside).
fn is_insert(sql: &str) -> bool {
    analyze::summary(sql)
        .split_whitespace()
        .next()
        .is_some_and(|word| word.eq_ignore_ascii_case("insert"))
}
