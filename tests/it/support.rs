//! Shared helpers: paths of test data and a private server per test.

use std::path::{Path, PathBuf};

use plancheck::capture::timing::TimingOptions;
use plancheck::input::Scenario;
use plancheck::pipeline::RunOptions;
use plancheck::provision::{BackendChoice, ProvisionOptions, Server};

/// A path under the repository root.
pub fn repo_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// A test scenario from `tests/data/scenarios`.
pub fn test_scenario(name: &str) -> Scenario {
    Scenario::load(&repo_path(&format!("tests/data/scenarios/{name}.toml")))
        .expect("test scenarios are valid")
}

/// A private server from the host's binaries; its `Drop` stops it and removes its
/// directory if the test panics before `stop`.
pub async fn local_server() -> Server {
    let options = ProvisionOptions {
        backend: BackendChoice::Local,
        ..ProvisionOptions::default()
    };
    Server::start(&options)
        .await
        .expect("the local backend starts (PostgreSQL server binaries are installed)")
}

/// How to reach a local server's maintenance database as its superuser, as a
/// `--database-url` (key=value form), read from its connection hint.
pub fn superuser_url(server: &Server) -> String {
    let hint = server.connection_hint("postgres");
    let password = hint
        .split_whitespace()
        .find_map(|word| word.strip_prefix("PGPASSWORD="))
        .expect("the hint carries the password");
    let socket_dir = hint
        .split_whitespace()
        .skip_while(|word| *word != "-h")
        .nth(1)
        .expect("the hint names the socket directory");
    format!("host={socket_dir} port=5432 user=postgres password={password} dbname=postgres")
}

/// The scratch databases (`plancheck_…`) on the server `client` is connected to.
pub async fn scratch_databases(client: &tokio_postgres::Client) -> Vec<String> {
    client
        .query(
            "SELECT datname FROM pg_database WHERE datname LIKE 'plancheck\\_%' ORDER BY 1",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect()
}

/// Options for a small, quick run: the test dataset's default scale, a short timing
/// loop, no progress bar.
pub fn quick_options() -> RunOptions {
    RunOptions {
        scale: None,
        seed: None,
        progress: plancheck::progress::Progress::Silent,
        timing: TimingOptions {
            min_rounds: 3,
            max_rounds: 5,
            min_samples: 5,
            sample_time: std::time::Duration::from_millis(20),
            loop_time: std::time::Duration::from_millis(200),
            statement_budget: None,
        },
        keep: false,
        stability: None,
    }
}

/// Whether process `pid` exists and is not a zombie.
pub fn process_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| !rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

/// The PostgreSQL server a plancheck process `pid` started with the local backend:
/// its process id and the temporary directory holding its data.
pub fn local_server_of(pid: u32) -> Option<(u32, PathBuf)> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    for task in tasks.filter_map(|task| task.ok()) {
        let children = std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
        for child in children
            .split_whitespace()
            .filter_map(|child| child.parse::<u32>().ok())
        {
            let cmdline = std::fs::read(format!("/proc/{child}/cmdline")).unwrap_or_default();
            let args: Vec<String> = cmdline
                .split(|byte| *byte == 0)
                .map(|arg| String::from_utf8_lossy(arg).into_owned())
                .collect();
            if args
                .first()
                .is_some_and(|program| program.ends_with("/postgres"))
            {
                let data = args.iter().skip_while(|arg| *arg != "-D").nth(1)?;
                return Some((child, Path::new(data).parent()?.to_owned()));
            }
        }
    }
    None
}

/// The image a docker-backed test uses, held for the test's length: docker tests run
/// one at a time, because every docker run sweeps the engine's orphaned plancheck
/// containers and some tests leave one on purpose for their own run to find. A file
/// lock serialises them under `cargo test` (threads of one process) and `cargo nextest
/// run` (a process each) alike.
pub struct DockerImage {
    name: String,
    _turn: std::fs::File,
}

impl std::ops::Deref for DockerImage {
    type Target = String;

    fn deref(&self) -> &String {
        &self.name
    }
}

/// The image docker-backed tests use, or `None` (after saying so on stdout) when no
/// Docker engine is reachable. An engine without the image gets it built once, by
/// `scripts/build-postgres-image.sh`, under a file lock so that tests running in
/// parallel wait for one build; a failed build fails the test with the script's output.
/// The caller holds the docker tests' turn for as long as it keeps the result.
pub fn docker_image() -> Option<DockerImage> {
    let image =
        std::env::var("PLANCHECK_TEST_IMAGE").unwrap_or_else(|_| "plancheck/postgres:15".into());
    let engine = std::process::Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .output();
    if !engine.is_ok_and(|output| output.status.success()) {
        println!(
            "DOCKER TESTS NOT RUN: no Docker engine reachable (docker info failed); the docker backend is untested here"
        );
        return None;
    }
    let turn =
        std::fs::File::create(std::env::temp_dir().join("plancheck-docker-tests.lock")).unwrap();
    turn.lock().expect("the docker tests' lock");
    ensure_built(&image);
    Some(DockerImage {
        name: image,
        _turn: turn,
    })
}

