//! The command line: argument definitions and what each command does. `main.rs` only
//! parses, calls [`execute`] and maps the outcome to an exit code.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};

use crate::cache::{Cache, CacheError};
use crate::capture::timing::TimingOptions;
use crate::error::{Error, Result};
use crate::input::{self, Scenario};
use crate::pipeline::sweep::{self as scale_sweep, SweepPlan, SweepRequest};
use crate::pipeline::{RunOptions, run_scenario};
use crate::progress::{Progress, write_stderr};
use crate::provision::{BackendChoice, DEFAULT_IMAGE, ProvisionOptions, Registry, Server, sweep};
use crate::report;
use crate::say;

mod ci_output;
mod versions;
pub mod workload;

/// Exit codes and where to read on, under every `--help`.
const AFTER_HELP: &str = "Exit codes: 0 every check passed, 1 a check failed (including \"regression \
not reproduced\"), 2 bad input or usage (the message names the file, line, key and value), \
3 infrastructure (no server, a lost connection), 130 interrupted (after cleaning up).\n\n\
Writing a scenario: docs/scenario-format.md. Backends and reports: README.md.";

/// Catch PostgreSQL query-plan regressions before they reach production.
#[derive(Debug, Parser)]
#[command(name = "plancheck", version, about, after_help = AFTER_HELP)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run scenarios: seed a throwaway database, capture and judge the plans, time the
    /// queries and write reports. Exit code 0 when every check passes, 1 when one fails.
    #[command(after_help = AFTER_HELP)]
    Scenario(ScenarioArgs),
    /// Rehearse a scenario's migrations under live traffic: seed the pre-migration
    /// state, run the `[rehearsal]` traffic, run each migration step by step while
    /// sampling pg_locks every 10 ms, then check the invariants; each migration at each
    /// scale on a fresh database. Reports go to <out>/rehearsals/<scenario>/. Exit code
    /// 0 when every limit and invariant holds, 1 when one does not or a migration fails
    /// on the data, 2 for bad input (a step whose SQL the server refuses whatever the
    /// data names its file and line; the report keeps the steps done).
    #[command(after_help = AFTER_HELP)]
    Rehearse(RehearseArgs),
    /// A workload: the application's queries checked against baselines committed to
    /// the repository (`check`), their baselines made (`baseline`) and a change
    /// accepted with its reason (`accept`). docs/workload-format.md.
    #[command(subcommand, after_help = AFTER_HELP)]
    Workload(workload::WorkloadCommand),
    /// List the scenarios in the scenarios directory, with their descriptions. Exit code
    /// 2 when one does not load (the listing says why).
    List {
        /// Directory holding the scenario files (`<name>.toml`).
        #[arg(long, env = "PLANCHECK_SCENARIOS", default_value = "scenarios")]
        scenarios_dir: PathBuf,
        /// `text` (a table) or `json` (name, description, gate, min_scale, variants,
        /// file of each scenario; docs/cli-json.md), on stdout.
        #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
        format: OutputFormat,
    },
    /// List what plancheck runs left behind: containers, local server directories and
    /// (with --database-url) scratch databases whose run is gone, and those kept with
    /// --keep. Resources of runs still going are never listed or touched. Every run
    /// removes the orphans of its own backend before it starts; kept ones go only here.
    #[command(after_help = AFTER_HELP)]
    Clean {
        /// Remove what is listed (orphans and kept resources alike).
        #[arg(long)]
        yes: bool,
        /// Also empty the cache of initdb templates and seeded data (PLANCHECK_CACHE_DIR,
        /// default ~/.cache/plancheck); entries a running run is using stay.
        #[arg(long)]
        cache: bool,
        /// Also look for scratch databases on this server (those the connecting role
        /// owns).
        #[arg(long, env = "PLANCHECK_DATABASE_URL")]
        database_url: Option<String>,
    },
    /// Judge plans saved elsewhere (EXPLAIN (FORMAT JSON) output, as psql prints it or
    /// alone, a plan object, or auto_explain JSON log lines) with a scenario's checks
    /// on one of its queries, without seeding anything. Catalog facts come from
    /// --catalog, or from the scenario's schema applied to an empty database on a
    /// server started for it. Exit code 0 when every check that could judge passed, 1
    /// when one failed, 2 for bad input.
    Judge(JudgeArgs),
    /// Describe data: `from-stats` writes a dataset file fitted to a server's
    /// statistics.
    #[command(subcommand)]
    Dataset(DatasetCommand),
    /// Print the SQL that exports the catalog facts `plancheck judge --catalog` reads
    /// (index and constraint definitions only, never a row): run it on production with
    /// `psql -At -f catalog.sql > catalog.json`.
    CatalogSql,
    /// Render reports again from their `report.json` alone (no database): each
    /// directory's report.md, report.html and raw plan files, and with several
    /// directories an index.html and summary.md over them. Files a user added to a
    /// report directory are kept. Exit code 0 when every report passed, 1 when one
    /// failed, 2 when a directory holds no report this plancheck can read.
    Report {
        /// Report directories (`reports/<scenario>`), each holding a report.json.
        #[arg(required_unless_present = "schema")]
        dirs: Vec<PathBuf>,
        /// Where index.html and summary.md go when several directories are given
        /// (default: the directory holding the first of them).
        #[arg(long)]
        index_dir: Option<PathBuf>,
        /// Print the JSON Schema of report.json (as docs/report.schema.json holds it)
        /// and exit.
        #[arg(long, conflicts_with = "dirs")]
        schema: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum DatasetCommand {
    /// Write a dataset file (on stdout) fitted to the statistics of tables on a live
    /// server: row counts, null fractions, distinct counts, most common values,
    /// histograms, correlation, foreign keys. Reads pg_class, pg_stats and the catalog,
    /// never a row of a table; the file's header lists the columns that copy pg_stats's
    /// values (rows' values), and stderr warns of ones that look personal. Exit code 2 for a table that does not exist, was never
    /// analyzed or whose statistics the role cannot read; 3 when the server cannot be
    /// reached.
    FromStats(FromStatsArgs),
}

#[derive(Debug, clap::Args)]
pub struct FromStatsArgs {
    /// The server and database holding the tables (a PostgreSQL URL or key=value
    /// connection string).
    #[arg(long, env = "PLANCHECK_DATABASE_URL")]
    pub database_url: String,
    /// The tables, comma-separated, schema-qualified where off the search path (a part
    /// in double quotes keeps its case, as in SQL). Every table another one references
    /// must be among them.
    #[arg(long, value_delimiter = ',', required = true, value_parser = parse_table_name)]
    pub tables: Vec<String>,
    /// The dataset's `schema` entries (SQL fixtures relative to the dataset file);
    /// default `schema.sql`.
    #[arg(long)]
    pub schema: Vec<String>,
    /// Replace every value pg_stats lists (most common values, histogram bounds) with
    /// generated ones of the same frequencies, shapes and places, and withhold the
    /// literals of index definitions; only what a constraint needs is kept (enum
    /// labels, the values a CHECK's IN list names), and the header lists it.
    #[arg(long)]
    pub anonymize: bool,
    /// With --anonymize, columns whose values are labels rather than people's data
    /// (statuses, currencies), kept as they are: table.column, comma-separated.
    #[arg(long, value_delimiter = ',', requires = "anonymize")]
    pub keep_values: Vec<String>,
    /// The dataset's seed.
    #[arg(long, default_value_t = 1, value_parser = parse_seed)]
    pub seed: u64,
}

#[derive(Debug, clap::Args)]
pub struct JudgeArgs {
    /// Plan files: EXPLAIN (FORMAT JSON) output, a plan object, or a server log with
    /// auto_explain's JSON plans; `-` reads one from standard input. At most 64 MiB
    /// each, and only regular files (a FIFO or a device is refused).
    #[arg(required = true)]
    pub plans: Vec<PathBuf>,
    /// The scenario whose checks judge the plans (a name in --scenarios-dir or a path).
    #[arg(long)]
    pub scenario: String,
    /// The scenario's query the plans are plans of; its checks that read this query
    /// alone judge them.
    #[arg(long)]
    pub query: String,
    /// Catalog facts (`catalog.json` of a report, or what `plancheck catalog-sql`
    /// exports); without it, the scenario's schema is applied to an empty database.
    #[arg(long)]
    pub catalog: Option<PathBuf>,
    /// `terminal`, `markdown` or `json`, on stdout.
    #[arg(long, value_enum, default_value_t = JudgeFormat::Terminal)]
    pub format: JudgeFormat,
    #[arg(long, env = "PLANCHECK_SCENARIOS", default_value = "scenarios")]
    pub scenarios_dir: PathBuf,
    /// Where the server for the schema's catalog comes from (as for `scenario`).
    #[arg(long, value_enum, env = "PLANCHECK_BACKEND", default_value_t = BackendChoice::Auto)]
    pub backend: BackendChoice,
    #[arg(long, env = "PLANCHECK_IMAGE", default_value = DEFAULT_IMAGE)]
    pub image: String,
}

/// How `plancheck list` and `plancheck scenario` print on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// Tables for people.
    Text,
    /// One JSON document (docs/cli-json.md); progress and tables go to stderr.
    Json,
}

