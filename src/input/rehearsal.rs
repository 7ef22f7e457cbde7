//! `[rehearsal]`: a scenario's migrations run on its pre-migration state while
//! traffic runs (`plancheck rehearse`). Checked here once, like the rest of a
//! scenario: every fixture read, every parameter resolved, every duration and rate
//! parsed, every `start_after` matched to exactly one step of each migration.

use std::time::Duration;

use toml::Spanned;

use super::scenario::{InvariantEntry, RehearsalSection, TrafficEntry};
use super::statements::split;
use super::{
    Axis, Dataset, Fixture, Param, Pick, Reporter, TargetSpec, param, parse_time_budget,
    resolve_fixture, sql_fixture,
};
use crate::error::Result;

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
}

/// A statement run at a rate while the migration runs.
#[derive(Debug, Clone)]
pub struct Traffic {
    pub name: String,
    pub sql: String,
    /// Where the statement is written, for errors: `scenarios/x.toml line 40` or the
    /// SQL file's path.
    pub origin: String,
    pub params: Vec<Param>,
    /// Executions per second over all its connections; positive.
    pub rate: f64,
    pub connections: u32,
    /// Text naming one step of each migration (matched case-insensitively, with runs
    /// of white space as one space); the statement starts once that step finishes.
    pub start_after: Option<String>,
    pub prepared: bool,
}

/// A query that must hold once the migration is done.
#[derive(Debug, Clone)]
pub struct Invariant {
    pub name: String,
    pub sql: String,
    /// Where it is declared: `line N`.
    pub line: usize,
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
    let scales = match raw.scales.is_empty() {
        true => vec![dataset.default_scale],
        false => raw.scales.clone(),
    };
    if scales.contains(&0) || scales.windows(2).any(|pair| pair[1] <= pair[0]) {
        return Err(at(
            "rehearsal.scales",
            format!("{scales:?}: give positive row counts in increasing order"),
        ));
    }
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
    let warm_up = duration("rehearsal.warm_up", &raw.warm_up, DEFAULT_WARM_UP)?;
    let tail = duration("rehearsal.tail", &raw.tail, DEFAULT_TAIL)?;
    let step_budget = duration(
        "rehearsal.step_budget",
        &raw.step_budget,
        DEFAULT_STEP_BUDGET,
    )?;
    let time_budget = duration(
        "rehearsal.time_budget",
        &raw.time_budget,
        DEFAULT_TIME_BUDGET,
    )?;
    let limits = raw.limits.as_ref();
    let max_stall = duration(
        "rehearsal.limits.max_stall",
        &limits.and_then(|limits| limits.max_stall.clone()),
        DEFAULT_MAX_STALL,
    )?;
    let failed_statements = limits
        .and_then(|limits| limits.failed_statements)
        .unwrap_or(0);

    if raw.migrations.is_empty() {
        return Err(at(
            "rehearsal.migration",
            "no [[rehearsal.migration]] is declared; name the migration files to rehearse".into(),
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
        migrations.push(RehearsedMigration {
            name: migration.name.clone(),
            fixtures,
        });
    }

    if raw.traffic.is_empty() {
        return Err(at(
            "rehearsal.traffic",
            "no [[rehearsal.traffic]] is declared; a rehearsal measures what traffic feels, so declare at least one statement".into(),
        ));
    }
    let mut traffic: Vec<Traffic> = Vec::new();
    for entry in &raw.traffic {
        let stream = traffic_entry(
            report,
            entry,
            &traffic,
            &migrations,
            dataset,
            picks,
            target,
            variants,
        )?;
        traffic.push(stream);
    }
    let invariants = raw
        .invariants
        .iter()
        .map(|entry| invariant(report, entry, dataset))
        .collect::<Result<Vec<_>>>()?;
    let mut names: Vec<&str> = invariants
        .iter()
        .map(|invariant| invariant.name.as_str())
        .collect();
    names.sort_unstable();
    if let Some(pair) = names.windows(2).find(|pair| pair[0] == pair[1]) {
        return Err(at(
            "rehearsal.invariant",
            format!("two invariants are named {:?}", pair[0]),
        ));
    }
    Ok(RehearsalSpec {
        schema,
        leave_out,
        scales,
        warm_up,
        tail,
        step_budget,
        time_budget,
        max_stall,
        failed_statements,
        migrations,
        traffic,
        invariants,
    })
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

#[allow(clippy::too_many_arguments)]
fn traffic_entry(
    report: &Reporter,
    entry: &Spanned<TrafficEntry>,
    earlier: &[Traffic],
    migrations: &[RehearsedMigration],
    dataset: &Dataset,
    picks: &[Pick],
    target: Option<&TargetSpec>,
    variants: &[Axis],
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
    let (sql, origin) = match (&raw.sql, &raw.file) {
        (Some(sql), None) => (sql.clone(), report.locate(entry.span(), &key("sql"))),
        (None, Some(file)) => {
            let path = resolve_fixture(report.path, &key("file"), file)?;
            (super::read_sql(&path)?, path.display().to_string())
        }
        _ => {
            return Err(at(
                "sql",
                "give the statement either inline (sql = \"…\") or in a file (file = \"…\"), not both".into(),
            ));
        }
    };
    match split(&sql).len() {
        1 => {}
        count => {
            return Err(at(
                "sql",
                format!("holds {count} statements; a traffic entry runs exactly one"),
            ));
        }
    }
    let rate = match &raw.rate {
        toml::Value::Integer(number) => *number as f64,
        toml::Value::Float(number) => *number,
        other => {
            return Err(at(
                "rate",
                format!("{other} is not a number of executions per second"),
            ));
        }
    };
    if !(rate > 0.0 && rate.is_finite()) {
        return Err(at(
            "rate",
            format!(
                "{rate} executions per second would never run the statement; give a positive rate"
            ),
        ));
    }
    if raw.connections > MAX_CONNECTIONS {
        return Err(at(
            "connections",
            format!(
                "{} connections for one stream is more than a rehearsal opens ({MAX_CONNECTIONS} at most per stream): a server's max_connections is often 100",
                raw.connections
            ),
        ));
    }
    if raw.connections == 0 {
        return Err(at(
            "connections",
            "0 connections cannot run anything; give at least 1".into(),
        ));
    }
    if rate > MAX_RATE_PER_CONNECTION * f64::from(raw.connections) {
        return Err(at(
            "rate",
            format!(
                "{rate} per second over {} connection(s) is more than one connection can run ({MAX_RATE_PER_CONNECTION} per second at most); add connections or lower the rate",
                raw.connections
            ),
        ));
    }
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
            param(value, picks, dataset, target, variants).map_err(|message| at("params", message))
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

fn invariant(
    report: &Reporter,
    entry: &Spanned<InvariantEntry>,
    dataset: &Dataset,
) -> Result<Invariant> {
    let raw = entry.get_ref();
    let key = |field: &str| format!("rehearsal.invariant \"{}\".{field}", raw.name);
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
