//! Leftovers of runs that died without cleaning up are found, reported and removed:
//! by the next run of the same backend, and by `plancheck clean`. Each local test
//! runs with a temporary directory of its own (`TMPDIR`), so that other tests' runs,
//! which sweep the shared one, cannot take its leftovers first.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use predicates::prelude::PredicateBooleanExt;
use predicates::str::contains;

use crate::support::{
    containers_of, docker_image, local_server, local_server_of, plancheck, process_alive,
    repo_path, scratch_databases, small_run, superuser_url, wait_for,
};

/// A temporary directory the `postgres` user can traverse, to serve as `TMPDIR`.
fn private_tmpdir() -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::Builder::new()
        .prefix("pc-")
        .tempdir_in("/tmp")
        .unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

/// The CLI seeding sparse-small at a scale that keeps it busy for a while.
fn spawn_seeding(backend: &[&str], tmpdir: &Path, out: &Path) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_plancheck"))
        .current_dir(repo_path(""))
        .args(["scenario", "tests/data/scenarios/sparse-small.toml"])
        .args(["--scale", "400000", "--no-progress"])
        .args(backend)
        .arg("--out")
        .arg(out)
        .env("TMPDIR", tmpdir)
        .env_remove("PLANCHECK_DATABASE_URL")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn server_directories(tmpdir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(tmpdir)
        .unwrap()
        .filter_map(|entry| entry.ok())
        .filter(|entry| {
            entry
                .file_name()
                .to_string_lossy()
                .starts_with("plancheck-pg-")
        })
        .map(|entry| entry.path())
        .collect()
}

#[test]
fn a_killed_local_run_is_swept_and_reported_by_the_next_one() {
    let tmpdir = private_tmpdir();
    let out = tempfile::tempdir().unwrap();
    let mut child = spawn_seeding(&["--backend", "local"], tmpdir.path(), out.path());
    let mut server = None;
    assert!(wait_for(Duration::from_secs(30), || {
        server = local_server_of(child.id());
        server.is_some()
    }));
    let (postmaster, directory) = server.unwrap();
    std::thread::sleep(Duration::from_secs(2));
    kill(Pid::from_raw(child.id() as i32), Signal::SIGKILL).unwrap();
    child.wait().unwrap();
    assert!(
        process_alive(postmaster) && directory.exists(),
        "SIGKILL leaves them"
    );

    // `clean` lists without removing.
    plancheck()
        .arg("clean")
        .env("TMPDIR", tmpdir.path())
        .assert()
        .code(0)
        .stdout(contains(directory.display().to_string()))
        .stdout(contains(format!(
            "plancheck process {} is gone",
            child.id()
        )));
    assert!(directory.exists(), "clean without --yes removes nothing");

    let output = small_run("dense-small", out.path())
        .args(["--backend", "local"])
        .env("TMPDIR", tmpdir.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("swept") && stderr.contains(&directory.display().to_string()),
        "{stderr}"
    );
    assert!(!directory.exists());
    assert!(wait_for(Duration::from_secs(10), || !process_alive(
        postmaster
    )));
    assert!(server_directories(tmpdir.path()).is_empty());
}

#[test]
fn kept_servers_are_left_to_clean_which_lists_then_removes_them() {
    let tmpdir = private_tmpdir();
    let out = tempfile::tempdir().unwrap();
    small_run("dense-small", out.path())
        .args(["--backend", "local", "--keep"])
        .env("TMPDIR", tmpdir.path())
        .assert()
        .code(0);
    let [directory] = &server_directories(tmpdir.path())[..] else {
        panic!("one kept server directory");
    };
    // The next run does not take a kept server for an orphan.
    small_run("dense-small", out.path())
        .args(["--backend", "local"])
        .env("TMPDIR", tmpdir.path())
        .assert()
        .code(0);
    assert!(directory.exists());
    plancheck()
        .arg("clean")
        .env("TMPDIR", tmpdir.path())
        .assert()
        .code(0)
        .stdout(contains("kept with --keep"));
    plancheck()
        .args(["clean", "--yes"])
        .env("TMPDIR", tmpdir.path())
        .assert()
        .code(0)
        .stderr(contains(format!(
            "removed local server directory {}",
            directory.display()
        )));
    assert!(!directory.exists());
    let postmasters = Command::new("pgrep")
        .arg("-f")
        .arg(directory.display().to_string())
        .output()
        .unwrap();
    assert!(postmasters.stdout.is_empty(), "its server is stopped");
}