/// How `plancheck judge` prints its verdicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum JudgeFormat {
    Terminal,
    Markdown,
    Json,
}

#[derive(Debug, clap::Args)]
pub struct ScenarioArgs {
    /// Scenario names (files in --scenarios-dir, without .toml) or paths to .toml files.
    #[arg(required = true)]
    pub names: Vec<String>,
    /// Rows of the dataset's scale table (its `scale_table`; default: that table's `rows`).
    /// A whole number, in digits (`1000000` or `1_000_000`).
    #[arg(long, value_parser = parse_scale, allow_negative_numbers = true,
          conflicts_with_all = ["scales", "sweep", "find_flip"])]
    pub scale: Option<u64>,
    /// Sweep: run the scenario at each of these scales (comma-separated, increasing, at
    /// least two), each seeded afresh with the same seed, and fit how each query's rows
    /// examined, buffers and time grow with the scale. The verdict is the checks at the
    /// largest scale plus the `growth` checks over the sweep. Overrides the scenario's
    /// `[sweep] scales`.
    #[arg(long, value_name = "SCALE,SCALE,...", value_delimiter = ',', value_parser = parse_scale,
          allow_negative_numbers = true)]
    pub scales: Option<Vec<u64>>,
    /// Sweep at the scales of the scenario's `[sweep]` section (a plain run does not).
    #[arg(long)]
    pub sweep: bool,
    /// After the sweep, bisect between its first and last scale (each probe seeded,
    /// plans captured without timing) for the smallest scale at which QUERY's plan
    /// shows the regression, within 10%, and check the scenario's `min_scale` against
    /// it. Sweeps at --scales (such as --scales 10000,1000000) or the `[sweep]` scales.
    #[arg(long, value_name = "QUERY")]
    pub find_flip: Option<String>,
    /// After the run's own capture, run ANALYZE N more times (each draws a new random
    /// sample) and take every query's plan (plain EXPLAIN, same parameters) after each:
    /// the report lists the distinct plans with how often each appeared, and `stable`
    /// checks fail on more than one, or on one a plan check flags. 1 to 1000; not with
    /// a sweep.
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub stability: Option<u32>,
    /// The default_statistics_target of the --stability rounds only (1 to 10000;
    /// default: the database's). A smaller sample flips plans more often.
    #[arg(
        long,
        value_name = "TARGET",
        requires = "stability",
        allow_negative_numbers = true
    )]
    pub stability_target: Option<u32>,
    /// Seed for every random choice (default: the dataset's `seed`): a whole number
    /// from 0 to 18446744073709551615.
    #[arg(long, value_parser = parse_seed, allow_negative_numbers = true)]
    pub seed: Option<u64>,
    /// Where PostgreSQL comes from: `local` starts a private server from the host's
    /// binaries; `docker` a container (see --image); `url` a scratch database on the
    /// server --database-url names; `auto` takes url if given, else docker if an engine
    /// and the image are there, else local.
    #[arg(long, value_enum, env = "PLANCHECK_BACKEND", default_value_t = BackendChoice::Auto)]
    pub backend: BackendChoice,
    /// Container image for the docker backend, as name:tag. Where no registry is
    /// reachable, build one with scripts/build-postgres-image.sh (plancheck/postgres:15).
    #[arg(long, env = "PLANCHECK_IMAGE", default_value = DEFAULT_IMAGE)]
    pub image: String,
    /// An existing server to create the scratch database on (implies --backend url).
    #[arg(long, env = "PLANCHECK_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Directory the reports go to, one subdirectory per scenario.
    #[arg(long, default_value = "reports")]
    pub out: PathBuf,
    /// Directory holding the scenario files that names refer to.
    #[arg(long, env = "PLANCHECK_SCENARIOS", default_value = "scenarios")]
    pub scenarios_dir: PathBuf,
    /// The longest one run of a measured query may take (its warm-up, EXPLAIN ANALYZE,
    /// timing runs; picks too), as seconds (`90`) or a duration (`500ms`, `2min`). A
    /// query past it gets the verdict "timed out after N s", its plan is taken without
    /// ANALYZE, and the run goes on. Overrides the scenario's `time_budget`; default 60 s.
    #[arg(long, value_name = "SECONDS|DURATION", value_parser = parse_time_budget, allow_negative_numbers = true)]
    pub time_budget: Option<std::time::Duration>,
    /// Report phases and rows as plain lines on stderr, without spinners or bars (what
    /// happens anyway when stderr is not a terminal).
    #[arg(long)]
    pub no_progress: bool,
    /// Leave the server and each scenario's database running after the run, and print
    /// how to connect and how to remove them. `TESTCONTAINERS_COMMAND=keep` does the same.
    #[arg(long)]
    pub keep: bool,
    /// Seed afresh and leave the cache alone: no initdb template or seeded data is
    /// read or stored. Without it, the local backend keeps each seeded database's
    /// cluster under PLANCHECK_CACHE_DIR (default ~/.cache/plancheck, at most
    /// PLANCHECK_CACHE_SIZE, default a quarter of that disk's free room) and a run with
    /// the same dataset, schema, seed, scale, settings, plancheck build and server
    /// reuses it. `plancheck clean --cache` empties it.
    #[arg(long, env = "PLANCHECK_NO_CACHE", value_parser = clap::builder::BoolishValueParser::new())]
    pub no_cache: bool,
    /// Also write every check of every scenario (and variant) as a JUnit test case to
    /// FILE, replaced whole after each scenario; a path that cannot be written is
    /// refused before anything starts (docs/ci.md).
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// `text` (tables) or `json`: the run's summary as one JSON document on stdout
    /// (docs/cli-json.md), the tables on stderr.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
    /// Run on each of these PostgreSQL major versions (`13,15,17`), the same rows on
    /// each. The docker backend starts --image's repository tagged with the version
    /// (plancheck/postgres:17; build one with `scripts/build-postgres-image.sh 17`),
    /// the local backend that version's host binaries (/usr/lib/postgresql/17/bin or
    /// PLANCHECK_PG_BINDIR). Each version's report goes to <out>/<scenario>/pg<N>/,
    /// beside versions.md and versions.json, which compare them.
    #[arg(long, value_name = "MAJOR,...", value_delimiter = ',', value_parser = clap::value_parser!(u32).range(10..100))]
    pub pg: Vec<u32>,
}

