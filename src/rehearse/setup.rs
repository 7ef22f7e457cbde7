//! What a run's traffic needs before its clock starts, and the check after its
//! warm-up: each pick's rows (parameters are drawn from them), every stream with its
//! parameters bound, the statements that run from the start checked on the
//! pre-migration schema, and after the warm-up, no failure yet and every stream at
//! its rate.

use tokio_postgres::Client;

use super::analyze::{self, StreamInfo};
use super::steps::{Step, written_table};
use super::traffic::{Binding, Pools, Stream, Traffic};
use crate::error::{Error, Result, ServerError};
use crate::input::rehearsal::{RehearsalSpec, RehearsedMigration};
use std::time::Duration;

use crate::capture;
use crate::input::{Param, Pick, PickSource, Scenario};
use crate::value::Value;

/// The most rows a pick gives traffic to draw its parameters from.
pub const POOL_ROWS: i64 = 10_000;

/// Each pick's rows (up to [`POOL_ROWS`]) and column names, its parameters bound to
/// the target row and to earlier picks' first rows. A pick that is not its own SQL (a
/// generated row, an absent value) gives its one row.
pub(super) async fn pools(
    client: &Client,
    scenario: &Scenario,
    target: &[Value],
    generated: &[Option<Vec<Value>>],
) -> Result<(Pools, Vec<Vec<String>>)> {
    let mut pools = Pools::default();
    let mut names: Vec<Vec<String>> = Vec::new();
    let single = match scenario
        .picks
        .iter()
        .all(|pick| matches!(pick.source, PickSource::Sql { .. }))
    {
        true => Vec::new(),
        false => capture::picks(client, scenario, (target, &[]), generated, Duration::ZERO).await?,
    };
    for (index, pick) in scenario.picks.iter().enumerate() {
        let (columns, rows) = match &pick.source {
            PickSource::Sql { sql, params } => {
                pool(
                    client,
                    scenario,
                    (pick, sql, params),
                    target,
                    (&pools, &names),
                )
                .await?
            }
            _ => {
                let (columns, values) = single[index].clone();
                (columns, vec![values])
            }
        };
        names.push(columns);
        pools.rows.push(rows);
    }
    Ok((pools, names))
}

/// The rows (up to [`POOL_ROWS`]) an SQL pick gives, with its column names.
async fn pool(
    client: &Client,
    scenario: &Scenario,
    (pick, sql, params): (&Pick, &str, &[Param]),
    target: &[Value],
    (pools, names): (&Pools, &[Vec<String>]),
) -> Result<(Vec<String>, Vec<Vec<Value>>)> {
    let key = format!("key `pick \"{}\"`", pick.name);
    let values: Vec<Value> = params
        .iter()
        .map(|param| bound_value(param, target, pools, names))
        .collect::<std::result::Result<_, String>>()
        .map_err(|message| Error::input(&scenario.path, format!("{key}: {message}")))?;
    let params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = values
        .iter()
        .map(|value| value as &(dyn tokio_postgres::types::ToSql + Sync))
        .collect();
    let sql = format!(
        "SELECT * FROM ({}) AS pick LIMIT {POOL_ROWS}",
        sql.trim_end().trim_end_matches(';')
    );
    let rows = client.query(&sql, &params).await.map_err(|error| {
        Error::input(
            &scenario.path,
            format!(
                "{key}: the server rejects its SQL on the pre-migration schema: {}",
                ServerError(&error)
            ),
        )
    })?;
    let Some(first) = rows.first() else {
        return Err(Error::input(
            &scenario.path,
            format!(
                "{key}: its SQL returned no row on the seeded pre-migration data; traffic draws its parameters from a pick's rows"
            ),
        ));
    };
    let columns = first
        .columns()
        .iter()
        .map(|column| column.name().to_owned())
        .collect();
    let values = rows
        .iter()
        .map(|row| {
            (0..row.len())
                .map(|index| row.try_get::<_, Value>(index))
                .collect::<std::result::Result<Vec<_>, _>>()
        })
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|error| Error::input(&scenario.path, format!("{key}: {error}")))?;
    Ok((columns, values))
}

fn bound_value(
    param: &Param,
    target: &[Value],
    pools: &Pools,
    names: &[Vec<String>],
) -> std::result::Result<Value, String> {
    match param {
        Param::Target(column, _) => Ok(target.get(*column).cloned().unwrap_or(Value::Null)),
        Param::Literal(value) => Ok(value.clone()),
        Param::Variant(_) => Err("a rehearsal has no variants".into()),
        Param::Pick(pick, column) => {
            let index = pick_column(&names[*pick], column)?;
            Ok(pools.rows[*pick][0][index].clone())
        }
    }
}

fn pick_column(names: &[String], column: &str) -> std::result::Result<usize, String> {
    names.iter().position(|name| name == column).ok_or_else(|| {
        format!(
            "the pick returns no column {column:?}; it returns {}",
            names.join(", ")
        )
    })
}