/// Builds `image` with `scripts/build-postgres-image.sh` when the engine lacks it; a
/// failed build fails the test with the script's output. Call it holding the docker
/// tests' turn (see [`docker_image`]).
pub fn ensure_built(image: &str) {
    let present = || {
        std::process::Command::new("docker")
            .args(["image", "inspect", image])
            .output()
            .is_ok_and(|output| output.status.success())
    };
    if !present() {
        println!(
            "building {image} for the docker tests (once, about two minutes): scripts/build-postgres-image.sh {image}"
        );
        let build = std::process::Command::new("bash")
            .arg(repo_path("scripts/build-postgres-image.sh"))
            .arg(image)
            .output()
            .expect("bash runs");
        assert!(
            build.status.success(),
            "a Docker engine is reachable but image {image} is missing, and building it failed:\n{}\n{}",
            String::from_utf8_lossy(&build.stdout),
            String::from_utf8_lossy(&build.stderr)
        );
    }
}

/// Containers, running or not, that plancheck process `pid` started.
pub fn containers_of(pid: u32) -> Vec<String> {
    let output = std::process::Command::new("docker")
        .args(["ps", "-aq", "--filter"])
        .arg(format!(
            "label={}={pid}",
            plancheck::provision::PROCESS_LABEL
        ))
        .output()
        .expect("docker ps runs");
    String::from_utf8_lossy(&output.stdout)
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

/// Waits up to `limit` for `ready` to hold.
pub fn wait_for(limit: std::time::Duration, mut ready: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + limit;
    while std::time::Instant::now() < deadline {
        if ready() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    ready()
}

/// The `plancheck` binary, run from the repository root, on the local backend unless
/// the test says otherwise, without colour or a database URL from the environment.
/// The arguments that run a scenario on PostgreSQL 15 and 17 in containers (the images
/// `docker_image` and `ensure_built` provide), without progress bars.
pub const ON_15_AND_17: [&str; 7] = [
    "--no-progress",
    "--backend",
    "docker",
    "--image",
    "plancheck/postgres:15",
    "--pg",
    "15,17",
];

pub fn plancheck() -> assert_cmd::Command {
    assert_cmd::Command::from_std(plancheck_process())
}

/// `plancheck()` as a plain process, for a test that chooses where its output goes.
pub fn plancheck_process() -> std::process::Command {
    let mut command = std::process::Command::new(assert_cmd::cargo::cargo_bin("plancheck"));
    command
        .current_dir(repo_path(""))
        .env("NO_COLOR", "1")
        // Local unless a test asks for another backend: runs that start containers are
        // only those in the docker test group (.config/nextest.toml), which run one at
        // a time, so one's sweep cannot take another's deliberate leftover.
        .env("PLANCHECK_BACKEND", "local")
        // Every run seeds afresh unless a test of the cache says otherwise: a hit would
        // skip the seed other tests watch.
        .env("PLANCHECK_NO_CACHE", "1")
        .env_remove("PLANCHECK_DATABASE_URL");
    command
}

/// `command` run under a 1 GiB address-space limit and killed after 60 s: for a test
/// that feeds endless or huge input, so that a defect ends in a failed allocation or a
/// failed test, never in a machine out of memory or a hung suite.
pub fn bounded(command: &std::process::Command) -> std::process::Command {
    let mut bounded = std::process::Command::new("bash");
    bounded
        .args([
            "-c",
            "ulimit -v 1048576; exec timeout --signal KILL 60 \"$@\"",
            "bash",
        ])
        .arg(command.get_program())
        .args(command.get_args())
        .envs(
            command
                .get_envs()
                .filter_map(|(key, value)| value.map(|value| (key, value))),
        );
    for (key, value) in command.get_envs() {
        if value.is_none() {
            bounded.env_remove(key);
        }
    }
    if let Some(dir) = command.get_current_dir() {
        bounded.current_dir(dir);
    }
    bounded
}

/// A quick CLI run of test scenario `name` at 5,000 runs, reports to `out`:
/// `plancheck scenario tests/data/scenarios/<name>.toml --scale 5000 --no-progress
/// --out <out>`; callers add the backend.
pub fn small_run(name: &str, out: &Path) -> assert_cmd::Command {
    let mut command = plancheck();
    command
        .arg("scenario")
        .arg(format!("tests/data/scenarios/{name}.toml"))
        .args(["--scale", "5000", "--no-progress", "--out"])
        .arg(out);
    command
}

/// Validates a `report.json` text against the JSON Schema in the repository
/// (`docs/report.schema.json`) with a validator that knows nothing of the structs
/// that wrote it, and panics with every violation.
pub fn assert_valid_report(text: &str) {
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo_path("docs/report.schema.json"))
            .expect("docs/report.schema.json exists"),
    )
    .expect("the schema is JSON");
    let report: serde_json::Value = serde_json::from_str(text).expect("report.json is JSON");
    let validator = jsonschema::validator_for(&schema).expect("the schema is a valid JSON Schema");
    let errors: Vec<String> = validator
        .iter_errors(&report)
        .map(|error| format!("{} at {}", error, error.instance_path))
        .collect();
    assert!(
        errors.is_empty(),
        "report.json violates its schema:\n{}",
        errors.join("\n")
    );
}