#[derive(Debug, clap::Args)]
pub struct RehearseArgs {
    /// The scenario (a file in --scenarios-dir, without .toml, or a path to one).
    pub name: String,
    /// Rehearse at these scales (comma-separated, increasing) instead of the
    /// `[rehearsal] scales`: rows of the dataset's scale table.
    #[arg(long, value_name = "SCALE,SCALE,...", value_delimiter = ',', value_parser = parse_scale,
          allow_negative_numbers = true)]
    pub scales: Option<Vec<u64>>,
    /// Rehearse only this migration (by its name in the scenario); repeat for several.
    #[arg(long = "migration", value_name = "NAME")]
    pub migrations: Vec<String>,
    /// Rehearse each migration at each scale N times, each on a freshly seeded
    /// database, and report how often each limit broke: a step whose stall depends on
    /// what the traffic was doing when it started breaks in some runs only.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub repeat: u32,
    /// Seed for every random choice (default: the dataset's `seed`).
    #[arg(long, value_parser = parse_seed, allow_negative_numbers = true)]
    pub seed: Option<u64>,
    /// Skip measuring what the lock sampler costs the traffic (twelve alternating
    /// phases of 1 s, without and with it, after the last run).
    #[arg(long)]
    pub no_sampler_cost: bool,
    /// Seed afresh and leave the cache alone, as for `plancheck scenario`.
    #[arg(long, env = "PLANCHECK_NO_CACHE", value_parser = clap::builder::BoolishValueParser::new())]
    pub no_cache: bool,
    /// Where PostgreSQL comes from, as for `plancheck scenario`.
    #[arg(long, value_enum, env = "PLANCHECK_BACKEND", default_value_t = BackendChoice::Auto)]
    pub backend: BackendChoice,
    /// Container image for the docker backend, as name:tag.
    #[arg(long, env = "PLANCHECK_IMAGE", default_value = DEFAULT_IMAGE)]
    pub image: String,
    /// An existing server to create the scratch databases on (implies --backend url).
    /// The traffic and the migration run only there.
    #[arg(long, env = "PLANCHECK_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Directory the reports go to: <out>/rehearsals/<scenario>/.
    #[arg(long, default_value = "reports")]
    pub out: PathBuf,
    /// Directory holding the scenario files that names refer to.
    #[arg(long, env = "PLANCHECK_SCENARIOS", default_value = "scenarios")]
    pub scenarios_dir: PathBuf,
    /// Report phases as plain lines on stderr, without spinners.
    #[arg(long)]
    pub no_progress: bool,
}

/// `--scale`: a whole number of rows in digits, `_` allowed as in the dataset files.
/// `1e6` and `1.5M` are refused with a message saying so, not clap's "invalid digit".
fn parse_scale(text: &str) -> std::result::Result<u64, String> {
    let digits: String = text.chars().filter(|c| *c != '_').collect();
    if digits.is_empty()
        || !digits.chars().all(|c| c.is_ascii_digit())
        || digits.chars().all(|c| c == '0')
    {
        return Err(format!(
            "the scale is a positive whole number of rows written in digits, such as 1000000 or 1_000_000 (not {text})"
        ));
    }
    digits.parse().map_err(|_| {
        format!(
            "{text} rows is more than plancheck can count (at most {})",
            u64::MAX
        )
    })
}

/// `--seed`: a whole number that fits in 64 bits, said with the range when it does not.
fn parse_seed(text: &str) -> std::result::Result<u64, String> {
    let digits: String = text.chars().filter(|c| *c != '_').collect();
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
        return Err(format!(
            "the seed is a whole number from 0 to {}, written in digits (not {text})",
            u64::MAX
        ));
    }
    digits.parse().map_err(|_| {
        format!(
            "{text} is larger than the largest seed, {}; seeds are whole numbers from 0 to {}",
            u64::MAX,
            u64::MAX
        )
    })
}

/// A `--tables` entry: a table's name, or `schema.table`, as PostgreSQL's
/// `to_regclass` reads it (each part a word up to a dot or a space, or double-quoted
/// with `""` for a quote; spaces around the parts), so that a name the server could
/// not read is bad input here rather than its "invalid name syntax" later. The entry
/// is kept as written; an empty one (after a trailing comma) is left out later.
fn parse_table_name(text: &str) -> std::result::Result<String, String> {
    let is_space = |c: char| matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0b' | '\x0c');
    let refuse = |why: &str| {
        Err(format!(
            "{text:?} is not a table name: {why}; write table or schema.table, double-quoting a part as in SQL (\"Mixed Case\")"
        ))
    };
    let mut rest = text.trim_start_matches(is_space);
    if rest.is_empty() {
        return Ok(String::new());
    }
    let mut parts = 0;
    loop {
        let after = match rest.strip_prefix('"') {
            Some(quoted) => {
                let Some(end) = closing_quote(quoted) else {
                    return refuse("a double quote is not closed");
                };
                if end == 0 {
                    return refuse("a quoted part is empty");
                }
                &quoted[end + 1..]
            }
            None => {
                let end = rest
                    .find(|c: char| c == '.' || is_space(c))
                    .unwrap_or(rest.len());
                if end == 0 {
                    return refuse("a part is empty");
                }
                &rest[end..]
            }
        };
        parts += 1;
        rest = after.trim_start_matches(is_space);
        match rest.strip_prefix('.') {
            Some(next) => rest = next.trim_start_matches(is_space),
            None if rest.is_empty() => break,
            None => return refuse("something follows a name without a dot between"),
        }
    }
    match parts {
        1 | 2 => Ok(text.to_owned()),
        _ => refuse("it has more than two dot-separated parts"),
    }
}

