//! Stage 5: load. Streams the generator's rows into the scratch database with binary
//! COPY, table by table, with the column types read from the catalog (never from the
//! dataset file). Indexes, keys, foreign keys and triggers are detached first and
//! rebuilt after, then every table is vacuumed and analysed, so the planner sees
//! settled statistics and a set visibility map, as on a production table. Plain
//! tables are written frozen ([`copy::copy_chunks`]), so that VACUUM finds its work
//! done and only the statistics cost time.
//!
//! The load is bound by the server's CPU, not by generation: one backend ingests a
//! table (at a million rows of the workflow-runs dataset, 4.2 s of its CPU against
//! 2.5 s of the generator's, a third of it parsing jsonb), and the index builds are
//! sorts on every core the server has. A table is written by one COPY, in the order
//! `datagen::order` gives, since rows from several connections would interleave
//! their pages and change the physical correlation the planner reads.

pub mod copy;
pub mod detach;
pub mod estimate;
pub mod upper_bound;

use std::path::Path;

use tokio_postgres::Client;
use tokio_postgres::types::Type;

use crate::datagen::Datagen;
use crate::error::{Error, Result};
use crate::input::Dataset;
use crate::outcome::{Phase, TableFacts};
use crate::progress::Progress;

/// A table or column name as SQL needs it: each dot-separated part double-quoted, so
/// mixed-case and reserved names work (`app.Users` becomes `"app"."Users"`).
pub fn quoted(name: &str) -> String {
    name.split('.')
        .map(|part| format!("\"{}\"", part.replace('"', "\"\"")))
        .collect::<Vec<_>>()
        .join(".")
}

/// Each table's generated columns with their catalog types, checked against what
/// the generators produce. Run on the empty schema, before anything is generated.
pub async fn column_types(client: &Client, dataset: &Dataset) -> Result<Vec<Vec<(String, Type)>>> {
    let mut types = Vec::new();
    for index in 0..dataset.model.tables.len() {
        types.push(table_column_types(client, dataset, index).await?);
    }
    for (table, column, kind, key) in &dataset.generated_kinds {
        let Some(written) = dataset
            .written_columns(*table)
            .iter()
            .position(|written| written == column)
        else {
            continue;
        };
        let (name, ty) = &types[*table][written];
        if !crate::pg_wire::fits(*kind, ty) {
            return Err(Error::input(
                &dataset.path,
                format!(
                    "{key}: column {}.{name} is {}, but its generator gives {}; choose a generator whose values fit",
                    dataset.model.tables[*table].name,
                    ty.name(),
                    kind.name()
                ),
            ));
        }
    }
    Ok(types)
}

/// One table's generated columns and their types; every generated column must exist,
/// and every NOT NULL column without a default must be generated.
async fn table_column_types(
    client: &Client,
    dataset: &Dataset,
    index: usize,
) -> Result<Vec<(String, Type)>> {
    let table = &dataset.model.tables[index];
    let written = dataset.written_columns(index);
    let rows = client
        .query(
            "SELECT a.attname::text, a.attnotnull, a.atthasdef OR a.attidentity <> '' OR a.attgenerated <> '' \
             FROM pg_attribute a WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped \
             ORDER BY a.attnum",
            &[&quoted(&table.name)],
        )
        .await
        .map_err(Error::database(format!("reading the columns of {}", table.name)))?;
    let fail = |message: String| Error::input(&dataset.path, message);
    if rows.is_empty() {
        return Err(fail(format!(
            "table {:?} is not in the schema the fixtures build ({})",
            table.name,
            fixture_list(dataset)
        )));
    }
    let existing: Vec<String> = rows.iter().map(|row| row.get(0)).collect();
    if let Some(column) = (0..table.columns.len())
        .filter(|column| !written.contains(column))
        .map(|column| &table.columns[column].name)
        .find(|name| existing.contains(name))
    {
        return Err(fail(format!(
            "column {}.{column} is left out (leave_out) but is already in the schema the fixtures build ({}): leave_out names the columns the migration adds, so the pre-migration schema must not have it",
            table.name,
            fixture_list(dataset)
        )));
    }
    if let Some(column) = table
        .signature
        .columns
        .iter()
        .enumerate()
        .position(|(column, (name, _))| written.contains(&column) && !existing.contains(name))
    {
        let name = &table.signature.columns[column].0;
        let declared = dataset
            .generated_kinds
            .iter()
            .find(|(t, c, _, _)| dataset.model.tables[*t].name == table.name && *c == column)
            .map_or(String::new(), |(.., at)| format!("{at}: "));
        return Err(fail(format!(
            "{declared}column {}.{name} is not in the schema; the table has {}",
            table.name,
            existing.join(", ")
        )));
    }
    for row in &rows {
        let (name, not_null, has_default): (String, bool, bool) =
            (row.get(0), row.get(1), row.get(2));
        if not_null && !has_default && table.signature.column(&name).is_none() {
            return Err(fail(format!(
                "column {}.{name} is NOT NULL without a default, and the dataset generates no value for it; add it to the table's columns",
                table.name
            )));
        }
    }
    let names: Vec<&str> = written
        .iter()
        .map(|column| table.columns[*column].name.as_str())
        .collect();
    let selected: Vec<String> = names.iter().map(|name| quoted(name)).collect();
    let statement = client
        .prepare(&format!(
            "SELECT {} FROM {} LIMIT 0",
            selected.join(", "),
            quoted(&table.name)
        ))
        .await
        .map_err(Error::database(format!(
            "reading the column types of {}",
            table.name
        )))?;
    Ok(names
        .iter()
        .zip(statement.columns())
        .map(|(name, column)| ((*name).to_owned(), column.type_().clone()))
        .collect())
}

