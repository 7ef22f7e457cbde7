//! `[rehearsal]`: a scenario's migrations run on its pre-migration state while
//! traffic runs (`plancheck rehearse`). Checked here once, like the rest of a
//! scenario: every fixture read, every parameter resolved, every duration and rate
//! parsed, every `start_after` matched to exactly one step of each migration.

use std::path::PathBuf;
use std::time::Duration;

use toml::Spanned;

use super::scenario::{InvariantEntry, RehearsalSection, TrafficEntry};
use super::statements::split;
use super::{
    Axis, Dataset, Fixture, Param, Pick, Reporter, TargetSpec, param, parse_time_budget,
    resolve_fixture, sql_fixture,
};
use crate::error::{Error, Result};

/// The longest stall a traffic statement may see when the scenario does not say.
pub const DEFAULT_MAX_STALL: Duration = Duration::from_millis(250);
pub const DEFAULT_WARM_UP: Duration = Duration::from_secs(2);
pub const DEFAULT_TAIL: Duration = Duration::from_secs(2);
pub const DEFAULT_STEP_BUDGET: Duration = Duration::from_secs(10 * 60);
pub const DEFAULT_TIME_BUDGET: Duration = Duration::from_secs(30 * 60);
/// Executions per second one traffic connection is asked for at most: a rate above
/// this for its connections is a typo (the check of what they can really do comes
/// after the warm-up, on the server).
pub const MAX_RATE_PER_CONNECTION: f64 = 5_000.0;

/// The most connections one traffic stream may open.
pub const MAX_CONNECTIONS: u32 = 32;

/// A validated `[rehearsal]`.
#[derive(Debug, Clone)]
pub struct RehearsalSpec {
    /// The pre-migration schema, in the order it is applied.
    pub schema: Vec<Fixture>,
    /// `(table, column)` of the dataset's model: generated but not written.
    pub leave_out: Vec<(usize, usize)>,
    /// Increasing; at least one.
    pub scales: Vec<u64>,
    pub warm_up: Duration,
    pub tail: Duration,
    pub step_budget: Duration,
    pub time_budget: Duration,
    pub max_stall: Duration,
    pub failed_statements: u64,
    pub migrations: Vec<RehearsedMigration>,
    pub traffic: Vec<Traffic>,
    pub invariants: Vec<Invariant>,
}

/// One migration to rehearse, its files in order.
#[derive(Debug, Clone)]
pub struct RehearsedMigration {
    pub name: String,
    pub fixtures: Vec<Fixture>,
    /// Checked after this migration only, beside the scenario's.
    pub invariants: Vec<Invariant>,
}

/// A statement run at a rate while the migration runs.
#[derive(Debug, Clone)]
pub struct Traffic {
    pub name: String,
    pub sql: String,
    /// Where the statement is written, for the errors found on the server.
    pub origin: Origin,
    pub params: Vec<Param>,
    /// Executions per second over all its connections; positive.
    pub rate: f64,
    pub connections: u32,
    /// Text naming one step of each migration (matched case-insensitively, with runs
    /// of white space as one space); the statement starts once that step finishes.
    pub start_after: Option<String>,
    pub prepared: bool,
}

/// Where a traffic statement is written: the file, and in a scenario file the line
/// and key.
#[derive(Debug, Clone)]
pub struct Origin {
    pub file: PathBuf,
    /// `line 40: key `rehearsal.traffic "writer".sql``, for a statement written inline.
    pub at: Option<String>,
}

impl Traffic {
    /// Bad input found in this statement on the server, naming its file (and line
    /// and key) first.
    pub fn error(&self, message: impl std::fmt::Display) -> Error {
        match &self.origin.at {
            Some(at) => Error::input(&self.origin.file, format!("{at}: {message}")),
            None => Error::input(&self.origin.file, message.to_string()),
        }
    }
}

