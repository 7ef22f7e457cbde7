//! The binary's exit codes: 0 all checks pass, 1 a check failed, 2 bad input or usage,
//! 3 infrastructure failure.

use predicates::prelude::PredicateBooleanExt;
use predicates::str::contains;

use crate::support::{plancheck, repo_path, small_run};

#[test]
fn list_shows_the_shipped_scenarios() {
    plancheck()
        .arg("list")
        .assert()
        .code(0)
        .stdout(contains("sparse-org"))
        .stdout(contains("dense-org"));
}

#[test]
fn unknown_scenario_is_a_usage_error() {
    plancheck()
        .args(["scenario", "sparse-orgg"])
        .assert()
        .code(2)
        .stderr(contains("no scenario named \"sparse-orgg\""))
        .stderr(contains(
            "known scenarios: denormalize-org, dense-org, orders-by-status, sparse-org",
        ));
}

#[test]
fn bad_flag_is_a_usage_error() {
    plancheck()
        .args(["scenario", "sparse-org", "--scale", "lots"])
        .assert()
        .code(2);
    // A negative number is the flag's (wrong) value, not a stray argument: no advice
    // to write `-- -5`, which would make it a scenario name.
    plancheck()
        .args(["scenario", "sparse-org", "--scale", "-5"])
        .assert()
        .code(2)
        .stderr(contains("positive whole number of rows"))
        .stderr(contains("-- -5").not());
    plancheck()
        .args(["scenario", "sparse-org", "--scale", "0"])
        .assert()
        .code(2)
        .stderr(contains("positive whole number of rows"));
}

#[test]
fn invalid_scenario_file_is_bad_input_and_names_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("typo.toml");
    let text = std::fs::read_to_string(repo_path("scenarios/sparse-org.toml")).unwrap();
    let text = text.replace(
        "../fixtures/",
        &format!("{}/", repo_path("fixtures").display()),
    );
    std::fs::write(
        &path,
        text.replace("at_least = 100", "at_least = 100\natleast = 5"),
    )
    .unwrap();
    plancheck()
        .args(["scenario", path.to_str().unwrap()])
        .assert()
        .code(2)
        .stderr(contains("typo.toml"))
        .stderr(contains("atleast"));
}

#[test]
fn unreachable_server_is_an_infrastructure_failure() {
    // Port 1 on loopback: nothing listens there, so the connection is refused at once.
    plancheck()
        .args([
            "scenario",
            "dense-org",
            "--backend",
            "url",
            "--database-url",
            "postgres://postgres@127.0.0.1:1/postgres",
        ])
        .assert()
        .code(3)
        .stderr(contains("cannot reach the server at 127.0.0.1:1"));
}

#[test]
fn a_regression_that_does_not_reproduce_fails_the_run() {
    // At 5,000 runs the planner does not walk created_at for the sparse organization,
    // so the scenario must fail rather than pass vacuously.
    let out = tempfile::tempdir().unwrap();
    small_run("sparse-small", out.path())
        .args(["--backend", "local"])
        .assert()
        .code(1)
        .stdout(contains("regression not reproduced"));
    let report = std::fs::read_to_string(out.path().join("sparse-small/report.json")).unwrap();
    assert!(report.contains("\"passed\": false"));
}

