//! The checked dataset: the data shape a scenario runs on, validated once.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use super::file::{DatasetFile, ProfileEntry, Spread, WriteOrder};
use super::{parse_toml, resolve_fixture};
use crate::error::{Error, Result};

/// The run states the schema allows, in the order reports list them.
pub const RUN_STATES: [&str; 5] = ["initialized", "success", "error", "expired", "cancelled"];

/// A validated dataset description.
#[derive(Debug, Clone)]
pub struct Dataset {
    pub path: PathBuf,
    pub description: String,
    /// Schema fixtures in the order they are applied.
    pub schema: Vec<Fixture>,
    pub default_runs: u64,
    pub default_seed: u64,
    pub as_of: DateTime<Utc>,
    pub soft_deleted_workflows: f64,
    /// See `DatasetFile::write_order`.
    pub write_order: WriteOrder,
    /// See `DatasetFile::write_order_window`.
    pub write_order_window: usize,
    /// Share of runs per state, in `RUN_STATES` order; adds up to 1.
    pub states: Vec<(&'static str, f64)>,
    pub profiles: Vec<Profile>,
}

/// A SQL file and its contents, read once at validation time.
#[derive(Debug, Clone)]
pub struct Fixture {
    pub path: PathBuf,
    pub sql: String,
}

/// A validated organization profile.
#[derive(Debug, Clone)]
pub struct Profile {
    pub name: String,
    pub organizations: u32,
    pub projects: u32,
    pub workflows: u32,
    pub runs: RunCount,
    /// Days before `as_of`: (most recent, oldest).
    pub active_days: (u32, u32),
    pub spread: Spread,
}

/// How many runs each organization of a profile gets.
#[derive(Debug, Clone, Copy)]
pub enum RunCount {
    PerOrganization(u64),
    ShareOfRest(f64),
}

impl Dataset {
    /// Reads and validates a dataset file.
    pub fn load(path: &Path) -> Result<Dataset> {
        let raw: DatasetFile = parse_toml(path)?;
        validate(path, raw)
    }

    /// How many runs each organization gets at `total_runs`: one list per profile,
    /// one count per organization. Fixed-count profiles are served first; share
    /// profiles split the rest, and rounding remainders go one run at a time to the
    /// first organizations, so the counts add up to `total_runs` exactly.
    pub fn runs_per_organization(&self, total_runs: u64) -> Result<Vec<Vec<u64>>> {
        let fixed: u64 = self
            .profiles
            .iter()
            .map(|profile| match profile.runs {
                RunCount::PerOrganization(runs) => runs * u64::from(profile.organizations),
                RunCount::ShareOfRest(_) => 0,
            })
            .sum();
        if total_runs <= fixed {
            return Err(Error::Usage(format!(
                "a scale of {total_runs} runs is too small for dataset {}: its fixed-count \
                 profiles alone need {fixed} runs; pass a larger --scale",
                self.path.display()
            )));
        }
        let rest = total_runs - fixed;
        let mut profile_runs: Vec<u64> = self
            .profiles
            .iter()
            .map(|profile| match profile.runs {
                RunCount::PerOrganization(runs) => runs * u64::from(profile.organizations),
                RunCount::ShareOfRest(share) => (rest as f64 * share).floor() as u64,
            })
            .collect();
        let shortfall = total_runs - profile_runs.iter().sum::<u64>();
        let largest_share = self
            .profiles
            .iter()
            .enumerate()
            .filter_map(|(index, profile)| match profile.runs {
                RunCount::ShareOfRest(share) => Some((index, share)),
                RunCount::PerOrganization(_) => None,
            })
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(index, _)| index)
            .expect("validation guarantees a share profile");
        profile_runs[largest_share] += shortfall;
        Ok(self
            .profiles
            .iter()
            .zip(profile_runs)
            .map(|(profile, runs)| {
                let organizations = u64::from(profile.organizations);
                (0..organizations)
                    .map(|index| runs / organizations + u64::from(index < runs % organizations))
                    .collect()
            })
            .collect())
    }
}

