//! `plancheck scenario … --pg 13,15,17`: every scenario on each PostgreSQL major
//! version, one server per version (started, used for every scenario, stopped or with
//! `--keep` kept), then per scenario each version's report under `pg<N>/` and the
//! comparison beside them. A sweep (`--scales`, `--sweep`, `--find-flip`) runs whole on
//! each version, and `--stability` samples each version's plans.

use super::ScenarioArgs;
use super::ci_output::CiOutput;
use crate::cli::Outcome;
use crate::error::{Error, Result};
use crate::input::Scenario;
use crate::outcome::versions::Versions;
use crate::pipeline::sweep::{self as scale_sweep, SweepPlan};
use crate::pipeline::{RunOptions, run_scenario};
use crate::provision::{ProvisionOptions, Server};
use crate::report::{self, Claim, Report};
use crate::say;

pub(super) async fn run(
    args: &ScenarioArgs,
    scenarios: &[Scenario],
    sweeps: &[Option<SweepPlan>],
    claims: &[Claim],
    provision: &ProvisionOptions,
    options: &RunOptions,
    ci: &CiOutput,
) -> Result<Outcome> {
    let mut majors: Vec<u32> = Vec::new();
    for major in &args.pg {
        if !majors.contains(major) {
            majors.push(*major);
        }
    }
    // Every version is looked for before any starts: a missing image is found before
    // the first version's seeding, not after it.
    for major in &majors {
        Server::check_available(&provision.for_version(*major)).await?;
    }

    // Per scenario, what each version gave.
    let mut runs: Vec<Vec<(u32, crate::outcome::Outcome)>> =
        scenarios.iter().map(|_| Vec::new()).collect();
    let mut documents: Vec<(Report, Option<String>)> = Vec::new();
    let mut failure: Option<Error> = None;
    for major in &majors {
        let wanted = provision.for_version(*major);
        say!(
            "starting PostgreSQL {major} ({} backend)…",
            format!("{:?}", wanted.backend).to_lowercase()
        );
        let server = match Server::start(&wanted).await {
            Ok(server) => server,
            Err(error) => {
                failure = Some(error);
                break;
            }
        };
        say!(
            "start server: {} ({})",
            crate::progress::duration(server.startup),
            server.backend()
        );
        let mut databases = Vec::new();
        // What ended this version's scenarios, and with them the run.
        let mut ended: Option<Error> = None;
        for (index, (scenario, sweep)) in scenarios.iter().zip(sweeps).enumerate() {
            say!("running scenario {} on PostgreSQL {major}", scenario.name);
            let run = match sweep {
                Some(plan) => scale_sweep::run(&server, scenario, options, plan).await,
                None => run_scenario(&server, scenario, options).await,
            };
            let run = match run {
                Ok(run) => run,
                Err(error) => {
                    ci.scenario_failed(
                        scenario,
                        Some(&major.to_string()),
                        &finished(&documents),
                        &error,
                    );
                    ended = Some(error);
                    break;
                }
            };
            for line in scale_sweep::summary(&run)
                .into_iter()
                .chain(crate::pipeline::stability::summary(&run))
            {
                say!("PostgreSQL {major}: {line}");
            }
            documents.push((report::document::report(&run), Some(major.to_string())));
            let written = ci.scenario_done(scenario, &finished(&documents));
            databases.push(run.database.clone());
            runs[index].push((*major, run));
            if let Err(error) = written {
                ended = Some(error);
                break;
            }
        }
        let stopped = match options.keep && ended.is_none() {
            true => {
                let what = format!("the PostgreSQL {major} server");
                super::print_kept(&server, &what, &databases);
                server.keep().await
            }
            false => server.stop().await,
        };
        // A server that would not stop is said at the end, and the next version still
        // runs; a scenario that failed ends the run.
        if let Err(error) = stopped {
            failure.get_or_insert(error);
        }
        if let Some(error) = ended {
            failure = Some(error);
            break;
        }
    }

    // What finished is written, even when a later version failed.
    let mut all_passed = true;
    let mut placed = Vec::new();
    for ((scenario, claim), runs) in scenarios.iter().zip(claims).zip(&runs) {
        if runs.is_empty() {
            continue;
        }
        let mut files = Vec::new();
        let mut compared = Vec::new();
        for (major, run) in runs {
            let version = Some(major.to_string());
            let (document, _) = documents
                .iter()
                .find(|(document, of)| document.scenario == scenario.name && *of == version)
                .expect("every run's document was made when it finished");
            for (name, text) in report::files(document) {
                files.push((format!("pg{major}/{name}"), text));
            }
            compared.push((*major, run, format!("pg{major}/report.md")));
            all_passed &= run.passed();
        }
        let versions = Versions::compare(&compared, &majors);
        files.push((
            report::versions::FILES[0].to_owned(),
            report::versions::markdown(&versions),
        ));
        files.push((
            report::versions::FILES[1].to_owned(),
            report::versions::json(&versions),
        ));
        match claim.install(&files) {
            Ok(dir) => {
                say!(
                    "{} on PostgreSQL {}: {}",
                    scenario.name,
                    runs.iter()
                        .map(|(major, _)| major.to_string())
                        .collect::<Vec<_>>()
                        .join(", "),
                    match (runs.len(), versions.differences.is_empty()) {
                        (1, _) => "one version ran: nothing to compare".to_owned(),
                        (_, true) => format!(
                            "every version gave the same {}",
                            report::versions::agreed(&versions)
                        ),
                        (_, false) => {
                            format!("they differ: {}", versions.differences.join("; "))
                        }
                    }
                );
                say!("report written to {}", dir.display());
                for (major, _) in runs {
                    placed.push((
                        scenario.name.clone(),
                        *major,
                        dir.join(format!("pg{major}")),
                    ));
                }
            }
            Err(error) => {
                failure.get_or_insert(error);
            }
        }
    }
    // A run of several scenarios: the index and summary over every scenario and
    // version whose report is in place, a row each, a scenario's versions together.
    if scenarios.len() > 1 {
        let rows: Vec<report::Placed> = placed
            .iter()
            .filter_map(|(scenario, major, _)| {
                let (report, _) = documents.iter().find(|(report, version)| {
                    report.scenario == *scenario && *version == Some(major.to_string())
                })?;
                Some(report::Placed {
                    dir: format!("{scenario}/pg{major}"),
                    report,
                })
            })
            .collect();
        match report::write_run_files(&args.out, &rows) {
            Ok(written) => {
                for path in written {
                    say!("run summary written to {}", path.display());
                }
            }
            Err(error) => {
                failure.get_or_insert(error);
            }
        }
    }
    let summary: Vec<(&Report, String, Option<String>)> = documents
        .iter()
        .filter_map(|(report, version)| {
            let dir = placed.iter().find(|(scenario, major, _)| {
                *scenario == report.scenario && Some(major.to_string()) == *version
            })?;
            Some((report, dir.2.display().to_string(), version.clone()))
        })
        .collect();
    ci.finish(&summary, failure.as_ref());
    if let Some(error) = failure {
        return Err(error);
    }
    Ok(match all_passed {
        true => Outcome::Passed,
        false => Outcome::ChecksFailed,
    })
}

/// The reports so far, each with its version, as the CI outputs take them.
fn finished(documents: &[(Report, Option<String>)]) -> Vec<(&Report, Option<String>)> {
    documents
        .iter()
        .map(|(report, version)| (report, version.clone()))
        .collect()
}
