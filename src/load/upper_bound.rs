//! The most a dataset can take once seeded, without seeding anything: the disk
//! guard's cheap figure, so that a run nowhere near the limit does not pay for a
//! second seed.
//!
//! The dataset is generated in memory at the sample scale with the real generators,
//! and each generated column's mean width is what the binary COPY encoder makes of its
//! values (the value plus a 4-byte length, which is at least the 1- or 4-byte header
//! PostgreSQL stores a variable-width value with). Columns the dataset does not
//! generate (defaults, identities) take their type's fixed width, or a generous guess
//! when variable. From the catalog come every column, each index's key columns and
//! each fill factor. A heap row is then its 28 bytes of header and line pointer, a
//! NULL bitmap, and each column with room to align it; an index entry is 16 bytes of
//! header and line pointer plus its key columns (an expression key at the width of
//! the whole row), in pages filled to the index's fill factor. What is not modelled,
//! and is why the figure is multiplied by [`GENEROSITY`]: `jsonb`'s on-disk form (also
//! multiplied by [`JSONB_EXPANSION`]), GIN and GiST entries (by
//! [`OTHER_INDEX_EXPANSION`]), rows wider at the full scale than in the sample, page
//! ends a row does not fit in. Compression and deduplication only make data smaller,
//! so they are left out.
//!
//! The result is 2.4 to 2.8 times what seeding takes on the test datasets (it is
//! checked to be at least that and at most 3.5 times it): good enough to say that
//! a run fits easily, never to say that it does not (the guard seeds a sample for
//! that).

use bytes::BytesMut;
use tokio_postgres::Client;
use tokio_postgres::types::Type;

use crate::datagen::Datagen;
use crate::error::{Error, Result};
use crate::input::Dataset;
use crate::outcome::EstimateMethod;

use super::estimate::{self, MIN_ROW_BYTES, PAGE, SizeEstimate, TableEstimate};
use super::{copy, quoted};

/// The factor over the modelled size, for what the model leaves out.
pub const GENEROSITY: f64 = 1.5;

/// Room per column for the padding that aligns it (up to 7 bytes before an 8-byte
/// value, of which the COPY length's 4 bytes already cover part).
const ALIGNMENT_SLACK: f64 = 4.0;

/// A variable-width column the dataset does not generate (a default): its width is
/// not known before seeding, so a generous guess.
const UNGENERATED_VARLENA_BYTES: f64 = 64.0;

/// `jsonb` on disk over its text in COPY: a 4-byte entry per key and value, numbers
/// as `numeric`. Small objects of numbers come close to three times their text.
const JSONB_EXPANSION: f64 = 3.0;

/// An index entry's header (8 bytes) and line pointer (4), aligned.
const INDEX_ENTRY_BYTES: f64 = 16.0;

/// GIN, GiST, hash and other non-b-tree indexes over a b-tree entry of the same
/// keys: GIN keeps an entry per element (per key of a `jsonb`, per trigram).
const OTHER_INDEX_EXPANSION: f64 = 4.0;

/// One column of a table, as the catalog has it.
#[derive(Debug, Clone)]
struct ColumnShape {
    name: String,
    /// The type's width when fixed (`attlen`).
    fixed_bytes: Option<f64>,
    jsonb: bool,
}

/// One index of a table, as the catalog has it.
#[derive(Debug, Clone)]
struct IndexShape {
    btree: bool,
    /// Share of each page filled at build (b-tree default 90%).
    fill: f64,
    /// Key and included columns; `None` for an expression.
    columns: Vec<Option<String>>,
}

/// One table as the catalog describes it, before any row is in it.
#[derive(Debug, Clone)]
pub struct TableShape {
    name: String,
    columns: Vec<ColumnShape>,
    /// Share of each heap page filled by the load (`fillfactor`, default 100%).
    fill: f64,
    indexes: Vec<IndexShape>,
}

/// The size bound of `dataset` at `scale` (whose `expected` rows per table the
/// caller has), from rows generated in memory at `sample_scale` and the catalog of
/// the database `client` is connected to, where the schema is built and still empty.
pub async fn estimate(
    client: &Client,
    dataset: &Dataset,
    types: &[Vec<(String, Type)>],
    expected: &[f64],
    scale: u64,
    sample_scale: u64,
    seed: u64,
) -> Result<SizeEstimate> {
    let shapes = table_shapes(client, dataset).await?;
    let widths = generated_widths(dataset, types, sample_scale, seed)?;
    Ok(bound(
        &shapes,
        types,
        &widths,
        expected,
        scale,
        sample_scale,
    ))
}