#[test]
fn a_passing_run_exits_zero_and_replaces_its_previous_report_only() {
    let out = tempfile::tempdir().unwrap();
    let run = || {
        small_run("dense-small", out.path())
            .args(["--backend", "local"])
            .assert()
    };
    run().code(0).stdout(contains("all checks passed"));
    run().code(0);
    let entries: Vec<_> = std::fs::read_dir(out.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .collect();
    assert_eq!(
        entries,
        vec![std::ffi::OsString::from("dense-small")],
        "no staging or previous directories left behind"
    );

    // A directory that is not a plancheck report is never replaced.
    let foreign = out.path().join("dense-small");
    std::fs::remove_dir_all(&foreign).unwrap();
    std::fs::create_dir(&foreign).unwrap();
    std::fs::write(foreign.join("notes.txt"), "mine").unwrap();
    run()
        .code(2)
        .stderr(contains("does not hold a plancheck report"));
    assert_eq!(
        std::fs::read_to_string(foreign.join("notes.txt")).unwrap(),
        "mine"
    );
}

#[test]
fn a_reader_that_goes_away_ends_the_output_quietly() {
    // `true` exits without reading, so plancheck's write meets a closed pipe.
    let binary = assert_cmd::cargo::cargo_bin("plancheck");
    let output = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!(
            "'{}' list | true; echo \"status=${{PIPESTATUS[0]}}\"",
            binary.display()
        ))
        .current_dir(repo_path(""))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stdout.contains("status=0"), "{stdout} {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// The url backend with a role that may only create databases: the run works, and
/// the setting it may not pin (track_io_timing) is skipped with the grant to ask for.
#[tokio::test(flavor = "multi_thread")]
async fn the_url_backend_works_with_a_role_that_may_only_create_databases() {
    let server = crate::support::local_server().await;
    let admin = crate::support::superuser_url(&server);
    let client = plancheck::provision::connect(&admin.parse().unwrap())
        .await
        .unwrap();
    client
        .batch_execute("CREATE ROLE plancheck_tester LOGIN CREATEDB PASSWORD 'tester-password'")
        .await
        .unwrap();
    drop(client);

    let out = tempfile::tempdir().unwrap();
    let conninfo = admin
        .replace("user=postgres", "user=plancheck_tester")
        .split(" password=")
        .next()
        .map(|start| format!("{start} password=tester-password dbname=postgres"))
        .unwrap();
    let output = small_run("dense-small", out.path())
        .args(["--backend", "url", "--database-url", &conninfo])
        .output()
        .unwrap();
    server.stop().await.unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("track_io_timing = on was not pinned")
            && stdout.contains("GRANT SET ON PARAMETER track_io_timing"),
        "{stdout}"
    );
    let report = std::fs::read_to_string(out.path().join("dense-small/report.json")).unwrap();
    assert!(report.contains("was not pinned"), "the report records it");
}

#[test]
fn help_lists_exit_codes_backends_and_where_the_format_is_documented() {
    for args in [vec!["--help"], vec!["scenario", "--help"]] {
        plancheck()
            .args(&args)
            .assert()
            .code(0)
            .stdout(contains("130 interrupted"))
            .stdout(contains("docs/scenario-format.md"));
    }
    plancheck()
        .args(["scenario", "--help"])
        .assert()
        .stdout(contains("`local` starts a private server"))
        .stdout(contains("Directory holding the scenario files"));
}

#[test]
fn input_mistakes_found_before_any_server_starts() {
    let dir = tempfile::tempdir().unwrap();
    // Two scenario files with the same stem would write the same report directory.
    let other = dir.path().join("other");
    std::fs::create_dir_all(&other).unwrap();
    let text = std::fs::read_to_string(repo_path("scenarios/dense-org.toml"))
        .unwrap()
        .replace(
            "../fixtures/",
            &format!("{}/", repo_path("fixtures").display()),
        );
    std::fs::write(other.join("dense-org.toml"), &text).unwrap();
    plancheck()
        .args(["scenario", "dense-org"])
        .arg(other.join("dense-org.toml"))
        .assert()
        .code(2)
        .stderr(contains("are both named \"dense-org\""));
    // A file named `..toml` names no scenario, and leaves nothing behind.
    std::fs::write(dir.path().join("..toml"), &text).unwrap();
    plancheck()
        .args(["scenario"])
        .arg(dir.path().join("..toml"))
        .args(["--out"])
        .arg(dir.path().join("reports"))
        .assert()
        .code(2)
        .stderr(contains("is not a scenario name"));
    assert!(!dir.path().join("reports").exists());
    // --out that is a file.
    let file = dir.path().join("not-a-directory");
    std::fs::write(&file, "x").unwrap();
    plancheck()
        .args(["scenario", "dense-org", "--out"])
        .arg(&file)
        .assert()
        .code(2)
        .stderr(contains("is a file, not a directory"));
    // A missing scenarios directory is bad input.
    plancheck()
        .args(["list", "--scenarios-dir", "/nonexistent-plancheck"])
        .assert()
        .code(2);
}

