//! How big a dataset will be once seeded, before it is seeded: the disk guard's
//! figures. There are two, a cheap bound and a measured estimate, because the
//! measurement costs a second seed and most runs are nowhere near the limit.
//!
//! The bound ([`super::upper_bound`]) needs no server work beyond reading the
//! catalog: the dataset is generated in memory at the sample scale, its rows are
//! encoded as binary COPY for their widths, and headers, alignment, index entries and
//! fill factors are added generously. The disk guard takes it when it leaves plenty of
//! room, and seeds the sample below only when it does not.
//!
//! The measurement. The dataset is generated at the sample scale with the real
//! generators and loaded with the real load (binary COPY with the catalog's types,
//! indexes and keys rebuilt after, VACUUM) into a scratch database of its own, with
//! the scenario's settings pinned as on the real one. What PostgreSQL then holds is
//! measured relation by relation (heap, TOAST and each index, main forks) and scaled
//! by each table's expected rows at the requested scale over its sample rows
//! ([`layout::expected_rows`], which computes counts without laying anything out).
//! Measuring instead of modelling tuple headers, alignment, NULL bitmaps, `jsonb`'s
//! on-disk form, TOAST, partial and expression indexes and b-tree fill keeps the
//! estimate honest for any schema: whatever PostgreSQL does to the sample it does to
//! the full dataset, row for row.
//!
//! What does not scale with rows is kept out of the ratio: each relation's partly
//! filled last page (half a page), and each index's metapage. The visibility and free
//! space maps add a few pages per table. The estimate is of the dataset's tables and
//! indexes, which is what `pg_table_size` plus `pg_indexes_size` report after the
//! seed; an empty database's catalogs (about 7.5 MiB) are counted apart.
//!
//! What seeding needs on top (see [`SizeEstimate::required_bytes`]): index builds sort
//! their keys, on disk past `maintenance_work_mem`, as many at once as there are
//! build connections, so room for the largest indexes that many; and a 10% margin for
//! what the model leaves out (rows whose width changes with the scale, such as
//! sequence numbers in text, and per-parent counts drawn around their mean). WAL is
//! not counted: the throwaway servers run with `wal_level = minimal`, which writes no
//! WAL for a table truncated and filled in one transaction, nor for its index builds.
//!
//! The sample scale is chosen from the expected rows of every table, not the scale
//! table's alone, so a small parent with large children is not sampled whole; and
//! nothing is laid out at more than [`SAMPLE_ROWS_CEILING`] rows, so no memory in
//! proportion to the requested scale is taken before the guard has passed.

use crate::progress::Progress;
use tokio_postgres::Client;
use tokio_postgres::types::Type;

use crate::datagen::{Datagen, DatasetModel, LayoutError, layout};
use crate::error::{Error, Result};
use crate::input::Dataset;
use crate::outcome::EstimateMethod;

use super::quoted;

/// PostgreSQL's page size.
pub const PAGE: f64 = 8192.0;

/// Rows, over every table, the sample is generated with when the run asks for more.
pub const SAMPLE_ROWS: f64 = 10_000.0;

/// The most rows, over every table, a sample is laid out with when the model's fixed
/// counts need more than [`SAMPLE_ROWS`]: a bound on the guard's own memory that does
/// not grow with the requested scale.
pub const SAMPLE_ROWS_CEILING: f64 = 1_000_000.0;

/// Bytes every heap row takes whatever its columns: the tuple header (23 bytes,
/// aligned to 24) and its line pointer (4 bytes). A lower bound of the estimate that
/// needs no sample, so an absurd scale is refused before anything is generated.
pub const MIN_ROW_BYTES: f64 = 28.0;

/// The guard's margin over the estimate, for what the model leaves out.
pub const MARGIN: f64 = 0.10;

/// The estimated size of one seeded table.
#[derive(Debug, Clone, PartialEq)]
pub struct TableEstimate {
    pub name: String,
    /// Expected rows at the requested scale.
    pub rows: f64,
    /// Heap, TOAST and maps, as `pg_table_size` counts them.
    pub table_bytes: f64,
    /// Every index of the table, as `pg_indexes_size` counts them.
    pub index_bytes: f64,
    /// The largest of those indexes.
    pub largest_index_bytes: f64,
}

impl TableEstimate {
    /// A table of `rows` rows whose heap (with TOAST and maps) takes `table_bytes`
    /// and whose indexes take `indexes` each.
    pub fn new(name: &str, rows: f64, table_bytes: f64, indexes: &[f64]) -> TableEstimate {
        TableEstimate {
            name: name.to_owned(),
            rows,
            table_bytes,
            index_bytes: indexes.iter().sum(),
            largest_index_bytes: indexes.iter().copied().fold(0.0, f64::max),
        }
    }
}

