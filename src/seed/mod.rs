//! Stage 4: seed. Generates the dataset's population and runs from one seed and
//! streams them into the scratch database with binary COPY, then rebuilds indexes and
//! constraints and runs VACUUM ANALYZE so the planner sees settled statistics and a
//! set visibility map, as on a production table.

pub mod copy;
pub mod load;
pub mod runs;
pub mod shape;

use std::time::Instant;

use chrono::{DateTime, Utc};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio_postgres::Client;
use tokio_postgres::types::{ToSql, Type};
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::evidence::Phase;
use crate::scenario::Dataset;
use copy::{CopyRow, copy_rows};
use runs::{Run, RunStream, WindowShuffle};
use shape::{Organization, Population, Project, Workflow};

/// The tables the seeder fills, parents first.
pub const TABLES: [&str; 5] = [
    "organizations",
    "projects",
    "project_versions",
    "workflows",
    "workflow_runs",
];

/// How much to seed and from which seed.
#[derive(Debug, Clone, Copy)]
pub struct SeedOptions {
    /// Number of workflow runs (the scale).
    pub runs: u64,
    pub seed: u64,
    /// Draw a progress bar on stderr (only shown when stderr is a terminal).
    pub progress: bool,
}

/// What was seeded, for the report and for binding query parameters.
#[derive(Debug, Clone)]
pub struct Seeded {
    pub seed: u64,
    pub as_of: DateTime<Utc>,
    /// Rows per table, in `TABLES` order.
    pub rows: Vec<(String, u64)>,
    /// Size of `workflow_runs` after the load, without its indexes (heap, TOAST and
    /// maps), in bytes.
    pub runs_table_bytes: i64,
    /// Size of all indexes of `workflow_runs`, in bytes.
    pub runs_index_bytes: i64,
    pub organizations: Vec<SeededOrganization>,
    pub phases: Vec<Phase>,
}

/// One seeded organization.
#[derive(Debug, Clone)]
pub struct SeededOrganization {
    pub id: Uuid,
    pub name: String,
    pub profile: String,
    pub runs: u64,
    pub workflows: usize,
    pub deleted_workflows: usize,
    /// The window its runs were drawn from.
    pub oldest: DateTime<Utc>,
    pub newest: DateTime<Utc>,
}

impl Seeded {
    /// The first organization of `profile`: the target a scenario names.
    pub fn first_of(&self, profile: &str) -> Option<&SeededOrganization> {
        self.organizations.iter().find(|org| org.profile == profile)
    }

    /// Rows of `table`.
    pub fn rows_of(&self, table: &str) -> u64 {
        self.rows
            .iter()
            .find(|(name, _)| name == table)
            .map_or(0, |(_, rows)| *rows)
    }
}

/// Seeds the dataset into the schema `clients` are connected to. Index builds use
/// every client given (at least one is required).
pub async fn seed(
    clients: &mut [Client],
    dataset: &Dataset,
    options: SeedOptions,
) -> Result<Seeded> {
    let mut phases = Vec::new();
    let mut clock = Instant::now();
    let mut lap = |name: &str, phases: &mut Vec<Phase>| {
        phases.push(Phase::new(name, clock.elapsed()));
        clock = Instant::now();
    };

    let population = Population::generate(dataset, options.runs, options.seed)?;
    let client = &mut clients[0];
    let with_organization_id = has_column(client, "workflow_runs", "organization_id").await?;
    let mut detached = load::detach(client, &TABLES).await?;
    lap("detach indexes", &mut phases);

    let mut rows = Vec::new();
    let orgs = population.organizations.iter().map(OrganizationRow);
    rows.push((
        "organizations",
        copy_rows(client, "organizations", &ORGANIZATION_COLUMNS, orgs, |_| {}).await?,
    ));
    let projects = population.organizations.iter().flat_map(|org| {
        org.projects
            .iter()
            .map(move |project| ProjectRow(org, project))
    });
    rows.push((
        "projects",
        copy_rows(client, "projects", &PROJECT_COLUMNS, projects, |_| {}).await?,
    ));
    let versions = population
        .organizations
        .iter()
        .flat_map(|org| &org.projects)
        .flat_map(|project| {
            project
                .versions
                .iter()
                .map(move |version| VersionRow(project, version))
        });
    rows.push((
        "project_versions",
        copy_rows(
            client,
            "project_versions",
            &VERSION_COLUMNS,
            versions,
            |_| {},
        )
        .await?,
    ));
    let workflows = population.organizations.iter().flat_map(|org| {
        org.workflows
            .iter()
            .map(move |workflow| WorkflowRow(org, workflow))
    });
    rows.push((
        "workflows",
        copy_rows(client, "workflows", &WORKFLOW_COLUMNS, workflows, |_| {}).await?,
    ));

    let progress = progress_bar(population.total_runs(), options.progress);
    let run_columns = if with_organization_id {
        &RUN_COLUMNS[..]
    } else {
        &RUN_COLUMNS[..RUN_COLUMNS.len() - 1]
    };
    let stream = RunStream::new(
        &population,
        &dataset.states,
        options.seed,
        dataset.write_order,
    );
    let stream = WindowShuffle::new(stream, dataset.write_order_window, options.seed);
    let loaded = copy_rows(client, "workflow_runs", run_columns, stream, |sent| {
        progress.set_position(sent)
    })
    .await;
    progress.finish_and_clear();
    rows.push(("workflow_runs", loaded?));
    lap("copy rows", &mut phases);

    detached.restore_indexes(clients).await?;
    lap("build indexes", &mut phases);
    detached.restore_constraints(&clients[0]).await?;
    lap("validate foreign keys", &mut phases);
    for table in TABLES {
        clients[0]
            .batch_execute(&format!("VACUUM (ANALYZE) {table}"))
            .await
            .map_err(Error::database(format!("vacuum analyze of {table}")))?;
    }
    lap("vacuum analyze", &mut phases);

    let sizes = clients[0]
        .query_one(
            "SELECT pg_table_size('workflow_runs'), pg_indexes_size('workflow_runs')",
            &[],
        )
        .await
        .map_err(Error::database("measuring workflow_runs"))?;

    Ok(Seeded {
        seed: options.seed,
        as_of: dataset.as_of,
        rows: rows
            .into_iter()
            .map(|(table, count)| (table.to_owned(), count))
            .collect(),
        runs_table_bytes: sizes.get(0),
        runs_index_bytes: sizes.get(1),
        organizations: population
            .organizations
            .iter()
            .map(|org| SeededOrganization {
                id: org.id,
                name: org.name.clone(),
                profile: dataset.profiles[org.profile].name.clone(),
                runs: org.runs,
                workflows: org.workflows.len(),
                deleted_workflows: org
                    .workflows
                    .iter()
                    .filter(|w| w.deleted_at.is_some())
                    .count(),
                oldest: org.active.0,
                newest: org.active.1,
            })
            .collect(),
        phases,
    })
}