#[test]
fn a_killed_docker_run_is_swept_and_reported_by_the_next_one() {
    let Some(image) = docker_image() else { return };
    let tmpdir = private_tmpdir();
    let out = tempfile::tempdir().unwrap();
    let mut child = spawn_seeding(
        &["--backend", "docker", "--image", &image],
        tmpdir.path(),
        out.path(),
    );
    let pid = child.id();
    assert!(wait_for(Duration::from_secs(60), || !containers_of(pid).is_empty()));
    std::thread::sleep(Duration::from_secs(3));
    kill(Pid::from_raw(pid as i32), Signal::SIGKILL).unwrap();
    child.wait().unwrap();
    let [container] = &containers_of(pid)[..] else {
        panic!("SIGKILL leaves the container");
    };
    plancheck()
        .arg("clean")
        .assert()
        .code(0)
        .stdout(contains(&container[..12]));
    let output = small_run("dense-small", out.path())
        .args(["--backend", "docker", "--image", &image])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!(
            "swept a dead run's leftover: removed container {}",
            &container[..12]
        )),
        "{stderr}"
    );
    assert!(containers_of(pid).is_empty());
}

/// A server the url backend can use: a private local server, reached as its superuser.
async fn url_server() -> (plancheck::provision::Server, String) {
    let server = local_server().await;
    let url = superuser_url(&server);
    (server, url)
}

/// On a server plancheck does not own, a scratch database whose run is gone (nobody
/// holds its lock) is dropped by the next run; one a live run holds is not, nor a
/// database plancheck did not create.
#[tokio::test(flavor = "multi_thread")]
async fn the_url_backend_sweeps_orphaned_scratch_databases_but_not_live_ones() {
    let (server, url) = url_server().await;
    let client = plancheck::provision::connect(&url.parse().unwrap())
        .await
        .unwrap();
    // A dead run's database (marked as plancheck's, nobody holds its lock), and a
    // database of the user's that merely shares the prefix.
    for statement in [
        "CREATE DATABASE plancheck_orphan_x1",
        "COMMENT ON DATABASE plancheck_orphan_x1 IS 'plancheck scratch database of 1-2-deadbeef'",
        "CREATE DATABASE plancheck_metrics",
    ] {
        client.batch_execute(statement).await.unwrap();
    }
    // A live run's database: its lock is held (here by this test, as a run would).
    let live = server.create_scratch("live").await.unwrap();

    let out = tempfile::tempdir().unwrap();
    let output = small_run("dense-small", out.path())
        .args(["--backend", "url", "--database-url", &url])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr
            .contains("removed scratch database plancheck_orphan_x1 (no live run holds its lock)"),
        "{stderr}"
    );
    assert_eq!(
        scratch_databases(&client).await,
        vec![live.name.clone(), "plancheck_metrics".to_owned()],
        "the orphan is dropped; the user's database and the live run's are not"
    );
    live.drop_database().await.unwrap();
    drop(client);
    server.stop().await.unwrap();
}