/// Where the double quote closing a quoted identifier is in `quoted` (the text after
/// its opening quote), `""` being a quote inside it.
fn closing_quote(quoted: &str) -> Option<usize> {
    let mut at = 0;
    loop {
        let found = at + quoted[at..].find('"')?;
        if quoted[found + 1..].starts_with('"') {
            at = found + 2;
        } else {
            return Some(found);
        }
    }
}

/// How a command ended when it did not fail with an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Every check passed (exit code 0).
    Passed,
    /// At least one check failed (exit code 1).
    ChecksFailed,
    /// SIGINT, SIGTERM or SIGHUP stopped the run; everything it started was cleaned up.
    Interrupted,
}

/// Runs a parsed command line. `signals` were installed before anything else.
pub async fn execute(cli: Cli, mut signals: Signals) -> Result<Outcome> {
    match cli.command {
        Command::List {
            scenarios_dir,
            format,
        } => list(&scenarios_dir, format),
        Command::Dataset(DatasetCommand::FromStats(args)) => tokio::select! {
            outcome = from_stats(args) => outcome,
            () = signals.received() => Ok(Outcome::Interrupted),
        },
        Command::CatalogSql => {
            print_stdout(crate::capture::CATALOG_SQL, "the catalog query")?;
            Ok(Outcome::Passed)
        }
        Command::Judge(args) => {
            let registry = Registry::new();
            let judged = tokio::select! {
                outcome = judge_saved(args, registry.clone()) => outcome,
                () = signals.received() => Ok(Outcome::Interrupted),
            };
            for line in registry.release().await {
                say!("{line}");
            }
            judged
        }
        Command::Report {
            dirs,
            index_dir,
            schema,
        } => match schema {
            true => {
                print_stdout(&report::document::schema(), "the schema")?;
                Ok(Outcome::Passed)
            }
            false => render_reports(&dirs, index_dir.as_deref()),
        },
        Command::Clean {
            yes,
            cache,
            database_url,
        } => tokio::select! {
            outcome = clean(yes, cache, database_url.as_deref()) => outcome,
            () = signals.received() => Ok(Outcome::Interrupted),
        },
        Command::Rehearse(args) => {
            let registry = Registry::new();
            let run = run_rehearsal(args, registry.clone());
            // Dropping the run stops the traffic first (its connections' statements
            // are cancelled), then the sampler, then the database.
            guarded(
                run,
                registry,
                &mut signals,
                "interrupted; stopping the traffic and cleaning up",
            )
            .await
        }
        Command::Scenario(args) => {
            let registry = Registry::new();
            let run = run_scenarios(args, registry.clone());
            guarded(run, registry, &mut signals, "interrupted; cleaning up").await
        }
        Command::Workload(command) => {
            let registry = Registry::new();
            let run = workload::execute(command, registry.clone());
            guarded(run, registry, &mut signals, "interrupted; cleaning up").await
        }
    }
}

/// Runs a command that starts servers as a task of its own, so that a panic in it (a
/// bug) is caught here and cleaned up after like an interrupt, rather than unwinding
/// past `registry`. On a signal the run is dropped (every guard it held stops what it
/// started), `interrupted` is said, and the registry removes what no guard held yet.
/// The handlers stay installed until exit, so a second signal cannot cut the clean-up
/// short.
async fn guarded(
    run: impl std::future::Future<Output = Result<Outcome>> + Send + 'static,
    registry: Registry,
    signals: &mut Signals,
    interrupted: &str,
) -> Result<Outcome> {
    let mut run = tokio::spawn(run);
    let ending = tokio::select! {
        // A run that has just ended wins over a signal at the same instant: its
        // report is written and its outcome is the one to report.
        biased;
        joined = &mut run => match joined {
            Ok(outcome) => return outcome,
            Err(error) => Err(Error::Infrastructure(format!(
                "plancheck failed unexpectedly (a bug; please report it with the lines above): {}",
                panic_message(error)
            ))),
        },
        () = signals.received() => {
            say!("{interrupted}");
            run.abort();
            // Wait for the dropped run's guards before the registry looks.
            let _ = run.await;
            Ok(Outcome::Interrupted)
        }
    };
    for line in registry.release().await {
        say!("{line}");
    }
    ending
}

/// `plancheck judge`: saved plans judged with a scenario's checks.
async fn judge_saved(args: JudgeArgs, registry: Registry) -> Result<Outcome> {
    use crate::pipeline::saved::{CatalogSource, judge_files};
    let scenario = Scenario::find(&args.scenarios_dir, &args.scenario)?;
    let catalog = match &args.catalog {
        Some(path) => CatalogSource::File(path),
        None => CatalogSource::Schema(ProvisionOptions {
            backend: args.backend,
            image: args.image.clone(),
            database_url: None,
            registry,
            cache: cache_for(false)?,
            pg: None,
        }),
    };
    let judgement = judge_files(&scenario, &args.query, &args.plans, catalog).await?;
    let verdicts = match args.format {
        JudgeFormat::Terminal => report::saved::terminal(&judgement),
        JudgeFormat::Markdown => report::saved::markdown(&judgement),
        JudgeFormat::Json => report::saved::json(&judgement),
    };
    print_stdout(&verdicts, "the verdicts")?;
    Ok(match judgement.passed() {
        true => Outcome::Passed,
        false => Outcome::ChecksFailed,
    })
}

