//! From production to a dataset file: `plancheck dataset from-stats` reads a live
//! server's statistics and catalog (never a row of a table, though `pg_stats` lists
//! rows' values) for the tables named, fits a generator to every column and writes a
//! commented dataset file that says which of production's values it holds. A path
//! beside the run's pipeline, not a stage of it: `stats` reads, `fit` decides (pure),
//! `render` writes.

pub mod fit;
pub mod render;
pub mod stats;

use tokio_postgres::Client;

pub use fit::FitOptions;

use crate::error::{Error, Result};

/// The dataset file fitted to the statistics of `tables` on `client`'s database.
/// `command` is quoted in the file's first line. Also returns what keeps the file
/// from loading as written (a NOT NULL column no generator fits), which the file
/// lists too. Says on stderr which columns' copied values look like people's.
pub async fn from_stats(
    client: &Client,
    tables: &[String],
    options: &FitOptions,
    command: &str,
) -> Result<(String, Vec<String>)> {
    let facts = stats::read(client, tables).await?;
    let fitted = fit::fit(&facts, options).map_err(Error::Usage)?;
    if !fitted.personal.is_empty() {
        crate::say!(
            "warning: the file holds values that look personal, copied from pg_stats as production has them: {}; --anonymize replaces them",
            fitted.personal.join(", ")
        );
    }
    Ok((render::render(&fitted, command), fitted.warnings.clone()))
}
