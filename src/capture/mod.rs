//! Stage 6: capture. Binds each query's parameters (target row, literals, variant
//! values, rows picked from the data), runs `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON)`
//! (which warms the cache), records the rows each query returns (a run that is also its
//! first timing sample), times the queries and reads the catalog facts the checks need,
//! every plain run of a query under the time budget.

pub mod timing;

use std::path::Path;
use std::time::{Duration, Instant};

use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Statement};

use crate::error::{Error, Result};
use crate::input::{Param, PickSource, Query, Scenario};
use crate::outcome::{
    AnalyzeCancelled, DigestBuilder, Phase, QueryEvidence, ResultDigest, SamplingStop, SchemaState,
    TimedOut, Timing,
};
use crate::plan::{Catalog, Plan};
use crate::progress::{PhaseClock, Progress};
use crate::schema::sql_error;
use crate::value::Value;
use timing::{Comparison, TimingOptions};

/// A query prepared on the server with its parameter values.
pub struct BoundQuery {
    pub name: String,
    pub file: String,
    pub state: SchemaState,
    /// The SQL without a trailing semicolon.
    pub sql: String,
    pub statement: Statement,
    pub values: Vec<Value>,
}

impl BoundQuery {
    /// The parameter values as tokio-postgres takes them.
    pub fn params(&self) -> Vec<&(dyn ToSql + Sync)> {
        self.values
            .iter()
            .map(|value| value as &(dyn ToSql + Sync))
            .collect()
    }
}

/// What parameters are bound from in one variant: the target row, the variant's
/// values and the picked rows.
pub struct Bindings<'a> {
    pub target: &'a [Value],
    pub variant: &'a [Value],
    /// Each pick's row: column names and values.
    pub picks: Vec<(Vec<String>, Vec<Value>)>,
}

impl Bindings<'_> {
    fn value(&self, param: &Param) -> std::result::Result<Value, String> {
        Ok(match param {
            Param::Target(column, _) => self.target.get(*column).cloned().unwrap_or(Value::Null),
            Param::Literal(value) => value.clone(),
            Param::Variant(axis) => self.variant[*axis].clone(),
            Param::Pick(pick, column) => {
                let (columns, values) = &self.picks[*pick];
                let index = columns
                    .iter()
                    .position(|name| name == column)
                    .ok_or_else(|| {
                        format!(
                            "the pick returns no column {column:?}; it returns {}",
                            columns.join(", ")
                        )
                    })?;
                values[index].clone()
            }
        })
    }
}

fn trimmed(sql: &str) -> String {
    sql.trim_end().trim_end_matches(';').trim_end().to_owned()
}

/// Prepares a query, mapping an error in its SQL to its file and line, and checks the
/// parameter count against the scenario.
pub async fn prepare(client: &Client, scenario: &Scenario, query: &Query) -> Result<Statement> {
    let sql = trimmed(&query.sql);
    let statement = client
        .prepare(&sql)
        .await
        .map_err(|error| sql_error(&query.path, &sql, 1, error))?;
    if statement.params().len() != query.params.len() {
        return Err(Error::input(
            &scenario.path,
            format!(
                "key `query \"{}\".params`: {} uses {} parameter(s) but params lists {}",
                query.name,
                query.path.display(),
                statement.params().len(),
                query.params.len()
            ),
        ));
    }
    Ok(statement)
}

