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
use std::path::PathBuf;

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

    let mut finished = Finished {
        runs: scenarios.iter().map(|_| Vec::new()).collect(),
        documents: Vec::new(),
    };
    let plan = VersionPlan {
        scenarios,
        sweeps,
        options,
        ci,
    };
    let mut failure: Option<Error> = None;
    for major in &majors {
        match run_version(*major, &provision.for_version(*major), &plan, &mut finished).await {
            Ok(None) => {}
            // A server that would not stop is said at the end, and the next version
            // still runs.
            Ok(Some(stop)) => {
                failure.get_or_insert(stop);
            }
            Err(error) => {
                failure = Some(error);
                break;
            }
        }
    }

    // What finished is written, even when a later version failed.
    let mut placed: Vec<PlacedReport> = Vec::new();
    for ((scenario, claim), runs) in scenarios.iter().zip(claims).zip(&finished.runs) {
        if runs.is_empty() {
            continue;
        }
        match place_scenario(scenario, claim, runs, &finished.documents, &majors) {
            Ok(reports) => placed.extend(reports),
            Err(error) => {
                failure.get_or_insert(error);
            }
        }
    }
    if scenarios.len() > 1
        && let Err(error) = write_index(&args.out, &placed)
    {
        failure.get_or_insert(error);
    }
    let summary: Vec<(&Report, String, Option<String>)> = placed
        .iter()
        .map(|(report, major, dir)| (*report, dir.display().to_string(), Some(major.to_string())))
        .collect();
    let written = ci.finish(&summary, failure.as_ref());
    if let Some(error) = failure {
        return Err(error);
    }
    written?;
    let all_passed = finished.runs.iter().flatten().all(|(_, run)| run.passed());
    Ok(match all_passed {
        true => Outcome::Passed,
        false => Outcome::ChecksFailed,
    })
}

/// What every version runs: the scenarios, each with its sweep, and where their
/// progress and CI outputs go.
struct VersionPlan<'a> {
    scenarios: &'a [Scenario],
    sweeps: &'a [Option<SweepPlan>],
    options: &'a RunOptions,
    ci: &'a CiOutput,
}

/// What the versions run so far gave.
struct Finished {
    /// Per scenario, what each version gave.
    runs: Vec<Vec<(u32, crate::outcome::Outcome)>>,
    /// Each finished run's report document, with its version.
    documents: Vec<(Report, u32)>,
}

/// A report in place: its document, its version and its directory.
type PlacedReport<'a> = (&'a Report, u32, PathBuf);

/// Every scenario on one version's server, which is then stopped, or kept with
/// `--keep`. An error ends the whole run (the server did not start, or a scenario
/// failed); `Ok(Some(error))` is a server that would not stop, after which the next
/// version still runs.
async fn run_version(
    major: u32,
    wanted: &ProvisionOptions,
    plan: &VersionPlan<'_>,
    finished: &mut Finished,
) -> Result<Option<Error>> {
    let server = super::start_server(wanted, &format!("PostgreSQL {major}")).await?;
    let mut databases = Vec::new();
    // What ended this version's scenarios, and with them the run.
    let mut ended: Option<Error> = None;
    for (index, (scenario, sweep)) in plan.scenarios.iter().zip(plan.sweeps).enumerate() {
        say!("running scenario {} on PostgreSQL {major}", scenario.name);
        let prefix = format!("PostgreSQL {major}: ");
        let run = match super::run_one(&server, scenario, sweep, plan.options, &prefix).await {
            Ok(run) => run,
            Err(error) => {
                let so_far = reports_so_far(&finished.documents);
                plan.ci
                    .scenario_failed(scenario, Some(&major.to_string()), &so_far, &error);
                ended = Some(error);
                break;
            }
        };
        finished
            .documents
            .push((report::document::report(&run), major));
        let written = plan
            .ci
            .scenario_done(scenario, &reports_so_far(&finished.documents));
        databases.push(run.database.clone());
        finished.runs[index].push((major, run));
        if let Err(error) = written {
            ended = Some(error);
            break;
        }
    }
    let stopped = match plan.options.keep && ended.is_none() {
        true => {
            let what = format!("the PostgreSQL {major} server");
            super::print_kept(&server, &what, &databases);
            server.keep().await
        }
        false => server.stop().await,
    };
    match ended {
        Some(error) => Err(error),
        None => Ok(stopped.err()),
    }
}

/// One scenario's reports, a version each under `pg<N>/`, with the comparison beside
/// them, put in place; says what the versions agreed on. Gives the reports in place.
fn place_scenario<'d>(
    scenario: &Scenario,
    claim: &Claim,
    runs: &[(u32, crate::outcome::Outcome)],
    documents: &'d [(Report, u32)],
    majors: &[u32],
) -> Result<Vec<PlacedReport<'d>>> {
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
    }
    let versions = Versions::compare(&compared, majors);
    files.push((
        report::versions::FILES[0].to_owned(),
        report::versions::markdown(&versions),
    ));
    files.push((
        report::versions::FILES[1].to_owned(),
        report::versions::json(&versions),
    ));
    let dir = claim.install(&files)?;
    let ran: Vec<String> = runs.iter().map(|(major, _)| major.to_string()).collect();
    say!(
        "{} on PostgreSQL {}: {}",
        scenario.name,
        ran.join(", "),
        report::versions::agreement(&versions)
            .unwrap_or_else(|| format!("they differ: {}", versions.differences.join("; ")))
    );
    say!("report written to {}", dir.display());
    Ok(reports
        .into_iter()
        .map(|(document, major)| (document, major, dir.join(format!("pg{major}"))))
        .collect())
}

/// A run of several scenarios: the index and summary over every scenario and version
/// whose report is in place, a row each, a scenario's versions together.
fn write_index(out: &std::path::Path, placed: &[PlacedReport]) -> Result<()> {
    let rows: Vec<report::Placed> = placed
        .iter()
        .map(|(report, major, _)| report::Placed {
            dir: format!("{}/pg{major}", report.scenario),
            report,
        })
        .collect();
    super::write_run_files(out, &rows)
}

/// The reports so far, each with its version, as the CI outputs take them.
fn reports_so_far(documents: &[(Report, u32)]) -> Vec<(&Report, Option<String>)> {
    documents
        .iter()
        .map(|(report, major)| (report, Some(major.to_string())))
        .collect()
}
