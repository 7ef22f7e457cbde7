//! A workload: an application's queries, each a `.sql` file in one directory, bound
//! to a dataset as a scenario is, with the picks its parameters are drawn from and
//! the limits its baselines are checked with. Parsed strictly and validated once into
//! a [`Workload`], which holds the [`Scenario`] the pipeline runs: one query per query
//! file and parameter set (`<query>.<set>`), no checks of its own (a workload is judged
//! against its baselines).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use serde::Deserialize;
use toml::Spanned;

use super::scenario::{PickEntry, SettingValue};
use super::{
    Dataset, Param, Pick, Query, Reporter, Scenario, TomlKind, file, front_matter, normalize,
    one_statement, param, parse_toml_text, pick, resolve_fixture, settings,
};
use crate::error::{Error, Result};
use crate::judge::baseline::{Band, Limits};
use crate::outcome::SchemaState;

/// The name of the one parameter set of a query that has no parameters.
pub const DEFAULT_SET: &str = "default";

/// The most queries a workload may hold: far above an application's, far below what
/// would make a run take hours.
pub const MAX_QUERIES: usize = 2000;

/// A validated workload.
#[derive(Debug)]
pub struct Workload {
    /// The file stem: `workflow-runs` for `workloads/workflow-runs.toml`.
    pub name: String,
    pub path: PathBuf,
    pub description: String,
    /// Checked by `cargo bench`, the CI performance gate.
    pub gate: bool,
    /// Rows of the dataset's scale table at which baselines are made and checked,
    /// increasing.
    pub scales: Vec<u64>,
    /// `ANALYZE` rounds a baseline is made with, each query's plan taken after every
    /// one: the plans a query takes on its own.
    pub stability_rounds: u32,
    /// The directory of the baseline files, one per query.
    pub baselines: PathBuf,
    /// The dataset as the workload file names it (relative to it), for baselines.
    pub dataset_name: String,
    /// BLAKE3 of what in the dataset file decides the rows (not its schema list).
    pub dataset_digest: String,
    /// The queries, in file-name order.
    pub queries: Vec<WorkloadQuery>,
    /// What the pipeline runs.
    pub scenario: Scenario,
}

/// One query file of a workload.
#[derive(Debug, Clone)]
pub struct WorkloadQuery {
    /// The file stem.
    pub name: String,
    pub path: PathBuf,
    /// BLAKE3 of the SQL without comments and spacing ([`front_matter::normalized`]).
    pub sql_digest: String,
    /// Its parameter sets, in the file's order.
    pub sets: Vec<String>,
    pub limits: Limits,
}

