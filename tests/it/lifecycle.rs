//! Nothing outlives a run: the local backend's server process and directory, and the
//! docker backend's container, are gone after success, a failed check, a panic, and
//! SIGINT or SIGTERM in the middle of seeding. Each test follows its own server (by
//! process, directory or container label), so tests running in parallel do not
//! disturb the counts.

use std::process::{Command, Stdio};
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use plancheck::pipeline::run_scenario;
use plancheck::provision::{BackendChoice, ProvisionOptions, Server};

use crate::support::{
    containers_of, docker_image, local_server, local_server_of, process_alive, quick_options,
    repo_path, small_run, test_scenario, wait_for,
};

#[test]
fn local_server_is_gone_after_a_panic() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut held = None;
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let server = runtime.block_on(local_server());
        held = Some(server.resources());
        panic!("a test failing while it holds a server");
    }));
    assert!(outcome.is_err());
    let resources = held.expect("the server started");
    assert!(
        !process_alive(resources.process_id.unwrap()),
        "server process left running"
    );
    assert!(
        !resources.directory.unwrap().exists(),
        "data directory left behind"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn local_server_is_gone_after_a_failed_check() {
    let server = local_server().await;
    let resources = server.resources();
    let mut options = quick_options();
    options.scale = Some(5_000);
    let run = run_scenario(&server, &test_scenario("sparse-small"), &options)
        .await
        .unwrap();
    assert!(
        !run.passed(),
        "at 5,000 runs the regression does not reproduce"
    );
    server.stop().await.unwrap();
    assert!(!process_alive(resources.process_id.unwrap()));
    assert!(!resources.directory.unwrap().exists());
}

/// Starts the CLI on a scenario big enough to be seeding for a while; its stderr goes
/// to `<out>/stderr.log`.
fn spawn_cli(backend: &str, image: Option<&str>, out: &std::path::Path) -> std::process::Child {
    let mut command = Command::new(env!("CARGO_BIN_EXE_plancheck"));
    command
        .current_dir(repo_path(""))
        .args([
            "scenario",
            "tests/data/scenarios/sparse-small.toml",
            "--scale",
            "400000",
            "--no-progress",
        ])
        .args(["--backend", backend])
        .arg("--out")
        .arg(out)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(out.join("stderr.log")).unwrap());
    if let Some(image) = image {
        command.args(["--image", image]);
    }
    command.spawn().unwrap()
}

/// Starts the CLI on the local backend and returns once it is seeding: the child,
/// its server's process id and the server's directory.
fn spawn_local_cli_into_seeding(
    out: &std::path::Path,
) -> (std::process::Child, u32, std::path::PathBuf) {
    let child = spawn_cli("local", None, out);
    let mut server = None;
    assert!(wait_for(Duration::from_secs(30), || {
        server = local_server_of(child.id());
        server.is_some()
    }));
    let (server_pid, directory) = server.unwrap();
    // Into the load: the server is up and the scratch database is being seeded.
    std::thread::sleep(Duration::from_secs(2));
    (child, server_pid, directory)
}

fn interrupt_local_run(signal: Signal) {
    let before = shared_memory_segments();
    let out = tempfile::tempdir().unwrap();
    let (mut child, server_pid, directory) = spawn_local_cli_into_seeding(out.path());
    kill(Pid::from_raw(child.id() as i32), signal).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(
        status.code(),
        Some(130),
        "{signal} must end the run as interrupted"
    );
    assert!(
        !process_alive(server_pid),
        "server left running after {signal}"
    );
    assert!(
        !directory.exists(),
        "{} left behind after {signal}",
        directory.display()
    );
    assert!(
        !out.path().join("sparse-small").exists(),
        "no report from an interrupted run"
    );
    let leaked = leaked_shared_memory(&before);
    assert!(leaked.is_empty(), "{signal} left {leaked:?}");
}

/// A hangup (a closed terminal, a dropped ssh session) is an interrupt like the others.
#[test]
fn local_server_is_gone_after_sighup_while_seeding() {
    interrupt_local_run(Signal::SIGHUP);
}

#[test]
fn local_server_is_gone_after_sigint_while_seeding() {
    interrupt_local_run(Signal::SIGINT);
}

