//! docs/ci.md's workflows: quoted verbatim from docs/ci/, parsed as YAML, checked
//! against the GitHub Actions and GitLab CI schemas (check-jsonschema's vendored
//! copies) and linted with zizmor, and the steps that can run here run: the matrix
//! step on the real `plancheck list --format json`, and the GitLab child pipeline's
//! generation. GitHub and GitLab themselves cannot run here; docs/ci.md says so.
//! `.ci/run` installs the tools (pip: check-jsonschema, zizmor, PyYAML; Debian: jq);
//! a missing one fails the test with what to install.

use std::path::Path;
use std::process::Command;

use crate::support::repo_path;

const WORKFLOW: &str = "docs/ci/github-workflow.yml";
const GITLAB: &str = "docs/ci/gitlab-ci.yml";
const GITLAB_CHILD: &str = "docs/ci/gitlab-child-pipeline.jq";

/// Runs `program` with `args` from the repository root and returns its stdout,
/// panicking with its output when it fails or with what to install when it is missing.
fn run(program: &str, args: &[&str], install: &str) -> String {
    let output = Command::new(program)
        .args(args)
        .current_dir(repo_path(""))
        .output()
        .unwrap_or_else(|error| {
            panic!("{program} is needed ({error}): {install} (bash .ci/run does)")
        });
    assert!(
        output.status.success(),
        "{program} {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A YAML file as JSON, parsed by PyYAML's safe loader.
fn yaml(path: &str) -> serde_json::Value {
    let json = run(
        "python3",
        &[
            "-c",
            "import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))",
            path,
        ],
        "pip install PyYAML",
    );
    serde_json::from_str(&json).unwrap()
}

/// The `run` script of the step with this `id` in `job`.
fn step_with_id<'a>(workflow: &'a serde_json::Value, job: &str, id: &str) -> &'a serde_json::Value {
    workflow["jobs"][job]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|step| step["id"] == id)
        .unwrap_or_else(|| panic!("job {job} has a step with id {id}"))
}

#[test]
fn ci_docs_quote_the_workflow_files_verbatim() {
    let docs = std::fs::read_to_string(repo_path("docs/ci.md")).unwrap();
    for file in [WORKFLOW, GITLAB, GITLAB_CHILD] {
        let text = std::fs::read_to_string(repo_path(file)).unwrap();
        assert!(
            docs.contains(&format!("\n{text}```\n")),
            "docs/ci.md does not quote {file} as it is (a fenced block holding the whole file)"
        );
    }
}

#[test]
fn ci_docs_github_workflow_passes_its_schema_and_zizmor() {
    run(
        "check-jsonschema",
        &["--builtin-schema", "vendor.github-workflows", WORKFLOW],
        "pip install check-jsonschema",
    );
    run(
        "zizmor",
        &["--offline", "--config", "docs/ci/zizmor.yml", WORKFLOW],
        "pip install zizmor",
    );
    let workflow = yaml(WORKFLOW);
    let jobs = &workflow["jobs"];
    // The matrix: the build job's listing, times at least two PostgreSQL versions.
    let matrix = &jobs["scenario"]["strategy"]["matrix"];
    assert_eq!(
        matrix["scenario"],
        "${{ fromJSON(needs.build.outputs.scenarios) }}"
    );
    assert!(matrix["pg"].as_array().unwrap().len() >= 2);
    assert_eq!(
        jobs["build"]["outputs"]["scenarios"],
        "${{ steps.list.outputs.scenarios }}"
    );
    let steps = jobs["scenario"]["steps"].as_array().unwrap();
    let gate = steps
        .iter()
        .find(|step| step["name"] == "plancheck scenario")
        .unwrap()["run"]
        .as_str()
        .unwrap();
    for flag in ["--pg \"$PG\"", "--junit", "--format json", "--out reports"] {
        assert!(gate.contains(flag), "the gate step passes {flag}");
    }
    // What runs after the gate runs whatever it said: reports, comment, results.
    let after: Vec<&serde_json::Value> = steps
        .iter()
        .skip_while(|step| step["name"] != "plancheck scenario")
        .skip(1)
        .collect();
    assert!(after.len() >= 2);
    for step in after {
        assert!(
            step["if"].as_str().unwrap().starts_with("always()"),
            "{step}"
        );
    }
    let uses: Vec<&str> = steps
        .iter()
        .filter_map(|step| step["uses"].as_str())
        .collect();
    assert!(
        uses.iter()
            .any(|action| action.starts_with("actions/cache@"))
    );
    assert!(
        uses.iter()
            .any(|action| action.starts_with("actions/upload-artifact@"))
    );
    assert!(
        uses.iter()
            .any(|action| action.starts_with("marocchino/sticky-pull-request-comment@"))
    );
    assert_eq!(jobs["results"]["if"], "always()");
    let results: Vec<&str> = jobs["results"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|step| step["uses"].as_str())
        .collect();
    assert!(
        results
            .iter()
            .any(|action| action.starts_with("mikepenz/action-junit-report@"))
    );
}

