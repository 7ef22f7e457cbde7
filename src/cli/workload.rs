//! `plancheck workload`: an application's queries checked against baselines committed
//! to the repository (`check`), baselines made for the queries that have none
//! (`baseline`), and a change accepted with its reason (`accept`). Baseline files are
//! read and written here; what they hold is `outcome::baseline`'s, how they are
//! compared `judge::baseline`'s, and the run `pipeline::workload`'s.

use std::path::{Path, PathBuf};

use clap::Subcommand;

use super::ci_output::CiOutput;
use super::{Outcome, OutputFormat, backend_choice, cache_for, parse_seed, parse_time_budget};
use crate::capture::timing::TimingOptions;
use crate::error::{Error, Result};
use crate::input::file;
use crate::input::workload::Workload;
use crate::outcome::baseline::{Baseline, MadeWith};
use crate::pipeline::RunOptions;
use crate::pipeline::workload::{self as run, Baselines, Rounds, ScaleRun};
use crate::progress::Progress;
use crate::provision::{BackendChoice, DEFAULT_IMAGE, ProvisionOptions, Registry, Server};
use crate::report;
use crate::say;

#[derive(Debug, Subcommand)]
pub enum WorkloadCommand {
    /// List the workloads in the workloads directory: their queries, parameter sets
    /// and baselines.
    List {
        #[arg(long, env = "PLANCHECK_WORKLOADS", default_value = "workloads")]
        workloads_dir: PathBuf,
    },
    /// Check every query and parameter set against its committed baseline, at each of
    /// the workload's scales: plan, rows examined, buffers, estimates, spills, results
    /// and growth. Reports go to <out>/workloads/<workload>/. Exit code 0 when nothing
    /// regressed (new queries and stale baselines are reported, not failures), 1 when
    /// something did, 2 for bad input (a baseline made with another dataset, seed,
    /// scale or major version says which).
    Check(CheckArgs),
    /// Make the baselines of the queries that have none (each query's file in the
    /// baselines directory). An existing baseline is never replaced here: `accept`
    /// does that, with a reason.
    Baseline(RunArgs),
    /// Rewrite the baselines of the named queries (or --all), keeping --reason in each,
    /// so the pull request's diff shows what changed in the plans and why it was
    /// accepted. A baseline whose query file is gone is removed.
    Accept(AcceptArgs),
}

/// What every workload command that runs the workload takes.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The workload (a file in --workloads-dir, without .toml, or a path to one).
    pub name: String,
    #[arg(long, env = "PLANCHECK_WORKLOADS", default_value = "workloads")]
    pub workloads_dir: PathBuf,
    /// Seed for every random choice (default: the dataset's `seed`).
    #[arg(long, value_parser = parse_seed, allow_negative_numbers = true)]
    pub seed: Option<u64>,
    /// Where PostgreSQL comes from, as for `plancheck scenario`.
    #[arg(long, value_enum, env = "PLANCHECK_BACKEND", default_value_t = BackendChoice::Auto)]
    pub backend: BackendChoice,
    #[arg(long, env = "PLANCHECK_IMAGE", default_value = DEFAULT_IMAGE)]
    pub image: String,
    /// An existing server to create the scratch databases on (implies --backend url):
    /// a production-sized copy (a DBLab or Neon branch) where one machine is too small.
    #[arg(long, env = "PLANCHECK_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Run on this PostgreSQL major version (as `plancheck scenario --pg`). Checking
    /// against baselines of another major version is allowed only with it, and lists
    /// what differs between the versions.
    #[arg(long, value_name = "MAJOR", value_parser = clap::value_parser!(u32).range(10..100))]
    pub pg: Option<u32>,
    /// The longest one run of a query may take (`90`, `500ms`, `2min`); default the
    /// workload's `time_budget`, else 60 s.
    #[arg(long, value_name = "SECONDS|DURATION", value_parser = parse_time_budget)]
    pub time_budget: Option<std::time::Duration>,
    /// Seed afresh and leave the cache alone, as for `plancheck scenario`.
    #[arg(long, env = "PLANCHECK_NO_CACHE", value_parser = clap::builder::BoolishValueParser::new())]
    pub no_cache: bool,
    /// Report phases as plain lines on stderr, without spinners.
    #[arg(long)]
    pub no_progress: bool,
    /// Leave the server and the databases running after the run.
    #[arg(long)]
    pub keep: bool,
}

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub run: RunArgs,
    /// Check only the I-th of N shares of the query files (1/4, 2/4, …), for a
    /// workload split across CI jobs; stale baselines are listed by the first share.
    #[arg(long, value_name = "I/N", value_parser = parse_shard)]
    pub shard: Option<(usize, usize)>,
    /// Directory the report goes to: <out>/workloads/<workload>/.
    #[arg(long, default_value = "reports")]
    pub out: PathBuf,
    /// Also write a JUnit test case per query and parameter set to FILE.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// `text` or `json` (docs/cli-json.md) on stdout.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
}