fn fixture_list(dataset: &Dataset) -> String {
    dataset
        .schema
        .iter()
        .map(|fixture| fixture.path.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Generates (on a thread of its own) and loads every table, then rebuilds indexes and constraints (using
/// every client given) and runs VACUUM (ANALYZE). Returns each table's facts and the
/// phases it went through.
pub async fn load(
    clients: &mut [Client],
    dataset: &Dataset,
    types: &[Vec<(String, Type)>],
    datagen: Datagen,
    progress: Progress,
) -> Result<(Vec<TableFacts>, Vec<Phase>, Datagen)> {
    let mut phases = Vec::new();
    let names: Vec<&str> = dataset
        .model
        .tables
        .iter()
        .map(|table| table.name.as_str())
        .collect();
    let quoted_names: Vec<String> = names.iter().map(|name| quoted(name)).collect();
    let phase = progress.phase("seed: detach indexes");
    let mut detached = detach::detach(&clients[0], &quoted_names).await?;
    phases.push(phase.finish());

    let phase = progress.phase("seed: copy rows");
    let (rows, datagen) = copy_all(clients, dataset, types, datagen, progress).await?;
    phases.push(phase.finish());
    let phase = progress.phase("seed: build indexes");
    detached
        .restore_indexes(clients)
        .await
        .map_err(|error| constraint_error(dataset, error))?;
    phases.push(phase.finish());
    let phase = progress.phase("seed: validate foreign keys");
    detached
        .restore_constraints(&clients[0])
        .await
        .map_err(|error| constraint_error(dataset, error))?;
    phases.push(phase.finish());
    let phase = progress.phase("seed: vacuum analyze");
    for table in &names {
        clients[0]
            .batch_execute(&format!("VACUUM (ANALYZE) {}", quoted(table)))
            .await
            .map_err(Error::database(format!("vacuum analyze of {table}")))?;
    }
    phases.push(phase.finish());

    let mut facts = Vec::new();
    for (table, rows) in names.iter().zip(rows) {
        let sizes = clients[0]
            .query_one(
                "SELECT pg_table_size($1::text::regclass), pg_indexes_size($1::text::regclass)",
                &[&quoted(table)],
            )
            .await
            .map_err(Error::database(format!("reading the size of {table}")))?;
        facts.push(TableFacts {
            name: (*table).to_owned(),
            rows,
            table_bytes: sizes.get(0),
            index_bytes: sizes.get(1),
        });
    }
    Ok((facts, phases, datagen))
}

/// Streams every table into the server. Rows are generated and encoded on a thread of
/// their own while this task hands the previous chunk to the server, so generation
/// and the server's ingest overlap. Returns the rows per table and the generator
/// (which holds the captured rows).
async fn copy_all(
    clients: &mut [Client],
    dataset: &Dataset,
    types: &[Vec<(String, Type)>],
    mut datagen: Datagen,
    progress: Progress,
) -> Result<(Vec<u64>, Datagen)> {
    let counts: Vec<u64> = (0..dataset.model.tables.len())
        .map(|index| datagen.rows_of(index))
        .collect();
    let (sender, mut receiver) = tokio::sync::mpsc::channel::<copy::Chunk>(4);
    let thread_types = types.to_vec();
    let thread_dataset = dataset.clone();
    let names: Vec<String> = dataset
        .model
        .tables
        .iter()
        .map(|table| table.name.clone())
        .collect();
    let generator = tokio::task::spawn_blocking(move || {
        for (index, table) in names.iter().enumerate() {
            let rows = datagen
                .stream(index)
                .map(|row| thread_dataset.written_row(index, row));
            if !copy::encode_table(table, &thread_types[index], rows, |chunk| {
                sender.blocking_send(chunk).is_ok()
            }) {
                break;
            }
        }
        datagen
    });
    let mut rows = Vec::new();
    let mut failure = None;
    for (index, table) in dataset.model.tables.iter().enumerate() {
        let mut shown = progress.rows(&table.name, counts[index]);
        let loaded = copy::copy_chunks(
            &mut clients[0],
            &table.name,
            &types[index],
            &mut receiver,
            &dataset.path,
            |sent| shown.set(sent),
        )
        .await;
        match loaded {
            Ok(count) => {
                shown.finish(count);
                rows.push(count);
            }
            Err(error) => {
                failure = Some(error);
                break;
            }
        }
    }
    // Closing the channel stops a generator that is still sending.
    drop(receiver);
    let datagen = generator
        .await
        .map_err(|error| Error::Infrastructure(format!("the data generator failed: {error}")))?;
    match failure {
        Some(error) => Err(error),
        None => Ok((rows, datagen)),
    }
}

/// A foreign key or unique key the generated rows break is the dataset's fault: name
/// it and what to change.
fn constraint_error(dataset: &Dataset, error: Error) -> Error {
    match &error {
        Error::Database {
            error: inner,
            during,
        } if inner
            .code()
            .is_some_and(|code| code.code().starts_with("23")) =>
        {
            Error::input(
                &dataset.path,
                format!(
                    "{during}: the generated rows break a constraint: {}; check the references and unique columns of {}",
                    crate::error::ServerError(inner),
                    Path::new(&dataset.path).display()
                ),
            )
        }
        _ => error,
    }
}
