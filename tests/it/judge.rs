//! `plancheck judge` on plans captured in real runs (tests/data/plans): a walk of the
//! time index in either direction, a short walk that reads about what it returns, a
//! plan below the flip that uses no time index, the fixed plan, and a plan saved
//! without ANALYZE; each in the forms a plan reaches a team in (EXPLAIN's array, psql's
//! output, an auto_explain log line).

use std::path::{Path, PathBuf};

use crate::support::{plancheck, repo_path};

fn plan(file: &str) -> PathBuf {
    repo_path("tests/data/plans").join(file)
}

/// Runs `plancheck judge` on sparse-org's `query` with the stored catalog, returning
/// the exit code and stdout.
fn judge(query: &str, catalog: &str, files: &[&Path]) -> (i32, String) {
    let output = plancheck()
        .args([
            "judge",
            "--scenario",
            "sparse-org",
            "--query",
            query,
            "--catalog",
        ])
        .arg(plan(catalog))
        .args(files)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    (
        output.status.code().unwrap_or(-1),
        format!("{stdout}{stderr}"),
    )
}

#[test]
fn saved_plans_get_the_scenarios_verdicts() {
    let walk = plan("desc-index-forward-walk.explain.json");
    let short = plan("dense-short-walk.explain.json");
    let fixed = plan("org-index.explain.json");
    let no_time_index = plan("workflow-id-index.explain.json");

    // The old query's walk shows the regression: its checks expect it present.
    let (code, out) = judge("old", "desc-index.catalog.json", &[&walk]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("regression reproduced: the old plan shows ordered walk"),
        "{out}"
    );

    // As a plan of the new query the same walk fails; the fixed plan passes.
    let (code, out) = judge("new", "desc-index.catalog.json", &[&walk]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("FAIL") && out.contains("row amplification above 10"),
        "{out}"
    );
    let (code, out) = judge("new", "desc-index.catalog.json", &[&fixed]);
    assert_eq!(code, 0, "{out}");

    // A short walk (57 rows for 26) has the regression's shape without its cost.
    let (code, out) = judge("new", "desc-index.catalog.json", &[&short]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("the regression's shape without its cost, so not flagged"),
        "{out}"
    );

    // Below the flip the old query walks no time index: the regression is not there.
    let (code, out) = judge("old", "desc-index.catalog.json", &[&no_time_index]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("regression not reproduced"), "{out}");
    assert!(out.contains("workflow_runs_workflow_id"), "{out}");

    // The other index direction: an ascending index walked backward is the same walk.
    let backward = plan("asc-index-backward-walk.explain.json");
    let (code, out) = judge("old", "asc-index.catalog.json", &[&backward]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("regression reproduced"), "{out}");
}

#[test]
fn what_a_saved_plan_cannot_tell_is_not_judged_never_passed() {
    // Without ANALYZE, rows examined are unknown: the cost check says so, and the walk
    // (a shape) still fails as a plan of the new query.
    let estimated = plan("desc-index-forward-walk.estimated.json");
    let (code, out) = judge("new", "desc-index.catalog.json", &[&estimated]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("not judged: needs ANALYZE"), "{out}");
    assert!(out.contains("its cost is unknown"), "{out}");

    // A plan of a query that never reads the walked table: ordered-walk does not apply.
    let dir = tempfile::tempdir().unwrap();
    let unrelated = dir.path().join("unrelated.json");
    std::fs::write(
        &unrelated,
        r#"[{"Plan": {"Node Type": "Seq Scan", "Relation Name": "projects", "Alias": "projects",
             "Plan Rows": 10, "Total Cost": 1.0, "Actual Rows": 10, "Actual Loops": 1}}]"#,
    )
    .unwrap();
    let (code, out) = judge("new", "desc-index.catalog.json", &[&unrelated]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("not applicable: the plan reads no workflow_runs (it reads projects)"),
        "{out}"
    );
}