#[test]
fn a_scenario_named_twice_runs_once() {
    let out = tempfile::tempdir().unwrap();
    let output = small_run("dense-small", out.path())
        .arg("tests/data/scenarios/dense-small.toml")
        .args(["--backend", "local"])
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        stdout.matches("scenario dense-small").count(),
        1,
        "{stdout}"
    );
}

#[test]
fn below_min_scale_warns_first_and_says_which_plan_the_old_query_got() {
    let out = tempfile::tempdir().unwrap();
    plancheck()
        .args([
            "scenario",
            "sparse-org",
            "--scale",
            "1000",
            "--backend",
            "local",
            "--no-progress",
            "--out",
        ])
        .arg(out.path())
        .assert()
        .code(1)
        .stderr(contains("declares that it reproduces from --scale 350000"))
        .stdout(contains("regression not reproduced"))
        .stdout(contains("it reads its rows through"));
}

/// Without a terminal (a CI log), every phase says when it starts and how long it
/// took, as plain lines, and rates are rounded.
#[test]
fn every_phase_reports_its_start_and_duration_as_plain_lines() {
    let out = tempfile::tempdir().unwrap();
    let output = small_run("dense-small", out.path()).output().unwrap();
    assert_eq!(output.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&output.stderr);
    for phase in [
        "create database",
        "apply schema",
        "estimate size",
        "seed: copy rows",
        "seed: build indexes",
        "seed: vacuum analyze",
        "capture plans",
        "time queries",
    ] {
        assert!(
            stderr.contains(&format!("plancheck: {phase}…\n")),
            "no start of {phase}: {stderr}"
        );
        let ended = stderr.lines().any(|line| {
            line.strip_prefix(&format!("plancheck: {phase}: "))
                .is_some_and(|took| took.ends_with(" ms") || took.ends_with(" s"))
        });
        assert!(ended, "no duration of {phase}: {stderr}");
    }
    let rate = stderr
        .lines()
        .find_map(|line| {
            line.strip_suffix(" rows/s)")?
                .rsplit_once('(')
                .map(|(_, rate)| rate.to_owned())
        })
        .unwrap_or_else(|| panic!("no rate: {stderr}"));
    assert!(
        !rate.contains('.')
            && rate
                .trim_start_matches(|c: char| c.is_ascii_digit() || c == ',')
                .is_empty(),
        "rates are rounded whole numbers at this size: {rate}"
    );
    assert!(
        !stderr.contains('\r') && !stderr.contains('\u{1b}'),
        "no bars without a terminal"
    );
}

#[test]
fn a_seed_too_large_is_refused_with_the_largest_accepted() {
    plancheck()
        .args(["scenario", "dense-org", "--seed", "99999999999999999999"])
        .assert()
        .code(2)
        .stderr(contains(
            "larger than the largest seed, 18446744073709551615",
        ));
    plancheck()
        .args(["scenario", "dense-org", "--seed", "-1"])
        .assert()
        .code(2)
        .stderr(contains("whole number from 0 to 18446744073709551615"));
}

