//! Reaching a server the user names: a server that never answers is given up on
//! within the connection's time limit, a refusal is called one, and `plancheck clean`
//! never calls a server it could not look at clean.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use predicates::prelude::PredicateBooleanExt;
use predicates::str::contains;

use crate::support::{local_server, plancheck, superuser_url};

/// A TCP port that accepts connections and never says a word, as a stuck proxy or a
/// service that is not PostgreSQL would. Its connections are held until it is dropped.
struct SilentServer {
    port: u16,
    _accepting: std::thread::JoinHandle<()>,
}

impl SilentServer {
    fn start() -> SilentServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepting = std::thread::spawn(move || {
            let mut held = Vec::new();
            for stream in listener.incoming() {
                held.push(stream);
            }
        });
        SilentServer {
            port,
            _accepting: accepting,
        }
    }
}

/// Runs `plancheck <args>` and returns its exit code, stderr and how long it took.
fn timed(command: &mut assert_cmd::Command) -> (Option<i32>, String, Duration) {
    let clock = Instant::now();
    let output = command.output().unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
        clock.elapsed(),
    )
}

/// A run of dense-small on the server `url` names, reports under `out`.
fn scenario_on(url: &str, out: &tempfile::TempDir) -> assert_cmd::Command {
    let mut command = plancheck();
    command
        .args(["scenario", "tests/data/scenarios/dense-small.toml"])
        .args(["--scale", "5000", "--no-progress", "--backend", "url"])
        .args(["--database-url", url])
        .arg("--out")
        .arg(out.path());
    command
}

#[test]
fn a_server_that_never_answers_is_given_up_on_within_connect_timeout() {
    let silent = SilentServer::start();
    let out = tempfile::tempdir().unwrap();
    let port = silent.port;
    let place = format!("127.0.0.1:{port}");
    // The limit in both forms of connection string, and from libpq's variable.
    for (url, variable) in [
        (
            format!("postgres://postgres@127.0.0.1:{port}/postgres?connect_timeout=2"),
            None,
        ),
        (
            format!("host=127.0.0.1 port={port} user=postgres connect_timeout=2"),
            None,
        ),
        (
            format!("postgres://postgres@127.0.0.1:{port}/postgres"),
            Some("2"),
        ),
    ] {
        let mut command = scenario_on(&url, &out);
        if let Some(seconds) = variable {
            command.env("PGCONNECT_TIMEOUT", seconds);
        }
        let (code, stderr, took) = timed(&mut command);
        assert_eq!(code, Some(3), "{url}: {stderr}");
        assert!(
            stderr.contains(&format!("the server at {place} did not answer within 2 s")),
            "{url}: {stderr}"
        );
        assert!(took < Duration::from_secs(30), "{url} hung for {took:?}");
    }
    // With no limit given, the default applies.
    let (code, stderr, took) = timed(
        scenario_on(
            &format!("postgres://postgres@127.0.0.1:{port}/postgres"),
            &out,
        )
        .env_remove("PGCONNECT_TIMEOUT"),
    );
    assert_eq!(code, Some(3), "{stderr}");
    assert!(
        stderr.contains(&format!("the server at {place} did not answer within 10 s")),
        "{stderr}"
    );
    assert!(took < Duration::from_secs(60), "hung for {took:?}");
}

#[test]
fn clean_says_it_could_not_look_rather_than_that_nothing_is_left() {
    let silent = SilentServer::start();
    for (url, place) in [
        (
            format!(
                "postgres://postgres@127.0.0.1:{}/postgres?connect_timeout=2",
                silent.port
            ),
            format!("the server at 127.0.0.1:{} did not answer", silent.port),
        ),
        // Nothing listens on port 1.
        (
            "postgres://postgres@127.0.0.1:1/postgres".to_owned(),
            "cannot reach the server at 127.0.0.1:1".to_owned(),
        ),
        // No such host (.invalid never resolves).
        (
            "postgres://postgres@no-such-host.invalid:5432/postgres".to_owned(),
            "cannot reach the server at no-such-host.invalid:5432".to_owned(),
        ),
    ] {
        plancheck()
            .args(["clean", "--database-url", &url])
            .assert()
            .code(3)
            .stderr(contains(format!("could not look for leftovers: {place}")))
            .stderr(contains("nothing left behind by earlier runs").not());
    }
}

/// A wrong password is the server refusing, not a server out of reach: both for a
/// run and for `clean`, which must not call the server clean either.
#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_password_is_reported_as_refused() {
    let server = local_server().await;
    let url = superuser_url(&server);
    let wrong = url
        .split_whitespace()
        .map(|pair| match pair.starts_with("password=") {
            true => "password=wrong-password",
            false => pair,
        })
        .collect::<Vec<_>>()
        .join(" ");
    let out = tempfile::tempdir().unwrap();
    let (code, stderr, _) = timed(&mut scenario_on(&wrong, &out));
    assert_eq!(code, Some(3), "{stderr}");
    assert!(
        stderr.contains("refused the connection: password authentication failed")
            && !stderr.contains("cannot reach"),
        "{stderr}"
    );
    let output = plancheck()
        .args(["clean", "--database-url", &wrong])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("could not look for leftovers")
            && stderr.contains("refused the connection")
            && !stderr.contains("nothing left behind by earlier runs"),
        "{stderr}"
    );
    // With the right one, the same server is looked at and found clean.
    plancheck()
        .args(["clean", "--database-url", &url])
        .assert()
        .code(0);
    server.stop().await.unwrap();
}

#[test]
fn a_malformed_database_url_is_bad_input() {
    for url in ["postgres://:::@@/", "postgres:///postgres", "dbname=x"] {
        plancheck()
            .args([
                "scenario",
                "dense-org",
                "--backend",
                "url",
                "--database-url",
                url,
            ])
            .assert()
            .code(2)
            .stderr(contains("--database-url"));
        plancheck()
            .args(["clean", "--database-url", url])
            .assert()
            .code(2)
            .stderr(contains("--database-url"));
    }
}