#[test]
fn a_plan_reads_the_same_from_psql_output_and_an_auto_explain_log() {
    let dir = tempfile::tempdir().unwrap();
    let array = std::fs::read_to_string(plan("desc-index-forward-walk.explain.json")).unwrap();
    let psql = dir.path().join("psql.txt");
    std::fs::write(
        &psql,
        format!(
            "                    QUERY PLAN\n-----------------------------------------\n{}\n(1 row)\n\n",
            array
                .trim_end()
                .lines()
                .map(|line| format!(" {line}+"))
                .collect::<Vec<_>>()
                .join("\n")
        ),
    )
    .unwrap();
    let document: serde_json::Value = serde_json::from_str(&array).unwrap();
    let mut logged = document[0].clone();
    logged["Query Text"] = "SELECT … FROM workflow_runs …".into();
    let log = dir.path().join("postgresql.log");
    std::fs::write(
        &log,
        format!(
            "2026-11-29 10:00:00 UTC [42] LOG:  checkpoint starting: time\n2026-11-29 10:00:01 UTC [43] LOG:  duration: 2077.141 ms  plan:\n{}\n",
            serde_json::to_string_pretty(&logged).unwrap()
        ),
    )
    .unwrap();
    let (code, out) = judge("old", "desc-index.catalog.json", &[&psql, &log]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        out.matches("regression reproduced: the old plan shows ordered walk")
            .count(),
        2,
        "{out}"
    );
    assert!(
        out.contains("postgresql.log:2"),
        "the log line is named: {out}"
    );
}

/// The Markdown a team pastes into a pull request or an incident note: one section
/// per plan, its figures and scans, and every check's verdict, with what a saved
/// plan cannot tell (counts without ANALYZE, a sweep, the stability rounds) shown as
/// not judged and why.
#[test]
fn judge_in_markdown_reads_well_in_a_pull_request() {
    let output = plancheck()
        .args([
            "judge",
            "--scenario",
            "sparse-org",
            "--query",
            "new",
            "--format",
            "markdown",
            "--catalog",
            "tests/data/plans/desc-index.catalog.json",
            "tests/data/plans/org-index.explain.json",
            "tests/data/plans/desc-index-forward-walk.estimated.json",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert_eq!(
        output.status.code(),
        Some(1),
        "the walk fails as a plan of the new query: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    insta::assert_snapshot!(stdout);
}

#[test]
fn plan_files_that_are_not_json_plans_are_refused_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("empty.json", "", "is empty"),
        (
            "truncated.json",
            "[{\"Plan\": {\"Node Type\": \"Limit\"",
            "is not valid JSON",
        ),
        (
            "text.txt",
            "Limit  (cost=0.71..1101.83 rows=26 width=728)\n  ->  Index Scan using t_created_at on t",
            "holds EXPLAIN's text format; plancheck reads JSON: run EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON)",
        ),
    ];
    for (name, text, message) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        let (code, out) = judge("old", "desc-index.catalog.json", &[&path]);
        assert_eq!(code, 2, "{name}: {out}");
        assert!(out.contains(name) && out.contains(message), "{name}: {out}");
    }
    let big = dir.path().join("big.json");
    let file = std::fs::File::create(&big).unwrap();
    file.set_len(100 * 1024 * 1024).unwrap();
    let (code, out) = judge("old", "desc-index.catalog.json", &[&big]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("over the 64 MiB plancheck reads as a plan file"),
        "{out}"
    );
    let (code, out) = judge(
        "newest",
        "desc-index.catalog.json",
        &[&plan("org-index.explain.json")],
    );
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("--query newest: scenario sparse-org declares no query"),
        "{out}"
    );
}