async fn has_column(client: &Client, table: &str, column: &str) -> Result<bool> {
    let row = client
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = $1 AND column_name = $2)",
            &[&table, &column],
        )
        .await
        .map_err(Error::database("reading the schema of workflow_runs"))?;
    Ok(row.get(0))
}

fn progress_bar(total: u64, enabled: bool) -> ProgressBar {
    if !enabled {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template(
            "seeding workflow_runs {bar:30} {human_pos}/{human_len} rows, {per_sec}, eta {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

const ORGANIZATION_COLUMNS: [(&str, Type); 3] = [
    ("id", Type::UUID),
    ("name", Type::TEXT),
    ("created_at", Type::TIMESTAMPTZ),
];
const PROJECT_COLUMNS: [(&str, Type); 3] = [
    ("id", Type::UUID),
    ("organization_id", Type::UUID),
    ("name", Type::TEXT),
];
const VERSION_COLUMNS: [(&str, Type); 3] = [
    ("id", Type::UUID),
    ("project_id", Type::UUID),
    ("version", Type::TEXT),
];
const WORKFLOW_COLUMNS: [(&str, Type); 7] = [
    ("id", Type::UUID),
    ("organization_id", Type::UUID),
    ("project_id", Type::UUID),
    ("name", Type::TEXT),
    ("description", Type::TEXT),
    ("deleted_at", Type::TIMESTAMPTZ),
    ("created_at", Type::TIMESTAMPTZ),
];
/// `organization_id` comes last so that a pre-migration schema can leave it out.
const RUN_COLUMNS: [(&str, Type); 14] = [
    ("id", Type::UUID),
    ("created_at", Type::TIMESTAMPTZ),
    ("finished_at", Type::TIMESTAMPTZ),
    ("state", Type::TEXT),
    ("reason", Type::TEXT),
    ("run_url", Type::TEXT),
    ("runner_type", Type::TEXT),
    ("attestation", Type::JSONB),
    ("attestation_digest", Type::TEXT),
    ("contract_revision_used", Type::INT4),
    ("contract_revision_latest", Type::INT4),
    ("version_id", Type::UUID),
    ("workflow_id", Type::UUID),
    ("organization_id", Type::UUID),
];

struct OrganizationRow<'a>(&'a Organization);
struct ProjectRow<'a>(&'a Organization, &'a Project);
struct VersionRow<'a>(&'a Project, &'a (Uuid, String));
struct WorkflowRow<'a>(&'a Organization, &'a Workflow);

impl CopyRow for OrganizationRow<'_> {
    fn values(&self) -> Vec<&(dyn ToSql + Sync)> {
        vec![&self.0.id, &self.0.name, &self.0.created_at]
    }
}

impl CopyRow for ProjectRow<'_> {
    fn values(&self) -> Vec<&(dyn ToSql + Sync)> {
        vec![&self.1.id, &self.0.id, &self.1.name]
    }
}

impl CopyRow for VersionRow<'_> {
    fn values(&self) -> Vec<&(dyn ToSql + Sync)> {
        vec![&self.1.0, &self.0.id, &self.1.1]
    }
}

impl CopyRow for WorkflowRow<'_> {
    fn values(&self) -> Vec<&(dyn ToSql + Sync)> {
        let (org, workflow) = (self.0, self.1);
        vec![
            &workflow.id,
            &org.id,
            &org.projects[workflow.project].id,
            &workflow.name,
            &workflow.description,
            &workflow.deleted_at,
            &workflow.created_at,
        ]
    }
}

impl CopyRow for Run {
    fn values(&self) -> Vec<&(dyn ToSql + Sync)> {
        vec![
            &self.id,
            &self.created_at,
            &self.finished_at,
            &self.state,
            &self.reason,
            &self.run_url,
            &self.runner_type,
            &self.attestation,
            &self.attestation_digest,
            &self.contract_revision_used,
            &self.contract_revision_latest,
            &self.version_id,
            &self.workflow_id,
            &self.organization_id,
        ]
    }
}