#[test]
fn local_server_is_gone_after_sigterm_while_seeding() {
    interrupt_local_run(Signal::SIGTERM);
}

fn interrupt_docker_run(signal: Signal) {
    let Some(image) = docker_image() else { return };
    let out = tempfile::tempdir().unwrap();
    let mut child = spawn_cli("docker", Some(&image), out.path());
    let pid = child.id();
    assert!(
        wait_for(Duration::from_secs(60), || !containers_of(pid).is_empty()),
        "no container started"
    );
    std::thread::sleep(Duration::from_secs(4));
    kill(Pid::from_raw(pid as i32), signal).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    assert!(
        wait_for(Duration::from_secs(20), || containers_of(pid).is_empty()),
        "container left after {signal}: {:?}",
        containers_of(pid)
    );
}

/// `--pg 15,17 --keep` interrupted while the second version runs: its container goes,
/// the first version's, kept and printed as kept, stays (it carries this process's
/// labels still).
#[test]
fn a_container_kept_for_one_version_survives_an_interrupt_in_the_next() {
    let Some(_image) = docker_image() else { return };
    crate::support::ensure_built("plancheck/postgres:17");
    let out = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_plancheck"))
        .current_dir(repo_path(""))
        .args([
            "scenario",
            "tests/data/scenarios/sparse-small.toml",
            "--scale",
            "20000",
        ])
        .args(crate::support::ON_15_AND_17)
        .args(["--keep"])
        .arg("--out")
        .arg(out.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let kept = |pid: u32| -> Vec<String> {
        let output = Command::new("docker")
            .args(["ps", "-a", "--format", "{{.Names}}", "--filter"])
            .arg(format!(
                "label={}={pid}",
                plancheck::provision::PROCESS_LABEL
            ))
            .output()
            .unwrap();
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter(|name| name.starts_with("plancheck-kept-"))
            .map(str::to_owned)
            .collect()
    };
    let second_started = wait_for(Duration::from_secs(120), || {
        containers_of(pid).len() == 2 && kept(pid).len() == 1
    });
    let remove_all = || {
        for id in containers_of(pid) {
            let _ = Command::new("docker").args(["rm", "-f", &id]).output();
        }
    };
    if !second_started {
        let _ = child.kill();
        remove_all();
        panic!("the second version's container did not start beside the kept one");
    }
    std::thread::sleep(Duration::from_millis(1500));
    kill(Pid::from_raw(pid as i32), Signal::SIGINT).unwrap();
    let status = child.wait().unwrap();
    let gone = wait_for(Duration::from_secs(20), || {
        containers_of(pid).len() == kept(pid).len()
    });
    let left = kept(pid);
    remove_all();
    assert_eq!(status.code(), Some(130));
    assert!(gone, "the interrupted version's container was left");
    assert_eq!(left.len(), 1, "the kept container was removed");
}

#[test]
fn container_is_gone_after_sigint_while_seeding() {
    interrupt_docker_run(Signal::SIGINT);
}

#[test]
fn container_is_gone_after_sigterm_while_seeding() {
    interrupt_docker_run(Signal::SIGTERM);
}

/// Signals in the first moments, while the server is being created: `initdb` for the
/// local backend, the container's creation and start for docker. Each run must end
/// with exit 130 and leave nothing of its own (its directories are named after its
/// process id, its containers labelled with it). Delays count from the moment the
/// process catches SIGINT (its first act in `main`): before that no program can.
fn interrupt_early(backend: &str, image: Option<&str>, leftovers: impl Fn(u32) -> Vec<String>) {
    let out = tempfile::tempdir().unwrap();
    for (attempt, delay_ms) in [0, 10, 40, 80, 150, 250, 400, 600, 900, 1300]
        .into_iter()
        .enumerate()
    {
        let signal = if attempt % 2 == 0 {
            Signal::SIGINT
        } else {
            Signal::SIGTERM
        };
        let mut child = spawn_cli(backend, image, out.path());
        assert!(wait_for(Duration::from_secs(5), || catches_sigint(
            child.id()
        )));
        std::thread::sleep(Duration::from_millis(delay_ms));
        kill(Pid::from_raw(child.id() as i32), signal).unwrap();
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(130), "{signal} after {delay_ms} ms");
        let left = leftovers(child.id());
        assert!(
            left.is_empty(),
            "{signal} after {delay_ms} ms left {left:?}"
        );
    }
}

