//! Binary COPY of generated rows.

use bytes::{BufMut, BytesMut};
use futures_util::pin_mut;
use tokio_postgres::Client;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{IsNull, ToSql, Type, to_sql_checked};

use crate::error::{Error, Result};

/// A row that can be sent with binary COPY: its values in the order of the column
/// list given to [`copy_rows`]. A row may offer more values than the list names; the
/// extra trailing ones are not sent (used for columns a pre-migration schema lacks).
pub trait CopyRow {
    fn values(&self) -> Vec<&(dyn ToSql + Sync)>;
}

/// A JSON document already serialised as text, sent as `jsonb` without parsing it
/// into a `serde_json::Value` and printing it again for every row.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonbText(pub String);

impl ToSql for JsonbText {
    fn to_sql(
        &self,
        _: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        // jsonb's binary format: a version byte (1), then the JSON text.
        out.put_u8(1);
        out.extend_from_slice(self.0.as_bytes());
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::JSONB
    }

    to_sql_checked!();
}

/// Truncates `table` and fills it from `rows` with binary COPY, in one transaction
/// (which lets a `wal_level = minimal` server skip WAL for the new data). Calls
/// `on_progress` with the running count every 8,192 rows. Returns the rows sent.
pub async fn copy_rows<R: CopyRow>(
    client: &mut Client,
    table: &str,
    columns: &[(&str, Type)],
    rows: impl Iterator<Item = R>,
    mut on_progress: impl FnMut(u64),
) -> Result<u64> {
    let during = |what: &str| Error::database(format!("{what} {table}"));
    let transaction = client.transaction().await.map_err(during("loading"))?;
    transaction
        .batch_execute(&format!("TRUNCATE {table}"))
        .await
        .map_err(during("truncating"))?;
    let names: Vec<&str> = columns.iter().map(|(name, _)| *name).collect();
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
    for row in rows {
        let values = row.values();
        writer
            .as_mut()
            .write(&values[..columns.len()])
            .await
            .map_err(during("copying rows into"))?;
        sent += 1;
        if sent.is_multiple_of(8192) {
            on_progress(sent);
        }
    }
    writer
        .finish()
        .await
        .map_err(during("finishing COPY into"))?;
    on_progress(sent);
    transaction
        .commit()
        .await
        .map_err(during("committing the load of"))?;
    Ok(sent)
}
