//! Stage 1: read the input. A scenario file names a dataset, the target row, the
//! queries under test with their parameters, an optional migration, a variant matrix
//! and the checks that judge them. This module parses scenario and dataset files
//! strictly, reads every fixture, and validates it all once into a [`Scenario`], so
//! later stages never see an unchecked value. Errors name the file, line, key and value.

pub mod dataset;
pub mod file;
pub mod front_matter;
pub mod rehearsal;
pub mod saved_plan;
pub mod scenario;
pub mod statements;
pub mod workload;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::DeserializeOwned;
use toml::Spanned;

pub use dataset::Dataset;

use crate::error::{Error, Result};
use crate::format::serde_words;
use crate::judge::{self, Check};
use crate::outcome::SchemaState;
use crate::value::Value;
use scenario::{PickEntry, QueryEntry, ScenarioFile};

/// The most variant cells a scenario may declare: each cell captures and times every
/// query, so a larger matrix is almost always a mistake (and would take hours).
pub const MAX_CELLS: usize = 1000;

/// A validated scenario.
#[derive(Debug)]
pub struct Scenario {
    /// The file stem: `sparse-org` for `scenarios/sparse-org.toml`.
    pub name: String,
    pub path: PathBuf,
    pub description: String,
    /// Judged by `cargo bench`, the CI performance gate.
    pub gate: bool,
    /// The smallest `--scale` at which the scenario proves anything, if declared.
    pub min_scale: Option<u64>,
    /// How long one run of a measured query may take, if the scenario says.
    pub time_budget: Option<Duration>,
    pub dataset: Dataset,
    /// The generated row `target.*` parameters read, if the scenario names one.
    pub target: Option<TargetSpec>,
    /// Planner settings the scenario adds to plancheck's pinned ones, by name.
    pub settings: Vec<(String, String)>,
    /// Applied between the `before` and the `after` queries.
    pub migration: Vec<Fixture>,
    pub variants: Vec<Axis>,
    pub picks: Vec<Pick>,
    pub queries: Vec<Query>,
    pub checks: Vec<CheckEntry>,
    /// The scenario's `[sweep]`, if it declares one.
    pub sweep: Option<SweepSpec>,
    /// The migrations `plancheck rehearse` runs under traffic, if it declares them.
    pub rehearsal: Option<rehearsal::RehearsalSpec>,
}

/// A scenario's `[sweep]`: the scales it runs at with `--sweep` and the queries whose
/// growth is fitted.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepSpec {
    /// Increasing, at least two.
    pub scales: Vec<u64>,
    /// Declared queries, in the scenario's order; every query when `[sweep]` names none.
    pub queries: Vec<String>,
}

/// What is wrong with a list of sweep scales, if anything: a sweep needs at least two
/// scales, each a positive number of rows, in increasing order.
pub fn sweep_scales_problem(scales: &[u64]) -> Option<String> {
    let listed = || {
        scales
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(",")
    };
    if scales.len() < 2 {
        return Some(format!(
            "{} gives {} scale(s); a sweep fits growth through at least two, such as 10000,100000,1000000",
            listed(),
            scales.len()
        ));
    }
    if scales.contains(&0) {
        return Some(format!(
            "{}: a scale is a positive number of rows",
            listed()
        ));
    }
    if let Some(pair) = scales.windows(2).find(|pair| pair[1] <= pair[0]) {
        return Some(format!(
            "{}: scales must increase, and {} comes after {}",
            listed(),
            pair[1],
            pair[0]
        ));
    }
    None
}

/// A SQL file and its contents, read once at validation time.
#[derive(Debug, Clone)]
pub struct Fixture {
    pub path: PathBuf,
    pub sql: String,
}

/// The generated row `target.*` parameters read.
#[derive(Debug, Clone)]
pub struct TargetSpec {
    pub table: usize,
    pub group: GroupChoice,
    pub index: u64,
}

/// Which group the target row is taken from.
#[derive(Debug, Clone, PartialEq)]
pub enum GroupChoice {
    None,
    Named(u16),
    /// The group named by the value of this variant axis.
    Variant(usize),
}

/// One axis of the variant matrix.
#[derive(Debug, Clone)]
pub struct Axis {
    pub name: String,
    pub values: Vec<Value>,
}

/// A value a query or pick parameter is bound to.
#[derive(Debug, Clone, PartialEq)]
pub enum Param {
    /// A generated column of the target row.
    Target(usize, String),
    Literal(Value),
    /// The value of a variant axis.
    Variant(usize),
    /// A column of a pick's row.
    Pick(usize, String),
}

/// A row picked from the seeded data, per variant.
#[derive(Debug, Clone)]
pub struct Pick {
    pub name: String,
    pub source: PickSource,
}

/// Where a pick's row comes from.
#[derive(Debug, Clone)]
pub enum PickSource {
    /// The first row of an SQL query's (`most_common` and `least_common` are written
    /// as one).
    Sql { sql: String, params: Vec<Param> },
    /// A value of a column no row holds: one past the largest (the query gives it).
    Absent {
        sql: String,
        table: String,
        column: String,
    },
    /// A generated row, found as a target is.
    Row(TargetSpec),
}

impl Pick {
    /// The SQL the server runs for this pick, if it runs any.
    pub fn sql(&self) -> Option<&str> {
        match &self.source {
            PickSource::Sql { sql, .. } | PickSource::Absent { sql, .. } => Some(sql),
            PickSource::Row(_) => None,
        }
    }

    /// The parameters of the pick's SQL.
    pub fn params(&self) -> &[Param] {
        match &self.source {
            PickSource::Sql { params, .. } => params,
            _ => &[],
        }
    }
}