/// Whether process `pid` has a handler for SIGINT (bit 2 of `SigCgt`).
fn catches_sigint(pid: u32) -> bool {
    catches(pid, Signal::SIGINT)
}

/// Whether process `pid` has a handler for `signal` (`SigCgt`, a bit per signal
/// number less one).
fn catches(pid: u32, signal: Signal) -> bool {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("SigCgt:"))
        .and_then(|mask| u64::from_str_radix(mask.trim(), 16).ok())
        .is_some_and(|mask| mask & (1 << (signal as i32 - 1)) != 0)
}

fn local_leftovers_of(
    pid: u32,
    segments_before: &std::collections::HashSet<std::path::PathBuf>,
) -> Vec<String> {
    let prefix = format!("plancheck-pg-{pid}-");
    let mut left: Vec<String> = std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .filter_map(|entry| entry.ok())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with(&prefix))
        .collect();
    let servers = Command::new("pgrep")
        .arg("-f")
        .arg(format!("postgres -D .*/{prefix}"))
        .output()
        .unwrap();
    left.extend(
        String::from_utf8_lossy(&servers.stdout)
            .lines()
            .map(|pid| format!("postgres {pid}")),
    );
    // Segments an interrupted initdb left.
    left.extend(
        leaked_shared_memory(segments_before)
            .into_iter()
            .map(|path| path.display().to_string()),
    );
    left
}

#[test]
fn local_interrupts_during_start_up_leave_nothing() {
    let before = shared_memory_segments();
    interrupt_early("local", None, |pid| local_leftovers_of(pid, &before));
}

#[test]
fn container_interrupts_during_start_up_leave_nothing() {
    let Some(image) = docker_image() else { return };
    interrupt_early("docker", Some(&image), containers_of);
}

#[test]
fn container_is_gone_after_a_panic() {
    let Some(image) = docker_image() else { return };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let options = ProvisionOptions {
            backend: BackendChoice::Docker,
            image: image.to_string(),
            database_url: None,
            ..ProvisionOptions::default()
        };
        let _server = runtime.block_on(Server::start(&options)).unwrap();
        panic!("a test failing while it holds a container");
    }));
    assert!(outcome.is_err());
    drop(runtime);
    let me = std::process::id();
    assert!(
        wait_for(Duration::from_secs(20), || containers_of(me).is_empty()),
        "{:?}",
        containers_of(me)
    );
}

#[test]
fn keep_leaves_a_usable_database_and_says_how_to_remove_it() {
    let out = tempfile::tempdir().unwrap();
    // TESTCONTAINERS_COMMAND=keep is honoured like --keep, on every backend.
    let output = small_run("dense-small", out.path())
        .env("TESTCONTAINERS_COMMAND", "keep")
        .args(["--backend", "local"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let (psql, remove) = kept_commands(&stderr);
    let count = Command::new("sh")
        .arg("-c")
        .arg(format!("{psql} -Atc 'SELECT count(*) FROM workflow_runs'"))
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&count.stdout).trim(),
        "5000",
        "{}",
        String::from_utf8_lossy(&count.stderr)
    );

    let directory = psql
        .split_whitespace()
        .skip_while(|word| *word != "-h")
        .nth(1)
        .map(std::path::PathBuf::from)
        .unwrap();
    assert!(directory.exists());
    assert_other_users_cannot_connect(&directory, &psql);
    assert!(
        Command::new("sh")
            .arg("-c")
            .arg(&remove)
            .status()
            .unwrap()
            .success(),
        "{remove}"
    );
    assert!(
        !directory.exists(),
        "the printed command removes the kept server"
    );
}