#[derive(Debug, clap::Args)]
pub struct AcceptArgs {
    #[command(flatten)]
    pub run: RunArgs,
    /// The queries whose baselines are rewritten (file stems).
    pub queries: Vec<String>,
    /// Rewrite every query's baseline.
    #[arg(long, conflicts_with = "queries")]
    pub all: bool,
    /// Why the change is right: kept in each rewritten baseline.
    #[arg(long)]
    pub reason: String,
}

/// `--shard I/N`: 1 ≤ I ≤ N.
fn parse_shard(text: &str) -> std::result::Result<(usize, usize), String> {
    let parsed = text.split_once('/').and_then(|(i, n)| {
        Some((
            i.trim().parse::<usize>().ok()?,
            n.trim().parse::<usize>().ok()?,
        ))
    });
    match parsed {
        Some((i, n)) if n >= 1 && (1..=n).contains(&i) => Ok((i, n)),
        _ => Err(format!("{text:?}: write I/N with 1 ≤ I ≤ N, such as 1/4")),
    }
}

/// Runs a workload command.
pub(super) async fn execute(command: WorkloadCommand, registry: Registry) -> Result<Outcome> {
    match command {
        WorkloadCommand::List { workloads_dir } => list(&workloads_dir),
        WorkloadCommand::Check(args) => check(args, registry).await,
        WorkloadCommand::Baseline(args) => baseline(args, registry).await,
        WorkloadCommand::Accept(args) => accept(args, registry).await,
    }
}

/// The baselines in the workload's baselines directory, by query name; `paths` of the
/// files read. A file that is not a baseline this plancheck reads is bad input.
fn read_baselines(workload: &Workload) -> Result<Baselines> {
    let mut baselines = Baselines::new();
    let Ok(entries) = std::fs::read_dir(&workload.baselines) else {
        return Ok(baselines);
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok())
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    paths.sort();
    for path in paths {
        let text = file::read_text(&path, &BASELINE_FILE)?;
        let baseline = Baseline::parse(&text).map_err(|message| Error::input(&path, message))?;
        let stem = path
            .file_stem()
            .map(|stem| stem.to_string_lossy().into_owned());
        if stem.as_deref() != Some(baseline.query.as_str()) {
            return Err(Error::input(
                &path,
                format!(
                    "is the baseline of query {:?}, not of the file's name: a baseline file is named after its query",
                    baseline.query
                ),
            ));
        }
        baselines.insert(baseline.query.clone(), baseline);
    }
    Ok(baselines)
}

/// What a baseline file is read as.
const BASELINE_FILE: file::Kind = file::Kind {
    what: "a baseline file",
    limit: 16 * 1024 * 1024,
    stdin: false,
};

/// The baseline file of `query`.
fn baseline_path(workload: &Workload, query: &str) -> PathBuf {
    workload.baselines.join(format!("{query}.json"))
}