/// Checks that the result columns the scenario's checks name are among those the
/// prepared `statements` (by query name) return.
pub fn check_result_columns(scenario: &Scenario, statements: &[(&str, &Statement)]) -> Result<()> {
    for (index, entry) in scenario.checks.iter().enumerate() {
        for (query, column) in entry.check.result_columns() {
            let Some((_, statement)) = statements.iter().find(|(name, _)| *name == query) else {
                continue;
            };
            let returned: Vec<&str> = statement.columns().iter().map(|c| c.name()).collect();
            if !returned.contains(&column) {
                return Err(Error::input(
                    &scenario.path,
                    format!(
                        "key `check[{index}] ({})`: names result column {column:?}, which query {query} does not return; it returns {}",
                        entry.check.name(),
                        returned.join(", ")
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// Checks that the tables and columns the checks of queries in `state` name exist in
/// the schema: before seeding for the schema as built, after the migration for the
/// rest.
pub async fn check_relations(
    client: &Client,
    scenario: &Scenario,
    state: SchemaState,
) -> Result<()> {
    for (index, entry) in scenario.checks.iter().enumerate() {
        let in_state = entry.check.queries().iter().any(|name| {
            scenario
                .query(name)
                .is_some_and(|query| query.state == state)
        });
        if !in_state {
            continue;
        }
        for (table, column) in entry.check.relations() {
            let row = client
                .query_one(
                    "SELECT to_regclass($1) IS NOT NULL, EXISTS (SELECT 1 FROM pg_attribute \
                     WHERE attrelid = to_regclass($1) AND attname = $2 AND attnum > 0 AND NOT attisdropped)",
                    &[&crate::load::quoted(table), &column.unwrap_or("")],
                )
                .await
                .map_err(Error::database("looking up the tables the checks name"))?;
            let (table_exists, column_exists): (bool, bool) = (row.get(0), row.get(1));
            let problem = match (table_exists, column) {
                (false, _) => format!("table {table:?} is not in the schema"),
                (true, Some(column)) if !column_exists => {
                    format!("table {table} has no column {column:?}")
                }
                _ => continue,
            };
            return Err(Error::input(
                &scenario.path,
                format!(
                    "key `check[{index}] ({})`: {problem}; a misspelt name would never match a plan node",
                    entry.check.name()
                ),
            ));
        }
    }
    Ok(())
}

/// Prepares each pick's SQL on the empty schema, so its errors come before seeding.
pub async fn prepare_picks(client: &Client, scenario: &Scenario) -> Result<()> {
    for pick in &scenario.picks {
        let Some(sql) = pick.sql() else { continue };
        client
            .prepare(&trimmed(sql))
            .await
            .map_err(|error| match error.as_db_error() {
                Some(_) => Error::input(
                    &scenario.path,
                    format!(
                        "key `pick \"{}\".sql`: the server rejects it: {}",
                        pick.name,
                        crate::error::ServerError(&error)
                    ),
                ),
                None => Error::database(format!("preparing pick {}", pick.name))(error),
            })?;
    }
    Ok(())
}

/// Runs each pick of the scenario for one variant and returns its row; the session
/// runs them under the time budget `budget`. `generated` holds, per pick, the values
/// of a `row` pick's generated row (`None` for the others).
pub async fn picks(
    client: &Client,
    scenario: &Scenario,
    (target, variant): (&[Value], &[Value]),
    generated: &[Option<Vec<Value>>],
    budget: Duration,
) -> Result<Vec<(Vec<String>, Vec<Value>)>> {
    let mut bindings = Bindings {
        target,
        variant,
        picks: Vec::new(),
    };
    for (index, pick) in scenario.picks.iter().enumerate() {
        let key = format!("key `pick \"{}\"`", pick.name);
        let row = match &pick.source {
            PickSource::Row(spec) => {
                let table = &scenario.dataset.model.tables[spec.table];
                let columns = table.columns.iter().map(|c| c.name.clone()).collect();
                let values = generated.get(index).cloned().flatten().ok_or_else(|| {
                    Error::Usage(format!("{key}: its row was not generated for this run"))
                })?;
                (columns, values)
            }
            PickSource::Sql { sql, params } => {
                let values = params
                    .iter()
                    .map(|param| bindings.value(param))
                    .collect::<std::result::Result<Vec<_>, _>>()
                    .map_err(|message| Error::input(&scenario.path, format!("{key}: {message}")))?;
                first_row(client, scenario, pick, (sql, &values), variant, budget).await?
            }
            PickSource::Absent { sql, table, column } => {
                let (columns, values) =
                    first_row(client, scenario, pick, (sql, &[]), variant, budget).await?;
                let absent = one_past(&values[0])
                    .map_err(|message| Error::input(&scenario.path, format!("{key}: {message}")))?;
                held_by_no_row(client, (table, column), &absent)
                    .await
                    .map_err(|message| Error::input(&scenario.path, format!("{key}: {message}")))?;
                (columns, vec![absent])
            }
        };
        bindings.picks.push(row);
    }
    Ok(bindings.picks)
}

/// The first row `sql` returns, bound to `values`: its column names and values.
async fn first_row(
    client: &Client,
    scenario: &Scenario,
    pick: &crate::input::Pick,
    (sql, values): (&str, &[Value]),
    variant: &[Value],
    budget: Duration,
) -> Result<(Vec<String>, Vec<Value>)> {
    let key = format!("key `pick \"{}\"`", pick.name);
    let params: Vec<&(dyn ToSql + Sync)> =
        values.iter().map(|v| v as &(dyn ToSql + Sync)).collect();
    let clock = Instant::now();
    let rows = client
        .query(&trimmed(sql), &params)
        .await
        .map_err(|error| pick_error(scenario, pick, error, clock.elapsed(), budget))?;
    let row = rows.first().ok_or_else(|| {
        Error::input(
            &scenario.path,
            format!(
                "{key}: its SQL returned no row for the variant [{}]; a pick needs one row (at a small --scale the data may be too thin for it)",
                scenario
                    .variants
                    .iter()
                    .zip(variant)
                    .map(|(axis, value)| format!("{}={value}", axis.name))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
    })?;
    let columns: Vec<String> = row
        .columns()
        .iter()
        .map(|column| column.name().to_owned())
        .collect();
    let values = (0..columns.len())
        .map(|index| row.try_get::<_, Value>(index))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|error| Error::input(&scenario.path, format!("{key}: {error}")))?;
    Ok((columns, values))
}

/// What a pick's failed SQL is: bad input (its parameters, its SQL, its cost under
/// the time budget) or the server's trouble.
fn pick_error(
    scenario: &Scenario,
    pick: &crate::input::Pick,
    error: tokio_postgres::Error,
    elapsed: Duration,
    budget: Duration,
) -> Error {
    let key = format!("key `pick \"{}\"`", pick.name);
    match (parameter_error(&error), infrastructure(&error)) {
        (Some(message), _) => Error::input(&scenario.path, format!("{key}: {message}")),
        (None, _) if timed_out(&error, elapsed, budget) => Error::input(
            &scenario.path,
            format!(
                "{key}: ran past the time budget, which picks run under too; make the pick cheaper (an index, a LIMIT) or raise time_budget"
            ),
        ),
        (None, false) => Error::input(
            &scenario.path,
            format!(
                "{key}: the server rejects its SQL: {}",
                crate::error::ServerError(&error)
            ),
        ),
        (None, true) => Error::database(infrastructure_context(
            format!("running pick {}", pick.name),
            &error,
        ))(error),
    }
}

/// A value just past `largest`, the largest a column holds, of the same kind: a key
/// no row has.
pub fn one_past(largest: &Value) -> std::result::Result<Value, String> {
    const DAY_MICROSECONDS: i64 = 86_400_000_000;
    match largest {
        Value::Int(number) => number
            .checked_add(1)
            .map(Value::Int)
            .ok_or_else(|| "the column holds the largest integer; give the value as a literal".into()),
        Value::Float(number) => Ok(Value::Float(number + number.abs().max(1.0))),
        Value::Text(text) => Ok(Value::Text(format!("{text}~absent"))),
        Value::Timestamp(at) => Ok(Value::Timestamp(at + DAY_MICROSECONDS)),
        Value::Uuid(uuid) => match uuid.as_u128().checked_add(1) {
            Some(next) => Ok(Value::Uuid(uuid::Uuid::from_u128(next))),
            None => Err("the column holds the largest uuid; give the value as a literal".into()),
        },
        Value::Null => Err("the column holds no value at all, so no value tells absent from present; give one as a literal".into()),
        other => Err(format!(
            "no value past {other} can be made for this column's type; give an absent value as a literal"
        )),
    }
}

/// Checks that no row of `table` holds `value` in `column` (a collation could sort a
/// longer text before its prefix).
async fn held_by_no_row(
    client: &Client,
    (table, column): (&str, &str),
    value: &Value,
) -> std::result::Result<(), String> {
    let sql = format!(
        "SELECT EXISTS (SELECT 1 FROM {} WHERE {} = $1)",
        crate::input::quote_identifier(table),
        crate::input::quote_identifier(column)
    );
    let row = client
        .query_one(&sql, &[value as &(dyn ToSql + Sync)])
        .await
        .map_err(|error| {
            format!(
                "checking that {value} is absent: {}",
                crate::error::ServerError(&error)
            )
        })?;
    match row.get::<_, bool>(0) {
        false => Ok(()),
        true => Err(format!(
            "{value}, past the largest value, is held by a row; give an absent value as a literal"
        )),
    }
}

/// Binds the queries of `state` for one variant.
pub async fn bind(
    client: &Client,
    scenario: &Scenario,
    state: SchemaState,
    bindings: &Bindings<'_>,
) -> Result<Vec<BoundQuery>> {
    let mut bound = Vec::new();
    for query in scenario.queries.iter().filter(|query| query.state == state) {
        let statement = prepare(client, scenario, query).await?;
        let values = query
            .params
            .iter()
            .map(|param| bindings.value(param))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|message| {
                Error::input(
                    &scenario.path,
                    format!("key `query \"{}\".params`: {message}", query.name),
                )
            })?;
        check_result_columns(scenario, &[(query.name.as_str(), &statement)])?;
        bound.push(BoundQuery {
            name: query.name.clone(),
            file: query.path.display().to_string(),
            state,
            sql: trimmed(&query.sql),
            statement,
            values,
        });
    }
    Ok(bound)
}

/// An error while running a query: the user's SQL (a data error, a bad cast) is bad
/// input naming the file; a lost connection or a crash is not.
pub fn run_error(query: &BoundQuery, during: &str, error: tokio_postgres::Error) -> Error {
    if let Some(message) = parameter_error(&error) {
        return Error::input(&query.file, format!("query {}: {message}", query.name));
    }
    if infrastructure(&error) {
        let doing = infrastructure_context(format!("{during} query {}", query.name), &error);
        Error::database(doing)(error)
    } else {
        sql_error(Path::new(&query.file), &query.sql, 1, error)
    }
}

/// Whether an error is the environment's (a lost connection, a shutdown, resources,
/// an internal error), not the user's SQL or data.
fn infrastructure(error: &tokio_postgres::Error) -> bool {
    error
        .as_db_error()
        .is_none_or(|db| ["08", "53", "57", "58", "XX"].contains(&&db.code().code()[..2]))
}

/// A parameter value that cannot be sent as the type the statement expects: the
/// scenario's fault, not the server's.
fn parameter_error(error: &tokio_postgres::Error) -> Option<String> {
    let text = error.to_string();
    let position: usize = text
        .strip_prefix("error serializing parameter ")?
        .trim()
        .parse()
        .ok()?;
    let cause =
        std::error::Error::source(error).map_or_else(String::new, |cause| cause.to_string());
    Some(format!(
        "parameter ${}: {cause}; change the parameter in the scenario so it fits",
        position + 1
    ))
}

/// How many times the time budget an EXPLAIN ANALYZE may take, with `TIMING OFF`, when
/// the plain query finished within the budget. Instrumentation can make a plan
/// several times slower than the query (a hash join took 1.96 s plain and over 2.5 s
/// under EXPLAIN ANALYZE); that overhead is not the query's time, so it does not make
/// the query time out, but it must not make a run wait without end either.
pub const ANALYZE_ALLOWANCE: u32 = 3;

/// Measures the queries of one variant, every plain run under the time budget
/// `budget`: runs EXPLAIN ANALYZE (which warms the cache), reads each query's rows
/// (timed: the first sample), then the timing loop, which stops sampling early as
/// `comparisons` allow (see `explain_all`). A plain run the budget cancels does not
/// stop the run: that query is marked timed out, its plan is taken from plain EXPLAIN
/// (estimated, not run), and it is not run again. An EXPLAIN ANALYZE that does not
/// finish within its allowance (three times the budget, with `TIMING OFF`) leaves an
/// estimated plan too, but the query is timed.
pub async fn measure(
    client: &Client,
    queries: Vec<BoundQuery>,
    budget: Duration,
    options: TimingOptions,
    comparisons: &[Comparison],
    shown: &Shown<'_>,
) -> Result<(Vec<QueryEvidence>, [Phase; 2])> {
    limit_statements(client, budget).await?;
    let evidence = measure_within(client, queries, budget, options, comparisons, shown).await;
    lift_limit(client).await?;
    evidence
}

/// How [`measure`] shows its two phases (capturing the plans, timing the queries) on
/// stderr: with `label` after each name (the variant, for a scenario with several).
/// The phases it returns carry the bare names, for the report to add up.
pub struct Shown<'a> {
    pub progress: Progress,
    pub label: &'a str,
}

impl Shown<'static> {
    /// Nothing on stderr (library callers: tests, benchmarks).
    pub fn silent() -> Shown<'static> {
        Shown {
            progress: Progress::Silent,
            label: "",
        }
    }
}

impl Shown<'_> {
    fn phase(&self, name: &str) -> PhaseClock {
        self.progress.phase(&format!("{name}{}", self.label))
    }

    fn finish(&self, clock: PhaseClock, name: &str) -> Phase {
        Phase {
            name: name.to_owned(),
            ..clock.finish()
        }
    }
}

/// Captures the plans of the queries of one variant as [`measure`] does (EXPLAIN
/// ANALYZE, then reading each query's rows, under the time budget) but does not time
/// them: for a sweep's probes, which only ask what plan a query gets at a scale. Each
/// query's timing holds no sample (`not compared`, or `timed out` for one the budget
/// cancelled); such evidence is for plan checks, never for a timing verdict.
pub async fn plans(
    client: &Client,
    queries: Vec<BoundQuery>,
    budget: Duration,
    shown: &Shown<'_>,
) -> Result<(Vec<QueryEvidence>, Phase)> {
    limit_statements(client, budget).await?;
    let captured = async {
        let capturing = shown.phase(CAPTURE_PHASE);
        let explained = explain_all(client, &queries, budget).await?;
        let phase = shown.finish(capturing, CAPTURE_PHASE);
        let timings = explained
            .iter()
            .map(|explained| {
                let timing = Timing {
                    samples_ms: Vec::new(),
                    stopped: match explained.timed_out {
                        Some(_) => SamplingStop::TimedOut,
                        None => SamplingStop::NotCompared,
                    },
                };
                (timing, 0)
            })
            .collect();
        Ok((assemble(queries, explained, timings, budget), phase))
    }
    .await;
    lift_limit(client).await?;
    captured
}

/// [`measure`], with the budget set on the session.
async fn measure_within(
    client: &Client,
    queries: Vec<BoundQuery>,
    budget: Duration,
    options: TimingOptions,
    comparisons: &[Comparison],
    shown: &Shown<'_>,
) -> Result<(Vec<QueryEvidence>, [Phase; 2])> {
    let capturing = shown.phase(CAPTURE_PHASE);
    let explained = explain_all(client, &queries, budget).await?;
    let captured = shown.finish(capturing, CAPTURE_PHASE);
    let timing_clock = shown.phase(TIMING_PHASE);
    let starts = explained.iter().map(Explained::start).collect();
    let timings =
        timing::time_queries(client, &queries, starts, options, budget, comparisons).await?;
    let timed = shown.finish(timing_clock, TIMING_PHASE);
    Ok((
        assemble(queries, explained, timings, budget),
        [captured, timed],
    ))
}

/// What explaining and reading the results found for one query.
struct Explained {
    /// Set when its plain run (the warm-up) the budget cancelled.
    timed_out: Option<TimedOut>,
    /// The results and how long the plain run took, when it finished.
    warm_up: Option<(ResultDigest, f64)>,
    /// Whether that plain run ran on the cache a whole EXPLAIN ANALYZE of the same
    /// query had just warmed, and so is a timing sample like any other.
    warm: bool,
    /// The raw EXPLAIN document and its plan.
    plan: (String, Plan),
    analyze_cancelled: Option<AnalyzeCancelled>,
    /// The runs so far: EXPLAIN ANALYZE (once or twice) and the plain run.
    executions: u32,
}

impl Explained {
    /// Where the query starts the timing loop: with its plain run as the first
    /// sample when that ran warm, not at all when it timed out.
    fn start(&self) -> timing::Start {
        match (&self.timed_out, &self.warm_up) {
            (Some(_), _) => timing::Start::TimedOut,
            (None, Some((_, ms))) if self.warm => timing::Start::Sampled(vec![*ms]),
            (None, _) => timing::Start::Sampled(Vec::new()),
        }
    }
}

/// Runs each query twice, under the time budget: EXPLAIN ANALYZE first, which warms
/// the cache, then the plain query, whose rows make the result digest and whose time,
/// on that warm cache, is the query's first timing sample. A query of 36 s then costs
/// two runs for its plan, results and (when one run decides the verdict) its timing,
/// instead of a cold warm-up, a plan and a timing run of its own.
///
/// The plain run is the sample, not EXPLAIN ANALYZE's execution time: instrumentation
/// made the walk of sparse-org's old query 10-20% slower at 1,000,000 runs (TIMING
/// OFF less, but then the plan has no node times), which would flatter a speedup.
///
/// When EXPLAIN ANALYZE does not finish within the budget, the plain run decides:
/// past the budget too, the query is timed out and its plan estimated (two budgets
/// spent, where plain-first spent one, but only for a query that times out); within
/// it, EXPLAIN ANALYZE is tried once more with `TIMING OFF` under [`ANALYZE_ALLOWANCE`]
/// times the budget, and that plain run, on a cache the cancelled EXPLAIN left half
/// warm, is not a sample.
async fn explain_all(
    client: &Client,
    queries: &[BoundQuery],
    budget: Duration,
) -> Result<Vec<Explained>> {
    let mut explained = Vec::with_capacity(queries.len());
    for query in queries {
        let analyzed = analyze(client, query, budget).await?;
        let warm = analyzed.is_some();
        let clock = Instant::now();
        let (warm_up, timed_out) = match self::results(client, query).await {
            Ok(read) => (Some(read), None),
            Err(error) if self::timed_out(&error, clock.elapsed(), budget) => (
                None,
                Some(TimedOut {
                    budget,
                    during: "warm-up",
                }),
            ),
            Err(error) => return Err(run_error(query, "reading the results of", error)),
        };
        let mut executions = 2;
        let (plan, analyze_cancelled) = match (&timed_out, analyzed) {
            // A plan analyzed before a plain run that then timed out (a cache gone
            // cold in between) is set aside too: a timed-out query's plan is always
            // the estimate, so its counts never decide a check.
            (Some(_), _) => (estimate(client, query, budget).await?, None),
            (None, Some(plan)) => (plan, None),
            (None, None) => {
                executions += 1;
                match analyze_without_timing(client, query, budget).await? {
                    Ok(plan) => (plan, None),
                    Err(cancelled) => (estimate(client, query, budget).await?, Some(cancelled)),
                }
            }
        };
        explained.push(Explained {
            warm: warm && timed_out.is_none(),
            timed_out,
            warm_up,
            plan,
            analyze_cancelled,
            executions,
        });
    }
    Ok(explained)
}

/// Each query's evidence from what was explained and its timing (with the timing
/// loop's runs).
fn assemble(
    queries: Vec<BoundQuery>,
    explained: Vec<Explained>,
    timings: Vec<(Timing, u32)>,
    budget: Duration,
) -> Vec<QueryEvidence> {
    queries
        .into_iter()
        .zip(explained)
        .zip(timings)
        .map(|((query, explained), (timing, timing_runs))| {
            let timed_out = explained.timed_out.or_else(|| {
                (timing.stopped == SamplingStop::TimedOut).then_some(TimedOut {
                    budget,
                    during: "timing",
                })
            });
            let (results, warm_up_ms) = explained.warm_up.unzip();
            let (raw_explain, plan) = explained.plan;
            QueryEvidence {
                params: query.values.iter().map(Value::to_string).collect(),
                name: query.name,
                file: query.file,
                sql: query.sql,
                state: query.state,
                plan,
                raw_explain,
                timing,
                results,
                warm_up_ms,
                timed_out,
                analyze_cancelled: explained.analyze_cancelled,
                executions: explained.executions + timing_runs,
            }
        })
        .collect()
}

/// The phase that runs EXPLAIN ANALYZE and reads each query's rows (the first timing
/// sample, which this phase's time includes).
pub const CAPTURE_PHASE: &str = "capture plans";
/// The phase of the timing loop.
pub const TIMING_PHASE: &str = "time queries";

/// The EXPLAIN (ANALYZE, BUFFERS) plan of a query, run under `budget`; `None` when the
/// budget cancelled it.
async fn analyze(
    client: &Client,
    query: &BoundQuery,
    budget: Duration,
) -> Result<Option<(String, Plan)>> {
    let clock = Instant::now();
    match explain(client, query, "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON)").await {
        Ok(plan) => plan.map(Some),
        Err(error) if timed_out(&error, clock.elapsed(), budget) => Ok(None),
        Err(error) => Err(run_error(query, "explaining", error)),
    }
}

/// The EXPLAIN (ANALYZE, BUFFERS, TIMING OFF) plan of a query whose plain run finished
/// within `budget` but whose EXPLAIN ANALYZE did not (the clock read per row and node
/// is most of the overhead), under [`ANALYZE_ALLOWANCE`] times the budget; `Err` with
/// that limit when it did not finish then either.
async fn analyze_without_timing(
    client: &Client,
    query: &BoundQuery,
    budget: Duration,
) -> Result<std::result::Result<(String, Plan), AnalyzeCancelled>> {
    let limit = budget * ANALYZE_ALLOWANCE;
    limit_statements(client, limit).await?;
    let clock = Instant::now();
    let retried = explain(
        client,
        query,
        "EXPLAIN (ANALYZE, BUFFERS, TIMING OFF, FORMAT JSON)",
    )
    .await;
    limit_statements(client, budget).await?;
    match retried {
        Ok(plan) => plan.map(Ok),
        Err(error) if timed_out(&error, clock.elapsed(), limit) => {
            Ok(Err(AnalyzeCancelled { limit }))
        }
        Err(error) => Err(run_error(query, "explaining", error)),
    }
}

/// The time budget the measured queries run under: the one asked for, or the
/// database's own `statement_timeout` (a scenario's `[settings]`) when that is
/// shorter, since the server cancels at whichever comes first.
pub async fn effective_budget(client: &Client, requested: Duration) -> Result<Duration> {
    let row = client
        .query_one(
            "SELECT setting::bigint FROM pg_settings WHERE name = 'statement_timeout'",
            &[],
        )
        .await
        .map_err(Error::database("reading the database's statement_timeout"))?;
    let database_ms: i64 = row.get(0);
    Ok(match u64::try_from(database_ms) {
        Ok(ms) if ms > 0 && u128::from(ms) < requested.as_millis() => Duration::from_millis(ms),
        _ => requested,
    })
}

/// Makes the server cancel any statement of this session that runs past `budget`
/// (none for zero), until [`lift_limit`]. Only picks and the measured queries run
/// under it: not the seed, the migration or plancheck's own catalog reads.
pub async fn limit_statements(client: &Client, budget: Duration) -> Result<()> {
    client
        .batch_execute(&format!("SET statement_timeout = {}", budget.as_millis()))
        .await
        .map_err(Error::database("setting the time budget"))
}

/// Back to the database's `statement_timeout`.
pub async fn lift_limit(client: &Client) -> Result<()> {
    client
        .batch_execute("RESET statement_timeout")
        .await
        .map_err(Error::database("lifting the time budget"))
}

/// The plan of `query` as EXPLAIN (ANALYZE, BUFFERS) gives it, under the session's
/// statement limit.
pub async fn analyzed_plan(client: &Client, query: &BoundQuery) -> Result<(String, Plan)> {
    explain(client, query, "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON)")
        .await
        .map_err(|error| run_error(query, "explaining", error))?
}

/// The plan of plain EXPLAIN (FORMAT JSON) of `query` under the session's limits:
/// for the stability rounds, which ask only which plan the planner picks after each
/// `ANALYZE`.
pub async fn estimated_plan(client: &Client, query: &BoundQuery) -> Result<(String, Plan)> {
    explain(client, query, "EXPLAIN (FORMAT JSON)")
        .await
        .map_err(|error| run_error(query, "explaining (without ANALYZE)", error))?
}

/// The plan of plain EXPLAIN (FORMAT JSON), for a query that ran past `budget` or
/// whose EXPLAIN ANALYZE did. It only plans, so it runs without the budget: under a
/// budget of a few milliseconds planning alone could be cancelled, and the query would
/// have no plan to judge.
async fn estimate(client: &Client, query: &BoundQuery, budget: Duration) -> Result<(String, Plan)> {
    limit_statements(client, Duration::ZERO).await?;
    let estimated = explain(client, query, "EXPLAIN (FORMAT JSON)").await;
    limit_statements(client, budget).await?;
    estimated.map_err(|error| run_error(query, "explaining (without ANALYZE)", error))?
}

/// Whether the server cancelled a statement (SQLSTATE 57014) because it ran past
/// `limit`, having run `elapsed` by the client's clock. The code does not tell a
/// timeout from a cancel request sent from outside (`pg_cancel_backend`), and the
/// message is translated, so the time it ran decides (see [`reached_limit`]).
pub fn timed_out(error: &tokio_postgres::Error, elapsed: Duration, limit: Duration) -> bool {
    is_cancel(error) && reached_limit(elapsed, limit)
}

/// Whether a statement cancelled after running `elapsed` ran to its `limit` (none
/// when zero). The client's clock counts the round trip too, so it reads at least
/// the server's; 90% of the limit leaves room for clocks that disagree, and a cancel
/// well before it was sent by someone else.
pub fn reached_limit(elapsed: Duration, limit: Duration) -> bool {
    !limit.is_zero() && elapsed >= limit.mul_f64(0.9)
}

/// Whether the server cancelled a statement (SQLSTATE 57014), at a time limit or at
/// someone's request.
fn is_cancel(error: &tokio_postgres::Error) -> bool {
    error.code() == Some(&tokio_postgres::error::SqlState::QUERY_CANCELED)
}

/// What was being done when an infrastructure error struck, saying so when it is a
/// cancel that no time limit sent: an administrator's `pg_cancel_backend`, a pooler.
fn infrastructure_context(doing: String, error: &tokio_postgres::Error) -> String {
    if is_cancel(error) {
        format!(
            "{doing}: the server cancelled it before its time budget ran out, so the cancel came from outside plancheck (pg_cancel_backend, an administrator, a pooler)"
        )
    } else {
        doing
    }
}

/// `explain` (an EXPLAIN with its options) of one query: the server's error, or the
/// raw document and its parsed plan.
async fn explain(
    client: &Client,
    query: &BoundQuery,
    explain: &str,
) -> std::result::Result<Result<(String, Plan)>, tokio_postgres::Error> {
    let sql = format!("{explain} {}", query.sql);
    let row = client.query_one(&sql, &query.params()).await?;
    let ExplainText(text) = row.get(0);
    Ok(Plan::from_explain_text(&text)
        .map(|plan| (text, plan))
        .map_err(|error| {
            Error::Infrastructure(format!(
                "the server's EXPLAIN output for {} did not parse: {error}",
                query.name
            ))
        }))
}

/// EXPLAIN's `json` column as the server printed it: the text a report keeps, so a
/// reader can paste exactly that into a plan visualiser.
struct ExplainText(String);

impl<'a> tokio_postgres::types::FromSql<'a> for ExplainText {
    fn from_sql(
        _: &tokio_postgres::types::Type,
        raw: &'a [u8],
    ) -> std::result::Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(ExplainText(std::str::from_utf8(raw)?.to_owned()))
    }

    fn accepts(ty: &tokio_postgres::types::Type) -> bool {
        *ty == tokio_postgres::types::Type::JSON
    }
}

/// The rows a query returns, as text, for comparing results, and how long the run
/// took in milliseconds: timed as the timing loop times a run (the statement's one
/// round trip, all rows received), not counting the digest made afterwards.
async fn results(
    client: &Client,
    query: &BoundQuery,
) -> std::result::Result<(ResultDigest, f64), tokio_postgres::Error> {
    let params = query.params();
    let clock = Instant::now();
    let rows = client.query(&query.statement, &params).await?;
    let elapsed_ms = clock.elapsed().as_secs_f64() * 1000.0;
    let columns = query
        .statement
        .columns()
        .iter()
        .map(|column| column.name().to_owned())
        .collect();
    let mut digest = DigestBuilder::new(columns);
    for row in rows {
        digest.push((0..row.len()).map(|index| cell_text(&row, index)).collect());
    }
    Ok((digest.finish(), elapsed_ms))
}

/// A result cell as text (`None` for NULL): decoded where plancheck knows the type,
/// else its raw bytes in hex (equal values have equal bytes for the types not decoded).
fn cell_text(row: &tokio_postgres::Row, index: usize) -> Option<String> {
    match row.try_get::<_, Value>(index) {
        Ok(Value::Null) => None,
        Ok(value) => Some(value.to_string()),
        Err(_) => match row.try_get::<_, RawBytes>(index) {
            Ok(RawBytes(Some(bytes))) => Some(format!(
                "\\x{}",
                bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
            )),
            _ => None,
        },
    }
}

struct RawBytes(Option<Vec<u8>>);

impl<'a> tokio_postgres::types::FromSql<'a> for RawBytes {
    fn from_sql(
        _: &tokio_postgres::types::Type,
        raw: &'a [u8],
    ) -> std::result::Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(RawBytes(Some(raw.to_vec())))
    }
    fn from_sql_null(
        _: &tokio_postgres::types::Type,
    ) -> std::result::Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(RawBytes(None))
    }
    fn accepts(_: &tokio_postgres::types::Type) -> bool {
        true
    }
}

