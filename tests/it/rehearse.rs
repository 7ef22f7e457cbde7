//! `plancheck rehearse` on a real server: the lock sampler seeing a session hold ACCESS
//! EXCLUSIVE while another waits; a small rehearsal's traffic accounting, stalls and
//! invariants; a failing step; bad traffic and invariants; Ctrl-C.

use std::time::{Duration, Instant};

use plancheck::input::Scenario;
use plancheck::progress::Progress;
use plancheck::rehearse::run::{RehearseOptions, rehearse};
use plancheck::rehearse::sampler::{DEFAULT_INTERVAL, LockSampler};

use crate::support::{
    local_server, local_server_of, plancheck, process_alive, repo_path, scratch_databases,
    superuser_url, wait_for,
};

#[tokio::test(flavor = "multi_thread")]
async fn the_sampler_sees_a_lock_held_for_300_ms_and_the_reader_queued_behind_it() {
    let server = local_server().await;
    let database = server.create_scratch("rehearse-sampler").await.unwrap();
    let holder = database.connect().await.unwrap();
    holder
        .batch_execute("CREATE TABLE t (id int); INSERT INTO t SELECT generate_series(1, 1000)")
        .await
        .unwrap();
    let holder_pid: i32 = holder
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .unwrap()
        .get(0);
    let reader = database.connect().await.unwrap();
    let reader_pid: i32 = reader
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .unwrap()
        .get(0);

    let start = Instant::now();
    let sampler = LockSampler::start(database.connect().await.unwrap(), start, DEFAULT_INTERVAL)
        .await
        .unwrap();
    let sampler_pid = sampler.backend_pid();
    // Let the sampler settle before the lock, so its first gaps are not the test's.
    tokio::time::sleep(Duration::from_millis(100)).await;

    holder
        .batch_execute("BEGIN; LOCK TABLE t IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    let locked_at = start.elapsed();
    let read = tokio::spawn(async move {
        let count: i64 = reader
            .query_one("SELECT count(*) FROM t", &[])
            .await
            .unwrap()
            .get(0);
        count
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    holder.batch_execute("COMMIT").await.unwrap();
    let released_at = start.elapsed();
    assert_eq!(
        read.await.unwrap(),
        1000,
        "the reader reads once the lock is gone"
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    let recording = sampler.stop().await.unwrap();

    let stats = recording.interval_stats();
    let spans = recording.spans();
    let hold = spans
        .iter()
        .find(|span| {
            span.pid == holder_pid
                && span.granted
                && span.mode == "AccessExclusiveLock"
                && span.relation.as_deref() == Some("t")
        })
        .unwrap_or_else(|| panic!("no ACCESS EXCLUSIVE hold on t by {holder_pid}: {spans:#?}"));
    let wait = spans
        .iter()
        .find(|span| {
            span.pid == reader_pid
                && !span.granted
                && span.mode == "AccessShareLock"
                && span.relation.as_deref() == Some("t")
        })
        .unwrap_or_else(|| panic!("no wait on t by {reader_pid}: {spans:#?}"));
    let millis = |duration: Duration| duration.as_secs_f64() * 1000.0;
    println!(
        "lock held {:.1} ms by the test's clock ({:.1}..{:.1}), seen held for {:.1} ms ({:.1}..{:.1}); \
         reader seen waiting for {:.1} ms, wait start {:?} ms, blocked by {:?}",
        millis(released_at - locked_at),
        millis(locked_at),
        millis(released_at),
        millis(hold.seen_for()),
        millis(hold.first_seen),
        millis(hold.last_seen),
        millis(wait.seen_for()),
        wait.wait_start.map(millis),
        wait.blocking_pids,
    );
    println!(
        "sampler: {} ticks, interval median {:.2} ms, p99 {:.2} ms, max {:.2} ms (asked {:.0} ms); \
         query median {:.3} ms, p99 {:.3} ms; {} samples",
        stats.ticks,
        millis(stats.median_gap),
        millis(stats.p99_gap),
        millis(stats.max_gap),
        millis(DEFAULT_INTERVAL),
        millis(stats.median_query),
        millis(stats.p99_query),
        recording.samples.len(),
    );

    assert_eq!(
        wait.blocking_pids,
        [holder_pid],
        "the reader waits for the holder"
    );
    let held = millis(released_at - locked_at);
    // What the sampler saw, not how precisely: timing figures on a shared machine are
    // printed above, not asserted (the achieved interval is a measured figure).
    assert!(
        millis(hold.seen_for()) <= held + 100.0,
        "hold seen for {:.1} ms, held {held:.1} ms",
        millis(hold.seen_for())
    );
    assert!(
        millis(wait.seen_for()) <= held + 100.0,
        "wait seen for {:.1} ms, lock held {held:.1} ms",
        millis(wait.seen_for())
    );
    // A wait start is placed on the test's clock from the reading's midpoint, so it is
    // off by up to half that reading's query time.
    if let Some(wait_start) = wait.wait_start {
        let precision = stats.p99_query.max(Duration::from_millis(50));
        assert!(
            wait_start >= locked_at.saturating_sub(precision) && wait_start <= wait.first_seen,
            "wait start {wait_start:?} between the lock ({locked_at:?}) and its first sight"
        );
    }
    assert!(
        !recording
            .samples
            .iter()
            .any(|sample| sample.pid == sampler_pid),
        "the sampler leaves itself out"
    );

    // A sampler dropped without `stop` ends, and its session with it.
    let dropped = LockSampler::start(database.connect().await.unwrap(), start, DEFAULT_INTERVAL)
        .await
        .unwrap();
    let dropped_pid = dropped.backend_pid();
    drop(dropped);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let alive: bool = holder
            .query_one(
                "SELECT EXISTS (SELECT FROM pg_stat_activity WHERE pid = $1)",
                &[&dropped_pid],
            )
            .await
            .unwrap()
            .get(0);
        if !alive {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "a dropped sampler's session {dropped_pid} still runs after 5 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    database.drop_database().await.unwrap();
    server.stop().await.unwrap();
}

/// The small rehearsal of `tests/data/scenarios/rehearsal-small.toml`, edited by
/// `edit` and written to `dir` with its fixture paths made absolute.
fn rehearsal_variant(
    dir: &std::path::Path,
    edit: impl FnOnce(String) -> String,
) -> std::path::PathBuf {
    let text = std::fs::read_to_string(repo_path("tests/data/scenarios/rehearsal-small.toml"))
        .unwrap()
        .replace(
            "../rehearsal/",
            &format!("{}/", repo_path("tests/data/rehearsal").display()),
        );
    let path = dir.join("rehearsal-variant.toml");
    std::fs::write(&path, edit(text)).unwrap();
    path
}

fn quiet_options() -> RehearseOptions {
    RehearseOptions {
        scales: None,
        seed: None,
        migrations: Vec::new(),
        progress: Progress::Silent,
        measure_overhead: false,
        repeat: 1,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rehearsal_accounts_for_every_insert_and_names_the_step_that_stalled_the_writers() {
    let server = local_server().await;
    let scenario = Scenario::load(&repo_path("tests/data/scenarios/rehearsal-small.toml")).unwrap();
    let rehearsed = rehearse(&server, &scenario, &quiet_options())
        .await
        .unwrap();
    server.stop().await.unwrap();
    assert!(rehearsed.failure.is_none(), "{:?}", rehearsed.failure);
    let rehearsal = rehearsed.rehearsal;
    let [gentle, blocking] = &rehearsal.runs[..] else {
        panic!("two runs: {:#?}", rehearsal.runs);
    };

    // Traffic accounting: every acknowledged insert is a row found, and nothing else.
    assert!(gentle.passed(), "{:#?}", gentle.violations);
    let writer = &gentle.traffic[0];
    assert_eq!((writer.name.as_str(), writer.failed), ("writer", 0));
    assert!(writer.executed >= 50, "{} writes", writer.executed);
    assert_eq!(writer.rows_acknowledged, writer.executed);
    assert_eq!(writer.table.as_deref(), Some("events"));
    let lost = gentle
        .invariants
        .iter()
        .find(|invariant| invariant.name == "nothing lost")
        .unwrap();
    let expected = 5_000 + writer.rows_acknowledged;
    assert_eq!(lost.actual, expected.to_string());
    assert!(
        lost.held
            && lost
                .expected
                .starts_with(&format!("{expected} = seeded 5000 + inserted")),
        "{lost:?}"
    );
    assert!(
        gentle.invariants.iter().all(|invariant| invariant.held),
        "{:#?}",
        gentle.invariants
    );
    assert!(
        gentle
            .invariants
            .iter()
            .any(|invariant| invariant.name.contains("every index valid"))
    );

    // The steps as psql runs them, with what their SQL says they lock.
    let summaries: Vec<&str> = gentle
        .steps
        .iter()
        .map(|step| step.summary.as_str())
        .collect();
    assert_eq!(
        summaries,
        [
            "ALTER TABLE events ADD COLUMN note text NOT NULL DEFAULT 'none'",
            "UPDATE events SET note = kind WHERE note = 'none'",
            "CREATE INDEX CONCURRENTLY events_note ON events (note)",
        ]
    );
    let declared = &gentle.steps[0].declared_locks;
    assert_eq!(
        (
            declared.len(),
            declared[0].mode.as_str(),
            declared[0].relation.as_str()
        ),
        (1, "ACCESS EXCLUSIVE", "events")
    );
    // Seen by the sampler or not (it is held for about a millisecond), the lock is in
    // the step's row of the Markdown.
    let markdown = plancheck::report::rehearsal::markdown(&rehearsal);
    let row = markdown
        .lines()
        .find(|line| line.starts_with("| 1 | `ALTER TABLE events ADD COLUMN note"))
        .expect("step 1's row");
    assert!(row.contains("**ACCESS EXCLUSIVE** `events`"), "{row}");
    assert_eq!(
        row.contains("by its SQL, not seen"),
        !declared[0].seen,
        "{row}"
    );
    assert!(
        gentle.steps[2]
            .transaction
            .starts_with("outside a transaction block")
    );
    // Every seeded event but the clicks, whose kind is the default's... no: every row
    // has note 'none' after the column is added, so the update writes every row there
    // was when it ran: the seeded ones and the writers' so far.
    let updated = gentle.steps[1].rows.expect("an UPDATE reports its rows");
    assert!(updated >= 5_000, "the update's rows: {updated}");

    // The blocking step: seen holding ACCESS EXCLUSIVE, the writers queued behind it.
    assert!(!blocking.passed());
    let step = &blocking.steps[1];
    let held = &step.locks[0];
    assert_eq!(
        (held.mode.as_str(), held.relation.as_str()),
        ("ACCESS EXCLUSIVE", "events")
    );
    assert!(held.held_ms() >= 200.0, "held {} ms", held.held_ms());
    let stall = step.longest_stall.as_ref().expect("a stall");
    assert_eq!(stall.stream, "writer");
    assert!(stall.stall_ms > 250.0, "{stall:?}");
    assert_eq!(stall.first_in_queue.as_deref(), Some("step 2"));
    assert_eq!(
        stall.waited_for_lock.as_deref(),
        Some("ROW EXCLUSIVE on events")
    );
    assert!(step.over_limit);
    assert!(
        blocking
            .violations
            .iter()
            .any(|violation| violation.text.contains("step 2")
                && violation.text.contains("over the limit of 250 ms")
                && violation
                    .limit
                    .starts_with("stall ≤ 250 ms during step 2 (")),
        "{:?}",
        blocking.violations
    );
    assert!(
        step.explanation
            .iter()
            .any(|sentence| sentence.contains("held ACCESS EXCLUSIVE on events")),
        "{:?}",
        step.explanation
    );
    assert!(
        blocking
            .timeline
            .holds
            .iter()
            .any(|hold| hold.holder == "step 2" && hold.granted)
    );
    assert!(
        blocking
            .timeline
            .points
            .iter()
            .any(|point| point.stall_ms > 250.0)
    );
    assert!(blocking.sampler.ticks > 50);

    // The document round-trips through its JSON.
    let json = serde_json::to_string(&rehearsal).unwrap();
    let back: plancheck::outcome::rehearsal::Rehearsal = serde_json::from_str(&json).unwrap();
    assert_eq!(back, rehearsal);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_step_stops_the_rehearsal_and_keeps_the_steps_done() {
    let server = local_server().await;
    let url = superuser_url(&server);
    let dir = tempfile::tempdir().unwrap();
    let path = rehearsal_variant(dir.path(), |text| {
        text.replace("add_note_blocking.sql", "add_note_broken.sql")
    });
    let out = dir.path().join("reports");
    let output = plancheck()
        .arg("rehearse")
        .arg(&path)
        .args([
            "--migration",
            "blocking",
            "--no-progress",
            "--no-sampler-cost",
            "--backend",
            "url",
            "--database-url",
            &url,
            "--out",
        ])
        .arg(&out)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("add_note_broken.sql")
            && stderr.contains("step 2 of migration blocking (line 4) failed"),
        "{stderr}"
    );
    assert!(
        stderr.contains("column \"nope\" of relation \"events\" does not exist"),
        "{stderr}"
    );
    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("rehearsals/rehearsal-variant/rehearsal.json")).unwrap(),
    )
    .unwrap();
    let run = &report["runs"][0];
    assert_eq!(run["steps"].as_array().unwrap().len(), 2, "the steps done");
    assert_eq!(run["steps_not_run"], 1);
    assert!(run["stopped"].as_str().unwrap().contains("step 2 failed"));
    let client = plancheck::provision::connect(&url.parse().unwrap())
        .await
        .unwrap();
    assert_eq!(
        scratch_databases(&client).await,
        Vec::<String>::new(),
        "the scratch database was left on the server"
    );
    drop(client);
    server.stop().await.unwrap();
}

#[test]
fn bad_traffic_and_invariants_are_refused_with_the_file_and_key() {
    let dir = tempfile::tempdir().unwrap();
    // What is wrong, how the small rehearsal is edited to be so, what stderr says.
    type Case = (&'static str, fn(String) -> String, &'static str);
    let cases: [Case; 8] = [
        (
            "a rate of 0",
            |text| text.replacen("rate = 100", "rate = 0", 1),
            "key `rehearsal.traffic \"writer\".rate`: 0 executions per second would never run the statement",
        ),
        (
            "a statement that needs the migration",
            |text| {
                text.replace("INSERT INTO events (account_id, kind, created_at) VALUES ($1, 'click', now())", "INSERT INTO events (account_id, kind, created_at, note) VALUES ($1, 'click', now(), 'x')")
            },
            "key `rehearsal.traffic \"writer\".sql`: traffic \"writer\" fails on the pre-migration schema, before the migration starts: column \"note\" of relation \"events\" does not exist",
        ),
        (
            "an invariant that is not a boolean or a count",
            |text| {
                text.replace(
                    "SELECT bool_and(note <> 'none' OR kind = 'click') FROM events",
                    "SELECT min(note) FROM events",
                )
            },
            "key `rehearsal.invariant \"every note filled\"`: returns text; an invariant returns one row of one boolean",
        ),
        (
            "more connections than a rehearsal opens",
            |text| text.replacen("connections = 2", "connections = 500", 1),
            "key `rehearsal.traffic \"writer\".connections`: 500 connections for one stream is more than a rehearsal opens",
        ),
        (
            "a left-out column the pre-migration schema already has",
            |text| {
                let start = text.find("schema = [").unwrap();
                let end = start + text[start..].find('\n').unwrap();
                format!("{}{}", &text[..start], &text[end + 1..])
            },
            "column events.note is left out (leave_out) but is already in the schema the fixtures build",
        ),
        (
            "a key an invariant of a migration does not have",
            |text| with_gentle_invariant(text, "name = \"x\"\nsql = \"SELECT true\"\nexpected = 1"),
            "unknown field `expected`",
        ),
        (
            "a count of inserts into a table no stream inserts into",
            |text| text.replace("inserted(events)", "inserted(event)"),
            "`expect` counts inserted(event), but no traffic stream inserts into event",
        ),
        (
            "a step that fails inside the migration's own transaction block",
            |text| {
                let broken = std::env::temp_dir()
                    .join(format!("plancheck-in-block-{}.sql", std::process::id()));
                std::fs::write(
                    &broken,
                    "BEGIN;\nALTER TABLE events ADD COLUMN note text NOT NULL DEFAULT 'none';\nUPDATE events SET nope = 1;\nCOMMIT;\n",
                )
                .unwrap();
                let gentle = text.find("add_note.sql").unwrap();
                let quote = text[..gentle].rfind('"').unwrap();
                format!(
                    "{}\"{}{}",
                    &text[..quote],
                    broken.display(),
                    &text[gentle + "add_note.sql".len()..]
                )
            },
            "step 3 of migration gentle (line 3) failed: column \"nope\" of relation \"events\" does not exist",
        ),
    ];
    for (what, edit, message) in cases {
        let path = rehearsal_variant(dir.path(), edit);
        let output = plancheck()
            .arg("rehearse")
            .arg(&path)
            .args([
                "--migration",
                "gentle",
                "--no-progress",
                "--no-sampler-cost",
                "--out",
            ])
            .arg(dir.path().join("reports"))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{what}: {stderr}");
        assert!(
            stderr.contains(message),
            "{what}: expected {message:?} in {stderr}"
        );
        // Every message starts with the file it is about (the scenario, the dataset,
        // the migration file of a failing step), never a line number alone.
        let message = stderr
            .lines()
            .find_map(|line| line.split_once("error: ").map(|(_, message)| message))
            .unwrap_or_default();
        let file = message.split(": ").next().unwrap_or_default();
        assert!(
            std::path::Path::new(file).is_file(),
            "{what}: the message does not start with a file: {message}"
        );
    }
    // The transaction-block case wrote its migration beside the temporary files.
    let _ = std::fs::remove_file(
        std::env::temp_dir().join(format!("plancheck-in-block-{}.sql", std::process::id())),
    );
}

#[test]
fn ctrl_c_stops_the_traffic_then_the_server_and_exits_130() {
    let dir = tempfile::tempdir().unwrap();
    let slow = dir.path().join("slow.sql");
    std::fs::write(
        &slow,
        "ALTER TABLE events ADD COLUMN note text NOT NULL DEFAULT 'none';\nSELECT pg_sleep(60);\n",
    )
    .unwrap();
    let path = rehearsal_variant(dir.path(), |text| {
        text.replace(
            &format!(
                "{}/add_note_blocking.sql",
                repo_path("tests/data/rehearsal").display()
            ),
            &slow.display().to_string(),
        )
    });
    let log = dir.path().join("stderr.log");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_plancheck"))
        .current_dir(repo_path(""))
        .env("PLANCHECK_BACKEND", "local")
        .arg("rehearse")
        .arg(&path)
        .args([
            "--migration",
            "blocking",
            "--no-progress",
            "--no-sampler-cost",
            "--out",
        ])
        .arg(dir.path().join("reports"))
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut server = None;
    assert!(
        wait_for(Duration::from_secs(60), || {
            if server.is_none() {
                server = local_server_of(child.id());
            }
            std::fs::read_to_string(&log)
                .is_ok_and(|text| text.contains("rehearsal: migration steps"))
        }),
        "{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    let (server_pid, directory) = server.expect("the run's local server");
    std::thread::sleep(Duration::from_millis(500));
    let interrupted = Instant::now();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let status = child.wait().unwrap();
    let stderr = std::fs::read_to_string(&log).unwrap();
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert!(
        interrupted.elapsed() < Duration::from_secs(30),
        "the sleeping step was not waited out: {:?}",
        interrupted.elapsed()
    );
    assert!(
        stderr.contains("interrupted; stopping the traffic and cleaning up"),
        "{stderr}"
    );
    assert!(!process_alive(server_pid), "server left running");
    assert!(!directory.exists(), "{} left behind", directory.display());
    assert!(
        !dir.path()
            .join("reports/rehearsals/rehearsal-variant")
            .exists(),
        "no report from an interrupted run"
    );
}

/// A step that runs past its budget is a finding about the migration at that scale
/// (exit 1), not bad input: the run stops there and says which step, file and line.
#[test]
fn a_step_past_its_budget_stops_the_run_with_the_step_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = rehearsal_variant(dir.path(), |text| {
        text.replace(
            "tail = \"300ms\"",
            "tail = \"300ms\"\nstep_budget = \"150ms\"",
        )
    });
    let output = plancheck()
        .arg("rehearse")
        .arg(&path)
        .args([
            "--migration",
            "blocking",
            "--no-progress",
            "--no-sampler-cost",
            "--out",
        ])
        .arg(dir.path().join("reports"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stdout.contains("blocking at 5,000: stopped: step 2 (")
            && stdout.contains("add_note_blocking.sql:")
            && stdout.contains("ran past its budget of 150 ms"),
        "{stdout}"
    );
}

/// A driver's statement cache meets `ADD COLUMN`: the reader's prepared `SELECT *`
/// fails from the step on, as it does in production, and the run says so.
#[tokio::test(flavor = "multi_thread")]
async fn a_prepared_select_star_fails_after_add_column_and_the_step_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = rehearsal_variant(dir.path(), |text| {
        text.replace(
            "sql = \"SELECT count(*) FROM events WHERE account_id = $1\"",
            "sql = \"SELECT * FROM events WHERE account_id = $1\"\nprepared = true",
        )
    });
    let scenario = Scenario::load(&path).unwrap();
    let server = local_server().await;
    let mut options = quiet_options();
    options.migrations = vec!["gentle".into()];
    let rehearsed = rehearse(&server, &scenario, &options).await.unwrap();
    server.stop().await.unwrap();
    assert!(rehearsed.failure.is_none(), "{:?}", rehearsed.failure);
    let run = &rehearsed.rehearsal.runs[0];
    assert!(!run.passed());
    let reader = run
        .traffic
        .iter()
        .find(|stream| stream.name == "reader")
        .unwrap();
    assert!(reader.failed > 0, "{reader:?}");
    let failures: Vec<_> = run.steps.iter().flat_map(|step| &step.failures).collect();
    let counted: u64 = failures.iter().map(|failure| failure.count).sum();
    assert_eq!(
        counted, reader.failed,
        "every failure is a step's: {failures:#?}"
    );
    assert!(
        failures.iter().all(|failure| failure.stream == "reader"
            && failure
                .error
                .contains("cached plan must not change result type")),
        "{failures:#?}"
    );
    assert!(
        run.violations
            .iter()
            .any(|violation| violation.limit == "failed statements ≤ 0"
                && violation
                    .text
                    .contains("traffic statement(s) failed, over the 0 allowed")),
        "{:?}",
        run.violations
    );
    // The reader ran fine before the column came: no failure in the warm-up.
    let first_failure = run
        .timeline
        .points
        .iter()
        .filter(|point| point.failed)
        .map(|point| point.due_ms)
        .fold(f64::INFINITY, f64::min);
    assert!(
        first_failure + 50.0 >= run.steps[0].start_ms,
        "failed at {first_failure} ms, step 1 at {} ms",
        run.steps[0].start_ms
    );
}

/// Nothing takes a conflicting lock during the warm-up (inserts and counts share
/// their tables), so nothing there stalls, however late the client starts an
/// execution; its lateness is latency.
#[tokio::test(flavor = "multi_thread")]
async fn traffic_that_waits_on_no_lock_has_no_stall() {
    let scenario = Scenario::load(&repo_path("tests/data/scenarios/rehearsal-small.toml")).unwrap();
    let server = local_server().await;
    let mut options = quiet_options();
    options.migrations = vec!["gentle".into()];
    let rehearsed = rehearse(&server, &scenario, &options).await.unwrap();
    server.stop().await.unwrap();
    assert!(rehearsed.failure.is_none(), "{:?}", rehearsed.failure);
    let run = &rehearsed.rehearsal.runs[0];
    let first_step = run.steps[0].start_ms;
    let warm_up: Vec<_> = run
        .timeline
        .points
        .iter()
        .filter(|point| point.due_ms + point.latency_ms < first_step)
        .collect();
    assert!(warm_up.len() >= 50, "{} executions", warm_up.len());
    let late = warm_up
        .iter()
        .filter(|point| point.latency_ms > 0.0)
        .count();
    println!(
        "{} executions in the warm-up, {late} finished after they were due (latency up to {} ms)",
        warm_up.len(),
        warm_up
            .iter()
            .map(|point| point.latency_ms)
            .fold(0.0, f64::max)
    );
    let stalled: Vec<_> = warm_up
        .iter()
        .filter(|point| point.stall_ms > 0.0)
        .collect();
    assert!(
        stalled.is_empty(),
        "{} executions stalled with no lock taken, as {:?}",
        stalled.len(),
        &stalled[..stalled.len().min(3)]
    );
    assert!(
        !run.timeline
            .holds
            .iter()
            .any(|hold| !hold.granted && hold.to_ms < first_step),
        "a lock wait in the warm-up: {:?}",
        run.timeline.holds
    );
}

/// The small rehearsal with its migrations replaced by `migrations` (name, file in
/// tests/data/rehearsal), in order.
fn with_migrations(text: String, migrations: &[(&str, &str)]) -> String {
    let start = text.find("[[rehearsal.migration]]").unwrap();
    let end = text.find("[[rehearsal.traffic]]").unwrap();
    let dir = repo_path("tests/data/rehearsal");
    let declared: String = migrations
        .iter()
        .map(|(name, file)| {
            format!(
                "[[rehearsal.migration]]\nname = \"{name}\"\nfixtures = [\"{}/{file}\"]\n\n",
                dir.display()
            )
        })
        .collect();
    format!("{}{declared}{}", &text[..start], &text[end..])
}

/// A migration that fails on the data is a finding, not bad input: exit 1, the step
/// and the server's error in the report, the invariants checked on what it left (the
/// INVALID index a failed CREATE UNIQUE INDEX CONCURRENTLY leaves), the traffic's tail
/// as long as asked and said so, and the next migration rehearsed on a database of
/// its own.
#[test]
fn a_migration_that_fails_on_the_data_is_a_finding_and_the_next_one_still_runs() {
    let dir = tempfile::tempdir().unwrap();
    let path = rehearsal_variant(dir.path(), |text| {
        with_migrations(
            text,
            &[
                ("unique", "add_unique_over_duplicates.sql"),
                (
                    "concurrent",
                    "unique_index_concurrently_over_duplicates.sql",
                ),
                ("gentle", "add_note.sql"),
            ],
        )
    });
    let out = dir.path().join("reports");
    let output = plancheck()
        .arg("rehearse")
        .arg(&path)
        .args(["--no-progress", "--no-sampler-cost", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stderr}\n{stdout}");
    let report_dir = out.join("rehearsals/rehearsal-variant");
    let report: plancheck::outcome::rehearsal::Rehearsal =
        serde_json::from_str(&std::fs::read_to_string(report_dir.join("rehearsal.json")).unwrap())
            .unwrap();
    let [unique, concurrent, gentle] = &report.runs[..] else {
        panic!("three runs: {:#?}", report.runs);
    };

    // The step, the server's error, the steps not run, and the invariants all the same.
    assert_eq!((unique.steps.len(), unique.steps_not_run), (2, 1));
    let error = unique.steps[1].error.as_deref().unwrap();
    assert!(
        error.contains("could not create unique index") && error.contains("23505"),
        "{error}"
    );
    let stopped = unique.stopped.as_deref().unwrap();
    assert!(
        stopped.contains("step 2 (") && stopped.contains("1 step did not run"),
        "{stopped}"
    );
    assert!(!unique.invariants.is_empty());
    assert!(!unique.passed());

    // What the failed CREATE UNIQUE INDEX CONCURRENTLY left: its index, INVALID.
    let valid = concurrent
        .invariants
        .iter()
        .find(|invariant| invariant.builtin)
        .unwrap();
    assert!(
        !valid.held
            && valid
                .actual
                .contains("index events_account_kind is not valid"),
        "{valid:?}"
    );
    assert!(
        concurrent.steps[1]
            .explanation
            .iter()
            .any(|sentence| sentence == "It left behind: index events_account_kind is not valid."),
        "{:?}",
        concurrent.steps[1].explanation
    );

    // The tail ran as asked after the failure, and the report says how long, after what.
    for run in [unique, concurrent] {
        let last_end = run.steps.last().unwrap().end_ms;
        assert!(
            (run.tail_ms - (run.timeline.duration_ms - last_end)).abs() < 1.0,
            "tail {} ms, traffic ran {} ms after the last step",
            run.tail_ms,
            run.timeline.duration_ms - last_end
        );
        assert!(run.tail_ms >= 300.0, "tail {} ms", run.tail_ms);
        // And the warm-up, from the traffic's start to the first step.
        let started = run
            .traffic
            .iter()
            .map(|stream| stream.started_ms)
            .fold(f64::INFINITY, f64::min);
        assert!(
            (run.warm_up_ms - (run.steps[0].start_ms - started)).abs() < 1.0,
            "warm-up {} ms, traffic alone {} ms",
            run.warm_up_ms,
            run.steps[0].start_ms - started
        );
    }
    let markdown = std::fs::read_to_string(report_dir.join("rehearsal.md")).unwrap();
    assert!(
        markdown.contains("after step 2 failed · timeline: `timeline-unique-5000.svg`"),
        "{markdown}"
    );

    // The next migration ran on a database of its own and passed.
    assert!(
        gentle.passed(),
        "{:?} {:?}",
        gentle.stopped,
        gentle.violations
    );
    assert_eq!(gentle.steps.len(), 3);
    assert!(
        stdout.contains("unique at 5,000: stopped: step 2 ("),
        "{stdout}"
    );
}

/// What the traffic managed is a measurement, never bad input: a reader asked for 20
/// executions a second on one connection, each taking a quarter of a second, runs
/// at about 4, and the report says so beside a run that otherwise passed.
#[test]
fn a_rate_its_connections_cannot_keep_is_a_warning_in_the_report_not_a_refusal() {
    let dir = tempfile::tempdir().unwrap();
    let path = rehearsal_variant(dir.path(), |text| {
        text.replace(
            "SELECT count(*) FROM events WHERE account_id = $1",
            "SELECT pg_sleep(0.25), $1::uuid",
        )
    });
    let out = dir.path().join("reports");
    let output = plancheck()
        .arg("rehearse")
        .arg(&path)
        .args([
            "--migration",
            "gentle",
            "--no-progress",
            "--no-sampler-cost",
            "--out",
        ])
        .arg(&out)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stderr}\n{stdout}");
    let report: plancheck::outcome::rehearsal::Rehearsal = serde_json::from_str(
        &std::fs::read_to_string(out.join("rehearsals/rehearsal-variant/rehearsal.json")).unwrap(),
    )
    .unwrap();
    let warnings = &report.runs[0].warnings;
    assert!(
        warnings.len() == 1
            && warnings[0].starts_with("traffic \"reader\" ran ")
            && warnings[0].contains("of the 20 executions per second asked"),
        "{warnings:?}"
    );
    let markdown =
        std::fs::read_to_string(out.join("rehearsals/rehearsal-variant/rehearsal.md")).unwrap();
    assert!(
        markdown.contains(&format!("⚠️ {}", warnings[0])),
        "{markdown}"
    );
    assert!(
        stdout.contains("gentle at 5,000: warning: traffic \"reader\" ran "),
        "{stdout}"
    );
}

/// A rehearsal stopped by bad input found on the way (a step the server refuses
/// whatever the data) lists the runs it did not get to, with why, rather than leaving
/// them out.
#[test]
fn the_runs_a_stopped_rehearsal_did_not_get_to_are_in_its_report() {
    let dir = tempfile::tempdir().unwrap();
    let path = rehearsal_variant(dir.path(), |text| {
        with_migrations(
            text,
            &[
                ("broken", "add_note_broken.sql"),
                ("gentle", "add_note.sql"),
            ],
        )
    });
    let out = dir.path().join("reports");
    let output = plancheck()
        .arg("rehearse")
        .arg(&path)
        .args(["--no-progress", "--no-sampler-cost", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("rehearsals/rehearsal-variant/rehearsal.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(report["runs"].as_array().unwrap().len(), 1);
    let not_run = report["not_run"]
        .as_array()
        .expect("a list of runs not run");
    assert_eq!(not_run.len(), 1, "{not_run:?}");
    assert_eq!(
        (&not_run[0]["migration"], &not_run[0]["scale"]),
        (&serde_json::json!("gentle"), &serde_json::json!(5000))
    );
    let reason = not_run[0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("broken at 5,000 rows")
            && reason.contains("column \"nope\" of relation \"events\" does not exist"),
        "{reason}"
    );
    let markdown =
        std::fs::read_to_string(out.join("rehearsals/rehearsal-variant/rehearsal.md")).unwrap();
    assert!(
        markdown.contains("- `gentle` at 5,000 rows: not run: "),
        "{markdown}"
    );
    assert!(stdout.contains("gentle at 5,000: not run: "), "{stdout}");
}

/// The small rehearsal with an invariant of the gentle migration's own after its
/// fixtures: `entry` is the body of its `[[rehearsal.migration.invariant]]`.
fn with_gentle_invariant(text: String, entry: &str) -> String {
    let at = text.find("add_note.sql\"]\n").unwrap() + "add_note.sql\"]\n".len();
    format!(
        "{}\n[[rehearsal.migration.invariant]]\n{entry}\n{}",
        &text[..at],
        &text[at..]
    )
}

/// An invariant declared under a migration is checked after that migration only: the
/// gentle one indexes the notes, the blocking one does not and is not held to it.
#[tokio::test(flavor = "multi_thread")]
async fn an_invariant_of_a_migration_is_checked_after_that_migration_only() {
    let dir = tempfile::tempdir().unwrap();
    let path = rehearsal_variant(dir.path(), |text| {
        with_gentle_invariant(
            text,
            "name = \"notes indexed\"\nsql = \"SELECT count(*) = 1 FROM pg_indexes WHERE indexname = 'events_note'\"",
        )
    });
    let scenario = Scenario::load(&path).unwrap();
    let server = local_server().await;
    let rehearsed = rehearse(&server, &scenario, &quiet_options())
        .await
        .unwrap();
    server.stop().await.unwrap();
    assert!(rehearsed.failure.is_none(), "{:?}", rehearsed.failure);
    let names = |run: &plancheck::outcome::rehearsal::MigrationRun| -> Vec<String> {
        run.invariants
            .iter()
            .map(|invariant| invariant.name.clone())
            .collect()
    };
    let [gentle, blocking] = &rehearsed.rehearsal.runs[..] else {
        panic!("two runs");
    };
    assert_eq!(
        names(gentle),
        [
            "every note filled",
            "nothing lost",
            "notes indexed",
            "every constraint validated and every index valid"
        ]
    );
    assert!(
        gentle.invariants.iter().all(|invariant| invariant.held),
        "{:?}",
        gentle.invariants
    );
    assert!(
        !names(blocking).contains(&"notes indexed".to_owned()),
        "{:?}",
        names(blocking)
    );
}

/// `--repeat 2`: the blocking migration twice, each on its own database, and the
/// report counts how many runs broke each limit.
#[test]
fn repeated_runs_are_counted_per_limit() {
    let dir = tempfile::tempdir().unwrap();
    let path = rehearsal_variant(dir.path(), |text| text);
    let out = dir.path().join("reports");
    let output = plancheck()
        .arg("rehearse")
        .arg(&path)
        .args([
            "--migration",
            "blocking",
            "--repeat",
            "2",
            "--no-progress",
            "--no-sampler-cost",
            "--out",
        ])
        .arg(&out)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    let report_dir = out.join("rehearsals/rehearsal-variant");
    let report: plancheck::outcome::rehearsal::Rehearsal =
        serde_json::from_str(&std::fs::read_to_string(report_dir.join("rehearsal.json")).unwrap())
            .unwrap();
    assert_eq!(report.repeat, 2);
    let repetitions: Vec<Option<usize>> = report.runs.iter().map(|run| run.repetition).collect();
    assert_eq!(repetitions, [Some(1), Some(2)]);
    assert!(report_dir.join("timeline-blocking-5000-2.svg").is_file());
    let markdown = std::fs::read_to_string(report_dir.join("rehearsal.md")).unwrap();
    let line = markdown
        .lines()
        .find(|line| line.starts_with("- `blocking` at 5,000 rows: "))
        .unwrap_or_else(|| panic!("no repeated-runs line in {markdown}"));
    assert!(
        line.contains("stall ≤ 250 ms during step 2 (") && line.contains(") broken in 2 of 2 runs"),
        "{line}"
    );
    assert!(
        stdout.contains("blocking at 5,000, 2 runs: stall ≤ 250 ms during step 2 ("),
        "{stdout}"
    );
}

/// A migration the scenario does not declare is a usage error found before any
/// server starts.
#[test]
fn an_unknown_migration_is_refused_before_any_server_starts() {
    let dir = tempfile::tempdir().unwrap();
    let output = plancheck()
        .arg("rehearse")
        .arg(repo_path("tests/data/scenarios/rehearsal-small.toml"))
        .args(["--migration", "gentel", "--no-progress", "--out"])
        .arg(dir.path().join("reports"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--migration gentel: scenario rehearsal-small rehearses gentle, blocking"),
        "{stderr}"
    );
    assert!(!stderr.contains("starting PostgreSQL"), "{stderr}");
}