/// Each table's columns, fill factor and indexes, from the catalog.
async fn table_shapes(client: &Client, dataset: &Dataset) -> Result<Vec<TableShape>> {
    let mut shapes = Vec::with_capacity(dataset.model.tables.len());
    for table in &dataset.model.tables {
        let name = quoted(&table.name);
        let during = || Error::database(format!("reading the definition of {}", table.name));
        let columns = client
            .query(
                "SELECT a.attname::text, a.attlen::int4, a.atttypid = 'jsonb'::regtype \
                 FROM pg_attribute a WHERE a.attrelid = $1::text::regclass \
                 AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
                &[&name],
            )
            .await
            .map_err(during())?
            .iter()
            .map(|row| ColumnShape {
                name: row.get(0),
                fixed_bytes: Some(row.get::<_, i32>(1))
                    .filter(|len| *len > 0)
                    .map(f64::from),
                jsonb: row.get(2),
            })
            .collect();
        let fill: f64 = client
            .query_one(
                "SELECT coalesce((SELECT option_value::float8 FROM pg_options_to_table(c.reloptions) \
                                  WHERE option_name = 'fillfactor'), 100) \
                 FROM pg_class c WHERE c.oid = $1::text::regclass",
                &[&name],
            )
            .await
            .map_err(during())?
            .get(0);
        let indexes = client
            .query(
                "SELECT am.amname = 'btree', \
                        coalesce((SELECT option_value::float8 FROM pg_options_to_table(c.reloptions) \
                                  WHERE option_name = 'fillfactor'), 90), \
                        ARRAY(SELECT a.attname::text FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, n) \
                              LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum \
                              ORDER BY k.n) \
                 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am am ON am.oid = c.relam \
                 WHERE i.indrelid = $1::text::regclass",
                &[&name],
            )
            .await
            .map_err(during())?
            .iter()
            .map(|row| IndexShape {
                btree: row.get(0),
                fill: row.get::<_, f64>(1) / 100.0,
                columns: row.get(2),
            })
            .collect();
        shapes.push(TableShape {
            name: table.name.clone(),
            columns,
            fill: fill / 100.0,
            indexes,
        });
    }
    Ok(shapes)
}

/// The mean binary COPY width of each generated column of each table (length word
/// included), over the dataset generated in memory at `sample_scale`. Nothing is
/// sent anywhere; a value its column's type cannot take is the dataset's error, as
/// in the load.
pub fn generated_widths(
    dataset: &Dataset,
    types: &[Vec<(String, Type)>],
    sample_scale: u64,
    seed: u64,
) -> Result<Vec<Vec<f64>>> {
    let mut datagen = Datagen::new(&dataset.model, sample_scale, seed, Vec::new())
        .map_err(|error| estimate::layout_error(dataset, &error, sample_scale, sample_scale))?;
    let mut buffer = BytesMut::new();
    let mut widths = Vec::with_capacity(types.len());
    for (index, columns) in types.iter().enumerate() {
        let table = &dataset.model.tables[index].name;
        let mut sums = vec![0.0; columns.len()];
        let mut rows = 0u64;
        for row in datagen
            .stream(index)
            .map(|row| dataset.written_row(index, row))
        {
            for ((value, (name, ty)), sum) in row.iter().zip(columns).zip(&mut sums) {
                buffer.clear();
                copy::encode_field(&mut buffer, value, ty).map_err(|cause| {
                    Error::input(&dataset.path, copy::unfit_value(table, name, &cause))
                })?;
                *sum += buffer.len() as f64;
            }
            rows += 1;
        }
        widths.push(sums.iter().map(|sum| sum / rows.max(1) as f64).collect());
    }
    Ok(widths)
}

/// The bound itself, from the catalog's `shapes`, the generated columns' `types` and
/// mean `widths`, and each table's `expected` rows at `scale`.
fn bound(
    shapes: &[TableShape],
    types: &[Vec<(String, Type)>],
    widths: &[Vec<f64>],
    expected: &[f64],
    scale: u64,
    sample_scale: u64,
) -> SizeEstimate {
    let tables = shapes
        .iter()
        .zip(types.iter().zip(widths))
        .zip(expected)
        .map(|((shape, (generated, widths)), rows)| {
            let column_bytes: Vec<f64> = shape
                .columns
                .iter()
                .map(|column| column_bytes(column, generated, widths))
                .collect();
            let row_data: f64 = column_bytes.iter().sum();
            let header = MIN_ROW_BYTES + (shape.columns.len() as f64 / 8.0).ceil();
            let heap = rows * (header + row_data) / shape.fill * GENEROSITY + PAGE;
            let indexes: Vec<f64> = shape
                .indexes
                .iter()
                .map(|index| {
                    let keys: f64 = index
                        .columns
                        .iter()
                        .map(|key| match key {
                            Some(name) => shape
                                .columns
                                .iter()
                                .position(|column| &column.name == name)
                                .map_or(row_data, |at| column_bytes[at]),
                            None => row_data,
                        })
                        .sum();
                    let kind = if index.btree {
                        1.0
                    } else {
                        OTHER_INDEX_EXPANSION
                    };
                    rows * (INDEX_ENTRY_BYTES + keys) * kind / index.fill * GENEROSITY + 2.0 * PAGE
                })
                .collect();
            TableEstimate::new(
                &shape.name,
                *rows,
                heap + estimate::maps_bytes(heap),
                &indexes,
            )
        })
        .collect();
    SizeEstimate {
        scale,
        sample_scale,
        method: EstimateMethod::UpperBound,
        tables,
    }
}

/// What one column of a heap row takes at most: its generated width or its type's,
/// and room to align it.
fn column_bytes(column: &ColumnShape, generated: &[(String, Type)], widths: &[f64]) -> f64 {
    let width = match generated.iter().position(|(name, _)| *name == column.name) {
        Some(at) => widths[at],
        None => column.fixed_bytes.unwrap_or(UNGENERATED_VARLENA_BYTES),
    };
    let expansion = if column.jsonb { JSONB_EXPANSION } else { 1.0 };
    width * expansion + ALIGNMENT_SLACK
}
