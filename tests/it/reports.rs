//! Snapshot tests of the rendered reports, on a run assembled from plans captured in
//! real runs and fixed timings, so the snapshots are stable without redaction.

use chrono::{TimeZone, Utc};
use plancheck::checks::CheckSpec;
use plancheck::evidence::{Evidence, Phase, QueryEvidence, Timing};
use plancheck::plan::{Catalog, Plan};
use plancheck::provision::Backend;
use plancheck::report;
use plancheck::run::{Environment, Host, ScenarioRun};
use plancheck::seed::{Seeded, SeededOrganization};
use plancheck::settings::Setting;

use crate::support::repo_path;

fn stored_query(name: &str, file: &str, samples_ms: Vec<f64>) -> QueryEvidence {
    let raw_explain: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo_path("tests/data/plans").join(file)).unwrap(),
    )
    .unwrap();
    QueryEvidence {
        name: name.into(),
        plan: Plan::from_explain(&raw_explain).unwrap(),
        raw_explain,
        timing: Timing { samples_ms },
    }
}

fn sample_run() -> ScenarioRun {
    let scenario =
        plancheck::scenario::Scenario::load(&repo_path("scenarios/sparse-org.toml")).unwrap();
    let catalog: Catalog = serde_json::from_str(
        &std::fs::read_to_string(repo_path("tests/data/plans/desc-index.catalog.json")).unwrap(),
    )
    .unwrap();
    let evidence = Evidence {
        queries: vec![
            stored_query(
                "old",
                "desc-index-forward-walk.explain.json",
                vec![1864.2, 1901.7, 1850.3],
            ),
            stored_query("new", "org-index.explain.json", vec![0.652, 0.61, 0.7]),
        ],
        catalog,
    };
    let verdicts = scenario
        .checks
        .iter()
        .map(|check: &CheckSpec| check.evaluate(&evidence))
        .collect();
    let as_of = Utc.with_ymd_and_hms(2026, 6, 1, 0, 0, 0).unwrap();
    let target = SeededOrganization {
        id: uuid::Uuid::from_u128(0x0c5f_8f1e_2d6a_4b7c_9e3f_1a2b_3c4d_5e6f),
        name: "Herzog LLC".into(),
        profile: "sparse".into(),
        runs: 40,
        workflows: 3,
        deleted_workflows: 0,
        oldest: as_of - chrono::Duration::days(365),
        newest: as_of - chrono::Duration::days(300),
    };
    ScenarioRun {
        scenario: "sparse-org".into(),
        database: "plancheck_sparse_org_test".into(),
        description: scenario.description.clone(),
        scenario_file: "scenarios/sparse-org.toml".into(),
        dataset_file: "fixtures/datasets/workflow-runs.toml".into(),
        scale: 1_000_000,
        environment: Environment {
            backend: Backend::Local {
                bindir: "/usr/lib/postgresql/15/bin".into(),
            },
            backend_note: None,
            server_version: "15.18".into(),
            settings: vec![
                Setting {
                    name: "jit".into(),
                    value: "off".into(),
                    source: "database".into(),
                },
                Setting {
                    name: "random_page_cost".into(),
                    value: "1.1".into(),
                    source: "database".into(),
                },
            ],
            host: Host {
                cores: 2,
                memory_mib: 24_000,
                cpu: "Test CPU".into(),
                os: "Linux 6.1".into(),
            },
        },
        seeded: Seeded {
            seed: 20_261_124,
            as_of,
            rows: vec![
                ("organizations".into(), 100),
                ("workflow_runs".into(), 1_000_000),
            ],
            runs_table_bytes: 1_234_567_890,
            runs_index_bytes: 456_789_012,
            organizations: vec![target.clone()],
            phases: vec![],
        },
        target,
        evidence,
        query_files: vec![
            (
                "old".into(),
                "fixtures/queries/list_runs_by_org_exists.sql".into(),
            ),
            (
                "new".into(),
                "fixtures/queries/list_runs_by_org_column.sql".into(),
            ),
        ],
        verdicts,
        phases: vec![
            Phase {
                name: "seed: copy rows".into(),
                ms: 5601.0,
            },
            Phase {
                name: "capture plans".into(),
                ms: 2183.4,
            },
        ],
    }
}

#[test]
fn markdown_report() {
    insta::assert_snapshot!(report::markdown::render(&sample_run()));
}

#[test]
fn terminal_summary() {
    insta::assert_snapshot!(report::terminal::render(&sample_run(), false, Some(140)));
}

#[test]
fn json_report() {
    let run = sample_run();
    let text = report::json::render(&run);
    let parsed: report::json::Report =
        serde_json::from_str(&text).expect("deny_unknown_fields round trip");
    assert_eq!(parsed.format, report::json::FORMAT);
    insta::assert_snapshot!(text);
}