impl WorkloadQuery {
    /// The name the scenario gives this query with `set`: `runs_by_org.sparse`.
    pub fn subject(&self, set: &str) -> String {
        format!("{}.{set}", self.name)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WorkloadFile {
    description: String,
    dataset: String,
    /// Default `<name>/queries`.
    queries: Option<String>,
    /// Default `<name>/baselines`.
    baselines: Option<String>,
    scales: Spanned<Vec<u64>>,
    #[serde(default)]
    gate: bool,
    stability_rounds: Option<u32>,
    time_budget: Option<Spanned<toml::Value>>,
    #[serde(default)]
    settings: BTreeMap<String, SettingValue>,
    #[serde(default)]
    limits: LimitsEntry,
    #[serde(default, rename = "pick")]
    picks: Vec<Spanned<PickEntry>>,
}

/// `[limits]` of a workload, or `limits` in a query's front matter: each key
/// overrides the one above it.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitsEntry {
    rows_examined: Option<BandEntry>,
    buffers: Option<BandEntry>,
    estimate: Option<BandEntry>,
    seq_scan_rows: Option<u64>,
    growth: Option<GrowthEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BandEntry {
    ratio: Option<f64>,
    floor: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GrowthEntry {
    from: Option<f64>,
    to: Option<f64>,
}

/// A query file's front matter.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FrontMatter {
    #[serde(default)]
    params: IndexMap<String, Vec<toml::Value>>,
    #[serde(default)]
    limits: LimitsEntry,
}

/// What a workload file is read as.
const WORKLOAD_FILE: file::Kind = file::Kind {
    what: "a workload file",
    limit: file::TEXT_LIMIT,
    stdin: false,
};

/// A workload file names its dataset and its scales.
const WORKLOAD_TOML: TomlKind = TomlKind {
    what: "a workload file",
    keys: &["scales"],
};

/// The default `ANALYZE` rounds of a baseline.
const DEFAULT_ROUNDS: u32 = 5;

impl Workload {
    /// Finds a workload by name in `dir` (`<dir>/<name>.toml`), or by path when `name`
    /// ends in `.toml`, and loads it.
    pub fn find(dir: &Path, name: &str) -> Result<Workload> {
        let path = match name.ends_with(".toml") {
            true => PathBuf::from(name),
            false => dir.join(format!("{name}.toml")),
        };
        if !path.exists() {
            let known = super::list(dir).unwrap_or_default();
            return Err(Error::Usage(format!(
                "no workload named {name:?} ({} does not exist); {}",
                path.display(),
                match known.is_empty() {
                    true => format!("{} holds no workload", dir.display()),
                    false => format!("known workloads: {}", known.join(", ")),
                }
            )));
        }
        Workload::load(&path)
    }

    /// Reads and validates one workload file and its query files.
    pub fn load(path: &Path) -> Result<Workload> {
        let text = file::read_text(path, &WORKLOAD_FILE)?;
        let raw: WorkloadFile = parse_toml_text(path, &text, &WORKLOAD_TOML)?;
        validate(path, &text, raw)
    }

    /// The query with this file stem.
    pub fn query(&self, name: &str) -> Option<&WorkloadQuery> {
        self.queries.iter().find(|query| query.name == name)
    }

    /// Keeps only the queries named (file stems) and their parameter sets in the
    /// scenario: what a run of some of the workload's queries runs.
    pub fn keep_only(&mut self, names: &[String]) {
        self.queries.retain(|query| names.contains(&query.name));
        let subjects: Vec<String> = self
            .queries
            .iter()
            .flat_map(|query| query.sets.iter().map(|set| query.subject(set)))
            .collect();
        self.scenario
            .queries
            .retain(|query| subjects.contains(&query.name));
    }
}

fn validate(path: &Path, text: &str, raw: WorkloadFile) -> Result<Workload> {
    let report = Reporter { path, text };
    let name = super::scenario_name(path)?;
    let dataset_path = resolve_fixture(path, "dataset", &raw.dataset)?;
    let dataset = Dataset::load(&dataset_path)?;
    let scales = scales(&report, &raw.scales)?;
    let settings = settings(&report, &raw.settings)?;
    let limits = limits(&Limits::default(), &raw.limits)
        .map_err(|(key, message)| report.key(&format!("limits.{key}"), message))?;
    let mut picks: Vec<Pick> = Vec::new();
    for entry in &raw.picks {
        let pick = pick(&report, entry, &picks, &dataset, None, &[])?;
        picks.push(pick);
    }
    let base = path.parent().unwrap_or(Path::new("."));
    let directory = |given: &Option<String>, default: &str| {
        normalize(&base.join(given.clone().unwrap_or_else(|| format!("{name}/{default}"))))
    };
    let query_dir = directory(&raw.queries, "queries");
    let baselines = directory(&raw.baselines, "baselines");
    let mut queries = Vec::new();
    let mut scenario_queries = Vec::new();
    for query_path in query_files(path, &query_dir)? {
        let (query, compiled) = query_file(&query_path, &picks, &dataset, &limits)?;
        queries.push(query);
        scenario_queries.extend(compiled);
    }
    let time_budget = raw
        .time_budget
        .as_ref()
        .map(|value| super::time_budget(&report, value))
        .transpose()?;
    let dataset_digest = dataset_digest(&dataset_path)?;
    Ok(Workload {
        scenario: Scenario {
            name: name.clone(),
            path: path.to_owned(),
            description: raw.description.clone(),
            gate: raw.gate,
            min_scale: None,
            time_budget,
            dataset,
            target: None,
            settings,
            migration: Vec::new(),
            variants: Vec::new(),
            picks,
            queries: scenario_queries,
            checks: Vec::new(),
            sweep: None,
            rehearsal: None,
        },
        name,
        path: path.to_owned(),
        description: raw.description,
        gate: raw.gate,
        scales,
        stability_rounds: raw.stability_rounds.unwrap_or(DEFAULT_ROUNDS),
        baselines,
        dataset_name: raw.dataset,
        dataset_digest,
        queries,
    })
}

/// The workload's scales: at least one, each a positive number of rows, increasing.
fn scales(report: &Reporter, raw: &Spanned<Vec<u64>>) -> Result<Vec<u64>> {
    let scales = raw.get_ref().clone();
    let problem = match scales.len() {
        0 => Some(
            "gives no scale; give one, or two to fit growth, such as [100_000, 1_000_000]"
                .to_owned(),
        ),
        1 => (scales[0] == 0).then(|| "a scale is a positive number of rows".to_owned()),
        _ => super::sweep_scales_problem(&scales),
    };
    match problem {
        Some(message) => Err(report.at(raw.span(), "scales", message)),
        None => Ok(scales),
    }
}

/// The `.sql` files of `dir`, sorted by name: each one query of the workload.
fn query_files(workload: &Path, dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir).map_err(|error| {
        Error::input(
            workload,
            format!(
                "key `queries`: cannot list the query directory {}: {error}",
                dir.display()
            ),
        )
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok())
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "sql"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(Error::input(
            workload,
            format!(
                "key `queries`: {} holds no .sql file; a workload's queries are its .sql files",
                dir.display()
            ),
        ));
    }
    if files.len() > MAX_QUERIES {
        return Err(Error::input(
            workload,
            format!(
                "key `queries`: {} holds {} .sql files, more than a workload takes ({MAX_QUERIES})",
                dir.display(),
                files.len()
            ),
        ));
    }
    Ok(files)
}

/// One query file: its name, SQL, parameter sets and limits, and the scenario's
/// queries it makes (one per parameter set).
fn query_file(
    path: &Path,
    picks: &[Pick],
    dataset: &Dataset,
    workload_limits: &Limits,
) -> Result<(WorkloadQuery, Vec<Query>)> {
    let name = query_name(path)?;
    let sql = super::read_sql(path)?;
    one_statement(path, &sql, "file")?;
    let (toml, _) = front_matter::split(&sql);
    let front: FrontMatter = toml::from_str(&toml).map_err(|error| {
        Error::input(
            path,
            format!(
                "front matter ({} lines): {}: {}",
                front_matter::MARK,
                super::toml_position(&toml, &error),
                crate::format::serde_words(error.message())
            ),
        )
    })?;
    let limits = limits(workload_limits, &front.limits).map_err(|(key, message)| {
        Error::input(path, format!("front matter key `limits.{key}`: {message}"))
    })?;
    let mut sets: Vec<(String, Vec<Param>)> = Vec::new();
    for (set, values) in &front.params {
        let valid = !set.is_empty()
            && set
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !valid {
            return Err(Error::input(
                path,
                format!(
                    "front matter key `params.{set}`: a set's name is letters, digits, - and _"
                ),
            ));
        }
        let params = values
            .iter()
            .map(|value| param(value, picks, dataset, None, &[]))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|message| {
                Error::input(path, format!("front matter key `params.{set}`: {message}"))
            })?;
        sets.push((set.clone(), params));
    }
    if sets.is_empty() {
        sets.push((DEFAULT_SET.to_owned(), Vec::new()));
    }
    let query = WorkloadQuery {
        sql_digest: blake3::hash(front_matter::normalized(&sql).as_bytes())
            .to_hex()
            .to_string(),
        sets: sets.iter().map(|(set, _)| set.clone()).collect(),
        name,
        path: path.to_owned(),
        limits,
    };
    let compiled = sets
        .into_iter()
        .map(|(set, params)| Query {
            name: query.subject(&set),
            path: path.to_owned(),
            sql: sql.clone(),
            params,
            state: SchemaState::Before,
        })
        .collect();
    Ok((query, compiled))
}