/// A query under test, with its SQL read from its fixture file.
#[derive(Debug, Clone)]
pub struct Query {
    pub name: String,
    pub path: PathBuf,
    pub sql: String,
    pub params: Vec<Param>,
    pub state: SchemaState,
}

/// A check and the variants it applies to.
#[derive(Debug)]
pub struct CheckEntry {
    pub check: Box<dyn Check>,
    /// `(axis, accepted values)`: the check judges only the cells matching all of them.
    pub only: Vec<(usize, Vec<Value>)>,
    /// The 1-based line of the entry's `check = "…"` key in the scenario file (its
    /// `[[check]]` header when that cannot be found), where CI annotations point.
    pub line: usize,
}

impl CheckEntry {
    /// Whether the check applies to the cell with these axis values.
    pub fn applies_to(&self, cell: &[Value]) -> bool {
        self.only
            .iter()
            .all(|(axis, values)| values.contains(&cell[*axis]))
    }
}

impl Scenario {
    /// The checks that judge the cell with these axis values.
    pub fn checks_for(&self, cell: &[Value]) -> Vec<&dyn Check> {
        self.checks
            .iter()
            .filter(|entry| entry.applies_to(cell))
            .map(|entry| entry.check.as_ref())
            .collect()
    }

    /// The queries the scenario's comparisons measure against, over every check.
    pub fn baselines(&self) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        for entry in &self.checks {
            if let Some(name) = entry.check.baseline()
                && !names.iter().any(|known| known == name)
            {
                names.push(name.to_owned());
            }
        }
        names
    }

    /// Finds a scenario by name in `dir` (`<dir>/<name>.toml`), or by path when `name`
    /// ends in `.toml`, and loads it.
    pub fn find(dir: &Path, name: &str) -> Result<Scenario> {
        let path = if name.ends_with(".toml") {
            PathBuf::from(name)
        } else {
            dir.join(format!("{name}.toml"))
        };
        // Anything there is loaded, so that a directory or a FIFO is refused as what
        // it is rather than called missing.
        if !path.exists() {
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
        let text = file::read_text(path, &SCENARIO_FILE)?;
        if dataset::is_dataset_file(&text) {
            return Err(Error::input(path, NOT_A_SCENARIO));
        }
        let raw: ScenarioFile = parse_toml_text(path, &text, &SCENARIO_TOML)?;
        validate(path, &text, raw)
    }

    /// The query with this name.
    pub fn query(&self, name: &str) -> Option<&Query> {
        self.queries.iter().find(|query| query.name == name)
    }

    /// Every cell of the variant matrix: one value per axis (one empty cell without
    /// variants).
    pub fn cells(&self) -> Vec<Vec<Value>> {
        let mut cells = vec![Vec::new()];
        for axis in &self.variants {
            cells = cells
                .into_iter()
                .flat_map(|cell| {
                    axis.values.iter().map(move |value| {
                        let mut next = cell.clone();
                        next.push(value.clone());
                        next
                    })
                })
                .collect();
        }
        cells
    }

    /// The group label the target row is taken from in `cell`.
    pub fn target_group(&self, cell: &[Value]) -> Option<u16> {
        self.row_group(self.target.as_ref()?, cell)
    }

    /// The group label a generated row (the target, a `row` pick) is taken from in
    /// `cell`.
    pub fn row_group(&self, spec: &TargetSpec, cell: &[Value]) -> Option<u16> {
        match &spec.group {
            GroupChoice::None => None,
            GroupChoice::Named(label) => Some(*label),
            GroupChoice::Variant(axis) => {
                let name = cell[*axis].to_string();
                self.dataset
                    .group_names(spec.table)
                    .iter()
                    .position(|group| *group == name)
                    .map(|label| label as u16)
            }
        }
    }

    /// Every generated row the scenario reads, whatever the cell: its target's and
    /// its `row` picks'.
    pub fn generated_rows(&self) -> Vec<&TargetSpec> {
        let picks = self.picks.iter().filter_map(|pick| match &pick.source {
            PickSource::Row(spec) => Some(spec),
            _ => None,
        });
        self.target.iter().chain(picks).collect()
    }

    /// The group names of the target table's grouping table, by label.
    pub fn group_labels(&self) -> Vec<String> {
        self.target
            .as_ref()
            .map(|target| {
                self.dataset
                    .group_names(target.table)
                    .into_iter()
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Whether any query runs after the migration.
    pub fn has_after_state(&self) -> bool {
        self.queries
            .iter()
            .any(|query| query.state == SchemaState::After)
    }
}

/// The names of the scenarios in `dir`, sorted.
/// What a dataset file named as a scenario is told.
pub const NOT_A_SCENARIO: &str =
    "is a dataset file, not a scenario: a scenario names it with `dataset = \"<path>\"`";

pub fn list(dir: &Path) -> Result<Vec<String>> {
    let entries = std::fs::read_dir(dir).map_err(|source| {
        Error::Usage(format!(
            "cannot list scenarios in {}: {source}",
            dir.display()
        ))
    })?;
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

/// What a scenario file is read as.
const SCENARIO_FILE: file::Kind = file::Kind {
    what: "a scenario file",
    limit: file::TEXT_LIMIT,
    stdin: false,
};

/// A scenario file names its dataset; a TOML file that does not is someone else's.
const SCENARIO_TOML: TomlKind = TomlKind {
    what: "a scenario file",
    keys: &["dataset"],
};

/// What a dataset file is read as.
pub(crate) const DATASET_FILE: file::Kind = file::Kind {
    what: "a dataset file",
    limit: file::TEXT_LIMIT,
    stdin: false,
};

/// What a schema, migration, query or statement file is read as.
pub(crate) const SQL_FILE: file::Kind = file::Kind {
    what: "an SQL file",
    limit: file::TEXT_LIMIT,
    stdin: false,
};

/// The SQL fixture `relative` names in `owner` under `key`, read.
pub(crate) fn sql_fixture(owner: &Path, key: &str, relative: &str) -> Result<Fixture> {
    let path = resolve_fixture(owner, key, relative)?;
    Ok(Fixture {
        sql: read_sql(&path)?,
        path,
    })
}

/// The SQL file at `path`, read. One of whose statements does not begin with an SQL
/// command is refused naming its line and nothing of it: it is no SQL file (a token,
/// a .pgpass), and the server's syntax error would quote it.
pub(crate) fn read_sql(path: &Path) -> Result<String> {
    let sql = file::read_text(path, &SQL_FILE)?;
    match statements::first_not_sql(&sql) {
        None => Ok(sql),
        Some(line) => Err(Error::input(
            format!("{}:{line}", path.display()),
            "does not begin with an SQL command (SELECT, CREATE, INSERT, …), so it is not SQL plancheck can run",
        )),
    }
}

/// What a TOML file must be, to be parsed as one of plancheck's: its words in an
/// error, and the top-level keys of which it declares at least one.
pub(crate) struct TomlKind {
    pub what: &'static str,
    pub keys: &'static [&'static str],
}

/// Parses `text`, the file at `path`, strictly as `kind`. A file that is not TOML at
/// all, or TOML that declares none of `kind`'s keys, is said to be so without a word
/// of it, since it may be anything a path can name (`/proc/self/environ`, a
/// `.pgpass`). In a file that is `kind`'s, errors name the line, column and key, as
/// toml words them, but never quote the line.
pub(crate) fn parse_toml_text<T: DeserializeOwned>(
    path: &Path,
    text: &str,
    kind: &TomlKind,
) -> Result<T> {
    let document: toml::Table = toml::from_str(text).map_err(|error| {
        Error::input(
            path,
            format!(
                "is not valid TOML ({}: {})",
                toml_position(text, &error),
                error.message().trim_end()
            ),
        )
    })?;
    if !kind.keys.iter().any(|key| document.contains_key(*key)) {
        return Err(Error::input(
            path,
            format!(
                "is TOML, but not {}: it declares none of the keys {}",
                kind.what,
                kind.keys
                    .iter()
                    .map(|key| format!("`{key}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    toml::from_str(text).map_err(|error| {
        Error::input(
            path,
            format!(
                "{}: {}",
                toml_position(text, &error),
                serde_words(error.message())
            ),
        )
    })
}

/// `line L, column C` of where a toml error points (the start of the file when it
/// points nowhere), columns counted in characters.
fn toml_position(text: &str, error: &toml::de::Error) -> String {
    let start = error.span().map_or(0, |span| span.start).min(text.len());
    let before = text.get(..start).unwrap_or(text);
    let line_start = before.rfind('\n').map_or(0, |at| at + 1);
    format!(
        "line {}, column {}",
        before.matches('\n').count() + 1,
        before[line_start..].chars().count() + 1
    )
}

/// Resolves a fixture path written in `owner` (relative to its directory) and checks
/// that it is a regular file, naming the owner's key and value when it is not.
pub(crate) fn resolve_fixture(owner: &Path, key: &str, relative: &str) -> Result<PathBuf> {
    let base = owner.parent().unwrap_or(Path::new("."));
    let path = normalize(&base.join(relative));
    let problem = match file::special_kind(&path) {
        Some(kind) => format!("is {kind}, not a regular file"),
        None if !path.exists() => "does not exist".to_owned(),
        None => return Ok(path),
    };
    Err(Error::input(
        owner,
        format!(
            "key `{key}`: fixture {relative:?} {problem} (looked for {})",
            path.display()
        ),
    ))
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

/// Reports errors with the file, the line of the offending entry and its key.
struct Reporter<'a> {
    path: &'a Path,
    text: &'a str,
}

impl Reporter<'_> {
    fn at(
        &self,
        span: std::ops::Range<usize>,
        key: &str,
        message: impl std::fmt::Display,
    ) -> Error {
        Error::input(self.path, format!("{}: {message}", self.locate(span, key)))
    }

    /// `line N: key `…``, for messages written later (by the loader).
    fn locate(&self, span: std::ops::Range<usize>, key: &str) -> String {
        format!("line {}: key `{key}`", self.line(span))
    }

    /// The 1-based line where `span` starts.
    fn line(&self, span: std::ops::Range<usize>) -> usize {
        self.text[..span.start.min(self.text.len())]
            .matches('\n')
            .count()
            + 1
    }

    fn key(&self, key: &str, message: impl std::fmt::Display) -> Error {
        Error::input(self.path, format!("key `{key}`: {message}"))
    }
}

fn validate(path: &Path, text: &str, raw: ScenarioFile) -> Result<Scenario> {
    let report = Reporter { path, text };
    let name = scenario_name(path)?;
    let dataset = Dataset::load(&resolve_fixture(path, "dataset", &raw.dataset)?)?;
    let variants = variants(&report, &raw)?;
    let target = raw
        .target
        .as_ref()
        .map(|target| target_spec(&report, target, &dataset, &variants))
        .transpose()?;
    let settings = settings(&report, &raw.settings)?;
    let migration = migration(&report, &raw)?;
    let picks = picks(&report, &raw, &dataset, target.as_ref(), &variants)?;
    let rehearsal = raw
        .rehearsal
        .as_ref()
        .map(|section| {
            rehearsal::rehearsal_spec(
                &report,
                section,
                &dataset,
                &picks,
                target.as_ref(),
                &variants,
            )
        })
        .transpose()?;
    if raw.queries.is_empty() && rehearsal.is_none() {
        return Err(report.key(
            "query",
            "no [[query]] is declared (a scenario without queries must declare a [rehearsal])",
        ));
    }
    let queries = queries(
        &report,
        &raw,
        &picks,
        &dataset,
        target.as_ref(),
        &variants,
        &migration,
    )?;
    let checks = checks(&report, &raw, &queries, &variants, rehearsal.is_some())?;
    let time_budget = raw
        .time_budget
        .as_ref()
        .map(|value| time_budget(&report, value))
        .transpose()?;
    let sweep = raw
        .sweep
        .as_ref()
        .map(|section| sweep_spec(&report, section, &queries, &checks))
        .transpose()?;
    if raw.min_scale == Some(0) {
        return Err(report.key(
            "min_scale",
            "is 0; leave it out or give the smallest scale that reproduces",
        ));
    }
    Ok(Scenario {
        name,
        path: path.to_owned(),
        description: raw.description,
        gate: raw.gate,
        min_scale: raw.min_scale,
        time_budget,
        dataset,
        target,
        settings,
        migration,
        variants,
        picks,
        queries,
        checks,
        sweep,
        rehearsal,
    })
}

/// The scenario's name, its file's stem, which names its reports: letters, digits,
/// `-`, `_` and `.`, not starting with a dot.
fn scenario_name(path: &Path) -> Result<String> {
    let name = path
        .file_stem()
        .map(|stem| stem.to_string_lossy().into_owned())
        .unwrap_or_default();
    let valid = !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    match valid {
        true => Ok(name),
        false => Err(Error::input(
            path,
            format!(
                "{name:?} is not a scenario name: the file's name names its reports, so use letters, digits, - and _"
            ),
        )),
    }
}

/// The `[[pick]]`s in order, each reading only the picks before it.
fn picks(
    report: &Reporter,
    raw: &ScenarioFile,
    dataset: &Dataset,
    target: Option<&TargetSpec>,
    variants: &[Axis],
) -> Result<Vec<Pick>> {
    let mut picks: Vec<Pick> = Vec::new();
    for entry in &raw.picks {
        let pick = pick(report, entry, &picks, dataset, target, variants)?;
        picks.push(pick);
    }
    Ok(picks)
}

/// The `[[query]]`s in order; with a migration, at least one of them runs after it.
fn queries(
    report: &Reporter,
    raw: &ScenarioFile,
    picks: &[Pick],
    dataset: &Dataset,
    target: Option<&TargetSpec>,
    variants: &[Axis],
    migration: &[Fixture],
) -> Result<Vec<Query>> {
    let mut queries: Vec<Query> = Vec::new();
    for entry in &raw.queries {
        let query = query(
            report,
            entry,
            &queries,
            picks,
            dataset,
            target,
            variants,
            !migration.is_empty(),
        )?;
        queries.push(query);
    }
    if !migration.is_empty()
        && !queries
            .iter()
            .any(|query| query.state == SchemaState::After)
    {
        return Err(report.key(
            "migration",
            "is applied only before queries marked schema = \"after\", and none is; mark the query that runs on the migrated schema",
        ));
    }
    Ok(queries)
}

/// The `[[check]]`s; a scenario that rehearses may have none, any other must.
fn checks(
    report: &Reporter,
    raw: &ScenarioFile,
    queries: &[Query],
    variants: &[Axis],
    rehearses: bool,
) -> Result<Vec<CheckEntry>> {
    let checks = raw
        .checks
        .iter()
        .enumerate()
        .map(|(index, entry)| check_entry(report, index, entry, queries, variants))
        .collect::<Result<Vec<_>>>()?;
    if checks.is_empty() && !rehearses {
        return Err(report.key(
            "check",
            "no [[check]] is declared; a scenario without checks proves nothing",
        ));
    }
    Ok(checks)
}

/// `[sweep]`: its scales (see [`sweep_scales_problem`]) and queries, each declared;
/// and every query a check reads over the sweep is one it fits.
fn sweep_spec(
    report: &Reporter,
    section: &Spanned<scenario::SweepSection>,
    queries: &[Query],
    checks: &[CheckEntry],
) -> Result<SweepSpec> {
    let raw = section.get_ref();
    if let Some(problem) = sweep_scales_problem(&raw.scales) {
        return Err(report.at(section.span(), "sweep.scales", problem));
    }
    let declared: Vec<&str> = queries.iter().map(|query| query.name.as_str()).collect();
    if let Some(unknown) = raw
        .queries
        .iter()
        .find(|name| !declared.contains(&name.as_str()))
    {
        return Err(report.at(
            section.span(),
            "sweep.queries",
            format!(
                "{unknown:?} is not a declared query; declared: {}",
                declared.join(", ")
            ),
        ));
    }
    let fitted: Vec<String> = match raw.queries.is_empty() {
        true => declared.iter().map(|name| (*name).to_owned()).collect(),
        false => declared
            .iter()
            .filter(|name| raw.queries.iter().any(|listed| listed == *name))
            .map(|name| (*name).to_owned())
            .collect(),
    };
    for (index, entry) in checks.iter().enumerate() {
        if let Some(query) = entry
            .check
            .sweep_queries()
            .into_iter()
            .find(|query| !fitted.iter().any(|name| name == query))
        {
            return Err(report.at(
                section.span(),
                "sweep.queries",
                format!(
                    "check[{index}] ({}) reads the growth of query {query:?}, which the sweep does not fit; add it to sweep.queries (fitted: {})",
                    entry.check.name(),
                    fitted.join(", ")
                ),
            ));
        }
    }
    Ok(SweepSpec {
        scales: raw.scales.clone(),
        queries: fitted,
    })
}

/// The scenario's `time_budget`: a string with its unit, so that `60` is never read
/// as milliseconds by one reader and seconds by another.
fn time_budget(report: &Reporter, value: &Spanned<toml::Value>) -> Result<Duration> {
    let at = |message: String| report.at(value.span(), "time_budget", message);
    match value.get_ref() {
        toml::Value::String(text) => {
            parse_time_budget(text, None).map_err(|message| at(format!("{text:?} {message}")))
        }
        other => Err(at(format!(
            "{other} is not a duration; write it as a string with its unit, as in \"{other}s\""
        ))),
    }
}

/// Parses a time budget: a positive number with a unit (`ms`, `s`, `min`, `h`), or
/// bare, in `bare_unit` when one is given (the command line takes seconds). The
/// server counts it in whole milliseconds, up to its `statement_timeout` limit.
pub fn parse_time_budget(
    text: &str,
    bare_unit: Option<&str>,
) -> std::result::Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = (&text[..split], text[split..].trim());
    let unit = match (unit, bare_unit) {
        ("", Some(bare)) => bare,
        (unit, _) => unit,
    };
    let expected = match bare_unit {
        Some(bare) => format!(
            "is not a time budget: write a positive number of {bare}, or one with a unit (ms, s, min, h), as in \"60s\""
        ),
        None => "is not a time budget: write a positive number with a unit (ms, s, min, h), as in \"60s\"".to_owned(),
    };
    let ms_per_unit = match unit {
        "ms" => 1.0,
        "s" => 1000.0,
        "min" => 60_000.0,
        "h" => 3_600_000.0,
        _ => return Err(expected),
    };
    let value: f64 = number.parse().map_err(|_| expected.clone())?;
    let ms = (value * ms_per_unit).round();
    if ms < 1.0 {
        return Err(format!(
            "{expected}; a budget under a millisecond would cancel every query"
        ));
    }
    if ms > f64::from(i32::MAX) {
        return Err(format!(
            "is longer than the server's statement_timeout allows ({} h)",
            i32::MAX / 3_600_000
        ));
    }
    Ok(Duration::from_millis(ms as u64))
}

/// The variant matrix's axes, at most [`MAX_CELLS`] cells in all.
fn variants(report: &Reporter, raw: &ScenarioFile) -> Result<Vec<Axis>> {
    let variants = raw
        .variants
        .iter()
        .map(|(axis, values)| {
            let valid = !axis.is_empty()
                && axis
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            if !valid || values.get_ref().is_empty() {
                return Err(report.at(
                    values.span(),
                    &format!("variants.{axis}"),
                    "must be a name with a non-empty list of values",
                ));
            }
            Ok(Axis {
                name: axis.clone(),
                values: values.get_ref().iter().map(Value::from_toml).collect(),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    for axis in &variants {
        let mut slugs: Vec<String> = axis
            .values
            .iter()
            .map(|value| crate::slug::slug(&value.to_string()))
            .collect();
        slugs.sort();
        if let Some(pair) = slugs.windows(2).find(|pair| pair[0] == pair[1]) {
            return Err(report.key(
                &format!("variants.{}", axis.name),
                format!("two values read the same in file names ({:?}); report files are named after them, so make them differ in letters or digits", pair[0]),
            ));
        }
    }
    let cells: usize = variants.iter().map(|axis| axis.values.len()).product();
    if cells > MAX_CELLS {
        return Err(report.key(
            "variants",
            format!(
                "the matrix has {cells} cells ({}); at most {MAX_CELLS} are run, since each captures and times every query. Split the scenario or drop values",
                variants.iter().map(|a| format!("{} {}", a.values.len(), a.name)).collect::<Vec<_>>().join(" x ")
            ),
        ));
    }
    Ok(variants)
}

/// The migration's fixtures, read.
fn migration(report: &Reporter, raw: &ScenarioFile) -> Result<Vec<Fixture>> {
    match &raw.migration {
        None => Ok(Vec::new()),
        Some(section) if section.fixtures.is_empty() => {
            Err(report.key("migration.fixtures", "lists no fixture"))
        }
        Some(section) => section
            .fixtures
            .iter()
            .map(|relative| sql_fixture(report.path, "migration.fixtures", relative))
            .collect(),
    }
}

fn target_spec(
    report: &Reporter,
    raw: &Spanned<scenario::TargetSection>,
    dataset: &Dataset,
    variants: &[Axis],
) -> Result<TargetSpec> {
    let section = raw.get_ref();
    let at = |key: &str, message: String| report.at(raw.span(), key, message);
    let tables: Vec<&str> = dataset
        .model
        .tables
        .iter()
        .map(|t| t.name.as_str())
        .collect();
    let table = dataset.table(&section.table).ok_or_else(|| {
        at(
            "target.table",
            format!(
                "{:?} is not a table of {}; it declares {}",
                section.table,
                dataset.path.display(),
                tables.join(", ")
            ),
        )
    })?;
    let group = group_choice(&at, section.group.as_deref(), dataset, table, variants)?;
    Ok(TargetSpec {
        table,
        group,
        index: section.index,
    })
}

/// The target's group: none, a group of the target table's grouping table, or
/// `variant.<axis>` whose every value names such a group.
fn group_choice(
    at: &dyn Fn(&str, String) -> Error,
    group: Option<&str>,
    dataset: &Dataset,
    table: usize,
    variants: &[Axis],
) -> Result<GroupChoice> {
    let model = &dataset.model.tables[table];
    let groups = dataset.group_names(table);
    let label_of = |name: &str| groups.iter().position(|group| *group == name);
    let unknown = |name: &str| match groups.is_empty() {
        true => format!(
            "{name:?}: table {} has no groups (declare [[table.group]] on it or an ancestor)",
            model.name
        ),
        false => format!(
            "{name:?} is not a group of {}; groups: {}",
            model.name,
            groups.join(", ")
        ),
    };
    let Some(name) = group else {
        return Ok(GroupChoice::None);
    };
    let Some(axis_name) = name.strip_prefix("variant.") else {
        return label_of(name)
            .map(|label| GroupChoice::Named(label as u16))
            .ok_or_else(|| at("target.group", unknown(name)));
    };
    let axis = variants
        .iter()
        .position(|axis| axis.name == axis_name)
        .ok_or_else(|| {
            at(
                "target.group",
                format!(
                    "{name:?} names no variant axis; declared: {}",
                    variant_names(variants)
                ),
            )
        })?;
    if let Some(value) = variants[axis]
        .values
        .iter()
        .find(|value| label_of(&value.to_string()).is_none())
    {
        return Err(at(
            "target.group",
            format!(
                "variant {axis_name} has value {value}: {}",
                unknown(&value.to_string())
            ),
        ));
    }
    Ok(GroupChoice::Variant(axis))
}

fn variant_names(variants: &[Axis]) -> String {
    if variants.is_empty() {
        "none".into()
    } else {
        variants
            .iter()
            .map(|axis| axis.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn settings(
    report: &Reporter,
    raw: &std::collections::BTreeMap<String, scenario::SettingValue>,
) -> Result<Vec<(String, String)>> {
    raw.iter()
        .map(|(setting, value)| {
            let valid = !setting.is_empty()
                && setting
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '.');
            if !valid {
                return Err(report.key(
                    &format!("settings.{setting}"),
                    "is not a PostgreSQL setting name (lowercase letters, digits, _ and .)",
                ));
            }
            Ok((setting.clone(), value.to_setting_string()))
        })
        .collect()
}

/// A parameter as written: `"target.<column>"`, `"variant.<axis>"`,
/// `"<pick>.<column>"`, or `{ literal = <value> }`.
fn param(
    value: &toml::Value,
    picks: &[Pick],
    dataset: &Dataset,
    target: Option<&TargetSpec>,
    variants: &[Axis],
) -> std::result::Result<Param, String> {
    let syntax = "write \"target.<column>\", \"variant.<axis>\", \"<pick>.<column>\" or { literal = <value> }";
    match value {
        toml::Value::Table(table) if table.len() == 1 && table.contains_key("literal") => {
            Ok(Param::Literal(Value::from_toml(&table["literal"])))
        }
        toml::Value::String(reference) => {
            let (source, field) = reference
                .split_once('.')
                .ok_or_else(|| format!("{reference:?}: {syntax}"))?;
            match source {
                "target" => {
                    let target = target.ok_or_else(|| format!("{reference:?}: the scenario has no [target]; declare the table (and group) whose row it names"))?;
                    let table = &dataset.model.tables[target.table];
                    match table.signature.column(field) {
                        Some((column, _)) => Ok(Param::Target(column, field.to_owned())),
                        None => Err(format!(
                            "{reference:?}: the target table {} generates no column {field:?}; it generates {}",
                            table.name,
                            table.signature.columns.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(", ")
                        )),
                    }
                }
                "variant" => variants
                    .iter()
                    .position(|axis| axis.name == field)
                    .map(Param::Variant)
                    .ok_or_else(|| format!("{reference:?}: no variant axis {field:?}; declared: {}", variant_names(variants))),
                pick_name => picks
                    .iter()
                    .position(|pick| pick.name == pick_name)
                    .map(|pick| Param::Pick(pick, field.to_owned()))
                    .ok_or_else(|| format!("{reference:?}: {pick_name:?} is not target, variant or a [[pick]] declared before; {syntax}")),
            }
        }
        other => Err(format!("{other}: {syntax}")),
    }
}

fn pick(
    report: &Reporter,
    entry: &Spanned<PickEntry>,
    earlier: &[Pick],
    dataset: &Dataset,
    target: Option<&TargetSpec>,
    variants: &[Axis],
) -> Result<Pick> {
    let raw = entry.get_ref();
    let key = |field: &str| format!("pick \"{}\".{field}", raw.name);
    let at = |field: &str, message: String| report.at(entry.span(), &key(field), message);
    let valid = !raw.name.is_empty()
        && raw
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !["target", "variant"].contains(&raw.name.as_str());
    if !valid || earlier.iter().any(|pick| pick.name == raw.name) {
        return Err(at(
            "name",
            "must be a new name of letters, digits and _ (not target or variant)".into(),
        ));
    }
    let source = match pick_kind(raw).map_err(|message| at("sql", message))? {
        PickKind::Sql(sql) => {
            let params = raw
                .params
                .iter()
                .map(|value| {
                    param(value, earlier, dataset, target, variants)
                        .map_err(|message| at("params", message))
                })
                .collect::<Result<_>>()?;
            PickSource::Sql {
                sql: sql.to_owned(),
                params,
            }
        }
        PickKind::Common(field, reference, most) => {
            let (table, column) =
                column_reference(reference, dataset).map_err(|message| at(field, message))?;
            PickSource::Sql {
                sql: common_value_sql(&table, &column, most),
                params: Vec::new(),
            }
        }
        PickKind::Absent(reference) => {
            let (table, column) =
                column_reference(reference, dataset).map_err(|message| at("absent", message))?;
            PickSource::Absent {
                sql: format!(
                    "SELECT max({}) AS {} FROM {}",
                    quote_identifier(&column),
                    quote_identifier(&column),
                    quote_identifier(&table)
                ),
                table,
                column,
            }
        }
        PickKind::Row(section) => {
            let spec = row_spec(section, dataset, variants)
                .map_err(|(field, message)| at(&format!("row.{field}"), message))?;
            PickSource::Row(spec)
        }
    };
    Ok(Pick {
        name: raw.name.clone(),
        source,
    })
}

/// Which of a pick's sources its entry gives.
enum PickKind<'a> {
    Sql(&'a str),
    /// The key, `table.column`, and whether the most common value is wanted.
    Common(&'static str, &'a str, bool),
    Absent(&'a str),
    Row(&'a scenario::TargetSection),
}

/// The one source `raw` gives; the message says what to give when it gives none or
/// several.
fn pick_kind(raw: &PickEntry) -> std::result::Result<PickKind<'_>, String> {
    let mut kinds = Vec::new();
    if let Some(sql) = &raw.sql {
        kinds.push(PickKind::Sql(sql));
    }
    if let Some(reference) = &raw.most_common {
        kinds.push(PickKind::Common("most_common", reference, true));
    }
    if let Some(reference) = &raw.least_common {
        kinds.push(PickKind::Common("least_common", reference, false));
    }
    if let Some(reference) = &raw.absent {
        kinds.push(PickKind::Absent(reference));
    }
    if let Some(row) = &raw.row {
        kinds.push(PickKind::Row(row));
    }
    let choices = "give one of sql = \"…\", most_common = \"table.column\", least_common = \"table.column\", absent = \"table.column\" or row = { table = \"…\", group = \"…\" }";
    if kinds.len() != 1 {
        return Err(format!("a pick has exactly one source; {choices}"));
    }
    let kind = kinds.pop().expect("one");
    if !raw.params.is_empty() && !matches!(kind, PickKind::Sql(_)) {
        return Err("params bind the parameters of a pick's own sql; this pick has none".into());
    }
    Ok(kind)
}

/// `table.column` of `dataset`'s tables, checked: the table must be one the dataset
/// seeds (its columns are checked against the catalog before seeding).
fn column_reference(
    reference: &str,
    dataset: &Dataset,
) -> std::result::Result<(String, String), String> {
    let Some((table, column)) = reference.split_once('.') else {
        return Err(format!("{reference:?}: write table.column"));
    };
    if dataset.table(table).is_none() {
        let tables: Vec<&str> = dataset
            .model
            .tables
            .iter()
            .map(|t| t.name.as_str())
            .collect();
        return Err(format!(
            "{reference:?}: {table:?} is not a table of {}; it declares {}",
            dataset.path.display(),
            tables.join(", ")
        ));
    }
    if column.is_empty() {
        return Err(format!("{reference:?}: write table.column"));
    }
    Ok((table.to_owned(), column.to_owned()))
}

/// The value of `column` most (or fewest) rows of `table` hold, ties broken by the
/// value, so that the same rows give the same pick.
fn common_value_sql(table: &str, column: &str, most: bool) -> String {
    let (column, table) = (quote_identifier(column), quote_identifier(table));
    let order = if most { "DESC" } else { "ASC" };
    format!(
        "SELECT {column} AS {column} FROM {table} WHERE {column} IS NOT NULL GROUP BY 1 ORDER BY count(*) {order}, 1 LIMIT 1"
    )
}

/// `name` as an SQL identifier: double-quoted, a quote inside it doubled.
pub(crate) fn quote_identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A `row = { table, group, index }` pick, resolved as a `[target]` is.
fn row_spec(
    section: &scenario::TargetSection,
    dataset: &Dataset,
    variants: &[Axis],
) -> std::result::Result<TargetSpec, (&'static str, String)> {
    let table = dataset.table(&section.table).ok_or_else(|| {
        let tables: Vec<&str> = dataset
            .model
            .tables
            .iter()
            .map(|t| t.name.as_str())
            .collect();
        (
            "table",
            format!(
                "{:?} is not a table of {}; it declares {}",
                section.table,
                dataset.path.display(),
                tables.join(", ")
            ),
        )
    })?;
    let failed = std::cell::RefCell::new(None);
    let at = |_: &str, message: String| {
        *failed.borrow_mut() = Some(message);
        Error::Usage(String::new())
    };
    let group = group_choice(&at, section.group.as_deref(), dataset, table, variants)
        .map_err(|_| ("group", failed.borrow_mut().take().unwrap_or_default()))?;
    Ok(TargetSpec {
        table,
        group,
        index: section.index,
    })
}

#[allow(clippy::too_many_arguments)]
fn query(
    report: &Reporter,
    entry: &Spanned<QueryEntry>,
    earlier: &[Query],
    picks: &[Pick],
    dataset: &Dataset,
    target: Option<&TargetSpec>,
    variants: &[Axis],
    has_migration: bool,
) -> Result<Query> {
    let raw = entry.get_ref();
    let key = |field: &str| format!("query \"{}\".{field}", raw.name);
    let valid = !raw.name.is_empty()
        && raw
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !valid {
        return Err(report.at(
            entry.span(),
            &key("name"),
            "must be non-empty letters, digits, - and _ (it names report files)",
        ));
    }
    if earlier.iter().any(|seen| seen.name == raw.name) {
        return Err(report.at(entry.span(), &key("name"), "is declared twice"));
    }
    let query_path = resolve_fixture(report.path, &key("file"), &raw.file)?;
    let sql = read_sql(&query_path)?;
    one_statement(&query_path, &sql, &key("file"))?;
    let params = raw
        .params
        .iter()
        .map(|value| {
            param(value, picks, dataset, target, variants)
                .map_err(|message| report.at(entry.span(), &key("params"), message))
        })
        .collect::<Result<_>>()?;
    let state = match raw.schema.as_deref() {
        None | Some("before") => SchemaState::Before,
        Some("after") if has_migration => SchemaState::After,
        Some("after") => {
            return Err(report.at(
                entry.span(),
                &key("schema"),
                "\"after\" needs a [migration] section with the fixtures to apply",
            ));
        }
        Some(other) => {
            return Err(report.at(
                entry.span(),
                &key("schema"),
                format!("{other:?} is not a schema state; use \"before\" or \"after\""),
            ));
        }
    };
    Ok(Query {
        name: raw.name.clone(),
        path: query_path,
        sql,
        params,
        state,
    })
}

/// Refuses a query file (named by the scenario's `key`) that does not hold exactly one
/// statement.
fn one_statement(path: &Path, sql: &str, key: &str) -> Result<()> {
    let statements = statements::split(sql);
    match &statements[..] {
        [_] => Ok(()),
        [] => Err(Error::input(
            path,
            format!("holds no SQL statement (key `{key}`); a query file holds exactly one"),
        )),
        [_, second, ..] => Err(Error::input(
            path,
            format!(
                "holds {} statements, the second on line {} (key `{key}`); a query file holds exactly one",
                statements.len(),
                second.line,
            ),
        )),
    }
}

/// The field a serde message names: "unknown field `atleast`" gives `atleast`.
fn named_field(message: &str) -> Option<&str> {
    let start = message.find("field `")? + "field `".len();
    let length = message[start..].find('`')?;
    Some(&message[start..start + length])
}

/// Where `field = …` starts in the entry that begins at `span` (a table's span may
/// cover only its header): the entry runs to the next header.
fn key_span(
    text: &str,
    span: std::ops::Range<usize>,
    field: &str,
) -> Option<std::ops::Range<usize>> {
    let mut position = span.start;
    for (index, line) in text.get(span.start..)?.split_inclusive('\n').enumerate() {
        let trimmed = line.trim_start();
        if index > 0 && trimmed.starts_with('[') {
            return None;
        }
        if trimmed
            .strip_prefix(field)
            .is_some_and(|rest| rest.trim_start().starts_with('='))
        {
            return Some(position..position + line.len());
        }
        position += line.len();
    }
    None
}

fn check_entry(
    report: &Reporter,
    index: usize,
    entry: &Spanned<toml::Table>,
    queries: &[Query],
    variants: &[Axis],
) -> Result<CheckEntry> {
    let mut table = entry.get_ref().clone();
    let name = match table.remove("check") {
        Some(toml::Value::String(name)) => name,
        _ => {
            return Err(report.at(
                entry.span(),
                &format!("check[{index}]"),
                "needs check = \"<name>\"",
            ));
        }
    };
    let key = format!("check[{index}] ({name})");
    let only = only_filter(report, entry, &key, table.remove("only"), variants)?;
    let check = judge::parse_check(&name, table).map_err(|message| {
        // Point at the offending key's own line when the message names one.
        let span = named_field(&message)
            .and_then(|field| key_span(report.text, entry.span(), field))
            .unwrap_or(entry.span());
        report.at(span, &key, message)
    })?;
    for query in check.queries() {
        if !queries.iter().any(|known| known.name == query) {
            let known: Vec<&str> = queries.iter().map(|q| q.name.as_str()).collect();
            return Err(report.at(
                entry.span(),
                &key,
                format!(
                    "names query {query:?}, which is not declared; declared: {}",
                    known.join(", ")
                ),
            ));
        }
    }
    let line = key_span(report.text, entry.span(), "check").unwrap_or(entry.span());
    Ok(CheckEntry {
        check,
        only,
        line: report.line(line),
    })
}

/// A check's `only`: the variant axes and values of the cells it judges, each axis
/// and value declared.
fn only_filter(
    report: &Reporter,
    entry: &Spanned<toml::Table>,
    key: &str,
    only: Option<toml::Value>,
    variants: &[Axis],
) -> Result<Vec<(usize, Vec<Value>)>> {
    match only {
        None => Ok(Vec::new()),
        Some(toml::Value::Table(filter)) => filter
            .iter()
            .map(|(axis, values)| {
                let position = variants
                    .iter()
                    .position(|a| a.name == *axis)
                    .ok_or_else(|| {
                        report.at(
                            entry.span(),
                            &format!("{key}.only.{axis}"),
                            format!(
                                "no variant axis {axis:?}; declared: {}",
                                variant_names(variants)
                            ),
                        )
                    })?;
                let values: Vec<Value> = match values {
                    toml::Value::Array(items) => items.iter().map(Value::from_toml).collect(),
                    single => vec![Value::from_toml(single)],
                };
                if let Some(unknown) = values
                    .iter()
                    .find(|v| !variants[position].values.contains(v))
                {
                    return Err(report.at(
                        entry.span(),
                        &format!("{key}.only.{axis}"),
                        format!(
                            "{unknown} ({}) is not a value of variant {axis}; its values: {}",
                            unknown.kind().name(),
                            variants[position]
                                .values
                                .iter()
                                .map(|v| format!("{v} ({})", v.kind().name()))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    ));
                }
                Ok((position, values))
            })
            .collect(),
        Some(other) => Err(report.at(
            entry.span(),
            &format!("{key}.only"),
            format!("{other} must be a table such as {{ state = [\"error\"] }}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::{normalize, parse_time_budget};
    use std::path::{Path, PathBuf};
    use std::time::Duration;

    #[test]
    fn time_budgets_need_a_positive_value_and_a_unit() {
        assert_eq!(parse_time_budget("60s", None), Ok(Duration::from_secs(60)));
        assert_eq!(
            parse_time_budget("1.5 s", None),
            Ok(Duration::from_millis(1500))
        );
        assert_eq!(
            parse_time_budget("250ms", None),
            Ok(Duration::from_millis(250))
        );
        assert_eq!(
            parse_time_budget("2min", None),
            Ok(Duration::from_secs(120))
        );
        assert_eq!(
            parse_time_budget("90", Some("s")),
            Ok(Duration::from_secs(90))
        );
        for refused in [
            "60", "0s", "-5s", "0.0001s", "sixty", "5 sec", "1e3s", "", "999h",
        ] {
            assert!(
                parse_time_budget(refused, None).is_err(),
                "{refused:?} is refused"
            );
        }
    }

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