/// `plancheck report`: every directory's files rendered again from its document,
/// written whole; then, for several, the run-level pages. Every document is read
/// before anything is written, so one bad directory changes nothing.
fn render_reports(dirs: &[PathBuf], index_dir: Option<&std::path::Path>) -> Result<Outcome> {
    let reports = dirs
        .iter()
        .map(|dir| report::Report::read(dir))
        .collect::<Result<Vec<_>>>()?;
    let index_dir = index_dir
        .map(std::path::Path::to_path_buf)
        .or_else(|| dirs.first().and_then(|dir| parent_of(dir)));
    if let (true, Some(root)) = (reports.len() > 1, &index_dir) {
        report::check_run_destination(root)?;
    }
    for (dir, document) in dirs.iter().zip(&reports) {
        let (Some(root), Some(name)) = (parent_of(dir), dir.file_name()) else {
            return Err(Error::Usage(format!(
                "{}: not a report directory",
                dir.display()
            )));
        };
        let claim = report::Claim::take(&root, &name.to_string_lossy())?;
        let written = claim.install(&report::files(document))?;
        say!("report rendered in {}", written.display());
    }
    if let (true, Some(root)) = (reports.len() > 1, &index_dir) {
        let placed: Vec<report::Placed> = dirs
            .iter()
            .zip(&reports)
            .map(|(dir, report)| report::Placed {
                dir: report::link(root, dir),
                report,
            })
            .collect();
        for path in report::write_run_files(root, &placed)? {
            say!("run summary written to {}", path.display());
        }
    }
    Ok(match reports.iter().all(|document| document.passed) {
        true => Outcome::Passed,
        false => Outcome::ChecksFailed,
    })
}

/// The directory holding `dir` (`.` for a bare name).
fn parent_of(dir: &std::path::Path) -> Option<PathBuf> {
    let dir = std::path::absolute(dir).ok()?;
    dir.parent().map(std::path::Path::to_path_buf)
}

