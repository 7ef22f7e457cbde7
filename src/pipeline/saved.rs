//! `plancheck judge`: plans saved elsewhere judged with a scenario's checks, without
//! seeding anything. The catalog facts the checks read come from a file (exported
//! from production with `plancheck catalog-sql`) or from the scenario's schema
//! fixtures (and its migration, for a query run after it) applied to an empty scratch
//! database.

use std::path::Path;

use crate::capture;
use crate::error::{Error, Result};
use crate::input::saved_plan::{self, SavedPlan};
use crate::input::{Scenario, file};
use crate::judge::Check;
use crate::judge::saved::{SavedQuery, judge_plan};
use crate::outcome::SchemaState;
use crate::outcome::saved::Judgement;
use crate::plan::Catalog;
use crate::provision::{ProvisionOptions, Server};
use crate::schema;

/// Where the catalog facts come from.
pub enum CatalogSource<'a> {
    /// A `catalog.json` (a report's, or `plancheck catalog-sql`'s output).
    File(&'a Path),
    /// The scenario's schema on an empty database of a server started for it.
    Schema(ProvisionOptions),
}

/// Reads every plan file first (bad input fails before a server starts), then the
/// catalog, then judges.
pub async fn judge_files(
    scenario: &Scenario,
    query: &str,
    files: &[std::path::PathBuf],
    catalog: CatalogSource<'_>,
) -> Result<Judgement> {
    let declared = scenario.query(query).ok_or_else(|| {
        let names: Vec<&str> = scenario.queries.iter().map(|q| q.name.as_str()).collect();
        Error::Usage(format!(
            "--query {query}: scenario {} declares no query {query:?}; declared: {}",
            scenario.name,
            names.join(", ")
        ))
    })?;
    let checks: Vec<&dyn Check> = scenario
        .checks
        .iter()
        .map(|entry| entry.check.as_ref())
        .filter(|check| check.queries() == [query])
        .collect();
    let plans = read_plans(files).await?;
    let (catalog, catalog_from) = match catalog {
        CatalogSource::File(path) => (read_catalog(path)?, path.display().to_string()),
        CatalogSource::Schema(options) => (
            schema_catalog(scenario, declared.state, &options).await?,
            format!(
                "the scenario's schema ({} state) on an empty database",
                declared.state.word()
            ),
        ),
    };
    let saved = SavedQuery {
        name: query,
        state: declared.state,
        baselines: scenario.baselines(),
    };
    Ok(Judgement {
        scenario: scenario.name.clone(),
        query: query.to_owned(),
        catalog_from,
        plans: plans
            .iter()
            .map(|plan| {
                judge_plan(
                    &checks,
                    &saved,
                    &catalog,
                    (&plan.source, &plan.text, &plan.plan),
                )
            })
            .collect(),
    })
}

/// Every plan in `files`, in order; `-` (standard input) may be given once.
async fn read_plans(files: &[std::path::PathBuf]) -> Result<Vec<SavedPlan>> {
    if files.iter().filter(|file| file.as_os_str() == "-").count() > 1 {
        return Err(Error::Usage(
            "`-` (standard input) is given more than once; it can be read once".into(),
        ));
    }
    let mut plans = Vec::new();
    for file in files {
        plans.extend(saved_plan::read(file).await?);
    }
    Ok(plans)
}

/// What a catalog file is read as: index definitions of a schema, not rows.
const CATALOG_FILE: file::Kind = file::Kind {
    what: "a catalog file",
    limit: file::TEXT_LIMIT,
    stdin: false,
};

fn read_catalog(path: &Path) -> Result<Catalog> {
    let text = file::read_text(path, &CATALOG_FILE)?;
    serde_json::from_str(&text).map_err(|error| {
        Error::input(
            path,
            format!(
                "is not a catalog file ({}); expected catalog.json from a report, or the output of `psql -At -f` on what `plancheck catalog-sql` prints",
                file::json_error(&error)
            ),
        )
    })
}

/// The index facts of the scenario's schema (after its migration, for a query run
/// after it), on an empty scratch database of a server started for this.
async fn schema_catalog(
    scenario: &Scenario,
    state: SchemaState,
    options: &ProvisionOptions,
) -> Result<Catalog> {
    let server = Server::start(options).await?;
    let read = async {
        let scratch = server.create_scratch(&scenario.name).await?;
        let client = scratch.connect().await?;
        schema::apply(&client, &scenario.dataset.schema).await?;
        if state == SchemaState::After {
            schema::migrate(&client, &scenario.migration).await?;
        }
        let catalog = capture::catalog(&client).await;
        drop(client);
        scratch.drop_database().await?;
        catalog
    };
    let catalog = read.await;
    server.stop().await?;
    catalog
}