/// The issue's own report: stderr piped to a reader that stops after two lines
/// (`2>&1 >/dev/null | head -2`). The run must end as it would have, with its report
/// written and nothing left on the server.
#[tokio::test(flavor = "multi_thread")]
async fn a_reader_that_stops_reading_stderr_costs_neither_the_report_nor_the_clean_up() {
    let server = crate::support::local_server().await;
    let url = crate::support::superuser_url(&server);
    let out = tempfile::tempdir().unwrap();
    let binary = assert_cmd::cargo::cargo_bin("plancheck");
    let output = tokio::process::Command::new("bash")
        .arg("-c")
        .arg(format!(
            "'{}' scenario tests/data/scenarios/dense-small.toml --scale 5000 --no-progress \
             --backend url --database-url '{url}' --out '{}' 2>&1 >/dev/null | head -2 >/dev/null; \
             echo \"status=${{PIPESTATUS[0]}}\"",
            binary.display(),
            out.path().display()
        ))
        .current_dir(repo_path(""))
        .env("NO_COLOR", "1")
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("status=0"), "{stdout}");
    assert!(
        out.path().join("dense-small/report.json").exists(),
        "no report was written"
    );
    let client = plancheck::provision::connect(&url.parse().unwrap())
        .await
        .unwrap();
    assert_eq!(
        crate::support::scratch_databases(&client).await,
        Vec::<String>::new(),
        "the scratch database was left on the server"
    );
    drop(client);
    server.stop().await.unwrap();
}

/// Two runs into one report directory: the second is refused at once (exit code 2,
/// naming the directory and who holds it), and the first one's report is the one
/// there afterwards.
#[test]
fn a_second_run_into_the_same_report_directory_is_refused() {
    let out = tempfile::tempdir().unwrap();
    let mut first = std::process::Command::new(assert_cmd::cargo::cargo_bin("plancheck"))
        .current_dir(repo_path(""))
        .args(["scenario", "tests/data/scenarios/dense-small.toml"])
        .args([
            "--scale",
            "20000",
            "--seed",
            "1",
            "--no-progress",
            "--backend",
            "local",
        ])
        .arg("--out")
        .arg(out.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let lock = out.path().join(".dense-small.lock");
    assert!(crate::support::wait_for(
        std::time::Duration::from_secs(30),
        || std::fs::read_to_string(&lock).is_ok_and(|holder| holder.contains("plancheck process"))
    ));
    small_run("dense-small", out.path())
        .args(["--backend", "local", "--seed", "2"])
        .assert()
        .code(2)
        .stderr(contains(format!(
            "{} is being written by another plancheck run (plancheck process {}",
            out.path().join("dense-small").display(),
            first.id()
        )));
    assert_eq!(first.wait().unwrap().code(), Some(0));
    let report = std::fs::read_to_string(out.path().join("dense-small/report.json")).unwrap();
    assert!(report.contains("\"seed\": 1,"), "the first run's report");
    assert!(!lock.exists(), "the lock file goes with its run");
}

/// What a user adds to a report directory (notes, a folder of attachments, a link)
/// survives a rerun; the previous report's own files are replaced, including plan
/// files the new report no longer has. A file of the user's with the name of one the
/// new report writes is refused, naming it, and nothing is replaced.
#[test]
fn a_rerun_keeps_what_the_user_added_to_the_report_directory() {
    let out = tempfile::tempdir().unwrap();
    let run = || {
        small_run("dense-small", out.path())
            .args(["--backend", "local"])
            .output()
            .unwrap()
    };
    assert_eq!(run().status.code(), Some(0));
    let dir = out.path().join("dense-small");
    std::fs::write(dir.join("notes.md"), "why we ran this").unwrap();
    std::fs::create_dir(dir.join("attachments")).unwrap();
    std::fs::write(dir.join("attachments/plan.png"), [137, 80, 78, 71]).unwrap();
    std::os::unix::fs::symlink("notes.md", dir.join("latest-notes")).unwrap();
    // A plan file an earlier report named and this one will not write again.
    let report = std::fs::read_to_string(dir.join("report.json")).unwrap();
    let first_plan = "\"plan_file\": \"old.explain.json\"";
    assert!(report.contains(first_plan), "{report}");
    std::fs::write(
        dir.join("report.json"),
        report.replacen(first_plan, "\"plan_file\": \"stale.explain.json\"", 1),
    )
    .unwrap();
    std::fs::rename(dir.join("old.explain.json"), dir.join("stale.explain.json")).unwrap();

    let second = run();
    assert_eq!(
        second.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("notes.md")).unwrap(),
        "why we ran this"
    );
    assert_eq!(
        std::fs::read(dir.join("attachments/plan.png")).unwrap(),
        [137, 80, 78, 71]
    );
    assert_eq!(
        std::fs::read_link(dir.join("latest-notes")).unwrap(),
        std::path::Path::new("notes.md")
    );
    assert!(dir.join("old.explain.json").exists());
    assert!(
        !dir.join("stale.explain.json").exists(),
        "a plan file of the previous report's is not carried over"
    );

    // Now a file of the user's where the new report writes one.
    let report = std::fs::read_to_string(dir.join("report.json")).unwrap();
    std::fs::write(
        dir.join("report.json"),
        report.replacen(first_plan, "\"plan_file\": \"renamed.explain.json\"", 1),
    )
    .unwrap();
    std::fs::write(dir.join("old.explain.json"), "the user's").unwrap();
    let refused = run();
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "holds files the new report would replace but the previous report did not write: {}",
            dir.join("old.explain.json").display()
        )),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("old.explain.json")).unwrap(),
        "the user's"
    );
    assert!(dir.join("notes.md").exists());
    // The refused run's report is not lost: it waits beside the directory, named so.
    let mut entries: Vec<String> = std::fs::read_dir(out.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    entries.sort();
    let [kept, aside] = &entries[..] else {
        panic!("the report and the one set aside, nothing staged: {entries:?}");
    };
    assert_eq!(kept, "dense-small");
    assert!(aside.starts_with("dense-small.unplaced-"), "{aside}");
    assert!(
        stderr.contains(&format!(
            "this run's report is kept in {}",
            out.path().join(aside).display()
        )),
        "{stderr}"
    );
    assert!(out.path().join(aside).join("report.json").exists());
}