/// The key columns and their declared order of every index outside the system
/// schemas.
pub async fn catalog(client: &Client) -> Result<Catalog> {
    let row = client
        .query_one(CATALOG_SQL, &[])
        .await
        .map_err(Error::database("reading index facts from the catalog"))?;
    let document: serde_json::Value = row.get(0);
    serde_json::from_value(document).map_err(|error| {
        Error::Infrastructure(format!("the catalog's index facts did not read: {error}"))
    })
}

/// The query that reads the index facts the checks need (every index's table, key
/// columns in order with their direction, uniqueness and predicate), as one JSON
/// document in `catalog.json`'s shape. Definitions only, never a row of data: it is
/// what `plancheck catalog-sql` prints for exporting a production catalog, so the
/// file judged offline and the facts a run reads are made the same way.
pub const CATALOG_SQL: &str = "\
SELECT json_build_object('indexes', coalesce(json_agg(facts ORDER BY facts->>'name'), '[]'::json))
FROM (
  SELECT json_build_object(
           'name', ci.relname,
           'table', ct.relname,
           'unique', i.indisunique,
           'predicate', pg_get_expr(i.indpred, i.indrelid),
           'keys', (SELECT json_agg(json_build_object(
                               'column', a.attname,
                               'descending', (i.indoption[k.n - 1] & 1) = 1) ORDER BY k.n)
                    FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, n)
                    LEFT JOIN pg_attribute a
                      ON a.attrelid = i.indrelid AND a.attnum = k.attnum AND k.attnum > 0
                    WHERE k.n <= i.indnkeyatts)) AS facts
  FROM pg_index i
  JOIN pg_class ci ON ci.oid = i.indexrelid
  JOIN pg_class ct ON ct.oid = i.indrelid
  JOIN pg_namespace ns ON ns.oid = ct.relnamespace
  WHERE ns.nspname NOT IN ('pg_catalog', 'information_schema')
    AND ns.nspname NOT LIKE 'pg_toast%'
) indexes;
";

#[cfg(test)]
mod tests {
    use super::*;

    /// A cancel well before the limit is someone else's (pg_cancel_backend), not the
    /// time budget's.
    #[test]
    fn only_a_cancel_at_the_limit_is_a_timeout() {
        let budget = Duration::from_secs(60);
        assert!(reached_limit(Duration::from_secs(60), budget));
        assert!(reached_limit(Duration::from_millis(59_800), budget));
        assert!(!reached_limit(Duration::from_secs(12), budget));
        assert!(
            !reached_limit(Duration::from_secs(12), Duration::ZERO),
            "without a limit every cancel comes from outside"
        );
    }
}