#[test]
fn ci_docs_github_matrix_step_runs_on_the_real_listing() {
    let workflow = yaml(WORKFLOW);
    let script = step_with_id(&workflow, "build", "list")["run"]
        .as_str()
        .unwrap();
    // The step as the runner runs it, with the binary where the build left it.
    let workspace = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(workspace.path().join("target/release")).unwrap();
    std::os::unix::fs::symlink(
        env!("CARGO_BIN_EXE_plancheck"),
        workspace.path().join("target/release/plancheck"),
    )
    .unwrap();
    let output_file = workspace.path().join("github_output");
    let status = Command::new("bash")
        .args(["-e", "-c", script])
        .current_dir(workspace.path())
        .env("GITHUB_OUTPUT", &output_file)
        .env("PLANCHECK_SCENARIOS", repo_path("scenarios"))
        .status()
        .expect("bash runs the step (it needs jq: apt-get install jq)");
    assert!(
        status.success(),
        "the matrix step failed (is jq installed?)"
    );
    let written = std::fs::read_to_string(&output_file).unwrap();
    let value = written.trim().strip_prefix("scenarios=").unwrap();
    let names: Vec<String> = serde_json::from_str(value).unwrap();
    assert_eq!(names, ["dense-org", "orders-by-status", "sparse-org"]);
}

#[test]
fn ci_docs_gitlab_pipeline_and_its_generated_child_pass_the_gitlab_schema() {
    run(
        "check-jsonschema",
        &["--builtin-schema", "vendor.gitlab-ci", GITLAB],
        "pip install check-jsonschema",
    );
    let gitlab = yaml(GITLAB);
    assert_eq!(gitlab["plancheck"]["trigger"]["strategy"], "depend");
    let build_script = gitlab["build"]["script"].to_string();
    assert!(build_script.contains(GITLAB_CHILD));

    // Generate the child pipeline as the build job does, from the real listing.
    let listing = Command::new(env!("CARGO_BIN_EXE_plancheck"))
        .args(["list", "--format", "json"])
        .current_dir(repo_path(""))
        .output()
        .unwrap();
    assert!(listing.status.success());
    let dir = tempfile::tempdir().unwrap();
    let listing_file = dir.path().join("listing.json");
    std::fs::write(&listing_file, &listing.stdout).unwrap();
    let child = run(
        "jq",
        &[
            "--arg",
            "parent",
            "4242",
            "-f",
            GITLAB_CHILD,
            listing_file.to_str().unwrap(),
        ],
        "apt-get install jq",
    );
    let child_file = dir.path().join("plancheck-jobs.yml");
    std::fs::write(&child_file, &child).unwrap();
    run(
        "check-jsonschema",
        &[
            "--builtin-schema",
            "vendor.gitlab-ci",
            child_file.to_str().unwrap(),
        ],
        "pip install check-jsonschema",
    );
    let jobs: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&child).unwrap();
    let names: Vec<&str> = jobs.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "dense-org pg15",
            "dense-org pg17",
            "orders-by-status pg15",
            "orders-by-status pg17",
            "sparse-org pg15",
            "sparse-org pg17"
        ]
    );
    for job in jobs.values() {
        assert_eq!(job["artifacts"]["reports"]["junit"], "reports/junit.xml");
        assert_eq!(job["artifacts"]["when"], "always");
        assert_eq!(job["needs"][0]["pipeline"], "4242");
        assert!(
            job["script"]
                .to_string()
                .contains("--junit reports/junit.xml")
        );
    }
    assert!(Path::new(&repo_path(GITLAB_CHILD)).is_file());
}