#[test]
fn a_server_crash_mid_run_is_an_infrastructure_error_and_leaves_nothing() {
    let before = shared_memory_segments();
    let out = tempfile::tempdir().unwrap();
    let (mut child, server_pid, directory) = spawn_local_cli_into_seeding(out.path());
    kill(Pid::from_raw(server_pid as i32), Signal::SIGKILL).unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(3));
    assert!(wait_for(Duration::from_secs(10), || !process_alive(
        server_pid
    )));
    assert!(!directory.exists());
    assert!(!out.path().join("sparse-small").exists());
    // A killed postmaster cannot remove its dynamic shared memory: none may be where
    // removing the server's directory does not reach.
    let leaked = leaked_shared_memory(&before);
    assert!(leaked.is_empty(), "the killed server left {leaked:?}");
    // The advice names another backend than the one that just failed.
    let stderr = std::fs::read_to_string(out.path().join("stderr.log")).unwrap();
    assert!(
        stderr.contains("try --backend docker") && !stderr.contains("--backend local"),
        "{stderr}"
    );
}

/// PostgreSQL's dynamic shared memory segments (`/dev/shm/PostgreSQL.*`) of the user
/// the local backend runs servers as (`postgres` when the tests run as root).
fn shared_memory_segments() -> std::collections::HashSet<std::path::PathBuf> {
    use std::os::unix::fs::MetadataExt;
    let server_user = match nix::unistd::Uid::effective().is_root() {
        true => nix::unistd::User::from_name("postgres")
            .ok()
            .flatten()
            .map(|user| user.uid.as_raw()),
        false => Some(nix::unistd::Uid::effective().as_raw()),
    };
    std::fs::read_dir("/dev/shm")
        .map(|entries| {
            entries
                .filter_map(|entry| entry.ok())
                .filter(|entry| {
                    entry
                        .file_name()
                        .to_string_lossy()
                        .starts_with("PostgreSQL.")
                })
                .filter(|entry| {
                    entry
                        .metadata()
                        .is_ok_and(|metadata| Some(metadata.uid()) == server_user)
                })
                .map(|entry| entry.path())
                .collect()
        })
        .unwrap_or_default()
}

/// Segments that were not there `before` and that no process has mapped: what a
/// server or `initdb` killed before its clean-up leaves. Looked at twice, half a second
/// apart, so that a segment another test's server is creating at this instant (not
/// yet mapped) is not counted.
fn leaked_shared_memory(
    before: &std::collections::HashSet<std::path::PathBuf>,
) -> Vec<std::path::PathBuf> {
    let unmapped = || -> Vec<std::path::PathBuf> {
        let mapped: String = std::fs::read_dir("/proc")
            .unwrap()
            .filter_map(|entry| entry.ok())
            .filter(|entry| entry.file_name().to_string_lossy().parse::<u32>().is_ok())
            .filter_map(|entry| std::fs::read_to_string(entry.path().join("maps")).ok())
            .collect();
        shared_memory_segments()
            .into_iter()
            .filter(|path| !before.contains(path))
            .filter(|path| !mapped.contains(&*path.to_string_lossy()))
            .collect()
    };
    let first = unmapped();
    if first.is_empty() {
        return first;
    }
    std::thread::sleep(Duration::from_millis(500));
    let second = unmapped();
    first
        .into_iter()
        .filter(|path| second.contains(path))
        .collect()
}

/// Another local user (`nobody`) cannot reach the kept server: its directory is
/// private, and the server wants a password. Only checked when the tests run as root,
/// which can run a command as another user.
fn assert_other_users_cannot_connect(directory: &std::path::Path, psql: &str) {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(directory).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700, "the socket directory is private");
    if !nix::unistd::Uid::effective().is_root() {
        return;
    }
    // Even with the password from the hint, another user cannot reach the socket.
    for command in [
        format!(
            "psql -h {} -U postgres -d postgres -Atc 'SELECT 1'",
            directory.display()
        ),
        format!("{psql} -Atc 'SELECT 1'"),
    ] {
        let output = Command::new("su")
            .args(["nobody", "-s", "/bin/sh", "-c", &command])
            .output()
            .unwrap();
        assert!(
            !output.status.success(),
            "user nobody connected with {command:?}: {}",
            String::from_utf8_lossy(&output.stdout)
        );
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("Permission denied") || stderr.contains("password"),
            "{stderr}"
        );
    }
}

