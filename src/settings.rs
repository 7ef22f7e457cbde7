//! Planner settings. Plans depend on them as much as on the data, so plancheck pins the
//! ones that most often differ between machines and records every non-default setting
//! in each report. They are set on the scratch database (`ALTER DATABASE … SET`), which
//! works on every backend, including a server plancheck did not start.

pub use crate::outcome::Setting;
use tokio_postgres::Client;

use crate::error::{Error, Result};

/// Settings pinned for every scenario; a scenario's `[settings]` can override them.
pub const PINNED: [(&str, &str); 7] = [
    // JIT compiles plans over a cost threshold: it changes timings, not plans, but by
    // tens of milliseconds, which swamps the queries under test.
    ("jit", "off"),
    // Parallel plans depend on the core count of the machine, which differs between a
    // laptop, CI and production.
    ("max_parallel_workers_per_gather", "0"),
    ("work_mem", "4MB"),
    ("random_page_cost", "1.1"),
    ("effective_cache_size", "4GB"),
    // A prepared statement switches to a generic plan after five runs; the timing loop
    // must time the plan EXPLAIN showed, which is the custom plan.
    ("plan_cache_mode", "force_custom_plan"),
    ("track_io_timing", "on"),
];

/// Pins `PINNED` plus the scenario's own settings on database `name`. A setting the
/// server rejects names the scenario file and key. A pinned setting the role may not
/// set (`track_io_timing` needs a superuser or a grant) is skipped: the returned notes
/// say which, and the grant that would enable it.
pub async fn pin(
    client: &Client,
    database: &str,
    scenario_settings: &[(String, String)],
    scenario_file: &std::path::Path,
) -> Result<Vec<String>> {
    let mut notes = Vec::new();
    for (name, value) in PINNED {
        if scenario_settings
            .iter()
            .any(|(overridden, _)| overridden == name)
        {
            continue;
        }
        match set(client, database, name, value).await {
            Ok(()) => {}
            Err(error)
                if error.code()
                    == Some(&tokio_postgres::error::SqlState::INSUFFICIENT_PRIVILEGE) =>
            {
                notes.push(format!(
                    "{name} = {value} was not pinned: this role may not set it (grant it with `GRANT SET ON PARAMETER {name} TO <role>` on PostgreSQL 15+, or run as a superuser)"
                ));
            }
            Err(error) => return Err(Error::database(format!("pinning {name} = {value}"))(error)),
        }
    }
    for (name, value) in scenario_settings {
        set(client, database, name, value).await.map_err(|error| {
            Error::input(
                scenario_file,
                format!(
                    "key `settings.{name}`: the server rejects {value:?}: {}",
                    crate::error::ServerError(&error)
                ),
            )
        })?;
    }
    Ok(notes)
}

async fn set(
    client: &Client,
    database: &str,
    name: &str,
    value: &str,
) -> Result<(), tokio_postgres::Error> {
    let literal = value.replace('\'', "''");
    client
        .batch_execute(&format!(
            "ALTER DATABASE {database} SET {name} = '{literal}'"
        ))
        .await
}

/// Every setting of the current session that is not at its built-in default, sorted
/// by name: what a reader needs to reproduce a plan.
pub async fn non_default(client: &Client) -> Result<Vec<Setting>> {
    let rows = client
        .query(
            "SELECT name, current_setting(name), source FROM pg_settings \
             WHERE source NOT IN ('default', 'override', 'client') \
               AND name NOT IN ('application_name', 'data_directory', 'config_file', \
                                'hba_file', 'ident_file', 'unix_socket_directories') \
             ORDER BY name",
            &[],
        )
        .await
        .map_err(Error::database("reading server settings"))?;
    Ok(rows
        .iter()
        .map(|row| Setting {
            name: row.get(0),
            value: row.get(1),
            source: row.get(2),
        })
        .collect())
}