/// The estimated size of a dataset at one scale.
#[derive(Debug, Clone, PartialEq)]
pub struct SizeEstimate {
    pub scale: u64,
    /// The scale the sample was generated (and, for [`EstimateMethod::Sample`],
    /// seeded) at.
    pub sample_scale: u64,
    pub method: EstimateMethod,
    pub tables: Vec<TableEstimate>,
}

impl SizeEstimate {
    /// The seeded tables and their indexes.
    pub fn data_bytes(&self) -> f64 {
        self.tables
            .iter()
            .map(|table| table.table_bytes + table.index_bytes)
            .sum()
    }

    /// Room seeding needs at its peak: the data, the sort files of `lanes` index
    /// builds at once (the largest indexes, to be safe), and the margin.
    pub fn required_bytes(&self, lanes: usize) -> f64 {
        let mut indexes: Vec<f64> = self
            .tables
            .iter()
            .map(|table| table.largest_index_bytes)
            .collect();
        indexes.sort_by(|a, b| b.total_cmp(a));
        let sorting: f64 = indexes.iter().take(lanes.max(1)).sum();
        (self.data_bytes() + sorting) * (1.0 + MARGIN)
    }
}

/// The least a dataset of `expected` rows (per table) can take: every row at
/// [`MIN_ROW_BYTES`], without columns or indexes. Needs no sample, so it can refuse a
/// scale before anything is generated.
pub fn lower_bound_bytes(expected: &[f64]) -> f64 {
    expected.iter().sum::<f64>() * MIN_ROW_BYTES
}

/// What one relation of the sample measured, in bytes of its main fork.
#[derive(Debug, Clone, PartialEq)]
pub struct TableSample {
    pub name: String,
    pub rows: u64,
    pub heap_bytes: f64,
    pub toast_bytes: f64,
    /// Each index, its TOAST index excluded (counted in `toast_bytes`).
    pub index_bytes: Vec<f64>,
}

/// The scale to sample at: the requested one, or the largest whose expected rows
/// over every table are within [`SAMPLE_ROWS`]. A model whose fixed counts need more
/// rows than that is sampled at a scale with four times the rows, and so on up to the
/// requested scale or [`SAMPLE_ROWS_CEILING`] rows. A layout that fails at the
/// requested scale is the dataset's error, reported before anything is seeded, as the
/// real seed would.
pub fn sample_scale(dataset: &Dataset, scale: u64, seed: u64) -> Result<u64> {
    let model = &dataset.model;
    let mut rows = SAMPLE_ROWS;
    loop {
        let candidate = scale_within(model, scale, rows);
        let error = match Datagen::new(model, candidate, seed, Vec::new()) {
            Ok(_) => return Ok(candidate),
            Err(error) => error,
        };
        if candidate == scale || rows >= SAMPLE_ROWS_CEILING {
            return Err(layout_error(dataset, &error, candidate, scale));
        }
        rows = (rows * 4.0).min(SAMPLE_ROWS_CEILING);
    }
}

/// The largest scale up to `scale` whose expected rows over every table are within
/// `rows` (at least 1). Expected rows grow with the scale, so a bisection finds it
/// without laying anything out.
fn scale_within(model: &DatasetModel, scale: u64, rows: f64) -> u64 {
    let total = |scale: u64| layout::expected_rows(model, scale).iter().sum::<f64>();
    if total(scale) <= rows {
        return scale;
    }
    let (mut fits, mut over) = (1u64, scale);
    while over - fits > 1 {
        let middle = fits + (over - fits) / 2;
        if total(middle) <= rows {
            fits = middle;
        } else {
            over = middle;
        }
    }
    fits
}

/// A layout error met while sampling, as the dataset's error. At a scale below the
/// requested one it says that the guard samples no larger.
pub(super) fn layout_error(dataset: &Dataset, error: &LayoutError, at: u64, scale: u64) -> Error {
    let limit = if at < scale {
        format!(
            "; the disk guard lays out samples of at most {} rows and cannot estimate this dataset's size",
            crate::format::format_count(SAMPLE_ROWS_CEILING)
        )
    } else {
        String::new()
    };
    Error::input(
        &dataset.path,
        format!(
            "table {}: {} (at --scale {at}){limit}",
            error.table, error.message
        ),
    )
}

