//! Binary COPY of generated rows. Rows are encoded in PostgreSQL's binary COPY format
//! on the generator's thread ([`encode_table`]), with the column types the catalog
//! gives, so the task talking to the server only forwards finished chunks
//! ([`copy_chunks`]): generation, encoding and the server's ingest overlap.

use bytes::{BufMut, Bytes, BytesMut};
use futures_util::SinkExt;
use tokio_postgres::Client;
use tokio_postgres::types::{IsNull, ToSql, Type};

use crate::error::{Error, Result};
use crate::value::Value;

/// Bytes per chunk handed from the generator thread to the loader.
const CHUNK_BYTES: usize = 256 * 1024;

/// What the generator thread sends for a table.
pub enum Chunk {
    /// Encoded rows, and how many.
    Data(Bytes, u64),
    /// Every row of the table has been sent.
    End,
    /// A value could not be written as its column's type: the message names the
    /// column.
    Failed(String),
}

/// Encodes `rows` of `table` into binary COPY chunks and hands each to `send`; stops
/// early (returning false) when `send` does.
pub fn encode_table(
    table: &str,
    columns: &[(String, Type)],
    rows: impl Iterator<Item = Vec<Value>>,
    mut send: impl FnMut(Chunk) -> bool,
) -> bool {
    let mut buffer = BytesMut::with_capacity(CHUNK_BYTES + 4096);
    // The signature, flags and header extension length.
    buffer.put_slice(b"PGCOPY\n\xff\r\n\0");
    buffer.put_i32(0);
    buffer.put_i32(0);
    let mut rows_in_chunk = 0u64;
    for row in rows {
        buffer.put_i16(row.len() as i16);
        for (value, (name, ty)) in row.iter().zip(columns) {
            if let Err(cause) = encode_field(&mut buffer, value, ty) {
                // The load stops here: the rest of the table is never asked for.
                send(Chunk::Failed(unfit_value(table, name, &cause)));
                return false;
            }
        }
        rows_in_chunk += 1;
        if buffer.len() >= CHUNK_BYTES {
            if !send(Chunk::Data(buffer.split().freeze(), rows_in_chunk)) {
                return false;
            }
            rows_in_chunk = 0;
        }
    }
    buffer.put_i16(-1);
    send(Chunk::Data(buffer.freeze(), rows_in_chunk)) && send(Chunk::End)
}

/// Appends one field of a binary COPY row: its length (-1 for NULL) and `value` as
/// type `ty`. The disk guard uses it too, to learn how wide generated rows are.
pub fn encode_field(
    buffer: &mut BytesMut,
    value: &Value,
    ty: &Type,
) -> std::result::Result<(), Box<dyn std::error::Error + Sync + Send>> {
    let length_at = buffer.len();
    buffer.put_i32(0);
    match value.to_sql(ty, buffer)? {
        IsNull::Yes => {
            buffer.truncate(length_at);
            buffer.put_i32(-1);
        }
        IsNull::No => {
            let length = (buffer.len() - length_at - 4) as i32;
            buffer[length_at..length_at + 4].copy_from_slice(&length.to_be_bytes());
        }
    }
    Ok(())
}

/// The message for a generated value its column's type cannot take.
pub fn unfit_value(table: &str, column: &str, cause: &dyn std::fmt::Display) -> String {
    format!("column {table}.{column}: {cause}; change its generator so its values fit")
}

/// Truncates `table` and fills it with binary COPY from the chunks `chunks`
/// receives until [`Chunk::End`], in one transaction (which lets a
/// `wal_level = minimal` server skip WAL for the new data). Calls `on_progress` with
/// the running row count. Returns the rows sent. Values that do not fit their column,
/// and rows the server rejects (a CHECK, a NOT NULL), are input errors naming
/// `table.column`.
///
/// A plain table is written frozen (`COPY … FREEZE`, which the truncation in the same
/// transaction allows): its pages go out all-visible and all-frozen with their hint
/// bits set, so the index builds that read it next dirty no page, and the VACUUM
/// after the load finds nothing to do but the statistics. What the planner sees is
/// the same as after a VACUUM of unfrozen rows: every page all-visible.
pub async fn copy_chunks(
    client: &mut Client,
    table: &str,
    columns: &[(String, Type)],
    chunks: &mut tokio::sync::mpsc::Receiver<Chunk>,
    dataset: &std::path::Path,
    mut on_progress: impl FnMut(u64),
) -> Result<u64> {
    let during = |what: &str| Error::database(format!("{what} {table}"));
    // Asked before the transaction: COPY FREEZE refuses to run after a query of the
    // same transaction has left a portal or a snapshot behind. Partitioned and foreign
    // tables cannot be frozen by COPY.
    let plain: bool = client
        .query_one(
            "SELECT relkind = 'r' FROM pg_class WHERE oid = to_regclass($1)",
            &[&super::quoted(table)],
        )
        .await
        .map_err(during("reading the kind of"))?
        .get::<_, Option<bool>>(0)
        .unwrap_or(false);
    let transaction = client.transaction().await.map_err(during("loading"))?;
    transaction
        .batch_execute(&format!("TRUNCATE {}", super::quoted(table)))
        .await
        .map_err(during("truncating"))?;
    let names: Vec<String> = columns
        .iter()
        .map(|(name, _)| super::quoted(name))
        .collect();
    let statement = format!(
        "COPY {} ({}) FROM STDIN (FORMAT binary{})",
        super::quoted(table),
        names.join(", "),
        if plain { ", FREEZE" } else { "" }
    );
    let sink = transaction
        .copy_in::<_, Bytes>(&statement)
        .await
        .map_err(during("starting COPY into"))?;
    futures_util::pin_mut!(sink);
    let mut sent = 0u64;
    loop {
        match chunks.recv().await {
            Some(Chunk::Data(bytes, rows)) => {
                sink.send(bytes)
                    .await
                    .map_err(|error| copy_error(dataset, table, error))?;
                sent += rows;
                on_progress(sent);
            }
            Some(Chunk::End) => break,
            Some(Chunk::Failed(message)) => return Err(Error::input(dataset, message)),
            None => {
                return Err(Error::Infrastructure(format!(
                    "the data generator stopped before finishing {table}"
                )));
            }
        }
    }
    sink.as_mut()
        .finish()
        .await
        .map_err(|error| copy_error(dataset, table, error))?;
    transaction
        .commit()
        .await
        .map_err(|error| copy_error(dataset, table, error))?;
    Ok(sent)
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