/// Without --catalog the scenario's schema is built on an empty database of a local
/// server, and its index facts judge the plan; `catalog-sql` prints the query that
/// reads them, which gives the same facts on that schema.
#[test]
fn without_a_catalog_file_the_schema_on_an_empty_database_gives_the_facts() {
    let output = plancheck()
        .args([
            "judge",
            "--scenario",
            "sparse-org",
            "--query",
            "old",
            "--backend",
            "local",
            "--format",
            "json",
        ])
        .arg(plan("desc-index-forward-walk.explain.json"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let judgement: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert!(
        judgement["catalog_from"]
            .as_str()
            .unwrap()
            .contains("the scenario's schema")
    );
    let walk = judgement["plans"][0]["verdicts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|verdict| verdict["check"] == "ordered-walk")
        .unwrap()
        .clone();
    assert_eq!(walk["passed"], true, "{walk}");
    let sql = plancheck().arg("catalog-sql").output().unwrap();
    let sql = String::from_utf8_lossy(&sql.stdout);
    assert!(
        sql.contains("json_build_object('indexes'")
            && !sql.to_lowercase().contains("from workflow_runs")
    );
}

/// `plancheck judge` on sparse-org's old query with the stored catalog and `plans`,
/// `bounded` (memory and time); `stdin` is what the run reads as `-`.
fn judge_bounded(plans: &[&Path], stdin: std::process::Stdio) -> (i32, String) {
    let mut command = crate::support::plancheck_process();
    command
        .args([
            "judge",
            "--scenario",
            "sparse-org",
            "--query",
            "old",
            "--catalog",
        ])
        .arg(plan("desc-index.catalog.json"))
        .args(plans);
    let output = crate::support::bounded(&command)
        .stdin(stdin)
        .output()
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn a_device_a_fifo_or_a_directory_given_as_a_plan_is_refused_by_what_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("plan.json");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
    for (path, what) in [
        (Path::new("/dev/zero"), "a character device"),
        (fifo.as_path(), "a FIFO (named pipe)"),
        (dir.path(), "a directory"),
    ] {
        let (code, err) = judge_bounded(&[path], std::process::Stdio::null());
        assert_eq!(code, 2, "{}: {err}", path.display());
        assert!(
            err.contains(&format!(
                "{}: is {what}, not a regular file; plancheck reads a plan file only from a regular file or, as `-`, from standard input",
                path.display()
            )),
            "{err}"
        );
    }
}

#[test]
fn standard_input_is_read_as_a_plan_and_cut_at_the_limit_when_it_never_ends() {
    let walk = std::fs::File::open(plan("desc-index-forward-walk.explain.json")).unwrap();
    let (code, err) = judge_bounded(&[Path::new("-")], walk.into());
    assert_eq!(code, 0, "{err}");

    let zeros = std::fs::File::open("/dev/zero").unwrap();
    let (code, err) = judge_bounded(&[Path::new("-")], zeros.into());
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("standard input: is over the 64 MiB plancheck reads as a plan file"),
        "{err}"
    );

    let twice = std::fs::File::open("/dev/null").unwrap();
    let (code, err) = judge_bounded(&[Path::new("-"), Path::new("-")], twice.into());
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("`-` (standard input) is given more than once"),
        "{err}"
    );
}

/// A run waiting on a standard input that stays silent (a terminal nobody types into,
/// a pipe whose writer stalls) ends at SIGINT or SIGTERM, as interrupted.
#[test]
fn an_interrupt_ends_a_run_waiting_on_standard_input() {
    use nix::sys::signal::{Signal, kill};
    for signal in [Signal::SIGINT, Signal::SIGTERM] {
        let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("plancheck"))
            .args([
                "judge",
                "--scenario",
                "sparse-org",
                "--query",
                "old",
                "--catalog",
            ])
            .arg(plan("desc-index.catalog.json"))
            .arg("-")
            .current_dir(repo_path(""))
            .stdin(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let pid = child.id();
        // Once its thread reading standard input exists, the run waits on it.
        let reading = || {
            std::fs::read_dir(format!("/proc/{pid}/task"))
                .into_iter()
                .flatten()
                .filter_map(|task| task.ok())
                .any(|task| {
                    std::fs::read_to_string(task.path().join("comm"))
                        .is_ok_and(|name| name.trim() == "stdin")
                })
        };
        crate::support::wait_for(std::time::Duration::from_secs(20), || {
            reading() || !crate::support::process_alive(pid)
        });
        kill(nix::unistd::Pid::from_raw(pid as i32), signal).unwrap();
        let ended = crate::support::wait_for(std::time::Duration::from_secs(20), || {
            child.try_wait().unwrap().is_some()
        });
        if !ended {
            let _ = child.kill();
        }
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(130), "{signal} while reading stdin");
    }
}

