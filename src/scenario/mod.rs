//! Stage 1: read a scenario. A scenario file names a dataset, the queries under test
//! and the checks that judge them; this module parses it strictly and validates it
//! once into a [`Scenario`], so later stages never see an unchecked value.

pub mod dataset;
pub mod file;

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

pub use dataset::{Dataset, Fixture, Profile, RunCount};

use crate::checks::CheckSpec;
use crate::error::{Error, Result};
use file::ScenarioFile;

/// A validated scenario.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// The file stem: `sparse-org` for `scenarios/sparse-org.toml`.
    pub name: String,
    pub path: PathBuf,
    pub description: String,
    pub dataset: Dataset,
    /// The profile whose first organization the queries are bound to.
    pub target_profile: String,
    /// Planner settings the scenario adds to plancheck's pinned ones, in file order.
    pub settings: Vec<(String, String)>,
    pub queries: Vec<Query>,
    pub checks: Vec<CheckSpec>,
}

/// A query under test, with its SQL read from its fixture file.
#[derive(Debug, Clone)]
pub struct Query {
    pub name: String,
    pub path: PathBuf,
    pub sql: String,
    pub params: Vec<Param>,
}

/// A value a query parameter can be bound to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Param {
    /// The id of the target organization.
    OrganizationId,
}

impl Param {
    const ALL: [(&'static str, Param); 1] = [("organization_id", Param::OrganizationId)];

    fn parse(name: &str) -> Option<Param> {
        Self::ALL
            .iter()
            .find(|(known, _)| *known == name)
            .map(|(_, param)| *param)
    }
}

impl Scenario {
    /// Finds a scenario by name in `dir` (`<dir>/<name>.toml`), or by path when `name`
    /// ends in `.toml`, and loads it.
    pub fn find(dir: &Path, name: &str) -> Result<Scenario> {
        let path = if name.ends_with(".toml") {
            PathBuf::from(name)
        } else {
            dir.join(format!("{name}.toml"))
        };
        if !path.is_file() {
            let known = list(dir).unwrap_or_default();
            let known = if known.is_empty() {
                format!("{} holds no scenario", dir.display())
            } else {
                format!("known scenarios: {}", known.join(", "))
            };
            return Err(Error::Usage(format!(
                "no scenario named {name:?} ({} does not exist); {known}",
                path.display()
            )));
        }
        Scenario::load(&path)
    }

    /// Reads and validates one scenario file.
    pub fn load(path: &Path) -> Result<Scenario> {
        let raw: ScenarioFile = parse_toml(path)?;
        validate(path, raw)
    }

    /// The query with this name; validation guarantees that check references resolve.
    pub fn query(&self, name: &str) -> Option<&Query> {
        self.queries.iter().find(|query| query.name == name)
    }
}

/// The names of the scenarios in `dir`, sorted.
pub fn list(dir: &Path) -> Result<Vec<String>> {
    let entries = std::fs::read_dir(dir).map_err(Error::io(format!(
        "cannot list scenarios in {}",
        dir.display()
    )))?;
    let mut names: Vec<String> = entries
        .filter_map(|entry| entry.ok())
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "toml"))
        .filter_map(|path| {
            path.file_stem()
                .map(|stem| stem.to_string_lossy().into_owned())
        })
        .collect();
    names.sort();
    Ok(names)
}

/// Parses a TOML file strictly; the error names the file, and toml's message names
/// the key, line and column.
pub(crate) fn parse_toml<T: DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path)
        .map_err(|source| Error::input(path, format!("cannot read: {source}")))?;
    toml::from_str(&text).map_err(|error| Error::input(path, error.to_string().trim_end()))
}

/// Resolves a fixture path written in `owner` (relative to its directory) and checks
/// that it exists, naming the owner's key and value when it does not.
pub(crate) fn resolve_fixture(owner: &Path, key: &str, relative: &str) -> Result<PathBuf> {
    let base = owner.parent().unwrap_or(Path::new("."));
    let path = normalize(&base.join(relative));
    if !path.is_file() {
        return Err(Error::input(
            owner,
            format!(
                "key `{key}`: fixture {relative:?} does not exist (looked for {})",
                path.display()
            ),
        ));
    }
    Ok(path)
}

