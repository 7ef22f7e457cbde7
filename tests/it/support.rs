//! Shared helpers: paths of test data and a private server per test.

use std::path::{Path, PathBuf};

use plancheck::provision::{BackendChoice, ProvisionOptions, Server};
use plancheck::run::RunOptions;
use plancheck::scenario::Scenario;
use plancheck::timing::TimingOptions;

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

/// Options for a small, quick run: the test dataset's default scale, a short timing
/// loop, no progress bar.
pub fn quick_options() -> RunOptions {
    RunOptions {
        scale: None,
        seed: None,
        progress: false,
        timing: TimingOptions {
            min_rounds: 3,
            max_rounds: 5,
            budget: std::time::Duration::from_millis(200),
        },
    }
}