/// What a panicked task said, for the error that replaces it.
fn panic_message(error: tokio::task::JoinError) -> String {
    match error.try_into_panic() {
        Ok(payload) => payload
            .downcast_ref::<&str>()
            .map(|text| (*text).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic".into()),
        Err(error) => error.to_string(),
    }
}

async fn run_scenarios(args: ScenarioArgs, registry: Registry) -> Result<Outcome> {
    // Every scenario is parsed and validated before anything is started, so a typo in
    // the second one does not cost the first one's seeding.
    let scenarios = load_scenarios(&args)?;
    let ci = ci_output::CiOutput::new(args.junit.clone(), args.format)?;
    let sweeps = sweep_plans(&args, &scenarios)?;
    let stability = crate::pipeline::stability::request(
        args.stability,
        args.stability_target,
        sweeps.iter().any(Option::is_some),
    )?;
    if let Some(url) = &args.database_url {
        crate::provision::parse_database_url(url)?;
    }
    // Each report directory is this run's until its report is in place: a second run
    // into the same one is refused now, not silently replaced (or replacing) later.
    let claims = scenarios
        .iter()
        .map(|scenario| report::Claim::take(&args.out, &scenario.name))
        .collect::<Result<Vec<_>>>()?;
    let provision = ProvisionOptions {
        backend: backend_choice(args.backend, args.database_url.as_deref())?,
        image: args.image.clone(),
        database_url: args.database_url.clone(),
        registry,
        cache: cache_for(args.no_cache)?,
        pg: None,
    };
    let keep =
        args.keep || std::env::var("TESTCONTAINERS_COMMAND").is_ok_and(|command| command == "keep");
    let options = RunOptions {
        scale: args.scale,
        seed: args.seed,
        progress: Progress::for_stderr(!args.no_progress),
        timing: TimingOptions {
            statement_budget: args.time_budget,
            ..TimingOptions::default()
        },
        keep,
        stability,
    };

    if !args.pg.is_empty() {
        return versions::run(
            &args, &scenarios, &sweeps, &claims, &provision, &options, &ci,
        )
        .await;
    }
    let server = start_server(&provision, "PostgreSQL").await?;
    let ran = run_each(&server, &scenarios, &sweeps, &claims, &options, &ci).await;
    end_run(server, ran, &args.out, &ci, keep).await
}

/// After the scenarios that ran on `server`: the index over several reports, the end
/// of the CI outputs, the server stopped (or kept, with `keep` and no failure), and
/// what the run comes to.
async fn end_run(
    server: Server,
    mut ran: Ran,
    out: &std::path::Path,
    ci: &ci_output::CiOutput,
    keep: bool,
) -> Result<Outcome> {
    if ran.reports.len() > 1 {
        let placed: Vec<report::Placed> = ran
            .reports
            .iter()
            .map(|report| report::Placed {
                dir: report.scenario.clone(),
                report,
            })
            .collect();
        if let Err(error) = write_run_files(out, &placed) {
            ran.failure = ran.failure.or(Some(error));
        }
    }
    let placed: Vec<(&report::Report, String, Option<String>)> = ran
        .reports
        .iter()
        .zip(ran.dirs.iter().cloned())
        .map(|(report, dir)| (report, dir, None))
        .collect();
    let finished = ci.finish(&placed, ran.failure.as_ref());
    let if_lost = server.if_lost();
    let stopped = if keep && ran.failure.is_none() {
        print_kept(&server, "the server", &ran.databases);
        server.keep().await
    } else {
        server.stop().await
    };
    if let Some(error) = ran.failure {
        return Err(said_beside(with_lost_server_hint(error, if_lost), &stopped));
    }
    stopped.map_err(|error| said_beside(error, &finished))?;
    finished?;
    Ok(if ran.all_passed {
        Outcome::Passed
    } else {
        Outcome::ChecksFailed
    })
}

/// `plancheck rehearse`: the scenario's rehearsal, its report put in place even when
/// a step failed (with the steps done), then the error.
async fn run_rehearsal(args: RehearseArgs, registry: Registry) -> Result<Outcome> {
    use crate::rehearse::run::{RehearseOptions, rehearse};
    let scenario = Scenario::find(&args.scenarios_dir, &args.name)?;
    let Some(spec) = &scenario.rehearsal else {
        return Err(Error::input(
            &scenario.path,
            "declares no [rehearsal]; see docs/scenario-format.md, \"Rehearsals\"",
        ));
    };
    crate::rehearse::run::selected_migrations(&scenario, spec, &args.migrations)?;
    if let Some(scales) = &args.scales
        && (scales.contains(&0) || scales.windows(2).any(|pair| pair[1] <= pair[0]))
    {
        return Err(Error::Usage(format!(
            "--scales {scales:?}: give positive row counts in increasing order"
        )));
    }
    for scale in args.scales.iter().flatten() {
        crate::disk_guard::refuse_absurd(&scenario, *scale, "--scales")?;
    }
    if let Some(url) = &args.database_url {
        crate::provision::parse_database_url(url)?;
    }
    let root = args.out.join("rehearsals");
    let claim = report::Claim::take(&root, &scenario.name)?;
    let provision = ProvisionOptions {
        backend: backend_choice(args.backend, args.database_url.as_deref())?,
        image: args.image.clone(),
        database_url: args.database_url.clone(),
        registry,
        cache: cache_for(args.no_cache)?,
        pg: None,
    };
    let options = RehearseOptions {
        scales: args.scales.clone(),
        seed: args.seed,
        migrations: args.migrations.clone(),
        progress: Progress::for_stderr(!args.no_progress),
        measure_overhead: !args.no_sampler_cost,
        repeat: args.repeat as usize,
    };
    say!(
        "starting PostgreSQL ({} backend)…",
        format!("{:?}", provision.backend).to_lowercase()
    );
    let server = Server::start(&provision).await?;
    say!(
        "start server: {} ({})",
        crate::progress::duration(server.startup),
        server.backend()
    );
    let rehearsed = rehearse(&server, &scenario, &options).await;
    let if_lost = server.if_lost();
    let stopped = server.stop().await;
    rehearsal_outcome(rehearsed?, &claim, stopped, if_lost)
}

/// What a rehearsal comes to: its summary on stdout and its report in place (even when
/// a step failed, with the steps done), then the rehearsal's error, the server's, or
/// the summary's. A summary lost to a full stdout does not keep the report from its
/// place.
fn rehearsal_outcome(
    rehearsed: crate::rehearse::run::Rehearsed,
    claim: &report::Claim,
    stopped: Result<()>,
    if_lost: &str,
) -> Result<Outcome> {
    let rehearsal = &rehearsed.rehearsal;
    let printed = match rehearsal.runs.is_empty() {
        true => Ok(()),
        false => {
            let printed = print_stdout(&report::terminal::rehearsal(rehearsal), "the summary");
            let dir = claim
                .install(&report::rehearsal::files(rehearsal))
                .map_err(|error| said_beside(error, &printed))?;
            say!("report written to {}", dir.display());
            printed
        }
    };
    if let Some(error) = rehearsed.failure {
        return Err(said_beside(with_lost_server_hint(error, if_lost), &printed));
    }
    stopped.map_err(|error| said_beside(error, &printed))?;
    printed?;
    Ok(match rehearsal.passed() {
        true => Outcome::Passed,
        false => Outcome::ChecksFailed,
    })
}

/// `error`, with what to try on this backend when it is the server that went away.
fn with_lost_server_hint(error: Error, if_lost: &str) -> Error {
    match error.is_server_lost() {
        true => Error::Infrastructure(format!(
            "{error}; if it keeps happening on this backend, {if_lost}"
        )),
        false => error,
    }
}

/// `error`, the one the run ends with, after saying `also`'s, if that failed too:
/// each failure is said once.
fn said_beside(error: Error, also: &Result<()>) -> Error {
    if let Err(other) = also {
        say!("error: {other}");
    }
    error
}

/// The scenarios the command line names, each once, checked as far as can be without
/// a server: their report destinations and scales.
fn load_scenarios(args: &ScenarioArgs) -> Result<Vec<Scenario>> {
    let mut scenarios: Vec<Scenario> = Vec::new();
    for name in &args.names {
        let scenario = Scenario::find(&args.scenarios_dir, name)?;
        if scenario.queries.is_empty() {
            return Err(Error::input(
                &scenario.path,
                format!(
                    "declares no [[query]] to capture: it is a rehearsal; run `plancheck rehearse {}`",
                    scenario.name
                ),
            ));
        }
        match scenarios.iter().find(|seen| seen.name == scenario.name) {
            // Named twice: run once.
            Some(seen) if seen.path == scenario.path => {
                say!(
                    "scenario {} is named more than once; running it once",
                    scenario.name
                );
                continue;
            }
            Some(seen) => {
                return Err(Error::Usage(format!(
                    "{} and {} are both named {:?}, so their reports would overwrite each other in {}; rename one",
                    seen.path.display(),
                    scenario.path.display(),
                    scenario.name,
                    args.out.display()
                )));
            }
            None => scenarios.push(scenario),
        }
    }
    if scenarios.len() > 1 {
        report::check_run_destination(&args.out)?;
    }
    for scenario in &scenarios {
        report::check_destination(&args.out, &scenario.name)?;
        let scale = args.scale.unwrap_or(scenario.dataset.default_scale);
        crate::disk_guard::refuse_absurd(scenario, scale, "--scale")?;
        if let Some(min_scale) = scenario.min_scale.filter(|min_scale| scale < *min_scale) {
            say!(
                "warning: scenario {} declares that it reproduces from --scale {min_scale}; at {scale} its old plan may not show the regression",
                scenario.name
            );
        }
    }
    Ok(scenarios)
}

/// Each scenario's sweep, checked before anything starts; `None` for a run at one
/// scale.
fn sweep_plans(args: &ScenarioArgs, scenarios: &[Scenario]) -> Result<Vec<Option<SweepPlan>>> {
    let request = SweepRequest {
        scales: args.scales.clone(),
        sweep: args.sweep,
        find_flip: args.find_flip.clone(),
    };
    scenarios
        .iter()
        .map(|scenario| scale_sweep::plan(scenario, &request, args.seed))
        .collect()
}

/// `--backend`, with `--database-url` choosing `url` under `auto`.
fn backend_choice(backend: BackendChoice, database_url: Option<&str>) -> Result<BackendChoice> {
    match (backend, database_url) {
        (BackendChoice::Auto, Some(_)) => Ok(BackendChoice::Url),
        (BackendChoice::Docker | BackendChoice::Local, Some(_)) => Err(Error::Usage(format!(
            "--database-url goes with --backend url (or auto), not --backend {}",
            format!("{backend:?}").to_lowercase()
        ))),
        (backend, _) => Ok(backend),
    }
}

/// What running the scenarios one after the other came to.
struct Ran {
    all_passed: bool,
    /// The first error; the scenarios after it did not run.
    failure: Option<Error>,
    /// The scratch databases of the scenarios that finished, for `--keep`.
    databases: Vec<String>,
    /// The document of every scenario that ran to its report, and where it went.
    reports: Vec<report::Report>,
    dirs: Vec<String>,
}

/// Starts the server `provision` asks for (`what`: "PostgreSQL", "PostgreSQL 17"),
/// saying so, how long it took, why `auto` chose its backend and what the sweep before
/// it removed.
async fn start_server(provision: &ProvisionOptions, what: &str) -> Result<Server> {
    say!(
        "starting {what} ({} backend)…",
        format!("{:?}", provision.backend).to_lowercase()
    );
    let server = Server::start(provision).await?;
    say!(
        "start server: {} ({})",
        crate::progress::duration(server.startup),
        server.backend()
    );
    if let Some(note) = &server.selection_note {
        say!("{note}");
    }
    for line in &server.swept {
        say!("{line}");
    }
    Ok(server)
}

/// Runs `scenario` on `server` (its sweep whole, when it has one) and says what the
/// sweep and the stability rounds found, each line after `prefix`.
async fn run_one(
    server: &Server,
    scenario: &Scenario,
    sweep: &Option<SweepPlan>,
    options: &RunOptions,
    prefix: &str,
) -> Result<crate::outcome::Outcome> {
    let run = match sweep {
        Some(plan) => scale_sweep::run(server, scenario, options, plan).await,
        None => run_scenario(server, scenario, options).await,
    }?;
    for line in scale_sweep::summary(&run)
        .into_iter()
        .chain(crate::pipeline::stability::summary(&run))
    {
        say!("{prefix}{line}");
    }
    Ok(run)
}

/// Writes the run's index and summary over `placed` into `out`, saying where.
fn write_run_files(out: &std::path::Path, placed: &[report::Placed]) -> Result<()> {
    for path in report::write_run_files(out, placed)? {
        say!("run summary written to {}", path.display());
    }
    Ok(())
}

/// Runs each scenario on `server` and puts its report in place (after each one, so
/// earlier results survive a later failure), printing its summary.
async fn run_each(
    server: &Server,
    scenarios: &[Scenario],
    sweeps: &[Option<SweepPlan>],
    claims: &[report::Claim],
    options: &RunOptions,
    ci: &ci_output::CiOutput,
) -> Ran {
    let mut ran = Ran {
        all_passed: true,
        failure: None,
        databases: Vec::new(),
        reports: Vec::new(),
        dirs: Vec::new(),
    };
    for ((scenario, claim), sweep) in scenarios.iter().zip(claims).zip(sweeps) {
        say!("running scenario {}", scenario.name);
        let run = match run_one(server, scenario, sweep, options, "").await {
            Ok(run) => run,
            Err(error) => {
                let finished: Vec<(&report::Report, Option<String>)> =
                    ran.reports.iter().map(|report| (report, None)).collect();
                ci.scenario_failed(scenario, None, &finished, &error);
                ran.failure = Some(error);
                break;
            }
        };
        let document = report::document::report(&run);
        let written = claim.install(&report::files(&document));
        let finished: Vec<(&report::Report, Option<String>)> = ran
            .reports
            .iter()
            .chain([&document])
            .map(|report| (report, None))
            .collect();
        let ci_written = ci.scenario_done(scenario, &finished);
        let dir = match written {
            Ok(dir) => dir,
            Err(error) => {
                ran.failure = Some(said_beside(error, &ci_written));
                break;
            }
        };
        // The report is in place even when a CI output could not be written.
        say!("report written to {}", dir.display());
        ran.dirs.push(dir.display().to_string());
        ran.all_passed &= run.passed();
        ran.databases.push(run.database.clone());
        ran.reports.push(document);
        if let Err(error) = ci_written {
            ran.failure = Some(error);
            break;
        }
    }
    ran
}

/// What `--keep` prints: how to open each kept database, and how to remove it all.
/// `what` names the server kept: "the server", "the PostgreSQL 17 server".
fn print_kept(server: &Server, what: &str, databases: &[String]) {
    say!(
        "kept {what} and {} (--keep). Inspect the seeded data with:",
        databases.join(", ")
    );
    for database in databases {
        write_stderr(&format!("  {}\n", server.connection_hint(database)));
    }
    write_stderr(&format!(
        "Remove it when done with:\n  {}\n",
        server.removal_hint(databases)
    ));
}

fn list(dir: &std::path::Path, format: OutputFormat) -> Result<Outcome> {
    if format == OutputFormat::Json {
        return list_json(dir);
    }
    let mut table = Table::new();
    table
        .load_style(UTF8_FULL_CONDENSED)
        .set_header(vec!["scenario", "description"]);
    let mut first_error = None;
    for name in input::list(dir)? {
        match Scenario::find(dir, &name) {
            Ok(scenario) => table.add_row(vec![name, scenario.description.trim().to_owned()]),
            // A dataset kept beside the scenarios is not a broken scenario.
            Err(error) if error.to_string().ends_with(input::NOT_A_SCENARIO) => {
                table.add_row(vec![name, "(a dataset file, not a scenario)".to_owned()])
            }
            Err(error) => {
                let row = vec![name, format!("invalid: {error}")];
                first_error.get_or_insert(error);
                table.add_row(row)
            }
        };
    }
    let printed = print_stdout(&format!("{table}\n"), "the list of scenarios");
    match first_error {
        Some(error) => Err(said_beside(error, &printed)),
        None => printed.map(|()| Outcome::Passed),
    }
}

/// `plancheck list --format json`: every scenario, for a CI matrix. A dataset file
/// beside them is left out; a scenario that does not load fails the listing (exit 2,
/// naming it) rather than drop out of the matrix unseen.
fn list_json(dir: &std::path::Path) -> Result<Outcome> {
    let mut listed = Vec::new();
    for name in input::list(dir)? {
        match Scenario::find(dir, &name) {
            Ok(scenario) => listed.push(report::ci_json::ListedScenario::of(&scenario)),
            Err(error) if error.to_string().ends_with(input::NOT_A_SCENARIO) => {}
            Err(error) => return Err(error),
        }
    }
    print_stdout(&report::ci_json::listing(listed), "the list of scenarios")?;
    Ok(Outcome::Passed)
}

/// `--time-budget`: a bare number is seconds.
fn parse_time_budget(text: &str) -> std::result::Result<std::time::Duration, String> {
    input::parse_time_budget(text, Some("s")).map_err(|message| format!("{text:?} {message}"))
}

/// Writes `what` (`the summary`) to stdout. A reader that has gone away (`plancheck
/// list | head -1`) is not an error: the rest of the output is dropped quietly, where
/// `print!` would panic. Any other failure (a full disk, a full device) loses what the
/// command was run for, and is an infrastructure error naming it.
fn print_stdout(text: &str, what: &str) -> Result<()> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(error) if error.kind() != std::io::ErrorKind::BrokenPipe => Err(Error::Infrastructure(
            format!("could not write {what} to standard output: {error}"),
        )),
        _ => Ok(()),
    }
}