/// A query that must hold once the migration is done.
#[derive(Debug, Clone)]
pub struct Invariant {
    pub name: String,
    pub sql: String,
    /// Where it is declared: `line N` of the scenario, under this key
    /// (`rehearsal.invariant "name"`, `rehearsal.migration "m".invariant "name"`).
    pub line: usize,
    pub key: String,
    /// What a count must equal; `None` for a query that must return true (or a count
    /// that must be 0: the result's type decides, on the server).
    pub expect: Option<Vec<CountTerm>>,
}

/// A term of an invariant's expected count.
#[derive(Debug, Clone, PartialEq)]
pub enum CountTerm {
    Number(i64),
    /// The rows seeded into a dataset table.
    Seeded(String),
    /// The rows the traffic's acknowledged statements inserted into a table.
    Inserted(String),
}

/// `text` with runs of white space as one space, lower-cased: how `start_after`
/// matches a step.
pub fn normalized(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// The 1-based index of the one statement of `fixtures` that `needle` names, or what
/// is wrong.
pub fn step_named(fixtures: &[Fixture], needle: &str) -> std::result::Result<usize, String> {
    let needle = normalized(needle);
    let statements: Vec<(String, usize, String)> = fixtures
        .iter()
        .flat_map(|fixture| {
            split(&fixture.sql).into_iter().map(|statement| {
                (
                    fixture.path.display().to_string(),
                    statement.line,
                    statement.sql,
                )
            })
        })
        .collect();
    let found: Vec<usize> = statements
        .iter()
        .enumerate()
        .filter(|(_, (_, _, sql))| normalized(sql).contains(&needle))
        .map(|(index, _)| index + 1)
        .collect();
    match found[..] {
        [one] => Ok(one),
        [] => Err(format!(
            "no step contains {needle:?} ({} steps)",
            statements.len()
        )),
        _ => Err(format!(
            "{} steps contain {needle:?} (at {}); give more of the one meant",
            found.len(),
            found
                .iter()
                .map(|index| {
                    let (file, line, _) = &statements[index - 1];
                    format!("{file}:{line}")
                })
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// The references every part of `[rehearsal]` is checked against.
struct Known<'a> {
    dataset: &'a Dataset,
    picks: &'a [Pick],
    target: Option<&'a TargetSpec>,
    variants: &'a [Axis],
}

/// The durations and limits of `[rehearsal]`, with their defaults.
struct Timings {
    warm_up: Duration,
    tail: Duration,
    step_budget: Duration,
    time_budget: Duration,
    max_stall: Duration,
    failed_statements: u64,
}

pub(super) fn rehearsal_spec(
    report: &Reporter,
    section: &Spanned<RehearsalSection>,
    dataset: &Dataset,
    picks: &[Pick],
    target: Option<&TargetSpec>,
    variants: &[Axis],
) -> Result<RehearsalSpec> {
    let raw = section.get_ref();
    let at = |key: &str, message: String| report.at(section.span(), key, message);
    if !variants.is_empty() {
        return Err(at(
            "rehearsal",
            "a rehearsal runs once per migration and scale, so its scenario cannot declare [variants]".into(),
        ));
    }
    let known = Known {
        dataset,
        picks,
        target,
        variants,
    };
    let schema = match raw.schema.is_empty() {
        true => dataset.schema.clone(),
        false => fixtures(report, "rehearsal.schema", &raw.schema)?,
    };
    let leave_out = raw
        .leave_out
        .iter()
        .map(|name| {
            leave_out_column(dataset, name).map_err(|message| at("rehearsal.leave_out", message))
        })
        .collect::<Result<Vec<_>>>()?;
    let scales = scales(report, section, dataset)?;
    let timings = timings(report, section)?;
    let invariants = invariants(report, section, dataset)?;
    let migrations = migrations(report, section, dataset, &invariants)?;
    let traffic = traffic(report, section, &migrations, &known)?;
    Ok(RehearsalSpec {
        schema,
        leave_out,
        scales,
        warm_up: timings.warm_up,
        tail: timings.tail,
        step_budget: timings.step_budget,
        time_budget: timings.time_budget,
        max_stall: timings.max_stall,
        failed_statements: timings.failed_statements,
        migrations,
        traffic,
        invariants,
    })
}

/// `scales`: positive and increasing; the dataset's default scale when left out.
fn scales(
    report: &Reporter,
    section: &Spanned<RehearsalSection>,
    dataset: &Dataset,
) -> Result<Vec<u64>> {
    let raw = section.get_ref();
    let scales = match raw.scales.is_empty() {
        true => vec![dataset.default_scale],
        false => raw.scales.clone(),
    };
    if scales.contains(&0) || scales.windows(2).any(|pair| pair[1] <= pair[0]) {
        return Err(report.at(
            section.span(),
            "rehearsal.scales",
            format!("{scales:?}: give positive row counts in increasing order"),
        ));
    }
    Ok(scales)
}

/// The warm-up, tail, budgets and limits, each parsed or defaulted.
fn timings(report: &Reporter, section: &Spanned<RehearsalSection>) -> Result<Timings> {
    let raw = section.get_ref();
    let at = |key: &str, message: String| report.at(section.span(), key, message);
    let duration = |key: &str, value: &Option<toml::Value>, default: Duration| match value {
        None => Ok(default),
        Some(toml::Value::String(text)) => {
            parse_time_budget(text, None).map_err(|message| at(key, format!("{text:?} {message}")))
        }
        Some(other) => Err(at(
            key,
            format!("{other} is not a duration; write it as a string with its unit, as in \"2s\""),
        )),
    };
    let limits = raw.limits.as_ref();
    Ok(Timings {
        warm_up: duration("rehearsal.warm_up", &raw.warm_up, DEFAULT_WARM_UP)?,
        tail: duration("rehearsal.tail", &raw.tail, DEFAULT_TAIL)?,
        step_budget: duration(
            "rehearsal.step_budget",
            &raw.step_budget,
            DEFAULT_STEP_BUDGET,
        )?,
        time_budget: duration(
            "rehearsal.time_budget",
            &raw.time_budget,
            DEFAULT_TIME_BUDGET,
        )?,
        max_stall: duration(
            "rehearsal.limits.max_stall",
            &limits.and_then(|limits| limits.max_stall.clone()),
            DEFAULT_MAX_STALL,
        )?,
        failed_statements: limits
            .and_then(|limits| limits.failed_statements)
            .unwrap_or(0),
    })
}

/// Every `[[rehearsal.migration]]`: at least one, each named anew, its fixtures read
/// and holding SQL, its own invariants named apart from the scenario's.
fn migrations(
    report: &Reporter,
    section: &Spanned<RehearsalSection>,
    dataset: &Dataset,
    shared: &[Invariant],
) -> Result<Vec<RehearsedMigration>> {
    let raw = section.get_ref();
    if raw.migrations.is_empty() {
        return Err(report.at(
            section.span(),
            "rehearsal.migration",
            "no [[rehearsal.migration]] is declared; name the migration files to rehearse",
        ));
    }
    let mut migrations: Vec<RehearsedMigration> = Vec::new();
    for entry in &raw.migrations {
        let migration = entry.get_ref();
        let key = format!("rehearsal.migration \"{}\"", migration.name);
        if !valid_name(&migration.name) || migrations.iter().any(|seen| seen.name == migration.name)
        {
            return Err(report.at(
                entry.span(),
                &format!("{key}.name"),
                "must be a new name of letters, digits, - and _ (it names report files)",
            ));
        }
        if migration.fixtures.is_empty() {
            return Err(report.at(entry.span(), &format!("{key}.fixtures"), "lists no fixture"));
        }
        let fixtures = fixtures(report, &format!("{key}.fixtures"), &migration.fixtures)?;
        if fixtures
            .iter()
            .all(|fixture| split(&fixture.sql).is_empty())
        {
            return Err(report.at(
                entry.span(),
                &format!("{key}.fixtures"),
                "hold no SQL statement",
            ));
        }
        let prefix = format!("rehearsal.migration \"{}\"", migration.name);
        let invariants = migration
            .invariants
            .iter()
            .map(|entry| invariant(report, entry, dataset, &prefix))
            .collect::<Result<Vec<_>>>()?;
        if let Some(name) = duplicate_name(shared.iter().chain(&invariants)) {
            return Err(report.at(
                entry.span(),
                &format!("{prefix}.invariant"),
                format!("two invariants checked after it are named {name:?}"),
            ));
        }
        migrations.push(RehearsedMigration {
            name: migration.name.clone(),
            fixtures,
            invariants,
        });
    }
    Ok(migrations)
}

/// Every `[[rehearsal.traffic]]`: at least one, each checked against the migrations
/// (its `start_after`) and the scenario's picks, target and dataset (its `params`).
fn traffic(
    report: &Reporter,
    section: &Spanned<RehearsalSection>,
    migrations: &[RehearsedMigration],
    known: &Known,
) -> Result<Vec<Traffic>> {
    let raw = section.get_ref();
    if raw.traffic.is_empty() {
        return Err(report.at(
            section.span(),
            "rehearsal.traffic",
            "no [[rehearsal.traffic]] is declared; a rehearsal measures what traffic feels, so declare at least one statement",
        ));
    }
    let mut traffic: Vec<Traffic> = Vec::new();
    for entry in &raw.traffic {
        let stream = traffic_entry(report, entry, &traffic, migrations, known)?;
        traffic.push(stream);
    }
    Ok(traffic)
}

/// Every `[[rehearsal.invariant]]`, each named once.
fn invariants(
    report: &Reporter,
    section: &Spanned<RehearsalSection>,
    dataset: &Dataset,
) -> Result<Vec<Invariant>> {
    let invariants = section
        .get_ref()
        .invariants
        .iter()
        .map(|entry| invariant(report, entry, dataset, "rehearsal"))
        .collect::<Result<Vec<_>>>()?;
    if let Some(name) = duplicate_name(&invariants) {
        return Err(report.at(
            section.span(),
            "rehearsal.invariant",
            format!("two invariants are named {name:?}"),
        ));
    }
    Ok(invariants)
}

/// A name two of `invariants` share, if any.
fn duplicate_name<'a>(invariants: impl IntoIterator<Item = &'a Invariant>) -> Option<String> {
    let mut names: Vec<&str> = invariants
        .into_iter()
        .map(|invariant| invariant.name.as_str())
        .collect();
    names.sort_unstable();
    names
        .windows(2)
        .find(|pair| pair[0] == pair[1])
        .map(|pair| pair[0].to_owned())
}

/// A label: what a report calls a traffic stream or an invariant.
fn valid_label(name: &str) -> bool {
    !name.trim().is_empty() && name.chars().count() <= 80 && !name.chars().any(char::is_control)
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn fixtures(report: &Reporter, key: &str, relative: &[String]) -> Result<Vec<Fixture>> {
    relative
        .iter()
        .map(|relative| sql_fixture(report.path, key, relative))
        .collect()
}

/// `table.column` of the dataset, as `(table, column)` indexes.
fn leave_out_column(dataset: &Dataset, name: &str) -> std::result::Result<(usize, usize), String> {
    let (table_name, column_name) = name
        .rsplit_once('.')
        .ok_or_else(|| format!("{name:?}: write \"<table>.<column>\""))?;
    let table = dataset.table(table_name).ok_or_else(|| {
        format!(
            "{name:?}: the dataset has no table {table_name:?}; it has {}",
            dataset
                .model
                .tables
                .iter()
                .map(|table| table.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )
    })?;
    let model = &dataset.model.tables[table];
    let column = model
        .columns
        .iter()
        .position(|column| column.name == column_name)
        .ok_or_else(|| {
            format!(
                "{name:?}: the dataset generates no column {column_name:?} in {table_name}; it generates {}",
                model
                    .columns
                    .iter()
                    .map(|column| column.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })?;
    Ok((table, column))
}

fn traffic_entry(
    report: &Reporter,
    entry: &Spanned<TrafficEntry>,
    earlier: &[Traffic],
    migrations: &[RehearsedMigration],
    known: &Known,
) -> Result<Traffic> {
    let raw = entry.get_ref();
    let key = |field: &str| format!("rehearsal.traffic \"{}\".{field}", raw.name);
    let at = |field: &str, message: String| report.at(entry.span(), &key(field), message);
    if !valid_label(&raw.name) || earlier.iter().any(|seen| seen.name == raw.name) {
        return Err(at(
            "name",
            "must be a new, non-empty name of at most 80 characters".into(),
        ));
    }
    let (sql, origin) = traffic_statement(report, entry)?;
    let rate = traffic_rate(raw).map_err(|message| at("rate", message))?;
    check_connections(raw.connections, rate).map_err(|(field, message)| at(field, message))?;
    if let Some(needle) = &raw.start_after {
        for migration in migrations {
            step_named(&migration.fixtures, needle).map_err(|message| {
                at(
                    "start_after",
                    format!("in migration {:?}: {message}", migration.name),
                )
            })?;
        }
    }
    let params = raw
        .params
        .iter()
        .map(|value| {
            param(
                value,
                known.picks,
                known.dataset,
                known.target,
                known.variants,
            )
            .map_err(|message| at("params", message))
        })
        .collect::<Result<_>>()?;
    Ok(Traffic {
        name: raw.name.clone(),
        sql,
        origin,
        params,
        rate,
        connections: raw.connections,
        start_after: raw.start_after.clone(),
        prepared: raw.prepared,
    })
}

/// A traffic entry's one statement, inline or from its file, and where it is
/// written (for errors found later, on the server).
fn traffic_statement(report: &Reporter, entry: &Spanned<TrafficEntry>) -> Result<(String, Origin)> {
    let raw = entry.get_ref();
    let key = |field: &str| format!("rehearsal.traffic \"{}\".{field}", raw.name);
    let (sql, origin) = match (&raw.sql, &raw.file) {
        (Some(sql), None) => (
            sql.clone(),
            Origin {
                file: report.path.to_owned(),
                at: Some(report.locate(entry.span(), &key("sql"))),
            },
        ),
        (None, Some(file)) => {
            let path = resolve_fixture(report.path, &key("file"), file)?;
            let sql = super::read_sql(&path)?;
            (
                sql,
                Origin {
                    file: path,
                    at: None,
                },
            )
        }
        _ => {
            return Err(report.at(
                entry.span(),
                &key("sql"),
                "give the statement either inline (sql = \"…\") or in a file (file = \"…\"), not both",
            ));
        }
    };
    match split(&sql).len() {
        1 => Ok((sql, origin)),
        count => Err(report.at(
            entry.span(),
            &key("sql"),
            format!("holds {count} statements; a traffic entry runs exactly one"),
        )),
    }
}

/// A traffic entry's rate: a positive, finite number of executions per second.
fn traffic_rate(raw: &TrafficEntry) -> std::result::Result<f64, String> {
    let rate = match &raw.rate {
        toml::Value::Integer(number) => *number as f64,
        toml::Value::Float(number) => *number,
        other => return Err(format!("{other} is not a number of executions per second")),
    };
    if !(rate > 0.0 && rate.is_finite()) {
        return Err(format!(
            "{rate} executions per second would never run the statement; give a positive rate"
        ));
    }
    Ok(rate)
}

/// Whether `connections` can run `rate`: at least one, at most [`MAX_CONNECTIONS`],
/// and no more than [`MAX_RATE_PER_CONNECTION`] each; the key at fault and why.
fn check_connections(
    connections: u32,
    rate: f64,
) -> std::result::Result<(), (&'static str, String)> {
    if connections > MAX_CONNECTIONS {
        return Err((
            "connections",
            format!(
                "{connections} connections for one stream is more than a rehearsal opens ({MAX_CONNECTIONS} at most per stream): a server's max_connections is often 100"
            ),
        ));
    }
    if connections == 0 {
        return Err((
            "connections",
            "0 connections cannot run anything; give at least 1".into(),
        ));
    }
    if rate > MAX_RATE_PER_CONNECTION * f64::from(connections) {
        return Err((
            "rate",
            format!(
                "{rate} per second over {connections} connection(s) is more than one connection can run ({MAX_RATE_PER_CONNECTION} per second at most); add connections or lower the rate"
            ),
        ));
    }
    Ok(())
}

/// One invariant, declared under `prefix` (`rehearsal`, or a migration's key).
fn invariant(
    report: &Reporter,
    entry: &Spanned<InvariantEntry>,
    dataset: &Dataset,
    prefix: &str,
) -> Result<Invariant> {
    let raw = entry.get_ref();
    let own_key = format!("{prefix}.invariant \"{}\"", raw.name);
    let key = |field: &str| format!("{own_key}.{field}");
    let at = |field: &str, message: String| report.at(entry.span(), &key(field), message);
    if !valid_label(&raw.name) {
        return Err(at(
            "name",
            "must be a non-empty name of at most 80 characters".into(),
        ));
    }
    if split(&raw.sql).len() != 1 {
        return Err(at(
            "sql",
            "must be exactly one query returning one boolean or one count".into(),
        ));
    }
    let expect = match &raw.expect {
        None => None,
        Some(toml::Value::Integer(number)) => Some(vec![CountTerm::Number(*number)]),
        Some(toml::Value::String(text)) => {
            Some(count_terms(text, dataset).map_err(|message| at("expect", message))?)
        }
        Some(other) => {
            return Err(at(
                "expect",
                format!(
                    "{other} is not a count: write a number or a sum such as \"seeded(t) + inserted(t)\""
                ),
            ));
        }
    };
    let line = report.text[..entry.span().start.min(report.text.len())]
        .matches('\n')
        .count()
        + 1;
    Ok(Invariant {
        name: raw.name.clone(),
        sql: raw.sql.clone(),
        line,
        key: own_key,
        expect,
    })
}

/// `seeded(t) + inserted(t) + 3`.
fn count_terms(text: &str, dataset: &Dataset) -> std::result::Result<Vec<CountTerm>, String> {
    let syntax = "write a sum of numbers, seeded(<table>) and inserted(<table>)";
    text.split('+')
        .map(|term| {
            let term = term.trim();
            if let Ok(number) = term.parse::<i64>() {
                return Ok(CountTerm::Number(number));
            }
            let (function, rest) = term
                .split_once('(')
                .ok_or_else(|| format!("{text:?}: {term:?} is not a term; {syntax}"))?;
            let table = rest
                .strip_suffix(')')
                .ok_or_else(|| format!("{text:?}: {term:?} is not a term; {syntax}"))?
                .trim()
                .to_owned();
            match function.trim() {
                "seeded" if dataset.table(&table).is_some() => Ok(CountTerm::Seeded(table)),
                "seeded" => Err(format!("{text:?}: the dataset seeds no table {table:?}")),
                "inserted"
                    if !table.is_empty()
                        && table
                            .chars()
                            .all(|c| c.is_alphanumeric() || "_.\"$".contains(c)) =>
                {
                    Ok(CountTerm::Inserted(table))
                }
                "inserted" => Err(format!("{text:?}: {table:?} is not a table name; {syntax}")),
                other => Err(format!(
                    "{text:?}: {other:?} is not seeded or inserted; {syntax}"
                )),
            }
        })
        .collect()
}

impl RehearsalSpec {
    /// The migration's statements' 1-based index that `traffic` starts after, if any.
    pub fn start_step(&self, traffic: &Traffic, migration: &RehearsedMigration) -> Option<usize> {
        traffic
            .start_after
            .as_ref()
            .and_then(|needle| step_named(&migration.fixtures, needle).ok())
    }
}
