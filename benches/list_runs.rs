//! Old vs new organization-scoped run list, on one seeded database.
//!
//! Before measuring, the bench judges the `sparse-org` and `dense-org` scenarios on
//! that database and exits non-zero if any check fails: `cargo bench` is the CI
//! performance gate. Then criterion measures each query per scenario (groups named
//! `<scenario>/<query>`).
//!
//! `PLANCHECK_BENCH_SCALE` sets the number of workflow runs (default 1,000,000, the
//! scenarios' own scale, which keeps a run to about two minutes on two cores).
//! `PLANCHECK_BENCH_BACKEND` picks the backend (`auto`, `docker`, `local`; default
//! `auto`).

use std::process::ExitCode;
use std::time::Duration;

use clap::ValueEnum;
use criterion::Criterion;
use plancheck::capture;
use plancheck::provision::{BackendChoice, ProvisionOptions, Server};
use plancheck::report::terminal;
use plancheck::run::{PreparedDatabase, RunOptions};
use plancheck::scenario::Scenario;
use plancheck::timing::TimingOptions;

const SCENARIOS: [&str; 2] = ["sparse-org", "dense-org"];

fn main() -> ExitCode {
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    let scale = std::env::var("PLANCHECK_BENCH_SCALE").ok().map(|value| {
        value
            .replace('_', "")
            .parse::<u64>()
            .expect("PLANCHECK_BENCH_SCALE is a number of runs")
    });
    let backend = std::env::var("PLANCHECK_BENCH_BACKEND")
        .ok()
        .map(|value| {
            BackendChoice::from_str(&value, true)
                .expect("PLANCHECK_BENCH_BACKEND is auto, docker or local")
        })
        .unwrap_or(BackendChoice::Auto);
    let scenarios: Vec<Scenario> = SCENARIOS
        .iter()
        .map(|name| {
            Scenario::find(std::path::Path::new("scenarios"), name)
                .expect("the shipped scenarios are valid")
        })
        .collect();
    let options = RunOptions {
        scale,
        seed: None,
        progress: true,
        timing: TimingOptions::default(),
        keep: false,
    };

    let provision = ProvisionOptions {
        backend,
        ..ProvisionOptions::default()
    };
    let server = runtime
        .block_on(Server::start(&provision))
        .unwrap_or_else(|error| {
            eprintln!("bench: no PostgreSQL: {error:#}");
            std::process::exit(3);
        });
    eprintln!("bench: seeding on {}", server.backend());
    let prepared =
        match runtime.block_on(PreparedDatabase::create(&server, &scenarios[0], &options)) {
            Ok(prepared) => prepared,
            Err(error) => {
                eprintln!("bench: preparing the database failed: {error:#}");
                let _ = runtime.block_on(server.stop());
                return ExitCode::from(3);
            }
        };

    // The gate: every check of every scenario, on the data about to be measured.
    let mut gate_passed = true;
    for scenario in &scenarios {
        match runtime.block_on(prepared.judge(scenario, options.timing)) {
            Ok(run) => {
                eprint!("{}", terminal::render(&run, false, None));
                gate_passed &= run.passed();
            }
            Err(error) => {
                eprintln!("bench: judging {} failed: {error:#}", scenario.name);
                gate_passed = false;
            }
        }
    }
    if !gate_passed {
        eprintln!(
            "bench: a plan check failed; not measuring (this run fails the performance gate)"
        );
        let _ = runtime.block_on(prepared.discard());
        let _ = runtime.block_on(server.stop());
        return ExitCode::from(1);
    }

    let mut criterion = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
        .configure_from_args();
    for scenario in &scenarios {
        let target = prepared
            .seeded
            .first_of(&scenario.target_profile)
            .expect("the target profile was seeded");
        let bound = runtime
            .block_on(capture::bind(prepared.client(), scenario, target))
            .expect("the scenario's queries prepare");
        let mut group = criterion.benchmark_group(&scenario.name);
        for query in &bound {
            let params = query.params();
            group.bench_function(&query.name, |bencher| {
                bencher.to_async(&runtime).iter(|| async {
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
    criterion.final_summary();

    let _ = runtime.block_on(prepared.discard());
    let _ = runtime.block_on(server.stop());
    ExitCode::SUCCESS
}