/// SIGINT, SIGTERM and SIGHUP, caught from the moment this exists (`list`, which
/// starts nothing, simply finishes). A hangup (a closed terminal, a dropped ssh
/// session) ends a run as an interrupt does: nobody is left to read it, and what it
/// started must not outlive it. A hangup plancheck was started with ignored stays
/// ignored: `nohup plancheck …` must survive the hangup it asked to. SIGINT is caught
/// even when it was ignored: a non-interactive shell ignores it for every background
/// job (`plancheck … &`) as a matter of course, not as anyone's wish, and a script that
/// sends its background run SIGINT means it to stop.
pub struct Signals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
    hangup: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    /// Installs the handlers; needs the runtime's context.
    pub fn install() -> Result<Signals> {
        use tokio::signal::unix::{SignalKind, signal};
        let install = |kind| signal(kind).map_err(Error::io("installing signal handlers"));
        let ignored = ignored_signals();
        let unless_ignored = |kind: SignalKind, number: i32| {
            (ignored & (1 << (number - 1)) == 0)
                .then(|| install(kind))
                .transpose()
        };
        Ok(Signals {
            interrupt: install(SignalKind::interrupt())?,
            terminate: install(SignalKind::terminate())?,
            hangup: unless_ignored(SignalKind::hangup(), nix::libc::SIGHUP)?,
        })
    }

    async fn received(&mut self) {
        async fn maybe(signal: &mut Option<tokio::signal::unix::Signal>) {
            match signal {
                Some(signal) => {
                    signal.recv().await;
                }
                None => std::future::pending().await,
            }
        }
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
            () = maybe(&mut self.hangup) => {}
        }
    }
}

