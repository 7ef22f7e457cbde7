//! Stage 3: build the schema. Applies the dataset's SQL fixtures in order, one
//! statement at a time in autocommit mode, exactly as `psql -f` would. A statement the
//! server rejects is reported as `file:line: message`, with the line of the offending
//! token when the server gives a position.

use std::path::Path;

use tokio_postgres::Client;

use crate::error::{Error, Result, ServerError};
use crate::input::Fixture;

/// Applies each fixture in order, then puts the session's settings back as they were
/// before them. A fixture runs as `psql -f` runs it, and what it sets ends with it as
/// psql's session would (pg_dump's schema empties `search_path`): the queries after it
/// run with the session's own settings, as they do on a new session when the data
/// comes from the cache.
pub async fn apply(client: &Client, fixtures: &[Fixture]) -> Result<()> {
    let before = session_settings(client).await?;
    for fixture in fixtures {
        apply_fixture(client, fixture).await?;
    }
    restore_settings(client, &before).await
}

/// The settings this session set for itself (`SET`), with their values.
async fn session_settings(client: &Client) -> Result<Vec<(String, String)>> {
    let rows = client
        .query(
            "SELECT name, setting FROM pg_settings WHERE source = 'session'",
            &[],
        )
        .await
        .map_err(Error::database("reading the session's settings"))?;
    Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
}

/// Resets every setting to the session's start and sets `settings` again.
async fn restore_settings(client: &Client, settings: &[(String, String)]) -> Result<()> {
    const DURING: &str = "restoring the session's settings after the fixtures";
    client
        .batch_execute("RESET ALL")
        .await
        .map_err(Error::database(DURING))?;
    for (name, value) in settings {
        client
            .execute("SELECT set_config($1, $2, false)", &[name, value])
            .await
            .map_err(Error::database(DURING))?;
    }
    Ok(())
}

/// Applies a scenario's migration to the seeded database, then analyses every table,
/// so that the queries after it are planned on fresh statistics (an index built by the
/// migration, a column it filled).
pub async fn migrate(client: &Client, fixtures: &[Fixture]) -> Result<()> {
    apply(client, fixtures).await?;
    client
        .batch_execute("ANALYZE")
        .await
        .map_err(Error::database("analyzing after the migration"))
}

/// Applies one fixture, statement by statement.
pub async fn apply_fixture(client: &Client, fixture: &Fixture) -> Result<()> {
    for statement in crate::input::statements::split(&fixture.sql) {
        if let Err(error) = client.batch_execute(&statement.sql).await {
            return Err(sql_error(
                &fixture.path,
                &statement.sql,
                statement.line,
                error,
            ));
        }
    }
    Ok(())
}

/// Turns a server error in a statement read from `file` (starting at 1-based `line`)
/// into a `file:line` input error. A dropped connection (or a server shutting down)
/// is not the file's fault and stays an infrastructure error, one that says the server
/// was lost.
pub fn sql_error(file: &Path, sql: &str, line: usize, error: tokio_postgres::Error) -> Error {
    let position = match error.as_db_error() {
        Some(db_error) if !db_error.code().code().starts_with("57P") => db_error.position(),
        _ => return Error::database(format!("running {}", file.display()))(error),
    };
    let line = match position {
        Some(tokio_postgres::error::ErrorPosition::Original(position)) => {
            let offset = (*position as usize).saturating_sub(1);
            let prefix = sql.get(..offset.min(sql.len())).unwrap_or("");
            line + prefix.matches('\n').count()
        }
        _ => line,
    };
    Error::FixtureSql {
        file: file.to_owned(),
        line,
        message: ServerError(&error).to_string(),
    }
}
