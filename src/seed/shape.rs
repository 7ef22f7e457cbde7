//! The population a dataset describes, generated deterministically from one seed:
//! organizations with their projects, versions and workflows (small, kept in memory),
//! and how many runs each organization gets over which window. The runs themselves are
//! never held in memory: `runs::RunStream` generates them one at a time.

use chrono::{DateTime, Duration, Utc};
use fake::Fake;
use fake::faker::company::en::{Buzzword, CompanyName};
use fake::faker::lorem::en::Sentence;
use rand::{RngExt, SeedableRng};
use rand_pcg::Pcg64Mcg;
use uuid::Uuid;

use crate::error::Result;
use crate::scenario::Dataset;
use crate::scenario::file::Spread;

/// The generator every random choice of a dataset flows from. PCG is fast, and its
/// output for a given seed is fixed by its specification, so the same seed gives the
/// same rows across platforms and crate upgrades.
pub type SeededRng = Pcg64Mcg;

/// Independent streams derived from the one seed, so that adding draws to one part of
/// the generator does not shift the values of another.
#[derive(Debug, Clone, Copy)]
pub enum Stream {
    Population = 1,
    RunAttributes = 2,
    OrganizationTimeline = 3,
    WriteOrder = 4,
}

/// A generator for `stream` (and `index` within it) derived from `seed` with
/// SplitMix64, which spreads nearby inputs over unrelated seeds.
pub fn rng_for(seed: u64, stream: Stream, index: u64) -> SeededRng {
    let mut state = seed ^ ((stream as u64) << 56) ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let mut next = || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&next().to_le_bytes());
    bytes[8..].copy_from_slice(&next().to_le_bytes());
    SeededRng::from_seed(bytes)
}

/// A random (version 4) UUID drawn from a seeded generator.
pub fn uuid_from(rng: &mut SeededRng) -> Uuid {
    uuid::Builder::from_random_bytes(rng.random()).into_uuid()
}

/// Everything but the runs.
#[derive(Debug, Clone)]
pub struct Population {
    pub organizations: Vec<Organization>,
    /// Sentences used as failure reasons, drawn from by index.
    pub reasons: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Organization {
    pub id: Uuid,
    pub name: String,
    /// URL-safe form of the name, used in run URLs.
    pub slug: String,
    pub created_at: DateTime<Utc>,
    /// Index into the dataset's profiles.
    pub profile: usize,
    pub runs: u64,
    /// The oldest and newest instants its runs may have.
    pub active: (DateTime<Utc>, DateTime<Utc>),
    pub spread: Spread,
    pub projects: Vec<Project>,
    pub workflows: Vec<Workflow>,
}

#[derive(Debug, Clone)]
pub struct Project {
    pub id: Uuid,
    pub name: String,
    pub versions: Vec<(Uuid, String)>,
}

#[derive(Debug, Clone)]
pub struct Workflow {
    pub id: Uuid,
    /// Index into the organization's projects.
    pub project: usize,
    pub name: String,
    pub description: String,
    pub created_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
    /// The contract revision runs are checked against at the latest.
    pub contract_revision: i32,
}

impl Population {
    /// Generates the population for `total_runs` runs from `seed`.
    pub fn generate(dataset: &Dataset, total_runs: u64, seed: u64) -> Result<Population> {
        let runs_per_organization = dataset.runs_per_organization(total_runs)?;
        let mut rng = rng_for(seed, Stream::Population, 0);
        let mut organizations = Vec::new();
        let mut used_names = std::collections::HashSet::new();
        for (profile_index, profile) in dataset.profiles.iter().enumerate() {
            for runs in runs_per_organization[profile_index].iter().copied() {
                let mut name: String = CompanyName().fake_with_rng(&mut rng);
                // Company names repeat across a hundred draws; the list page shows names,
                // so keep them unique as a real tenant table would.
                let mut attempt = 2;
                while !used_names.insert(name.clone()) {
                    name = format!(
                        "{} {attempt}",
                        name.trim_end_matches(char::is_numeric).trim_end()
                    );
                    attempt += 1;
                }
                let (recent_days, oldest_days) = profile.active_days;
                let oldest = dataset.as_of - Duration::days(i64::from(oldest_days));
                let newest = dataset.as_of - Duration::days(i64::from(recent_days));
                let created_at =
                    oldest - Duration::seconds(rng.random_range(30 * 86_400..400 * 86_400));
                let id = uuid_from(&mut rng);
                let projects = (0..profile.projects)
                    .map(|_| generate_project(&mut rng))
                    .collect::<Vec<_>>();
                let workflows = (0..profile.workflows)
                    .map(|index| {
                        generate_workflow(
                            &mut rng,
                            index,
                            projects.len(),
                            created_at,
                            oldest,
                            dataset,
                        )
                    })
                    .collect();
                organizations.push(Organization {
                    id,
                    slug: slug(&name),
                    name,
                    created_at,
                    profile: profile_index,
                    runs,
                    active: (oldest, newest),
                    spread: profile.spread,
                    projects,
                    workflows,
                });
            }
        }
        let reasons = (0..64)
            .map(|_| Sentence(4..10).fake_with_rng(&mut rng))
            .collect();
        Ok(Population {
            organizations,
            reasons,
        })
    }

    /// The organizations of profile `profile`, in generation order.
    pub fn organizations_of(&self, profile: usize) -> impl Iterator<Item = &Organization> {
        self.organizations
            .iter()
            .filter(move |org| org.profile == profile)
    }

    /// Total runs over all organizations.
    pub fn total_runs(&self) -> u64 {
        self.organizations.iter().map(|org| org.runs).sum()
    }
}

fn generate_project(rng: &mut SeededRng) -> Project {
    let word: String = Buzzword().fake_with_rng(rng);
    let name = format!("{}-{}", slug(&word), rng.random_range(1..100));
    let major = rng.random_range(0..4);
    let versions = (0..rng.random_range(1..=4))
        .map(|minor| {
            (
                uuid_from(rng),
                format!("v{major}.{minor}.{}", rng.random_range(0..10)),
            )
        })
        .collect();
    Project {
        id: uuid_from(rng),
        name,
        versions,
    }
}

fn generate_workflow(
    rng: &mut SeededRng,
    index: u32,
    projects: usize,
    org_created: DateTime<Utc>,
    first_run: DateTime<Utc>,
    dataset: &Dataset,
) -> Workflow {
    let purpose = [
        "build", "release", "deploy", "scan", "sbom", "test", "publish", "sign",
    ];
    let name = format!(
        "{}-{}",
        purpose[rng.random_range(0..purpose.len())],
        index + 1
    );
    let span = (first_run - org_created).num_seconds().max(1);
    let created_at = org_created + Duration::seconds(rng.random_range(0..span));
    // The first workflow of every organization stays live, so each organization has
    // runs that its list page shows.
    let deleted_at = (index > 0 && rng.random_bool(dataset.soft_deleted_workflows))
        .then(|| dataset.as_of - Duration::seconds(rng.random_range(0..30 * 86_400)));
    Workflow {
        id: uuid_from(rng),
        project: rng.random_range(0..projects),
        description: Sentence(3..8).fake_with_rng(rng),
        name,
        created_at,
        deleted_at,
        contract_revision: rng.random_range(1..=20),
    }
}

/// Lowercase letters and digits, other runs of characters as one `-`.
fn slug(text: &str) -> String {
    let mut slug = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
    }
    slug.trim_end_matches('-').to_owned()
}