/// Refuses baselines made with other inputs than this run's (`now`, whose PostgreSQL
/// major version is compared only when `major` is given), naming the first difference
/// and how to remake them.
fn check_made_with(
    workload: &Workload,
    baselines: &Baselines,
    now: &MadeWith,
    major: bool,
) -> Result<()> {
    for (name, baseline) in baselines {
        let then = &baseline.made_with;
        let differs = [
            (
                "dataset",
                then.dataset != now.dataset,
                then.dataset.clone(),
                now.dataset.clone(),
            ),
            (
                "dataset (its tables, groups and generators; digest)",
                then.dataset_digest != now.dataset_digest,
                short(&then.dataset_digest),
                short(&now.dataset_digest),
            ),
            (
                "seed",
                then.seed != now.seed,
                then.seed.to_string(),
                now.seed.to_string(),
            ),
            (
                "scales",
                then.scales != now.scales || then.scale_table != now.scale_table,
                format!("{:?} rows of {}", then.scales, then.scale_table),
                format!("{:?} rows of {}", now.scales, now.scale_table),
            ),
            (
                "settings",
                then.settings != now.settings,
                format!("{:?}", then.settings),
                format!("{:?}", now.settings),
            ),
            (
                "PostgreSQL major version",
                major && then.postgres != now.postgres,
                then.postgres.to_string(),
                now.postgres.to_string(),
            ),
        ];
        if let Some((what, _, was, is)) = differs.into_iter().find(|(_, differ, _, _)| *differ) {
            return Err(Error::input(
                baseline_path(workload, name),
                format!(
                    "was made with {what} {was}, and this run has {is}: a baseline compared with other inputs would call their differences regressions; remake the baselines with `plancheck workload accept {} --all --reason \"…\"`{}",
                    workload.name,
                    match what {
                        "PostgreSQL major version" => format!(
                            ", or check against them on purpose with --pg {}",
                            now.postgres
                        ),
                        _ => String::new(),
                    }
                ),
            ));
        }
    }
    Ok(())
}

fn short(digest: &str) -> String {
    digest.chars().take(12).collect()
}

/// The server and options a workload run uses.
async fn start(args: &RunArgs, registry: Registry) -> Result<(Server, RunOptions)> {
    if let Some(url) = &args.database_url {
        crate::provision::parse_database_url(url)?;
    }
    let provision = ProvisionOptions {
        backend: backend_choice(args.backend, args.database_url.as_deref())?,
        image: args.image.clone(),
        database_url: args.database_url.clone(),
        registry,
        cache: cache_for(args.no_cache)?,
        pg: None,
    };
    let provision = match args.pg {
        Some(major) => provision.for_version(major),
        None => provision,
    };
    let server = super::start_server(&provision, "PostgreSQL").await?;
    let keep =
        args.keep || std::env::var("TESTCONTAINERS_COMMAND").is_ok_and(|command| command == "keep");
    let options = RunOptions {
        scale: None,
        seed: args.seed,
        progress: Progress::for_stderr(!args.no_progress),
        timing: TimingOptions {
            statement_budget: args.time_budget,
            ..TimingOptions::default()
        },
        keep,
        stability: None,
    };
    Ok((server, options))
}

/// Stops (or keeps) `server` after `ran`, whose error comes first.
async fn stop<T>(server: Server, keep: bool, ran: Result<T>) -> Result<T> {
    let stopped = match keep && ran.is_ok() {
        true => server.keep().await,
        false => server.stop().await,
    };
    let ran = ran?;
    stopped?;
    Ok(ran)
}

/// `plancheck workload check`.
async fn check(args: CheckArgs, registry: Registry) -> Result<Outcome> {
    let mut workload = Workload::find(&args.run.workloads_dir, &args.run.name)?;
    let baselines = read_baselines(&workload)?;
    let seed = args
        .run
        .seed
        .unwrap_or(workload.scenario.dataset.model.seed);
    check_made_with(
        &workload,
        &baselines,
        &run::made_with(&workload, 0, seed),
        false,
    )?;
    let stale_here = args.shard.is_none_or(|(index, _)| index == 1);
    if let Some(shard) = args.shard {
        let mine = shard_queries(&workload, shard);
        workload.keep_only(&mine);
    }
    let ci = CiOutput::new(args.junit.clone(), args.format)?;
    let claim = report::Claim::take(&args.out.join("workloads"), &workload.name)?;
    let (server, options) = start(&args.run, registry).await?;
    let ran = async {
        let made_with = run::made_with(&workload, server.version().major, seed);
        check_made_with(&workload, &baselines, &made_with, args.run.pg.is_none())?;
        let accepted = run::accepted(&workload, &baselines);
        let rounds = Rounds::Check(workload.stability_rounds, &accepted);
        let runs = run::run(&server, &workload, &options, &rounds).await?;
        Ok::<_, Error>((runs, made_with))
    }
    .await;
    let (runs, made_with) = stop(server, options.keep, ran).await?;
    let (mut checked, verdicts) = run::check(&workload, &runs, &baselines, &made_with);
    if !stale_here {
        checked.stale.clear();
    }
    for line in summary(&checked) {
        say!("{line}");
    }
    let outcome = outcome_of(&workload, runs, checked, verdicts);
    let document = report::document::report(&outcome);
    let dir = claim.install(&report::files(&document))?;
    say!("report written to {}", dir.display());
    let written = ci.scenario_done(&workload.scenario, &[(&document, None)]);
    let finished = ci.finish(
        &[(&document, dir.display().to_string(), None)],
        written.as_ref().err(),
    );
    written?;
    finished?;
    Ok(match outcome.passed() {
        true => Outcome::Passed,
        false => Outcome::ChecksFailed,
    })
}

