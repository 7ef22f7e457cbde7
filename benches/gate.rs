//! The CI performance gate, then criterion measurements.
//!
//! Every scenario in `scenarios/` that declares `gate = true` is judged first, on
//! data seeded at its dataset's scale; the bench exits non-zero if any check fails, so
//! `cargo bench` fails the build. Scenarios sharing a dataset and settings (and no
//! migration) share one seeded database. Then, while every check so far has passed,
//! criterion measures that database's scenarios' queries in their first variant (groups
//! named `<scenario>/<query>`); scenarios with a migration are judged but not
//! measured, since judging migrates their database. One database is on the server at a
//! time, so the seeded-data cache serves and stores each (`PLANCHECK_NO_CACHE` turns
//! it off, as for the CLI).
//!
//! `PLANCHECK_BENCH_SCALE` overrides the scale; `PLANCHECK_BENCH_BACKEND` picks the
//! backend (`auto`, `docker`, `local`; default `auto`); `PLANCHECK_SCENARIOS` the
//! directory (default `scenarios`).

use std::process::ExitCode;
use std::time::Duration;

use clap::ValueEnum;
use criterion::Criterion;
use plancheck::cache::Cache;
use plancheck::capture::timing::TimingOptions;
use plancheck::input::{self, Scenario};
use plancheck::pipeline::{PreparedDatabase, RunOptions};
use plancheck::provision::{BackendChoice, ProvisionOptions, Server};
use plancheck::report::terminal;

fn gate_scenarios() -> Vec<Scenario> {
    let dir = std::path::PathBuf::from(
        std::env::var("PLANCHECK_SCENARIOS").unwrap_or_else(|_| "scenarios".into()),
    );
    let names = input::list(&dir).unwrap_or_else(|error| {
        eprintln!("bench: {error}");
        std::process::exit(2);
    });
    names
        .iter()
        .map(|name| {
            Scenario::find(&dir, name).unwrap_or_else(|error| {
                eprintln!("bench: scenario {name} is invalid: {error}");
                std::process::exit(2);
            })
        })
        .filter(|scenario| scenario.gate)
        .collect()
}

/// Scenarios that can share one seeded database.
fn batches(scenarios: &[Scenario]) -> Vec<Vec<&Scenario>> {
    let mut batches: Vec<Vec<&Scenario>> = Vec::new();
    for scenario in scenarios {
        let shares = |batch: &Vec<&Scenario>| {
            let first = batch[0];
            scenario.migration.is_empty()
                && first.migration.is_empty()
                && first.dataset.path == scenario.dataset.path
                && first.settings == scenario.settings
        };
        match batches.iter_mut().find(|batch| shares(batch)) {
            Some(batch) => batch.push(scenario),
            None => batches.push(vec![scenario]),
        }
    }
    batches
}

/// The cache the CLI would use, unless `PLANCHECK_NO_CACHE` is set (and not `0` or
/// `false`); none when it cannot be opened.
fn cache() -> Option<Cache> {
    let off = std::env::var("PLANCHECK_NO_CACHE")
        .is_ok_and(|value| !matches!(value.as_str(), "" | "0" | "false" | "no" | "off"));
    if off {
        return None;
    }
    Cache::from_env()
        .map_err(|error| eprintln!("bench: cache not used: {error}"))
        .ok()
}

fn main() -> ExitCode {
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    let scale = std::env::var("PLANCHECK_BENCH_SCALE").ok().map(|value| {
        value
            .replace('_', "")
            .parse::<u64>()
            .expect("PLANCHECK_BENCH_SCALE is a number of rows")
    });
    let backend = std::env::var("PLANCHECK_BENCH_BACKEND")
        .ok()
        .map(|value| {
            BackendChoice::from_str(&value, true)
                .expect("PLANCHECK_BENCH_BACKEND is auto, docker or local")
        })
        .unwrap_or(BackendChoice::Auto);
    let scenarios = gate_scenarios();
    if scenarios.is_empty() {
        eprintln!("bench: no scenario declares gate = true; nothing to judge");
        return ExitCode::from(2);
    }
    let options = RunOptions {
        scale,
        seed: None,
        progress: plancheck::progress::Progress::for_stderr(true),
        timing: TimingOptions::default(),
        keep: false,
        stability: None,
    };
    let server = runtime
        .block_on(Server::start(&ProvisionOptions {
            backend,
            // As the CLI: the seeded data is kept for the next run unless
            // PLANCHECK_NO_CACHE says otherwise.
            cache: cache(),
            ..ProvisionOptions::default()
        }))
        .unwrap_or_else(|error| {
            eprintln!("bench: no PostgreSQL: {error:#}");
            std::process::exit(3);
        });
    eprintln!(
        "bench: gate scenarios {} on {}",
        scenarios
            .iter()
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        server.backend()
    );

    let mut criterion = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
        .configure_from_args();
    // Batch by batch: judged, then (while every check so far passed) measured, then
    // dropped, so only one scratch database is on the server at a time and the
    // seeded-data cache can serve and store each batch.
    let mut gate_passed = true;
    for batch in batches(&scenarios) {
        let mut prepared =
            match runtime.block_on(PreparedDatabase::create(&server, &batch, &options)) {
                Ok(prepared) => prepared,
                Err(error) => {
                    eprintln!(
                        "bench: preparing the database for {} failed: {error:#}",
                        batch[0].name
                    );
                    gate_passed = false;
                    continue;
                }
            };
        for scenario in &batch {
            match runtime.block_on(prepared.judge(scenario, options.timing)) {
                Ok(outcome) => {
                    eprint!(
                        "{}",
                        terminal::render(
                            &plancheck::report::document::report(&outcome),
                            false,
                            None
                        )
                    );
                    gate_passed &= outcome.passed();
                }
                Err(error) => {
                    eprintln!("bench: judging {} failed: {error:#}", scenario.name);
                    gate_passed = false;
                }
            }
        }
        // A migrated database no longer holds the queries' schema state.
        if gate_passed && batch[0].migration.is_empty() {
            measure(&runtime, &mut criterion, &prepared, &batch);
        }
        let _ = runtime.block_on(prepared.discard());
    }
    let _ = runtime.block_on(server.stop());
    if !gate_passed {
        eprintln!(
            "bench: a plan check failed; the scenarios after it were not measured (this run fails the performance gate)"
        );
        return ExitCode::from(1);
    }
    criterion.final_summary();
    ExitCode::SUCCESS
}

/// Criterion's measurement of every query of `batch` on its prepared database.
fn measure(
    runtime: &tokio::runtime::Runtime,
    criterion: &mut Criterion,
    prepared: &PreparedDatabase,
    batch: &[&Scenario],
) {
    for scenario in batch {
        let bound = runtime
            .block_on(prepared.bind_first_variant(scenario))
            .expect("the scenario's queries bind");
        let mut group = criterion.benchmark_group(&scenario.name);
        for query in &bound {
            let params = query.params();
            group.bench_function(&query.name, |bencher| {
                bencher.to_async(runtime).iter(|| async {
                    prepared
                        .client()
                        .query(&query.statement, &params)
                        .await
                        .expect("the query runs")
                })
            });
        }
        group.finish();
    }
}
