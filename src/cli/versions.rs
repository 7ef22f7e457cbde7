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
use crate::pipeline::RunOptions;
use crate::pipeline::sweep::SweepPlan;
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
    // Each finished run's report document, with its version.
    let mut documents: Vec<(Report, u32)> = Vec::new();
    let mut failure: Option<Error> = None;
    for major in &majors {
        let wanted = provision.for_version(*major);
        let server = match super::start_server(&wanted, &format!("PostgreSQL {major}")).await {
            Ok(server) => server,
            Err(error) => {
                failure = Some(error);
                break;
            }
        };
        let mut databases = Vec::new();
        // What ended this version's scenarios, and with them the run.
        let mut ended: Option<Error> = None;
        for (index, (scenario, sweep)) in scenarios.iter().zip(sweeps).enumerate() {
            say!("running scenario {} on PostgreSQL {major}", scenario.name);
            let prefix = format!("PostgreSQL {major}: ");
            let run = match super::run_one(&server, scenario, sweep, options, &prefix).await {
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
            documents.push((report::document::report(&run), *major));
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
    // Each report in place, with its version and directory, a scenario's together.
    let mut placed: Vec<(&Report, u32, std::path::PathBuf)> = Vec::new();
    for ((scenario, claim), runs) in scenarios.iter().zip(claims).zip(&runs) {
        if runs.is_empty() {
            continue;
        }
        let mut files = Vec::new();
        let mut compared = Vec::new();
        let mut reports = Vec::new();
        for (major, run) in runs {
            let (document, _) = documents
                .iter()
                .find(|(document, of)| document.scenario == scenario.name && of == major)
                .expect("every run's document was made when it finished");
            reports.push((document, *major));
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
                    report::versions::agreement(&versions).unwrap_or_else(|| format!(
                        "they differ: {}",
                        versions.differences.join("; ")
                    ))
                );
                say!("report written to {}", dir.display());
                for (document, major) in reports {
                    placed.push((document, major, dir.join(format!("pg{major}"))));
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
            .map(|(report, major, _)| report::Placed {
                dir: format!("{}/pg{major}", report.scenario),
                report,
            })
            .collect();
        if let Err(error) = super::write_run_files(&args.out, &rows) {
            failure.get_or_insert(error);
        }
    }
    let summary: Vec<(&Report, String, Option<String>)> = placed
        .iter()
        .map(|(report, major, dir)| (*report, dir.display().to_string(), Some(major.to_string())))
        .collect();
    let finished = ci.finish(&summary, failure.as_ref());
    if let Some(error) = failure {
        return Err(error);
    }
    finished?;
    Ok(match all_passed {
        true => Outcome::Passed,
        false => Outcome::ChecksFailed,
    })
}

/// The reports so far, each with its version, as the CI outputs take them.
fn finished(documents: &[(Report, u32)]) -> Vec<(&Report, Option<String>)> {
    documents
        .iter()
        .map(|(report, major)| (report, Some(major.to_string())))
        .collect()
}