/// The query files of share `index` of `count`: every `count`-th, from the
/// `index`-th, in file-name order (a query's sets stay together).
fn shard_queries(workload: &Workload, (index, count): (usize, usize)) -> Vec<String> {
    workload
        .queries
        .iter()
        .enumerate()
        .filter(|(position, _)| position % count == index - 1)
        .map(|(_, query)| query.name.clone())
        .collect()
}

/// What stderr says after a check: the headline, then each regression.
fn summary(checked: &crate::outcome::workload::WorkloadCheck) -> Vec<String> {
    let mut lines = vec![format!(
        "workload {}: {}",
        checked.workload,
        checked.headline()
    )];
    for subject in &checked.subjects {
        for change in &subject.changes {
            lines.push(format!("  {}: {}", subject.subject, change.message));
        }
    }
    for stale in &checked.stale {
        lines.push(format!(
            "  {stale}: stale baseline (no query file or parameter set)"
        ));
    }
    lines
}

/// The run's outcome for the report: the largest scale's run, one verdict per query
/// and parameter set, with the workload's comparison and every scale's phases.
fn outcome_of(
    workload: &Workload,
    runs: Vec<ScaleRun>,
    checked: crate::outcome::workload::WorkloadCheck,
    verdicts: Vec<crate::outcome::Verdict>,
) -> crate::outcome::Outcome {
    let phases = run::phases(&runs);
    let mut outcome = runs
        .into_iter()
        .last()
        .expect("a workload has a scale")
        .outcome;
    outcome.scenario = workload.name.clone();
    outcome.phases = phases;
    outcome.cells[0].verdicts = verdicts;
    outcome.workload = Some(checked);
    outcome
}

/// `plancheck workload baseline`: baselines for the queries that have none.
async fn baseline(args: RunArgs, registry: Registry) -> Result<Outcome> {
    let mut workload = Workload::find(&args.workloads_dir, &args.name)?;
    let baselines = read_baselines(&workload)?;
    let missing: Vec<String> = workload
        .queries
        .iter()
        .filter(|query| !baselines.contains_key(&query.name))
        .map(|query| query.name.clone())
        .collect();
    if missing.is_empty() {
        say!(
            "workload {}: every query has a baseline; `plancheck workload accept` rewrites one with a reason",
            workload.name
        );
        return Ok(Outcome::Passed);
    }
    workload.keep_only(&missing);
    let written = make(&workload, &args, registry, "first baseline").await?;
    say!(
        "workload {}: {} baseline(s) written",
        workload.name,
        written
    );
    Ok(Outcome::Passed)
}