/// A dataset file kept beside the scenarios is listed as one, not as a broken
/// scenario, and naming it as a scenario says what it is.
#[test]
fn a_dataset_file_beside_the_scenarios_is_told_apart() {
    let dir = crate::support::repo_path("tests/data/datasets");
    let listed = crate::support::plancheck()
        .args(["list", "--scenarios-dir"])
        .arg(&dir)
        .assert()
        .code(0);
    let stdout = String::from_utf8_lossy(&listed.get_output().stdout).into_owned();
    assert!(
        stdout.contains("small") && stdout.contains("(a dataset file, not a scenario)"),
        "{stdout}"
    );
    crate::support::plancheck()
        .arg("scenario")
        .arg(dir.join("small.toml"))
        .assert()
        .code(2)
        .stderr(predicates::str::contains(
            "small.toml: is a dataset file, not a scenario",
        ));
}

/// What a command prints on stdout, lost to a full device, is an infrastructure error
/// (exit code 3) said once; a reader that stopped reading (`| head`) is not one.
#[test]
fn output_lost_to_a_full_stdout_is_said_once_with_exit_code_3() {
    for args in [
        &["catalog-sql"][..],
        &["list"],
        &["list", "--format", "json"],
        &["report", "--schema"],
    ] {
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap();
        let output = crate::support::plancheck_process()
            .args(args)
            .stdout(full)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(3), "{args:?}: {err}");
        assert_eq!(
            err.matches("to standard output: No space left on device")
                .count(),
            1,
            "{args:?}: {err}"
        );
    }
    // A pipe whose reader is gone before anything is written: every write is EPIPE.
    let (reader, writer) = nix::unistd::pipe().unwrap();
    drop(reader);
    let output = crate::support::plancheck_process()
        .arg("catalog-sql")
        .stdout(std::process::Stdio::from(writer))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{err}");
    assert!(err.is_empty(), "{err}");
}
