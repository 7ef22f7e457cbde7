//! Binary COPY of generated rows, with the column types the catalog gives.

use futures_util::pin_mut;
use tokio_postgres::Client;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{ToSql, Type};

use crate::datagen::value::Value;
use crate::error::{Error, Result};

/// Truncates `table` and fills it with binary COPY from the batches `rows` receives
/// until an empty batch, in one transaction (which lets a `wal_level = minimal`
/// server skip WAL for the new data). Calls `on_progress` with the running count after
/// each batch. Returns the rows sent. A value that cannot be written as its column's
/// type is an input error naming `table.column`.
pub async fn copy_batches(
    client: &mut Client,
    table: &str,
    columns: &[(String, Type)],
    rows: &mut tokio::sync::mpsc::Receiver<Vec<Vec<Value>>>,
    dataset: &std::path::Path,
    mut on_progress: impl FnMut(u64),
) -> Result<u64> {
    let during = |what: &str| Error::database(format!("{what} {table}"));
    let transaction = client.transaction().await.map_err(during("loading"))?;
    transaction
        .batch_execute(&format!("TRUNCATE {table}"))
        .await
        .map_err(during("truncating"))?;
    let names: Vec<&str> = columns.iter().map(|(name, _)| name.as_str()).collect();
    let types: Vec<Type> = columns.iter().map(|(_, ty)| ty.clone()).collect();
    let statement = format!(
        "COPY {table} ({}) FROM STDIN (FORMAT binary)",
        names.join(", ")
    );
    let sink = transaction
        .copy_in(&statement)
        .await
        .map_err(during("starting COPY into"))?;
    let writer = BinaryCopyInWriter::new(sink, &types);
    pin_mut!(writer);
    let mut sent = 0u64;
    while let Some(batch) = rows.recv().await {
        if batch.is_empty() {
            break;
        }
        for row in &batch {
            let values: Vec<&(dyn ToSql + Sync)> = row
                .iter()
                .map(|value| value as &(dyn ToSql + Sync))
                .collect();
            if let Err(error) = writer.as_mut().write(&values).await {
                return Err(value_error(dataset, table, columns, row, error));
            }
        }
        sent += batch.len() as u64;
        on_progress(sent);
    }
    writer
        .finish()
        .await
        .map_err(|error| copy_error(dataset, table, error))?;
    on_progress(sent);
    transaction
        .commit()
        .await
        .map_err(|error| copy_error(dataset, table, error))?;
    Ok(sent)
}

/// A write that failed on the client: find the value that does not fit.
fn value_error(
    dataset: &std::path::Path,
    table: &str,
    columns: &[(String, Type)],
    row: &[Value],
    error: tokio_postgres::Error,
) -> Error {
    if error.as_db_error().is_some() || error.is_closed() {
        return copy_error(dataset, table, error);
    }
    let mut scratch = bytes::BytesMut::new();
    for ((name, ty), value) in columns.iter().zip(row) {
        if let Err(cause) = value.to_sql(ty, &mut scratch) {
            return Error::input(
                dataset,
                format!("column {table}.{name}: {cause}; change its generator so its values fit"),
            );
        }
    }
    Error::database(format!("copying rows into {table}"))(error)
}

/// A server error during COPY: a data or constraint error names the table and column
/// (from the error's context line) and is the dataset's fault.
fn copy_error(dataset: &std::path::Path, table: &str, error: tokio_postgres::Error) -> Error {
    let Some(db) = error.as_db_error() else {
        return Error::database(format!("copying rows into {table}"))(error);
    };
    let class = &db.code().code()[..2];
    if class != "22" && class != "23" {
        return Error::database(format!("copying rows into {table}"))(error);
    }
    let column = db.column().map(str::to_owned).or_else(|| {
        db.where_()
            .and_then(|context| context.split("column ").nth(1))
            .map(|rest| rest.split(':').next().unwrap_or(rest).trim().to_owned())
    });
    let place = match column {
        Some(column) => format!("column {table}.{column}"),
        None => format!("table {table}"),
    };
    Error::input(
        dataset,
        format!(
            "{place}: the server rejects the generated rows: {}",
            crate::error::ServerError(&error)
        ),
    )
}