/// Loads `dataset` at `sample_scale` into the empty schema `clients` are connected
/// to (every table, with the real load) and measures each table. The database is
/// the caller's to drop.
pub async fn measure_sample(
    clients: &mut [Client],
    dataset: &Dataset,
    types: &[Vec<(String, Type)>],
    sample_scale: u64,
    seed: u64,
) -> Result<Vec<TableSample>> {
    let datagen = Datagen::new(&dataset.model, sample_scale, seed, Vec::new())
        .map_err(|error| layout_error(dataset, &error, sample_scale, sample_scale))?;
    let (facts, _, _) = super::load(clients, dataset, types, datagen, Progress::Silent).await?;
    let mut samples = Vec::with_capacity(facts.len());
    for table in facts {
        let row = clients[0]
            .query_one(
                "SELECT pg_relation_size(c.oid, 'main')::float8, \
                        (coalesce(pg_relation_size(nullif(c.reltoastrelid, 0)), 0) \
                         + coalesce((SELECT sum(pg_relation_size(t.indexrelid)) FROM pg_index t \
                                     WHERE t.indrelid = nullif(c.reltoastrelid, 0)), 0))::float8, \
                        ARRAY(SELECT pg_relation_size(i.indexrelid)::float8 FROM pg_index i \
                              WHERE i.indrelid = c.oid ORDER BY i.indexrelid) \
                 FROM pg_class c WHERE c.oid = $1::text::regclass",
                &[&quoted(&table.name)],
            )
            .await
            .map_err(Error::database(format!(
                "measuring the sample of {}",
                table.name
            )))?;
        samples.push(TableSample {
            name: table.name,
            rows: table.rows,
            heap_bytes: row.get(0),
            toast_bytes: row.get(1),
            index_bytes: row.get(2),
        });
    }
    Ok(samples)
}

/// Scales each table's sample to its `expected` rows (per table, in order).
pub fn extrapolate(
    samples: &[TableSample],
    expected: &[f64],
    scale: u64,
    sample_scale: u64,
) -> SizeEstimate {
    let tables = samples
        .iter()
        .zip(expected)
        .map(|(sample, rows)| {
            let ratio = if sample.rows == 0 {
                // A table the sample left empty (declared without rows) stays empty.
                1.0
            } else {
                rows / sample.rows as f64
            };
            let heap = scaled(sample.heap_bytes, 0.5, ratio);
            let toast = scaled(sample.toast_bytes, 0.5, ratio);
            let indexes: Vec<f64> = sample
                .index_bytes
                .iter()
                .map(|bytes| scaled(*bytes, 1.5, ratio))
                .collect();
            TableEstimate::new(
                &sample.name,
                *rows,
                heap + toast + maps_bytes(heap),
                &indexes,
            )
        })
        .collect();
    SizeEstimate {
        scale,
        sample_scale,
        method: EstimateMethod::Sample,
        tables,
    }
}

/// A relation of `bytes` in the sample, at `ratio` times its rows: `fixed_pages` do
/// not grow with rows (a metapage, the half-empty last page), the rest does.
fn scaled(bytes: f64, fixed_pages: f64, ratio: f64) -> f64 {
    if bytes == 0.0 {
        return 0.0;
    }
    let fixed = (fixed_pages * PAGE).min(bytes);
    fixed + (bytes - fixed) * ratio
}

/// The free space map (three levels, at least three pages) and visibility map (a
/// page per 32,672 heap pages) that VACUUM writes for a heap of `heap` bytes.
pub fn maps_bytes(heap: f64) -> f64 {
    if heap == 0.0 {
        return 0.0;
    }
    let pages = heap / PAGE;
    (3.0 + pages / 4000.0).ceil() * PAGE + (1.0 + pages / 32_672.0).ceil() * PAGE
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(rows: u64, heap: f64, indexes: Vec<f64>) -> TableSample {
        TableSample {
            name: "t".into(),
            rows,
            heap_bytes: heap,
            toast_bytes: 0.0,
            index_bytes: indexes,
        }
    }

    #[test]
    fn fixed_pages_do_not_scale() {
        // 100 heap pages and a 20-page index, sampled at 1,000 rows, at 100,000 rows.
        let estimate = extrapolate(
            &[sample(1000, 100.0 * PAGE, vec![20.0 * PAGE])],
            &[100_000.0],
            100_000,
            1000,
        );
        let table = &estimate.tables[0];
        assert_eq!(table.index_bytes, 1.5 * PAGE + 18.5 * PAGE * 100.0);
        let heap = 0.5 * PAGE + 99.5 * PAGE * 100.0;
        assert!(table.table_bytes > heap && table.table_bytes < heap * 1.01);
        // The same rows as the sample: the sample itself, maps aside.
        let same = extrapolate(
            &[sample(1000, 100.0 * PAGE, vec![20.0 * PAGE])],
            &[1000.0],
            1,
            1,
        );
        assert_eq!(same.tables[0].index_bytes, 20.0 * PAGE);
    }

    #[test]
    fn required_room_adds_the_largest_sorts_and_the_margin() {
        let estimate = extrapolate(
            &[
                sample(10, 10.0 * PAGE, vec![4.0 * PAGE, 2.0 * PAGE]),
                sample(10, 10.0 * PAGE, vec![3.0 * PAGE]),
            ],
            &[10.0, 10.0],
            1,
            1,
        );
        let data = estimate.data_bytes();
        assert_eq!(estimate.required_bytes(1), (data + 4.0 * PAGE) * 1.1);
        assert_eq!(estimate.required_bytes(2), (data + 7.0 * PAGE) * 1.1);
    }
}