/// A query file's stem, which names it in baselines and reports.
fn query_name(path: &Path) -> Result<String> {
    let stem = path
        .file_stem()
        .map(|stem| stem.to_string_lossy().into_owned())
        .unwrap_or_default();
    let valid = !stem.is_empty()
        && stem
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    match valid {
        true => Ok(stem),
        false => Err(Error::input(
            path,
            "a query file's name is letters, digits, - and _ before .sql (it names the query's baseline)",
        )),
    }
}

/// `base` with the keys `entry` gives replaced; the error names the key.
fn limits(
    base: &Limits,
    entry: &LimitsEntry,
) -> std::result::Result<Limits, (&'static str, String)> {
    let mut limits = *base;
    for (key, band, given) in [
        (
            "rows_examined",
            &mut limits.rows_examined,
            &entry.rows_examined,
        ),
        ("buffers", &mut limits.buffers, &entry.buffers),
        ("estimate", &mut limits.estimate, &entry.estimate),
    ] {
        if let Some(given) = given {
            *band = self::band(band, given).map_err(|message| (key, message))?;
        }
    }
    if let Some(rows) = entry.seq_scan_rows {
        limits.seq_scan_rows = rows;
    }
    if let Some(growth) = &entry.growth {
        limits.growth_from = growth.from.unwrap_or(limits.growth_from);
        limits.growth_to = growth.to.unwrap_or(limits.growth_to);
        if !(limits.growth_from >= 0.0 && limits.growth_from < limits.growth_to) {
            return Err((
                "growth",
                format!(
                    "from = {} and to = {}: from must be at least 0 and below to",
                    limits.growth_from, limits.growth_to
                ),
            ));
        }
    }
    Ok(limits)
}

fn band(base: &Band, given: &BandEntry) -> std::result::Result<Band, String> {
    let band = Band {
        ratio: given.ratio.unwrap_or(base.ratio),
        floor: given.floor.unwrap_or(base.floor),
    };
    if !(band.ratio.is_finite() && band.ratio >= 1.0) {
        return Err(format!("ratio = {}: a ratio is at least 1", band.ratio));
    }
    if !(band.floor.is_finite() && band.floor >= 0.0) {
        return Err(format!("floor = {}: a floor is at least 0", band.floor));
    }
    Ok(band)
}

/// BLAKE3 of what decides the rows: the dataset file's tables, groups, generators,
/// seed and scale, without its comments, its description and its `schema` list. The
/// schema is left out on purpose: a migration that drops an index is what a workload
/// check exists to catch, on the same rows.
fn dataset_digest(path: &Path) -> Result<String> {
    let text = file::read_text(path, &super::DATASET_FILE)?;
    let mut table: toml::Table =
        toml::from_str(&text).map_err(|_| Error::input(path, "is not valid TOML"))?;
    table.remove("schema");
    table.remove("description");
    let canonical = toml::to_string(&table).expect("a parsed table serializes");
    Ok(blake3::hash(canonical.as_bytes()).to_hex().to_string())
}