/// A plan whose numbers no server prints (negative counts or times, loops that are
/// not whole or beyond what can be counted, rows from a node that never ran) is bad
/// input naming the file and the node, never a verdict: 1.7e308 loops once made
/// "inf rows examined" and a passing row-amplification check.
#[test]
fn a_plan_with_impossible_numbers_is_refused_naming_the_file_and_the_node() {
    let dir = tempfile::tempdir().unwrap();
    let original: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(plan("desc-index-forward-walk.explain.json")).unwrap(),
    )
    .unwrap();
    let walk = "node root/0/0 (Index Scan using workflow_runs_created_at on workflow_runs)";
    let cases: [(&str, &str, serde_json::Value, &str); 8] = [
        ("/0/Plan/Plans/0/Plans/0", "Actual Rows", (-5).into(), walk),
        (
            "/0/Plan/Plans/0/Plans/0",
            "Actual Loops",
            1.7e308.into(),
            walk,
        ),
        ("/0/Plan/Plans/0/Plans/0", "Actual Loops", (-1).into(), walk),
        ("/0/Plan/Plans/0/Plans/0", "Actual Loops", 1.5.into(), walk),
        (
            "/0/Plan/Plans/0/Plans/0",
            "Actual Total Time",
            (-0.5).into(),
            walk,
        ),
        (
            "/0/Plan/Plans/0/Plans/0",
            "Actual Rows",
            u64::MAX.into(),
            walk,
        ),
        (
            "/0/Plan/Plans/0/Plans/1",
            "Actual Loops",
            0.into(),
            "node root/0/1 (Memoize)",
        ),
        (
            "/0",
            "Execution Time",
            (-3).into(),
            "the plan's `Execution Time`",
        ),
    ];
    for (at, key, value, node) in cases {
        let mut edited = original.clone();
        let object = edited.pointer_mut(at).unwrap().as_object_mut().unwrap();
        object.insert(key.to_owned(), value.clone());
        if at.ends_with("/1") {
            // Rows from a node that never ran.
            object.insert("Actual Rows".to_owned(), 3.into());
        }
        let path = dir.path().join("impossible.json");
        std::fs::write(&path, edited.to_string()).unwrap();
        let (code, out) = judge("new", "desc-index.catalog.json", &[&path]);
        assert_eq!(code, 2, "{key} = {value}: {out}");
        assert!(
            out.contains("impossible.json: holds an impossible plan: ") && out.contains(node),
            "{key} = {value}: {out}"
        );
        assert!(!out.contains("inf"), "{out}");
    }
}

/// A plan or catalog file whose JSON holds a string where a number, a list or a known
/// word belongs is refused saying what it holds (`a string`), never quoting it: the
/// string is the file's content (a token, a password) and may be megabytes long.
#[test]
fn a_plan_or_catalog_file_with_a_string_out_of_place_is_refused_without_quoting_it() {
    let dir = tempfile::tempdir().unwrap();
    let secret = format!("hunter2-{}", "x".repeat(4096));
    let original: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(plan("desc-index-forward-walk.explain.json")).unwrap(),
    )
    .unwrap();
    let walk = "/0/Plan/Plans/0/Plans/0";
    let mut plans = Vec::new();
    for (at, key) in [(walk, "Scan Direction"), (walk, "Plans"), ("/0", "Plan")] {
        let mut edited = original.clone();
        let object = edited.pointer_mut(at).unwrap().as_object_mut().unwrap();
        object.insert(key.to_owned(), secret.clone().into());
        let path = dir.path().join(format!("{}.json", plans.len()));
        std::fs::write(&path, edited.to_string()).unwrap();
        plans.push(path);
    }
    for path in &plans {
        let (code, out) = judge("new", "desc-index.catalog.json", &[path]);
        assert_eq!(code, 2, "{out}");
        assert!(out.contains("a plan that does not parse"), "{out}");
        assert!(!out.contains("hunter2"), "the plan file is quoted: {out}");
    }
    let catalog = dir.path().join("catalog.json");
    std::fs::write(
        &catalog,
        serde_json::json!({ "indexes": secret }).to_string(),
    )
    .unwrap();
    let (code, out) = judge(
        "new",
        catalog.to_str().unwrap(),
        &[&plan("org-index.explain.json")],
    );
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("is not a catalog file (invalid type: a string"),
        "{out}"
    );
    assert!(
        !out.contains("hunter2"),
        "the catalog file is quoted: {out}"
    );
}