/// The signals this process was started with ignored (`SigIgn` in
/// `/proc/self/status`, one bit per signal number less one); none where it cannot be
/// read.
fn ignored_signals() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("SigIgn:"))
                .and_then(|mask| u64::from_str_radix(mask.trim(), 16).ok())
        })
        .unwrap_or(0)
}

/// `plancheck clean`: lists the leftovers and, with `--yes`, removes them. A place
/// it could not look at (a server that refused or did not answer, an engine that did
/// not) is said, and makes the exit code 3: it is not an all-clear.
/// `plancheck dataset from-stats`: the fitted dataset file on stdout.
async fn from_stats(args: FromStatsArgs) -> Result<Outcome> {
    let config = crate::provision::parse_database_url(&args.database_url)?;
    let client = crate::provision::connect(&config).await?;
    let tables: Vec<String> = args
        .tables
        .iter()
        .map(|table| table.trim().to_owned())
        .filter(|table| !table.is_empty())
        .collect();
    let options = crate::describe::FitOptions {
        anonymize: args.anonymize,
        keep_values: args.keep_values.clone(),
        schema: match args.schema.is_empty() {
            true => vec!["schema.sql".into()],
            false => args.schema.clone(),
        },
        seed: args.seed,
    };
    let command = format!(
        "plancheck dataset from-stats --tables {}{}",
        tables.join(","),
        if args.anonymize { " --anonymize" } else { "" }
    );
    let (text, warnings) =
        crate::describe::from_stats(&client, &tables, &options, &command).await?;
    print_stdout(&text, "the dataset file")?;
    for warning in warnings {
        say!("before the file loads: {warning}");
    }
    Ok(Outcome::Passed)
}

/// The cache a run uses: none with `--no-cache` (or `PLANCHECK_NO_CACHE`); a bad
/// `PLANCHECK_CACHE_SIZE`, or a cache directory another user could have written, is a
/// usage error; a cache directory that cannot be made is said and the run goes on
/// without one.
fn cache_for(no_cache: bool) -> Result<Option<Cache>> {
    if no_cache {
        return Ok(None);
    }
    match Cache::from_env() {
        Ok(cache) => Ok(Some(cache)),
        Err(error @ (CacheError::Untrusted(_) | CacheError::Setting(_))) => Err(error.into()),
        Err(error) => {
            say!("cache: not used: {error}");
            Ok(None)
        }
    }
}

async fn clean(yes: bool, cache: bool, database_url: Option<&str>) -> Result<Outcome> {
    // A cache another user could have written is refused when it is what was asked to
    // clean; otherwise it is only not looked in, and said so.
    let existing = match Cache::existing_from_env() {
        Ok(existing) => existing,
        Err(error) if cache => return Err(error.into()),
        Err(error) => {
            say!("cache: not looked in: {error}");
            None
        }
    };
    if cache && let Some(cache) = &existing {
        let (removed, bytes, busy) = cache.clean()?;
        say!(
            "cache: removed {removed} entries ({}) from {}{}",
            crate::format::format_bytes(bytes as f64),
            cache.root().display(),
            match busy {
                0 => String::new(),
                _ => format!("; {busy} in use by a running plancheck stayed"),
            }
        );
    }
    let server = database_url
        .map(crate::provision::parse_database_url)
        .transpose()?;
    let survey = sweep::find(&crate::provision::all_places(server, existing)).await;
    let leftovers = &survey.leftovers;
    for why in &survey.unlooked {
        say!("could not look for leftovers: {why}");
    }
    let mut failed = 0;
    // A list lost to a full stdout does not keep `--yes` from removing what it lists.
    let mut printed = Ok(());
    if leftovers.is_empty() {
        if survey.unlooked.is_empty() {
            say!("nothing left behind by earlier runs");
        } else {
            say!("nothing left behind where plancheck could look");
        }
    } else {
        let mut table = Table::new();
        table
            .load_style(UTF8_FULL_CONDENSED)
            .set_header(vec!["left behind", "why"]);
        for leftover in leftovers {
            table.add_row(vec![leftover.resource.to_string(), leftover.why()]);
        }
        printed = print_stdout(&format!("{table}\n"), "the list of leftovers");
        if !yes {
            say!("run `plancheck clean --yes` to remove these");
        } else {
            for leftover in leftovers {
                match sweep::remove(leftover).await {
                    Ok(()) => say!("{}", leftover.removed()),
                    Err(error) => {
                        failed += 1;
                        say!("could not remove {}: {error}", leftover.resource);
                    }
                }
            }
        }
    }
    if !survey.unlooked.is_empty() {
        return Err(said_beside(
            Error::Infrastructure(format!(
                "could not look everywhere, so there may be leftovers that were not listed: {}",
                survey.unlooked.join("; ")
            )),
            &printed,
        ));
    }
    match failed {
        0 => printed.map(|()| Outcome::Passed),
        _ => Err(said_beside(
            Error::Infrastructure(format!(
                "{failed} of {} leftovers could not be removed",
                leftovers.len()
            )),
            &printed,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_table_name;

    #[test]
    fn table_names_are_read_as_the_server_reads_them() {
        for name in [
            "orders",
            " public.orders ",
            "public . orders",
            "\"Mixed Case\".\"a \"\"quoted\"\" table.name\"",
            "täble_1$",
            // The server reads this as one name (and finds no such table).
            "orders;x",
            "",
        ] {
            assert_eq!(parse_table_name(name).as_deref(), Ok(name), "{name}");
        }
        for (name, why) in [
            ("accounts;drop table x", "something follows a name"),
            ("\"unclosed", "a double quote is not closed"),
            ("\"\"", "a quoted part is empty"),
            ("public.", "a part is empty"),
            (".orders", "a part is empty"),
            (
                "db.public.orders",
                "it has more than two dot-separated parts",
            ),
        ] {
            let error = parse_table_name(name).unwrap_err();
            assert!(
                error.starts_with(&format!("{name:?} is not a table name: {why}")),
                "{error}"
            );
        }
    }
}