/// Removes `.` and `name/..` pairs without touching the file system (so symlinks are
/// not resolved): `scenarios/../fixtures/x.sql` becomes `fixtures/x.sql`.
fn normalize(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut normal = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir
                if matches!(normal.components().next_back(), Some(Component::Normal(_))) =>
            {
                normal.pop();
            }
            other => normal.push(other),
        }
    }
    if normal.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        normal
    }
}

fn validate(path: &Path, raw: ScenarioFile) -> Result<Scenario> {
    let fail = |key: &str, message: String| Error::input(path, format!("key `{key}`: {message}"));
    let name = path
        .file_stem()
        .map(|stem| stem.to_string_lossy().into_owned())
        .unwrap_or_default();

    let dataset_path = resolve_fixture(path, "dataset", &raw.dataset)?;
    let dataset = Dataset::load(&dataset_path)?;
    if !dataset
        .profiles
        .iter()
        .any(|profile| profile.name == raw.target.profile)
    {
        let known: Vec<&str> = dataset.profiles.iter().map(|p| p.name.as_str()).collect();
        return Err(fail(
            "target.profile",
            format!(
                "{:?} is not a profile of {}; it declares {}",
                raw.target.profile,
                dataset_path.display(),
                known.join(", ")
            ),
        ));
    }

    let mut settings = Vec::with_capacity(raw.settings.len());
    for (setting, value) in raw.settings {
        let valid_name = !setting.is_empty()
            && setting
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '.');
        if !valid_name {
            return Err(fail(
                &format!("settings.{setting}"),
                "is not a PostgreSQL setting name (lowercase letters, digits, _ and .)".into(),
            ));
        }
        settings.push((setting, value.to_setting_string()));
    }

    if raw.queries.is_empty() {
        return Err(fail("query", "no [[query]] is declared".into()));
    }
    let mut queries: Vec<Query> = Vec::with_capacity(raw.queries.len());
    for entry in raw.queries {
        let key = |field: &str| format!("query \"{}\".{field}", entry.name);
        if entry.name.is_empty()
            || !entry
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(fail(
                &key("name"),
                "must be non-empty letters, digits, - and _ (it names report files)".into(),
            ));
        }
        if queries.iter().any(|seen| seen.name == entry.name) {
            return Err(fail(&key("name"), "is declared twice".into()));
        }
        let query_path = resolve_fixture(path, &key("file"), &entry.file)?;
        let sql = std::fs::read_to_string(&query_path)
            .map_err(|source| Error::input(&query_path, format!("cannot read: {source}")))?;
        let params = entry
            .params
            .iter()
            .map(|param| {
                Param::parse(param).ok_or_else(|| {
                    let known: Vec<&str> = Param::ALL.iter().map(|(name, _)| *name).collect();
                    fail(
                        &key("params"),
                        format!(
                            "{param:?} is not a known parameter; known: {}",
                            known.join(", ")
                        ),
                    )
                })
            })
            .collect::<Result<Vec<_>>>()?;
        queries.push(Query {
            name: entry.name,
            path: query_path,
            sql,
            params,
        });
    }

    for (index, check) in raw.checks.iter().enumerate() {
        let key = format!("check[{index}] ({})", check.name());
        for query in check.queries() {
            if !queries.iter().any(|known| known.name == query) {
                let known: Vec<&str> = queries.iter().map(|q| q.name.as_str()).collect();
                return Err(fail(
                    &key,
                    format!(
                        "names query {query:?}, which is not declared; declared: {}",
                        known.join(", ")
                    ),
                ));
            }
        }
        check.validate().map_err(|message| fail(&key, message))?;
    }

    Ok(Scenario {
        name,
        path: path.to_owned(),
        description: raw.description,
        dataset,
        target_profile: raw.target.profile,
        settings,
        queries,
        checks: raw.checks,
    })
}

#[cfg(test)]
mod tests {
    use super::normalize;
    use std::path::{Path, PathBuf};

    #[test]
    fn fixture_paths_are_normalized_lexically() {
        assert_eq!(
            normalize(Path::new("scenarios/../fixtures/./q.sql")),
            PathBuf::from("fixtures/q.sql")
        );
        assert_eq!(normalize(Path::new("../a/../b")), PathBuf::from("../b"));
        assert_eq!(normalize(Path::new("/x/y/../../z")), PathBuf::from("/z"));
        assert_eq!(normalize(Path::new("a/..")), PathBuf::from("."));
    }
}