/// The traffic of `spec` as it runs against `migration`.
pub(super) fn streams(
    scenario: &Scenario,
    spec: &RehearsalSpec,
    migration: &RehearsedMigration,
    steps: &[Step],
    target: &[Value],
    columns: &[Vec<String>],
) -> Result<Vec<Stream>> {
    spec.traffic
        .iter()
        .map(|traffic| {
            let params = traffic
                .params
                .iter()
                .map(|param| match param {
                    Param::Pick(pick, column) => {
                        pick_column(&columns[*pick], column).map(|column| Binding::Drawn {
                            pick: *pick,
                            column,
                        })
                    }
                    other => {
                        bound_value(other, target, &Pools::default(), columns).map(Binding::Fixed)
                    }
                })
                .collect::<std::result::Result<Vec<_>, String>>()
                .map_err(|message| {
                    Error::input(
                        &scenario.path,
                        format!(
                            "key `rehearsal.traffic \"{}\".params`: {message}",
                            traffic.name
                        ),
                    )
                })?;
            let after_steps = spec.start_step(traffic, migration).unwrap_or(0);
            debug_assert!(after_steps <= steps.len());
            Ok(Stream {
                name: traffic.name.clone(),
                sql: traffic.sql.trim_end().trim_end_matches(';').to_owned(),
                rate: traffic.rate,
                connections: traffic.connections,
                prepared: traffic.prepared,
                params,
                after_steps,
            })
        })
        .collect()
}

/// Every statement that runs from the start must be valid on the pre-migration schema.
pub(super) async fn check_on_schema_before(
    client: &Client,
    spec: &RehearsalSpec,
    streams: &[Stream],
) -> Result<()> {
    for (traffic, stream) in spec.traffic.iter().zip(streams) {
        if stream.after_steps > 0 {
            continue;
        }
        let statement = client.prepare(&stream.sql).await.map_err(|error| {
            traffic.error(format!(
                "traffic {:?} fails on the pre-migration schema, before the migration starts: {}; if it needs the migration, give it start_after = \"<text of the step it needs>\"",
                traffic.name,
                ServerError(&error)
            ))
        })?;
        if statement.params().len() != stream.params.len() {
            return Err(traffic.error(format!(
                "traffic {:?} takes {} parameter(s) and its params give {}",
                traffic.name,
                statement.params().len(),
                stream.params.len()
            )));
        }
    }
    Ok(())
}

/// After the warm-up: no traffic may have failed yet, since nothing has changed; a
/// statement that fails on the untouched database is bad input.
pub(super) fn check_warm_up(traffic: &Traffic, spec: &RehearsalSpec) -> Result<()> {
    let executions = traffic.executions();
    let Some(failed) = executions
        .iter()
        .find(|execution| execution.error.is_some())
    else {
        return Ok(());
    };
    let declared = &spec.traffic[failed.stream];
    Err(declared.error(format!(
        "traffic {:?} failed during the warm-up, before the migration started: {}",
        declared.name,
        failed.error.as_deref().unwrap_or_default()
    )))
}

/// After the warm-up, each stream that ran well below its rate (by a fifth or more,
/// over at least ten executions due) while nothing else changed: what its
/// connections managed is a measurement, so it is said beside the figures, never
/// refused. The steps then ran under lighter traffic than declared.
pub(super) fn rate_warnings(
    traffic: &Traffic,
    spec: &RehearsalSpec,
    streams: &[Stream],
) -> Vec<String> {
    let executions = traffic.executions();
    let seconds = spec.warm_up.as_secs_f64();
    streams
        .iter()
        .enumerate()
        .filter_map(|(index, stream)| {
            let done = executions
                .iter()
                .filter(|execution| execution.stream == index)
                .count() as f64;
            let expected = stream.rate * seconds;
            (stream.after_steps == 0 && expected >= 10.0 && done < 0.8 * expected).then(|| {
                format!(
                    "traffic {:?} ran {:.1} of the {} executions per second asked during the {} warm-up, before anything changed: its {} connection(s) could not keep up, so the steps ran under lighter traffic than declared; add connections or lower the rate",
                    stream.name,
                    done / seconds,
                    stream.rate,
                    crate::progress::duration(spec.warm_up),
                    stream.connections,
                )
            })
        })
        .collect()
}

/// The streams as the analysis names them: each with the summary of the step it
/// starts after and the table it writes.
pub(super) fn stream_infos(
    spec: &RehearsalSpec,
    streams: &[Stream],
    steps: &[Step],
) -> Vec<StreamInfo> {
    spec.traffic
        .iter()
        .zip(streams)
        .map(|(traffic, stream)| StreamInfo {
            name: traffic.name.clone(),
            sql: stream.sql.clone(),
            rate: traffic.rate,
            connections: traffic.connections,
            started_after: (stream.after_steps > 0)
                .then(|| analyze::summary(&steps[stream.after_steps - 1].sql)),
            table: written_table(&traffic.sql),
        })
        .collect()
}