/// `plancheck workload accept`: the named baselines rewritten with a reason, the
/// baselines of queries that are gone removed.
async fn accept(args: AcceptArgs, registry: Registry) -> Result<Outcome> {
    let reason = args.reason.trim();
    if reason.is_empty() {
        return Err(Error::Usage(
            "--reason is empty: say why the change is right; the baselines keep it for the pull request's reviewers".into(),
        ));
    }
    if !args.all && args.queries.is_empty() {
        return Err(Error::Usage(
            "name the queries whose baselines to rewrite, or give --all".into(),
        ));
    }
    let mut workload = Workload::find(&args.run.workloads_dir, &args.run.name)?;
    let baselines = read_baselines(&workload)?;
    let gone: Vec<String> = baselines
        .keys()
        .filter(|name| workload.query(name).is_none())
        .filter(|name| args.all || args.queries.contains(name))
        .cloned()
        .collect();
    let named: Vec<String> = match args.all {
        true => workload
            .queries
            .iter()
            .map(|query| query.name.clone())
            .collect(),
        false => args.queries.clone(),
    };
    if let Some(unknown) = named
        .iter()
        .find(|name| workload.query(name).is_none() && !gone.contains(name))
    {
        let known: Vec<&str> = workload
            .queries
            .iter()
            .map(|query| query.name.as_str())
            .collect();
        return Err(Error::Usage(format!(
            "workload {} has no query {unknown:?} (and no baseline of one); its queries: {}",
            workload.name,
            known.join(", ")
        )));
    }
    let rewrite: Vec<String> = named
        .into_iter()
        .filter(|name| !gone.contains(name))
        .collect();
    if !rewrite.is_empty() {
        workload.keep_only(&rewrite);
        let written = make(&workload, &args.run, registry, reason).await?;
        say!(
            "workload {}: {} baseline(s) rewritten",
            workload.name,
            written
        );
    }
    for name in gone {
        let path = baseline_path(&workload, &name);
        std::fs::remove_file(&path).map_err(Error::io(format!("removing {}", path.display())))?;
        say!("removed {} (its query file is gone)", path.display());
    }
    Ok(Outcome::Passed)
}

/// Runs `workload` as it stands, makes its queries' baselines with `reason` and writes
/// them, each whole or not at all, once every one is made. Gives how many.
async fn make(
    workload: &Workload,
    args: &RunArgs,
    registry: Registry,
    reason: &str,
) -> Result<usize> {
    let seed = args.seed.unwrap_or(workload.scenario.dataset.model.seed);
    let (server, options) = start(args, registry).await?;
    let ran = async {
        let rounds = Rounds::Baseline(workload.stability_rounds);
        let runs = run::run(&server, workload, &options, &rounds).await?;
        let made_with = run::made_with(workload, server.version().major, seed);
        run::make_baselines(workload, &runs, &made_with, reason)
    }
    .await;
    let made = stop(server, options.keep, ran).await?;
    std::fs::create_dir_all(&workload.baselines).map_err(Error::io(format!(
        "creating {}",
        workload.baselines.display()
    )))?;
    for baseline in &made {
        write_whole(
            &baseline_path(workload, &baseline.query),
            &baseline.render(),
        )?;
    }
    Ok(made.len())
}

/// Writes `text` to `path` through a temporary file beside it, renamed into place.
fn write_whole(path: &Path, text: &str) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut temporary = tempfile::NamedTempFile::new_in(dir)
        .map_err(Error::io(format!("creating a file in {}", dir.display())))?;
    std::io::Write::write_all(&mut temporary, text.as_bytes())
        .map_err(Error::io(format!("writing {}", path.display())))?;
    temporary
        .persist(path)
        .map_err(|error| Error::io(format!("writing {}", path.display()))(error.error))?;
    say!("wrote {}", path.display());
    Ok(())
}

/// `plancheck workload list`.
fn list(dir: &Path) -> Result<Outcome> {
    let names = crate::input::list(dir)?;
    let mut lines = Vec::new();
    let mut failed = false;
    for name in &names {
        match Workload::find(dir, name) {
            Ok(workload) => {
                let baselines = read_baselines(&workload).map(|b| b.len());
                let sets: usize = workload.queries.iter().map(|query| query.sets.len()).sum();
                lines.push(format!(
                    "{name}: {} queries, {sets} parameter sets, {} baselines, scales {:?}{} — {}",
                    workload.queries.len(),
                    baselines
                        .map_or_else(|error| format!("unreadable ({error})"), |n| n.to_string()),
                    workload.scales,
                    if workload.gate { ", gate" } else { "" },
                    workload.description.lines().next().unwrap_or_default()
                ));
            }
            Err(error) => {
                failed = true;
                lines.push(format!("{name}: does not load: {error}"));
            }
        }
    }
    super::print_stdout(&(lines.join("\n") + "\n"), "the workload list")?;
    match failed {
        true => Err(Error::Usage(
            "a workload does not load (listed above)".into(),
        )),
        false => Ok(Outcome::Passed),
    }
}