/// SIGINT during seeding on the url backend: the statements stop and the scratch
/// database goes; the server is left as it was.
#[tokio::test(flavor = "multi_thread")]
async fn an_interrupted_url_run_drops_its_scratch_database() {
    let (server, url) = url_server().await;
    let client = plancheck::provision::connect(&url.parse().unwrap())
        .await
        .unwrap();
    let tmpdir = private_tmpdir();
    let out = tempfile::tempdir().unwrap();
    let mut child = spawn_seeding(&["--database-url", &url], tmpdir.path(), out.path());
    let mut seen = Vec::new();
    for _ in 0..200 {
        seen = scratch_databases(&client).await;
        if !seen.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(seen.len(), 1, "the run created its scratch database");
    tokio::time::sleep(Duration::from_secs(2)).await;
    kill(Pid::from_raw(child.id() as i32), Signal::SIGINT).unwrap();
    let status = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    assert_eq!(status.code(), Some(130));
    assert!(scratch_databases(&client).await.is_empty());
    let busy: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_stat_activity WHERE datname LIKE 'plancheck\\_%'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(busy, 0, "nothing keeps running on the server");
    drop(client);
    server.stop().await.unwrap();
}

/// A run started in a process namespace of its own (as in a CI job's container) and
/// killed with the whole namespace leaves a container whose owner no later run can
/// look up by process id. The engine's view decides instead: the run had connected
/// and no session of it is left, so `clean` lists the container and the next docker
/// run sweeps it.
#[test]
fn a_container_whose_run_died_with_its_process_namespace_is_swept() {
    let Some(image) = docker_image() else { return };
    if !nix::unistd::Uid::effective().is_root() {
        println!("NAMESPACE TEST NOT RUN: unshare --pid needs root");
        return;
    }
    let out = tempfile::tempdir().unwrap();
    let mut namespace = Command::new("unshare")
        .args(["--pid", "--fork", "--mount-proc"])
        .arg(env!("CARGO_BIN_EXE_plancheck"))
        .args(["scenario", "tests/data/scenarios/sparse-small.toml"])
        .args(["--scale", "400000", "--no-progress", "--backend", "docker"])
        .args(["--image", &image, "--out"])
        .arg(out.path())
        .current_dir(repo_path(""))
        .env_remove("PLANCHECK_DATABASE_URL")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // plancheck is the namespace's first process, the child of `unshare`.
    let mut inner = None;
    assert!(wait_for(Duration::from_secs(10), || {
        inner = std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", namespace.id()))
            .ok()
            .and_then(|children| children.split_whitespace().next()?.parse::<u32>().ok());
        inner.is_some()
    }));
    let inner = inner.unwrap();
    let pid_namespace = std::fs::read_link(format!("/proc/{inner}/ns/pid"))
        .unwrap()
        .display()
        .to_string();
    let of_namespace = || -> Vec<String> {
        let listed = Command::new("docker")
            .args(["ps", "-aq", "--filter", "label=dev.plancheck.pid=1"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&listed.stdout)
            .split_whitespace()
            .filter(|id| {
                let host = Command::new("docker")
                    .args([
                        "inspect",
                        "-f",
                        "{{index .Config.Labels \"dev.plancheck.host\"}}",
                    ])
                    .arg(id)
                    .output()
                    .unwrap();
                String::from_utf8_lossy(&host.stdout).contains(&pid_namespace)
            })
            .map(str::to_owned)
            .collect()
    };
    assert!(
        wait_for(Duration::from_secs(60), || !of_namespace().is_empty()),
        "no container started"
    );
    // The run has connected (its mark is in the container) and is into the seed.
    let connected = |id: &str| {
        Command::new("docker")
            .args(["cp", &format!("{id}:/tmp/plancheck-connected"), "-"])
            .output()
            .is_ok_and(|output| output.status.success())
    };
    assert!(
        wait_for(Duration::from_secs(60), || of_namespace()
            .iter()
            .any(|id| connected(id))),
        "the run never marked its container as connected"
    );
    std::thread::sleep(Duration::from_secs(2));
    // Alive, it is nobody's to take: not listed by `clean`, not swept by a run.
    let [live] = &of_namespace()[..] else {
        panic!("one container of the namespace's run");
    };
    plancheck()
        .arg("clean")
        .assert()
        .code(0)
        .stdout(contains(&live[..12]).not());
    small_run("dense-small", out.path())
        .args(["--backend", "docker", "--image", &image])
        .assert()
        .code(0)
        .stderr(contains(&live[..12]).not());
    assert_eq!(
        &of_namespace(),
        std::slice::from_ref(live),
        "the live run's container stays"
    );
    kill(Pid::from_raw(inner as i32), Signal::SIGKILL).unwrap();
    namespace.wait().unwrap();
    let [container] = &of_namespace()[..] else {
        panic!("killing the namespace leaves its container");
    };
    let short = &container[..12];

    // Once the server has seen its run's sessions go (within a second or two, even
    // mid-statement), `clean` lists the container.
    let mut listing = String::new();
    assert!(
        wait_for(Duration::from_secs(30), || {
            let output = plancheck().arg("clean").output().unwrap();
            listing = String::from_utf8_lossy(&output.stdout).into_owned();
            output.status.code() == Some(0) && listing.contains(short)
        }),
        "clean never listed {short}: {listing}"
    );
    assert!(
        listing.contains("holds no session on its server any more"),
        "{listing}"
    );
    let output = small_run("dense-small", out.path())
        .args(["--backend", "docker", "--image", &image])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "swept a dead run's leftover: removed container {short}"
        )),
        "{stderr}"
    );
    assert!(of_namespace().is_empty());
}
