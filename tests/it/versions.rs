//! The shipped scenarios judged on plans of several PostgreSQL major versions: the
//! plans `scripts/capture-version-plans.sh` captured on 13, 15 and 17
//! (tests/data/plans/pg<major>/) and those written from PostgreSQL 18's documentation
//! and source (pg18/, no archive here carries 18), judged offline by `plancheck judge`
//! with each scenario's checks and the catalog of the run that captured them. A
//! verdict must be the same on every version; where a version plans differently, the
//! test names the difference and checks that the plan shows it.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::support::{plancheck, repo_path};

/// The versions whose plans were captured from a real server.
const CAPTURED: [&str; 3] = ["pg13", "pg15", "pg17"];

/// What `plancheck judge --format json` said of one plan.
#[derive(Debug)]
struct Judged {
    /// `check subject: pass|FAIL|not judged`, in the scenario's order.
    verdicts: Vec<String>,
    access_path: Vec<String>,
    rows_examined: f64,
    rows_returned: f64,
}

fn plans_dir(version: &str) -> PathBuf {
    repo_path("tests/data/plans").join(version)
}

/// Judges `version`'s plan of `scenario`'s `query` captured at `scale` (for a
/// scenario with variants, the plan of `variant`, as the report names its file:
/// `status-shipped`), against the catalog of the same run, before or after its
/// migration as the query runs.
fn judge(version: &str, scenario: &str, scale: u32, plan: &str, catalog: &str) -> Judged {
    let dir = plans_dir(version);
    let plan_file = dir.join(format!("{scenario}.{scale}.{plan}.explain.json"));
    let query = plan.split('.').next().unwrap();
    let output = plancheck()
        .args(["judge", "--format", "json", "--scenario", scenario])
        .args(["--query", query, "--catalog"])
        .arg(dir.join(format!("{scenario}.{scale}.{catalog}")))
        .arg(&plan_file)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        matches!(output.status.code(), Some(0 | 1)),
        "{}: {}{}",
        plan_file.display(),
        stdout,
        String::from_utf8_lossy(&output.stderr)
    );
    let judgement: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let judged = &judgement["plans"][0];
    Judged {
        verdicts: judged["verdicts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|verdict| {
                let word = match (verdict["judged"].as_bool(), verdict["passed"].as_bool()) {
                    (Some(false), _) => "not judged",
                    (_, Some(true)) => "pass",
                    _ => "FAIL",
                };
                format!(
                    "{} {}: {word}",
                    verdict["check"].as_str().unwrap(),
                    verdict["subject"].as_str().unwrap()
                )
            })
            .collect(),
        access_path: judged["access_path"]
            .as_array()
            .unwrap()
            .iter()
            .map(|label| label.as_str().unwrap().to_owned())
            .collect(),
        rows_examined: judged["rows_examined"].as_f64().unwrap(),
        rows_returned: judged["rows_returned"].as_f64().unwrap(),
    }
}

/// Every plan the capture kept of the shipped scenarios, as `(scenario, scale, plan,
/// catalog)` with `plan` as in [`judge`].
fn captured_plans() -> Vec<(&'static str, u32, &'static str, &'static str)> {
    let mut plans = Vec::new();
    for scale in [20_000, 350_000] {
        for scenario in ["sparse-org", "dense-org"] {
            for query in ["old", "new"] {
                plans.push((scenario, scale, query, "catalog.json"));
            }
        }
    }
    for (plan, catalog) in [
        ("old.status-awaiting-transfer", "catalog.json"),
        ("old.status-shipped", "catalog.json"),
        ("new.status-awaiting-transfer", "catalog.after.json"),
        ("new.status-shipped", "catalog.after.json"),
    ] {
        plans.push(("orders-by-status", 20_000, plan, catalog));
    }
    plans
}

/// Renders one plan's verdicts per version, for a failure message.
fn by_version(judged: &BTreeMap<&str, Judged>) -> String {
    judged
        .iter()
        .map(|(version, judged)| {
            format!(
                "{version}: {} | {} rows examined, {} returned | {}",
                judged.verdicts.join(", "),
                judged.rows_examined,
                judged.rows_returned,
                judged.access_path.join("; ")
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_shipped_scenarios_get_the_same_verdicts_on_13_15_and_17() {
    for (scenario, scale, plan, catalog) in captured_plans() {
        let judged: BTreeMap<&str, Judged> = CAPTURED
            .iter()
            .map(|version| (*version, judge(version, scenario, scale, plan, catalog)))
            .collect();
        let first = &judged[CAPTURED[0]];
        assert!(
            !first.verdicts.is_empty(),
            "{scenario} at {scale}: {plan} has no check to judge it"
        );
        for (version, other) in &judged {
            assert_eq!(
                other.verdicts,
                first.verdicts,
                "{scenario} at {scale}, {plan}: {version}'s verdicts differ from {}'s:\n{}",
                CAPTURED[0],
                by_version(&judged)
            );
        }
    }
}
