//! The migration's side of a run: its steps, one at a time on a session of their
//! own, as psql runs a file (each statement in autocommit, the migration's own
//! `BEGIN` … `COMMIT` as steps like the others), each under its time budget, with
//! the rows it wrote and, for `SET NOT NULL`, whether a CHECK constraint spared the
//! scan. plancheck's own queries around a step run on another session.

use std::time::{Duration, Instant};

use tokio_postgres::{Client, SimpleQueryMessage};

use super::LockMode;
use super::analyze::StepRun;
use super::steps::{self, StaticLocks, Step};
use crate::error::{Error, Result, ServerError};

/// The session that runs the steps and the one that looks at the catalog and the
/// counters around them: a migration may open a transaction block of its own
/// (`BEGIN;` is a step like any other), and nothing of plancheck's must run inside it.
pub struct Sessions<'a> {
    pub stepper: &'a Client,
    pub observer: &'a Client,
    pub server_major: u32,
}

/// Runs one step on the migration's session, as psql would: one statement in
/// autocommit, under `budget`. A statement the server refuses is the step's error,
/// not this function's: only a server that went away or ran out of something is.
pub async fn run_step(
    sessions: &Sessions<'_>,
    step: &Step,
    budget: Duration,
    clock: Instant,
) -> Result<StepRun> {
    let Sessions {
        stepper, observer, ..
    } = *sessions;
    stepper
        .batch_execute(&format!(
            "SET statement_timeout = {}",
            budget.as_millis().max(1)
        ))
        .await
        .map_err(Error::database("setting the step's time budget"))?;
    let not_null_proof = not_null_proof(observer, &step.sql).await?;
    let written_before = rows_written(observer).await?;
    let start = clock.elapsed();
    let result = stepper.simple_query(&step.sql).await;
    let end = clock.elapsed();
    // Only the statement timeout plancheck set cancels a step (SQLSTATE 57014).
    let timed_out = result.as_ref().err().and_then(tokio_postgres::Error::code)
        == Some(&tokio_postgres::error::SqlState::QUERY_CANCELED);
    let sqlstate = result
        .as_ref()
        .err()
        .and_then(tokio_postgres::Error::code)
        .map(|code| code.code().to_owned());
    let (rows, error) = match result {
        Ok(messages) => (
            rows_of(sessions, step, &messages, written_before).await?,
            None,
        ),
        Err(error) if is_the_steps_fault(&error) => (None, Some(ServerError(&error).to_string())),
        Err(error) => {
            return Err(Error::database(format!(
                "running step at line {}",
                step.line
            ))(error));
        }
    };
    // After a failure the run stops, and inside a failed transaction block of the
    // migration's own the server would refuse the RESET.
    if error.is_none() {
        stepper
            .batch_execute("RESET statement_timeout")
            .await
            .map_err(Error::database("resetting the step's time budget"))?;
    }
    Ok(StepRun {
        step: step.clone(),
        start,
        end,
        rows,
        error,
        sqlstate,
        timed_out,
        not_null_proof,
    })
}

/// Whether a server error is what the step's SQL did wrong; a server that went away
/// or ran out of something (classes 53, 57P, 58) is not the migration's fault.
fn is_the_steps_fault(error: &tokio_postgres::Error) -> bool {
    error.as_db_error().is_some()
        && !error.code().is_some_and(|code| {
            let code = code.code();
            code.starts_with("53") || code.starts_with("57P") || code.starts_with("58")
        })
}

/// The rows a step that succeeded wrote: its command tags' counts for a DML
/// statement, else what its tables' write counters moved by; `None` when neither
/// says.
async fn rows_of(
    sessions: &Sessions<'_>,
    step: &Step,
    messages: &[SimpleQueryMessage],
    written_before: u64,
) -> Result<Option<u64>> {
    let rows: u64 = messages
        .iter()
        .filter_map(|message| match message {
            SimpleQueryMessage::CommandComplete(rows) => Some(*rows),
            _ => None,
        })
        .sum();
    let writes = matches!(&step.locks, StaticLocks::Known(locks) if locks.iter().any(|lock| lock.mode == LockMode::RowExclusive));
    if writes || rows > 0 {
        return Ok(Some(rows));
    }
    // A DO block or a procedure reports no rows: its tables' counters do. The step's
    // session flushes its counters on request from 15 on (before, within half a
    // second of going idle).
    if sessions.server_major >= 15 {
        let _ = sessions
            .stepper
            .batch_execute("SELECT pg_stat_force_next_flush()")
            .await;
    }
    let written = rows_written(sessions.observer)
        .await?
        .saturating_sub(written_before);
    Ok((written > 0).then_some(written))
}

/// The server's major version.
pub async fn server_major(client: &Client) -> Result<u32> {
    let number: i32 = client
        .query_one("SELECT current_setting('server_version_num')::int", &[])
        .await
        .map_err(Error::database("reading the server version"))?
        .get(0);
    Ok((number / 10_000) as u32)
}

/// Rows updated or deleted in the database's tables so far, by the server's counters,
/// with this session's own counts flushed first (PostgreSQL 15 and later flush on
/// request; before, a backend flushes at most twice a second, so a short step's rows
/// may be missed). Traffic that only inserts adds nothing to them.
async fn rows_written(client: &Client) -> Result<u64> {
    let _ = client
        .batch_execute("SELECT pg_stat_force_next_flush()")
        .await;
    let rows: i64 = client
        .query_one(
            "SELECT coalesce(sum(n_tup_upd + n_tup_del), 0)::bigint FROM pg_stat_user_tables",
            &[],
        )
        .await
        .map_err(Error::database("reading the tables' write counters"))?
        .get(0);
    Ok(rows.max(0) as u64)
}

/// For `ALTER TABLE t ALTER [COLUMN] c SET NOT NULL`: the validated CHECK constraint
/// on `t` whose expression is `c IS NOT NULL`, which lets the server skip the scan
/// (PostgreSQL 12 and later); `Some(None)` when there is none.
async fn not_null_proof(client: &Client, sql: &str) -> Result<Option<Option<String>>> {
    let Some((table, columns)) = steps::set_not_null(sql) else {
        return Ok(None);
    };
    let mut proofs = Vec::new();
    for column in &columns {
        let row = client
            .query_opt(
                "SELECT conname::text FROM pg_constraint \
                 WHERE conrelid = to_regclass($1) AND contype = 'c' AND convalidated \
                   AND regexp_replace(pg_get_constraintdef(oid), '[()\\s\"]', '', 'g') ILIKE 'CHECK' || $2 || 'ISNOTNULL' \
                 LIMIT 1",
                &[&crate::load::quoted(&table), column],
            )
            .await
            .map_err(Error::database("looking for a CHECK constraint that proves NOT NULL"))?;
        match row {
            Some(row) => proofs.push(row.get::<_, String>(0)),
            // One column without a proof is enough for the scan.
            None => return Ok(Some(None)),
        }
    }
    Ok(Some(Some(proofs.join(", "))))
}