/// The commands `--keep` printed on `stderr`: the `psql` one (of the first kept
/// database) and the removal.
fn kept_commands(stderr: &str) -> (String, String) {
    let line_after = |marker: &str| {
        let mut lines = stderr.lines().skip_while(|line| !line.contains(marker));
        lines
            .nth(1)
            .map(|line| line.trim().to_owned())
            .unwrap_or_else(|| panic!("no line after {marker:?} in {stderr}"))
    };
    (
        line_after("Inspect the seeded data"),
        line_after("Remove it when done"),
    )
}

/// `--keep` on a server the user named: the printed `psql` command opens the kept
/// scratch database as it is, pasted into a shell, and the printed removal drops it.
#[tokio::test(flavor = "multi_thread")]
async fn keep_on_the_url_backend_prints_commands_that_work_when_pasted() {
    let server = local_server().await;
    let url = crate::support::superuser_url(&server);
    let out = tempfile::tempdir().unwrap();
    let output = small_run("dense-small", out.path())
        .args(["--backend", "url", "--database-url", &url, "--keep"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let (psql, remove) = kept_commands(&stderr);
    // The user's password is theirs to give (here as psql reads it), not printed.
    let password = url
        .split_whitespace()
        .find_map(|pair| pair.strip_prefix("password="))
        .unwrap();
    assert!(!stderr.contains(password), "the password was printed");
    let count = Command::new("sh")
        .arg("-c")
        .arg(format!("{psql} -Atc 'SELECT count(*) FROM workflow_runs'"))
        .env("PGPASSWORD", password)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&count.stdout).trim(),
        "5000",
        "{psql}: {}",
        String::from_utf8_lossy(&count.stderr)
    );
    let removed = Command::new("sh")
        .arg("-c")
        .arg(&remove)
        .env("PGPASSWORD", password)
        .output()
        .unwrap();
    assert!(
        removed.status.success(),
        "{remove}: {}",
        String::from_utf8_lossy(&removed.stderr)
    );
    let client = plancheck::provision::connect(&url.parse().unwrap())
        .await
        .unwrap();
    assert_eq!(
        crate::support::scratch_databases(&client).await,
        Vec::<String>::new(),
        "the printed removal drops the kept database"
    );
    drop(client);
    server.stop().await.unwrap();
}

/// `nohup plancheck …` asks for the hangup to be ignored, and it is: the run goes on
/// to its report (a hangup is an interrupt only for a run that did not ask so).
#[test]
fn a_run_started_with_hangups_ignored_survives_one() {
    let out = tempfile::tempdir().unwrap();
    let mut child = Command::new("nohup")
        .arg(env!("CARGO_BIN_EXE_plancheck"))
        .args(["scenario", "tests/data/scenarios/dense-small.toml"])
        .args(["--scale", "5000", "--no-progress", "--backend", "local"])
        .arg("--out")
        .arg(out.path())
        .current_dir(repo_path(""))
        .env_remove("PLANCHECK_DATABASE_URL")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Once it is working (it catches SIGTERM from its first instant), hang up on it.
    assert!(wait_for(Duration::from_secs(5), || catches(
        child.id(),
        Signal::SIGTERM
    )));
    std::thread::sleep(Duration::from_millis(500));
    kill(Pid::from_raw(child.id() as i32), Signal::SIGHUP).unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(0));
    assert!(out.path().join("dense-small/report.json").exists());
}

/// A script's background run (`plancheck … &`), which a non-interactive shell starts
/// with SIGINT ignored, still stops on the SIGINT the script sends it, cleaning up.
#[test]
fn a_background_run_of_a_script_stops_on_sigint() {
    let segments = shared_memory_segments();
    let out = tempfile::tempdir().unwrap();
    let output = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "'{}' scenario tests/data/scenarios/sparse-small.toml --scale 400000 --no-progress \
             --backend local --out '{}' 2>/dev/null & run=$!; sleep 4; kill -INT $run; \
             wait $run; echo \"status=$? pid=$run\"",
            env!("CARGO_BIN_EXE_plancheck"),
            out.path().display()
        ))
        .current_dir(repo_path(""))
        .env_remove("PLANCHECK_DATABASE_URL")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("status=130"), "{stdout}");
    let pid: u32 = stdout
        .split("pid=")
        .nth(1)
        .and_then(|pid| pid.trim().parse().ok())
        .unwrap();
    let left = local_leftovers_of(pid, &segments);
    assert!(left.is_empty(), "{left:?}");
}