fn validate(path: &Path, raw: DatasetFile) -> Result<Dataset> {
    let fail = |key: &str, message: String| Error::input(path, format!("key `{key}`: {message}"));

    if raw.schema.is_empty() {
        return Err(fail(
            "schema",
            "lists no fixture; name at least one SQL file".into(),
        ));
    }
    let schema = raw
        .schema
        .iter()
        .map(|relative| {
            let path = resolve_fixture(path, "schema", relative)?;
            let sql = std::fs::read_to_string(&path).map_err(|source| {
                Error::input(&path, format!("cannot read schema fixture: {source}"))
            })?;
            Ok(Fixture { path, sql })
        })
        .collect::<Result<Vec<_>>>()?;

    if raw.runs == 0 {
        return Err(fail(
            "runs",
            "is 0; a dataset needs at least one run".into(),
        ));
    }
    let as_of = DateTime::parse_from_rfc3339(&raw.as_of)
        .map_err(|error| {
            fail(
                "as_of",
                format!(
                    "{:?} is not an RFC 3339 instant ({error}); write it like \"2026-06-01T00:00:00Z\"",
                    raw.as_of
                ),
            )
        })?
        .with_timezone(&Utc);
    if !(0.0..1.0).contains(&raw.soft_deleted_workflows) {
        return Err(fail(
            "soft_deleted_workflows",
            format!("{} is outside [0, 1)", raw.soft_deleted_workflows),
        ));
    }

    if !(1..=1_000_000).contains(&raw.write_order_window) {
        return Err(fail(
            "write_order_window",
            format!(
                "{} is outside 1..=1000000 (1 writes runs in strict time order)",
                raw.write_order_window
            ),
        ));
    }
    for (state, share) in &raw.states {
        if !RUN_STATES.contains(&state.as_str()) {
            return Err(fail(
                &format!("states.{state}"),
                format!("unknown state; the schema allows {}", RUN_STATES.join(", ")),
            ));
        }
        if !share.is_finite() || *share < 0.0 {
            return Err(fail(
                &format!("states.{state}"),
                format!("{share} is not a share"),
            ));
        }
    }
    let states_total: f64 = raw.states.values().sum();
    if (states_total - 1.0).abs() > 1e-6 {
        return Err(fail(
            "states",
            format!("shares add up to {states_total}, not 1"),
        ));
    }
    let states = RUN_STATES
        .iter()
        .map(|state| (*state, raw.states.get(*state).copied().unwrap_or(0.0)))
        .collect();

    if raw.profiles.is_empty() {
        return Err(fail("profile", "no [[profile]] is declared".into()));
    }
    let mut profiles: Vec<Profile> = Vec::with_capacity(raw.profiles.len());
    for entry in raw.profiles {
        if profiles.iter().any(|seen| seen.name == entry.name) {
            return Err(fail(
                &format!("profile \"{}\"", entry.name),
                "is declared twice".into(),
            ));
        }
        profiles.push(validate_profile(&fail, entry)?);
    }
    let shares: Vec<f64> = profiles
        .iter()
        .filter_map(|profile| match profile.runs {
            RunCount::ShareOfRest(share) => Some(share),
            RunCount::PerOrganization(_) => None,
        })
        .collect();
    let share_total: f64 = shares.iter().sum();
    if shares.is_empty() || (share_total - 1.0).abs() > 1e-6 {
        return Err(fail(
            "profile.share_of_runs",
            format!(
                "the share_of_runs of all profiles add up to {share_total}; they must add up \
                 to 1 (the runs left after fixed-count profiles go to them)"
            ),
        ));
    }

    Ok(Dataset {
        path: path.to_owned(),
        description: raw.description,
        schema,
        default_runs: raw.runs,
        default_seed: raw.seed,
        as_of,
        soft_deleted_workflows: raw.soft_deleted_workflows,
        write_order: raw.write_order,
        write_order_window: raw.write_order_window,
        states,
        profiles,
    })
}

fn validate_profile(fail: &impl Fn(&str, String) -> Error, entry: ProfileEntry) -> Result<Profile> {
    let key = |field: &str| format!("profile \"{}\".{field}", entry.name);
    for (field, value) in [
        ("organizations", entry.organizations),
        ("projects", entry.projects),
        ("workflows", entry.workflows),
    ] {
        if value == 0 {
            return Err(fail(&key(field), "is 0; it must be at least 1".into()));
        }
    }
    let runs = match (entry.runs_per_organization, entry.share_of_runs) {
        (Some(0), None) => return Err(fail(&key("runs_per_organization"), "is 0".into())),
        (Some(runs), None) => RunCount::PerOrganization(runs),
        (None, Some(share)) if share > 0.0 && share <= 1.0 => RunCount::ShareOfRest(share),
        (None, Some(share)) => {
            return Err(fail(
                &key("share_of_runs"),
                format!("{share} is outside (0, 1]"),
            ));
        }
        _ => {
            return Err(fail(
                &key("runs_per_organization"),
                "give exactly one of runs_per_organization and share_of_runs".into(),
            ));
        }
    };
    let [recent, oldest] = entry.active_days;
    if recent >= oldest {
        return Err(fail(
            &key("active_days"),
            format!(
                "[{recent}, {oldest}] is empty; write [most recent, oldest] in days before as_of"
            ),
        ));
    }
    Ok(Profile {
        name: entry.name,
        organizations: entry.organizations,
        projects: entry.projects,
        workflows: entry.workflows,
        runs,
        active_days: (recent, oldest),
        spread: entry.spread,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_counts_add_up_to_the_scale_exactly() {
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/datasets/workflow-runs.toml");
        let dataset = Dataset::load(&path).unwrap();
        for total in [401, 12_000, 99_999, 1_000_000] {
            let counts = dataset.runs_per_organization(total).unwrap();
            assert_eq!(counts.iter().flatten().sum::<u64>(), total);
            let sparse = dataset
                .profiles
                .iter()
                .position(|p| p.name == "sparse")
                .unwrap();
            assert!(counts[sparse].iter().all(|runs| *runs == 40));
        }
        assert!(
            dataset.runs_per_organization(400).is_err(),
            "the sparse profile alone needs 400"
        );
    }
}
